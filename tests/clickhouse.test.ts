/**
 * ClickHouse's own logs are bounded on both runtimes: the config file is checked by libxml2's
 * parser (xmllint), as ClickHouse's own XML reader would take it, and read back with XPath.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import {
  PROMETHEUS_CONFIG_PATH,
  metricsEndpointConfig,
  SYSTEM_LOGS_CONFIG_PATH,
  systemLogsConfig,
} from "../components/data/clickhouseServer";
import { METRICS_PORTS } from "../components/monitoring/prometheus";
import { byName, platformConfig, runCommitted, runProgram } from "./harness";

const xpath = (file: string, expression: string) =>
  execFileSync("xmllint", ["--xpath", expression, file], { encoding: "utf8" }).trim();

test("every system log ClickHouse 24.12 keeps by default is bounded by a TTL, and none is turned on", () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "clickhouse-")), "logs.xml");
  fs.writeFileSync(file, systemLogsConfig());
  execFileSync("xmllint", ["--noout", file]);
  // What programs/server/config.xml enables in 24.12 (SystemLog.h, LIST_OF_ALL_SYSTEM_LOGS).
  const shipped = [
    "query_log",
    "query_thread_log",
    "query_views_log",
    "part_log",
    "trace_log",
    "text_log",
    "metric_log",
    "error_log",
    "query_metric_log",
    "asynchronous_metric_log",
    "crash_log",
    "processors_profile_log",
    "asynchronous_insert_log",
    "backup_log",
    "s3queue_log",
    "blob_storage_log",
  ];
  for (const log of shipped) {
    assert.equal(
      xpath(file, `string(/clickhouse/${log}/ttl)`),
      "event_date + INTERVAL 7 DAY DELETE",
      log,
    );
    // A TTL beside an <engine> stops the server (createSystemLog throws BAD_ARGUMENTS).
    assert.equal(xpath(file, `count(/clickhouse/${log}/*)`), "1", log);
  }
  assert.equal(xpath(file, "count(/clickhouse/*[ttl])"), String(shipped.length));
  assert.equal(xpath(file, "string(/clickhouse/opentelemetry_span_log/@remove)"), "1");
  // Off by default: an element of theirs here would turn them on (createSystemLog).
  for (const off of [
    "session_log",
    "zookeeper_log",
    "transactions_info_log",
    "filesystem_cache_log",
  ])
    assert.equal(xpath(file, `count(/clickhouse/${off})`), "0", off);
});

test("the Prometheus endpoint's file parses, and sets what ClickHouse reads (port, metrics, events, asynchronous metrics)", () => {
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "clickhouse-")), "prom.xml");
  fs.writeFileSync(file, metricsEndpointConfig(9363));
  execFileSync("xmllint", ["--noout", file]);
  assert.equal(xpath(file, "string(/clickhouse/prometheus/port)"), "9363");
  assert.equal(xpath(file, "string(/clickhouse/prometheus/endpoint)"), "/metrics");
  for (const flag of ["metrics", "events", "asynchronous_metrics"]) {
    assert.equal(xpath(file, `string(/clickhouse/prometheus/${flag})`), "true");
  }
});

test("the server reads the file at start on both runtimes; a managed ClickHouse is left alone", async () => {
  const { run } = await runCommitted("production");
  const uploads = byName(run, "clickhouse").inputs.uploads as { file: string; content: string }[];
  // Production is monitored: the server also serves Prometheus, on the port it scrapes.
  assert.deepEqual(uploads, [
    { file: SYSTEM_LOGS_CONFIG_PATH, content: systemLogsConfig() },
    { file: PROMETHEUS_CONFIG_PATH, content: metricsEndpointConfig(METRICS_PORTS.clickhouse) },
  ]);
  const unmonitored = await runCommitted("production", {
    "platform:monitoring": { enabled: false },
  });
  assert.deepEqual(byName(unmonitored.run, "clickhouse").inputs.uploads, [
    { file: SYSTEM_LOGS_CONFIG_PATH, content: systemLogsConfig() },
  ]);

  const kube = await runProgram({
    stack: "staging-k8s",
    config: platformConfig({
      environment: "staging",
      runtime: "kubernetes",
      tenants: [{ id: "acme", workspaceName: "Acme" }],
    }),
  });
  assert.equal(kube.error, undefined, String(kube.error));
  const configMap = kube.registrations.find((r) => r.type === "kubernetes:core/v1:ConfigMap")!;
  assert.equal(configMap.name, "clickhouse-files");
  assert.deepEqual(configMap.inputs.data, { "platform-system-logs.xml": systemLogsConfig() });
  const pod = (
    byName(kube, "clickhouse").inputs.spec as {
      template: { spec: { containers: { volumeMounts: unknown[] }[]; volumes: unknown[] } };
    }
  ).template.spec;
  assert.deepEqual(pod.containers[0].volumeMounts[1], {
    name: "files",
    mountPath: SYSTEM_LOGS_CONFIG_PATH,
    subPath: "platform-system-logs.xml",
    readOnly: true,
  });
  // The pod mounts this ConfigMap: its name is the ConfigMap's output.
  assert.deepEqual(
    (pod.volumes as { name: string }[]).map((v) => v.name),
    ["files"],
  );
  assert.ok(byName(kube, "clickhouse").propertyDependencies.spec.includes(configMap.urn));

  const managed = (await runCommitted("production-k8s")).run;
  assert.equal(
    managed.registrations.filter((r) => r.type === "kubernetes:core/v1:ConfigMap").length,
    0,
  );
});
