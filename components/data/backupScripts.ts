/**
 * Backups as plain data: the bash script that dumps, encrypts, uploads and prunes, in the stack's
 * Postgres image, and the health check that says whether the last backup is recent enough.
 *
 * What the script relies on, in `postgres:15` (docker-library/postgres, 15/bookworm/Dockerfile):
 * bash, `pg_dump` of the server's own major version, and `gnupg`, which that Dockerfile installs
 * and keeps. Two static binaries come from their own official images, copied once into a tools
 * volume (see components/data/backup.ts): `clickhouse` (the server's own version, so its client
 * speaks the server's native protocol) and `rclone` (only with an off-host copy).
 *
 * A backup set is a directory named after its UTC start, `20261127T061700Z`, holding one file per
 * database, each encrypted on its way to disk, so no plain dump is ever written:
 * - `postgres/<database>.dump.gpg`: `pg_dump --format=custom`, which `pg_restore` reads;
 * - `clickhouse/<database>/tables.sql.gpg`: the CREATE statement of each table that stores rows;
 * - `clickhouse/<database>/<table>.native.gpg`: each such table's rows in ClickHouse's Native format;
 * - `clickhouse/<database>/views.sql.gpg`: the CREATE statement of each view, to run after the rows;
 * - `secret-key.gpg`: in a tenant's snapshot or export, its `SECRET_KEY`, which decrypts the
 *   provider credentials stored in its database;
 * - `SHA256SUMS`: the checksum of every file above (names only, no data).
 * A set being written is `<stamp>.partial` and becomes `<stamp>` only once complete.
 */

import { LibpqEnv, SUPERUSER_SESSION } from "./postgresServer";

/** Where the backup volume is mounted, in the service and in every one-shot backup job. */
export const BACKUP_ROOT = "/backups";
/** Where the tools volume (`clickhouse`, `rclone`) is mounted, read-only. */
export const TOOLS_ROOT = "/tools";
/** The rclone remote the script's environment defines (`RCLONE_CONFIG_OFFSITE_*`). */
export const REMOTE_NAME = "offsite";
/** How long after a backup was due it may still be running before the service reports unhealthy. */
export const BACKUP_GRACE_SECONDS = 2 * 3600;
/** A failed backup is tried again after this long, not at every tick. */
export const RETRY_SECONDS = 15 * 60;
/**
 * How long `pg_dump` waits for its shared locks before that database's dump fails: a tenant that
 * holds a lock on its own table must not stall every database after its own (PostgreSQL 15,
 * doc/src/sgml/ref/pg_dump.sgml, `--lock-wait-timeout`, in `statement_timeout`'s format).
 */
export const LOCK_WAIT = "300s";

/** The role the backup service and the one-shot sets log in as. */
export const BACKUP_ROLE = "platform_backup";

/**
 * The schema, in every database the backups read, that holds `grant_reads()`: owned by the
 * superuser, left out of every dump.
 */
export const BACKUP_GRANTS_SCHEMA = "platform_backup_grants";

/**
 * What the backup role may read, and why it is given so. `pg_dump` reads every table, sequence
 * and large object (PostgreSQL 15, doc/src/sgml/ref/pg_dump.sgml), and fails outright where it
 * may not: a table with row-level security ("query would be affected by row-level security
 * policy"), a large object ("permission denied for large object"). `pg_read_all_data` covers
 * neither, and also reads `pg_authid`, every role's password verifier (src/backend/catalog/
 * aclchk.c grants it SELECT on every relation, catalogs included, and no REVOKE takes that
 * away). Grants the owner could revoke, tenants being owners of their databases, break the dumps
 * at will. So the role has `BYPASSRLS` for row-level security, and in each database a function
 * owned by the superuser, `grant_reads()`, which the backup calls before each dump: it grants the
 * role USAGE on every schema and SELECT on every table, sequence and large object there, so what
 * the owner revoked meanwhile is granted again. Its `search_path` is pinned: a database's own
 * setting could otherwise run the owner's functions as the superuser. It grants reading only:
 * the role writes nothing and reads no catalog that `pg_read_all_data` would add. The install
 * refuses a schema of that name that someone else owns.
 */
