/**
 * The program's Postgres declarations, applied to a real PostgreSQL 15 as the postgresql provider
 * applies them (see ./postgresServer), and then used the way Dittofeed v0.23.0 uses them: each
 * tenant's `DATABASE_URL`, exactly as the program builds it, through node-postgres (the driver
 * Dittofeed's drizzle uses), including what its bootstrap runs (`CREATE DATABASE` on the
 * `postgres` database as the tenant's role: packages/backend-lib/src/migrate.ts, createDatabase).
 */
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import pg from "pg";
import * as YAML from "yaml";
import { parsePlatformConfig } from "../stacks/config";
import { tenantAccessScript } from "../components/data/clickhouseServer";
import { rotateSuperuserScript, versionCheckScript } from "../components/data/postgresServer";
import {
  byName,
  envOf,
  isSecret,
  ofType,
  platformConfig,
  Registration,
  runProgram,
  RunResult,
} from "./harness";
import {
  createDatabaseSql,
  createRoleSql,
  pqQuoteLiteral,
  revokePublicSql,
  RoleInputs,
  Server,
  startServer,
  SUPERUSER,
} from "./postgresServer";

const ROLE = "postgresql:index/role:Role";
const DATABASE = "postgresql:index/database:Database";
const GRANT = "postgresql:index/grant:Grant";

/** Accepted by config for a tenant's database password: quotes, URL and shell specials, non-ASCII. */
const HOSTILE = `O'Brien "quoted" $HOME \`x\` +/=@:#?%& é ü`;

const plain = (value: unknown): unknown => (isSecret(value) ? value.value : value);

/** The tenant's URL with the Docker network's `postgres:5432` swapped for this server. */
function onServer(databaseUrl: string, port: number, database?: string): string {
  const url = new URL(databaseUrl);
  url.hostname = "127.0.0.1";
  url.port = String(port);
  if (database !== undefined) url.pathname = `/${database}`;
  return url.toString();
}

async function connect(connectionString: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  return client;
}

/** The SQLSTATE a statement (or the connection before it) fails with; undefined on success. */
async function sqlState(connectionString: string, sql?: string): Promise<string | undefined> {
  let client: pg.Client | undefined;
  try {
    client = await connect(connectionString);
    if (sql) await client.query(sql);
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  } finally {
    await client?.end().catch(() => {});
  }
}

