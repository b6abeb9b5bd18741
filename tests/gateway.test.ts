/**
 * A tenant's relays against the real HAProxy 2.6 (Debian bookworm's package, which `.ci/run`
 * installs; the image is `haproxy:2.6-alpine`) and busybox (the image's `sh` and `wget`): the
 * program's own gateway and front commands pass `haproxy -c`; a gateway rendered the same way
 * relays real connections and answers its health check; a front sends nothing to a release and
 * reports unhealthy until that release answers its health path, and its check job's script
 * tells the two apart; the tunnel's routes check waits until the connector's `/config` routes to
 * every new front.
 */
import assert from "node:assert/strict";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import {
  GATEWAY_HEALTH_PATH,
  gatewayConfig,
  gatewayScript,
  relayCheckScript,
  servingRelays,
  sharedAlias,
} from "../lib/gateway";
import { routesAppliedScript } from "../lib/edge";
import { byName, CONTAINER, labelMap, ofType, runCommitted } from "./harness";

const HAPROXY = "/usr/sbin/haproxy";
const directory = fs.mkdtempSync(path.join(os.tmpdir(), "gateway-"));
const running: ChildProcess[] = [];
const servers: net.Server[] = [];

after(() => {
  for (const child of running) child.kill("SIGKILL");
  for (const server of servers) server.close();
  fs.rmSync(directory, { recursive: true, force: true });
});

function listen(server: net.Server): Promise<number> {
  servers.push(server);
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)),
  );
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  const port = await listen(probe);
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

test("the program's gateway and front commands write configs that HAProxy 2.6 accepts", async () => {
  assert.ok(
    fs.existsSync(HAPROXY),
    `${HAPROXY} is missing: install Debian's haproxy (.ci/run does)`,
  );
  const { run } = await runCommitted("production");
  const relays = ofType(run, CONTAINER).filter((r) =>
    ["gateway", "front"].includes(labelMap(r)["platform.service"]),
  );
  assert.equal(relays.length, 4);
  for (const relay of relays) {
    const [script] = relay.inputs.command as string[];
    const file = path.join(directory, `${relay.name}.cfg`);
    // The command as registered, writing where this test can read, checked instead of run.
    const shim = path.join(directory, "bin");
    fs.mkdirSync(shim, { recursive: true });
    fs.writeFileSync(path.join(shim, "haproxy"), `#!/bin/sh\nexec ${HAPROXY} -c -f "$4"\n`, {
      mode: 0o755,
    });
    const result = spawnSync("sh", ["-c", script.split("/tmp/haproxy.cfg").join(file)], {
      encoding: "utf8",
      env: { PATH: `${shim}:${process.env.PATH ?? ""}` },
    });
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    assert.match(`${result.stdout}${result.stderr}`, /Configuration file is valid/);
    const config = fs.readFileSync(file, "utf8");
    if (labelMap(relay)["platform.service"] === "gateway") {
      // Every shared service is relayed to its data-network alias, never to the name the
      // gateway itself answers to on the tenant's network; nothing of the tenant's apps.
      for (const service of ["postgres", "redis", "clickhouse", "temporal"])
        assert.match(config, new RegExp(`server ${service}-\\d+ ${sharedAlias(service)}:\\d+`));
      assert.doesNotMatch(config, /server (api|dashboard) /);
    } else {
      // A front relays each serving role to one release's alias, checked on its health path.
      assert.match(config, /server api api-[0-9a-f]{10}:3001 check /);
      assert.match(config, /server dashboard dashboard-[0-9a-f]{10}:3000 check /);
      assert.match(config, /uri \/api ver/);
      assert.match(config, /uri \/dashboard\/api ver/);
      assert.match(
        config,
        /monitor fail if \{ nbsrv\(api\) lt 1 \} \|\| \{ nbsrv\(dashboard\) lt 1 \}/,
      );
    }
  }
});

/** Busybox's `wget`, `timeout` and `grep` first on the PATH, as in the HAProxy image. */
function busyboxPath(): string {
  const bin = path.join(directory, "busybox-bin");
  fs.mkdirSync(bin, { recursive: true });
  for (const applet of ["wget", "timeout", "grep"])
    if (!fs.existsSync(path.join(bin, applet)))
      fs.symlinkSync("/usr/bin/busybox", path.join(bin, applet));
  return `${bin}:${process.env.PATH ?? ""}`;
}

