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
import { spawn, spawnSync } from "node:child_process";
import { createPublicKey, verify } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as net from "node:net";
import * as path from "node:path";
import { test } from "node:test";
import {
  GATEWAY_HEALTH_PATH,
  gatewayConfig,
  gatewayScript,
  relayCheckScript,
  servingRelays,
  sharedAlias,
} from "../components/runtime/haproxy";
import { routesAppliedScript } from "../components/edge/ingress";
import { TEMPORAL_KEYS } from "../components/data/temporalServer";
import { byName, CONTAINER, envOf, labelMap, ofType, runCommitted } from "./harness";
import { busyboxRunner, freePort, scratch } from "./processes";

const HAPROXY = "/usr/sbin/haproxy";
const { directory, running, listen } = scratch("gateway-");

/** Resolves once something accepts connections on the loopback `port` (5 s at most). */
async function listening(port: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt += 1) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => (socket.destroy(), resolve(true)));
      socket.on("error", () => resolve(false));
    });
    if (up) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
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
      env: { ...envOf(relay).env, PATH: `${shim}:${process.env.PATH ?? ""}` },
    });
    assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
    assert.match(`${result.stdout}${result.stderr}`, /Configuration file is valid/);
    const config = fs.readFileSync(file, "utf8");
    if (labelMap(relay)["platform.service"] === "gateway") {
      // Every shared service is relayed to its data-network alias, never to the name the
      // gateway itself answers to on the tenant's network; nothing of the tenant's apps.
      for (const service of ["postgres", "redis", "clickhouse", "temporal"])
        assert.match(config, new RegExp(`server ${service}-\\d+ ${sharedAlias(service)}:\\d+`));
      // Temporal's relay speaks gRPC and sends the tenant's token, from the environment only.
      assert.match(
        config,
        /listen temporal-7233\n {4}bind :7233 proto h2\n {4}mode http\n[\s\S]*set-header authorization "Bearer \$\{TEMPORAL_AUTHORIZATION\}"[\s\S]*server temporal-7233 shared-temporal:7233 proto h2/,
      );
      assert.doesNotMatch(config, /eyJ/, "no token in the config");
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

/** Runs a check script with busybox's sh and applets, as in the HAProxy image. */
const runCheck = busyboxRunner(directory);

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
    relayCheckScript(host, probes, [], 2, 1).split(`:8404`).join(`:${healthPort}`);
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
    await listening(gatewayPort);
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

test("a gateway's Temporal relay carries gRPC calls, streams and errors, with the tenant's token in place of any the client sent", async () => {
  const grpc = await import("@grpc/grpc-js");
  const bytes = (b: Buffer) => b;
  const method = (name: string, responseStream = false) => ({
    path: `/temporal.api.workflowservice.v1.WorkflowService/${name}`,
    requestStream: false,
    responseStream,
    requestSerialize: bytes,
    requestDeserialize: bytes,
    responseSerialize: bytes,
    responseDeserialize: bytes,
  });
  const service = {
    describe: method("DescribeNamespace"),
    poll: method("PollWorkflowTaskQueue", true),
    terminate: method("TerminateWorkflowExecution"),
  };
  // A stand-in frontend that records what reaches it.
  const seen: { authorization: string[]; extras: string[] }[] = [];
  const record = (metadata: import("@grpc/grpc-js").Metadata) =>
    seen.push({
      authorization: metadata.get("authorization").map(String),
      extras: metadata.get("authorization-extras").map(String),
    });
  const server = new grpc.Server();
  server.addService(service, {
    describe: (
      call: import("@grpc/grpc-js").ServerUnaryCall<Buffer, Buffer>,
      done: import("@grpc/grpc-js").sendUnaryData<Buffer>,
    ) => {
      record(call.metadata);
      done(null, Buffer.from(`described ${call.request.toString()}`));
    },
    poll: (call: import("@grpc/grpc-js").ServerWritableStream<Buffer, Buffer>) => {
      record(call.metadata);
      for (const n of [1, 2, 3]) call.write(Buffer.from(`task ${n}`));
      call.end();
    },
    terminate: (
      call: import("@grpc/grpc-js").ServerUnaryCall<Buffer, Buffer>,
      done: import("@grpc/grpc-js").sendUnaryData<Buffer>,
    ) => {
      record(call.metadata);
      done({ code: grpc.status.PERMISSION_DENIED, details: "Request unauthorized." });
    },
  });
  const upstream = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (error, port) =>
      error ? reject(error) : resolve(port),
    ),
  );
  const [gatewayPort, healthPort] = [await freePort(), await freePort()];
  const relays = [
    {
      name: "temporal-7233",
      port: gatewayPort,
      upstream: { host: "127.0.0.1", port: upstream },
      bearerFrom: "TEMPORAL_AUTHORIZATION",
    },
  ];
  const file = path.join(directory, "temporal-relay.cfg");
  const script = gatewayScript(gatewayConfig(relays, healthPort), file);
  // Without its token the gateway does not start.
  const bare = spawnSync("sh", ["-c", script], {
    encoding: "utf8",
    env: { PATH: "/usr/sbin:/usr/bin:/bin" },
  });
  assert.equal(bare.status, 1);
  assert.match(bare.stdout, /TEMPORAL_AUTHORIZATION is empty/);
  const token = "header.payload.signature";
  const gateway = spawn("sh", ["-c", script], {
    stdio: "ignore",
    env: { PATH: "/usr/sbin:/usr/bin:/bin", TEMPORAL_AUTHORIZATION: token },
  });
  running.push(gateway);
  try {
    await listening(gatewayPort);
    const check = spawnSync(HAPROXY, ["-c", "-f", file], {
      encoding: "utf8",
      env: { TEMPORAL_AUTHORIZATION: "x" },
    });
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
    assert.doesNotMatch(`${check.stdout}${check.stderr}`, /WARNING/);
    const Client = grpc.makeGenericClientConstructor(service, "WorkflowService");
    const client = new Client(
      `127.0.0.1:${gatewayPort}`,
      grpc.credentials.createInsecure(),
    ) as unknown as Record<string, (...args: unknown[]) => unknown> & { close(): void };
    // A tenant that forges a token, or another namespace's, and Temporal's extras.
    const forged = new grpc.Metadata();
    forged.set("authorization", "Bearer forged-system-admin");
    forged.set("authorization-extras", "forged");
    const described = await new Promise<string>((resolve, reject) =>
      client.describe(Buffer.from("acme"), forged, (error: Error | null, reply: Buffer) =>
        error ? reject(error) : resolve(reply.toString()),
      ),
    );
    assert.equal(described, "described acme");
    const tasks = await new Promise<string[]>((resolve, reject) => {
      const got: string[] = [];
      const stream = client.poll(Buffer.from("q"), forged) as import("node:stream").Readable;
      stream.on("data", (d: Buffer) => got.push(d.toString()));
      stream.on("end", () => resolve(got));
      stream.on("error", reject);
    });
    assert.deepEqual(tasks, ["task 1", "task 2", "task 3"]);
    const denied = await new Promise<{ code?: number; details?: string }>((resolve) =>
      client.terminate(
        Buffer.from("globex"),
        forged,
        (error: { code?: number; details?: string } | null) => resolve(error ?? {}),
      ),
    );
    assert.deepEqual(
      [denied.code, denied.details],
      [grpc.status.PERMISSION_DENIED, "Request unauthorized."],
    );
    client.close();
    // What reached the frontend: the gateway's token alone, every time.
    assert.equal(seen.length, 3);
    for (const call of seen) {
      assert.deepEqual(call.authorization, [`Bearer ${token}`]);
      assert.deepEqual(call.extras, []);
    }
  } finally {
    server.forceShutdown();
  }
});

