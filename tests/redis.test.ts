/**
 * Redis's per-tenant users against a real redis-server (Debian's package, which `.ci/run`
 * installs): the server's start script and a tenant's user job run in a real `sh`, exactly as
 * rendered for the containers, with only host, port and file paths pointed at this machine.
 */
import assert from "node:assert/strict";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { redisServerScript, redisUserOf, redisUserScript } from "../components/data/redisServer";

const REDIS_SERVER = "/usr/bin/redis-server";
const directory = fs.mkdtempSync(path.join(os.tmpdir(), "redis-acl-"));
const aclFile = path.join(directory, "users.acl");
let port = 0;
let server: ChildProcess | undefined;
let serverLog = "";
/** The container's limit the start script is given: `maxmemory` is 48 MB of it. */
const MEMORY_MB = 64;

/** A free TCP port on loopback. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port: free } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(free));
    });
  });
}

/**
 * `redis-server` on PATH for the start script: the real one, on this test's port and directory
 * (the image runs it in /data on 6379).
 */
function shims(): string {
  const bin = path.join(directory, "bin");
  fs.mkdirSync(bin, { recursive: true });
  const shim = path.join(bin, "redis-server");
  // The start script's trial load keeps its own private socket, port and directory.
  fs.writeFileSync(
    shim,
    [
      "#!/bin/sh",
      `case "$*" in *--unixsocket*) exec ${REDIS_SERVER} "$@" ;; esac`,
      `exec ${REDIS_SERVER} "$@" --port ${port} --bind 127.0.0.1 --dir ${directory}`,
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  return `${bin}:${process.env.PATH ?? ""}`;
}

function cli(args: string[], auth?: { user: string; password: string }): string {
  const credentials = auth
    ? ["--user", auth.user, "--pass", auth.password, "--no-auth-warning"]
    : [];
  const result = spawnSync("redis-cli", ["-p", String(port), ...credentials, ...args], {
    encoding: "utf8",
  });
  return `${result.stdout}${result.stderr}`.trim();
}

async function startServer(adminPassword: string): Promise<void> {
  server = spawn(
    "sh",
    ["-c", redisServerScript({ memoryMb: MEMORY_MB, aclFile, dataDir: directory })],
    {
      env: { PATH: shims(), REDIS_PASSWORD: adminPassword },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  serverLog = "";
  server.stdout?.on("data", (d: Buffer) => (serverLog += d.toString()));
  server.stderr?.on("data", (d: Buffer) => (serverLog += d.toString()));
  for (let attempt = 0; attempt < 100; attempt += 1) {
    if (cli(["--no-auth-warning", "-a", adminPassword, "ping"]) === "PONG") return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("redis-server did not start");
}

async function stopServer(): Promise<void> {
  const running = server;
  if (!running || running.exitCode !== null) return;
  await new Promise((resolve) => {
    running.once("exit", resolve);
    running.kill("SIGTERM");
  });
}

function addUser(tenantId: string, password: string, adminPassword: string) {
  return spawnSync("sh", ["-c", redisUserScript({ host: "127.0.0.1", port })], {
    encoding: "utf8",
    env: {
      PATH: process.env.PATH,
      REDISCLI_AUTH: adminPassword,
      REDIS_USER: redisUserOf(tenantId),
      TENANT_PASSWORD: password,
    },
  });
}

before(async () => {
  assert.ok(
    fs.existsSync(REDIS_SERVER),
    `${REDIS_SERVER} is missing: install Debian's redis-server (.ci/run does)`,
  );
  port = await freePort();
  await startServer("admin-password-one");
});

after(async () => {
  await stopServer();
  fs.rmSync(directory, { recursive: true, force: true });
});

const acme = { user: "acme", password: "acme+/=pass word" };
const globex = { user: "globex", password: "globex-password" };

test("a tenant's user reaches its own keys only, and nothing that spans tenants", () => {
  for (const t of [acme, globex]) {
    const job = addUser(t.user, t.password, "admin-password-one");
    assert.equal(job.status, 0, `${job.stdout}${job.stderr}`);
  }
  assert.equal(cli(["set", "acme:journey", "1"], acme), "OK");
  assert.equal(cli(["set", "globex:secret", "2"], globex), "OK");
  assert.equal(cli(["get", "acme:journey"], acme), "1");
  for (const command of [
    ["get", "globex:secret"],
    ["set", "unprefixed", "x"],
    ["flushall"],
    ["flushdb"],
    ["keys", "*"],
    ["scan", "0"],
    ["randomkey"],
    ["dbsize"],
    ["config", "get", "*"],
    ["acl", "list"],
    ["script", "flush"],
    ["function", "flush"],
    ["select", "1"],
    ["client", "list"],
    ["publish", "globex:events", "x"],
    // What shows other tenants' names: invalidations of every key, every channel.
    ["client", "tracking", "on", "bcast"],
    ["client", "tracking", "on", "bcast", "prefix", "globex:"],
    ["pubsub", "channels"],
    ["pubsub", "numsub", "globex:events"],
    ["pubsub", "numpat"],
    ["pubsub", "shardchannels"],
    ["pubsub", "shardnumsub", "globex:events"],
    ["memory", "stats"],
    // What grows Redis past maxmemory in one go.
    ["multi"],
    ["copy", "acme:journey", "acme:copy"],
    ["sort", "acme:list", "store", "acme:sorted"],
    ["sunionstore", "acme:u", "acme:a", "acme:b"],
    ["zrangestore", "acme:z2", "acme:z", "0", "-1"],
    ["bitop", "or", "acme:bits", "acme:journey"],
  ]) {
    assert.match(cli(command, acme), /NOPERM/, `acme may not ${command.join(" ")}`);
  }
  assert.equal(cli(["publish", "acme:events", "x"], acme), "0");
  // What a client of its own keys still does: RESP3, its own connection's name, its own keys' size.
  assert.equal(cli(["-3", "set", "acme:resp3", "1"], acme), "OK");
  assert.equal(cli(["client", "setname", "acme-worker"], acme), "OK");
  assert.match(cli(["memory", "usage", "acme:journey"], acme), /^\d+$/);
  assert.equal(cli(["rpush", "acme:list", "2", "1"], acme), "2");
  // One command cannot allocate past the bound on a string, whatever maxmemory says.
  assert.match(
    cli(["setrange", "acme:big", "536870000", "x"], acme),
    /string exceeds maximum allowed size/,
  );
  // The default user is the operator's, behind its password, never open.
  assert.match(cli(["get", "globex:secret"]), /NOAUTH/);
});

test("users survive a restart, and a rotated admin password takes effect at once", async () => {
  await stopServer();
  await startServer("admin-password-two");
  assert.equal(cli(["get", "acme:journey"], acme), "1");
  assert.equal(cli(["--no-auth-warning", "-a", "admin-password-two", "ping"]), "PONG");
  assert.match(
    cli(["--no-auth-warning", "-a", "admin-password-one", "ping"]),
    /WRONGPASS|invalid/i,
  );
  // Running a tenant's job again with a new password leaves only the new one.
  const job = addUser("acme", "acme-rotated-password", "admin-password-two");
  assert.equal(job.status, 0, job.stdout);
  assert.match(cli(["get", "acme:journey"], acme), /WRONGPASS|invalid/i);
  assert.equal(cli(["get", "acme:journey"], { ...acme, password: "acme-rotated-password" }), "1");
  const saved = fs.readFileSync(aclFile, "utf8");
  assert.ok(!saved.includes("acme-rotated-password"), "only hashes are saved");
  assert.equal(saved.match(/^user default /gm)?.length, 1);
});

test("the user job fails on a wrong admin password, without printing a secret", () => {
  const job = addUser("initech", "initech-password", "not-the-admin-password");
  assert.notEqual(job.status, 0);
  assert.match(job.stdout, /did not accept the user initech/);
  for (const secret of ["initech-password", "not-the-admin-password"])
    assert.ok(!`${job.stdout}${job.stderr}`.includes(secret));
});

test("data that outgrew the limit, replayed from the append-only file, is set aside once a start never answered; data that fits loads", async () => {
  await stopServer();
  // Written before the bound on strings: a raw server of the old settings takes the command.
  const rawPort = await freePort();
  const raw = spawn(
    REDIS_SERVER,
    [
      "--port",
      String(rawPort),
      "--bind",
      "127.0.0.1",
      "--dir",
      directory,
      "--appendonly",
      "yes",
      "--save",
      "",
    ],
    { stdio: "ignore" },
  );
  const rawCli = (...args: string[]) =>
    spawnSync("redis-cli", ["-p", String(rawPort), ...args], { encoding: "utf8" }).stdout.trim();
  for (let i = 0; i < 100 && rawCli("ping") !== "PONG"; i += 1) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal(rawCli("setrange", "acme:big", "536870000", "x"), "536870001");
  rawCli("shutdown");
  await new Promise((resolve) => raw.once("exit", resolve));

  // The container was killed while loading it: its start count says so.
  fs.writeFileSync(path.join(directory, ".start-attempts"), "1\n");
  await startServer("admin-password-two");
  assert.match(serverLog, /does not load within 327680 KiB/);
  const aside = fs.readdirSync(directory).filter((n) => n.startsWith("appendonlydir.unloadable-"));
  assert.equal(aside.length, 1, "the data is kept aside, not deleted");
  assert.equal(cli(["--no-auth-warning", "-a", "admin-password-two", "exists", "acme:big"]), "0");
  // The users are in the aclfile, not the data: the tenant still logs in.
  const rotated = { ...acme, password: "acme-rotated-password" };
  assert.equal(cli(["set", "acme:journey", "2"], rotated), "OK");

  // A start that never answered, over data that fits: the trial loads it, and so does Redis.
  await stopServer();
  fs.writeFileSync(path.join(directory, ".start-attempts"), "1\n");
  await startServer("admin-password-two");
  assert.match(serverLog, /loading the data aside first/);
  assert.doesNotMatch(serverLog, /does not load/);
  assert.equal(cli(["get", "acme:journey"], rotated), "2");
});
