/**
 * The monitoring stack against the real tools (Debian's prometheus 2.42 with promtool, and
 * prometheus-alertmanager 0.25 with amtool, the versions the program's images pin): its configs
 * load, every alert fires on a bad series and stays quiet on a good one, a real Prometheus finds a
 * real HAProxy front through a tenant's file and its alert reaches a webhook through a real
 * Alertmanager; and under mocks, every tenant writes its own file, labelled with its id.
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { describe, test } from "node:test";
import { stringify } from "yaml";
import { AlertRule, alertRules, AlertSettings, rulesFile } from "../components/monitoring/alerts";
import { gatewayConfig, gatewayScript, servingRelays } from "../components/runtime/haproxy";
import {
  alertmanagerConfig,
  alertmanagerScript,
  FRONTS_JOB,
  prometheusConfig,
  Receiver,
  RULES_FILE,
  TARGETS_DIRECTORY,
  targetFileScript,
  tenantTargetFile,
} from "../components/monitoring/prometheus";
import { Dashboard, tenantDashboard } from "../tools/dashboards/panels";
import { tenantNamespace } from "../components/data/temporalServer";
import { stackDashboards } from "../tools/dashboards/dashboards";
import { rawPlatformConfig } from "../stacks/config";
import {
  byName,
  committedStack,
  CONTAINER,
  dependsOn,
  envOf,
  labelMap,
  ofType,
  runCommitted,
  runProgram,
} from "./harness";
import { freePort, scratch } from "./processes";

const PROMTOOL = "/usr/bin/promtool";
const PROMETHEUS = "/usr/bin/prometheus";
const AMTOOL = "/usr/bin/amtool";
const ALERTMANAGER = "/usr/bin/prometheus-alertmanager";
const { directory, running, listen } = scratch("monitoring-");

function tool(binary: string, args: string[], input?: string) {
  assert.ok(
    fs.existsSync(binary),
    `${binary} is missing: install Debian's prometheus and prometheus-alertmanager (.ci/run does)`,
  );
  const run = spawnSync(binary, args, { input, encoding: "utf8", cwd: directory });
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
}

function write(name: string, content: string): string {
  const file = path.join(directory, name);
  fs.writeFileSync(file, content);
  return file;
}

/** Every stack's settings: a tunnel, backups, the platform's ClickHouse, and the defaults. */
const SETTINGS: AlertSettings = {
  errorRatio: 0.05,
  latencySeconds: 2,
  backupMaxAgeSeconds: 26 * 3600,
  tunnel: true,
};
const RULES = alertRules(SETTINGS);

/** A promtool test case: series, the time it is evaluated at, and the alerts that must fire. */
interface Case {
  alert: string;
  series: Record<string, string>;
  at: string;
  /** The labels of each alert expected, besides severity; none: the alert stays quiet. */
  fires: Record<string, string>[];
}

const front = (tenant: string, extra = "") =>
  `{job="${FRONTS_JOB}",tenant="${tenant}",namespace="${tenant}",instance="${tenant}-front:8404"${extra}}`;
const frontLabels = (tenant: string) => ({
  job: FRONTS_JOB,
  tenant,
  namespace: tenant,
  instance: `${tenant}-front:8404`,
});
/** Six hours and then some at one sample a minute, for `predict_linear` over 6h and `for: 1h`. */
const LONG = 500;
const falling = (perMinute: number, from = 500_000_000_000) => `${from}-${perMinute}x${LONG}`;