test("the program's Temporal tokens: each gateway's opens its own namespace only, the namespace job's administers it, and they verify against the JWKS the program serves", async () => {
  const { run } = await runCommitted("production");
  // The JWKS container's own command, on real HAProxy, on loopback ports.
  const keys = byName(run, "temporal-keys");
  const [keysPort, healthPort] = [await freePort(), await freePort()];
  const script = (keys.inputs.command as string[])[0]
    .replace(`bind :${TEMPORAL_KEYS.port}`, `bind 127.0.0.1:${keysPort}`)
    .replace(/bind :8404/, `bind 127.0.0.1:${healthPort}`)
    .split("/tmp/haproxy.cfg")
    .join(path.join(directory, "keys.cfg"));
  const server = spawn("sh", ["-c", script], { stdio: "ignore" });
  running.push(server);
  let body = "";
  for (let attempt = 0; attempt < 100 && body === ""; attempt += 1) {
    body = await new Promise<string>((resolve) => {
      http
        .get({ host: "127.0.0.1", port: keysPort, path: TEMPORAL_KEYS.path }, (response) => {
          let text = "";
          response.on("data", (chunk) => (text += String(chunk)));
          response.on("end", () => resolve(response.statusCode === 200 ? text : ""));
        })
        .on("error", () => resolve(""));
    });
    if (body === "") await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const { keys: published } = JSON.parse(body) as {
    keys: (import("node:crypto").JsonWebKey & { kid: string })[];
  };
  assert.equal(published.length, 1);
  assert.deepEqual([published[0].alg, published[0].kty], ["RS256", "RSA"]);
  const publicKey = createPublicKey({ key: published[0], format: "jwk" });
  // What Temporal's default claim mapper reads (default_jwt_claim_mapper.go): a `kid` it knows,
  // an RS256 signature, and `permissions` of `<namespace>:<role>`.
  const verified = (token: string) => {
    const [header, payload, signature] = token.split(".");
    const { kid, alg } = JSON.parse(Buffer.from(header, "base64url").toString()) as {
      kid: string;
      alg: string;
    };
    assert.deepEqual([kid, alg], [published[0].kid, "RS256"]);
    assert.ok(
      verify(
        "RSA-SHA256",
        Buffer.from(`${header}.${payload}`),
        publicKey,
        Buffer.from(signature, "base64url"),
      ),
      "signed with the key the JWKS publishes",
    );
    return JSON.parse(Buffer.from(payload, "base64url").toString()) as { permissions: string[] };
  };
  for (const id of ["acme", "globex"]) {
    const gateway = envOf(byName(run, `${id}-gateway-container`));
    assert.ok(gateway.secret, "the token is a secret");
    assert.deepEqual(verified(gateway.env.TEMPORAL_AUTHORIZATION).permissions, [`${id}:write`]);
    const job = envOf(byName(run, `${id}-namespace-job`)).env;
    assert.deepEqual(verified(job.TEMPORAL_CLI_AUTH.replace(/^Bearer /, "")).permissions, [
      `${id}:admin`,
    ]);
  }
  // The server: the default authorizer and claim mapper, the JWKS above, the internal frontend,
  // and no cross-namespace commands.
  const temporal = envOf(byName(run, "temporal")).env;
  assert.deepEqual(
    [
      temporal.TEMPORAL_AUTH_AUTHORIZER,
      temporal.TEMPORAL_AUTH_CLAIM_MAPPER,
      temporal.USE_INTERNAL_FRONTEND,
    ],
    ["default", "default", "true"],
  );
  assert.equal(
    temporal.TEMPORAL_JWT_KEY_SOURCE1,
    `http://${TEMPORAL_KEYS.alias}:${TEMPORAL_KEYS.port}${TEMPORAL_KEYS.path}`,
  );
  assert.match(temporal.SERVICES, /(^|:)internal-frontend(:|$)/);
  const start = (byName(run, "temporal").inputs.command as string[])[0];
  assert.match(start, /system\.enableCrossNamespaceCommands:\n {2}- value: false/);
  assert.match(start, /exec \/etc\/temporal\/entrypoint\.sh$/);
});

test("on Kubernetes, each tenant's Temporal proxy and the JWKS run configs HAProxy 2.6 accepts", async () => {
  const { run } = await runCommitted("production-k8s");
  const argsOf = (name: string) =>
    run.registrations
      .filter(
        (r) =>
          r.type === "kubernetes:apps/v1:Deployment" &&
          (r.inputs.metadata as { name?: string }).name === name,
      )
      .map(
        (r) =>
          (r.inputs.spec as { template: { spec: { containers: { args: string[] }[] } } }).template
            .spec.containers[0].args[0],
      );
  const scripts = [...argsOf("temporal-proxy"), ...argsOf("temporal-keys")];
  assert.equal(scripts.length, 3, "two tenants' proxies and the JWKS");
  for (const [i, script] of scripts.entries()) {
    const config = /<<'HAPROXY_CONFIG_END'\n([\s\S]*)\nHAPROXY_CONFIG_END/.exec(script)![1];
    // No cluster DNS here: the Service's name (resolved by the C library, with the pod's search
    // domains, at start) stands in as loopback.
    const file = path.join(directory, `k8s-${i}.cfg`);
    fs.writeFileSync(file, `${config.replace(/temporal\.[a-z0-9-]+\.svc/g, "127.0.0.1")}\n`);
    const check = spawnSync(HAPROXY, ["-c", "-f", file], {
      encoding: "utf8",
      env: { TEMPORAL_AUTHORIZATION: "x" },
    });
    assert.equal(check.status, 0, `${check.stdout}${check.stderr}`);
    assert.doesNotMatch(`${check.stdout}${check.stderr}`, /WARNING/);
  }
});
