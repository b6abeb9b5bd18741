/**
 * Postgres as plain data: the script that rotates the superuser's password. The official image
 * reads `POSTGRES_PASSWORD` only when it initialises an empty data directory
 * (docker-library/postgres, docker-entrypoint.sh), so a new password in config changes nothing
 * on a running server, and the postgresql provider, which then logs in with the new one, would be
 * locked out.
 */

/**
 * Connections one Dittofeed process opens to Postgres at most: one `pg` Pool with node-postgres's
 * default `max` of 10 (dittofeed v0.23.0, packages/backend-lib/src/db.ts: `new Pool({
 * connectionString })`).
 */
export const DATABASE_POOL_SIZE = 10;

/**
 * The connections a tenant's role may hold unless config says otherwise: a full pool for each
 * process that may run at once. On Docker: api, dashboard, each worker and one job. On
 * Kubernetes api and dashboard each surge to a second pod while they roll, besides one job.
 */
export function defaultTenantConnections(
  runtime: "docker" | "kubernetes",
  workerReplicas: number,
): number {
  const serving = runtime === "docker" ? 2 : 2 * 2;
  return DATABASE_POOL_SIZE * (serving + workerReplicas + 1);
}

/**
 * What the backup role may hold at once: the service's one connection at a time and the
 * tenants' one-shot snapshots and exports, which wait their turn (see components/data/backupScripts.ts).
 */
export const BACKUP_CONNECTION_LIMIT = 8;

/**
 * Connections kept for the superuser beyond every login role's limit: PostgreSQL's own
 * `superuser_reserved_connections` (3, within `max_connections`: PostgreSQL 15,
 * doc/src/sgml/config.sgml), the postgresql provider's pool at its default
 * (terraform-provider-postgresql, postgresql/provider.go: `defaultProviderMaxOpenConnections =
 * 20`; left as it is, since a changed provider input could have the engine replace the provider
 * and, with it, every role and database it manages) and the platform's superuser jobs (owner
 * checks, a rotation, offboarding's session ends), which run a few at a time.
 */
const ADMIN_PROVIDER_CONNECTIONS = 20;
export const SUPERUSER_HEADROOM = 3 + ADMIN_PROVIDER_CONNECTIONS + 16;

/** The server's default `max_connections` when config names none (PostgreSQL's own is 100). */
export const DEFAULT_MAX_CONNECTIONS = 300;

/**
 * The server's command: the official image's entrypoint runs `postgres` with the settings given
 * after it once the data directory is ready (docker-library/postgres, docker-entrypoint.sh).
 */
export function postgresCommand(maxConnections: number): string[] {
  return ["postgres", "-c", `max_connections=${maxConnections}`];
}

/** Every login role's limit, by what it is, for the budget of one server. */
export interface ConnectionBudget {
  /** Each tenant that may log in, and its role's limit. */
  tenants: readonly { id: string; limit: number }[];
  temporal: number;
  backup: number;
}

/** The connections the roles may hold at once, with the superuser's headroom. */
export function connectionsNeeded(budget: ConnectionBudget): number {
  const tenants = budget.tenants.reduce((sum, t) => sum + t.limit, 0);
  return tenants + budget.temporal + budget.backup + SUPERUSER_HEADROOM;
}

/**
 * Why `maxConnections` cannot hold every role's limit at once, with the numbers; undefined when
 * it can. Without it one tenant's pools, or all of them together, take the connections Temporal
 * and the platform's jobs need, and those fail with "sorry, too many clients already".
 */
export function connectionBudgetProblem(
  budget: ConnectionBudget,
  maxConnections: number,
): string | undefined {
  const needed = connectionsNeeded(budget);
  if (needed <= maxConnections) return undefined;
  const tenants = budget.tenants.reduce((sum, t) => sum + t.limit, 0);
  return (
    `is ${maxConnections}, but the login roles may hold ${needed} connections at once: ` +
    `tenants ${tenants} (${budget.tenants.map((t) => `${t.id} ${t.limit}`).join(", ")}), ` +
    `Temporal ${budget.temporal}, backups ${budget.backup}, and ${SUPERUSER_HEADROOM} kept for the superuser. ` +
    `Raise platform:postgres.maxConnections to at least ${needed} (Postgres restarts), or lower tenants' postgresConnectionLimit`
  );
}

/**
 * A superuser's session in a database a tenant owns must not take the owner's settings: the
 * owner may `ALTER DATABASE ... SET search_path` to a schema of its own, whose functions and
 * operators (an `=`) would then run as the superuser. Settings given at connection (libpq's
 * `PGOPTIONS`) override the database's, and a timeout keeps a lock a tenant holds from stalling.
 */
export const SUPERUSER_SESSION = "-c search_path=pg_catalog,pg_temp -c lock_timeout=60s";

/** libpq's variables, which name the server a script's `psql` reaches, as whom. */
export interface LibpqEnv {
  PGHOST: string;
  PGPORT: string;
  PGUSER: string;
  PGPASSWORD: string;
}