/** For each alert, a case where it fires and one where it must not. Thresholds sit just either side. */
const CASES: Case[] = [
  {
    alert: "TenantFrontDown",
    series: { [`up${front("acme")}`]: "0x10", [`up${front("globex")}`]: "1x10" },
    at: "5m",
    fires: [frontLabels("acme")],
  },
  { alert: "TenantFrontDown", series: { [`up${front("acme")}`]: "1x10" }, at: "5m", fires: [] },
  {
    alert: "TenantAppDown",
    series: { [`haproxy_backend_active_servers${front("acme", ',proxy="api"')}`]: "0x10" },
    at: "5m",
    fires: [{ ...frontLabels("acme"), proxy: "api" }],
  },
  {
    alert: "TenantAppDown",
    series: { [`haproxy_backend_active_servers${front("acme", ',proxy="api"')}`]: "1x10" },
    at: "5m",
    fires: [],
  },
  // 6% of responses 5xx against a 5% threshold, and 4%.
  {
    alert: "TenantErrorRatio",
    series: {
      [`haproxy_backend_http_responses_total${front("acme", ',proxy="api",code="5xx"')}`]: "0+6x30",
      [`haproxy_backend_http_responses_total${front("acme", ',proxy="api",code="2xx"')}`]:
        "0+94x30",
    },
    at: "20m",
    fires: [{ tenant: "acme", proxy: "api" }],
  },
  {
    alert: "TenantErrorRatio",
    series: {
      [`haproxy_backend_http_responses_total${front("acme", ',proxy="api",code="5xx"')}`]: "0+4x30",
      [`haproxy_backend_http_responses_total${front("acme", ',proxy="api",code="2xx"')}`]:
        "0+96x30",
    },
    at: "20m",
    fires: [],
  },
  // Every response failed, but one a minute: below the ten in five minutes that make a trend.
  {
    alert: "TenantErrorRatio",
    series: {
      [`haproxy_backend_http_responses_total${front("acme", ',proxy="api",code="5xx"')}`]: "0+1x30",
    },
    at: "20m",
    fires: [],
  },
  // 2.5 s against 2 s, and 1.5 s, under a request a second; then 2.5 s left by a burst long
  // gone, with no request since.
  {
    alert: "TenantLatencyHigh",
    series: {
      [`haproxy_backend_response_time_average_seconds${front("acme", ',proxy="dashboard"')}`]:
        "2.5x20",
      [`haproxy_backend_http_responses_total${front("acme", ',proxy="dashboard",code="2xx"')}`]:
        "0+60x20",
    },
    at: "15m",
    fires: [{ tenant: "acme", proxy: "dashboard" }],
  },
  {
    alert: "TenantLatencyHigh",
    series: {
      [`haproxy_backend_response_time_average_seconds${front("acme", ',proxy="dashboard"')}`]:
        "1.5x20",
      [`haproxy_backend_http_responses_total${front("acme", ',proxy="dashboard",code="2xx"')}`]:
        "0+60x20",
    },
    at: "15m",
    fires: [],
  },
  {
    alert: "TenantLatencyHigh",
    series: {
      [`haproxy_backend_response_time_average_seconds${front("acme", ',proxy="dashboard"')}`]:
        "2.5x20",
      [`haproxy_backend_http_responses_total${front("acme", ',proxy="dashboard",code="2xx"')}`]:
        "500x20",
    },
    at: "15m",
    fires: [],
  },
  // acme's queue sees nothing; globex's worker polls an idle queue (timeouts only).
  {
    alert: "TenantWorkersNotPolling",
    series: {
      [`up${front("acme")}`]: "1x30",
      [`up${front("globex")}`]: "1x30",
      'poll_success{job="temporal",namespace="acme",taskqueue="default"}': "5x30",
      'poll_timeouts{job="temporal",namespace="globex",taskqueue="default"}': "0+1x30",
    },
    at: "25m",
    fires: [{ tenant: "acme", namespace: "acme" }],
  },
  {
    alert: "TenantWorkersNotPolling",
    series: {
      [`up${front("acme")}`]: "1x30",
      'poll_success{job="temporal",namespace="acme",taskqueue="default"}': "0+3x30",
    },
    at: "25m",
    fires: [],
  },
  {
    alert: "ServiceDown",
    series: {
      'up{job="temporal",instance="temporal:8000"}': "0x10",
      [`up${front("acme")}`]: "0x10",
    },
    at: "8m",
    fires: [{ job: "temporal", instance: "temporal:8000" }],
  },
  {
    alert: "ServiceDown",
    series: { 'up{job="temporal",instance="temporal:8000"}': "1x10" },
    at: "8m",
    fires: [],
  },
  {
    alert: "ProcessRestarting",
    series: {
      [`haproxy_process_start_time_seconds${front("acme")}`]: "100 160 220 280 280",
    },
    at: "4m",
    fires: [frontLabels("acme")],
  },
  {
    alert: "ProcessRestarting",
    series: {
      'process_start_time_seconds{job="alertmanager",instance="alertmanager:9093"}': "100 160 160",
      // Two connectors of a release answering one alias in turn.
      'process_start_time_seconds{job="cloudflared",instance="cloudflared:20241"}':
        "100 200 100 200 100",
    },
    at: "4m",
    fires: [],
  },
  {
    alert: "HostDiskFilling",
    series: {
      // 1 GB a minute from 500 GB of 1 TB: 80 GB left after 7 hours, full within two.
      'node_filesystem_avail_bytes{job="node",instance="node-exporter:9100",fstype="ext4",mountpoint="/"}':
        falling(1000000000),
      'node_filesystem_size_bytes{job="node",instance="node-exporter:9100",fstype="ext4",mountpoint="/"}': `1000000000000x${LONG}`,
      'node_filesystem_avail_bytes{job="node",instance="node-exporter:9100",fstype="tmpfs",mountpoint="/run"}':
        falling(1000000000),
    },
    at: "7h",
    fires: [{ job: "node", instance: "node-exporter:9100", fstype: "ext4", mountpoint: "/" }],
  },
  {
    alert: "HostDiskFilling",
    series: {
      // 10 MB a minute from 500 GB of 1 TB: full in about a month.
      'node_filesystem_avail_bytes{job="node",instance="node-exporter:9100",fstype="ext4",mountpoint="/"}':
        falling(10000000),
      'node_filesystem_size_bytes{job="node",instance="node-exporter:9100",fstype="ext4",mountpoint="/"}': `1000000000000x${LONG}`,
    },
    at: "7h",
    fires: [],
  },
  // As fast, but with half of 10 TB free: four days at this rate, and nothing to do yet.
  {
    alert: "HostDiskFilling",
    series: {
      'node_filesystem_avail_bytes{job="node",instance="node-exporter:9100",fstype="ext4",mountpoint="/"}':
        falling(1000000000, 5_420_000_000_000),
      'node_filesystem_size_bytes{job="node",instance="node-exporter:9100",fstype="ext4",mountpoint="/"}': `10000000000000x${LONG}`,
    },
    at: "7h",
    fires: [],
  },
  {
    alert: "HostMemoryLow",
    series: {
      'node_memory_MemAvailable_bytes{job="node",instance="node-exporter:9100"}': "900x20",
      'node_memory_MemTotal_bytes{job="node",instance="node-exporter:9100"}': "10000x20",
    },
    at: "15m",
    fires: [{ job: "node", instance: "node-exporter:9100" }],
  },
  {
    alert: "HostMemoryLow",
    series: {
      'node_memory_MemAvailable_bytes{job="node",instance="node-exporter:9100"}': "1100x20",
      'node_memory_MemTotal_bytes{job="node",instance="node-exporter:9100"}': "10000x20",
    },
    at: "15m",
    fires: [],
  },
  {
    alert: "ContainerOomKilled",
    series: { 'node_vmstat_oom_kill{job="node",instance="node-exporter:9100"}': "0 0 1 1 1" },
    at: "3m",
    fires: [{ job: "node", instance: "node-exporter:9100" }],
  },
  {
    alert: "ContainerOomKilled",
    series: { 'node_vmstat_oom_kill{job="node",instance="node-exporter:9100"}': "1x20" },
    at: "3m",
    fires: [],
  },
  {
    alert: "ClickHouseDiskFilling",
    series: {
      'ClickHouseAsyncMetrics_FilesystemMainPathAvailableBytes{job="clickhouse",instance="clickhouse:9363"}':
        falling(1000000000),
    },
    at: "7h",
    fires: [{ job: "clickhouse", instance: "clickhouse:9363" }],
  },
  {
    alert: "ClickHouseDiskFilling",
    series: {
      'ClickHouseAsyncMetrics_FilesystemMainPathAvailableBytes{job="clickhouse",instance="clickhouse:9363"}': `100000000000x${LONG}`,
    },
    at: "7h",
    fires: [],
  },
  {
    alert: "TunnelConnectorDown",
    series: {
      'up{job="cloudflared",instance="cloudflared:20241"}': "1x10",
      'cloudflared_tunnel_ha_connections{job="cloudflared",instance="cloudflared:20241"}': "0x10",
    },
    at: "8m",
    fires: [{}],
  },
  // No scrape of the connector at all is no connection either.
  { alert: "TunnelConnectorDown", series: {}, at: "8m", fires: [{}] },
  {
    alert: "TunnelConnectorDown",
    series: {
      'up{job="cloudflared",instance="cloudflared:20241"}': "1x10",
      'cloudflared_tunnel_ha_connections{job="cloudflared",instance="cloudflared:20241"}': "4x10",
    },
    at: "8m",
    fires: [],
  },
  // The newest set 27 h old against 26 h, and one written a minute ago.
  {
    alert: "BackupOverdue",
    series: { 'platform_backup_last_success_timestamp_seconds{job="node"}': "0x1700" },
    at: "27h",
    fires: [{ job: "node" }],
  },
  { alert: "BackupOverdue", series: {}, at: "30m", fires: [{}] },
  {
    alert: "BackupOverdue",
    series: { 'platform_backup_last_success_timestamp_seconds{job="node"}': "0+60x1700" },
    at: "27h",
    fires: [],
  },
  {
    alert: "BackupDatabaseMissing",
    series: {
      'platform_backup_missing{job="node",store="postgres",database="dittofeed_acme"}': "1x30",
    },
    at: "20m",
    fires: [{ job: "node", store: "postgres", database: "dittofeed_acme" }],
  },
  {
    alert: "BackupDatabaseMissing",
    series: {
      'platform_backup_last_success_timestamp_seconds{job="node"}': "0+60x30",
    },
    at: "20m",
    fires: [],
  },
];

