/**
 * Restores one database of a backup set (see components/data/backupScripts.ts) into the stack's Postgres, from the
 * machine that holds the backups' private key: the host never can, as it has only the public half.
 *
 * It never writes into a live database. It restores into a new one, `<into>_restoring`, and only
 * when that succeeded swaps names: an existing `<into>` is kept, renamed to
 * `<into>_before_<when>`, until the operator drops it. Without `apply` it only says what it
 * would do. `pg_restore` must be the server's major version (15), as `pg_dump` was.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import pg from "pg";
import { BACKUP_ROLE, backupGrantsSql } from "../../components/data/backupScripts";
import { SUPERUSER_SESSION } from "../../components/data/postgresServer";

/** Postgres's longest identifier (NAMEDATALEN - 1). */
const MAX_IDENTIFIER = 63;

export interface Connection {
  host: string;
  port: number;
  /** A superuser: it creates, renames and drops databases. */
  user: string;
  password: string;
}

export interface RestoreRequest {
  /** A backup set's directory, as the backup service wrote it (`.../20261127T061700Z`). */
  set: string;
  /** The database of the set to restore, e.g. `dittofeed_acme` or `temporal`. */
  database: string;
  /** Where to: the same name replaces it (the old one is kept), another one is created beside it. */
  into: string;
  connection: Connection;
  /** Do it; otherwise only say what would happen. */
  apply: boolean;
  /** The environment `gpg` runs in (its `GNUPGHOME`, agent). @default this process's */
  env?: NodeJS.ProcessEnv;
  /** Where each line of the account goes. */
  log: (line: string) => void;
  /** The moment that names a replaced database. @default now */
  now?: Date;
}

export interface RestoreResult {
  applied: boolean;
  /** The name the replaced database was kept under, when one was replaced. */
  keptAs?: string;
}

export class RestoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "RestoreError";
  }
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** The dump of `database` in `set`, checked against the set's checksums. */
function dumpFile(set: string, database: string): string {
  const relative = `./postgres/${database}.dump.gpg`;
  const file = path.join(set, relative);
  if (!fs.existsSync(file)) {
    const dir = path.join(set, "postgres");
    const present = fs.existsSync(dir)
      ? fs.readdirSync(dir).map((f) => f.replace(/\.dump\.gpg$/, ""))
      : [];
    throw new RestoreError(
      `The set ${set} has no dump of database ${database}` +
        (present.length ? `; it has: ${present.join(", ")}` : ": it is not a backup set"),
    );
  }
  const sums = path.join(set, "SHA256SUMS");
  const line = fs.existsSync(sums)
    ? fs
        .readFileSync(sums, "utf8")
        .split("\n")
        .find((l) => l.endsWith(`  ${relative}`))
    : undefined;
  if (line === undefined) {
    throw new RestoreError(`${sums} lists no checksum for ${relative}: the set is incomplete`);
  }
  const actual = createHash("sha256").update(fs.readFileSync(file)).digest("hex");
  if (line.split(" ")[0] !== actual) {
    throw new RestoreError(`${file} does not match its checksum in SHA256SUMS: it is damaged`);
  }
  return file;
}

interface Target {
  exists: boolean;
  owner?: string;
  tables?: number;
  rows?: number;
  bytes?: number;
}

/**
 * A superuser's session on `database`. A database's owner may give it settings that would fail
 * the restore's own queries (a 1 ms statement timeout) or run the owner's code as the superuser
 * (a `search_path` to a schema of its own): those given at connection win (see
 * `SUPERUSER_SESSION`).
 */
function session(connection: Connection, database: string): pg.Client {
  return new pg.Client({ ...connection, database, options: SESSION_OPTIONS });
}
const SESSION_OPTIONS = `-c statement_timeout=0 ${SUPERUSER_SESSION}`;

async function describe(admin: pg.Client, connection: Connection, name: string): Promise<Target> {
  const found = await admin.query<{ owner: string; bytes: string }>(
    "SELECT pg_get_userbyid(datdba) AS owner, pg_database_size(datname)::text AS bytes FROM pg_database WHERE datname = $1",
    [name],
  );
  if (found.rowCount === 0) return { exists: false };
  const client = session(connection, name);
  await client.connect();
  try {
    const { rows } = await client.query<{ tables: string; rows: string }>(
      "SELECT count(*)::text AS tables, coalesce(sum(n_live_tup), 0)::text AS rows FROM pg_stat_user_tables",
    );
    return {
      exists: true,
      owner: found.rows[0].owner,
      bytes: Number(found.rows[0].bytes),
      tables: Number(rows[0].tables),
      rows: Number(rows[0].rows),
    };
  } finally {
    await client.end();
  }
}

async function roleExists(admin: pg.Client, role: string): Promise<boolean> {
  const { rowCount } = await admin.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [role]);
  return (rowCount ?? 0) > 0;
}

/** `20261127T0617`: the minute a replaced database was set aside. */
function minuteStamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, "").slice(0, 13);
}

