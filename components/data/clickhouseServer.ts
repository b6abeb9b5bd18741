/**
 * The shell script a tenant's access job runs in the ClickHouse image: the tenant's database, and
 * a user that may do anything inside it and nothing outside it. Passwords come from the job's
 * environment (`CLICKHOUSE_USER`, `CLICKHOUSE_PASSWORD` for the admin, `TENANT_PASSWORD`), so
 * the script (a plain container input) carries none. `ALTER USER` makes a
 * rotated password take effect for an existing user.
 */
export function tenantAccessScript(args: {
  server: string;
  /** The native protocol's port, which clickhouse-client speaks. */
  port: number;
  database: string;
  user: string;
  /** TLS that checks the server's certificate (a managed ClickHouse). @default false */
  secure?: boolean;
  /**
   * The server's memory when the platform runs it: the tenant's queries together may use half
   * of it (see `tenantProfile`). @default none (a managed server keeps its own limits)
   */
  serverMemoryMb?: number;
}): string {
  const { server, port, database, user } = args;
  for (const [what, identifier] of Object.entries({ database, user })) {
    if (!/^[a-z_][a-z0-9_]*$/.test(identifier)) {
      throw new Error(
        `ClickHouse ${what} name ${JSON.stringify(identifier)} is not a plain identifier`,
      );
    }
  }
  const queries = [
    `CREATE DATABASE IF NOT EXISTS ${database}`,
    `CREATE USER IF NOT EXISTS ${user} IDENTIFIED WITH sha256_password BY '$TENANT_PASSWORD'`,
    // HOST ANY: a tenant brought back after offboarding (see `lockUserScript`) may log in again.
    `ALTER USER ${user} IDENTIFIED WITH sha256_password BY '$TENANT_PASSWORD' HOST ANY`,
    `GRANT ALL ON ${database}.* TO ${user}`,
    // Inside its own database a user may still create a dictionary with an HTTP or ClickHouse
    // source, which ClickHouse 24.12 fetches without any SOURCES grant (src/Dictionaries/
    // HTTPDictionarySource.cpp), and drop and re-create the database with a remote engine: both
    // would let ClickHouse, which is on the data network, connect anywhere. Dittofeed v0.23.0
    // needs neither (packages/backend-lib/src/clickhouse.ts creates tables and views only).
    `REVOKE CREATE DICTIONARY, DROP DATABASE ON ${database}.* FROM ${user}`,
    ...(args.serverMemoryMb === undefined ? [] : [tenantProfile(user, args.serverMemoryMb)]),
  ];
  // No secret on a command line, where `ps` on the host shows it: clickhouse-client takes the
  // admin's credentials from CLICKHOUSE_USER and CLICKHOUSE_PASSWORD (ClickHouse 24.12,
  // programs/client/Client.cpp) and the queries, which carry the tenant's password, from stdin
  // (printf is a shell builtin).
  const tls = args.secure ? " --secure" : "";
  return `set -e; printf '%s;\n' ${queries.map((q) => `"${q}"`).join(" ")} | clickhouse-client --host ${server} --port ${port}${tls}`;
}

/** Queries of one tenant that may run at once. */
export const TENANT_CONCURRENT_QUERIES = 8;

/**
 * A settings profile of the tenant's own, so that one tenant cannot take the server from the
 * others: all its queries together may use half the server's memory, and at most
 * `TENANT_CONCURRENT_QUERIES` run at once; `CONST`, so its user cannot SET them otherwise
 * (ClickHouse 24.12, docs/en/sql-reference/statements/create/settings-profile.md and
 * operations/settings/constraints-on-settings.md; `max_memory_usage_for_user` and
 * `max_concurrent_queries_for_user` in src/Core/Settings.cpp). `OR REPLACE` makes a re-run set
 * the current values.
 */
export function tenantProfile(user: string, serverMemoryMb: number): string {
  const bytes = Math.floor(serverMemoryMb / 2) * 1024 * 1024;
  return (
    `CREATE SETTINGS PROFILE OR REPLACE ${user} SETTINGS ` +
    `max_memory_usage_for_user = ${bytes} CONST, ` +
    `max_concurrent_queries_for_user = ${TENANT_CONCURRENT_QUERIES} CONST TO ${user}`
  );
}

/** The ClickHouse user the platform administers tenants' databases and users as. */
export const CLICKHOUSE_ADMIN_USER = "platform_admin";

/** The user the backup service reads every tenant's ClickHouse database as. */
export const BACKUP_USER = "platform_backup";

/**
 * The backup user: it may read every table (which is also what lets it list them: ClickHouse
 * grants SHOW implicitly with any privilege on a table) and nothing else, so the service that
 * holds its password cannot change what it backs up. Run like `tenantAccessScript`, with the
 * admin's credentials and `BACKUP_PASSWORD` from the environment.
 */