/** An annotation as Prometheus expands it: `{{ $labels.x }}` only, which is all the rules use. */
function expand(template: string, labels: Record<string, string>): string {
  return template.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_, name: string) => labels[name] ?? "");
}

function ruleNamed(name: string): AlertRule {
  const rule = RULES.find((r) => r.alert === name);
  assert.ok(rule, `no rule ${name}`);
  return rule;
}

/** promtool's unit test file for `cases`, against the rules file at `rules`. */
function unitTests(rules: string, cases: readonly Case[]): string {
  return stringify({
    rule_files: [rules],
    evaluation_interval: "1m",
    tests: cases.map((c) => ({
      interval: "1m",
      input_series: Object.entries(c.series).map(([series, values]) => ({ series, values })),
      alert_rule_test: [
        {
          eval_time: c.at,
          alertname: c.alert,
          exp_alerts: c.fires.map((labels) => {
            const rule = ruleNamed(c.alert);
            return {
              exp_labels: { ...labels, severity: rule.severity },
              exp_annotations: {
                summary: expand(rule.summary, labels),
                runbook: `docs/monitoring.md#${c.alert.toLowerCase()}`,
              },
            };
          }),
        },
      ],
    })),
  });
}

describe("alert rules", () => {
  test("load in promtool, and every alert has a case that fires it and one that must not", () => {
    const rules = write("rules.yml", rulesFile(RULES));
    const check = tool(PROMTOOL, ["check", "rules", rules]);
    assert.ok(check.ok, check.output);
    for (const { alert } of RULES) {
      const cases = CASES.filter((c) => c.alert === alert);
      assert.ok(
        cases.some((c) => c.fires.length > 0) && cases.some((c) => c.fires.length === 0),
        `${alert} needs a firing and a quiet case`,
      );
    }
    assert.deepEqual(
      [...new Set(CASES.map((c) => c.alert))].sort(),
      RULES.map((r) => r.alert).sort(),
    );
    const run = tool(PROMTOOL, ["test", "rules", write("tests.yml", unitTests(rules, CASES))]);
    assert.ok(run.ok, run.output);
  });

  test("a broken threshold or label fails promtool's cases", () => {
    // The same cases against rules whose threshold moved, or whose tenant label was lost.
    const loose = write(
      "loose.yml",
      rulesFile(alertRules({ ...SETTINGS, errorRatio: 0.07, latencySeconds: 3 })),
    );
    const unlabelled = write(
      "unlabelled.yml",
      rulesFile(
        RULES.map((r) => ({ ...r, expr: r.expr.replace("by (tenant, proxy)", "by (proxy)") })),
      ),
    );
    for (const [rules, alert] of [
      [loose, "TenantErrorRatio"],
      [loose, "TenantLatencyHigh"],
      [unlabelled, "TenantErrorRatio"],
    ] as const) {
      const run = tool(PROMTOOL, [
        "test",
        "rules",
        write(
          "broken.yml",
          unitTests(
            rules,
            CASES.filter((c) => c.alert === alert),
          ),
        ),
      ]);
      assert.ok(!run.ok, `${alert} against ${path.basename(rules)} passed:\n${run.output}`);
    }
  });

  test("without a tunnel or backups, their alerts are left out", () => {
    const names = alertRules({
      ...SETTINGS,
      tunnel: false,
      backupMaxAgeSeconds: undefined,
    }).map((r) => r.alert);
    for (const absent of ["TunnelConnectorDown", "BackupOverdue", "BackupDatabaseMissing"]) {
      assert.ok(!names.includes(absent), absent);
    }
  });
});

