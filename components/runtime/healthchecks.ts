/**
 * Health checks run inside the container, so each must use a binary its image really ships;
 * the service that owns the image picks the command (see each component). Most probes here need
 * only `node`, which the Dittofeed images have (they have no curl or wget); `wgetCheck` is for
 * the busybox-based images.
 */
export interface HealthCheck {
  /** Docker's test array: `["CMD", binary, ...args]` or `["CMD-SHELL", script]`. */
  tests: string[];
  /** Durations as Go prints them (see `goDuration`). */
  interval: string;
  timeout: string;
  startPeriod: string;
  retries: number;
}

/**
 * A whole number of seconds as Go's `time.Duration.String()` prints it (`90` is `"1m30s"`, `3600`
 * is `"1h0m0s"`). The docker provider reads health-check durations back from Docker in that form
 * (terraform-provider-docker v4.5.x, `flattenContainerHealthcheck`); any other spelling of the same
 * duration shows as a change on every `pulumi refresh`.
 */
export function goDuration(seconds: number): string {
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new RangeError(`goDuration: ${seconds} is not a whole, non-negative number of seconds`);
  }
  const hours = Math.floor(seconds / 3600);
  const minutes = Math.floor((seconds % 3600) / 60);
  const rest = seconds % 60;
  if (hours > 0) return `${hours}h${minutes}m${rest}s`;
  if (minutes > 0) return `${minutes}m${rest}s`;
  return `${rest}s`;
}

/** How long a probe may take before it counts as failed; below Docker's own timeout. */
const PROBE_TIMEOUT_MS = 4000;

/** Docker's health check settings around a test; the start period is how long a first boot may take. */
export function healthCheck(tests: string[], startPeriodSeconds: number): HealthCheck {
  return {
    tests,
    interval: goDuration(10),
    timeout: goDuration(5),
    startPeriod: goDuration(startPeriodSeconds),
    retries: 6,
  };
}

/** `GET http://127.0.0.1:<port><path>` must answer 2xx within the probe timeout. */
export function httpGetCommand(port: number, path: string): string[] {
  const script =
    `const r=require("http").get({host:"127.0.0.1",port:${port},path:${JSON.stringify(path)},timeout:${PROBE_TIMEOUT_MS}},` +
    `s=>process.exit(s.statusCode>=200&&s.statusCode<300?0:1));` +
    `r.on("timeout",()=>{r.destroy();process.exit(1)});r.on("error",()=>process.exit(1))`;
  return ["CMD", "node", "-e", script];
}

/** `node` exits 0 once a TCP connection to `<host>:<port>` opens within the probe timeout. */
export function nodeTcpConnect(host: string, port: number): string[] {
  const script =
    `const s=require("net").connect({host:${JSON.stringify(host)},port:${port},timeout:${PROBE_TIMEOUT_MS}},()=>{s.end();process.exit(0)});` +
    `s.on("timeout",()=>{s.destroy();process.exit(1)});s.on("error",()=>process.exit(1))`;
  return ["node", "-e", script];
}

/** A TCP connection to `<host>:<port>` must open within the probe timeout. */
export function tcpConnectCommand(host: string, port: number): string[] {
  return ["CMD", ...nodeTcpConnect(host, port)];
}

/** @default startPeriodSeconds 30 */
export function httpGetCheck(port: number, path: string, startPeriodSeconds = 30): HealthCheck {
  return healthCheck(httpGetCommand(port, path), startPeriodSeconds);
}

/**
 * `GET http://127.0.0.1:<port><path>` with busybox's `wget`, for the images that have it and no
 * curl or node: HAProxy's alpine image, the Prometheus project's busybox-based images.
 */
export function wgetCheck(port: number, path: string, startPeriodSeconds: number): HealthCheck {
  return healthCheck(
    ["CMD", "wget", "-q", "-O", "/dev/null", `http://127.0.0.1:${port}${path}`],
    startPeriodSeconds,
  );
}

/** @default startPeriodSeconds 30 */
export function tcpConnectCheck(host: string, port: number, startPeriodSeconds = 30): HealthCheck {
  return healthCheck(tcpConnectCommand(host, port), startPeriodSeconds);
}