/** The environment the rotation script reads; the libpq variables name the server. */
export interface RotationEnv {
  PGHOST: string;
  PGPORT: string;
  PGUSER: string;
  PGDATABASE: string;
  OLD_PASSWORD: string;
  NEW_PASSWORD: string;
}

/**
 * Logs in with the new password and stops if that works (already rotated, or a fresh server
 * initialised with it); otherwise logs in with the old one and sets the new. No password is on
 * a command line: libpq reads `PGPASSWORD`, and psql's `\getenv` (psql 15) takes the new one from
 * the environment into a variable that `:'...'` quotes as a literal.
 */
export function rotateSuperuserScript(): string {
  return [
    "set -u",
    'if PGPASSWORD="$NEW_PASSWORD" psql -X -tAc "SELECT 1" >/dev/null 2>&1; then',
    '  echo "The superuser already has the new password"',
    "  exit 0",
    "fi",
    "printf '%s\\n' '\\getenv new_password NEW_PASSWORD' \"ALTER ROLE CURRENT_USER PASSWORD :'new_password';\" |",
    '  PGPASSWORD="$OLD_PASSWORD" psql -X -q -v ON_ERROR_STOP=1 || exit 1',
    'echo "The superuser\'s password is rotated"',
  ].join("\n");
}

/**
 * Refuses to let a Postgres image open a data directory of another major version: the server
 * would refuse to start ("database files are incompatible with server") and every tenant would be
 * down until the image is put back. Run in the new image with the volume mounted at `dataDir`,
 * before the server container is replaced. The official image names its major in `PG_MAJOR`
 * (docker-library/postgres, 15/bookworm/Dockerfile); `postgres -V` answers for any other.
 * `PG_VERSION` holds the major of the cluster in a data directory (PostgreSQL's initdb writes it).
 */
export function versionCheckScript(dataDir: string): string {
  return [
    "set -eu",
    `if [ ! -f ${dataDir}/PG_VERSION ]; then`,
    '  echo "The data volume is empty: the new server initialises it"',
    "  exit 0",
    "fi",
    `found=$(cat ${dataDir}/PG_VERSION)`,
    "image=${PG_MAJOR:-$(postgres -V | awk '{print $3}' | cut -d . -f 1)}",
    'if [ "$found" != "$image" ]; then',
    '  echo "The data volume holds a PostgreSQL $found cluster, which PostgreSQL $image cannot open. Set platform:postgres.image back to a $found.x image, or upgrade the data first (pg_upgrade, or a dump restored into a new volume)."',
    "  exit 1",
    "fi",
    'echo "The data volume holds PostgreSQL $found, as the image"',
  ].join("\n");
}

/** The environment the owner check reads; the libpq variables name the server and superuser. */
export interface OwnerCheckEnv extends LibpqEnv {
  PGDATABASE: string;
  /** The tenant's database, and the role that must own it if it exists. */
  DATABASE: string;
  OWNER: string;
}

/**
 * Refuses a tenant's database that exists already under another owner. Tenant roles may create
 * databases (Dittofeed's bootstrap needs CREATEDB), so any tenant can create `dittofeed_<id>` of a
 * tenant not added yet and read whatever that tenant later writes there. Run before the tenant's
 * role and database are created: nothing of the tenant's data is created over a squatted name.
 */
export function ownerCheckScript(): string {
  return [
    "set -u",
    "owner=$(printf '%s\\n' \"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :'database';\" |",
    '  psql -X -tA -v ON_ERROR_STOP=1 -v database="$DATABASE") || exit 1',
    'if [ -z "$owner" ]; then echo "No database $DATABASE yet: it is created for its tenant"; exit 0; fi',
    'if [ "$owner" = "$OWNER" ]; then echo "$DATABASE exists and is $OWNER\'s"; exit 0; fi',
    'echo "Database $DATABASE already exists, owned by role $owner, not by this tenant\'s role $OWNER: another tenant (every tenant role may create databases) or someone else created it before this tenant was added, and could read what the tenant writes there. Inspect it, drop it (DROP DATABASE $DATABASE), then run pulumi up again."',
    "exit 1",
  ].join("\n");
}

/** The environment the session-ending script reads; the libpq variables name the server and superuser. */
export interface EndSessionsEnv extends LibpqEnv {
  PGDATABASE: string;
  /** The role whose sessions end (it can no longer log in: NOLOGIN applies to new sessions only). */
  ROLE: string;
}

/**
 * Ends every session of a role that was just locked (NOLOGIN), so that nothing of the tenant
 * writes after it: its final export then holds its last data. The role's name goes in as a psql
 * variable, quoted as a literal by `:'role'` (psql 15), never into the SQL text.
 */
export function endSessionsScript(): string {
  return [
    "set -u",
    "ended=$(printf '%s\\n' \"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = :'role';\" |",
    '  psql -X -tA -v ON_ERROR_STOP=1 -v role="$ROLE") || exit 1',
    'echo "Ended $ended session(s) of $ROLE"',
  ].join("\n");
}
