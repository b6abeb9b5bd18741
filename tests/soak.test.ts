/**
 * A release gate's watch, against the real things it reads: a front rendered by the program and
 * run by HAProxy 2.6 (Debian's, as in tests/gateway.test.ts), and Prometheus (Debian bookworm's,
 * which `.ci/run` installs) scraping a stand-in for Temporal's poll counters and evaluating a
 * tenant's alert rule. The script runs in busybox's `sh`, as in HAProxy's alpine image.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import {
  gatewayConfig,
  gatewayScript,
  relayCheckScript,
  servingRelays,
} from "../components/runtime/haproxy";
import { soakScript, Soak } from "../components/tenant/soak";
import { busyboxRunner, freePort, scratch } from "./processes";

const { directory, running, listen } = scratch("soak-");
const run = busyboxRunner(directory);
const PROMETHEUS = "/usr/bin/prometheus";

const get = (port: number, urlPath: string, host = "127.0.0.1") =>
  new Promise<string>((resolve) => {
    http
      .get({ host, port, path: urlPath, timeout: 1000 }, (response) => {
        let body = "";
        response.on("data", (chunk) => (body += String(chunk)));
        response.on("end", () => resolve(`${response.statusCode} ${body}`));
      })
      .on("error", (error) => resolve(String(error)));
  });

async function until(what: () => Promise<boolean>, seconds = 20): Promise<void> {
  for (let i = 0; i < seconds * 10; i += 1) {
    if (await what()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`not within ${seconds} s`);
}

describe("a release gate's watch", () => {
  // The release behind the front, on 127.0.0.1; the running one it falls back to, on 127.0.0.2.
  let release: http.Server;
  const fallback = http.createServer((_, response) => response.end("running release"));
  after(() => fallback.close());
  let releasePort = 0;
  const ports = { api: 0, health: 0, prometheus: 0 };
  /** What the stand-in exporter says: poll counters of `acme`, and whether acme's alarm is on. */
  const exporter = { polls: 0, alarm: false };

  const soak = (changes: Partial<Soak> = {}): string =>
    soakScript({
      wave: 2,
      after: 1,
      tenants: [{ id: "acme", front: "127.0.0.1", namespace: "acme" }],
      roles: [{ role: "api", port: ports.api, path: "/api" }],
      seconds: 3,
      intervalSeconds: 1,
      prometheus: `127.0.0.1:${ports.prometheus}`,
      ...changes,
    })
      .split(":8404")
      .join(`:${ports.health}`);

  before(async () => {
    for (const binary of ["/usr/sbin/haproxy", PROMETHEUS, "/usr/bin/busybox"])
      assert.ok(fs.existsSync(binary), `${binary} is missing: .ci/run installs it`);
    releasePort = await freePort();
    const serve = (name: string) => http.createServer((_, response) => response.end(name));
    release = serve("new release");
    await new Promise<void>((resolve) => release.listen(releasePort, "127.0.0.1", resolve));
    await new Promise<void>((resolve) => fallback.listen(releasePort, "127.0.0.2", resolve));

    [ports.api, ports.health, ports.prometheus] = [
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const relays = servingRelays([
      {
        role: "api",
        port: ports.api,
        host: "127.0.0.1",
        healthPath: "/api",
        fallback: "127.0.0.2",
      },
    ]);
    relays[0].upstream.port = releasePort;
    running.push(
      spawn(
        "sh",
        [
          "-c",
          gatewayScript(gatewayConfig(relays, ports.health), path.join(directory, "front.cfg")),
        ],
        { stdio: "ignore" },
      ),
    );

    const temporal = await listen(
      http.createServer((_, response) => {
        exporter.polls += 1;
        response.end(
          [
            `poll_success{namespace="acme",taskqueue="default"} ${exporter.polls}`,
            `tenant_alarm{tenant="acme"} ${exporter.alarm ? 1 : 0}`,
            "",
          ].join("\n"),
        );
      }),
    );
    fs.writeFileSync(
      path.join(directory, "rules.yml"),
      [
        "groups:",
        "  - name: soak",
        "    rules:",
        "      - alert: TenantAlarm",
        "        expr: tenant_alarm == 1",
        "        for: 10m",
      ].join("\n"),
    );
    fs.writeFileSync(
      path.join(directory, "prometheus.yml"),
      [
        "global: { scrape_interval: 1s, evaluation_interval: 1s }",
        "rule_files: [rules.yml]",
        "scrape_configs:",
        `  - job_name: temporal`,
        `    static_configs: [{ targets: ["127.0.0.1:${temporal}"] }]`,
      ].join("\n"),
    );
    running.push(
      spawn(
        PROMETHEUS,
        [
          `--config.file=${path.join(directory, "prometheus.yml")}`,
          `--storage.tsdb.path=${path.join(directory, "tsdb")}`,
          `--web.listen-address=127.0.0.1:${ports.prometheus}`,
        ],
        { stdio: "ignore" },
      ),
    );
    // Prometheus has a rate of acme's polls once it holds two scrapes of them.
    await until(async () =>
      (
        await get(
          ports.prometheus,
          `/api/v1/query?query=${encodeURIComponent("rate(poll_success[2m]) > 0")}`,
        )
      ).includes('"namespace":"acme"'),
    );
    await until(async () => (await get(ports.api, "/api")).endsWith("new release"));
  });

  test("passes after its soak time while the front serves its release, no alert is pending and workers poll", async () => {
    const started = Date.now();
    const result = await run(soak());
    assert.equal(result.status, 0, result.output);
    assert.match(
      result.output,
      /acme of wave 1 served their new release for 3 s, with no alert of their own and workers polling/,
    );
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds >= 3 && seconds < 8, `bounded: ${seconds} s`);
  });

  test("fails at once on an alert of the tenant's that is only pending, naming wave and tenant", async () => {
    exporter.alarm = true;
    await until(async () =>
      (await get(ports.prometheus, "/api/v1/alerts")).includes('"state":"pending"'),
    );
    const result = await run(soak({ seconds: 60 }));
    assert.equal(result.status, 1, result.output);
    assert.match(
      result.output,
      /Release gate of wave 2: tenant acme of wave 1: alert TenantAlarm is pending;/,
    );
    exporter.alarm = false;
    await until(
      async () => !(await get(ports.prometheus, "/api/v1/alerts")).includes("TenantAlarm"),
    );
  });

  test("fails when no worker of a tenant polled its namespace, and when Prometheus does not answer", async () => {
    const ghost = await run(
      soak({ seconds: 60, tenants: [{ id: "acme", front: "127.0.0.1", namespace: "ghost" }] }),
    );
    assert.equal(ghost.status, 1, ghost.output);
    assert.match(
      ghost.output,
      /no worker of tenant acme of wave 1 polled Temporal namespace ghost in two minutes \(2 of its checks, 1 s apart, missed\)/,
    );
    const deaf = await run(soak({ seconds: 60, prometheus: `127.0.0.1:${await freePort()}` }));
    assert.equal(deaf.status, 1, deaf.output);
    assert.match(deaf.output, /Prometheus \(127\.0\.0\.1:\d+\) did not answer/);
  });

  test("a release that flaps fails the watch, though it never misses two rounds in a row", async () => {
    // A front stand-in: every other scrape of its exporter has the release's server down, and
    // everything else answers.
    let scrapes = 0;
    const front = http.createServer((request, response) => {
      if (request.url !== "/metrics") return void response.end("ok");
      scrapes += 1;
      response.end(`haproxy_backend_active_servers{proxy="api"} ${scrapes % 2}\n`);
    });
    const port = await listen(front);
    const script = soakScript({
      wave: 2,
      after: 1,
      tenants: [{ id: "acme", front: "127.0.0.1", namespace: "acme" }],
      roles: [{ role: "api", port, path: "/api" }],
      seconds: 60,
      intervalSeconds: 1,
    });
    const result = await run(script.split(":8404").join(`:${port}`));
    assert.equal(result.status, 1, result.output);
    assert.match(result.output, /tenant acme of wave 1 stopped serving its new release/);
    assert.ok(scrapes >= 3 && scrapes <= 5, `failed after ${scrapes} rounds`);
  });

  test("a front serving from its fallback passes its routing check, not its release check, and fails the watch", async () => {
    const released = (active: boolean) =>
      relayCheckScript(
        "127.0.0.1",
        [{ port: ports.api, path: "/api" }],
        active ? ["api"] : [],
        3,
        1,
      )
        .split(":8404")
        .join(`:${ports.health}`);
    assert.equal((await run(released(true))).status, 0);
    await new Promise<void>((resolve) => release.close(() => resolve()));
    await until(async () => (await get(ports.api, "/api")).endsWith("running release"));
    assert.equal((await run(released(false))).status, 0, "the tunnel may route to it");
    const check = await run(released(true));
    assert.equal(check.status, 1, check.output);
    assert.match(check.output, /did not serve .* through api's own upstream/);
    const watch = await run(soak({ seconds: 60 }));
    assert.equal(watch.status, 1, watch.output);
    assert.match(
      watch.output,
      /tenant acme of wave 1 stopped serving its new release through its front 127\.0\.0\.1 \(2 of its checks, 1 s apart, missed\)/,
    );
  });
});
