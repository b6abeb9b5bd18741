/**
 * The e2e scenarios, each measuring what the program promises on a real engine and writing its
 * part of the report. What a scenario reports is what it observed: packets, exit codes, rows.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import pg from "pg";
import { committedStack, RunResult, runProgram } from "../engine/runner";
import { restore } from "../restore/restore";
import { unwrapSecrets } from "../engine/mocks";
import { Applier, Live } from "./apply";
import { api, exec, inspect, Inspect } from "./docker";
import { Host, HOST_PORT, METADATA, PRIVATE_HOST, PRIVATE_RANGE_PROBE, PUBLIC_HOST } from "./host";

export const STACK = "staging";
/** The release the version-bump scenario moves to: no upgrade step runs on the way. */
export const NEXT_VERSION = "v0.23.1";
/** The version bump moves acme, then globex once a gate has watched acme this long. */
export const SOAK_MINUTES = 1;

/** The stack's run options with `changes` to whole top-level keys. */
export const stackConfig = (changes: Record<string, unknown> = {}) =>
  committedStack(STACK, changes);

export interface IsolationPair {
  from: string;
  to: string;
  port: number;
  expected: "allowed" | "blocked";
  observed: "allowed" | "blocked";
}

export interface ReleaseResult {
  change: string;
  requests: number;
  failed: number;
  seconds: number;
  /** Requests answered by each release while the change was applied, by the version reported. */
  servedBy: Record<string, number>;
  /** The same, for requests sent once it was applied. */
  servedAfter: Record<string, number>;
  /** The release every request must reach once the change is applied. */
  expected: string;
  /**
   * A release in waves: when its gate ran and how it ended, and when each tenant first answered
   * with the new release (ISO times). @default none: no gate ran
   */
  gate?: {
    started: string;
    finished: string;
    exitCode: number;
    firstServed: Record<string, string>;
  };
}

export interface Report {
  engine: string;
  stack: string;
  up: {
    containers: number;
    healthy: number;
    jobs: number;
    jobsSucceeded: number;
    seconds: number;
  };
  isolation: IsolationPair[];
  releases: ReleaseResult[];
  backup: { databases: number; restored: boolean; rowsMatch: boolean; tables: number };
  monitoring: {
    /** Each tenant's front as Prometheus scrapes it (found through the tenant's file), and whether it is up. */
    fronts: { tenant: string; instance: string; up: boolean; current: boolean }[];
    /** Shared jobs Prometheus scrapes with success. */
    up: string[];
    /** The backup service's status, read through node_exporter. */
    backupMetric: boolean;
    /** The host's root filesystem, as node_exporter sees it through its read-only mount. */
    hostDisk: boolean;
    seconds: number;
  };
  egressGuard: {
    rules: number;
    /** Its rules removed, the engine restarted: all back, and the metadata address dropped. */
    afterEngineRestart: boolean;
    engineRestartSeconds: number;
    /** From the engine answering again to every rule back in force. */
    secondsUntilRestored: number;
  };
  seconds: Record<string, number>;
  /** What the run changed of the program's specs to fit this machine. */
  adjustments: string[];
}

