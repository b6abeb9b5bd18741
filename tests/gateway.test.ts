/**
 * A tenant's gateway against the real HAProxy 2.6 (Debian bookworm's package, which `.ci/run`
 * installs; the image is `haproxy:2.6-alpine`): the program's own gateway command passes
 * `haproxy -c`, and a gateway rendered the same way relays real connections and answers its
 * health check.
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
  gatewayRelays,
  gatewayScript,
  sharedAlias,
} from "../lib/gateway";
import { CONTAINER, labelMap, ofType, runCommitted } from "./harness";

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

test("the program's gateway command writes a config that HAProxy 2.6 accepts", async () => {
  assert.ok(
    fs.existsSync(HAPROXY),
    `${HAPROXY} is missing: install Debian's haproxy (.ci/run does)`,
  );
  const { run } = await runCommitted("production");
  const gateways = ofType(run, CONTAINER).filter(
    (r) => labelMap(r)["platform.service"] === "gateway",
  );
  assert.equal(gateways.length, 2);
  for (const gateway of gateways) {
    const [script] = gateway.inputs.command as string[];
    const file = path.join(directory, `${gateway.name}.cfg`);
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
    // Every shared service is relayed to its data-network alias, never to the name the gateway
    // itself answers to on the tenant's network.
    const config = fs.readFileSync(file, "utf8");
    for (const service of ["postgres", "redis", "clickhouse", "temporal"])
      assert.match(config, new RegExp(`server ${service}-\\d+ ${sharedAlias(service)}:\\d+`));
    assert.match(config, /server api api:3001/);
  }
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
  const relays = gatewayRelays([], []).concat([
    { name: "postgres", port: postgresPort, upstream: { host: "127.0.0.1", port: echo } },
    { name: "api", port: apiPort, upstream: { host: "127.0.0.1", port: api } },
  ]);
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
