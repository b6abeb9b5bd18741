/**
 * The backup service, the snapshots and offboarding as the program declares them, under mocks:
 * what runs where, with which credentials, waiting for what. What the scripts do is run for real
 * in ./backup.test.ts and ./temporal.test.ts.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { before, describe, test } from "node:test";
import { DEFAULT_DITTOFEED_VERSION } from "../stacks/config/schema";
import { BACKUP_ROLE, backupScript } from "../components/data/backupScripts";
import { BACKUP_CONNECTION_LIMIT } from "../components/data/postgresServer";
import {
  byName,
  committedStack,
  CONTAINER,
  dependsOn,
  envOf,
  isSecret,
  labelMap,
  mockPassword,
  ofType,
  Registration,
  runProgram,
  RunResult,
} from "./harness";

/** The committed production stack with its tenants edited. */
async function production(edit: (tenants: Record<string, unknown>[]) => unknown[]) {
  const options = committedStack("production");
  const tenants = JSON.parse(options.config["platform:tenants"]) as Record<string, unknown>[];
  const config = { ...options.config, "platform:tenants": JSON.stringify(edit(tenants)) };
  const run = await runProgram({ ...options, config });
  assert.equal(run.error, undefined, String(run.error));
  return run;
}

const containersOf = (run: RunResult, tenant: string) =>
  ofType(run, CONTAINER).filter((c) => labelMap(c)["platform.tenant"] === tenant);
const networksOf = (c: Registration) =>
  ((c.inputs.networksAdvanced ?? []) as { name: string }[]).map((n) => n.name);