/** What in a report falls short of what the program promises; empty when nothing does. */
export function shortfalls(report: Partial<Report>): string[] {
  const out: string[] = [];
  const { up, isolation, releases, backup, egressGuard } = report;
  if (!up) out.push("up: not measured");
  else {
    if (up.healthy !== up.containers)
      out.push(`up: ${up.healthy} of ${up.containers} containers healthy`);
    if (up.jobsSucceeded !== up.jobs)
      out.push(`up: ${up.jobsSucceeded} of ${up.jobs} jobs exited 0`);
  }
  if (!isolation?.length) out.push("isolation: not measured");
  for (const p of isolation ?? []) {
    if (p.observed !== p.expected)
      out.push(`isolation: ${p.from} → ${p.to}:${p.port} ${p.observed}, expected ${p.expected}`);
  }
  if (!releases?.length) out.push("releases: not measured");
  for (const r of releases ?? []) {
    if (r.requests < 100)
      out.push(`releases: ${r.change} sent ${r.requests} requests, fewer than 100`);
    if (r.failed > 0)
      out.push(`releases: ${r.change}: ${r.failed} of ${r.requests} requests failed`);
    if (r.gate) {
      const { started, finished, exitCode, firstServed } = r.gate;
      const soaked = (Date.parse(finished) - Date.parse(started)) / 1000;
      if (exitCode !== 0 || soaked < SOAK_MINUTES * 60)
        out.push(`releases: ${r.change}: its gate exited ${exitCode} after ${soaked} s`);
      // The canary moved before the gate; the second wave only after it passed.
      if (!(Date.parse(firstServed.acme) < Date.parse(started)))
        out.push(
          `releases: ${r.change}: acme first served ${r.expected} at ${firstServed.acme}, after its gate started at ${started}`,
        );
      if (!(Date.parse(firstServed.globex) > Date.parse(finished)))
        out.push(
          `releases: ${r.change}: globex first served ${r.expected} at ${firstServed.globex}, before the gate passed at ${finished}`,
        );
    }
    const stale = Object.keys(r.servedAfter).filter((v) => v !== r.expected);
    if (stale.length > 0 || Object.keys(r.servedAfter).length === 0) {
      out.push(
        `releases: ${r.change}: once applied, answered by ${JSON.stringify(r.servedAfter)}, not ${r.expected} alone`,
      );
    }
  }
  if (!backup) out.push("backup: not measured");
  else if (backup.databases === 0 || !backup.restored || !backup.rowsMatch) {
    out.push(`backup: ${JSON.stringify(backup)}`);
  }
  const { monitoring } = report;
  if (!monitoring) out.push("monitoring: not measured");
  else {
    // Each tenant's front of the last release, up, and none of a release before it: a rewritten
    // file drops the old front (once Prometheus has marked its series stale, two scrapes on).
    const good = monitoring.fronts.filter((f) => f.up && f.current).map((f) => f.tenant);
    if (good.sort().join() !== TENANTS.join() || monitoring.fronts.length !== TENANTS.length)
      out.push(`monitoring: fronts scraped ${JSON.stringify(monitoring.fronts)}`);
    for (const job of ["node", "alertmanager", "prometheus"].filter(
      (j) => !monitoring.up.includes(j),
    ))
      out.push(`monitoring: ${job} not up`);
    if (!monitoring.backupMetric) out.push("monitoring: no backup status through node_exporter");
    if (!monitoring.hostDisk) out.push("monitoring: no host filesystem through node_exporter");
  }
  if (!egressGuard?.afterEngineRestart)
    out.push("egress guard: not in force after the engine restarted");
  return out;
}

export interface Context {
  host: Host;
  applier: Applier;
  base: Record<string, unknown>;
  bumped: Record<string, unknown>;
  key: { home: string; publicKey: string };
  report: Report;
}

const CONTAINER = "docker:index/container:Container";
const TENANTS = ["acme", "globex"];

/** The live containers, inspected, with the labels the program gives them. */
async function containers(applier: Applier): Promise<{ live: Live; info: Inspect }[]> {
  const live = [...applier.live.values()].filter((l) => l.type === CONTAINER);
  return Promise.all(live.map(async (l) => ({ live: l, info: await inspect(l.id) })));
}

const label = (info: Inspect, name: string) => info.Config.Labels[name];

/** Applies one program run to the engine, as `pulumi up` does; the run's result. */
async function up(
  context: Context,
  changes: Record<string, unknown>,
  previous?: RunResult,
  secretKeys: string[] = [],
): Promise<RunResult> {
  const options = stackConfig(changes);
  const run = await runProgram({
    ...options,
    secretKeys: [...options.secretKeys!, ...secretKeys],
    provision: context.applier.provision,
    previousOutputs: previous?.outputs,
  });
  if (run.error) throw new Error(`pulumi up failed: ${run.error.message}`);
  await context.applier.finish(new Set(run.registrations.map((r) => r.urn)));
  return run;
}

