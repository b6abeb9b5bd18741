/**
 * The platform's alert rules, one list for every stack. Per-tenant alerts read the labels each
 * tenant's target file gives its front (`tenant`, `namespace`: components/monitoring/prometheus.ts), so a new
 * tenant is watched by the same rules the moment Prometheus reads its file. Each alert's first
 * response is in docs/monitoring.md, under its name; the suite runs every rule through
 * `promtool test rules` with a series that fires it and one that does not.
 *
 * Signals, at the pinned versions:
 * - a front's HAProxy (haproxy/haproxy v2.6.0, addons/promex/service-prometheus.c):
 *   `haproxy_backend_http_responses_total{proxy,code="5xx"}` (HTTP mode only),
 *   `haproxy_backend_response_time_average_seconds` (the last 1024 requests),
 *   `haproxy_backend_active_servers`, and `haproxy_process_start_time_seconds`;
 * - Temporal's matching service (temporalio/temporal v1.22.4, common/metrics/metric_defs.go and
 *   service/matching/matcher.go): `poll_success` and `poll_timeouts` by `namespace` and
 *   `taskqueue`, tally's names without `_total`; a poll that waited its full time for a task
 *   counts as a timeout, so a worker that polls an idle queue still shows;
 * - ClickHouse (ServerAsynchronousMetrics.cpp): `ClickHouseAsyncMetrics_FilesystemMainPathAvailableBytes`;
 * - cloudflared 2025.10.0 (supervisor/metrics.go): `cloudflared_tunnel_ha_connections`;
 * - node_exporter 1.5: filesystem, memory and `node_vmstat_oom_kill`;
 * - the backup service's own file, `status/backup.prom` (components/data/backupScripts.ts, `write_metrics`).
 */
import { stringify } from "yaml";
import { FRONTS_JOB } from "./prometheus";

export type Severity = "warning" | "critical";

export interface AlertRule {
  alert: string;
  expr: string;
  /** How long the condition must hold, as Prometheus reads a duration. */
  for: string;
  severity: Severity;
  /** One line, with the labels that say where: what a receiver shows. */
  summary: string;
}

/** What the rules are measured against; each has a documented default in config. */
export interface AlertSettings {
  /** The share of a tenant's responses that may be 5xx before it alerts. */
  errorRatio: number;
  /** The average response time (of the last 1024 requests) that alerts. */
  latencySeconds: number;
  /** How old the newest backup may be, when the stack backs up. */
  backupMaxAgeSeconds?: number;
  /** Whether the stack has a tunnel connector to watch. */
  tunnel: boolean;
}

const front = `job="${FRONTS_JOB}"`;
/** The host's own filesystems, not what containers and the kernel mount in memory. */
export const HOST_FILESYSTEMS = 'fstype!~"tmpfs|overlay|squashfs|nsfs"';
const responses = (code?: string) =>
  `sum by (tenant, proxy) (rate(haproxy_backend_http_responses_total{${front}${code ? `,code="${code}"` : ""}}[5m]))`;
/** Ten requests in five minutes at least: below that, a ratio or an average is no trend. */
const busy = `and ${responses()} * 300 >= 10`;
/** Four days ahead, from the last six hours: long enough to act before a disk is full. */
const fillsWithin = (series: string) => `predict_linear(${series}[6h], 4 * 86400) < 0`;

