// Stand-in for clickhouse/clickhouse-server:24.12 (Debian ships 18.16, far too old): it answers
// `/ping` on 8123 with `Ok.` and runs the statements the program's jobs, the admin-cli stand-in
// and the backup send, over HTTP on 8123 (X-ClickHouse-User/Key) and over a line protocol of its
// own on 9000 (for the `clickhouse client` stand-in; the native protocol is not spoken). Users
// and passwords are checked: CLICKHOUSE_USER/CLICKHOUSE_PASSWORD as the entrypoint's admin
// (docker_related_config and entrypoint.sh of the image), and the users the statements create,
// each limited to the databases granted to it. State is kept in /var/lib/clickhouse.
"use strict";
const fs = require("node:fs");
const http = require("node:http");
const net = require("node:net");

const FILE = "/var/lib/clickhouse/standin.json";
const state = fs.existsSync(FILE)
  ? JSON.parse(fs.readFileSync(FILE, "utf8"))
  : { databases: ["default", "system"], users: {}, grants: {}, tables: {} };
const save = () => fs.writeFileSync(FILE, JSON.stringify(state));
const admin = process.env.CLICKHOUSE_USER || "default";

class Failure extends Error {
  constructor(code, message) {
    super(`Code: ${code}. DB::Exception: ${message}`);
    this.code = code;
  }
}

function authenticate(user, password) {
  const ok =
    user === admin
      ? password === (process.env.CLICKHOUSE_PASSWORD || "")
      : state.users[user] === password;
  if (!ok)
    throw new Failure(
      516,
      `${user}: Authentication failed: password is incorrect, or there is no user with such name.`,
    );
}

// A grant is `<ALL|SELECT>:<database or *>`; statements that manage users are the admin's.
function may(user, db, need = "ALL") {
  const granted = (state.grants[user] || []).some((g) => {
    const [privilege, on] = g.split(":");
    return (on === "*" || on === db) && (privilege === "ALL" || need === "SELECT");
  });
  if (user !== admin && !granted) {
    throw new Failure(497, `${user}: Not enough privileges on ${db}`);
  }
}
const manage = (user) => {
  if (user !== admin) throw new Failure(497, `${user}: Not enough privileges to manage users`);
};

const quoted = "'((?:[^'\\\\]|\\\\.)*)'";
function execute(user, query) {
  const q = query.trim().replace(/;$/, "");
  let m;
  if (/^SELECT 1$/i.test(q)) return "1\n";
  if ((m = /^CREATE DATABASE IF NOT EXISTS (\w+)$/.exec(q))) {
    manage(user);
    if (!state.databases.includes(m[1])) state.databases.push(m[1]);
    return "";
  }
  if (
    (m = new RegExp(
      `^(CREATE|ALTER) USER (?:IF NOT EXISTS )?(\\w+) IDENTIFIED WITH sha256_password BY ${quoted}`,
    ).exec(q))
  ) {
    manage(user);
    if (m[1] === "ALTER" || state.users[m[2]] === undefined) state.users[m[2]] = m[3];
    return "";
  }
  if ((m = /^GRANT (ALL|SELECT) ON (\w+|\*)\.\* TO (\w+)$/.exec(q))) {
    manage(user);
    state.grants[m[3]] = [...new Set([...(state.grants[m[3]] || []), `${m[1]}:${m[2]}`])];
    return "";
  }
  if (/^(REVOKE|CREATE SETTINGS PROFILE) /.test(q)) return (manage(user), "");
  if ((m = /^CREATE TABLE IF NOT EXISTS (\w+)\.(\w+) .* ENGINE = (\w+)/s.exec(q))) {
    may(user, m[1]);
    if (!state.databases.includes(m[1])) throw new Failure(81, `Database ${m[1]} does not exist.`);
    state.tables[`${m[1]}.${m[2]}`] = { engine: m[3], query: q.replace(" IF NOT EXISTS", "") };
    return "";
  }
  if (
    (m =
      /^SELECT name FROM system\.databases WHERE match\(name, '([^']+)'\) ORDER BY name FORMAT TSVRaw$/.exec(
        q,
      ))
  ) {
    const pattern = new RegExp(m[1]);
    return state.databases
      .filter((d) => pattern.test(d))
      .sort()
      .map((d) => `${d}\n`)
      .join("");
  }
  if (
    (m =
      /^SELECT name, engine FROM system\.tables WHERE database = '(\w+)' AND NOT is_temporary ORDER BY name FORMAT TSVRaw$/.exec(
        q,
      ))
  ) {
    may(user, m[1], "SELECT");
    return Object.entries(state.tables)
      .filter(([k]) => k.startsWith(`${m[1]}.`))
      .map(([k, t]) => `${k.slice(m[1].length + 1)}\t${t.engine}\n`)
      .sort()
      .join("");
  }
  if (
    (m =
      /^SELECT create_table_query FROM system\.tables WHERE database = '(\w+)' AND name = '(\w+)' FORMAT TSVRaw$/.exec(
        q,
      ))
  ) {
    may(user, m[1], "SELECT");
    return `${state.tables[`${m[1]}.${m[2]}`].query}\n`;
  }
  if ((m = /^SELECT \* FROM `(\w+)`\.`(\w+)` FORMAT Native$/.exec(q))) {
    may(user, m[1], "SELECT");
    return ""; // the stand-in keeps no rows
  }
  throw new Failure(
    62,
    `Syntax error: the stand-in does not know ${JSON.stringify(q.slice(0, 80))}`,
  );
}

function run(user, password, text) {
  authenticate(user, password);
  const out = text
    .split(/;\s*\n/)
    .filter((s) => s.trim())
    .map((s) => execute(user, s))
    .join("");
  save();
  return out;
}

http
  .createServer((req, res) => {
    if (req.url === "/ping") return res.end("Ok.\n");
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      try {
        res.end(
          run(
            req.headers["x-clickhouse-user"] || "default",
            req.headers["x-clickhouse-key"] || "",
            body,
          ),
        );
      } catch (error) {
        res.writeHead(error.code === 516 ? 401 : 500);
        res.end(`${error.message}\n`);
      }
    });
  })
  .listen(8123, "0.0.0.0");

// 9000: three base64 lines (user, password, query) in; the exit code's line, then the output.
net
  .createServer((socket) => {
    let buffer = "";
    socket.on("data", (chunk) => {
      buffer += chunk;
      const lines = buffer.split("\n");
      if (lines.length < 4) return;
      const [user, password, query] = lines
        .slice(0, 3)
        .map((l) => Buffer.from(l, "base64").toString("utf8"));
      try {
        socket.end(`0\n${run(user, password, query)}`);
      } catch (error) {
        socket.end(`${(error.code || 1) % 256}\n${error.message}\n`);
      }
    });
    socket.on("error", () => undefined);
  })
  .listen(9000, "0.0.0.0");
console.log("clickhouse stand-in serving on 8123 and 9000");
process.on("SIGTERM", () => process.exit(0));