/** Runs a check script with busybox's sh and applets; its exit code and output. */
function runCheck(script: string): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn("/usr/bin/busybox", ["sh", "-c", script], {
      env: { PATH: busyboxPath() },
    });
    let output = "";
    child.stdout.on("data", (d) => (output += String(d)));
    child.stderr.on("data", (d) => (output += String(d)));
    child.on("close", (status) => resolve({ status, output }));
  });
}

test("once it has checked a release, a front routes nothing to it, and answers unhealthy, until the release answers its health path", async () => {
  assert.ok(
    fs.existsSync("/usr/bin/busybox"),
    "busybox is missing: install Debian's busybox (.ci/run does)",
  );
  // A release that is up but not yet healthy: its health path answers 503 until it is told.
  let healthy = false;
  const requests: string[] = [];
  const release = await listen(
    http.createServer((request, response) => {
      requests.push(request.url ?? "");
      if (request.url === "/api") {
        response.statusCode = healthy ? 200 : 503;
        response.end();
        return;
      }
      response.end("new release");
    }),
  );
  const [apiPort, healthPort] = [await freePort(), await freePort()];
  const relays = servingRelays([
    { role: "api", port: apiPort, host: "127.0.0.1", healthPath: "/api" },
  ]);
  // The release's port differs from the front's here: both run on one host.
  relays[0].upstream.port = release;
  const file = path.join(directory, "front.cfg");
  running.push(
    spawn("sh", ["-c", gatewayScript(gatewayConfig(relays, healthPort), file)], {
      stdio: "ignore",
    }),
  );
  const get = (port: number, urlPath: string) =>
    new Promise<{ status: number; body: string }>((resolve) => {
      const request = http.get(
        { host: "127.0.0.1", port, path: urlPath, timeout: 1000 },
        (response) => {
          let body = "";
          response.on("data", (chunk) => (body += String(chunk)));
          response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
        },
      );
      request.on("error", () => resolve({ status: 0, body: "" }));
    });
  const until = async (what: () => Promise<boolean>) => {
    for (let attempt = 0; attempt < 100; attempt += 1) {
      if (await what()) return true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return false;
  };
  // Up, but unhealthy: the front answers its own health URI with 503 and relays nothing.
  assert.ok(await until(async () => (await get(healthPort, GATEWAY_HEALTH_PATH)).status === 503));
  await new Promise((resolve) => setTimeout(resolve, 2500));
  assert.equal((await get(healthPort, GATEWAY_HEALTH_PATH)).status, 503);
  const served = await get(apiPort, "/journeys");
  assert.notEqual(
    served.body,
    "new release",
    "the front relayed a request to an unhealthy release",
  );
  assert.ok(
    requests.every((url) => url === "/api"),
    `only health checks reached it: ${requests.join(", ")}`,
  );
  // The check job's script, as the job runs it, fails against it.
  const probes = [{ port: apiPort, path: "/api" }];
  const checkAgainst = (host: string) =>
    relayCheckScript(host, probes, 2, 1).split(`:8404`).join(`:${healthPort}`);
  const failing = await runCheck(checkAgainst("127.0.0.1"));
  assert.equal(failing.status, 1, failing.output);
  assert.match(failing.output, /did not serve/);

  // Healthy: the front reports healthy within a few checks, relays, and the check passes.
  healthy = true;
  assert.ok(await until(async () => (await get(healthPort, GATEWAY_HEALTH_PATH)).status === 200));
  assert.deepEqual(await get(apiPort, "/journeys"), { status: 200, body: "new release" });
  const passing = await runCheck(checkAgainst("127.0.0.1"));
  assert.equal(passing.status, 0, passing.output);
});

test("a gateway relays TCP both ways and answers its health check", async () => {
  const echo = await listen(
    net.createServer((socket) =>
      socket.on("data", (data) => socket.write(`echo:${data.toString()}`)),
    ),
  );
  const api = await listen(http.createServer((_, response) => response.end("api says hello")));
  const [postgresPort, apiPort, healthPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const relays = [
    { name: "postgres", port: postgresPort, upstream: { host: "127.0.0.1", port: echo } },
    { name: "api", port: apiPort, upstream: { host: "127.0.0.1", port: api } },
  ];
  const file = path.join(directory, "runtime.cfg");
  const gateway = spawn("sh", ["-c", gatewayScript(gatewayConfig(relays, healthPort), file)], {
    stdio: "ignore",
  });
  running.push(gateway);

  const health = async () =>
    new Promise<number>((resolve) => {
      const request = http.get(
        { host: "127.0.0.1", port: healthPort, path: GATEWAY_HEALTH_PATH, timeout: 500 },
        (response) => resolve(response.statusCode ?? 0),
      );
      request.on("error", () => resolve(0));
    });
  let status = 0;
  for (let attempt = 0; attempt < 100 && status !== 200; attempt += 1) {
    status = await health();
    if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.equal(status, 200);

  const reply = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(postgresPort, "127.0.0.1", () => socket.write("ping"));
    socket.once("data", (data) => {
      resolve(String(data));
      socket.end();
    });
    socket.once("error", reject);
  });
  assert.equal(reply, "echo:ping");
  const body = await new Promise<string>((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port: apiPort, path: "/" }, (response) => {
        let text = "";
        response.on("data", (chunk) => (text += String(chunk)));
        response.on("end", () => resolve(text));
      })
      .on("error", reject);
  });
  assert.equal(body, "api says hello");
});