describe("the program's Postgres declarations on a real PostgreSQL 15", () => {
  let run: RunResult;
  let server: Server;
  let containerPassword: string;
  const tenantIds = ["acme", "globex", "eu-west"];
  const urlOf = (id: string) => envOf(byName(run, `${id}-api`)).env.DATABASE_URL;

  before(async () => {
    run = await runProgram({
      config: platformConfig({
        environment: "dev",
        tenants: tenantIds.map((id) => ({
          id,
          workspaceName: id,
          ...(id === "globex" ? { postgresConnectionLimit: 2 } : {}),
        })),
        secrets: { tenants: { globex: { databasePassword: HOSTILE } } },
      }),
      secretKeys: ["platform:secrets"],
    });
    assert.equal(run.error, undefined, String(run.error));
    // The superuser password the program gives both the container and the provider.
    const provider = byName(run, "postgres-admin");
    containerPassword = envOf(byName(run, "postgres")).env.POSTGRES_PASSWORD;
    assert.equal(plain(provider.inputs.password), containerPassword);
    // The server's settings as the container's command gives them (`postgres -c ...`).
    const command = byName(run, "postgres").inputs.command as string[];
    assert.equal(command[0], "postgres");
    server = await startServer(containerPassword, command.slice(1));

    // Apply what the provider would, in the engine's order: roles, databases, then grants.
    const admin = await server.admin();
    for (const role of ofType(run, ROLE)) {
      await admin.query(
        createRoleSql({ ...role.inputs, password: plain(role.inputs.password) } as RoleInputs),
      );
    }
    for (const db of ofType(run, DATABASE)) {
      await admin.query(createDatabaseSql(String(db.inputs.name), String(db.inputs.owner)));
    }
    await admin.end();
    for (const grant of ofType(run, GRANT)) {
      assert.deepEqual(
        [grant.inputs.role, grant.inputs.objectType, grant.inputs.privileges],
        ["public", "database", []],
      );
      const client = await server.admin(String(grant.inputs.database));
      await client.query(revokePublicSql(String(grant.inputs.database)));
      await client.end();
    }
  });

  after(async () => {
    await server?.stop();
  });

  test("every tenant's DATABASE_URL, as the program builds it, authenticates and owns its database", async () => {
    for (const id of tenantIds) {
      const client = await connect(onServer(urlOf(id), server.port));
      const { rows } = await client.query<{ user: string; db: string }>(
        "SELECT current_user AS user, current_database() AS db",
      );
      const sqlName = `dittofeed_${id.replace(/-/g, "_")}`;
      assert.deepEqual(rows[0], { user: sqlName, db: sqlName });
      // Dittofeed's drizzle migrations create tables in the public schema of its database.
      await client.query("CREATE TABLE probe (id serial PRIMARY KEY, note text)");
      await client.query("INSERT INTO probe (note) VALUES ($1)", [id]);
      const { rows: notes } = await client.query<{ note: string }>("SELECT note FROM probe");
      assert.equal(notes[0].note, id);
      await client.end();
    }
  });

  test("the bootstrap's CREATE DATABASE on the postgres database meets 'already exists', not 'permission denied'", async () => {
    for (const id of tenantIds) {
      const sqlName = `dittofeed_${id.replace(/-/g, "_")}`;
      // Dittofeed: `CREATE DATABASE ${database}` via databaseUrlWithoutName() (path `postgres`),
      // tolerating only 42P04 (duplicate_database).
      const state = await sqlState(
        onServer(urlOf(id), server.port, "postgres"),
        `CREATE DATABASE ${sqlName}`,
      );
      assert.equal(
        state,
        "42P04",
        `${id}: bootstrap would ${state === "42501" ? "lack CREATEDB" : "fail"}`,
      );
    }
    // And the privilege check comes first: a role without CREATEDB gets 42501 even though the
    // database exists, which is why the program keeps CREATEDB on tenant roles.
    const admin = await server.admin();
    await admin.query(
      createRoleSql({ name: "no_createdb", password: "pw-0123456789abcdef", login: true }),
    );
    await admin.end();
    const url = `postgresql://no_createdb:pw-0123456789abcdef@127.0.0.1:${server.port}/postgres`;
    assert.equal(await sqlState(url, "CREATE DATABASE dittofeed_acme"), "42501");
  });

  test("a tenant role holds no more connections than its limit, so no tenant exhausts the server", async () => {
    const role = (id: string) => byName(run, `${id}-database-role`).inputs.connectionLimit;
    // The default: a full pool (10, node-postgres's default) per api, dashboard, worker and job.
    assert.equal(role("acme"), 40);
    assert.equal(role("globex"), 2);
    const url = onServer(urlOf("globex"), server.port);
    const held = [await connect(url), await connect(url)];
    assert.equal(await sqlState(url, "SELECT 1"), "53300", "too_many_connections");
    await Promise.all(held.map((c) => c.end()));
  });

  test("every login role at its limit at once still fits the server: Temporal and the superuser get in", async () => {
    const limit = (name: string) => Number(byName(run, name).inputs.connectionLimit);
    const temporal = byName(run, "temporal-role");
    const temporalUrl = new URL(`postgresql://127.0.0.1:${server.port}/temporal`);
    temporalUrl.username = encodeURIComponent(String(temporal.inputs.name));
    temporalUrl.password = encodeURIComponent(String(plain(temporal.inputs.password)));
    const holders: { url: string; count: number }[] = [
      ...tenantIds.map((id) => ({
        url: onServer(urlOf(id), server.port),
        count: limit(`${id}-database-role`),
      })),
      { url: temporalUrl.toString(), count: limit("temporal-role") },
    ];
    const held: pg.Client[] = [];
    try {
      for (const { url, count } of holders) {
        for (let i = 0; i < count; i += 1) held.push(await connect(url));
      }
      // Each role is full: one more is its own limit's refusal, not the server's.
      for (const { url } of holders) assert.equal(await sqlState(url, "SELECT 1"), "53300");
      const admin = await server.admin();
      const { rows } = await admin.query<{ max: string; used: number }>(
        "SELECT current_setting('max_connections') AS max, count(*)::int AS used FROM pg_stat_activity WHERE backend_type = 'client backend'",
      );
      await admin.end();
      assert.equal(held.length + 1, rows[0].used);
      assert.ok(Number(rows[0].max) - rows[0].used >= 3, `${rows[0].used} of ${rows[0].max}`);
    } finally {
      await Promise.all(held.map((c) => c.end()));
    }
  });

  test("no tenant reaches another tenant's database", async () => {
    for (const id of tenantIds) {
      for (const other of tenantIds.filter((o) => o !== id)) {
        const target = `dittofeed_${other.replace(/-/g, "_")}`;
        const state = await sqlState(onServer(urlOf(id), server.port, target));
        assert.equal(state, "42501", `${id} connecting to ${target}`);
      }
    }
  });

  test("Temporal's role logs in to both its databases and can create its schema there; tenants cannot enter them", async () => {
    const temporal = byName(run, "temporal-role");
    for (const database of ["temporal", "temporal_visibility"]) {
      const url = new URL(`postgresql://127.0.0.1:${server.port}/${database}`);
      url.username = encodeURIComponent(String(temporal.inputs.name));
      url.password = encodeURIComponent(String(plain(temporal.inputs.password)));
      // What temporal-sql-tool's setup-schema does first (tools/common/schema/setuptask.go).
      const created = await sqlState(
        url.toString(),
        "CREATE TABLE IF NOT EXISTS schema_version (version_partition INT NOT NULL PRIMARY KEY)",
      );
      assert.equal(created, undefined, database);
      for (const id of tenantIds) {
        assert.equal(await sqlState(onServer(urlOf(id), server.port, database)), "42501", id);
      }
    }
  });

  test("an accepted hostile password round-trips; a backslash, which config refuses, really would not", async () => {
    assert.equal(await sqlState(onServer(urlOf("globex"), server.port), "SELECT 1"), undefined);
    assert.ok(decodeURIComponent(new URL(urlOf("globex")).password) === HOSTILE);

    const admin = await server.admin();
    const typed = "back\\slash-0123456789";
    await admin.query(createRoleSql({ name: "backslash", password: typed, login: true }));
    await admin.end();
    const as = (password: string) =>
      `postgresql://backslash:${encodeURIComponent(password)}@127.0.0.1:${server.port}/postgres`;
    assert.equal(await sqlState(as(typed)), "28P01", "the password as typed is refused");
    assert.equal(await sqlState(as(pqQuoteLiteral(typed).replace(/''/g, "'"))), undefined);
    assert.throws(
      () =>
        parsePlatformConfig({
          environment: "dev",
          tenants: [{ id: "acme", workspaceName: "A" }],
          secrets: { tenants: { acme: { databasePassword: typed } } },
        }),
      /backslash/,
    );
  });

  test("any password config accepts for a role survives the provider's quoting on the real server", async () => {
    const admin = await server.admin();
    const accepted = fc
      .string({
        unit: fc.constantFrom(..."aZ9 '\"$`+/=@:#?%&;é€\u{1F600}".split(/(?:)/u)),
        minLength: 16,
        maxLength: 24,
      })
      .filter((password) => {
        try {
          parsePlatformConfig({
            environment: "dev",
            tenants: [{ id: "acme", workspaceName: "A" }],
            secrets: { tenants: { acme: { databasePassword: password } } },
          });
          return true;
        } catch {
          return false;
        }
      });
    let n = 0;
    await fc.assert(
      fc.asyncProperty(accepted, async (password) => {
        const name = `prop_${n++}`;
        await admin.query(createRoleSql({ name, password, login: true }));
        const url = `postgresql://${name}:${encodeURIComponent(password)}@127.0.0.1:${server.port}/postgres`;
        assert.equal(await sqlState(url, "SELECT 1"), undefined, JSON.stringify(password));
      }),
      { numRuns: 25 },
    );
    await admin.end();
  });

  test("a tenant's database squatted by another tenant is refused before its role exists", async () => {
    // The owner check's environment as the program gives the job, pointed at this server.
    const job = byName(run, "acme-database-owner-check");
    const { env } = envOf(job);
    assert.equal(env.PGPASSWORD, containerPassword);
    const check = (database: string) =>
      spawnSync("sh", ["-c", String((job.inputs.command as string[])[0])], {
        encoding: "utf8",
        env: {
          ...env,
          PATH: "/usr/bin:/bin",
          PGHOST: "127.0.0.1",
          PGPORT: String(server.port),
          DATABASE: database,
          OWNER: database,
        },
      });
    assert.equal(check("dittofeed_acme").status, 0, "its own database, already there");
    assert.equal(check("dittofeed_initech").status, 0, "a name nobody has taken");
    // What any tenant's role may do (CREATEDB): take a future tenant's name.
    const squatter = await connect(onServer(urlOf("globex"), server.port, "postgres"));
    await squatter.query("CREATE DATABASE dittofeed_initech");
    await squatter.end();
    const refused = check("dittofeed_initech");
    assert.equal(refused.status, 1);
    assert.match(
      refused.stdout,
      /dittofeed_initech already exists, owned by role dittofeed_globex/,
    );
    assert.ok(!`${refused.stdout}${refused.stderr}`.includes(containerPassword));
    // The role and database wait for the check.
    const role = byName(run, "acme-database-role");
    assert.ok(role.dependencies.includes(job.urn), "the role waits for the owner check");
  });

  test("the version check lets the image's own major open the volume, and refuses another", () => {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "pg-bin-"));
    // What `postgres -V` prints in the official Debian image, for an image without PG_MAJOR.
    fs.writeFileSync(
      path.join(bin, "postgres"),
      "#!/bin/sh\necho 'postgres (PostgreSQL) 16.4 (Debian 16.4-1.pgdg120+2)'\n",
      { mode: 0o755 },
    );
    const check = (env: Record<string, string>, dataDir = server.dataDir) =>
      spawnSync("sh", ["-c", versionCheckScript(dataDir)], {
        encoding: "utf8",
        env: { PATH: `${bin}:/usr/bin:/bin`, ...env },
      });
    assert.equal(check({ PG_MAJOR: "15" }).status, 0);
    const refused = check({ PG_MAJOR: "16" });
    assert.equal(refused.status, 1);
    assert.match(refused.stdout, /holds a PostgreSQL 15 cluster, which PostgreSQL 16 cannot open/);
    assert.match(refused.stdout, /platform:postgres\.image/);
    assert.equal(check({}).status, 1, "the major from postgres -V when PG_MAJOR is unset");
    assert.equal(
      check({ PG_MAJOR: "16" }, fs.mkdtempSync(path.join(os.tmpdir(), "empty-"))).status,
      0,
    );
  });
});