export function alertRules(settings: AlertSettings): AlertRule[] {
  const rules: AlertRule[] = [
    {
      alert: "TenantFrontDown",
      expr: `up{${front}} == 0`,
      for: "3m",
      severity: "critical",
      summary: "Tenant {{ $labels.tenant }}: its front does not answer Prometheus",
    },
    {
      alert: "TenantAppDown",
      expr: `haproxy_backend_active_servers{${front}} < 1`,
      for: "3m",
      severity: "critical",
      summary: "Tenant {{ $labels.tenant }}: its {{ $labels.proxy }} fails its health checks",
    },
    {
      alert: "TenantErrorRatio",
      expr: `(${responses("5xx")} / ${responses()}) > ${settings.errorRatio} ${busy}`,
      for: "10m",
      severity: "warning",
      summary: `Tenant {{ $labels.tenant }}: over ${settings.errorRatio * 100}% of its {{ $labels.proxy }} responses are 5xx`,
    },
    {
      alert: "TenantLatencyHigh",
      // HAProxy's average is of the last 1024 requests, whenever they came: an idle front keeps
      // the average of its last burst, so it counts only while requests come.
      expr: `max by (tenant, proxy) (haproxy_backend_response_time_average_seconds{${front}}) > ${settings.latencySeconds} ${busy}`,
      for: "10m",
      severity: "warning",
      summary: `Tenant {{ $labels.tenant }}: its {{ $labels.proxy }} takes over ${settings.latencySeconds} s on average`,
    },
    {
      alert: "TenantWorkersNotPolling",
      expr:
        `max by (tenant, namespace) (up{${front}}) unless on (namespace) ` +
        `(sum by (namespace) (rate({__name__=~"poll_success|poll_timeouts",job="temporal"}[10m])) > 0)`,
      for: "10m",
      severity: "critical",
      summary:
        "Tenant {{ $labels.tenant }}: no worker polls Temporal namespace {{ $labels.namespace }}",
    },
    {
      alert: "ServiceDown",
      expr: `up{job!="${FRONTS_JOB}"} == 0`,
      for: "5m",
      severity: "critical",
      summary: "{{ $labels.job }} does not answer Prometheus",
    },
    {
      alert: "ProcessRestarting",
      // Not the connector: while a release runs two of them under one alias, its start time
      // alternates between theirs (TunnelConnectorDown watches it).
      expr:
        'changes(process_start_time_seconds{job!="cloudflared"}[30m]) > 2 or ' +
        "changes(haproxy_process_start_time_seconds[30m]) > 2",
      for: "0m",
      severity: "warning",
      summary: "{{ $labels.job }} {{ $labels.tenant }} restarted more than twice in 30 minutes",
    },
    {
      alert: "HostDiskFilling",
      // Less than 40% free as well: a burst (images pulled, a backup set) on an empty disk is no
      // trend.
      expr:
        `${fillsWithin(`node_filesystem_avail_bytes{${HOST_FILESYSTEMS}}`)} and ` +
        `node_filesystem_avail_bytes{${HOST_FILESYSTEMS}} / node_filesystem_size_bytes < 0.4`,
      for: "1h",
      severity: "warning",
      summary: "{{ $labels.mountpoint }} fills within four days at its present rate",
    },
    {
      alert: "HostMemoryLow",
      expr: "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < 0.1",
      for: "10m",
      severity: "warning",
      summary: "Less than 10% of the host's memory is available",
    },
    {
      alert: "ClickHouseDiskFilling",
      expr: fillsWithin("ClickHouseAsyncMetrics_FilesystemMainPathAvailableBytes"),
      for: "1h",
      severity: "warning",
      summary: "ClickHouse's disk fills within four days at its present rate",
    },
    {
      alert: "ContainerOomKilled",
      expr: "increase(node_vmstat_oom_kill[15m]) > 0",
      for: "0m",
      severity: "warning",
      summary: "The kernel killed a process for memory in the last 15 minutes",
    },
  ];
  if (settings.tunnel) {
    rules.push({
      alert: "TunnelConnectorDown",
      expr:
        `sum(cloudflared_tunnel_ha_connections{job="cloudflared"}) < 1 or ` +
        `absent(up{job="cloudflared"} == 1)`,
      for: "5m",
      severity: "critical",
      summary: "The tunnel's connector holds no connection to Cloudflare",
    });
  }
  if (settings.backupMaxAgeSeconds !== undefined) {
    rules.push(
      {
        alert: "BackupOverdue",
        expr:
          `time() - platform_backup_last_success_timestamp_seconds > ${settings.backupMaxAgeSeconds} ` +
          "or absent(platform_backup_last_success_timestamp_seconds)",
        for: "15m",
        severity: "critical",
        summary: "The newest complete backup is older than its interval and grace",
      },
      {
        alert: "BackupDatabaseMissing",
        expr: "platform_backup_missing == 1",
        for: "15m",
        severity: "critical",
        summary: "The newest backup lacks {{ $labels.store }} database {{ $labels.database }}",
      },
    );
  }
  return rules;
}

/** The rules file Prometheus loads. */
export function rulesFile(rules: readonly AlertRule[]): string {
  return stringify({
    groups: [
      {
        name: "platform",
        rules: rules.map(({ alert, expr, for: duration, severity, summary }) => ({
          alert,
          expr,
          for: duration,
          labels: { severity },
          annotations: {
            summary,
            runbook: `docs/monitoring.md#${alert.toLowerCase()}`,
          },
        })),
      },
    ],
  });
}
