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
 * - `clickhouse/<database>/schema.sql.gpg`: each table's and view's CREATE statement, tables first;
 * - `clickhouse/<database>/<table>.native.gpg`: each table's rows in ClickHouse's Native format;
 * - `secret-key.gpg`: in a tenant's snapshot or export, its `SECRET_KEY`, which decrypts the
 *   provider credentials stored in its database;
 * - `SHA256SUMS`: the checksum of every file above (names only, no data).
 * A set being written is `<stamp>.partial` and becomes `<stamp>` only once complete.
 */

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
export interface BackupEnv {
  PGHOST: string;
  PGPORT: string;
  PGUSER: string;
  PGPASSWORD: string;
  /** The ASCII-armored OpenPGP public key every file is encrypted to. */
  PUBLIC_KEY: string;
  /** `service` (run on schedule, forever) or `once` (one set, then exit: snapshots and exports). */
  MODE: "service" | "once";
  /** The set's directory under the backup volume, e.g. `scheduled` or `snapshots/acme`. */
  DESTINATION: string;
  /**
   * Postgres databases to dump, space-separated; empty: every database named `dittofeed_*` (every
   * tenant's, found at each run, so a new tenant needs no change here) and `EXTRA_DATABASES`.
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
}

/**
 * The backup script. In `once` mode it writes one set and exits non-zero on any failure (a
 * partial set is left as `.partial` and never counts). In `service` mode it writes a set whenever
 * the last success is `INTERVAL_HOURS` old (a failure is retried after `RETRY_SECONDS`), prunes
 * what `RETENTION_DAYS` lets go, and logs one `backup:` line per run. `status/last-success` on the
 * volume holds the epoch second of the last complete set, which the health check reads.
 */
export function backupScript(): string {
  return `set -euo pipefail
umask 077
root=\${BACKUP_ROOT:-${BACKUP_ROOT}}
tools=\${TOOLS_ROOT:-${TOOLS_ROOT}}
started=\${TMPDIR:-/tmp}/backup-started
log() { printf 'backup: %s\\n' "$*"; }
keyring=$(mktemp -d)
trap 'rm -rf "$keyring"' EXIT
export GNUPGHOME="$keyring"
printf '%s\\n' "$PUBLIC_KEY" > "$keyring/recipient.asc"
# Reads stdin, writes only ciphertext: nothing in plain text touches the disk.
seal() { gpg --batch --quiet --no-tty --trust-model always --recipient-file "$keyring/recipient.asc" --encrypt --output "$1"; }
identifier() { [[ "$1" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]]; }
ch() { "$tools/clickhouse" client --host "$CLICKHOUSE_HOST" --port "$CLICKHOUSE_PORT" "$@"; }

postgres_databases() {
  if [ -n "$DATABASES" ]; then printf '%s\\n' $DATABASES; return; fi
  psql -X -tA -v ON_ERROR_STOP=1 -d postgres -c "SELECT datname FROM pg_database WHERE starts_with(datname, '${TENANT_DATABASE_PREFIX}') ORDER BY 1"
  [ -z "$EXTRA_DATABASES" ] || printf '%s\\n' $EXTRA_DATABASES
}
clickhouse_databases() {
  if [ -z "$CLICKHOUSE_HOST" ] || [ "$CLICKHOUSE_DATABASES" = "-" ]; then return; fi
  if [ -n "$CLICKHOUSE_DATABASES" ]; then printf '%s\\n' $CLICKHOUSE_DATABASES; return; fi
  ch --query "SELECT name FROM system.databases WHERE startsWith(name, '${TENANT_DATABASE_PREFIX}') ORDER BY name FORMAT TSVRaw"
}

# One ClickHouse database: its CREATE statements (tables before the views that read them), and
# every table's rows. Views hold no rows of their own.
dump_clickhouse() {
  local db=$1 out=$2 name engine
  mkdir -p "$out"
  ch --query "SELECT name, engine FROM system.tables WHERE database = '$db' AND NOT is_temporary ORDER BY engine LIKE '%View', name FORMAT TSVRaw" > "$out/.tables"
  while IFS=$'\\t' read -r name engine; do
    identifier "$name" || { log "skipping ClickHouse table $db.$name: not a plain identifier"; continue; }
    ch --query "SELECT create_table_query FROM system.tables WHERE database = '$db' AND name = '$name' FORMAT TSVRaw"
    printf ';\\n'
  done < "$out/.tables" | seal "$out/schema.sql.gpg"
  while IFS=$'\\t' read -r name engine; do
    identifier "$name" || continue
    case "$engine" in *View) continue ;; esac
    ch --query "SELECT * FROM \\\`$db\\\`.\\\`$name\\\` FORMAT Native" | seal "$out/$name.native.gpg"
  done < "$out/.tables"
  rm -f "$out/.tables"
}

# One set under $1: returns non-zero, leaving <stamp>.partial, on any failure.
write_set() {
  local parent=$root/$1 stamp db count=0
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  local set=$parent/$stamp.partial
  mkdir -p "$set/postgres"
  # Listed first, each by itself: a failed listing must fail the set, not make it empty.
  local postgres clickhouse
  postgres=$(postgres_databases)
  clickhouse=$(clickhouse_databases)
  for db in $postgres; do
    identifier "$db" || { log "refusing Postgres database name $db"; return 1; }
    pg_dump --format=custom --dbname="$db" | seal "$set/postgres/$db.dump.gpg"
    count=$((count + 1))
  done
  for db in $clickhouse; do
    identifier "$db" || { log "refusing ClickHouse database name $db"; return 1; }
    dump_clickhouse "$db" "$set/clickhouse/$db"
    count=$((count + 1))
  done
  if [ -n "\${SECRET_KEY:-}" ]; then printf '%s' "$SECRET_KEY" | seal "$set/secret-key.gpg"; fi
  (cd "$set" && find . -type f ! -name SHA256SUMS -print0 | sort -z | xargs -0 -r sha256sum > SHA256SUMS)
  mv "$set" "$parent/$stamp"
  if [ -n "$REMOTE" ]; then
    "$tools/rclone" copy --no-traverse "$parent/$stamp" "$REMOTE/$1/$stamp"
  fi
  mkdir -p "$root/status"
  date -u +%s > "$root/status/last-success"
  log "ok $1/$stamp: $count databases$([ -n "$REMOTE" ] && echo ", copied to $REMOTE" || true)"
}

# Keeps every set younger than RETENTION_DAYS and the newest set of each directory; drops
# partial sets a day old. Exports are never pruned.
prune() {
  local cutoff dir newest set name
  cutoff=$(date -u -d "@$(( $(date +%s) - RETENTION_DAYS * 86400 ))" +%Y%m%dT%H%M%SZ)
  for dir in "$root/${BACKUP_KINDS.scheduled}" "$root/${BACKUP_KINDS.snapshot}"/*; do
    [ -d "$dir" ] || continue
    newest=$(find "$dir" -mindepth 1 -maxdepth 1 -type d -name '20*Z' -printf '%f\\n' | sort | tail -n 1)
    for set in "$dir"/20*Z; do
      [ -d "$set" ] || continue
      name=\${set##*/}
      if [[ "$name" < "$cutoff" && "$name" != "$newest" ]]; then rm -rf "$set"; log "pruned \${set#$root/}"; fi
    done
    find "$dir" -mindepth 1 -maxdepth 1 -type d -name '*.partial' -mtime +0 -exec rm -rf {} +
  done
}

if [ "$MODE" = once ]; then
  write_set "$DESTINATION"
  exit 0
fi

date -u +%s > "$started"
mkdir -p "$root/status"
log "every $INTERVAL_HOURS h into $root/$DESTINATION$([ -n "$REMOTE" ] && echo " and $REMOTE" || true), kept $RETENTION_DAYS days"
while true; do
  now=$(date +%s)
  last=$(cat "$root/status/last-success" 2>/dev/null || echo 0)
  attempt=$(cat "$root/status/last-attempt" 2>/dev/null || echo 0)
  if (( now - last >= INTERVAL_HOURS * 3600 && now - attempt >= ${RETRY_SECONDS} )); then
    echo "$now" > "$root/status/last-attempt"
    # A subshell with errexit of its own: inside an \`if\` condition bash would ignore errexit,
    # and a failed dump would count as a success.
    set +e
    ( set -e; write_set "$DESTINATION" )
    result=$?
    set -e
    if (( result == 0 )); then prune || log "pruning failed"
    else log "FAILED: no complete set this run; the next try is in ${RETRY_SECONDS / 60} minutes"; fi
  fi
  sleep "\${TICK_SECONDS:-60}"
done
`;
}

/**
 * Healthy while the last complete set, or the service's own start when it has none yet, is at
 * most one interval and the grace old: a backup that did not succeed on schedule turns the
 * container unhealthy, which `docker ps` and the drift workflow show.
 */
export function backupHealthTest(intervalHours: number): string[] {
  const limit = intervalHours * 3600 + BACKUP_GRACE_SECONDS;
  return [
    "CMD",
    "bash",
    "-c",
    `last=$(cat \${BACKUP_ROOT:-${BACKUP_ROOT}}/status/last-success 2>/dev/null || echo 0); ` +
      `started=$(cat \${TMPDIR:-/tmp}/backup-started 2>/dev/null || echo 0); ` +
      `(( last > started )) || last=$started; ` +
      `(( $(date +%s) - last <= ${limit} ))`,
  ];
}
