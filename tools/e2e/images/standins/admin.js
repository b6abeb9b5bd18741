// The admin-cli stand-in's commands (see admin.sh).
"use strict";
const http = require("node:http");
const { Client } = require("pg");

async function sql(statement, values) {
  const client = new Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  try {
    return await client.query(statement, values);
  } finally {
    await client.end();
  }
}

function clickhouse(query) {
  const url = new URL(process.env.CLICKHOUSE_HOST);
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: "POST",
        path: "/",
        headers: {
          "X-ClickHouse-User": process.env.CLICKHOUSE_USER,
          "X-ClickHouse-Key": process.env.CLICKHOUSE_PASSWORD,
        },
      },
      (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => (res.statusCode === 200 ? resolve(body) : reject(new Error(body))));
      },
    );
    req.on("error", reject);
    req.end(query);
  });
}

const [command, ...rest] = process.argv.slice(2);
const run = {
  migrate: () =>
    sql("CREATE TABLE IF NOT EXISTS standin_migrations (version text PRIMARY KEY)").then(() =>
      sql("INSERT INTO standin_migrations (version) VALUES ($1) ON CONFLICT DO NOTHING", [
        process.env.STANDIN_VERSION,
      ]),
    ),
  bootstrap: () => {
    const name = (rest.find((a) => a.startsWith("--workspace-name=")) || "").slice(17);
    if (!name) throw new Error("Missing required argument: workspace-name");
    return sql("CREATE TABLE IF NOT EXISTS standin_workspaces (name text PRIMARY KEY)").then(() =>
      sql("INSERT INTO standin_workspaces (name) VALUES ($1) ON CONFLICT DO NOTHING", [name]),
    );
  },
  "bootstrap-clickhouse": () =>
    clickhouse(
      `CREATE TABLE IF NOT EXISTS ${process.env.CLICKHOUSE_DATABASE}.standin_events (id String) ENGINE = MergeTree`,
    ),
}[command];
if (!run) {
  console.error(`Unknown command: ${command}`);
  process.exit(1);
}
run().then(
  () => console.log(`${command} done`),
  (error) => {
    console.error(`${command} failed: ${error.message}`);
    process.exit(1);
  },
);
