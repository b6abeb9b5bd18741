// Stand-in for cloudflare/cloudflared:2025.10.0 running `tunnel ... run` with a remotely managed
// configuration. Cloudflare's edge pushes the tunnel's ingress document to the connector; here the
// e2e applier writes the document the program registered (ZeroTrustTunnelCloudflaredConfig) to
// /etc/cloudflared/e2e-ingress.json, read at every request (a new document is a new version). It
// serves, like cloudflared:
// - on --metrics: `/ready` (200: the edge connection it stands for is always up) and `/config`
//   (`{"version":n,"config":{"ingress":[...]}}`, metrics/metrics.go and orchestration/config.go);
// - the edge's requests, here plain HTTP on 8080 standing for the edge: the first ingress rule
//   whose hostname equals the request's and whose `path` regular expression matches its path
//   (ingress/ingress.go, FindMatchingRule) proxies it, Host kept; `http_status:N` answers N; an
//   origin that cannot be reached gives 502, as cloudflared does.
// `cloudflared tunnel --metrics ADDR ready` exits 0 when /ready answers 200 (cmd/cloudflared/tunnel).
"use strict";
const fs = require("node:fs");
const http = require("node:http");

const FILE = "/etc/cloudflared/e2e-ingress.json";
const args = process.argv.slice(2);
const metrics =
  args[args.indexOf("--metrics") + 1] || process.env.TUNNEL_METRICS || "127.0.0.1:20241";

if (args.includes("ready")) {
  const [host, port] = metrics.split(":");
  http
    .get({ host, port, path: "/ready", timeout: 3000 }, (res) =>
      process.exit(res.statusCode === 200 ? 0 : 1),
    )
    .on("error", () => process.exit(1));
} else if (args.includes("run")) {
  if (!process.env.TUNNEL_TOKEN) {
    console.error("no TUNNEL_TOKEN");
    process.exit(1);
  }
  let loaded = { text: "", version: 0, ingress: undefined };
  const current = () => {
    try {
      const text = fs.readFileSync(FILE, "utf8");
      if (text !== loaded.text) {
        loaded = { text, version: loaded.version + 1, ingress: JSON.parse(text).ingress };
      }
    } catch {
      // not pushed yet, or half written: keep the last one
    }
    return loaded;
  };
  const [mhost, mport] = metrics.split(":");
  http
    .createServer((req, res) => {
      const { version, ingress } = current();
      if (req.url === "/ready") {
        res.writeHead(200);
        return res.end(JSON.stringify({ status: 200, readyConnections: 4 }));
      }
      if (req.url === "/config") {
        res.writeHead(200, { "content-type": "application/json" });
        return res.end(JSON.stringify({ version, config: { ingress: ingress || [] } }));
      }
      res.writeHead(404);
      res.end();
    })
    .listen(Number(mport), mhost);
  const edge = http.createServer((req, res) => {
    const { ingress } = current();
    const host = (req.headers.host || "").replace(/:\d+$/, "");
    const path = req.url.split("?")[0];
    const rule = (ingress || []).find(
      (r) => (!r.hostname || r.hostname === host) && (!r.path || new RegExp(r.path).test(path)),
    );
    if (!rule) {
      res.writeHead(503);
      return res.end("no ingress rule\n");
    }
    const status = /^http_status:(\d+)$/.exec(rule.service);
    if (status) {
      res.writeHead(Number(status[1]));
      return res.end();
    }
    const origin = new URL(rule.service);
    const upstream = http.request(
      {
        host: origin.hostname,
        port: origin.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        timeout: 30_000,
      },
      (answer) => {
        res.writeHead(answer.statusCode, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on("error", (error) => {
      if (!res.headersSent) res.writeHead(502);
      res.end(`origin unreachable: ${error.message}\n`);
    });
    req.pipe(upstream);
  });
  edge.listen(8080, "0.0.0.0");
  process.on("SIGTERM", () => {
    edge.close(() => process.exit(0));
    edge.closeIdleConnections();
  });
} else {
  console.error(`cloudflared stand-in: unsupported arguments ${args.join(" ")}`);
  process.exit(1);
}
