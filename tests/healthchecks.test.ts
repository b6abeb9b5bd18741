import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import * as http from "node:http";
import * as net from "node:net";
import { test } from "node:test";
import { GO_DURATION } from "./harness";
import fc from "fast-check";
import { goDuration, httpGetCommand, tcpConnectCommand } from "../components/runtime/healthchecks";
import { TEMPORAL_ENDPOINT } from "../components/data/temporal";
import { dittofeedHealthCheck } from "../components/app/contract";

/** Runs a Docker `["CMD", binary, ...args]` test here, as Docker would in the container. */
function runCheck(tests: string[]): Promise<number> {
  assert.equal(tests[0], "CMD");
  return new Promise((resolve) => {
    execFile(tests[1], tests.slice(2), { timeout: 15000 }, (error) => {
      resolve(error ? ((error as { code?: number }).code ?? 1) : 0);
    });
  });
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)),
  );
}

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Rewrites a check's port to the test server's, keeping everything else as shipped. */
function onPort(tests: string[], from: number, to: number): string[] {
  return tests.map((part) => part.replace(`port:${from}`, `port:${to}`));
}

for (const [role, port, path] of [
  ["api", 3001, "/api"],
  ["dashboard", 3000, "/dashboard/api"],
] as const) {
  test(`${role} health check: healthy on 200, unhealthy on 500, on no answer and on no listener`, async () => {
    const shipped = dittofeedHealthCheck(role, TEMPORAL_ENDPOINT).tests;
    assert.deepEqual(shipped, httpGetCommand(port, path), `${role} probes ${path} on ${port}`);
    assert.ok(!shipped.join(" ").includes("curl"), "the images have no curl");

    let status = 200;
    const requested: string[] = [];
    let hang = false;
    const server = http.createServer((req, res) => {
      requested.push(req.url ?? "");
      if (hang) return; // accept the request, never answer
      res.writeHead(status).end("{}");
    });
    const testPort = await listen(server);
    const probe = onPort(shipped, port, testPort);
    try {
      assert.equal(await runCheck(probe), 0, "200 is healthy");
      status = 500;
      assert.notEqual(await runCheck(probe), 0, "500 is unhealthy");
      hang = true;
      const started = Date.now();
      assert.notEqual(await runCheck(probe), 0, "no answer is unhealthy");
      assert.ok(Date.now() - started < 5000, "gives up before Docker's 5 s timeout");
      assert.deepEqual(requested.slice(0, 2), [path, path]);
    } finally {
      server.closeAllConnections();
      await close(server);
    }
    assert.notEqual(await runCheck(probe), 0, "nothing listening is unhealthy");
  });
}

test("worker health check: healthy while Temporal's port accepts connections, unhealthy after", async () => {
  const shipped = dittofeedHealthCheck("worker", TEMPORAL_ENDPOINT).tests;
  assert.deepEqual(shipped, tcpConnectCommand("temporal", 7233));
  const server = net.createServer((socket) => socket.end());
  const testPort = await listen(server);
  const probe = shipped.map((part) =>
    part.replace('host:"temporal"', 'host:"127.0.0.1"').replace("port:7233", `port:${testPort}`),
  );
  assert.notDeepEqual(probe, shipped, "the probe was pointed at the test server");
  assert.equal(await runCheck(probe), 0);
  await close(server);
  assert.notEqual(await runCheck(probe), 0);
});

test("durations are written as Go's time.Duration.String() prints them", () => {
  // Go: (90 * time.Second).String() == "1m30s"; time.Hour.String() == "1h0m0s".
  const cases: [number, string][] = [
    [0, "0s"],
    [5, "5s"],
    [60, "1m0s"],
    [90, "1m30s"],
    [3600, "1h0m0s"],
    [3661, "1h1m1s"],
    [90000, "25h0m0s"],
  ];
  for (const [seconds, printed] of cases) assert.equal(goDuration(seconds), printed);
  fc.assert(
    fc.property(fc.nat(10_000_000), (seconds) => {
      const printed = goDuration(seconds);
      assert.match(printed, GO_DURATION);
      const [, h = "0", m = "0", s] = /^(?:(\d+)h)?(?:(\d+)m)?(\d+)s$/.exec(printed)!;
      assert.equal(Number(h) * 3600 + Number(m) * 60 + Number(s), seconds);
    }),
  );
  assert.throws(() => goDuration(1.5), /whole, non-negative/);
});