const RECEIVERS: Receiver[] = [
  { name: "ops", type: "webhook", minSeverity: "warning" },
  { name: "chat", type: "slack", channel: "#ops", minSeverity: "critical" },
  {
    name: "mail",
    type: "email",
    to: "ops@example.com",
    from: "alerts@example.com",
    smarthost: "smtp.example.com:587",
    username: "alerts",
    minSeverity: "warning",
  },
];

/** Runs Alertmanager's start script in a real `sh`, with `binary` in place of the server. */
function startScript(binary: string, env: Record<string, string>) {
  const file = path.join(directory, "alertmanager.yml");
  const script = alertmanagerScript(alertmanagerConfig(RECEIVERS), {
    binary,
    storage: directory,
    file,
    port: 0,
  });
  const run = spawnSync("sh", ["-c", script], {
    env: { PATH: "/usr/bin:/bin", ...env },
    encoding: "utf8",
  });
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}`, file };
}

describe("Alertmanager's config", () => {
  const secrets = {
    RECEIVER_0_SECRET: "https://hooks.example.com/platform?token=a$b`c\\d",
    RECEIVER_1_SECRET: "https://hooks.slack.com/services/T0/B0/x$(id)",
    RECEIVER_2_SECRET: "p@ss word $HOME",
  };

  test("amtool accepts it with every kind of receiver, and each secret lands as given", () => {
    // amtool refuses flags it does not know: the script's own are dropped by a wrapper.
    const wrapper = write(
      "amtool-check.sh",
      `#!/bin/sh\nexec ${AMTOOL} check-config "$(echo "$1" | sed 's/^--config.file=//')"\n`,
    );
    fs.chmodSync(wrapper, 0o755);
    const { ok, output, file } = startScript(wrapper, secrets);
    assert.ok(ok, output);
    assert.match(output, /SUCCESS/);
    const written = fs.readFileSync(file, "utf8");
    for (const value of Object.values(secrets)) assert.ok(written.includes(`'${value}'`), value);
    // The config the preview shows holds none of them.
    for (const value of Object.values(secrets)) {
      assert.ok(!alertmanagerConfig(RECEIVERS).includes(value));
    }
  });

  test("a receiver without its secret stops Alertmanager from starting, naming it", () => {
    const { ok, output } = startScript("/bin/false", {
      RECEIVER_0_SECRET: "https://hooks.example.com/x",
    });
    assert.ok(!ok);
    assert.match(output, /RECEIVER_1_SECRET is empty/);
  });
});

