/**
 * Backups for real: the backup script in real bash with Debian's `pg_dump` 15 and `gpg` (the
 * tools of the `postgres:15` image it runs in: docker-library/postgres, 15/bookworm/Dockerfile)
 * against a real PostgreSQL 15, with the roles and grants the program declares; and `npm run
 * restore`'s code decrypting with the private key and restoring with `pg_restore` 15. ClickHouse
 * is not on this machine: the script's ClickHouse half is not run here.
 */
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import pg from "pg";
import {
  BACKUP_GRACE_SECONDS,
  BACKUP_GRANTS_SCHEMA,
  BACKUP_ROLE,
  BackupGrantsEnv,
  backupGrantsScript,
  BackupEnv,
  BackupPaths,
  backupHealthTest,
  backupScript,
} from "../components/data/backupScripts";
import { tenantSqlName } from "../components/runtime/naming";
import {
  BACKUP_CONNECTION_LIMIT,
  EndSessionsEnv,
  endSessionsScript,
} from "../components/data/postgresServer";
import { gpgKeyPair as keyPair } from "../tools/e2e/host";
import { restore } from "../tools/restore/restore";
import {
  createDatabaseSql,
  createRoleSql,
  revokePublicSql,
  Server,
  startServer,
  SUPERUSER,
} from "./postgresServer";

/** A row of the table each tenant gets here. */
interface Segment {
  id: number;
  name: string;
  payload: unknown;
  note: string | null;
}

const SUPERUSER_PASSWORD = "superuser-password-0123456789";
const BACKUP_PASSWORD = "backup-password-0123456789ab";
const TENANT_PASSWORD = "tenant-password-0123456789ab";
/** In every tenant's rows: found in no backup file, which are all ciphertext. */
const MARKER = "plain-text-marker-7f3a";

interface Run {
  code: number;
  output: string;
}

/** The backup script, as the container runs it: `bash -c <script>` with its environment. */
function runBackup(
  env: Partial<BackupEnv> & BackupPaths & Record<string, string>,
  base: BackupEnv,
): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn("bash", ["-c", backupScript()], {
      env: { PATH: "/usr/bin:/bin", ...base, ...env },
    });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("close", (code) => resolve({ code: code ?? -1, output }));
  });
}

/** Every file under `dir`, relative. */
function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/** The complete sets of a directory of sets. */
const setsIn = (dir: string) =>
  fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((n) => /^\d{8}T\d{6}Z$/.test(n))
        .sort()
    : [];

