// Stand-in for temporalio/server:1.22.4 (auto-setup's entrypoint, one process for every
// service). It speaks HTTP/2 without TLS on 7233, as gRPC does, with JSON bodies its own tctl and
// the worker stand-in send. What it keeps of Temporal's contract:
// - namespaces live in its Postgres database, reached with POSTGRES_SEEDS, DB_PORT,
//   POSTGRES_USER and POSTGRES_PWD (docker/config_template.yaml at v1.22.4 reads the same);
// - with TEMPORAL_AUTH_AUTHORIZER and TEMPORAL_AUTH_CLAIM_MAPPER both `default` (otherwise
//   Temporal authorizes nothing: common/authorization, GetAuthorizerFromConfig and
//   GetClaimMapperFromConfig at v1.22.4),
//   every call but the health check needs `authorization: Bearer <JWT>` signed by a key of
//   TEMPORAL_JWT_KEY_SOURCE1 (RS256) whose `permissions` claim names the call's namespace
//   (`<namespace>:<role>`, common/authorization/default_jwt_claim_mapper.go); registering or
//   updating a namespace needs `admin`, polling `write`, describing `read`;
// - pollers are reported per task queue with their identity and last access time;
// - with PROMETHEUS_ENDPOINT, `/metrics` there counts polls as `poll_success` by `namespace` and
//   `taskqueue` (common/metrics/metric_defs.go at v1.22.4; the real one has more labels).
"use strict";
const crypto = require("node:crypto");
const http = require("node:http");
const http2 = require("node:http2");
const { Client } = require("pg");

const env = process.env;
const pollers = new Map(); // "<namespace>/<queue>" -> Map(identity -> Date)
const polls = new Map(); // "<namespace>/<queue>" -> count
const ROLES = { read: 1, write: 2, admin: 3 };
const AUTHORIZE =
  env.TEMPORAL_AUTH_AUTHORIZER === "default" && env.TEMPORAL_AUTH_CLAIM_MAPPER === "default";