export async function upScenario(context: Context): Promise<RunResult> {
  const started = Date.now();
  const run = await up(context, context.base);
  const seconds = Math.round((Date.now() - started) / 1000);
  const all = await containers(context.applier);
  const services = all.filter((c) => !unwrapSecrets(c.live.inputs.attach));
  const jobs = all.filter((c) => unwrapSecrets(c.live.inputs.attach));
  context.report.up = {
    containers: services.length,
    // Running, and healthy where it has a health check.
    healthy: services.filter(
      (c) => c.info.State.Running && (c.info.State.Health?.Status ?? "healthy") === "healthy",
    ).length,
    jobs: jobs.length,
    jobsSucceeded: jobs.filter((c) => c.info.State.ExitCode === 0).length,
    seconds,
  };
  console.log(`up: ${JSON.stringify(context.report.up)}`);
  return run;
}

/**
 * TCP connects from inside a container, all at once: per target `connected`, the error code
 * (`ECONNREFUSED`: a host answered; `EHOSTUNREACH`: the safety chain's reject), or `timeout`
 * (dropped on the way).
 */
const PROBE = `
const net = require("net");
const targets = JSON.parse(process.argv[1]);
Promise.all(targets.map(([host, port]) => new Promise((resolve) => {
  const s = net.connect({ host, port, timeout: 3000 }, () => { s.destroy(); resolve("connected"); });
  s.on("timeout", () => { s.destroy(); resolve("timeout"); });
  s.on("error", (e) => resolve(e.code || e.message));
}))).then((r) => console.log(JSON.stringify(r)));`;

/**
 * What each packet from a container did. A host that answered, even with a refusal, was reached;
 * a packet the safety chain counted was let through by the program, though the chain stopped it;
 * one dropped on the way (a timeout) was blocked. Anything else is not a result.
 */
async function observe(
  host: Host,
  container: string,
  targets: { host: string; port: number }[],
): Promise<IsolationPair["observed"][]> {
  const counted = [METADATA, PRIVATE_RANGE_PROBE];
  const before = counted.map((d) => host.leaked(d));
  const result = await exec(container, [
    "node",
    "-e",
    PROBE,
    JSON.stringify(targets.map((t) => [t.host, t.port])),
  ]);
  if (result.output.trim() === "")
    throw new Error(`the probe in ${container} printed nothing (exit ${result.exitCode})`);
  const outcomes = JSON.parse(result.output.trim()) as string[];
  const after = counted.map((d) => host.leaked(d));
  return targets.map((t, i) => {
    const leaked = counted.some((d, k) => t.host === d && after[k] > before[k]);
    // EHOSTUNREACH is the safety chain's admin-prohibited: nothing else on the way rejects.
    const reached = ["connected", "ECONNREFUSED", "EHOSTUNREACH"].includes(outcomes[i]);
    if (leaked || reached) return "allowed";
    if (outcomes[i] === "timeout") return "blocked";
    throw new Error(`probe of ${t.host}:${t.port} from ${container}: ${outcomes[i]}`);
  });
}

interface Target {
  to: string;
  host: string;
  port: number;
  expected: "allowed" | "blocked";
}