export function backupGrantsSql(): string {
  const schema = BACKUP_GRANTS_SCHEMA;
  return `DO $check$ BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = '${schema}' AND nspowner <> (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)) THEN
    RAISE EXCEPTION 'schema ${schema} in database % is not the platform''s: drop it, then run pulumi up again', current_database();
  END IF;
END $check$;
CREATE SCHEMA IF NOT EXISTS ${schema};
REVOKE ALL ON SCHEMA ${schema} FROM PUBLIC;
GRANT USAGE ON SCHEMA ${schema} TO ${BACKUP_ROLE};
CREATE OR REPLACE FUNCTION ${schema}.grant_reads() RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $body$
DECLARE
  s name;
  lo oid;
BEGIN
  FOR s IN SELECT nspname FROM pg_namespace
    WHERE nspname <> 'information_schema' AND nspname <> '${schema}' AND nspname !~ '^pg_' LOOP
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO ${BACKUP_ROLE}', s);
    EXECUTE format('GRANT SELECT ON ALL TABLES IN SCHEMA %I TO ${BACKUP_ROLE}', s);
    EXECUTE format('GRANT SELECT ON ALL SEQUENCES IN SCHEMA %I TO ${BACKUP_ROLE}', s);
  END LOOP;
  FOR lo IN SELECT oid FROM pg_largeobject_metadata LOOP
    EXECUTE format('GRANT SELECT ON LARGE OBJECT %s TO ${BACKUP_ROLE}', lo);
  END LOOP;
END
$body$;
REVOKE ALL ON FUNCTION ${schema}.grant_reads() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ${schema}.grant_reads() TO ${BACKUP_ROLE};
`;
}

/** The environment of the script that installs `grant_reads()`; libpq's variables name the superuser. */
export interface BackupGrantsEnv extends LibpqEnv {
  /** The databases to install it in, space-separated. */
  DATABASES: string;
}

/**
 * Installs `backupGrantsSql` in each of `DATABASES`, and pins the superuser's own `search_path`
 * there for every later session (a role's setting in a database outranks the database's:
 * PostgreSQL 15, doc/src/sgml/ref/alter_role.sgml), the postgresql provider's included. Running it
 * again changes nothing.
 */
export function backupGrantsScript(): string {
  return [
    "set -e",
    `export PGOPTIONS="${SUPERUSER_SESSION}"`,
    "for db in $DATABASES; do",
    '  psql -X -q -v ON_ERROR_STOP=1 -v db="$db" -d "$db" <<\'BACKUP_GRANTS_END\'',
    'ALTER ROLE CURRENT_USER IN DATABASE :"db" SET search_path = pg_catalog, pg_temp;',
    backupGrantsSql().trimEnd(),
    "BACKUP_GRANTS_END",
    '  echo "The backup role may read $db"',
    "done",
  ].join("\n");
}

/** The prefix of every tenant's database, in Postgres and in ClickHouse (see `tenantSqlName`). */
export const TENANT_DATABASE_PREFIX = "dittofeed_";

/** Where each kind of backup set goes under the backup volume. */
export const BACKUP_KINDS = {
  /** The service's scheduled sets: every tenant, and Temporal. */
  scheduled: "scheduled",
  /** A tenant's set taken before each of its migrations. */
  snapshot: "snapshots",
  /** A tenant's last set, taken when it is offboarded; never pruned. */
  export: "exports",
} as const;
export type BackupKind = keyof typeof BACKUP_KINDS;

/** The environment of the backup script; libpq's variables name the server and the read-only role. */
export interface BackupEnv extends LibpqEnv {
  /** The ASCII-armored OpenPGP public key every file is encrypted to. */
  PUBLIC_KEY: string;
  /** `service` (run on schedule, forever) or `once` (one set, then exit: snapshots and exports). */
  MODE: "service" | "once";
  /** The set's directory under the backup volume, e.g. `scheduled` or `snapshots/acme`. */
  DESTINATION: string;
  /**
   * Postgres databases to dump, space-separated; `-` for none; empty: every database named
   * `dittofeed_*` (every tenant's, found at each run, so a new tenant needs no change here) and
   * `EXTRA_DATABASES`.
   */
  DATABASES: string;
  /** Databases dumped besides the tenants' when `DATABASES` is empty: Temporal's. */
  EXTRA_DATABASES: string;
  /** ClickHouse databases, as `DATABASES`; `-` for none. */
  CLICKHOUSE_DATABASES: string;
  /** Where ClickHouse's native protocol answers; empty for no ClickHouse at all. */
  CLICKHOUSE_HOST: string;
  CLICKHOUSE_PORT: string;
  /** Read by `clickhouse client` itself (ClickHouse 24.12, programs/client/Client.cpp). */
  CLICKHOUSE_USER: string;
  CLICKHOUSE_PASSWORD: string;
  /** Hours between scheduled sets (service mode). */
  INTERVAL_HOURS: string;
  /** Days a scheduled set or snapshot is kept on the volume; the newest of each is always kept. */
  RETENTION_DAYS: string;
  /** `offsite:<bucket>` to copy each set to, or empty to keep sets on the volume only. */
  REMOTE: string;
  /** A tenant's `SECRET_KEY`, sealed into its one-shot set as `secret-key.gpg`. @default none */
  SECRET_KEY?: string;
  /** What a snapshot precedes (the migration's image); read by no one, it only renews the job. */
  BEFORE?: string;
}