describe("the backup service of committed stack production", () => {
  let run: RunResult;
  before(async () => {
    run = await production((tenants) => tenants);
  });

  test("runs the stack's Postgres image, its own script, on the data network, with read-only credentials", () => {
    const service = byName(run, "backup");
    assert.deepEqual(labelMap(service)["platform.service"], "backup");
    assert.equal(service.inputs.image, byName(run, "postgres").inputs.image);
    assert.deepEqual(service.inputs.entrypoints, ["bash", "-c"]);
    assert.deepEqual(service.inputs.command, [backupScript()]);
    assert.deepEqual(networksOf(service), networksOf(byName(run, "postgres")).slice(0, 1));
    const { secret, env } = envOf(service);
    assert.ok(secret);
    assert.equal(env.PGUSER, BACKUP_ROLE);
    assert.equal(env.CLICKHOUSE_USER, "platform_backup");
    // Every tenant is found by name at each run; none is named here.
    assert.equal(env.DATABASES, "");
    assert.equal(env.EXTRA_DATABASES, "temporal temporal_visibility");
    assert.equal(env.MODE, "service");
    const role = byName(run, "backup-role");
    // Reading is granted database by database (backupGrantsSql): no predefined role, which
    // would read pg_authid; row-level security bypassed, and a connection limit.
    assert.equal(role.inputs.roles, undefined);
    assert.equal(role.inputs.bypassRowLevelSecurity, true);
    assert.equal(role.inputs.connectionLimit, BACKUP_CONNECTION_LIMIT);
    assert.ok(!role.inputs.superuser && !role.inputs.createDatabase && !role.inputs.createRole);
    // Temporal's databases get the grant function from the backup's own job, on the data network.
    const grants = byName(run, "backup-grants");
    assert.equal(envOf(grants).env.DATABASES, "temporal temporal_visibility");
    assert.equal(envOf(grants).env.PGUSER, "postgres");
  });

  test("adding a tenant leaves the service, its role and its tools exactly as they were", async () => {
    const more = await production((tenants) => [
      ...tenants,
      { id: "initech", workspaceName: "Initech", accessEmails: ["ops@initech.example"] },
    ]);
    for (const name of [
      "backup",
      "backup-role",
      "backup-clickhouse-access",
      "backup-tools",
      "backup-data",
    ]) {
      assert.deepEqual(byName(more, name).inputs, byName(run, name).inputs, name);
    }
    const grant = byName(more, "initech-database-backup-connect");
    assert.deepEqual(
      [grant.inputs.role, grant.inputs.objectType, grant.inputs.privileges],
      [BACKUP_ROLE, "database", ["CONNECT"]],
    );
  });

  test("R2: a protected bucket, sets expiring by prefix, and a token for that bucket alone", () => {
    const bucket = byName(run, "backup-bucket");
    assert.equal(bucket.inputs.name, "example-production-backups");
    assert.ok(bucket.protect && bucket.retainOnDelete);
    const lifecycle = byName(run, "backup-lifecycle");
    const rules = lifecycle.inputs.rules as {
      conditions: { prefix: string };
      deleteObjectsTransition: { condition: { type: string; maxAge: number } };
    }[];
    assert.deepEqual(
      rules.map((r) => [r.conditions.prefix, r.deleteObjectsTransition.condition]),
      [
        ["scheduled/", { type: "Age", maxAge: 90 * 86400 }],
        ["snapshots/", { type: "Age", maxAge: 90 * 86400 }],
      ],
    );
    // Objects cannot be deleted, by the host's token or anyone, before R2 would expire them.
    const lock = byName(run, "backup-lock");
    assert.deepEqual(lock.inputs.rules, [
      {
        id: "keep-backups",
        enabled: true,
        prefix: "",
        condition: { type: "Age", maxAgeSeconds: 90 * 86400 },
      },
    ]);
    const token = byName(run, "backup-token");
    const [policy] = token.inputs.policies as {
      resources: string;
      permissionGroups: { id: string }[];
    }[];
    const accountId = "0123456789abcdef0123456789abcdef";
    assert.deepEqual(JSON.parse(policy.resources), {
      [`com.cloudflare.edge.r2.bucket.${accountId}_default_example-production-backups`]: "*",
    });
    assert.equal(policy.permissionGroups.length, 1);
    // The S3 credentials derive from the token: its id, and the SHA-256 of its value.
    const { env } = envOf(byName(run, "backup"));
    const tokenValue = mockPassword("backup-token");
    assert.equal(
      env.RCLONE_CONFIG_OFFSITE_SECRET_ACCESS_KEY,
      createHash("sha256").update(`mock-token-${tokenValue}`).digest("hex"),
    );
    assert.equal(
      env.RCLONE_CONFIG_OFFSITE_ENDPOINT,
      `https://${accountId}.r2.cloudflarestorage.com`,
    );
    assert.equal(env.REMOTE, "offsite:example-production-backups");
  });

  test("each tenant's migration waits for its own snapshot, taken from the data network before the bootstrap", () => {
    for (const tenant of ["acme", "globex"]) {
      const snapshot = byName(run, `${tenant}-migration-snapshot`);
      assert.deepEqual(
        [labelMap(snapshot)["platform.service"], labelMap(snapshot)["platform.tenant"]],
        ["snapshot", tenant],
      );
      // The backup role's password never reaches a tenant's network: the snapshot runs where
      // the service does.
      assert.deepEqual(networksOf(snapshot), networksOf(byName(run, "backup")));
      assert.notDeepEqual(
        networksOf(snapshot),
        networksOf(byName(run, `${tenant}-migration-schema`)),
      );
      const { env } = envOf(snapshot);
      assert.deepEqual(
        [env.MODE, env.DATABASES, env.CLICKHOUSE_DATABASES, env.DESTINATION, env.REMOTE],
        ["once", `dittofeed_${tenant}`, "-", `snapshots/${tenant}`, ""],
      );
      // The image of the migration it precedes: a new one renews the snapshot.
      const adminCli = String(
        byName(run, `image-adminCli-${DEFAULT_DITTOFEED_VERSION}`).inputs.name,
      );
      assert.equal(env.BEFORE, `sha256:${createHash("sha256").update(adminCli).digest("hex")}`);
      for (const job of ["bootstrap", "schema"]) {
        dependsOn(run, `${tenant}-migration-${job}`, `${tenant}-migration-snapshot`);
      }
      dependsOn(
        run,
        `${tenant}-migration-snapshot`,
        `${tenant}-database-backup-connect`,
        `${tenant}-database-backup-grants`,
        "backup-role",
      );
    }
  });
});

describe("staging backs up but takes no snapshots; dev does neither", () => {
  test("staging", async () => {
    const run = await runProgram(committedStack("staging"));
    assert.equal(run.error, undefined);
    assert.ok(byName(run, "backup"));
    assert.equal(
      ofType(run, CONTAINER).filter((c) => labelMap(c)["platform.service"] === "snapshot").length,
      0,
    );
    assert.ok(!run.registrations.some((r) => r.type.startsWith("cloudflare:index/r2")));
  });
  test("dev", async () => {
    const run = await runProgram(committedStack("dev"));
    assert.equal(run.error, undefined);
    assert.ok(!run.registrations.some((r) => r.name.startsWith("backup")));
  });
});