export async function isolationScenario(context: Context): Promise<void> {
  const all = await containers(context.applier);
  const ipOn = (info: Inspect, network: RegExp) =>
    Object.entries(info.NetworkSettings.Networks).find(([name]) => network.test(name))?.[1];
  const byService = (tenant: string | undefined, service: string) =>
    all.filter(
      (c) =>
        !unwrapSecrets(c.live.inputs.attach) &&
        label(c.info, "platform.tenant") === tenant &&
        label(c.info, "platform.service") === service,
    );
  const TENANT_PORTS: Record<string, number[]> = {
    api: [3001],
    dashboard: [3000],
    worker: [],
    front: [3000, 3001, 8404],
    gateway: [5432, 6379, 8123, 9000, 7233, 8404],
  };
  const DATA_PORTS: Record<string, number[]> = {
    postgres: [5432],
    redis: [6379],
    clickhouse: [8123, 9000],
    temporal: [7233],
  };
  const hostAddresses = Object.values(os.networkInterfaces())
    .flat()
    .filter((a) => a && a.family === "IPv4" && !a.internal)
    .map((a) => a!.address);
  const pairs: IsolationPair[] = [];
  for (const tenant of TENANTS) {
    const network = new RegExp(`_${tenant}\\.network$`);
    const targets: Target[] = [];
    for (const other of TENANTS.filter((t) => t !== tenant)) {
      for (const [service, ports] of Object.entries(TENANT_PORTS)) {
        for (const c of byService(other, service)) {
          const ip = ipOn(c.info, new RegExp(`_${other}\\.network$`))!.IPAddress;
          for (const port of ports)
            targets.push({ to: `${other}/${service}`, host: ip, port, expected: "blocked" });
        }
      }
    }
    for (const [service, ports] of Object.entries(DATA_PORTS)) {
      for (const c of byService(undefined, service)) {
        const ip = Object.values(c.info.NetworkSettings.Networks)[0].IPAddress;
        for (const port of ports)
          targets.push({ to: `shared/${service}`, host: ip, port, expected: "blocked" });
      }
    }
    for (const address of hostAddresses) {
      targets.push({ to: `host/${address}`, host: address, port: HOST_PORT, expected: "blocked" });
    }
    targets.push(
      { to: "metadata", host: METADATA, port: 80, expected: "blocked" },
      { to: "private-range", host: PRIVATE_RANGE_PROBE, port: 80, expected: "blocked" },
      {
        to: "private-host",
        host: PRIVATE_HOST.address,
        port: PRIVATE_HOST.port,
        expected: "blocked",
      },
      { to: "public-host", host: PUBLIC_HOST.address, port: PUBLIC_HOST.port, expected: "allowed" },
    );
    for (const [alias, ports] of Object.entries(DATA_PORTS)) {
      for (const port of ports) {
        targets.push({ to: `${tenant}/gateway:${alias}`, host: alias, port, expected: "allowed" });
      }
    }
    for (const service of ["api", "dashboard", "worker"]) {
      for (const c of byService(tenant, service)) {
        const gateway = ipOn(c.info, network)!.Gateway;
        const own = [
          ...targets,
          {
            to: "host/bridge-gateway",
            host: gateway,
            port: HOST_PORT,
            expected: "blocked" as const,
          },
        ];
        const observed = await observe(context.host, c.info.Id, own);
        own.forEach((t, i) =>
          pairs.push({
            from: `${tenant}/${service}`,
            to: t.to,
            port: t.port,
            expected: t.expected,
            observed: observed[i],
          }),
        );
      }
    }
    pairs.push(...(await throughGateway(tenant, byService(tenant, "api")[0].info.Id)));
  }
  context.report.isolation = pairs;
  const wrong = pairs.filter((p) => p.expected !== p.observed);
  console.log(`isolation: ${pairs.length} pairs, ${wrong.length} not as expected`);
  for (const p of wrong) console.log(`  ${JSON.stringify(p)}`);
}

/**
 * What a tenant must not reach through its own gateway: another tenant's database (the gateway
 * reads the user of the startup packet) and another tenant's Temporal namespace (the gateway
 * sends the tenant's own token).
 */