/** Where the script looks for its volumes, when not where the containers mount them (tests). */
export interface BackupPaths {
  /** @default BACKUP_ROOT */
  BACKUP_ROOT?: string;
  /** @default TOOLS_ROOT */
  TOOLS_ROOT?: string;
  /** Where the service notes its own start; per container, so not on the volume. @default /tmp */
  TMPDIR?: string;
  /** Seconds between the service's checks of whether a set is due. @default 60 */
  TICK_SECONDS?: string;
  /** Seconds before a failed set or copy is tried again. @default RETRY_SECONDS */
  RETRY_SECONDS?: string;
  /** How long each `pg_dump` waits for its locks. @default LOCK_WAIT */
  LOCK_WAIT?: string;
  /** Seconds between tries of a dump that found the role's connections taken. @default 10 */
  WAIT_SECONDS?: string;
}

/**
 * The backup script. Each database is dumped on its own: one that fails (a lock held too long, a
 * server error) is left out of the set and named, and the others are kept and copied. In `once`
 * mode it writes one set (and copies it off the host, with a remote) and exits non-zero on any
 * failure: a set of nothing leaves nothing behind, one that lacks a database or a failed copy
 * leaves the rest on the volume. In `service` mode it writes a set whenever the last one is
 * `INTERVAL_HOURS` old, tries the databases a set lacks again, alone, every `RETRY_SECONDS`
 * (`status/failed` names them meanwhile), copies each set off the host until that works
 * (retrying the copy, not the set), prunes what `RETENTION_DAYS` lets go, and logs one `backup:`
 * line per step. `status/last-success` on the volume holds the epoch second at which the newest
 * set became complete (and copied); the health check reads both. One-shot sets touch neither.
 */