test("a gateway config refuses what HAProxy would misread", () => {
  const relay = { name: "postgres", port: 5432, upstream: { host: "shared-postgres", port: 5432 } };
  assert.throws(() => gatewayConfig([relay, relay]), /repeated/);
  assert.throws(() => gatewayConfig([relay, { ...relay, name: "other" }]), /taken twice/);
  assert.throws(
    () => gatewayConfig([{ ...relay, upstream: { host: "a b", port: 1 } }]),
    /not a host name/,
  );
});

test("the routes check waits until the connector's own config routes to every new service", async () => {
  // What cloudflared 2025.10.0 serves at /config: Go's JSON of its current ingress rules.
  const document = (services: string[]) =>
    JSON.stringify({
      version: services.length,
      config: {
        ingress: [
          ...services.map((service) => ({ hostname: "acme.example.com", path: null, service })),
          { hostname: "", path: null, service: "http_status:404" },
        ],
        "warp-routing": {},
        originRequest: {},
      },
    });
  let current = ["http://acme-front-0000000000:3001", "http://acme-front-0000000000:3000"];
  const port = await listen(
    http.createServer((request, response) => {
      response.end(request.url === "/config" ? document(current) : "");
    }),
  );
  const wanted = ["http://acme-front-1111111111:3001", "http://acme-front-1111111111:3000"];
  const script = routesAppliedScript(`http://127.0.0.1:${port}/config`, wanted, 3, 1);
  const stale = await runCheck(script);
  assert.equal(stale.status, 1, stale.output);
  assert.match(stale.output, /did not route to every new service/);
  // Half the new document is not enough; the whole of it is.
  current = [wanted[0], current[1]];
  assert.equal((await runCheck(script)).status, 1);
  current = wanted;
  const applied = await runCheck(script);
  assert.equal(applied.status, 0, applied.output);

  // The program's own check asks for every service its ingress document names.
  const { run } = await runCommitted("staging");
  const [rendered] = byName(run, "tunnel-routes-check").inputs.command as string[];
  const ingress = (
    byName(run, "tunnel-config").inputs.config as { ingresses: { service: string }[] }
  ).ingresses;
  const services = ingress.map((rule) => rule.service).filter((s) => s.startsWith("http://"));
  assert.ok(services.length >= 4);
  for (const service of services) assert.ok(rendered.includes(`"service":"${service}"`), service);
});

