/**
 * What a release gate watches while a wave soaks (see `ReleaseGate`): a busybox `sh` script, as
 * HAProxy's alpine image runs it (`timeout`, `wget`, `grep`, `sed`, `date`), on the stack's data
 * network, where each tenant's front and Prometheus answer.
 */
import { activeCondition, GATEWAY_HEALTH_PATH, GATEWAY_HEALTH_PORT } from "../runtime/haproxy";

/** A tenant of the wave being watched. */
export interface SoakedTenant {
  id: string;
  /** Its new front's alias on the data network. */
  front: string;
  /** Its Temporal namespace. */
  namespace: string;
}

export interface Soak {
  /** The wave the gate lets go. */
  wave: number;
  /** The wave it watches, and that wave's tenants. */
  after: number;
  tenants: readonly SoakedTenant[];
  /** Each serving role of a front: its relay (the role), port and health path. */
  roles: readonly { role: string; port: number; path: string }[];
  /** How long every tenant must stay healthy. */
  seconds: number;
  /** Seconds between two rounds of checks. @default 10 */
  intervalSeconds?: number;
  /** Prometheus's `host:port` on the data network, when the stack is monitored. @default none */
  prometheus?: string;
}

/**
 * Rounds a check may miss, over the whole soak, before the gate fails: one lost request is no
 * outage, but a release that fails every other round is not healthy either.
 */
export const SOAK_MISSES = 2;

/** The PromQL a gate asks, URL-encoded as wget sends it. */
const query = (promql: string) => `query=${encodeURIComponent(promql)}`;

/**
 * Every alert of the watched tenants that is pending or firing, one series each with exactly
 * `alertname`, `alertstate` and `tenant` (Prometheus's `ALERTS` series: prometheus/prometheus
 * rules/alerting.go, `alertMetricName`; the rules label tenants' alerts with `tenant`:
 * components/monitoring/alerts.ts). Pending counts: a soak shorter than an alert's `for` would
 * otherwise never see it.
 */
export function alertsQuery(tenants: readonly string[]): string {
  return `count by (alertname, alertstate, tenant) (ALERTS{tenant=~"${tenants.join("|")}"})`;
}

/**
 * The watched namespaces where a worker completed a poll in the last two minutes: Temporal's
 * matching service counts each poll as `poll_success`, or `poll_timeouts` when it waited its whole
 * long poll on an idle queue (temporalio/temporal v1.22.4, common/metrics/metric_defs.go), so an
 * idle worker shows too. Only the names the rules read are scraped (stacks/docker.ts).
 */
export function pollsQuery(namespaces: readonly string[]): string {
  return `sum by (namespace) (rate({__name__=~"poll_success|poll_timeouts",job="temporal",namespace=~"${namespaces.join("|")}"}[2m])) > 0`;
}

/**
 * The gate's script: every round, each tenant's front must answer its health URI and every role's
 * health path, each role from the tenant's new release (not its fallback); with Prometheus, no
 * alert of the tenants' may be pending or firing and each tenant's workers must have polled in
 * the last two minutes. A check that misses `SOAK_MISSES` rounds of the soak, or any alert, fails
 * the gate at once, naming the wave and the tenant; the gate passes after `seconds`.
 */
export function soakScript(soak: Soak): string {
  const interval = soak.intervalSeconds ?? 10;
  const label = `Release gate of wave ${soak.wave}`;
  const ids = soak.tenants.map((t) => t.id);
  const misses = (variable: string, what: string) => [
    `  if [ "$${variable}" -ge ${SOAK_MISSES} ]; then`,
    `    echo "${label}: ${what} (${SOAK_MISSES} of its checks, ${interval} s apart, missed)" >&2`,
    "    exit 1",
    "  fi",
  ];
  const tenantChecks = soak.tenants.flatMap((t, i) => {
    const conditions = [
      ...soak.roles.map(({ role }) => activeCondition(t.front, role)),
      `timeout 5 wget -q -O /dev/null http://${t.front}:${GATEWAY_HEALTH_PORT}${GATEWAY_HEALTH_PATH}`,
      ...soak.roles.map(
        ({ port, path }) => `timeout 5 wget -q -O /dev/null http://${t.front}:${port}${path}`,
      ),
    ];
    return [
      `  if ! { ${conditions.join(" && ")}; }; then front_${i}=$((front_${i} + 1)); fi`,
      ...misses(
        `front_${i}`,
        `tenant ${t.id} of wave ${soak.after} stopped serving its new release through its front ${t.front}`,
      ),
    ];
  });
  const prometheus = soak.prometheus;
  const ask = (promql: string) =>
    `timeout 10 wget -q -O - "http://${prometheus}/api/v1/query?${query(promql)}"`;
  const monitored =
    prometheus === undefined
      ? []
      : [
          `  alerts=$(${ask(alertsQuery(ids))}) || alerts=""`,
          `  polls=$(${ask(pollsQuery(soak.tenants.map((t) => t.namespace)))}) || polls=""`,
          `  case "$alerts$polls" in *'"status":"success"'*'"status":"success"'*) ;; *) prometheus=$((prometheus + 1)) ;; esac`,
          ...misses("prometheus", `Prometheus (${prometheus}) did not answer`),
          `  found=$(printf '%s' "$alerts" | grep -o '"metric":{[^}]*}' | sed -e 's/.*"alertname":"\\([^"]*\\)","alertstate":"\\([^"]*\\)","tenant":"\\([^"]*\\)".*/tenant \\3 of wave ${soak.after}: alert \\1 is \\2;/' | tr '\\n' ' ')`,
          `  if [ -n "$found" ]; then echo "${label}: $found see docs/monitoring.md" >&2; exit 1; fi`,
          ...soak.tenants.flatMap((t, i) => [
            `  printf '%s' "$polls" | grep -q '"namespace":"${t.namespace}"' || polls_${i}=$((polls_${i} + 1))`,
            ...misses(
              `polls_${i}`,
              `no worker of tenant ${t.id} of wave ${soak.after} polled Temporal namespace ${t.namespace} in two minutes`,
            ),
          ]),
        ];
  const counters = [
    ...soak.tenants.flatMap((_, i) => [`front_${i}=0`, `polls_${i}=0`]),
    "prometheus=0",
  ];
  const watched =
    prometheus === undefined ? "" : ", with no alert of their own and workers polling";
  return [
    "set -u",
    counters.join("; "),
    `end=$(($(date +%s) + ${soak.seconds}))`,
    "while :; do",
    ...tenantChecks,
    ...monitored,
    '  [ "$(date +%s)" -lt "$end" ] || break',
    `  sleep ${interval}`,
    "done",
    `echo "${label}: ${ids.join(", ")} of wave ${soak.after} served their new release for ${soak.seconds} s${watched}"`,
    "",
  ].join("\n");
}