describe("backups and restores on a real PostgreSQL 15", () => {
  let server: Server;
  let admin: pg.Client;
  let key: { home: string; publicKey: string };
  let root: string;
  let base: BackupEnv;
  const acme = tenantSqlName("acme");
  const globex = tenantSqlName("globex");

  /** A tenant as the program declares it: role, database, PUBLIC revoked, the backup role let in. */
  async function createTenant(database: string) {
    await admin.query(
      createRoleSql({
        name: database,
        password: TENANT_PASSWORD,
        login: true,
        createDatabase: true,
      }),
    );
    await admin.query(createDatabaseSql(database, database));
    await admin.query(revokePublicSql(database));
    await admin.query(`GRANT CONNECT ON DATABASE "${database}" TO "${BACKUP_ROLE}"`);
    installGrants(database);
  }

  /** The job that installs `grant_reads()`, as the superuser, in real sh and psql. */
  function grantsJob(databases: string): Run {
    const env: BackupGrantsEnv = {
      PGHOST: "127.0.0.1",
      PGPORT: String(server.port),
      PGUSER: SUPERUSER,
      PGPASSWORD: SUPERUSER_PASSWORD,
      DATABASES: databases,
    };
    const run = spawnSync("sh", ["-c", backupGrantsScript()], {
      env: { PATH: "/usr/bin:/bin", ...env },
      encoding: "utf8",
    });
    return { code: run.status ?? -1, output: `${run.stdout}${run.stderr}` };
  }
  function installGrants(databases: string) {
    const run = grantsJob(databases);
    assert.equal(run.code, 0, run.output);
  }

  /** A session of `user` on `database`, left open. */
  async function connectAs(user: string, password: string, database: string): Promise<pg.Client> {
    const client = new pg.Client({
      host: "127.0.0.1",
      port: server.port,
      user,
      password,
      database,
    });
    await client.connect();
    return client;
  }

  async function asTenant<T>(database: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
    const client = await connectAs(database, TENANT_PASSWORD, database);
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }

  /** A tenant's session holding its own table locked, as any tenant may. */
  async function lockedByTenant(database: string): Promise<pg.Client> {
    const locker = await connectAs(database, TENANT_PASSWORD, database);
    await locker.query(`BEGIN; LOCK TABLE "Segment" IN ACCESS EXCLUSIVE MODE`);
    return locker;
  }

  /** `npm run restore --yes` of `database` in `set` into `into`, with the operator's key. */
  const restoreInto = (set: string, database: string, into: string, now?: Date) =>
    restore({
      set,
      database,
      into,
      apply: true,
      connection: {
        host: "127.0.0.1",
        port: server.port,
        user: SUPERUSER,
        password: SUPERUSER_PASSWORD,
      },
      env: { ...process.env, GNUPGHOME: key.home },
      log: () => {},
      now,
    });

  /** A session of the backup role, as the service opens one. */
  const asBackup = (database: string) => connectAs(BACKUP_ROLE, BACKUP_PASSWORD, database);

  const rowsOf = (database: string) =>
    asTenant(
      database,
      async (c) =>
        (await c.query<Segment>(`SELECT id, name, payload, note FROM "Segment" ORDER BY id`)).rows,
    );

  before(async () => {
    server = await startServer(SUPERUSER_PASSWORD);
    admin = await server.admin();
    key = keyPair();
    root = tempDir("platform-backups-");
    // The backup role as components/data/backup.ts declares it.
    await admin.query(
      createRoleSql({
        name: BACKUP_ROLE,
        password: BACKUP_PASSWORD,
        login: true,
        bypassRowLevelSecurity: true,
        connectionLimit: BACKUP_CONNECTION_LIMIT,
      }),
    );
    for (const database of [acme, globex]) await createTenant(database);
    // Temporal's databases (components/data/temporal.ts): PUBLIC revoked, the backup role let in.
    await admin.query(createRoleSql({ name: "temporal", password: TENANT_PASSWORD, login: true }));
    for (const database of ["temporal", "temporal_visibility"]) {
      await admin.query(createDatabaseSql(database, "temporal"));
      await admin.query(revokePublicSql(database));
      await admin.query(`GRANT CONNECT ON DATABASE "${database}" TO "${BACKUP_ROLE}"`);
    }
    installGrants("temporal temporal_visibility");
    // Not the platform's: the naming rule leaves it out.
    await admin.query(createDatabaseSql("unrelated", SUPERUSER));
    for (const database of [acme, globex]) {
      await asTenant(database, async (c) => {
        await c.query(
          `CREATE TABLE "Segment" (id serial PRIMARY KEY, name text NOT NULL, payload jsonb, note text)`,
        );
        await c.query(
          `INSERT INTO "Segment" (name, payload, note) VALUES ($1, $2, $3), ($4, $5, NULL)`,
          [
            `${database} é 🚀`,
            { marker: MARKER, n: 1 },
            `O'Brien\n\t"quoted" ${MARKER}`,
            "second",
            null,
          ],
        );
      });
    }
    base = {
      PGHOST: "127.0.0.1",
      PGPORT: String(server.port),
      PGUSER: BACKUP_ROLE,
      PGPASSWORD: BACKUP_PASSWORD,
      PUBLIC_KEY: key.publicKey,
      MODE: "once",
      DESTINATION: "scheduled",
      DATABASES: "",
      EXTRA_DATABASES: "temporal temporal_visibility",
      CLICKHOUSE_DATABASES: "",
      CLICKHOUSE_HOST: "",
      CLICKHOUSE_PORT: "",
      CLICKHOUSE_USER: "",
      CLICKHOUSE_PASSWORD: "",
      INTERVAL_HOURS: "24",
      RETENTION_DAYS: "14",
      REMOTE: "",
    };
  });

  after(async () => {
    await admin?.end();
    await server?.stop();
  });

  test("pg_dump and pg_restore are the server's major version, as the backup image's are", async () => {
    const major = Number(
      (
        await admin.query<{ server_version_num: string }>("SHOW server_version_num")
      ).rows[0].server_version_num.slice(0, 2),
    );
    for (const tool of ["pg_dump", "pg_restore"]) {
      const version = execFileSync(tool, ["--version"]).toString();
      assert.equal(Number(/(\d+)\.\d+/.exec(version)![1]), major, version);
    }
  });

  test("the backup role reads every tenant's data and may write none", async () => {
    const client = await asBackup(acme);
    try {
      // What each dump first does (see backupGrantsSql).
      await client.query(`SELECT ${BACKUP_GRANTS_SCHEMA}.grant_reads()`);
      assert.equal(
        (await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM "Segment"`)).rows[0].n,
        2,
      );
      for (const sql of [
        `INSERT INTO "Segment" (name) VALUES ('x')`,
        `UPDATE "Segment" SET name = 'x'`,
        `DELETE FROM "Segment"`,
        `CREATE TABLE intruder (id int)`,
        `DROP TABLE "Segment"`,
      ]) {
        await assert.rejects(client.query(sql), (e: { code?: string }) => e.code === "42501", sql);
      }
    } finally {
      await client.end();
    }
  });

  test("the backup role reads no role's password verifier, nor a catalog beyond what it dumps", async () => {
    const client = await asBackup(acme);
    try {
      for (const sql of [
        "SELECT rolpassword FROM pg_authid",
        "SELECT passwd FROM pg_shadow",
        "SELECT umoptions FROM pg_user_mapping",
      ]) {
        await assert.rejects(client.query(sql), (e: { code?: string }) => e.code === "42501", sql);
      }
    } finally {
      await client.end();
    }
  });

  test("what a tenant does in its own database (row-level security, large objects, revokes, a hidden schema, a 1 ms timeout) leaves every set complete, and it restores", async () => {
    const hostile = tenantSqlName("hostile");
    await createTenant(hostile);
    try {
      await asTenant(hostile, async (c) => {
        await c.query(`CREATE TABLE secret (id int PRIMARY KEY, note text)`);
        await c.query(`INSERT INTO secret VALUES (1, 'one'), (2, 'two')`);
        await c.query(`ALTER TABLE secret ENABLE ROW LEVEL SECURITY`);
        await c.query(`ALTER TABLE secret FORCE ROW LEVEL SECURITY`);
        await c.query(`CREATE POLICY nobody ON secret USING (false)`);
        await c.query(`SELECT lo_from_bytea(424242, '\\xdeadbeef'::bytea)`);
        await c.query(`REVOKE ALL ON secret FROM ${BACKUP_ROLE}`);
        await c.query(`CREATE SCHEMA hidden`);
        await c.query(`CREATE TABLE hidden.rows AS SELECT 7 AS n`);
        await c.query(`REVOKE ALL ON SCHEMA hidden FROM ${BACKUP_ROLE}`);
        await c.query(`ALTER DATABASE ${hostile} SET statement_timeout = '1ms'`);
      });
      const dir = tempDir("platform-backups-");
      const result = await runBackup({ BACKUP_ROOT: dir }, base);
      assert.equal(result.code, 0, result.output);
      const [stamp] = setsIn(path.join(dir, "scheduled"));
      const set = path.join(dir, "scheduled", stamp);
      assert.deepEqual(
        filesUnder(path.join(set, "postgres")),
        [acme, globex, hostile, "temporal", "temporal_visibility"].map((d) => `${d}.dump.gpg`),
      );
      // What the tenant had comes back, the platform's grant function too.
      const into = "restored_hostile";
      await restoreInto(set, hostile, into);
      const back = await server.admin(into);
      try {
        await back.query("SET row_security = off");
        assert.deepEqual(
          (await back.query<{ note: string }>("SELECT note FROM secret ORDER BY id")).rows,
          [{ note: "one" }, { note: "two" }],
        );
        assert.equal(
          (await back.query<{ b: string }>("SELECT encode(lo_get(424242), 'hex') AS b")).rows[0].b,
          "deadbeef",
        );
        assert.equal((await back.query<{ n: number }>("SELECT n FROM hidden.rows")).rows[0].n, 7);
        assert.equal(
          (
            await back.query<{ n: number }>(
              "SELECT count(*)::int AS n FROM pg_proc WHERE proname = 'grant_reads'",
            )
          ).rows[0].n,
          1,
        );
      } finally {
        await back.end();
        await admin.query(`DROP DATABASE ${into}`);
      }
    } finally {
      await admin.query(`DROP DATABASE "${hostile}"`);
      await admin.query(`DROP ROLE "${hostile}"`);
    }
  });

  test("a tenant's own search_path and operators never run as the superuser: the grants job and a restore pin theirs", async () => {
    const evil = tenantSqlName("evil");
    await createTenant(evil);
    const isSuper = async () =>
      (
        await admin.query<{ s: boolean }>(`SELECT rolsuper AS s FROM pg_roles WHERE rolname = $1`, [
          evil,
        ])
      ).rows[0].s;
    try {
      // The owner's trap: an `=` of its own first on its database's search_path, which makes
      // whoever runs it a superuser's accomplice.
      await asTenant(evil, (c) =>
        c.query(`CREATE SCHEMA trap;
          CREATE FUNCTION trap.eq(name, name) RETURNS bool LANGUAGE plpgsql AS $f$
            BEGIN EXECUTE 'ALTER ROLE ${evil} SUPERUSER'; RETURN $1 OPERATOR(pg_catalog.=) $2; END $f$;
          CREATE OPERATOR trap.= (LEFTARG = name, RIGHTARG = name, FUNCTION = trap.eq);
          ALTER DATABASE ${evil} SET search_path = trap, pg_catalog`),
      );
      installGrants(evil);
      assert.equal(await isSuper(), false, "the grants job ran the tenant's operator");
      // The superuser's own later sessions there (the provider's) keep pg_catalog first too.
      const session = await server.admin(evil);
      try {
        assert.equal(
          (await session.query<{ p: string }>("SELECT current_setting('search_path') AS p")).rows[0]
            .p,
          "pg_catalog, pg_temp",
        );
      } finally {
        await session.end();
      }
      const dir = tempDir("platform-backups-");
      const set = await runBackup({ BACKUP_ROOT: dir, DATABASES: evil }, base);
      assert.equal(set.code, 0, set.output);
      await restoreInto(
        path.join(dir, "scheduled", setsIn(path.join(dir, "scheduled"))[0]),
        evil,
        evil,
        new Date("2026-01-01T00:00:00Z"),
      );
      assert.equal(await isSuper(), false, "the restore ran the tenant's operator");
    } finally {
      await admin.query(`ALTER ROLE ${evil} NOSUPERUSER`);
      const { rows } = await admin.query<{ d: string }>(
        `SELECT datname AS d FROM pg_database WHERE starts_with(datname, '${evil}')`,
      );
      for (const { d } of rows) await admin.query(`DROP DATABASE "${d}" WITH (FORCE)`);
      await admin.query(`DROP ROLE ${evil}`);
    }
  });

  test("a database its owner dropped and made again with a grant_reads() of its own is not read through it, and says so", async () => {
    const again = tenantSqlName("again");
    await createTenant(again);
    try {
      const elsewhere = await connectAs(again, TENANT_PASSWORD, "postgres");
      await elsewhere.query(`DROP DATABASE ${again} WITH (FORCE)`);
      await elsewhere.query(`CREATE DATABASE ${again}`);
      await elsewhere.end();
      await asTenant(again, (c) =>
        c.query(`CREATE SCHEMA ${BACKUP_GRANTS_SCHEMA};
          GRANT USAGE ON SCHEMA ${BACKUP_GRANTS_SCHEMA} TO PUBLIC;
          CREATE FUNCTION ${BACKUP_GRANTS_SCHEMA}.grant_reads() RETURNS void LANGUAGE plpgsql AS $f$
            BEGIN EXECUTE format('ALTER ROLE %I PASSWORD %L', current_user, 'known-to-the-tenant'); END $f$`),
      );
      const dir = tempDir("platform-backups-");
      const result = await runBackup({ BACKUP_ROOT: dir, DATABASES: `${again} ${acme}` }, base);
      assert.notEqual(result.code, 0);
      assert.match(result.output, /grant_reads\(\) is not the platform's/);
      // The backup role's password is still its own: the next set works.
      const next = await runBackup({ BACKUP_ROOT: dir, DATABASES: acme }, base);
      assert.equal(next.code, 0, next.output);
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${again} WITH (FORCE)`);
      await admin.query(`DROP ROLE ${again}`);
    }
  });

  test("a tenant's open grant on its own table holds up its own dump for a minute at most, and nobody else's", async () => {
    const dir = tempDir("platform-backups-");
    const holder = await connectAs(acme, TENANT_PASSWORD, acme);
    try {
      await holder.query(`BEGIN; GRANT SELECT ON "Segment" TO PUBLIC`);
      const started = Date.now();
      const result = await runBackup({ BACKUP_ROOT: dir, DATABASES: `${acme} ${globex}` }, base);
      assert.ok(Date.now() - started < 90_000, "held up past the lock timeout");
      assert.match(result.output, new RegExp(`FAILED: Postgres database ${acme}`));
      const [stamp] = setsIn(path.join(dir, "scheduled"));
      assert.deepEqual(filesUnder(path.join(dir, "scheduled", stamp, "postgres")), [
        `${globex}.dump.gpg`,
      ]);
    } finally {
      await holder.end();
    }
  });

  test("the grant function's install refuses a schema of its name that a tenant made first", async () => {
    await asTenant(acme, (c) => c.query(`CREATE DATABASE dittofeed_squat`));
    try {
      const squat = await connectAs(acme, TENANT_PASSWORD, "dittofeed_squat");
      await squat.query(`CREATE SCHEMA ${BACKUP_GRANTS_SCHEMA}`);
      await squat.end();
      const run = grantsJob("dittofeed_squat");
      assert.notEqual(run.code, 0);
      assert.match(run.output, /is not the platform's: drop it/);
    } finally {
      await admin.query(`DROP DATABASE dittofeed_squat`);
    }
  });

  test("one set holds every tenant's database and Temporal's, each sealed, found by name", async () => {
    const result = await runBackup({ BACKUP_ROOT: root }, base);
    assert.equal(result.code, 0, result.output);
    const [stamp] = setsIn(path.join(root, "scheduled"));
    assert.ok(stamp, result.output);
    const set = path.join(root, "scheduled", stamp);
    assert.deepEqual(filesUnder(set), [
      "SHA256SUMS",
      `postgres/${acme}.dump.gpg`,
      `postgres/${globex}.dump.gpg`,
      "postgres/temporal.dump.gpg",
      "postgres/temporal_visibility.dump.gpg",
    ]);
    for (const file of filesUnder(set).filter((f) => f.endsWith(".gpg"))) {
      const bytes = fs.readFileSync(path.join(set, file));
      // pg_dump's custom format starts with PGDMP; a sealed file is an OpenPGP message.
      assert.ok(!bytes.includes("PGDMP") && !bytes.includes(MARKER), `${file} is plain`);
      // Without the private key gpg fails to decrypt, but lists the packets it read.
      const packets = spawnSync("gpg", ["--list-packets", "--batch", path.join(set, file)], {
        env: { ...process.env, GNUPGHOME: fs.mkdtempSync(path.join(os.tmpdir(), "gpg-empty-")) },
      }).stdout.toString();
      assert.match(packets, /pubkey enc packet/, file);
    }
    // The checksums are right, as sha256sum -c checks them.
    const check = spawnSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: set });
    assert.equal(check.status, 0, check.stdout.toString());
    assert.match(result.output, /backup: wrote scheduled\/\d{8}T\d{6}Z: 4 databases/);
  });

  test("a table made after the set's grants and before pg_dump reads it is granted again and dumped (seen on a real engine: Temporal's schema job beside the first set)", async () => {
    // pg_dump, with a table made just before it runs, as a migration beside the dump makes one.
    const shims = fs.mkdtempSync(path.join(os.tmpdir(), "pg-dump-race-"));
    fs.writeFileSync(
      path.join(shims, "pg_dump"),
      [
        "#!/bin/sh",
        'if [ ! -e "$RACE_FLAG" ] && [ "${*##*--dbname=}" = temporal ]; then',
        '  touch "$RACE_FLAG"',
        '  PGUSER=postgres PGPASSWORD="$RACE_PASSWORD" psql -X -q -v ON_ERROR_STOP=1 -d temporal -c "CREATE TABLE public.made_during_the_set (id int)" || exit 1',
        "fi",
        'exec /usr/bin/pg_dump "$@"',
      ].join("\n"),
      { mode: 0o755 },
    );
    try {
      const result = await runBackup(
        {
          BACKUP_ROOT: fs.mkdtempSync(path.join(os.tmpdir(), "backups-race-")),
          PATH: `${shims}:/usr/bin:/bin`,
          RACE_FLAG: path.join(shims, "made"),
          RACE_PASSWORD: SUPERUSER_PASSWORD,
        },
        base,
      );
      assert.ok(fs.existsSync(path.join(shims, "made")), "the table was made before a dump");
      assert.equal(result.code, 0, result.output);
      assert.match(result.output, /4 databases/);
    } finally {
      await admin.query("DROP TABLE IF EXISTS public.made_during_the_set");
      const temporal = await server.admin("temporal");
      await temporal.query("DROP TABLE IF EXISTS public.made_during_the_set");
      await temporal.end();
    }
  });

  test("a tenant added later is in the next set with no change to the service", async () => {
    const initech = tenantSqlName("initech");
    await createTenant(initech);
    const dir = tempDir("platform-backups-");
    const result = await runBackup({ BACKUP_ROOT: dir }, base);
    assert.equal(result.code, 0, result.output);
    const set = path.join(dir, "scheduled", setsIn(path.join(dir, "scheduled"))[0]);
    assert.ok(fs.existsSync(path.join(set, "postgres", `${initech}.dump.gpg`)));
    assert.ok(!fs.existsSync(path.join(set, "postgres", "unrelated.dump.gpg")));
    await admin.query(`DROP DATABASE "${initech}"`);
    await admin.query(`DROP ROLE "${initech}"`);
  });

  test("a database that fails to dump costs that database alone: the rest is kept, it is named, the job fails", async () => {
    const dir = tempDir("platform-backups-");
    const missing = await runBackup(
      { BACKUP_ROOT: dir, DATABASES: `${acme} dittofeed_missing ${globex}` },
      base,
    );
    assert.notEqual(missing.code, 0, missing.output);
    assert.match(missing.output, /FAILED: Postgres database dittofeed_missing/);
    assert.match(missing.output, /lacks postgres:dittofeed_missing/);
    const [stamp] = setsIn(path.join(dir, "scheduled"));
    assert.deepEqual(filesUnder(path.join(dir, "scheduled", stamp, "postgres")), [
      `${acme}.dump.gpg`,
      `${globex}.dump.gpg`,
    ]);
    assert.ok(!fs.existsSync(path.join(dir, "status", "last-success")));
    // Nothing dumped at all: nothing is left behind.
    const none = await runBackup({ BACKUP_ROOT: dir, DATABASES: "dittofeed_missing" }, base);
    assert.notEqual(none.code, 0, none.output);
    assert.deepEqual(setsIn(path.join(dir, "scheduled")), [stamp]);
    assert.ok(!fs.readdirSync(path.join(dir, "scheduled")).some((n) => n.endsWith(".partial")));
    // A listing that fails must fail the set, though Temporal's databases, named in config,
    // would still dump: a psql that cannot list stands in for one that cannot connect.
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "platform-bin-"));
    fs.writeFileSync(
      path.join(bin, "psql"),
      "#!/bin/sh\necho 'psql: error: connection refused' >&2\nexit 2\n",
      {
        mode: 0o755,
      },
    );
    const empty = tempDir("platform-backups-");
    const unlisted = await runBackup({ BACKUP_ROOT: empty, PATH: `${bin}:/usr/bin:/bin` }, base);
    assert.notEqual(unlisted.code, 0, unlisted.output);
    assert.match(unlisted.output, /connection refused/);
    assert.ok(
      !fs.existsSync(path.join(empty, "scheduled")) ||
        fs.readdirSync(path.join(empty, "scheduled")).length === 0,
    );
  });

  test("a tenant's lock on its own table fails its own dump only, within the lock wait", async () => {
    const dir = tempDir("platform-backups-");
    const locker = await lockedByTenant(acme);
    try {
      const started = Date.now();
      const result = await runBackup({ BACKUP_ROOT: dir, LOCK_WAIT: "2s" }, base);
      assert.ok(Date.now() - started < 30_000, "the lock did not hold the set up");
      assert.notEqual(result.code, 0, result.output);
      assert.match(result.output, new RegExp(`FAILED: Postgres database ${acme}`));
      const [stamp] = setsIn(path.join(dir, "scheduled"));
      assert.deepEqual(
        filesUnder(path.join(dir, "scheduled", stamp, "postgres")),
        [globex, "temporal", "temporal_visibility"].map((d) => `${d}.dump.gpg`),
      );
    } finally {
      await locker.end();
    }
  });

  test("a database a tenant's role made under the prefix is left out, named, and fails nothing", async () => {
    // Tenant roles may create databases (Dittofeed's bootstrap needs it): one that owns
    // dittofeed_bloat must not get it into every set, nor break the sets with a name or a grant.
    await asTenant(acme, (c) => c.query(`CREATE DATABASE dittofeed_bloat`));
    await asTenant(acme, (c) => c.query(`CREATE DATABASE "dittofeed_Bad-Name"`));
    await admin.query(`REVOKE ALL ON DATABASE dittofeed_bloat FROM PUBLIC`);
    try {
      const dir = tempDir("platform-backups-");
      const result = await runBackup({ BACKUP_ROOT: dir }, base);
      assert.equal(result.code, 0, result.output);
      assert.match(result.output, /leaving out Postgres database dittofeed_bloat: not a tenant's/);
      assert.match(result.output, /leaving out Postgres database dittofeed_Bad-Name/);
      const set = path.join(dir, "scheduled", setsIn(path.join(dir, "scheduled"))[0]);
      assert.deepEqual(
        filesUnder(path.join(set, "postgres")),
        [acme, globex, "temporal", "temporal_visibility"].map((d) => `${d}.dump.gpg`),
      );
    } finally {
      await admin.query(`DROP DATABASE dittofeed_bloat`);
      await admin.query(`DROP DATABASE "dittofeed_Bad-Name"`);
    }
  });

  /** A one-shot set of acme's Postgres database under `destination`, as a tenant's job takes it. */
  const acmeSet = (dir: string, destination: string, env: Record<string, string> = {}) =>
    runBackup(
      {
        BACKUP_ROOT: dir,
        DESTINATION: destination,
        DATABASES: acme,
        CLICKHOUSE_DATABASES: "-",
        ...env,
      },
      base,
    );

  /** Runs the backup service until its log matches `until`, then stops it. */
  function serviceRun(dir: string, tmp: string, until: RegExp, env: Record<string, string> = {}) {
    return new Promise<string>((resolve, reject) => {
      const child = spawn("bash", ["-c", backupScript()], {
        env: {
          PATH: "/usr/bin:/bin",
          ...base,
          MODE: "service",
          BACKUP_ROOT: dir,
          TMPDIR: tmp,
          TICK_SECONDS: "1",
          ...env,
        },
      });
      let output = "";
      const timer = setTimeout(() => {
        child.kill();
        reject(new Error(`the service never logged ${String(until)}: ${output}`));
      }, 60_000);
      const onData = (d: Buffer) => {
        output += d.toString();
        if (until.test(output)) {
          clearTimeout(timer);
          child.kill();
          resolve(output);
        }
      };
      child.stdout.on("data", onData);
      child.stderr.on("data", onData);
    });
  }
  const tempDir = (prefix: string) => fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  /**
   * An off-host remote: rclone's `local` backend standing in for R2's S3, configured from the
   * environment alone, as the service's is (RCLONE_CONFIG_OFFSITE_*, rclone docs/content/docs.md).
   * A broken one has a file where the bucket should be: every copy fails, as in an outage.
   */
  function offsite(home: string, broken = false) {
    const tools = tempDir("platform-tools-");
    fs.symlinkSync("/usr/bin/rclone", path.join(tools, "rclone"));
    const bucket = path.join(tempDir("platform-bucket-"), "bucket");
    if (broken) fs.writeFileSync(bucket, "not a directory");
    const env = {
      TOOLS_ROOT: tools,
      REMOTE: `offsite:${bucket}`,
      RCLONE_CONFIG_OFFSITE_TYPE: "local",
      HOME: home,
    };
    return { bucket, env };
  }

  test("the service backs up when due, logs a failure without counting it, and stays healthy only while sets are recent", async () => {
    const dir = tempDir("platform-backups-");
    const tmp = tempDir("platform-backup-tmp-");
    const healthy = () =>
      spawnSync(backupHealthTest(24)[1], backupHealthTest(24).slice(2), {
        env: { PATH: "/usr/bin:/bin", BACKUP_ROOT: dir, TMPDIR: tmp },
      }).status === 0;

    // As if the service had first started here 1000 s ago and crashed since: a restart must not
    // give the metric's deadline new grace.
    const firstStarted = String(Math.floor(Date.now() / 1000) - 1000);
    fs.mkdirSync(path.join(dir, "status"));
    fs.writeFileSync(path.join(dir, "status", "first-started"), firstStarted);
    // Inside `if`, bash ignores errexit: a failed dump must still fail the run.
    const failed = await serviceRun(dir, tmp, /backup: (wrote|FAILED: no complete set)/, {
      DATABASES: "dittofeed_missing",
    });
    assert.match(failed, /backup: FAILED/);
    assert.ok(!fs.existsSync(path.join(dir, "status", "last-success")), failed);
    assert.deepEqual(fs.readdirSync(path.join(dir, "scheduled")), []);
    assert.ok(healthy(), "a service that just started has its interval for its first set");
    // Before its first set, the metric's deadline counts from the service's first start on
    // its volume, not from this start.
    assert.match(
      fs.readFileSync(path.join(dir, "status", "backup.prom"), "utf8"),
      new RegExp(`^platform_backup_last_success_timestamp_seconds ${firstStarted}$`, "m"),
    );

    fs.rmSync(path.join(dir, "status", "last-attempt"));
    const ok = await serviceRun(dir, tmp, /backup: (next set in|FAILED)/);
    assert.match(ok, /backup: wrote scheduled\//);
    assert.equal(setsIn(path.join(dir, "scheduled")).length, 1);
    assert.ok(healthy(), "a fresh set is healthy");

    // Overdue: the last success a day and the grace ago. A restart of the service (a new start
    // time) must not hide it, or a crash loop would look healthy.
    const overdue = Math.floor(Date.now() / 1000) - 24 * 3600 - BACKUP_GRACE_SECONDS - 60;
    fs.writeFileSync(path.join(dir, "status", "last-success"), String(overdue));
    fs.writeFileSync(path.join(tmp, "backup-started"), String(Math.floor(Date.now() / 1000)));
    assert.ok(!healthy(), "an overdue set is unhealthy, restart or not");
    // A restart keeps the first start: the rewritten file says the same.
    const restarted = await serviceRun(dir, tmp, /backup: every/, {});
    assert.match(restarted, /backup: every/);
    assert.equal(
      fs.readFileSync(path.join(dir, "status", "first-started"), "utf8").trim(),
      firstStarted,
    );
  });

  test("the service names a database it could not dump in its health, and tries that one alone again", async () => {
    const dir = tempDir("platform-backups-");
    const tmp = tempDir("platform-backup-tmp-");
    const health = () => {
      const [cmd, ...rest] = backupHealthTest(24).slice(1);
      const run = spawnSync(cmd, rest, {
        env: { PATH: "/usr/bin:/bin", BACKUP_ROOT: dir, TMPDIR: tmp },
      });
      return { ok: run.status === 0, output: run.stdout.toString() };
    };
    const env = { DATABASES: `${acme} ${globex}`, LOCK_WAIT: "1s", RETRY_SECONDS: "1" };
    const locker = await lockedByTenant(acme);
    try {
      const first = await serviceRun(dir, tmp, /next set in/, env);
      assert.match(first, new RegExp(`the set lacks postgres:${acme}`));
      assert.deepEqual(
        fs.readFileSync(path.join(dir, "status", "failed"), "utf8").trim(),
        `postgres:${acme}`,
      );
      const sick = health();
      assert.ok(!sick.ok, "a database without a dump is unhealthy");
      assert.match(sick.output, new RegExp(`no dump of: postgres:${acme}`));
      // What Prometheus reads (through node_exporter's textfile collector): the database by
      // name, in a file promtool accepts, readable by another user.
      const metrics = path.join(dir, "status", "backup.prom");
      assert.equal(fs.statSync(metrics).mode & 0o777, 0o644);
      assert.equal(fs.statSync(path.join(dir, "status")).mode & 0o777, 0o755);
      const text = fs.readFileSync(metrics, "utf8");
      assert.match(
        text,
        new RegExp(`^platform_backup_missing\\{store="postgres",database="${acme}"\\} 1$`, "m"),
      );
      assert.match(text, /^platform_backup_last_success_timestamp_seconds [1-9]\d{9}$/m);
      const lint = spawnSync("promtool", ["check", "metrics"], { input: text, encoding: "utf8" });
      assert.equal(lint.status, 0, `${lint.stdout}${lint.stderr}`);
    } finally {
      await locker.end();
    }
    // Released: the next try dumps acme alone, and health comes back.
    const retried = await serviceRun(dir, tmp, /every database has a dump again/, env);
    assert.match(retried, /wrote scheduled\/\S+: 1 databases/);
    assert.ok(!fs.existsSync(path.join(dir, "status", "failed")), retried);
    assert.doesNotMatch(
      fs.readFileSync(path.join(dir, "status", "backup.prom"), "utf8"),
      /platform_backup_missing\{/,
    );
    const sets = setsIn(path.join(dir, "scheduled"));
    assert.equal(sets.length, 2);
    assert.deepEqual(filesUnder(path.join(dir, "scheduled", sets[1], "postgres")), [
      `${acme}.dump.gpg`,
    ]);
    assert.ok(health().ok);
  });

  test("a one-shot set never moves the service's schedule or health", async () => {
    const dir = tempDir("platform-backups-");
    const result = await acmeSet(dir, "snapshots/acme");
    assert.equal(result.code, 0, result.output);
    assert.ok(!fs.existsSync(path.join(dir, "status")), "no status written by a snapshot");
  });

  test("a copy off the host that fails is retried alone: no new set meanwhile, healthy only once copied", async () => {
    const dir = tempDir("platform-backups-");
    const tmp = tempDir("platform-backup-tmp-");
    const remote = offsite(tmp, true);
    const bucket = remote.bucket;
    const env = { ...remote.env, RETRY_SECONDS: "2" };
    // What a run killed half-way left behind.
    fs.mkdirSync(path.join(dir, "scheduled", "20200101T000000Z.partial", "postgres"), {
      recursive: true,
    });
    const failing = await serviceRun(dir, tmp, /FAILED: copying[\s\S]*FAILED: copying/, env);
    assert.ok(!fs.existsSync(path.join(dir, "scheduled", "20200101T000000Z.partial")));
    assert.equal(setsIn(path.join(dir, "scheduled")).length, 1, "one set, copied again and again");
    assert.ok(!fs.existsSync(path.join(dir, "status", "last-success")), failing);
    fs.rmSync(bucket);
    // A status file a full disk left empty reads as never: copies go on.
    fs.writeFileSync(path.join(dir, "status", "last-copy-attempt"), "");
    const copied = await serviceRun(dir, tmp, /backup: copied scheduled\//, env);
    assert.match(copied, new RegExp(`copied scheduled/\\d{8}T\\d{6}Z to offsite:${bucket}`));
    assert.ok(fs.existsSync(path.join(dir, "status", "last-success")));
    const [stamp] = setsIn(path.join(dir, "scheduled"));
    assert.deepEqual(
      filesUnder(path.join(bucket, "scheduled", stamp)),
      filesUnder(path.join(dir, "scheduled", stamp)),
    );
  });

  test("pruning keeps recent sets and the newest of each directory, and never exports", async () => {
    const dir = tempDir("platform-backups-");
    const mk = (...parts: string[]) => fs.mkdirSync(path.join(dir, ...parts), { recursive: true });
    mk("scheduled", "20200101T000000Z");
    mk("scheduled", "20200102T000000Z");
    mk("snapshots", "acme", "20200101T000000Z"); // acme's only snapshot: the newest, kept
    mk("snapshots", "globex", "20200101T000000Z");
    mk("snapshots", "globex", "20200105T000000Z");
    mk("exports", "initech", "20200101T000000Z");
    // The last of the prunes this run makes: globex's older snapshot.
    await serviceRun(dir, tempDir("platform-backup-tmp-"), /pruned snapshots\/globex\//);
    const scheduled = setsIn(path.join(dir, "scheduled"));
    assert.equal(scheduled.length, 1, "only this run's set: both old ones are past retention");
    assert.ok(scheduled[0] > "2020");
    assert.deepEqual(setsIn(path.join(dir, "snapshots", "acme")), ["20200101T000000Z"]);
    assert.deepEqual(setsIn(path.join(dir, "snapshots", "globex")), ["20200105T000000Z"]);
    assert.deepEqual(setsIn(path.join(dir, "exports", "initech")), ["20200101T000000Z"]);
  });

  test("a set is copied off the host, sealed, by rclone configured from the environment alone", async () => {
    const dir = tempDir("platform-backups-");
    const { bucket, env } = offsite(dir);
    const result = await runBackup(
      { BACKUP_ROOT: dir, DATABASES: acme, CLICKHOUSE_DATABASES: "-", ...env },
      base,
    );
    assert.equal(result.code, 0, result.output);
    const [stamp] = setsIn(path.join(dir, "scheduled"));
    assert.deepEqual(
      filesUnder(path.join(bucket, "scheduled", stamp)),
      filesUnder(path.join(dir, "scheduled", stamp)),
    );
    assert.match(result.output, new RegExp(`copied scheduled/\\d{8}T\\d{6}Z to offsite:${bucket}`));
  });

  test("a one-shot set whose copy off the host fails fails its job, and stays on the volume", async () => {
    const dir = tempDir("platform-backups-");
    const result = await acmeSet(dir, "exports/acme", offsite(dir, true).env);
    assert.equal(result.code, 1, result.output);
    assert.match(
      result.output,
      /FAILED: copying exports\/acme\/\d{8}T\d{6}Z to offsite:.*the set is on the volume/,
    );
    assert.equal(setsIn(path.join(dir, "exports", "acme")).length, 1);
  });

  test("a tenant's one-shot set holds its database and its SECRET_KEY, sealed, and nothing else", async () => {
    const dir = tempDir("platform-backups-");
    const secretKey = Buffer.alloc(32, 7).toString("base64");
    const result = await acmeSet(dir, "snapshots/acme", { SECRET_KEY: secretKey });
    assert.equal(result.code, 0, result.output);
    const set = path.join(dir, "snapshots", "acme", setsIn(path.join(dir, "snapshots", "acme"))[0]);
    assert.deepEqual(filesUnder(set), [
      "SHA256SUMS",
      `postgres/${acme}.dump.gpg`,
      "secret-key.gpg",
    ]);
    const decrypted = execFileSync(
      "gpg",
      ["--batch", "--quiet", "--decrypt", path.join(set, "secret-key.gpg")],
      {
        env: { ...process.env, GNUPGHOME: key.home },
      },
    ).toString();
    assert.equal(decrypted, secretKey);
  });

  test("offboarding: once the role is locked, its open sessions end and no new one opens", async () => {
    const leaving = tenantSqlName("leaving");
    await createTenant(leaving);
    const session = await connectAs(leaving, TENANT_PASSWORD, leaving);
    session.on("error", () => {});
    // What the postgresql provider runs for `login: false` (resource_postgresql_role.go).
    await admin.query(`ALTER ROLE "${leaving}" NOLOGIN`);
    assert.equal(
      (await session.query("SELECT 1 AS one")).rows.length,
      1,
      "NOLOGIN alone ends nothing",
    );
    const env: EndSessionsEnv = {
      PGHOST: "127.0.0.1",
      PGPORT: String(server.port),
      PGUSER: SUPERUSER,
      PGPASSWORD: SUPERUSER_PASSWORD,
      PGDATABASE: "postgres",
      ROLE: leaving,
    };
    const ended = spawnSync("sh", ["-c", endSessionsScript()], {
      env: { PATH: "/usr/bin:/bin", ...env },
    });
    assert.equal(ended.status, 0, ended.stderr.toString());
    assert.match(ended.stdout.toString(), new RegExp(`Ended 1 session\\(s\\) of ${leaving}`));
    await assert.rejects(session.query("SELECT 1"), "the session was ended");
    await assert.rejects(
      asTenant(leaving, (c) => c.query("SELECT 1")),
      (e: { code?: string }) => e.code === "28000",
    );
  });

  describe("npm run restore", () => {
    let set: string;
    const connection = () => ({
      host: "127.0.0.1",
      port: server.port,
      user: SUPERUSER,
      password: SUPERUSER_PASSWORD,
    });
    const databases = async () =>
      (
        await admin.query<{ datname: string }>("SELECT datname FROM pg_database ORDER BY 1")
      ).rows.map((r) => r.datname);

    before(() => {
      set = path.join(root, "scheduled", setsIn(path.join(root, "scheduled"))[0]);
    });

    test("without --yes it says what it would replace and changes nothing", async () => {
      const before = await databases();
      const lines: string[] = [];
      const result = await restore({
        set,
        database: acme,
        into: acme,
        connection: connection(),
        apply: false,
        env: { ...process.env, GNUPGHOME: key.home },
        log: (l) => lines.push(l),
      });
      assert.equal(result.applied, false);
      assert.match(lines.join("\n"), new RegExp(`Database ${acme} exists .*1 tables.* REPLACED`));
      assert.deepEqual(await databases(), before);
    });

    test("into a new database beside the tenant's: every row round-trips", async () => {
      const into = `${acme}_inspect`;
      const result = await restore({
        set,
        database: acme,
        into,
        connection: connection(),
        apply: true,
        env: { ...process.env, GNUPGHOME: key.home },
        log: () => {},
      });
      assert.deepEqual(result, { applied: true });
      const client = await server.admin(into);
      try {
        const restored = (
          await client.query(`SELECT id, name, payload, note FROM "Segment" ORDER BY id`)
        ).rows;
        assert.deepEqual(restored, await rowsOf(acme));
        // Owned by the tenant's role (its name), closed to PUBLIC, open to the backup role.
        const { rows } = await client.query(
          `SELECT pg_get_userbyid(datdba) AS owner,
                  has_database_privilege('public', datname, 'CONNECT') AS public_connect,
                  has_database_privilege($1, datname, 'CONNECT') AS backup_connect
             FROM pg_database WHERE datname = $2`,
          [BACKUP_ROLE, into],
        );
        assert.deepEqual(rows[0], { owner: acme, public_connect: false, backup_connect: true });
        const tables = await client.query<{ tableowner: string }>(
          `SELECT tableowner FROM pg_tables WHERE tablename = 'Segment'`,
        );
        assert.deepEqual(tables.rows, [{ tableowner: acme }]);
      } finally {
        await client.end();
      }
    });

    test("into another tenant's database: the data becomes that tenant's, which can read it", async () => {
      // A customer brought back under a new id: its new database, as `pulumi up` makes it.
      const newco = tenantSqlName("newco");
      await createTenant(newco);
      await restore({
        set,
        database: acme,
        into: newco,
        connection: connection(),
        apply: true,
        env: { ...process.env, GNUPGHOME: key.home },
        log: () => {},
      });
      assert.deepEqual(await rowsOf(newco), await rowsOf(acme));
      const owners = await asTenant(newco, (c) =>
        c.query<{ tableowner: string }>(
          `SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'`,
        ),
      );
      assert.deepEqual(owners.rows, [{ tableowner: newco }]);
    });

    test("over the tenant's own database after a bad migration: the backup's rows, the damaged one kept", async () => {
      const good = await rowsOf(acme);
      // A bad migration: a column dropped, rows rewritten.
      await asTenant(acme, async (c) => {
        await c.query(`ALTER TABLE "Segment" DROP COLUMN note`);
        await c.query(`UPDATE "Segment" SET name = 'broken'`);
      });
      const result = await restore({
        set,
        database: acme,
        into: acme,
        connection: connection(),
        apply: true,
        env: { ...process.env, GNUPGHOME: key.home },
        log: () => {},
        now: new Date("2026-11-27T06:17:00Z"),
      });
      assert.deepEqual(result, { applied: true, keptAs: `${acme}_before_20261127T0617` });
      assert.deepEqual(await rowsOf(acme), good);
      const kept = await server.admin(result.keptAs);
      try {
        // The superuser's search_path in a tenant's database is pinned to pg_catalog.
        const names = (
          await kept.query<{ name: string }>(`SELECT name FROM public."Segment"`)
        ).rows.map((r) => r.name);
        assert.deepEqual(names, ["broken", "broken"]);
      } finally {
        await kept.end();
      }
      assert.ok(!(await databases()).includes(`${acme}_restoring`));
    });

    test("a damaged file is refused before anything is touched", async () => {
      const copy = fs.mkdtempSync(path.join(os.tmpdir(), "platform-set-"));
      fs.cpSync(set, copy, { recursive: true });
      const file = path.join(copy, "postgres", `${globex}.dump.gpg`);
      const bytes = fs.readFileSync(file);
      bytes[bytes.length - 1] ^= 0xff;
      fs.writeFileSync(file, bytes);
      const before = await databases();
      await assert.rejects(
        restore({
          set: copy,
          database: globex,
          into: globex,
          connection: connection(),
          apply: true,
          env: { ...process.env, GNUPGHOME: key.home },
          log: () => {},
        }),
        /does not match its checksum/,
      );
      assert.deepEqual(await databases(), before);
    });

    test("whole host: every database of a set into an empty server, Temporal's with their owner", async () => {
      const fresh = await startServer(SUPERUSER_PASSWORD);
      const freshAdmin = await fresh.admin();
      try {
        // What `pulumi up` on a new host creates before any restore: roles and empty databases.
        for (const role of [acme, globex, "temporal", BACKUP_ROLE]) {
          await freshAdmin.query(
            createRoleSql({ name: role, password: TENANT_PASSWORD, login: true }),
          );
        }
        for (const [database, owner] of [
          [acme, acme],
          [globex, globex],
          ["temporal", "temporal"],
          ["temporal_visibility", "temporal"],
        ]) {
          await freshAdmin.query(createDatabaseSql(database, owner));
          await freshAdmin.query(revokePublicSql(database));
        }
        for (const database of [acme, globex, "temporal", "temporal_visibility"]) {
          await restore({
            set,
            database,
            into: database,
            connection: { ...connection(), port: fresh.port },
            apply: true,
            env: { ...process.env, GNUPGHOME: key.home },
            log: () => {},
          });
        }
        const owners = (
          await freshAdmin.query(
            "SELECT datname, pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname NOT LIKE '%\\_before\\_%' AND datname NOT IN ('postgres','template0','template1') ORDER BY 1",
          )
        ).rows;
        assert.deepEqual(owners, [
          { datname: acme, owner: acme },
          { datname: globex, owner: globex },
          { datname: "temporal", owner: "temporal" },
          { datname: "temporal_visibility", owner: "temporal" },
        ]);
        const client = await fresh.admin(globex);
        try {
          const rows = (
            await client.query(`SELECT id, name, payload, note FROM "Segment" ORDER BY id`)
          ).rows;
          assert.deepEqual(rows, await rowsOf(globex));
        } finally {
          await client.end();
        }
      } finally {
        await freshAdmin.end();
        await fresh.stop();
      }
    });
  });

  test("any row a tenant can write comes back from a set byte for byte", async () => {
    const database = tenantSqlName("props");
    await createTenant(database);
    await asTenant(database, (c) =>
      c.query(`CREATE TABLE "Event" (id serial PRIMARY KEY, body text, data jsonb, raw bytea)`),
    );
    const text = fc.string({ unit: "grapheme", maxLength: 40 }).map((s) => s.replace(/\0/g, ""));
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({ body: text, n: fc.integer(), raw: fc.uint8Array({ maxLength: 32 }) }),
          {
            maxLength: 8,
          },
        ),
        async (events) => {
          await asTenant(database, async (c) => {
            await c.query(`TRUNCATE "Event"`);
            for (const e of events) {
              await c.query(`INSERT INTO "Event" (body, data, raw) VALUES ($1, $2, $3)`, [
                e.body,
                { body: e.body, n: e.n },
                Buffer.from(e.raw),
              ]);
            }
          });
          const dir = tempDir("platform-backups-");
          const result = await runBackup(
            {
              BACKUP_ROOT: dir,
              DESTINATION: "snapshots/props",
              DATABASES: database,
              CLICKHOUSE_DATABASES: "-",
            },
            base,
          );
          assert.equal(result.code, 0, result.output);
          const set = path.join(
            dir,
            "snapshots",
            "props",
            setsIn(path.join(dir, "snapshots", "props"))[0],
          );
          const into = `${database}_check`;
          await admin.query(`DROP DATABASE IF EXISTS "${into}"`);
          await restore({
            set,
            database,
            into,
            connection: {
              host: "127.0.0.1",
              port: server.port,
              user: SUPERUSER,
              password: SUPERUSER_PASSWORD,
            },
            apply: true,
            env: { ...process.env, GNUPGHOME: key.home },
            log: () => {},
          });
          const read = async (db: string) => {
            const client = await server.admin(db);
            try {
              return (
                await client.query<Record<string, unknown>>(
                  `SELECT id, body, data, raw FROM public."Event" ORDER BY id`,
                )
              ).rows;
            } finally {
              await client.end();
            }
          };
          assert.deepEqual(await read(into), await read(database));
        },
      ),
      { numRuns: 8 },
    );
  });
});