let db;
async function connect() {
  for (;;) {
    try {
      db = new Client({
        host: env.POSTGRES_SEEDS,
        port: Number(env.DB_PORT || 5432),
        user: env.POSTGRES_USER,
        password: env.POSTGRES_PWD,
        database: env.DBNAME || "temporal",
      });
      await db.connect();
      await db.query(
        "CREATE TABLE IF NOT EXISTS standin_namespaces (name text PRIMARY KEY, retention_days int NOT NULL, state text NOT NULL DEFAULT 'Registered')",
      );
      return;
    } catch (error) {
      console.log(`waiting for the database: ${error.message}`);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }
}

let keys = { at: 0, byKid: new Map() };
function jwks() {
  if (Date.now() - keys.at < 60_000) return Promise.resolve(keys.byKid);
  return new Promise((resolve, reject) => {
    http
      .get(env.TEMPORAL_JWT_KEY_SOURCE1, (res) => {
        let body = "";
        res.on("data", (c) => (body += c));
        res.on("end", () => {
          try {
            const byKid = new Map(
              JSON.parse(body).keys.map((jwk) => [
                jwk.kid,
                crypto.createPublicKey({ key: jwk, format: "jwk" }),
              ]),
            );
            keys = { at: Date.now(), byKid };
            resolve(byKid);
          } catch (error) {
            reject(error);
          }
        });
      })
      .on("error", reject);
  });
}

async function permitted(header, namespace, need) {
  const token = /^Bearer (.+)$/.exec(header || "");
  if (!token) return "Request unauthorized.";
  const [head, payload, signature] = token[1].split(".");
  const { kid, alg } = JSON.parse(Buffer.from(head, "base64url"));
  const key = (await jwks()).get(kid);
  if (alg !== "RS256" || !key) return "Request unauthorized.";
  const ok = crypto.verify(
    "RSA-SHA256",
    Buffer.from(`${head}.${payload}`),
    key,
    Buffer.from(signature, "base64url"),
  );
  if (!ok) return "Request unauthorized.";
  const claims = JSON.parse(Buffer.from(payload, "base64url"));
  const granted = (claims.permissions || [])
    .map((p) => p.split(":"))
    .filter(([ns]) => ns === namespace)
    .map(([, role]) => ROLES[role] || 0);
  return Math.max(0, ...granted) >= ROLES[need] ? undefined : "Request unauthorized.";
}

async function namespaceOf(name) {
  const { rows } = await db.query(
    "SELECT name, retention_days, state FROM standin_namespaces WHERE name = $1",
    [name],
  );
  return rows[0];
}

const METHODS = {
  async "grpc.health.v1.Health/Check"() {
    return { status: "SERVING" };
  },
  async RegisterNamespace(req) {
    if (await namespaceOf(req.namespace)) throw new Error("Namespace already exists.");
    await db.query("INSERT INTO standin_namespaces (name, retention_days) VALUES ($1, $2)", [
      req.namespace,
      req.retentionDays,
    ]);
    return {};
  },
  async UpdateNamespace(req) {
    if (!(await namespaceOf(req.namespace)))
      throw new Error(`Namespace ${req.namespace} is not found.`);
    await db.query("UPDATE standin_namespaces SET retention_days = $2 WHERE name = $1", [
      req.namespace,
      req.retentionDays,
    ]);
    return {};
  },
  async DescribeNamespace(req) {
    const found = await namespaceOf(req.namespace);
    if (!found) throw new Error(`Namespace ${req.namespace} is not found.`);
    return { name: found.name, state: found.state, retentionDays: found.retention_days };
  },
  async DescribeTaskQueue(req) {
    if (!(await namespaceOf(req.namespace)))
      throw new Error(`Namespace ${req.namespace} is not found.`);
    const seen = pollers.get(`${req.namespace}/${req.taskQueue}`) || new Map();
    return {
      pollers: [...seen].map(([identity, at]) => ({ identity, lastAccessTime: at.toISOString() })),
    };
  },
  async PollWorkflowTaskQueue(req) {
    if (!(await namespaceOf(req.namespace)))
      throw new Error(`Namespace ${req.namespace} is not found.`);
    const key = `${req.namespace}/${req.taskQueue.name}`;
    if (!pollers.has(key)) pollers.set(key, new Map());
    pollers.get(key).set(req.identity, new Date());
    polls.set(key, (polls.get(key) || 0) + 1);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    return { ok: true };
  },
};
const NEEDS = {
  RegisterNamespace: "admin",
  UpdateNamespace: "admin",
  DescribeNamespace: "read",
  DescribeTaskQueue: "read",
  PollWorkflowTaskQueue: "write",
};

const server = http2.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => (body += c));
  req.on("end", async () => {
    const method = req.url.replace(
      /^\/(temporal\.api\.workflowservice\.v1\.WorkflowService\/)?/,
      "",
    );
    const handler = METHODS[method];
    const answer = (status, value) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    if (!handler) return answer(404, { error: `unknown method ${method}` });
    try {
      const request = body ? JSON.parse(body) : {};
      if (AUTHORIZE && NEEDS[method]) {
        const refused = await permitted(
          req.headers.authorization,
          request.namespace,
          NEEDS[method],
        );
        if (refused) return answer(403, { error: refused });
      }
      answer(200, await handler(request));
    } catch (error) {
      answer(400, { error: error.message });
    }
  });
});

if (env.PROMETHEUS_ENDPOINT) {
  const port = Number(env.PROMETHEUS_ENDPOINT.split(":").pop());
  http
    .createServer((req, res) => {
      const lines = [...polls].map(([key, count]) => {
        const [namespace, queue] = key.split("/");
        return `poll_success{namespace="${namespace}",taskqueue="${queue}"} ${count}`;
      });
      res.end(`${lines.join("\n")}\n`);
    })
    .listen(port, "0.0.0.0");
}

connect().then(() => {
  server.listen(7233, "0.0.0.0");
  console.log("temporal stand-in serving on 7233");
});
process.on("SIGTERM", () => process.exit(0));
