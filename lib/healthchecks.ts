/**
 * Health checks run inside the container, so each uses a binary its image really ships: the
 * Dittofeed images have node but no curl or wget; Postgres has pg_isready; Redis has redis-cli;
 * the ClickHouse alpine image has busybox wget; Temporal's auto-setup image has tctl; the
 * cloudflared image has nothing but cloudflared.
 */
export interface HealthCheck {
  /** Docker's test array: `["CMD", binary, ...args]` or `["CMD-SHELL", script]`. */
  tests: string[];
  interval: string;
  timeout: string;
  startPeriod: string;
  retries: number;
}

/** How long a probe may take before it counts as failed; below Docker's own timeout. */
const PROBE_TIMEOUT_MS = 4000;

function check(tests: string[], startPeriod: string): HealthCheck {
  return { tests, interval: "10s", timeout: "5s", startPeriod, retries: 6 };
}

/** `GET http://127.0.0.1:<port><path>` must answer 2xx within the probe timeout. */
export function httpGetCommand(port: number, path: string): string[] {
  const script =
    `const r=require("http").get({host:"127.0.0.1",port:${port},path:${JSON.stringify(path)},timeout:${PROBE_TIMEOUT_MS}},` +
    `s=>process.exit(s.statusCode>=200&&s.statusCode<300?0:1));` +
    `r.on("timeout",()=>{r.destroy();process.exit(1)});r.on("error",()=>process.exit(1))`;
  return ["CMD", "node", "-e", script];
}

/** A TCP connection to `<host>:<port>` must open within the probe timeout. */
export function tcpConnectCommand(host: string, port: number): string[] {
  const script =
    `const s=require("net").connect({host:${JSON.stringify(host)},port:${port},timeout:${PROBE_TIMEOUT_MS}},()=>{s.end();process.exit(0)});` +
    `s.on("timeout",()=>{s.destroy();process.exit(1)});s.on("error",()=>process.exit(1))`;
  return ["CMD", "node", "-e", script];
}

export function httpGetCheck(port: number, path: string, startPeriod = "30s"): HealthCheck {
  return check(httpGetCommand(port, path), startPeriod);
}

export function tcpConnectCheck(host: string, port: number, startPeriod = "30s"): HealthCheck {
  return check(tcpConnectCommand(host, port), startPeriod);
}

/** Over TCP: the socket answers during initdb, before Postgres listens on the network. */
export function postgresCheck(): HealthCheck {
  return check(["CMD", "pg_isready", "-h", "127.0.0.1", "-p", "5432", "-U", "postgres"], "30s");
}

/** `redis-cli` reads the password from REDISCLI_AUTH; a NOAUTH reply must not count as healthy. */
export function redisCheck(): HealthCheck {
  return check(["CMD-SHELL", "redis-cli -h 127.0.0.1 ping | grep -q PONG"], "10s");
}

export function clickhouseCheck(): HealthCheck {
  return check(["CMD-SHELL", "wget -q -O- http://127.0.0.1:8123/ping | grep -q Ok"], "30s");
}

/** auto-setup binds the frontend to the container's own address, not to loopback. */
export function temporalCheck(): HealthCheck {
  return check(
    ["CMD-SHELL", 'tctl --address "$(hostname -i):7233" cluster health | grep -q SERVING'],
    "90s",
  );
}

/**
 * The cloudflared image has no shell: its own `tunnel ready` asks the metrics server's `/ready`,
 * which answers 200 once at least one connection to Cloudflare's edge is up.
 */
export function cloudflaredCheck(metricsAddress: string): HealthCheck {
  return check(["CMD", "cloudflared", "tunnel", "--metrics", metricsAddress, "ready"], "20s");
}