test("a gateway's Postgres relay lets the tenant's own role in, and no superuser, other role, SSL request or doubled user", async () => {
  const { startServer, createRoleSql, createDatabaseSql } = await import("./postgresServer");
  const pg = (await import("pg")).default;
  const superuserPassword = "superuser-password-0123456789";
  const server = await startServer(superuserPassword);
  const [gatewayPort, healthPort] = [await freePort(), await freePort()];
  try {
    const admin = await server.admin();
    await admin.query(
      createRoleSql({ name: "dittofeed_acme", password: "acme-password-0123456789", login: true }),
    );
    await admin.query(createDatabaseSql("dittofeed_acme", "dittofeed_acme"));
    await admin.end();
    const relays = [
      {
        name: "postgres-5432",
        port: gatewayPort,
        upstream: { host: "127.0.0.1", port: server.port },
        postgresRole: "dittofeed_acme",
      },
    ];
    const file = path.join(directory, "postgres-relay.cfg");
    const gateway = spawn("sh", ["-c", gatewayScript(gatewayConfig(relays, healthPort), file)], {
      stdio: "ignore",
    });
    running.push(gateway);
    for (let attempt = 0; attempt < 100; attempt += 1) {
      const up = await new Promise<boolean>((resolve) => {
        const socket = net.connect(
          gatewayPort,
          "127.0.0.1",
          () => (socket.destroy(), resolve(true)),
        );
        socket.on("error", () => resolve(false));
      });
      if (up) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const login = async (user: string, password: string, extra: object = {}) => {
      const client = new pg.Client({
        host: "127.0.0.1",
        port: gatewayPort,
        user,
        password,
        database: "dittofeed_acme",
        connectionTimeoutMillis: 3000,
        ...extra,
      });
      try {
        await client.connect();
        const { rows } = await client.query<{ user: string }>("SELECT current_user AS user");
        return rows[0].user;
      } catch (error) {
        return `refused: ${(error as Error).message}`;
      } finally {
        await client.end().catch(() => {});
      }
    };
    assert.equal(await login("dittofeed_acme", "acme-password-0123456789"), "dittofeed_acme");
    // The superuser, with its right password, and any other role: cut before Postgres sees them.
    assert.match(await login("postgres", superuserPassword), /^refused/);
    assert.match(await login("temporal", "whatever-password"), /^refused/);
    // An SSL request is refused (the platform's Postgres has no TLS, and what follows it could
    // not be read): libpq-based clients through a gateway say sslmode=disable, as node-postgres,
    // Dittofeed's client, does unless told otherwise.
    assert.match(
      await login("dittofeed_acme", "acme-password-0123456789", { ssl: true }),
      /^refused/,
    );
    const psql = (sslmode: string) =>
      spawnSync(
        "psql",
        [
          "-X",
          "-tAc",
          "SELECT current_user",
          `host=127.0.0.1 port=${gatewayPort} user=dittofeed_acme dbname=dittofeed_acme sslmode=${sslmode} connect_timeout=3`,
        ],
        { encoding: "utf8", env: { ...process.env, PGPASSWORD: "acme-password-0123456789" } },
      );
    assert.equal(psql("disable").stdout.trim(), "dittofeed_acme");
    assert.match(psql("prefer").stderr, /closed the connection/);
    // A startup message naming the tenant's role, then the superuser: the later one would win.
    const startup = (params: string[]) => {
      const body = Buffer.concat([
        Buffer.from([0, 3, 0, 0]),
        Buffer.from(`${params.join("\0")}\0\0`),
      ]);
      const length = Buffer.alloc(4);
      length.writeInt32BE(body.length + 4);
      return Buffer.concat([length, body]);
    };
    const answer = (message: Buffer) =>
      new Promise<string>((resolve) => {
        const socket = net.connect(gatewayPort, "127.0.0.1", () => socket.write(message));
        socket.once(
          "data",
          (data) => (socket.destroy(), resolve(`answered ${String.fromCharCode(data[0])}`)),
        );
        socket.once("close", () => resolve("closed"));
        socket.once("error", () => resolve("closed"));
      });
    assert.equal(
      await answer(
        startup(["user", "dittofeed_acme", "database", "dittofeed_acme", "user", "postgres"]),
      ),
      "closed",
    );
    // The same message without the second user reaches Postgres, which asks for a password.
    assert.equal(
      await answer(startup(["user", "dittofeed_acme", "database", "dittofeed_acme"])),
      "answered R",
    );
  } finally {
    await server.stop();
  }
});
