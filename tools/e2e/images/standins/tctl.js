// Stand-in for tctl 1.18 (temporalio/admin-tools:1.22.4 and the server image): the commands the
// program's scripts run, with tctl's flags, outputs and exit codes (temporalio/tctl v1.18.0,
// cli_curr/): global flags before the command, the address from TEMPORAL_CLI_ADDRESS, the
// `authorization` header from TEMPORAL_CLI_AUTH, errors on stdout as `Error: ...` and
// `Error Details: ...` with exit 1.
"use strict";
const http2 = require("node:http2");

const args = process.argv.slice(2);
const flags = {};
const words = [];
for (let i = 0; i < args.length; i++) {
  if (args[i].startsWith("--")) flags[args[i].slice(2)] = args[++i];
  else words.push(args[i]);
}
const address = flags.address || process.env.TEMPORAL_CLI_ADDRESS || "127.0.0.1:7233";
const namespace = flags.namespace || "default";

function call(method, request) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://${address}`);
    session.on("error", reject);
    const headers = {
      ":method": "POST",
      ":path": `/${method}`,
      "content-type": "application/json",
    };
    if (process.env.TEMPORAL_CLI_AUTH) headers.authorization = process.env.TEMPORAL_CLI_AUTH;
    const stream = session.request(headers);
    stream.setTimeout(10_000, () => stream.close());
    let body = "";
    let status = 0;
    stream.on("response", (h) => (status = h[":status"]));
    stream.on("data", (c) => (body += c));
    stream.on("end", () => {
      session.close();
      const value = body ? JSON.parse(body) : {};
      if (status === 200) resolve(value);
      else reject(new Error(value.error || `status ${status}`));
    });
    stream.on("error", reject);
    stream.end(JSON.stringify({ namespace, ...request }));
  });
}

const service = "temporal.api.workflowservice.v1.WorkflowService";
const commands = {
  "cluster health": async () => {
    await call("grpc.health.v1.Health/Check", {});
    console.log(`${service}: SERVING`);
  },
  "namespace register": async () => {
    await call(`${service}/RegisterNamespace`, { retentionDays: Number(flags.retention) }).catch(
      (e) => {
        if (!/already exists/.test(e.message)) throw e;
        throw Object.assign(new Error(`Namespace ${namespace} already registered.`), {
          details: e.message,
        });
      },
    );
    console.log(`Namespace ${namespace} successfully registered.`);
  },
  "namespace update": async () => {
    await call(`${service}/UpdateNamespace`, { retentionDays: Number(flags.retention) });
    console.log(`Namespace ${namespace} successfully updated.`);
  },
  "namespace describe": async () => {
    const d = await call(`${service}/DescribeNamespace`, {});
    console.log(`Name: ${d.name}\nState: ${d.state}\nRetention: ${d.retentionDays * 24}h0m0s`);
  },
  "taskqueue describe": async () => {
    const d = await call(`${service}/DescribeTaskQueue`, { taskQueue: flags.taskqueue });
    console.log("  WORKFLOW POLLER IDENTITY |   LAST ACCESS TIME");
    for (const p of d.pollers)
      console.log(`  ${p.identity} | ${p.lastAccessTime.replace(/\.\d+Z$/, "Z")}`);
  },
};
const run = commands[words.slice(0, 2).join(" ")];
if (!run) {
  console.log(`Error: unknown command ${words.join(" ")}`);
  process.exit(1);
}
run().catch((error) => {
  console.log(`Error: ${error.message}\nError Details: ${error.details || error.message}`);
  process.exit(1);
});