export function backupScript(): string {
  return `set -euo pipefail
# Command substitutions keep errexit: a failed listing must fail the set, not make it empty.
shopt -s inherit_errexit
umask 077
root=\${BACKUP_ROOT:-${BACKUP_ROOT}}
tools=\${TOOLS_ROOT:-${TOOLS_ROOT}}
started=\${TMPDIR:-/tmp}/backup-started
retry=\${RETRY_SECONDS:-${RETRY_SECONDS}}
status=$root/status
log() { printf 'backup: %s\\n' "$*"; }
keyring=$(mktemp -d)
trap 'rm -rf "$keyring"' EXIT
export GNUPGHOME="$keyring"
printf '%s\\n' "$PUBLIC_KEY" > "$keyring/recipient.asc"
# Reads stdin, writes only ciphertext: nothing in plain text touches the disk.
seal() { gpg --batch --quiet --no-tty --trust-model always --recipient-file "$keyring/recipient.asc" --encrypt --output "$1"; }
ch() { "$tools/clickhouse" client --host "$CLICKHOUSE_HOST" --port "$CLICKHOUSE_PORT" "$@"; }
sets_in() { find "$1" -mindepth 1 -maxdepth 1 -type d -name '20*Z' -printf '%f\\n' 2>/dev/null | sort; }
# Status files hold an epoch second, written whole (a full disk must not leave one empty); one
# that holds anything else reads as 0.
now_into() { date -u +%s > "$1.new" && mv -f "$1.new" "$1"; }
epoch_of() { local v; v=$(cat "$1" 2>/dev/null || true); if [[ "$v" =~ ^[0-9]+$ ]]; then echo "$v"; else echo 0; fi; }

# The platform's databases: each tenant's is named dittofeed_<id> and owned by the role of that
# name, and the backup role may open it. Anything else of that prefix (a database a tenant's role
# created, one kept by a restore) is named in the log and left out.
postgres_databases() {
  if [ "$DATABASES" = "-" ]; then return; fi
  if [ -n "$DATABASES" ]; then printf '%s\\n' $DATABASES; return; fi
  psql -X -tA -v ON_ERROR_STOP=1 -d postgres -c "SELECT datname, (datallowconn AND has_database_privilege(datname, 'CONNECT') AND pg_get_userbyid(datdba) = datname AND datname ~ '^${TENANT_DATABASE_PREFIX}[a-z0-9_]+$')::int FROM pg_database WHERE starts_with(datname, '${TENANT_DATABASE_PREFIX}') ORDER BY 1" |
    while IFS='|' read -r name ok; do
      if [ "$ok" = 1 ]; then printf '%s\\n' "$name"; else log "leaving out Postgres database $name: not a tenant's" >&2; fi
    done
  [ -z "$EXTRA_DATABASES" ] || printf '%s\\n' $EXTRA_DATABASES
}
clickhouse_databases() {
  if [ -z "$CLICKHOUSE_HOST" ] || [ "$CLICKHOUSE_DATABASES" = "-" ]; then return; fi
  if [ -n "$CLICKHOUSE_DATABASES" ]; then printf '%s\\n' $CLICKHOUSE_DATABASES; return; fi
  ch --query "SELECT name FROM system.databases WHERE match(name, '^${TENANT_DATABASE_PREFIX}[a-z0-9_]+$') ORDER BY name FORMAT TSVRaw"
}

# One ClickHouse database: the CREATE statements of its tables, every table's rows, then the
# CREATE statements of its views, apart, so that a restore fills the tables before any view
# reads them. Rows only of engines that store them: a table of another engine (URL, S3,
# GenerateRandom, ...) would fetch from elsewhere or never end, and is left out, named.
dump_clickhouse() {
  local db=$1 out=$2 name engine
  mkdir -p "$out"
  ch --query "SELECT name, engine FROM system.tables WHERE database = '$db' AND NOT is_temporary ORDER BY name FORMAT TSVRaw" > "$out/.tables"
  : > "$out/.stored"
  : > "$out/.views"
  while IFS=$'\\t' read -r name engine; do
    if ! [[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then log "leaving out ClickHouse table $db.$name: not a plain name"; continue; fi
    case "$engine" in
      *MergeTree | Log | TinyLog | StripeLog | Memory) printf '%s\\n' "$name" >> "$out/.stored" ;;
      View | MaterializedView) printf '%s\\n' "$name" >> "$out/.views" ;;
      *) log "leaving out ClickHouse table $db.$name: engine $engine stores no rows of its own" ;;
    esac
  done < "$out/.tables"
  statements() {
    while read -r name; do
      ch --query "SELECT create_table_query FROM system.tables WHERE database = '$db' AND name = '$name' FORMAT TSVRaw"
      printf ';\\n'
    done < "$1"
  }
  statements "$out/.stored" | seal "$out/tables.sql.gpg"
  statements "$out/.views" | seal "$out/views.sql.gpg"
  while read -r name; do
    ch --query "SELECT * FROM \\\`$db\\\`.\\\`$name\\\` FORMAT Native" | seal "$out/$name.native.gpg"
  done < "$out/.stored"
  rm -f "$out/.tables" "$out/.stored" "$out/.views"
}

# Runs "$@" in a subshell with errexit of its own and puts its status in $rc. Never call it
# where bash ignores errexit (in an \`if\`, or before \`||\` or \`&&\`): errexit would be off
# inside it too, and a failed step would count as a success.
isolated() {
  set +e
  ( set -e; "$@" )
  rc=$?
  set -e
}
# Settings a database's owner gave its database (a statement timeout, a search_path) yield to
# these, given at connection (libpq's PGOPTIONS).
export PGOPTIONS="-c statement_timeout=0 -c search_path=pg_catalog,pg_temp"
# Each dump first has the database grant the role what it reads (see backupGrantsSql). A lock
# a tenant holds in its own database makes that database's dump fail after LOCK_WAIT, instead of
# holding up every database after it. The role's connections are few (the service and the
# tenants' one-shot sets share them): a dump that finds them taken waits its turn.
# grant_reads() is called only when the superuser owns it and its schema and it runs as its
# owner: a tenant that drops and re-creates its database could put a function of its own there,
# which would run as this role (and could, say, change its password). It may wait 60 s for a
# lock, and run 5 minutes.
grant_reads() {
  local out
  out=$(psql -X -q -tA -v ON_ERROR_STOP=1 -d "$1" -c "SET lock_timeout = '60s'; SET statement_timeout = '300s'; SELECT CASE WHEN EXISTS (SELECT FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_roles o ON o.oid = p.proowner JOIN pg_roles s ON s.oid = n.nspowner WHERE n.nspname = '${BACKUP_GRANTS_SCHEMA}' AND p.proname = 'grant_reads' AND p.pronargs = 0 AND p.prosecdef AND o.rolsuper AND s.rolsuper) THEN (SELECT 'granted' FROM ${BACKUP_GRANTS_SCHEMA}.grant_reads()) ELSE 'refused' END") || return 1
  if [ "$out" != granted ]; then echo "$1's ${BACKUP_GRANTS_SCHEMA}.grant_reads() is not the platform's (was the database dropped and made again?): pulumi up --replace on its backup-grants job installs it" >&2; return 1; fi
}
dump_postgres() {
  local err tries=0
  err=$(mktemp)
  # A try that failed may have left an empty sealed file, which gpg would not overwrite.
  until rm -f "$2" && grant_reads "$1" > /dev/null 2> "$err" &&
    pg_dump --format=custom --exclude-schema=${BACKUP_GRANTS_SCHEMA} --lock-wait-timeout="\${LOCK_WAIT:-${LOCK_WAIT}}" --dbname="$1" 2> "$err" | seal "$2"; do
    tries=$((tries + 1))
    if grep -q 'grant_reads() does not exist' "$err"; then
      log "$1 has no ${BACKUP_GRANTS_SCHEMA}.grant_reads(): pulumi up installs it (npm run restore does, after a restore in place)"
    fi
    # A table made after grant_reads and before pg_dump locked it (a migration beside the dump:
    # on a real engine, Temporal's schema job beside the first set) is not readable yet: granting
    # again covers it.
    if grep -Eq 'permission denied for (table|sequence|schema) ' "$err" && (( tries < 10 )); then sleep 3; continue; fi
    if ! grep -q 'too many connections for role' "$err" || (( tries >= 90 )); then cat "$err" >&2; rm -f "$err"; return 1; fi
    sleep "\${WAIT_SECONDS:-10}"
  done
  cat "$err" >&2
  rm -f "$err"
}

# A set under $1: every database that dumps, each on its own, so that one that fails (a tenant
# can make its own database fail) costs that database alone. The ones that failed are named in
# the log and in $1/.failed (kind:name, one a line). A set of nothing fails, and leaves nothing.
write_set() {
  local parent=$root/$1 stamp db count=0 failed="" postgres clickhouse
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  local set=$parent/$stamp.partial
  postgres=$(postgres_databases)
  clickhouse=$(clickhouse_databases)
  mkdir -p "$set/postgres"
  for db in $postgres; do
    if ! [[ "$db" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; then log "refusing Postgres database name $db"; failed="$failed postgres:$db"; continue; fi
    isolated dump_postgres "$db" "$set/postgres/$db.dump.gpg"
    if (( rc == 0 )); then count=$((count + 1)); continue; fi
    rm -f "$set/postgres/$db.dump.gpg"
    log "FAILED: Postgres database $db (pg_dump exited $rc); the other databases go on"
    failed="$failed postgres:$db"
  done
  for db in $clickhouse; do
    isolated dump_clickhouse "$db" "$set/clickhouse/$db"
    if (( rc == 0 )); then count=$((count + 1)); continue; fi
    rm -rf "$set/clickhouse/$db"
    log "FAILED: ClickHouse database $db (exit $rc); the other databases go on"
    failed="$failed clickhouse:$db"
  done
  if (( count == 0 )) && [ -n "$failed" ]; then log "no database of $1 dumped"; return 1; fi
  if [ -n "\${SECRET_KEY:-}" ]; then printf '%s' "$SECRET_KEY" | seal "$set/secret-key.gpg"; fi
  (cd "$set" && find . -type f ! -name SHA256SUMS -print0 | sort -z | xargs -0 -r sha256sum > SHA256SUMS)
  mv "$set" "$parent/$stamp"
  printf '%s\\n' "$stamp" > "$parent/.written"
  printf '%s\\n' $failed > "$parent/.failed.new" && mv -f "$parent/.failed.new" "$parent/.failed"
  log "wrote $1/$stamp: $count databases$([ -z "$failed" ] || echo ", without$failed")"
}
# Runs write_set with errexit of its own, puts its status in $set_result and what failed in
# $set_failed, and removes what a failure left. The same caveat as \`isolated\`.
attempt_set() {
  isolated write_set "$1"
  set_result=$rc
  set_failed=""
  if (( set_result != 0 )); then rm -rf "$root/$1"/*.partial; return; fi
  set_failed=$(grep -v '^$' "$root/$1/.failed" || true)
}
upload() { "$tools/rclone" copy --no-traverse "$root/$1/$2" "$REMOTE/$1/$2"; }

if [ "$MODE" = once ]; then
  attempt_set "$DESTINATION"
  if (( set_result != 0 )); then log "FAILED: no set of $DESTINATION"; exit 1; fi
  # A one-shot set is all or nothing for its job; what did dump stays on the volume.
  if [ -n "$set_failed" ]; then log "FAILED: $DESTINATION lacks" $set_failed; exit 1; fi
  if [ -n "$REMOTE" ]; then
    stamp=$(cat "$root/$DESTINATION/.written")
    # A failed copy fails the job; the set stays on the volume.
    upload "$DESTINATION" "$stamp" || { log "FAILED: copying $DESTINATION/$stamp to $REMOTE; the set is on the volume"; exit 1; }
    log "copied $DESTINATION/$stamp to $REMOTE"
  fi
  exit 0
fi

# Service: a set whenever the last one written is an interval old (a failure is tried again after
# $retry seconds, not at every tick); with a remote, each written set is copied off the host,
# oldest first, a failed copy retried on its own, without writing new sets meanwhile.
# status/last-success is when the newest set became complete and copied: what health reads.
mkdir -p "$status/copied"
[ -e "$status/first-started" ] || now_into "$status/first-started"
# What a run that was stopped or killed half-way left.
rm -rf "$root/$DESTINATION"/*.partial
now_into "$started"
log "every $INTERVAL_HOURS h into $root/$DESTINATION$([ -n "$REMOTE" ] && echo " and $REMOTE" || true), kept $RETENTION_DAYS days"
copy_pending() {
  local stamp sets newest
  (( $(date +%s) - $(epoch_of "$status/last-copy-attempt") >= retry )) || return 0
  sets=$(sets_in "$root/$DESTINATION")
  newest=$(printf '%s\\n' "$sets" | tail -n 1)
  for stamp in $sets; do
    [ -e "$status/copied/$stamp" ] && continue
    now_into "$status/last-copy-attempt"
    if upload "$DESTINATION" "$stamp"; then
      touch "$status/copied/$stamp"
      # Healthy again only once the newest set is off the host.
      if [ "$stamp" = "$newest" ]; then now_into "$status/last-success"; fi
      log "copied $DESTINATION/$stamp to $REMOTE"
    else
      log "FAILED: copying $DESTINATION/$stamp to $REMOTE; the next try is in $((retry / 60)) minutes"
      return 0
    fi
  done
}
# Keeps every set younger than RETENTION_DAYS, the newest set of each directory, and any set not
# yet copied off the host; exports are never pruned.
prune() {
  local cutoff dir sets newest name
  cutoff=$(date -u -d "@$(( $(date +%s) - RETENTION_DAYS * 86400 ))" +%Y%m%dT%H%M%SZ)
  for dir in "$root/${BACKUP_KINDS.scheduled}" "$root/${BACKUP_KINDS.snapshot}"/*; do
    [ -d "$dir" ] || continue
    # Listed once: the newest is taken from the very list that is pruned.
    sets=$(sets_in "$dir") || continue
    newest=$(printf '%s\\n' "$sets" | tail -n 1)
    # A partial set a day old belongs to no run any more (a job that was killed, say).
    find "$dir" -mindepth 1 -maxdepth 1 -type d -name '*.partial' -mmin +1440 -exec rm -rf {} +
    for name in $sets; do
      [[ "$name" < "$cutoff" && "$name" != "$newest" ]] || continue
      if [ "$dir" = "$root/$DESTINATION" ] && [ -n "$REMOTE" ] && [ ! -e "$status/copied/$name" ]; then continue; fi
      rm -rf "\${dir:?}/$name" "$status/copied/$name"
      log "pruned \${dir#$root/}/$name"
    done
  done
}
# status/backup.prom: when the newest complete set became so (before the first, when the service
# first started on this volume: a crash loop gets no new grace) and the databases it lacks, for
# node_exporter's textfile collector (docs/monitoring.md), which runs as nobody: the directory
# and the file are world-readable.
write_metrics() {
  local last store db
  last=$(epoch_of "$status/last-success")
  if (( last == 0 )); then last=$(epoch_of "$status/first-started"); fi
  {
    echo "# HELP platform_backup_last_success_timestamp_seconds When the newest complete set was written and copied."
    echo "# TYPE platform_backup_last_success_timestamp_seconds gauge"
    echo "platform_backup_last_success_timestamp_seconds $last"
    echo "# HELP platform_backup_missing A database the newest set lacks."
    echo "# TYPE platform_backup_missing gauge"
    if [ -s "$status/failed" ]; then
      while IFS=: read -r store db; do
        echo "platform_backup_missing{store=\\"$store\\",database=\\"$db\\"} 1"
      done < "$status/failed"
    fi
  } > "$status/backup.prom.new"
  chmod 644 "$status/backup.prom.new" && mv -f "$status/backup.prom.new" "$status/backup.prom"
}
# status/failed names the databases the newest set lacks, written whole; health reads it.
note_failed() {
  if [ -z "$set_failed" ]; then
    if [ -e "$status/failed" ]; then rm -f "$status/failed"; write_metrics; log "every database has a dump again"; fi
    return
  fi
  printf '%s\\n' $set_failed > "$status/failed.new" && mv -f "$status/failed.new" "$status/failed"
  write_metrics
  log "FAILED: the set lacks" $set_failed"; they are tried again in $((retry / 60)) minutes"
}
chmod 755 "$status"
while true; do
  write_metrics || log "writing status/backup.prom failed"
  now=$(date +%s)
  written=$(epoch_of "$status/last-written")
  attempted=$(epoch_of "$status/last-attempt")
  if (( now - written >= INTERVAL_HOURS * 3600 && now - attempted >= retry )); then
    now_into "$status/last-attempt"
    attempt_set "$DESTINATION"
    if (( set_result == 0 )); then
      now_into "$status/last-written"
      if [ -z "$REMOTE" ]; then now_into "$status/last-success"; fi
      note_failed
      log "next set in $INTERVAL_HOURS h"
    else
      log "FAILED: no complete set this run; the next try is in $((retry / 60)) minutes"
    fi
  elif [ -s "$status/failed" ] && (( now - attempted >= retry )); then
    # The databases the last set lacks, alone, into a set of their own.
    now_into "$status/last-attempt"
    pg=$(sed -n 's/^postgres://p' "$status/failed" | xargs)
    ch=$(sed -n 's/^clickhouse://p' "$status/failed" | xargs)
    DATABASES=\${pg:--} CLICKHOUSE_DATABASES=\${ch:--} attempt_set "$DESTINATION"
    if (( set_result == 0 )); then note_failed; fi
  fi
  if [ -n "$REMOTE" ]; then copy_pending; fi
  prune || log "pruning failed"
  sleep "\${TICK_SECONDS:-60}"
done
`;
}

/**
 * Healthy while the newest complete (and copied) set is at most one interval and the grace old,
 * and no database failed in the latest try (their names are the check's output, which Docker
 * keeps in the container's health log). Before its first set, the service has that long from
 * its own start; after it, a restart gives no new grace, so a crash loop cannot hide an overdue
 * backup. Unhealthy shows in `docker ps`, and the drift workflow fails on it.
 */
export function backupHealthTest(intervalHours: number): string[] {
  const limit = intervalHours * 3600 + BACKUP_GRACE_SECONDS;
  const status = `\${BACKUP_ROOT:-${BACKUP_ROOT}}/status`;
  return [
    "CMD",
    "bash",
    "-c",
    `if [ -s ${status}/failed ]; then echo "no dump of:" $(cat ${status}/failed); exit 1; fi; ` +
      `last=$(cat ${status}/last-success 2>/dev/null || ` +
      `cat \${TMPDIR:-/tmp}/backup-started 2>/dev/null || echo 0); ` +
      `(( $(date +%s) - last <= ${limit} ))`,
  ];
}
