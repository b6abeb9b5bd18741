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
import { stackFilePath } from "../../config/stackFile";
import { PROJECT_ROOT, RunResult, runProgram, stackFileConfig } from "../engine/runner";
import { restore } from "../restore/restore";
import { Applier, Live, plain } from "./apply";
import { api, exec } from "./docker";
import { Host, HOST_PORT, METADATA, PRIVATE_HOST, PRIVATE_RANGE_PROBE, PUBLIC_HOST } from "./host";

export const STACK = "staging";
/** The release the version-bump scenario moves to: no upgrade step runs on the way. */
export const NEXT_VERSION = "v0.23.1";

/** The stack's config with `changes` to whole top-level keys. */
export function stackConfig(changes: Record<string, unknown> = {}) {
  const committed = stackFileConfig(stackFilePath(PROJECT_ROOT, STACK));
  for (const [key, value] of Object.entries(changes)) {
    committed.config[key] = JSON.stringify(value);
  }
  return committed;
}

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
  /** Requests answered by each release, by the version the stand-in reports. */
  servedBy: Record<string, number>;
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
    /** Resources created before something they depend on: the engine never does that. */
    orderViolations: string[];
  };
  isolation: IsolationPair[];
  releases: ReleaseResult[];
  backup: { databases: number; restored: boolean; rowsMatch: boolean; tables: number };
  egressGuard: { rules: number; afterEngineRestart: boolean; engineRestartSeconds: number };
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
    for (const v of up.orderViolations) out.push(`up: created out of order: ${v}`);
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
  }
  if (!backup) out.push("backup: not measured");
  else if (backup.databases === 0 || !backup.restored || !backup.rowsMatch) {
    out.push(`backup: ${JSON.stringify(backup)}`);
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

interface Inspect {
  Id: string;
  Name: string;
  Config: { Labels: Record<string, string> };
  State: { Running: boolean; ExitCode: number; Health?: { Status: string } };
  NetworkSettings: { Networks: Record<string, { IPAddress: string; Gateway: string }> };
}

const inspect = (id: string) => api<Inspect>("GET", `/containers/${id}/json`);

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
  const config = stackConfig(changes);
  const run = await runProgram({
    ...config,
    secretKeys: [...config.secretKeys, ...secretKeys],
    stack: STACK,
    stackFilesDirectory: PROJECT_ROOT,
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
  const services = all.filter((c) => !plain(c.live.inputs.attach));
  const jobs = all.filter((c) => plain(c.live.inputs.attach));
  const created = new Map(
    context.applier.steps.filter((s) => s.op === "create").map((s) => [s.urn, s.at]),
  );
  const orderViolations = [...context.applier.live.values()].flatMap((l) =>
    l.registration.dependencies
      .filter((dep) => created.has(dep) && created.get(dep)! > created.get(l.urn)!)
      .map((dep) => `${l.urn} before ${dep}`),
  );
  context.report.up = {
    containers: services.length,
    healthy: services.filter(
      (c) =>
        c.info.State.Running &&
        c.info.State.Health?.Status !== "unhealthy" &&
        (c.info.State.Health === undefined || c.info.State.Health.Status === "healthy"),
    ).length,
    jobs: jobs.length,
    jobsSucceeded: jobs.filter((c) => c.info.State.ExitCode === 0).length,
    seconds,
    orderViolations,
  };
  console.log(`up: ${JSON.stringify(context.report.up)}`);
  return run;
}

/** TCP connects from inside a container, all at once; true where one was accepted. */
const PROBE = `
const net = require("net");
const targets = JSON.parse(process.argv[1]);
Promise.all(targets.map(([host, port]) => new Promise((resolve) => {
  const s = net.connect({ host, port, timeout: 3000 }, () => { s.destroy(); resolve(true); });
  s.on("timeout", () => { s.destroy(); resolve(false); });
  s.on("error", () => resolve(false));
}))).then((r) => console.log(JSON.stringify(r)));`;

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
        !plain(c.live.inputs.attach) &&
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
        const leakedBefore = [METADATA, PRIVATE_RANGE_PROBE].map((d) => context.host.leaked(d));
        const result = await exec(c.info.Id, [
          "node",
          "-e",
          PROBE,
          JSON.stringify(own.map((t) => [t.host, t.port])),
        ]);
        const connected = JSON.parse(result.output.trim()) as boolean[];
        const leakedAfter = [METADATA, PRIVATE_RANGE_PROBE].map((d) => context.host.leaked(d));
        own.forEach((t, i) => {
          // A packet the program let through to the safety chain was allowed by the program,
          // though the chain rejected it.
          const leak =
            (t.host === METADATA && leakedAfter[0] > leakedBefore[0]) ||
            (t.host === PRIVATE_RANGE_PROBE && leakedAfter[1] > leakedBefore[1]);
          pairs.push({
            from: `${tenant}/${service}`,
            to: t.to,
            port: t.port,
            expected: t.expected,
            observed: connected[i] || leak ? "allowed" : "blocked",
          });
        });
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
  .connect().then(() => "allowed", (e) => /password authentication failed/.test(e.message) ? "allowed" : "blocked");
const temporal = (namespace) => new Promise((resolve) => {
  const s = http2.connect("http://temporal:7233");
  s.on("error", () => resolve("blocked"));
  const r = s.request({ ":method": "POST", ":path": "/temporal.api.workflowservice.v1.WorkflowService/DescribeNamespace" });
  r.on("response", (h) => { s.close(); resolve(h[":status"] === 200 ? "allowed" : "blocked"); });
  r.on("error", () => resolve("blocked"));
  r.end(JSON.stringify({ namespace }));
});
Promise.all([db("dittofeed_${tenant}"), db("dittofeed_${other}"), temporal("${tenant}"), temporal("${other}")]).then((r) => console.log(JSON.stringify(r)));`;
  const result = await exec(from, ["node", "-e", script]);
  const [ownDb, otherDb, ownNs, otherNs] = JSON.parse(
    result.output.trim(),
  ) as IsolationPair["observed"][];
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

/** GETs through the tunnel stand-in until `done` settles and at least `minimum` were sent. */
async function requestLoop(
  edge: string,
  hosts: string[],
  done: Promise<unknown>,
  minimum: number,
): Promise<Omit<ReleaseResult, "change" | "seconds">> {
  let finished = false;
  done.then(
    () => (finished = true),
    () => (finished = true),
  );
  const counts = { requests: 0, failed: 0, servedBy: {} as Record<string, number> };
  const failures: string[] = [];
  const paths = ["/api", "/dashboard/api"];
  while (!finished || counts.requests < minimum) {
    const host = hosts[counts.requests % hosts.length];
    const target = paths[Math.floor(counts.requests / hosts.length) % paths.length];
    counts.requests++;
    const outcome = await new Promise<string | { version: string }>((resolve) => {
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
    if (typeof outcome === "string") {
      counts.failed++;
      failures.push(outcome);
    } else {
      counts.servedBy[outcome.version] = (counts.servedBy[outcome.version] ?? 0) + 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  for (const failure of failures.slice(0, 10)) console.log(`  failed: ${failure}`);
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
    const counts = await requestLoop(edge, hosts, applied, 100);
    previous = await applied;
    const result = { change, ...counts, seconds: Math.round((Date.now() - started) / 1000) };
    context.report.releases.push(result);
    console.log(`release ${change}: ${JSON.stringify(result)}`);
  }
}

/**
 * The backup service's own script, run once in its container (MODE=once, as the program's
 * snapshot jobs run it) after rows were written to every tenant's database as the tenant's role:
 * its sealed set is decrypted and restored beside each database, and compared table by table.
 */
export async function backupScenario(context: Context): Promise<void> {
  const backup = (await containers(context.applier)).find(
    (c) => label(c.info, "platform.service") === "backup" && !plain(c.live.inputs.attach),
  );
  if (!backup) throw new Error("no backup service container");
  const provider = [...context.applier.live.values()].find(
    (l) => l.type === "pulumi:providers:postgresql",
  )!;
  const connection = {
    host: "127.0.0.1",
    port: Number(plain(provider.inputs.port)),
    user: String(plain(provider.inputs.username)),
    password: String(plain(provider.inputs.password)),
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
  const inputs = plain(backup.live.inputs) as { entrypoints: string[]; command: string[] };
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

export async function egressGuardScenario(context: Context): Promise<void> {
  const chain = (name: string) =>
    context.host.rules("DOCKER-USER").some((r) => r.includes(`-j ${name}`));
  const guardChain = () =>
    context.host
      .rules("DOCKER-USER")
      .map((r) => /-j (PLATFORM-FWD-\w+)/.exec(r)?.[1])
      .find(Boolean);
  const name = guardChain();
  if (!name) throw new Error("the egress guard's chain is not in DOCKER-USER");
  const rules = context.host.rules(name).filter((r) => r.startsWith("-A ")).length;
  const started = Date.now();
  execFileSync("bash", [path.join(__dirname, "engine.sh"), "restart"], { stdio: "inherit" });
  const engineRestartSeconds = Math.round((Date.now() - started) / 1000);
  // The guard runs again under its restart policy and puts its rules back within its period.
  let inForce = false;
  for (let waited = 0; waited < 120 && !inForce; waited += 2) {
    inForce =
      chain(name) && context.host.rules(name).filter((r) => r.startsWith("-A ")).length === rules;
    if (!inForce) await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  // And a packet from a tenant to the metadata address is still dropped by it.
  const api = (await containers(context.applier)).find(
    (c) => label(c.info, "platform.service") === "api" && c.info.State.Running,
  );
  let blocked = false;
  if (api && inForce) {
    const before = context.host.leaked(METADATA);
    const result = await exec(api.info.Id, ["node", "-e", PROBE, JSON.stringify([[METADATA, 80]])]);
    blocked =
      !(JSON.parse(result.output.trim()) as boolean[])[0] &&
      context.host.leaked(METADATA) === before;
  }
  context.report.egressGuard = {
    rules,
    afterEngineRestart: inForce && blocked,
    engineRestartSeconds,
  };
  console.log(`egress guard: ${JSON.stringify(context.report.egressGuard)}`);
}