export async function restore(request: RestoreRequest): Promise<RestoreResult> {
  const { set, database, into, connection, log } = request;
  for (const [what, name] of Object.entries({ database, into })) {
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) {
      throw new RestoreError(
        `--${what === "into" ? "into" : "database"} ${JSON.stringify(name)} is not a plain database name`,
      );
    }
  }
  const file = dumpFile(set, database);
  const staging = `${into}_restoring`;
  const keptAs = `${into}_before_${minuteStamp(request.now ?? new Date())}`;
  if (keptAs.length > MAX_IDENTIFIER) {
    throw new RestoreError(
      `${keptAs} would be longer than Postgres's ${MAX_IDENTIFIER} characters: restore --into a shorter name`,
    );
  }

  const admin = session(connection, "postgres");
  await admin.connect();
  try {
    const target = await describe(admin, connection, into);
    log(
      `Backup set ${path.basename(path.resolve(set))}: ${path.relative(set, file)} (${fs.statSync(file).size} bytes, encrypted)`,
    );
    if (target.exists) {
      log(
        `Database ${into} exists (owner ${target.owner}, ${target.tables} tables, about ${target.rows} rows, ${target.bytes} bytes). ` +
          `It will be REPLACED by the backup's ${database}: renamed to ${keptAs} and kept, and every open connection to it closed. ` +
          `Stop whatever writes to it first (for a tenant: its api, dashboard and worker containers).`,
      );
    } else {
      log(`Database ${into} does not exist: it will be created from the backup's ${database}.`);
    }
    if (!request.apply) {
      log("Nothing changed. Run again with --yes to restore.");
      return { applied: false };
    }

    // The owner of what it replaces; beside a database, that database's owner (a tenant's role).
    const owner =
      target.owner ?? (await describe(admin, connection, database)).owner ?? connection.user;
    const scratch = fs.mkdtempSync(path.join(os.tmpdir(), "platform-restore-"));
    const plain = path.join(scratch, `${database}.dump`);
    try {
      // The operator's gpg and keyring decrypt; the plain dump lives only in a private temp dir.
      execFileSync("gpg", ["--quiet", "--yes", "--decrypt", "--output", plain, file], {
        env: request.env ?? process.env,
        stdio: ["inherit", "inherit", "pipe"],
      });
      fs.chmodSync(plain, 0o600);
      await admin.query(`DROP DATABASE IF EXISTS ${quote(staging)}`);
      await admin.query(
        `CREATE DATABASE ${quote(staging)} OWNER ${quote(owner)} TEMPLATE template0 ENCODING 'UTF8'`,
      );
      // As the platform declares every database it makes: no CONNECT for PUBLIC, CONNECT for
      // the backup role. The same privileges the provider's grants read back: no drift.
      await admin.query(`REVOKE ALL PRIVILEGES ON DATABASE ${quote(staging)} FROM PUBLIC`);
      if (await roleExists(admin, BACKUP_ROLE)) {
        await admin.query(`GRANT CONNECT ON DATABASE ${quote(staging)} TO ${quote(BACKUP_ROLE)}`);
      }
      // Under another name it becomes another database's (a new tenant's, say): everything in
      // it is then owned by that database's owner, not by the role it was dumped from.
      const ownership = into === database ? [] : ["--no-owner", `--role=${owner}`];
      execFileSync(
        "pg_restore",
        [
          "--exit-on-error",
          "--single-transaction",
          "--no-password",
          ...ownership,
          "--dbname",
          staging,
          plain,
        ],
        {
          env: {
            ...process.env,
            PGHOST: connection.host,
            PGPORT: String(connection.port),
            PGUSER: connection.user,
            PGPASSWORD: connection.password,
            PGOPTIONS: SESSION_OPTIONS,
          },
          stdio: ["ignore", "inherit", "pipe"],
        },
      );
      // The dumps leave out the platform's grant function: what the backups of this database
      // need comes back as `pulumi up` installs it.
      if (await roleExists(admin, BACKUP_ROLE)) {
        const restored = session(connection, staging);
        await restored.connect();
        try {
          await restored.query(backupGrantsSql());
        } finally {
          await restored.end();
        }
      }
    } catch (error) {
      const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
      throw new RestoreError(
        `Restoring ${database} failed; ${into} is untouched${stderr ? `:\n${stderr}` : ` (${(error as Error).message})`}`,
      );
    } finally {
      fs.rmSync(scratch, { recursive: true, force: true });
    }

    if (target.exists) {
      // No new session may open while the names change; the kept copy opens again afterwards.
      await admin.query(`ALTER DATABASE ${quote(into)} ALLOW_CONNECTIONS false`);
      await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        [into],
      );
      await admin.query(`ALTER DATABASE ${quote(into)} RENAME TO ${quote(keptAs)}`);
      await admin.query(`ALTER DATABASE ${quote(keptAs)} ALLOW_CONNECTIONS true`);
    }
    await admin.query(`ALTER DATABASE ${quote(staging)} RENAME TO ${quote(into)}`);
    const restored = await describe(admin, connection, into);
    log(
      `Restored ${database} into ${into}: ${restored.tables} tables.` +
        (target.exists ? ` The database it replaced is ${keptAs}; drop it once you are sure.` : ""),
    );
    return target.exists ? { applied: true, keptAs } : { applied: true };
  } finally {
    await admin.end();
  }
}