test("Temporal's YAML config keeps every password config accepts, and would break on the refused ones", () => {
  // temporalio/temporal v1.22.4, docker/config_template.yaml, rendered by dockerize without
  // escaping: `password: "{{ default .Env.POSTGRES_PWD "" }}"`.
  const rendered = (password: string) => `sql:\n  password: "${password}"\n`;
  const parsed = (password: string): unknown => {
    try {
      return (YAML.parse(rendered(password)) as { sql: { password: unknown } }).sql.password;
    } catch {
      return Symbol("unparsable");
    }
  };
  const acceptedByConfig = (password: string) => {
    try {
      parsePlatformConfig({
        environment: "dev",
        tenants: [{ id: "acme", workspaceName: "A" }],
        secrets: { temporalPassword: password },
      });
      return true;
    } catch {
      return false;
    }
  };
  fc.assert(
    fc.property(
      fc.string({
        unit: fc.constantFrom(..."aZ9 '\"\\$#:{}[],&*!|>%@`é".split("")),
        minLength: 16,
        maxLength: 30,
      }),
      (password) => {
        if (acceptedByConfig(password)) assert.equal(parsed(password), password);
      },
    ),
    { numRuns: 500 },
  );
  for (const refused of ['abcdefgh12345678"', "abcdefgh12345678\\n", 'abc"def\\"gh12345678']) {
    assert.ok(!acceptedByConfig(refused), refused);
    assert.notEqual(parsed(refused), refused, `${refused} would reach Temporal intact`);
  }
});