/** Polls `what` every 200 ms until it returns a value, for `seconds` at most. */
async function within<T>(seconds: number, what: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const value = await what().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${seconds} s`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function getJson(port: number, urlPath: string): Promise<unknown> {
  const response = await fetch(`http://127.0.0.1:${port}${urlPath}`);
  return response.json();
}

interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(port: number, expr: string): Promise<Sample[]> {
  const body = (await getJson(port, `/api/v1/query?query=${encodeURIComponent(expr)}`)) as {
    data: { result: Sample[] };
  };
  return body.data.result;
}

function writeTargets(dir: string, tenant: string, content: string): void {
  const run = spawnSync("sh", ["-c", targetFileScript(tenant, content, dir)], { encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
}

test("a real Prometheus finds a tenant's real front through its file, and its alert reaches a webhook", async () => {
  // The release behind the front: its health path, and requests that fail while `failing`.
  let healthy = true;
  let failing = false;
  const release = await listen(
    http.createServer((request, response) => {
      response.statusCode = request.url === "/api" ? (healthy ? 200 : 503) : failing ? 500 : 200;
      response.end();
    }),
  );
  const [apiPort, frontPort] = [await freePort(), await freePort()];
  const relays = servingRelays([
    { role: "api", port: apiPort, host: "127.0.0.1", healthPath: "/api" },
  ]);
  relays[0].upstream.port = release;
  const frontProcess = spawn(
    "sh",
    ["-c", gatewayScript(gatewayConfig(relays, frontPort), path.join(directory, "front.cfg"))],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  running.push(frontProcess);
  let frontLog = "";
  frontProcess.stdout.on("data", (chunk) => (frontLog += String(chunk)));

  // Alertmanager, started by the program's script, delivering to a webhook here.
  const delivered: { alerts: { status: string; labels: Record<string, string> }[] }[] = [];
  const hook = await listen(
    http.createServer((request, response) => {
      let body = "";
      request.on("data", (chunk) => (body += String(chunk)));
      request.on("end", () => {
        delivered.push(JSON.parse(body) as (typeof delivered)[number]);
        response.end();
      });
    }),
  );
  const alertmanagerPort = await freePort();
  const alertmanager = spawn(
    "sh",
    [
      "-c",
      alertmanagerScript(alertmanagerConfig([RECEIVERS[0]], "1s"), {
        binary: ALERTMANAGER,
        storage: fs.mkdtempSync(path.join(directory, "alertmanager-")),
        file: path.join(directory, "am-live.yml"),
        port: alertmanagerPort,
      }),
    ],
    {
      env: { PATH: "/usr/bin:/bin", RECEIVER_0_SECRET: `http://127.0.0.1:${hook}/hook` },
      stdio: "ignore",
    },
  );
  running.push(alertmanager);

  // A stand-in for Temporal's metrics: one queue's polls and another series, or, once `flood`
  // is set, the polls of more task queues than the limit (names a tenant's code could choose).
  let flood = 0;
  const temporal = await listen(
    http.createServer((_, response) => {
      const queues = flood > 0 ? Array.from({ length: flood }, (_, i) => `q${i}`) : ["default"];
      response.end(
        [
          ...queues.map((q) => `poll_success{namespace="acme",taskqueue="${q}"} ${Date.now()}`),
          "persistence_requests 7",
          "",
        ].join("\n"),
      );
    }),
  );

  // Prometheus with the program's config and rules; the tenants' files in a directory of its own.
  const targets = fs.mkdtempSync(path.join(directory, "targets-"));
  const rules = write(
    "live-rules.yml",
    // Firing at once: the pipeline is under test here, each rule's timing in promtool's cases.
    rulesFile(RULES.map((r) => ({ ...r, for: "0s" }))),
  );
  const config = write(
    "prometheus.yml",
    prometheusConfig({
      stack: "test",
      // Temporal's matching service as the program scrapes it: polls kept, the rest dropped.
      shared: [
        {
          job: "temporal",
          address: `127.0.0.1:${temporal}`,
          only: { names: "poll_success|poll_timeouts", limit: 20000 },
        },
      ],
      alertmanager: `127.0.0.1:${alertmanagerPort}`,
      scrapeSeconds: 1,
    })
      .replace(RULES_FILE, rules)
      .replace(TARGETS_DIRECTORY, targets),
  );
  const check = tool(PROMTOOL, ["check", "config", config]);
  assert.ok(check.ok, check.output);
  const prometheusPort = await freePort();
  const prometheus = spawn(
    PROMETHEUS,
    [
      `--config.file=${config}`,
      `--storage.tsdb.path=${fs.mkdtempSync(path.join(directory, "tsdb-"))}`,
      `--web.listen-address=127.0.0.1:${prometheusPort}`,
    ],
    { stdio: "ignore" },
  );
  running.push(prometheus);

  const started = Date.now();
  writeTargets(
    targets,
    "acme",
    tenantTargetFile({ tenant: "acme", namespace: "acme", front: `127.0.0.1:${frontPort}` }),
  );
  // Requests through the front, some failing: counted per tenant by its status class.
  const through = () =>
    fetch(`http://127.0.0.1:${apiPort}/journeys?subscription=hash-in-a-link`).then((r) => r.status);
  await within(10, async () => ((await through()) === 200 ? true : undefined));
  failing = true;
  for (let i = 0; i < 5; i += 1) assert.equal(await through(), 500);
  failing = false;
  const errors = await within(30, async () => {
    const result = await query(
      prometheusPort,
      `haproxy_backend_http_responses_total{job="${FRONTS_JOB}",tenant="acme",proxy="api",code="5xx"}`,
    );
    return result.length === 1 && Number(result[0].value[1]) >= 5 ? result[0] : undefined;
  });
  assert.equal(errors.metric.namespace, "acme");
  // The front's log has each request's path, not what its query carried.
  assert.match(frontLog, / 500 \d+ .* GET "\/journeys"/);
  assert.doesNotMatch(frontLog, /hash-in-a-link/);
  const found = (Date.now() - started) / 1000;
  // The tenant's dashboard, against the real series: each front panel has data.
  const frontQueries = queriesOf(tenantDashboard("acme", "acme")).filter(
    (q) => !q.includes("poll_"),
  );
  assert.equal(frontQueries.length, 4);
  for (const expr of frontQueries) {
    const result = await within(30, async () => {
      const r = await query(prometheusPort, expr);
      return r.length > 0 ? r : undefined;
    });
    assert.deepEqual(
      result.map((r) => r.metric.proxy),
      ["api"],
      expr,
    );
  }

  // A second tenant's file, read with Prometheus running (no reload, no restart); then emptied.
  const tenants = () =>
    query(prometheusPort, `up{job="${FRONTS_JOB}"}`).then((r) =>
      r.map((s) => s.metric.tenant).sort(),
    );
  writeTargets(
    targets,
    "globex",
    tenantTargetFile({
      tenant: "globex",
      namespace: tenantNamespace("globex", 2),
      front: `127.0.0.1:${frontPort}`,
    }),
  );
  await within(30, async () => ((await tenants()).join() === "acme,globex" ? true : undefined));
  writeTargets(targets, "globex", tenantTargetFile({ tenant: "globex", namespace: "globex" }));
  await within(30, async () => ((await tenants()).join() === "acme" ? true : undefined));
  assert.equal(prometheus.exitCode, null, "Prometheus ran throughout");

  // Of Temporal's series, the polls alone; past the limit, none, and Temporal shows down.
  const temporalNames = async () =>
    (await query(prometheusPort, '{job="temporal",__name__!~"up|scrape_.+"}'))
      .map((s) => s.metric.__name__)
      .sort();
  assert.deepEqual(
    await within(30, async () =>
      (await temporalNames()).length > 0 ? temporalNames() : undefined,
    ),
    ["poll_success"],
  );
  flood = 20001;
  await within(30, async () => {
    const up = await query(prometheusPort, 'up{job="temporal"}');
    return up[0]?.value[1] === "0" ? true : undefined;
  });
  flood = 0;

  // The release stops answering its health path: the front counts no server up, the rule fires,
  // and Alertmanager posts it to the webhook.
  healthy = false;
  const failedAt = Date.now();
  const alert = await within(60, () =>
    Promise.resolve(
      delivered
        .flatMap((d) => d.alerts)
        .find((a) => a.labels.alertname === "TenantAppDown" && a.status === "firing"),
    ),
  );
  const deliveredSeconds = (Date.now() - failedAt) / 1000;
  assert.equal(alert.labels.tenant, "acme");
  assert.equal(alert.labels.proxy, "api");
  assert.equal(alert.labels.severity, "critical");
  assert.ok(deliveredSeconds < 30, `delivered after ${deliveredSeconds} s`);
  console.log(
    `monitoring: front found in ${found.toFixed(1)} s, alert delivered ${deliveredSeconds.toFixed(1)} s after the release failed`,
  );
});

/** Every query of a dashboard, with Grafana's `$__rate_interval` as Prometheus would get it. */
function queriesOf(dashboard: Dashboard): string[] {
  return (dashboard.panels ?? []).flatMap((panel) =>
    "targets" in panel && panel.targets
      ? panel.targets.map((t) =>
          String((t as { expr?: string }).expr).replaceAll("$__rate_interval", "5m"),
        )
      : [],
  );
}

describe("dashboards", () => {
  test("every query of every dashboard of a stack parses in promtool; a tenant's read its own series alone", () => {
    const dashboards = stackDashboards("production");
    assert.deepEqual(Object.keys(dashboards).sort(), [
      "platform.json",
      "tenant-acme.json",
      "tenant-globex.json",
    ]);
    const queries = Object.values(dashboards).flatMap(queriesOf);
    assert.ok(queries.length >= 10, `${queries.length} queries`);
    // promtool parses a recording rule's expression: one rule per query.
    const file = write(
      "dashboard-queries.yml",
      stringify({
        groups: [
          { name: "dashboards", rules: queries.map((expr, i) => ({ record: `query:${i}`, expr })) },
        ],
      }),
    );
    const check = tool(PROMTOOL, ["check", "rules", file]);
    assert.ok(check.ok, check.output);
    assert.equal(new Set(Object.values(dashboards).map((d) => d.uid)).size, 3);
    for (const id of ["acme", "globex"]) {
      for (const query of queriesOf(dashboards[`tenant-${id}.json`])) {
        // Each selector names the tenant, or its Temporal namespace.
        for (const selector of query.match(/\{[^}]*\}/g) ?? []) {
          assert.ok(
            selector.includes(`tenant="${id}"`) || selector.includes(`namespace="${id}"`),
            `${id}: ${query}`,
          );
        }
      }
    }
  });
});

describe("under mocks", () => {
  const MONITORING = { "platform:monitoring": { enabled: true } };

  test("every tenant writes its own target file, labelled with its id and namespace, which the tenant alerts fire on; offboarded, an empty one", async () => {
    const { run, config } = await runCommitted("production", MONITORING);
    const cases: Case[] = [];
    const jobs = ofType(run, CONTAINER).filter(
      (r) => labelMap(r)["platform.service"] === "monitoring",
    );
    assert.equal(jobs.length, config.tenants.length);
    for (const tenant of config.tenants) {
      const job = byName(run, `${tenant.id}-monitoring-job`);
      assert.equal(labelMap(job)["platform.tenant"], tenant.id);
      const script = (job.inputs.command as string[])[0];
      const file = /printf '%s' '(.*)\n' >/s.exec(script)?.[1];
      assert.ok(file, script);
      const groups = JSON.parse(file) as { targets: string[]; labels: Record<string, string> }[];
      assert.deepEqual(groups[0].labels, {
        tenant: tenant.id,
        namespace: tenantNamespace(tenant.id, tenant.namespaceGeneration),
      });
      assert.match(groups[0].targets[0], new RegExp(`^${tenant.id}-front-[0-9a-f]+:8404$`));
      assert.ok(script.includes(`${TARGETS_DIRECTORY}/${tenant.id}.json`));
      // The very labels the file gives: its front down, and no poll of its namespace, alert
      // for this tenant by name.
      const labels = { job: FRONTS_JOB, ...groups[0].labels, instance: groups[0].targets[0] };
      const selector = `{${Object.entries(labels)
        .map(([k, v]) => `${k}="${v}"`)
        .join(",")}}`;
      cases.push(
        {
          alert: "TenantFrontDown",
          series: { [`up${selector}`]: "0x10" },
          at: "5m",
          fires: [labels],
        },
        {
          alert: "TenantWorkersNotPolling",
          series: { [`up${selector}`]: "1x30" },
          at: "25m",
          fires: [{ tenant: labels.tenant, namespace: labels.namespace }],
        },
      );
    }
    const rules = write("tenant-rules.yml", rulesFile(RULES));
    const checked = tool(PROMTOOL, [
      "test",
      "rules",
      write("tenant-tests.yml", unitTests(rules, cases)),
    ]);
    assert.ok(checked.ok, checked.output);
    const tenants = rawPlatformConfig(committedStack("production").config).tenants as object[];
    const offboarded = await runCommitted("production", {
      ...MONITORING,
      "platform:tenants": tenants.map((tenant, i) => ({ ...tenant, offboarded: i === 0 })),
    });
    const first = (
      byName(offboarded.run, `${config.tenants[0].id}-monitoring-job`).inputs.command as string[]
    )[0];
    assert.ok(first.includes("printf '%s' '[]\n'"), first);
  });

  test("Prometheus starts after what it scrapes and alerts to; each tenant's file after Prometheus and its front", async () => {
    const { run, config } = await runCommitted("production", MONITORING);
    dependsOn(
      run,
      "monitoring-prometheus",
      "monitoring-alertmanager",
      "monitoring-node-exporter",
      "temporal",
      "clickhouse",
    );
    for (const { id } of config.tenants) {
      dependsOn(run, `${id}-monitoring-job`, "monitoring-prometheus", `${id}-front-container`);
    }
  });

  test("Prometheus's rendered config loads in promtool; Alertmanager's receivers' secrets stay out of its inputs", async () => {
    const options = committedStack("production", {
      "platform:monitoring": { enabled: true, receivers: [{ name: "ops", type: "webhook" }] },
      "platform:secrets": { receivers: { ops: "https://hooks.example.com/very-secret-token" } },
    });
    const run = await runProgram({
      ...options,
      secretKeys: [...(options.secretKeys ?? []), "platform:secrets"],
    });
    assert.equal(run.error, undefined, String(run.error));
    const prometheus = byName(run, "monitoring-prometheus");
    const uploads = prometheus.inputs.uploads as { file: string; content: string }[];
    const rules = write("rendered-rules.yml", uploads.find((u) => u.file === RULES_FILE)!.content);
    const config = write(
      "rendered.yml",
      uploads.find((u) => u.file !== RULES_FILE)!.content.replace(RULES_FILE, rules),
    );
    const check = tool(PROMTOOL, ["check", "config", config]);
    assert.ok(check.ok, check.output);
    // The webhook's URL reaches Alertmanager only through its environment, which is secret.
    const alertmanager = byName(run, "monitoring-alertmanager");
    const { secret, env } = envOf(alertmanager);
    assert.ok(secret);
    assert.equal(env.RECEIVER_0_SECRET, "https://hooks.example.com/very-secret-token");
    assert.ok(!JSON.stringify(alertmanager.inputs.command).includes("very-secret-token"));
  });
});