export function backupAccessScript(args: { server: string; port: number }): string {
  const queries = [
    `CREATE USER IF NOT EXISTS ${BACKUP_USER} IDENTIFIED WITH sha256_password BY '$BACKUP_PASSWORD'`,
    `ALTER USER ${BACKUP_USER} IDENTIFIED WITH sha256_password BY '$BACKUP_PASSWORD'`,
    `GRANT SELECT ON *.* TO ${BACKUP_USER}`,
  ];
  return `set -e; printf '%s;\n' ${queries.map((q) => `"${q}"`).join(" ")} | clickhouse-client --host ${args.server} --port ${args.port}`;
}

/**
 * Locks an offboarded tenant's user out, keeping its grants: `HOST NONE` leaves the user no host
 * to log in from (ClickHouse, src/Parsers/Access/ParserCreateUserQuery.cpp). Bringing the tenant
 * back runs `tenantAccessScript` again, whose `ALTER USER ... HOST ANY` lets it in again.
 */
export function lockUserScript(args: { server: string; port: number; user: string }): string {
  return `set -e; printf '%s;\n' "ALTER USER IF EXISTS ${args.user} HOST NONE" | clickhouse-client --host ${args.server} --port ${args.port}`;
}

/** Days ClickHouse keeps the rows of its own logs (`system.*_log`). */
const SYSTEM_LOG_DAYS = 7;

/**
 * The system logs that ClickHouse 24.12's shipped `config.xml` turns on, each with an
 * `event_date` column (ClickHouse 24.12, src/Interpreters/SystemLog.h `LIST_OF_ALL_SYSTEM_LOGS`).
 * A log is created only when its element is in the config (`createSystemLog`): the ones off by
 * default (session_log, zookeeper_log, ...) are left out, or a TTL here would turn them on.
 */
const SYSTEM_LOGS = [
  "asynchronous_insert_log",
  "asynchronous_metric_log",
  "backup_log",
  "blob_storage_log",
  "crash_log",
  "error_log",
  "metric_log",
  "part_log",
  "processors_profile_log",
  "query_log",
  "query_metric_log",
  "query_thread_log",
  "query_views_log",
  "s3queue_log",
  "text_log",
  "trace_log",
] as const;

/** Where the server reads {@link systemLogsConfig}: merged over config.xml at start. */
export const SYSTEM_LOGS_CONFIG_PATH = "/etc/clickhouse-server/config.d/platform-system-logs.xml";

/** Where the server reads {@link metricsEndpointConfig}. */
export const PROMETHEUS_CONFIG_PATH = "/etc/clickhouse-server/config.d/platform-prometheus.xml";

/**
 * The files the platform's ClickHouse server is given, on either runtime; with `metricsPort`,
 * it also serves Prometheus there.
 */
export function clickhouseServerFiles(metricsPort?: number): { path: string; content: string }[] {
  return [
    { path: SYSTEM_LOGS_CONFIG_PATH, content: systemLogsConfig() },
    ...(metricsPort === undefined
      ? []
      : [{ path: PROMETHEUS_CONFIG_PATH, content: metricsEndpointConfig(metricsPort) }]),
  ];
}

/**
 * ClickHouse's Prometheus endpoint, which the image's config.xml ships commented out
 * (programs/server/config.xml): its metrics, events and asynchronous metrics (the disk's free
 * bytes among them, `ClickHouseAsyncMetrics_FilesystemMainPathAvailableBytes`:
 * src/Interpreters/ServerAsynchronousMetrics.cpp), on every address the image listens on.
 */
export function metricsEndpointConfig(port: number): string {
  return [
    "<clickhouse>",
    "  <prometheus>",
    "    <endpoint>/metrics</endpoint>",
    `    <port>${port}</port>`,
    "    <metrics>true</metrics>",
    "    <events>true</events>",
    "    <asynchronous_metrics>true</asynchronous_metrics>",
    "  </prometheus>",
    "</clickhouse>",
    "",
  ].join("\n");
}

/**
 * A server config file that bounds ClickHouse's own logs, which otherwise grow until the server
 * runs out of memory (error 241) and drops events (dittofeed #1844): each keeps `days` of rows
 * (`<ttl>`, merged into the element of config.xml by name, src/Common/Config/ConfigProcessor.cpp
 * `mergeRecursive`). `opentelemetry_span_log` is removed instead: 24.12 ships it with an
 * `<engine>`, which a `<ttl>` beside it makes the server refuse to start (`createSystemLog`
 * throws BAD_ARGUMENTS), and it records only queries that carry a trace context, which nothing
 * here sends. A table whose TTL changes is renamed `<name>_0` and kept (`prepareTable`); see
 * docs for the one-time cleanup.
 */
export function systemLogsConfig(): string {
  const ttl = (log: string) =>
    `  <${log}><ttl>event_date + INTERVAL ${SYSTEM_LOG_DAYS} DAY DELETE</ttl></${log}>`;
  return [
    "<clickhouse>",
    ...SYSTEM_LOGS.map(ttl),
    '  <opentelemetry_span_log remove="1" />',
    "</clickhouse>",
    "",
  ].join("\n");
}