test("the access job's real shell gives clickhouse-client its secrets by environment and stdin, never on its command line", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ch-"));
  // A stand-in client that records its arguments (NUL-separated), the password it finds in its
  // environment, and the queries it reads from stdin.
  fs.writeFileSync(
    path.join(dir, "clickhouse-client"),
    "#!/bin/sh\n" +
      `for a in "$@"; do printf '%s\\0' "$a"; done > "${dir}/args"\n` +
      `printf '%s' "$CLICKHOUSE_USER:$CLICKHOUSE_PASSWORD" > "${dir}/credentials"\n` +
      `cat > "${dir}/stdin"\n`,
    { mode: 0o755 },
  );
  const adminPassword = `O'Brien "x" $HOME \`id\` ; & | \\ é-0123456789`;
  const tenantPassword = "GeneratedAlnum0123456789abcdefXY";
  const script = tenantAccessScript({
    server: "clickhouse",
    port: 9000,
    database: "dittofeed_acme",
    user: "dittofeed_acme",
  });
  execFileSync("sh", ["-c", script], {
    env: {
      PATH: `${dir}:/usr/bin:/bin`,
      CLICKHOUSE_USER: "default",
      CLICKHOUSE_PASSWORD: adminPassword,
      TENANT_PASSWORD: tenantPassword,
    },
  });
  const args = fs.readFileSync(path.join(dir, "args"), "utf8").split("\0").slice(0, -1);
  assert.deepEqual(args, ["--host", "clickhouse", "--port", "9000"]);
  assert.equal(fs.readFileSync(path.join(dir, "credentials"), "utf8"), `default:${adminPassword}`);
  const queries = fs.readFileSync(path.join(dir, "stdin"), "utf8");
  // The tenant's password is generated alphanumeric (special: false), so it is a plain literal.
  assert.equal(
    queries,
    [
      "CREATE DATABASE IF NOT EXISTS dittofeed_acme;",
      `CREATE USER IF NOT EXISTS dittofeed_acme IDENTIFIED WITH sha256_password BY '${tenantPassword}';`,
      `ALTER USER dittofeed_acme IDENTIFIED WITH sha256_password BY '${tenantPassword}' HOST ANY;`,
      "GRANT ALL ON dittofeed_acme.* TO dittofeed_acme;",
      "REVOKE CREATE DICTIONARY, DROP DATABASE ON dittofeed_acme.* FROM dittofeed_acme;",
      "",
    ].join("\n"),
  );
});