describe("offboarding globex in production", () => {
  let run: RunResult;
  before(async () => {
    run = await production((tenants) =>
      tenants.map((t) => (t.id === "globex" ? { ...t, offboarded: true } : t)),
    );
  });

  test("its apps, front, Access and DNS are gone; its network, gateway, database and secrets stay", () => {
    const services = containersOf(run, "globex").map((c) => labelMap(c)["platform.service"]);
    for (const gone of ["api", "dashboard", "worker", "front", "namespace", "worker-check"]) {
      assert.ok(!services.includes(gone), `${gone} is gone`);
    }
    assert.ok(
      !run.registrations.some(
        (r) =>
          r.name.startsWith("globex-access") ||
          r.name.startsWith("globex-migration") ||
          r.name === "tunnel-dns-globex",
      ),
    );
    for (const kept of [
      "globex-network",
      "globex-gateway-container",
      "globex-database-db",
      "globex-secret-key",
      "globex-db-password",
      "globex-redis-password",
    ]) {
      assert.ok(byName(run, kept), kept);
    }
    // acme is untouched by its neighbour's offboarding.
    assert.ok(byName(run, "acme-api") && byName(run, "tunnel-dns-acme"));
  });

  test("its writers locked out, then a final export with its SECRET_KEY; its database releasable", () => {
    const exportJob = byName(run, "globex-offboarding-export");
    assert.equal(labelMap(exportJob)["platform.service"], "export");
    const { env } = envOf(exportJob);
    assert.deepEqual(
      [env.DATABASES, env.CLICKHOUSE_DATABASES, env.DESTINATION, env.REMOTE],
      [
        "dittofeed_globex",
        "dittofeed_globex",
        "exports/globex",
        "offsite:example-production-backups",
      ],
    );
    assert.ok(env.SECRET_KEY && env.SECRET_KEY.length === 44);
    // Nothing of the tenant writes any more before the export: role locked, its sessions
    // ended, its ClickHouse user locked. The namespace goes last.
    dependsOn(run, "globex-offboarding-sessions-end", "globex-database-role");
    dependsOn(
      run,
      "globex-offboarding-export",
      "globex-offboarding-sessions-end",
      "globex-offboarding-clickhouse-lock",
    );
    dependsOn(run, "globex-offboarding-namespace-deprecation", "globex-offboarding-export");
    assert.match(
      (byName(run, "globex-offboarding-clickhouse-lock").inputs.command as string[])[0],
      /ALTER USER IF EXISTS dittofeed_globex HOST NONE/,
    );
    assert.equal(
      envOf(byName(run, "globex-offboarding-namespace-deprecation")).env.NAMESPACE,
      "globex",
    );
    assert.equal(byName(run, "globex-database-role").inputs.login, false);
    const database = byName(run, "globex-database-db");
    assert.deepEqual([database.protect, database.retainOnDelete], [false, true]);
    assert.equal(byName(run, "acme-database-db").protect, true);
  });

  test("its outputs say it is offboarded once the steps succeeded", () => {
    const tenants = run.outputs?.tenants as Record<
      string,
      { reachable: boolean; deployed: boolean }
    >;
    assert.equal(tenants.globex.reachable, false);
    assert.equal(tenants.globex.deployed, true);
  });

  test("a failed export stops the update before the namespace is deprecated", async () => {
    const options = committedStack("production");
    const tenants = JSON.parse(options.config["platform:tenants"]) as Record<string, unknown>[];
    const failed = await runProgram({
      ...options,
      config: {
        ...options.config,
        "platform:tenants": JSON.stringify(
          tenants.map((t) => (t.id === "globex" ? { ...t, offboarded: true } : t)),
        ),
      },
      jobs: {
        "globex-offboarding-export": { exitCode: 1, logs: "pg_dump: error: connection refused\n" },
      },
    });
    assert.match(String(failed.error), /Final export of tenant globex exited with code 1/);
    // The namespace stays registered until the data is safe.
    const registered = failed.registrations.map((r) => r.name);
    assert.ok(!registered.includes("globex-offboarding-namespace-deprecation"));
  });

  test("bringing it back with the next namespace generation: its apps use globex-gen2", async () => {
    const back = await production((tenants) =>
      tenants.map((t) => (t.id === "globex" ? { ...t, namespaceGeneration: 2 } : t)),
    );
    assert.equal(envOf(byName(back, "globex-namespace-job")).env.NAMESPACE, "globex-gen2");
    assert.equal(envOf(byName(back, "globex-worker-1")).env.TEMPORAL_NAMESPACE, "globex-gen2");
    assert.equal(byName(back, "globex-database-role").inputs.login, true);
  });
});

test("a retired id is refused for a new tenant, naming the key", async () => {
  const options = committedStack("production");
  const run = await runProgram({
    ...options,
    config: { ...options.config, "platform:retiredTenants": JSON.stringify(["globex"]) },
  });
  assert.match(
    String(run.error),
    /platform:tenants\[1\]\.id = "globex": is retired \(platform:retiredTenants\)/,
  );
  assert.deepEqual(
    run.registrations.filter((r) => r.custom),
    [],
  );
});

test("no secret of the backup service or of an export appears in plain inputs", async () => {
  const run = await production((tenants) =>
    tenants.map((t) => (t.id === "globex" ? { ...t, offboarded: true } : t)),
  );
  for (const name of ["backup", "globex-offboarding-export", "acme-migration-snapshot"]) {
    assert.ok(isSecret(byName(run, name).inputs.envs), `${name}'s environment is secret`);
  }
});
