// Stand-in for temporal-sql-tool 1.22.4 with the postgres plugin: `setup-schema -v 0.0` and
// `update-schema -d DIR` against --ep/-p/-u/--db, the password from --pw or SQL_PASSWORD
// (tools/sql/main.go at v1.22.4). It records a schema version in the database, as the real tool
// does in schema_version, so a wrong password or database fails it; it creates none of
// Temporal's tables.
"use strict";
const { Client } = require("pg");

const args = process.argv.slice(2);
const opt = (names) => {
  const i = args.findIndex((a) => names.includes(a));
  return i >= 0 ? args[i + 1] : undefined;
};
const command = args.find((a) => a === "setup-schema" || a === "update-schema");
if (opt(["--plugin", "--pl"]) !== "postgres" || !command) {
  console.error("usage: temporal-sql-tool --plugin postgres ... setup-schema|update-schema");
  process.exit(1);
}
const client = new Client({
  host: opt(["--ep", "--endpoint"]),
  port: Number(opt(["-p", "--port"]) || 5432),
  user: opt(["-u", "--user"]),
  password: opt(["--pw", "--password"]) || process.env.SQL_PASSWORD,
  database: opt(["--db", "--database"]),
});
client
  .connect()
  .then(() =>
    client.query(
      "CREATE TABLE IF NOT EXISTS schema_version (version_partition int NOT NULL PRIMARY KEY, db_name text, curr_version text)",
    ),
  )
  .then(() =>
    client.query(
      "INSERT INTO schema_version VALUES (0, $1, $2) ON CONFLICT (version_partition) DO UPDATE SET curr_version = EXCLUDED.curr_version",
      [client.database, command === "setup-schema" ? "0.0" : "1.10"],
    ),
  )
  .then(() => client.end())
  .then(
    () => console.log(`${command} done`),
    (error) => {
      console.error(`${command} failed: ${error.message}`);
      process.exit(1);
    },
  );