/** The registrations a test above relies on, named so a rename fails loudly here. */
test("the declarations the real-server tests apply are the program's", async () => {
  const result = await runProgram({
    config: platformConfig({ environment: "dev", tenants: [{ id: "acme", workspaceName: "A" }] }),
  });
  const names = (type: string) =>
    ofType(result, type)
      .map((r: Registration) => r.name)
      .sort();
  assert.deepEqual(names(ROLE), ["acme-database-role", "temporal-role"]);
  assert.deepEqual(names(DATABASE), [
    "acme-database-db",
    "temporal-db-main",
    "temporal-db-visibility",
  ]);
  assert.deepEqual(names(GRANT), [
    "acme-database-revoke-public",
    "temporal-db-main-revoke-public",
    "temporal-db-visibility-revoke-public",
  ]);
  assert.equal(SUPERUSER, byName(result, "postgres-admin").inputs.username);
});

describe("rotating the superuser's password, with the real psql 15 and server", () => {
  const OLD = "old-superuser-password-0123";
  // What psql's :'...' quoting must carry: quotes, a backslash, a dollar, spaces, non-ASCII.
  const NEW = `n3w 'quoted' "double" \\back $HOME é-0123`;
  let server: Server;

  before(async () => {
    server = await startServer(OLD);
  });
  after(async () => {
    await server?.stop();
  });

  const rotate = (oldPassword: string, newPassword: string) =>
    spawnSync("sh", ["-c", rotateSuperuserScript()], {
      env: {
        PATH: process.env.PATH,
        PGHOST: "127.0.0.1",
        PGPORT: String(server.port),
        PGUSER: SUPERUSER,
        PGDATABASE: "postgres",
        OLD_PASSWORD: oldPassword,
        NEW_PASSWORD: newPassword,
      },
      encoding: "utf8",
      timeout: 30_000,
    });
  const as = (password: string) =>
    `postgresql://${SUPERUSER}:${encodeURIComponent(password)}@127.0.0.1:${server.port}/postgres`;

  test("sets the new password with the old one; the old one stops working", async () => {
    // \getenv arrived in psql 15, the version of the postgres:15 image that runs the job.
    const major = Number(
      /\(PostgreSQL\) (\d+)/.exec(execFileSync("psql", ["--version"], { encoding: "utf8" }))?.[1],
    );
    assert.ok(major >= 15, `psql ${major} has no \\getenv`);
    const result = rotate(OLD, NEW);
    assert.equal(result.status, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /password is rotated/);
    assert.equal(await sqlState(as(NEW), "SELECT 1"), undefined);
    assert.equal(await sqlState(as(OLD), "SELECT 1"), "28P01");
  });

  test("run again (or on a server initialised with the new password), it changes nothing", () => {
    const result = rotate("not-the-old-one-0123456", NEW);
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, /already has the new password/);
  });

  test("with a wrong old password it fails with psql's reason", () => {
    const result = rotate("wrong-old-password-0123", "another-new-password-0123");
    assert.equal(result.status, 1);
    assert.match(result.stderr, /password authentication failed/);
  });
});
