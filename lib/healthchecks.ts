/**
 * Health checks run inside the container, so each must use a binary its image really ships;
 * the service that owns the image picks the command (see each component). The probes here need
 * only `node`, which the Dittofeed images have (they have no curl or wget).
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

/** Docker's health check settings around a test; `startPeriod` is how long a first boot may take. */
export function healthCheck(tests: string[], startPeriod: string): HealthCheck {
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

/** @default startPeriod "30s" */
export function httpGetCheck(port: number, path: string, startPeriod = "30s"): HealthCheck {
  return healthCheck(httpGetCommand(port, path), startPeriod);
}

/** @default startPeriod "30s" */
export function tcpConnectCheck(host: string, port: number, startPeriod = "30s"): HealthCheck {
  return healthCheck(tcpConnectCommand(host, port), startPeriod);
}