async function throughGateway(tenant: string, from: string): Promise<IsolationPair[]> {
  const other = TENANTS.find((t) => t !== tenant)!;
  const script = `
const { Client } = require("pg");
const http2 = require("http2");
const db = (user) => new Client({ host: "postgres", user, password: "not-the-password", database: user, connectionTimeoutMillis: 5000 })
  .connect().then(() => "allowed", (e) =>
    /password authentication failed/.test(e.message) ? "allowed"
    : /Connection terminated unexpectedly|ECONNRESET/.test(e.message) ? "blocked" : "error: " + e.message);
const temporal = (namespace) => new Promise((resolve) => {
  const s = http2.connect("http://temporal:7233");
  s.on("error", (e) => resolve("error: " + e.message));
  const r = s.request({ ":method": "POST", ":path": "/temporal.api.workflowservice.v1.WorkflowService/DescribeNamespace" });
  let body = "";
  r.on("data", (c) => (body += c));
  r.on("end", () => {
    s.close();
    resolve(lastStatus === 200 ? "allowed" : lastStatus === 403 && /unauthorized/.test(body) ? "blocked" : "error: " + lastStatus + " " + body);
  });
  let lastStatus = 0;
  r.on("response", (h) => (lastStatus = h[":status"]));
  r.on("error", (e) => resolve("error: " + e.message));
  r.end(JSON.stringify({ namespace }));
});
Promise.all([db("dittofeed_${tenant}"), db("dittofeed_${other}"), temporal("${tenant}"), temporal("${other}")]).then((r) => console.log(JSON.stringify(r)));`;
  const result = await exec(from, ["node", "-e", script]);
  if (result.output.trim() === "")
    throw new Error(`the probe in ${from} printed nothing (exit ${result.exitCode})`);
  const outcomes = JSON.parse(result.output.trim()) as string[];
  const failed = outcomes.filter((o) => o.startsWith("error"));
  if (failed.length > 0) throw new Error(`through ${tenant}'s gateway: ${failed.join("; ")}`);
  const [ownDb, otherDb, ownNs, otherNs] = outcomes as IsolationPair["observed"][];
  const pair = (
    to: string,
    port: number,
    expected: IsolationPair["expected"],
    observed: IsolationPair["observed"],
  ) => ({
    from: `${tenant}/api`,
    to,
    port,
    expected,
    observed,
  });
  return [
    pair(`${tenant}/gateway:postgres as dittofeed_${tenant}`, 5432, "allowed", ownDb),
    pair(`${tenant}/gateway:postgres as dittofeed_${other}`, 5432, "blocked", otherDb),
    pair(`${tenant}/gateway:temporal namespace ${tenant}`, 7233, "allowed", ownNs),
    pair(`${tenant}/gateway:temporal namespace ${other}`, 7233, "blocked", otherNs),
  ];
}

/** One GET through the tunnel stand-in: the release that answered, or what went wrong. */
function request(
  edge: string,
  host: string,
  target: string,
): Promise<string | { version: string }> {
  return new Promise((resolve) => {
    const req = http.get(`${edge}${target}`, { headers: { host }, timeout: 10_000 }, (res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () =>
        res.statusCode === 200
          ? resolve(JSON.parse(body) as { version: string })
          : resolve(`${host}${target}: ${res.statusCode} ${body.trim()}`),
      );
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (error) => resolve(`${host}${target}: ${error.message}`));
  });
}

/**
 * GETs to every tenant's api and dashboard in turn, through the tunnel stand-in, until `done`
 * settles (or `count` were sent); what answered each.
 */
