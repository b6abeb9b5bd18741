/**
 * The e2e run's own logic, offline: how a container's inputs become the Engine API's create body,
 * the engine's delete order, and that every image the staging stack pulls has a recipe. The run
 * itself needs a Docker engine and root: `npm run test:e2e` (docs/testing.md).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import fc from "fast-check";
import { unwrapSecrets } from "../tools/engine/mocks";
import { containerCreateBody, deleteOrder, durationNs } from "../tools/e2e/apply";
import { createDatabaseSql, createRoleSql, databaseGrantSql } from "../tools/e2e/postgresql";
import { engineVersion, SOCKET } from "../tools/e2e/docker";
import { NEXT_VERSION, shortfalls, stackConfig, STACK } from "../tools/e2e/scenarios";
import { COMMITTED_STACKS, ofType, PROJECT_ROOT, runCommitted, runProgram } from "./harness";
import { startServer } from "./postgresServer";

const IMAGES = path.join(PROJECT_ROOT, "tools/e2e/images");
const MIB = 1024 * 1024;

describe("the e2e applier", () => {
  test("every container field a committed Docker stack sets is mapped, and another one is refused by name", async () => {
    for (const stack of COMMITTED_STACKS) {
      const { run } = await runCommitted(stack);
      for (const r of ofType(run, "docker:index/container:Container")) {
        assert.doesNotThrow(
          () => containerCreateBody(unwrapSecrets(r.inputs) as never),
          `${stack} ${r.name}`,
        );
      }
    }
    assert.throws(
      () => containerCreateBody({ name: "x", image: "i", privileged: true }),
      /container x: fields the e2e applier does not map: privileged/,
    );
  });

  test("a container's inputs become the create body as terraform-provider-docker v4.5.0 builds it", async () => {
    const { run } = await runCommitted(STACK);
    const postgres = ofType(run, "docker:index/container:Container").find(
      (r) => r.name === "postgres",
    )!;
    const inputs = unwrapSecrets(postgres.inputs) as {
      memory: number;
      memorySwap: number;
      healthcheck: { retries: number };
    };
    const body = containerCreateBody(inputs as never) as {
      Healthcheck: { Interval: number; StartPeriod: number; Retries: number };
      HostConfig: {
        Memory: number;
        MemorySwap: number;
        Binds: string[];
        PortBindings: Record<string, { HostIp: string; HostPort: string }[]>;
        RestartPolicy: { Name: string };
      };
    };
    assert.equal(body.HostConfig.Memory, inputs.memory * MIB);
    assert.equal(body.HostConfig.MemorySwap, inputs.memorySwap * MIB);
    assert.deepEqual(body.HostConfig.Binds, ["staging-postgres-data:/var/lib/postgresql/data:rw"]);
    assert.deepEqual(body.HostConfig.PortBindings["5432/tcp"], [
      { HostIp: "127.0.0.1", HostPort: "15433" },
    ]);
    assert.equal(body.HostConfig.RestartPolicy.Name, "unless-stopped");
    assert.equal(body.Healthcheck.Interval, 10e9);
    assert.equal(body.Healthcheck.StartPeriod, 30e9);
    assert.equal(body.Healthcheck.Retries, inputs.healthcheck.retries);
    // -1 (unlimited swap) passes through; a job's attach/logs are not Docker fields.
    const unlimited = containerCreateBody({
      name: "x",
      image: "i",
      memory: 64,
      memorySwap: -1,
    }) as {
      HostConfig: { MemorySwap: number };
    };
    assert.equal(unlimited.HostConfig.MemorySwap, -1);
  });

  test("durations read as Go's time.ParseDuration reads the forms the program writes", () => {
    assert.equal(durationNs("10s"), 10e9);
    assert.equal(durationNs("1m30s"), 90e9);
    assert.equal(durationNs("250ms"), 250e6);
    assert.throws(() => durationNs("10"), /not a duration/);
  });

  test("deletes run dependents first, whatever the order they come in", () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.nat(30), { maxLength: 4 }), { minLength: 1, maxLength: 30 }),
        fc.infiniteStream(fc.nat()),
        (edges, shuffle) => {
          // Resource i may depend only on resources before it: a graph without cycles.
          const resources = edges.map((deps, i) => ({
            urn: `r${i}`,
            registration: { dependencies: deps.filter((d) => d < i).map((d) => `r${d}`) },
          }));
          const shuffled = [...resources].sort(() => (shuffle.next().value % 3) - 1);
          const order = deleteOrder(shuffled).flatMap((wave) => wave.map((r) => r.urn));
          assert.equal(order.length, resources.length);
          for (const r of resources) {
            for (const dep of r.registration.dependencies) {
              assert.ok(order.indexOf(r.urn) < order.indexOf(dep), `${r.urn} after ${dep}`);
            }
          }
        },
      ),
    );
  });
});

test("grants applied as the postgresql provider applies them are committed, and two on one database at once both hold", async () => {
  const server = await startServer("superuser-password-0123456789");
  const admin = await server.admin();
  const apply = async (database: string, statements: string[]) => {
    const client = await server.admin(database);
    try {
      for (const statement of statements) await client.query(statement);
    } finally {
      await client.end();
    }
  };
  try {
    await admin.query(
      createRoleSql({ name: "platform_backup", password: "x".repeat(16), login: true }),
    );
    const databases = Array.from({ length: 8 }, (_, i) => `tenant_${i}`);
    for (const database of databases) await admin.query(createDatabaseSql(database, "postgres"));
    // As the engine runs them: each tenant's revoke and its backup grant at the same time.
    await Promise.all(
      databases.flatMap((database) => [
        apply(database, databaseGrantSql(database, "public", [])),
        apply(database, databaseGrantSql(database, "platform_backup", ["CONNECT"])),
      ]),
    );
    const { rows } = await admin.query<{ datname: string; acl: string }>(
      "SELECT datname, datacl::text AS acl FROM pg_database WHERE datname LIKE 'tenant_%' ORDER BY 1",
    );
    for (const { datname, acl } of rows) {
      assert.match(acl, /platform_backup=c\//, datname);
      assert.doesNotMatch(acl, /(^|[{,])=/, `${datname}: PUBLIC keeps ${acl}`);
    }
  } finally {
    await admin.end();
    await server.stop();
  }
});

describe("the e2e report", () => {
  const good: Parameters<typeof shortfalls>[0] = {
    up: {
      containers: 18,
      healthy: 18,
      jobs: 24,
      jobsSucceeded: 24,
      seconds: 65,
    },
    isolation: [
      { from: "acme/api", to: "globex/api", port: 3001, expected: "blocked", observed: "blocked" },
    ],
    releases: [
      {
        change: "version-bump",
        requests: 120,
        failed: 0,
        seconds: 30,
        servedBy: { "v0.23.0": 100, "v0.23.1": 20 },
        servedAfter: { "v0.23.1": 8 },
        expected: "v0.23.1",
      },
    ],
    backup: { databases: 4, restored: true, rowsMatch: true, tables: 11 },
    monitoring: {
      fronts: ["acme", "globex"].map((tenant) => ({
        tenant,
        instance: `${tenant}-front-0123456789:8404`,
        up: true,
        current: true,
      })),
      up: ["alertmanager", "node", "prometheus", "tenant-fronts"],
      backupMetric: true,
      hostDisk: true,
      seconds: 31,
    },
    egressGuard: {
      rules: 15,
      afterEngineRestart: true,
      engineRestartSeconds: 17,
      secondsUntilRestored: 3,
    },
  };

  test("a run that kept every promise passes, and each broken one is named", () => {
    assert.deepEqual(shortfalls(good), []);
    const broken = shortfalls({
      ...good,
      up: { ...good.up!, healthy: 17 },
      isolation: [{ ...good.isolation![0], observed: "allowed" }],
      releases: [{ ...good.releases![0], requests: 99, failed: 1, servedAfter: { "v0.23.0": 8 } }],
      backup: { ...good.backup!, rowsMatch: false },
      // A tenant's front scraped at its old release beside its new one: the old was not dropped.
      monitoring: {
        ...good.monitoring!,
        fronts: [...good.monitoring!.fronts, { ...good.monitoring!.fronts[1], current: false }],
      },
      egressGuard: { ...good.egressGuard!, afterEngineRestart: false },
    });
    assert.equal(broken.length, 8, broken.join("\n"));
    assert.match(broken.join("\n"), /monitoring: fronts scraped/);
    assert.match(broken.join("\n"), /acme\/api → globex\/api:3001 allowed, expected blocked/);
    assert.match(shortfalls({}).join("\n"), /up: not measured/);
  });
});

describe("the e2e images", () => {
  test("every image the staging stack pulls, at its version and the next one, has a recipe", async () => {
    const script = fs.readFileSync(path.join(IMAGES, "build.sh"), "utf8");
    const recipes = [...script.matchAll(/^\s+([a-z0-9/ |-]+)\)/gm)].flatMap((m) =>
      m[1].split("|").map((name) => name.trim()),
    );
    for (const changes of [{}, { "platform:dittofeed": { version: NEXT_VERSION } }]) {
      const run = await runProgram(stackConfig(changes));
      assert.equal(run.error, undefined);
      for (const r of ofType(run, "docker:index/remoteImage:RemoteImage")) {
        const repository = String(r.inputs.name).replace(/:[^:/]+$/, "");
        assert.ok(recipes.includes(repository), `no recipe for ${String(r.inputs.name)}`);
      }
    }
  });

  test("the stand-ins and scripts parse in the interpreters that run them", () => {
    const standins = path.join(IMAGES, "standins");
    for (const file of fs.readdirSync(standins).filter((f) => f.endsWith(".js"))) {
      execFileSync(process.execPath, ["--check", path.join(standins, file)]);
    }
    execFileSync("bash", ["-n", path.join(standins, "clickhouse")]);
    execFileSync("sh", ["-n", path.join(standins, "admin.sh")]);
    for (const script of ["build.sh", "../engine.sh"])
      execFileSync("bash", ["-n", path.join(IMAGES, script)]);
  });

  test("npm run test:e2e is what runs the program on an engine; npm test does not", async (t) => {
    const engine = await engineVersion();
    t.diagnostic(
      engine
        ? `e2e: not run by npm test; an engine (docker ${engine}) answers at ${SOCKET}: npm run test:e2e runs the scenarios`
        : `e2e: not run: no Docker engine answers at ${SOCKET}; npm run test:e2e (as root, with an engine) runs the scenarios`,
    );
    const scripts = (
      JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8")) as {
        scripts: Record<string, string>;
      }
    ).scripts;
    assert.match(scripts["test:e2e"], /tools\/e2e\/run\.ts/);
    assert.doesNotMatch(scripts.test, /e2e/);
    assert.match(fs.readFileSync(path.join(PROJECT_ROOT, ".ci/run"), "utf8"), /npm run test:e2e/);
  });
});
