// Stand-in for dittofeed/dittofeed-{api,dashboard,worker}:v0.23.0 (run by Debian's Node 18).
// What it answers is what the program and its checks call: the api on API_PORT (3001) with
// `/api`, the dashboard on PORT (3000) with `/dashboard/api` (packages/api and packages/dashboard
// at v0.23.0), and a worker that long-polls its Temporal namespace's task queue through
// TEMPORAL_ADDRESS with identity `<pid>@<hostname>`, as the TypeScript SDK names its workers.
// Before serving, each connects to DATABASE_URL and authenticates to REDIS_URL as Dittofeed's
// clients do at start, so a URL the gateway or the encoding breaks fails the container.
"use strict";
const http = require("node:http");
const http2 = require("node:http2");
const net = require("node:net");
const os = require("node:os");
const { Client } = require("pg");

const role = process.argv[2];
const version = process.env.STANDIN_VERSION;

async function database() {
  const client = new Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  await client.query("SELECT 1");
  await client.end();
}

// RESP: AUTH with the URL's user and password must answer +OK (the tenant's ACL user).
function redis() {
  const url = new URL(process.env.REDIS_URL);
  const args = ["AUTH", decodeURIComponent(url.username), decodeURIComponent(url.password)];
  const command = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: url.hostname, port: Number(url.port || 6379) }, () =>
      socket.write(command),
    );
    socket.setTimeout(5000, () => socket.destroy(new Error("redis: no answer")));
    socket.once("data", (data) => {
      socket.end();
      const reply = data.toString().trim();
      if (reply === "+OK") resolve();
      else reject(new Error(`redis AUTH: ${reply}`));
    });
    socket.on("error", reject);
  });
}

function serve(port, health) {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ role, version, path: req.url, health: req.url === health }));
  });
  server.keepAliveTimeout = 5000;
  server.listen(port, "0.0.0.0");
  // Docker stops a container with SIGTERM: finish what is in flight, take nothing new.
  process.on("SIGTERM", () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
  });
}

function work() {
  const [host, port] = process.env.TEMPORAL_ADDRESS.split(":");
  const identity = `${process.pid}@${os.hostname()}`;
  let session;
  const poll = () => {
    if (!session || session.closed || session.destroyed) {
      session = http2.connect(`http://${host}:${port}`);
      session.on("error", () => undefined);
    }
    const stream = session.request({
      ":method": "POST",
      ":path": "/temporal.api.workflowservice.v1.WorkflowService/PollWorkflowTaskQueue",
      "content-type": "application/json",
    });
    stream.setEncoding("utf8");
    let body = "";
    stream.on("data", (chunk) => (body += chunk));
    stream.on("end", () => {
      if (!/"ok":true/.test(body)) console.log(`poll refused: ${body}`);
      setTimeout(poll, 1000);
    });
    stream.on("error", (error) => {
      console.log(`poll failed: ${error.message}`);
      setTimeout(poll, 2000);
    });
    stream.end(
      JSON.stringify({
        namespace: process.env.TEMPORAL_NAMESPACE,
        taskQueue: { name: "default" },
        identity,
      }),
    );
  };
  poll();
  process.on("SIGTERM", () => process.exit(0));
}

(async () => {
  await database();
  await redis();
  if (role === "api") serve(Number(process.env.API_PORT || 3001), "/api");
  else if (role === "dashboard") serve(Number(process.env.PORT || 3000), "/dashboard/api");
  else work();
  console.log(`${role} ${version} started`);
})().catch((error) => {
  console.error(`${role} failed to start: ${error.message}`);
  process.exit(1);
});
