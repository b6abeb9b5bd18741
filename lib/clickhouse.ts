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
    `ALTER USER ${user} IDENTIFIED WITH sha256_password BY '$TENANT_PASSWORD'`,
    `GRANT ALL ON ${database}.* TO ${user}`,
    // Inside its own database a user may still create a dictionary with an HTTP or ClickHouse
    // source, which ClickHouse 24.12 fetches without any SOURCES grant (src/Dictionaries/
    // HTTPDictionarySource.cpp), and drop and re-create the database with a remote engine: both
    // would let ClickHouse, which is on the data network, connect anywhere. Dittofeed v0.23.0
    // needs neither (packages/backend-lib/src/clickhouse.ts creates tables and views only).
    `REVOKE CREATE DICTIONARY, DROP DATABASE ON ${database}.* FROM ${user}`,
  ];
  // No secret on a command line, where `ps` on the host shows it: clickhouse-client takes the
  // admin's credentials from CLICKHOUSE_USER and CLICKHOUSE_PASSWORD (ClickHouse 24.12,
  // programs/client/Client.cpp) and the queries, which carry the tenant's password, from stdin
  // (printf is a shell builtin).
  return `set -e; printf '%s;\n' ${queries.map((q) => `"${q}"`).join(" ")} | clickhouse-client --host ${server} --port ${port}`;
}