async function requests(
  edge: string,
  hosts: string[],
  until: { done: Promise<unknown> } | { count: number },
): Promise<{
  requests: number;
  failed: number;
  servedBy: Record<string, number>;
  /** When each host first answered with each release. */
  firstServed: Record<string, Record<string, string>>;
}> {
  let finished = false;
  if ("done" in until)
    void until.done.then(
      () => (finished = true),
      () => (finished = true),
    );
  const counts = {
    requests: 0,
    failed: 0,
    servedBy: {} as Record<string, number>,
    firstServed: {} as Record<string, Record<string, string>>,
  };
  const paths = ["/api", "/dashboard/api"];
  while ("done" in until ? !finished : counts.requests < until.count) {
    const host = hosts[counts.requests % hosts.length];
    const target = paths[Math.floor(counts.requests / hosts.length) % paths.length];
    counts.requests++;
    const outcome = await request(edge, host, target);
    if (typeof outcome === "string") {
      counts.failed++;
      if (counts.failed <= 10) console.log(`  failed: ${outcome}`);
    } else {
      counts.servedBy[outcome.version] = (counts.servedBy[outcome.version] ?? 0) + 1;
      const first = (counts.firstServed[host] ??= {});
      first[outcome.version] ??= new Date().toISOString();
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return counts;
}

export async function releaseScenario(context: Context, first: RunResult): Promise<void> {
  const connector = (await containers(context.applier)).find(
    (c) => label(c.info, "platform.service") === "cloudflared",
  );
  if (!connector) throw new Error("no cloudflared container to send requests through");
  const edge = `http://${Object.values(connector.info.NetworkSettings.Networks)[0].IPAddress}:8080`;
  const hosts = TENANTS.map((t) => `${t}-staging.example.com`);
  const changes: { change: string; config: Record<string, unknown>; secretKeys: string[] }[] = [
    { change: "version-bump", config: context.bumped, secretKeys: [] },
    {
      change: "secret-rotation",
      config: {
        ...context.bumped,
        "platform:secrets": {
          tenants: { acme: { databasePassword: "rotated-by-e2e-0123456789" } },
        },
      },
      secretKeys: ["platform:secrets"],
    },
  ];
  context.report.releases = [];
  let previous = first;
  for (const { change, config, secretKeys } of changes) {
    const started = Date.now();
    const applied = up(context, config, previous, secretKeys);
    // Requests while the change is applied, then a few once it is: which release answers now.
    const during = await requests(edge, hosts, { done: applied });
    previous = await applied;
    const seconds = Math.round((Date.now() - started) / 1000);
    const after = await requests(edge, hosts, { count: 8 });
    const gate = (await containers(context.applier)).find(
      (c) => label(c.info, "platform.service") === "release-gate",
    );
    const result: ReleaseResult = {
      change,
      requests: during.requests,
      failed: during.failed + after.failed,
      seconds,
      servedBy: during.servedBy,
      servedAfter: after.servedBy,
      expected: NEXT_VERSION,
      ...(change === "version-bump" && {
        gate: gate && {
          started: gate.info.State.StartedAt,
          finished: gate.info.State.FinishedAt,
          exitCode: gate.info.State.ExitCode,
          firstServed: Object.fromEntries(
            TENANTS.map((t) => [
              t,
              during.firstServed[`${t}-staging.example.com`]?.[NEXT_VERSION] ?? "",
            ]),
          ),
        },
      }),
    };
    if (change === "version-bump" && !result.gate)
      throw new Error("the version bump ran no release gate");
    context.report.releases.push(result);
    console.log(`release ${change}: ${JSON.stringify(result)}`);
  }
}

/**
 * What Prometheus sees once the releases are done: each tenant's front of the new release, found
 * through the file the tenant wrote (no change to Prometheus), the shared exporters, and the
 * backup service's status through node_exporter. Asked on the host's loopback port, as an
 * operator's forward would.
 */
export async function monitoringScenario(context: Context): Promise<void> {
  const port = (
    JSON.parse(stackConfig().config["platform:monitoring"]) as { prometheus: { port: number } }
  ).prometheus.port;
  const all = await containers(context.applier);
  const fronts = new Map(
    all
      .filter((c) => label(c.info, "platform.service") === "front")
      .map((c) => [label(c.info, "platform.tenant"), c.info]),
  );
  const query = async (expr: string) => {
    const response = await fetch(
      `http://127.0.0.1:${port}/api/v1/query?query=${encodeURIComponent(expr)}`,
    );
    const body = (await response.json()) as {
      data: { result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    return body.data.result;
  };
  const started = Date.now();
  let result: Report["monitoring"] | undefined;
  // Prometheus re-reads a changed file at once; its scrapes come every 30 s, and a dropped
  // target's series go stale two scrapes later.
  while (Date.now() - started < 180_000) {
    const ups = await query("up").catch(() => []);
    result = {
      fronts: ups
        .filter((s) => s.metric.job === "tenant-fronts")
        .map((s) => ({
          tenant: s.metric.tenant,
          instance: s.metric.instance,
          up: s.value[1] === "1",
          current: Object.values(fronts.get(s.metric.tenant)?.NetworkSettings.Networks ?? {}).some(
            (n) => (n.Aliases ?? []).some((a) => `${a}:8404` === s.metric.instance),
          ),
        })),
      up: [...new Set(ups.filter((s) => s.value[1] === "1").map((s) => s.metric.job))],
      backupMetric:
        (await query("platform_backup_last_success_timestamp_seconds").catch(() => [])).length > 0,
      hostDisk:
        (await query('node_filesystem_avail_bytes{mountpoint="/"}').catch(() => [])).length > 0,
      seconds: Math.round((Date.now() - started) / 1000),
    };
    if (shortfalls({ monitoring: result }).every((s) => !s.startsWith("monitoring"))) break;
    await new Promise((resolve) => setTimeout(resolve, 5000));
  }
  context.report.monitoring = result!;
  console.log(`monitoring: ${JSON.stringify(result)}`);
}

/**
 * The backup service's own script, run once in its container (MODE=once, as the program's
 * snapshot jobs run it) after rows were written to every tenant's database as the tenant's role:
 * its sealed set is decrypted and restored beside each database, and compared table by table.
 */
export async function backupScenario(context: Context): Promise<void> {
  const backup = (await containers(context.applier)).find(
    (c) => label(c.info, "platform.service") === "backup" && !unwrapSecrets(c.live.inputs.attach),
  );
  if (!backup) throw new Error("no backup service container");
  const provider = [...context.applier.live.values()].find(
    (l) => l.type === "pulumi:providers:postgresql",
  )!;
  const connection = {
    host: "127.0.0.1",
    port: Number(unwrapSecrets(provider.inputs.port)),
    user: String(unwrapSecrets(provider.inputs.username)),
    password: String(unwrapSecrets(provider.inputs.password)),
  };
  for (const tenant of TENANTS) {
    const client = new pg.Client({ ...connection, database: `dittofeed_${tenant}` });
    client.on("error", (error) => console.log(`rows of ${tenant}: ${error.message}`));
    await client.connect();
    await client.query(`SET ROLE dittofeed_${tenant}`);
    await client.query("CREATE TABLE public.e2e_rows (id int PRIMARY KEY, note text NOT NULL)");
    await client.query(
      "INSERT INTO public.e2e_rows SELECT i, md5(i::text) FROM generate_series(1, 1000) AS i",
    );
    await client.end();
  }
  const inputs = unwrapSecrets(backup.live.inputs) as { entrypoints: string[]; command: string[] };
  const once = await exec(backup.info.Id, [...inputs.entrypoints, ...inputs.command], {
    timeoutMs: 300_000,
    env: ["MODE=once", "DESTINATION=e2e"],
  });
  if (once.exitCode !== 0) {
    throw new Error(`the backup script exited ${once.exitCode}:\n${once.output.slice(-2000)}`);
  }
  const volume = await api<{ Mountpoint: string }>("GET", `/volumes/${STACK}-backup-data`);
  const root = path.join(volume.Mountpoint, "e2e");
  const stamp = fs
    .readdirSync(root)
    .filter((d) => /^\d{8}T\d{6}Z$/.test(d))
    .sort()
    .at(-1);
  if (!stamp) throw new Error(`the backup script wrote no set into ${root}`);
  const set = path.join(root, stamp);
  const databases = fs
    .readdirSync(path.join(set, "postgres"))
    .map((f) => f.replace(/\.dump\.gpg$/, ""));
  let rowsMatch = databases.length > 0;
  let restored = true;
  let tables = 0;
  for (const database of databases) {
    const into = `${database}_e2e`;
    try {
      await restore({
        set,
        database,
        into,
        connection,
        apply: true,
        env: { ...process.env, GNUPGHOME: context.key.home },
        log: () => undefined,
      });
    } catch (error) {
      restored = false;
      console.log(`restore of ${database} failed: ${(error as Error).message}`);
      continue;
    }
    const [source, copy] = await Promise.all([
      digest(connection, database),
      digest(connection, into),
    ]);
    tables += Object.keys(source).length;
    if (JSON.stringify(source) !== JSON.stringify(copy)) {
      rowsMatch = false;
      console.log(
        `rows of ${database} differ: ${JSON.stringify(source)} vs ${JSON.stringify(copy)}`,
      );
    }
  }
  context.report.backup = { databases: databases.length, restored, rowsMatch, tables };
  console.log(`backup: ${JSON.stringify(context.report.backup)}`);
}

/** Each table's row count and a digest of its rows, in a fixed order. */
async function digest(
  connection: pg.ClientConfig,
  database: string,
): Promise<Record<string, string>> {
  const client = new pg.Client({ ...connection, database });
  client.on("error", (error) => console.log(`digest of ${database}: ${error.message}`));
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string }>(
      "SELECT format('%I.%I', schemaname, tablename) AS name FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
    );
    const out: Record<string, string> = {};
    for (const { name } of rows) {
      const {
        rows: [row],
      } = await client.query<{ n: string; md5: string | null }>(
        `SELECT count(*) AS n, md5(string_agg(t::text, ',' ORDER BY t::text)) AS md5 FROM ${name} t`,
      );
      out[name] = `${row.n}:${row.md5 ?? ""}`;
    }
    return out;
  } finally {
    await client.end();
  }
}

/**
 * The egress guard after what a host reboot does to it: its rules gone (iptables keeps nothing
 * across a reboot, and dockerd alone never removes them) and the engine restarted. Its container
 * comes back under its restart policy and must put every rule back, so that a tenant's packet to
 * the metadata address is dropped again.
 */
export async function egressGuardScenario(context: Context): Promise<void> {
  const { host } = context;
  // Every rule of the guard: its chains and the jumps to them from DOCKER-USER and INPUT.
  const guard = () => host.rulesMatching(/PLATFORM-/);
  const before = guard();
  const rules = before.filter((r) => r.startsWith("-A PLATFORM-FWD-")).length;
  if (rules === 0) throw new Error("the egress guard's rules are not in place");
  host.removeChains(host.chainsNamed(/^PLATFORM-/));
  const started = Date.now();
  execFileSync("bash", [path.join(__dirname, "engine.sh"), "restart"], { stdio: "inherit" });
  const engineRestartSeconds = Math.round((Date.now() - started) / 1000);
  const inForce = () => JSON.stringify(guard()) === JSON.stringify(before);
  for (let waited = 0; waited < 120 && !inForce(); waited += 1) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  const restored = inForce();
  const secondsUntilRestored = Math.round((Date.now() - started) / 1000) - engineRestartSeconds;
  // Healthy, not only running: a container the engine has just restarted may not run its
  // process yet, and an exec in it then prints nothing (a run of CI met this once).
  let tenantApi: { info: Inspect } | undefined;
  for (let waited = 0; waited < 120 && !tenantApi; waited += 1) {
    tenantApi = (await containers(context.applier)).find(
      (c) =>
        label(c.info, "platform.service") === "api" && c.info.State.Health?.Status === "healthy",
    );
    if (!tenantApi) await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  if (!tenantApi) throw new Error("no tenant api is healthy again after the engine restart");
  const [metadata] = await observe(host, tenantApi.info.Id, [{ host: METADATA, port: 80 }]);
  context.report.egressGuard = {
    rules,
    afterEngineRestart: restored && metadata === "blocked",
    engineRestartSeconds,
    secondsUntilRestored,
  };
  console.log(`egress guard: ${JSON.stringify(context.report.egressGuard)}`);
}
