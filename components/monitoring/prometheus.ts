/**
 * The monitoring stack's files, as plain text: Prometheus's scrape config, each tenant's target
 * file, and Alertmanager's config with its receivers. The alert rules are in components/monitoring/alerts.ts.
 *
 * Prometheus (prometheus/prometheus v2.42.0, discovery/file/file.go) watches the files that
 * `file_sd_configs` names and re-reads one when it changes (and every `refresh_interval`); a file
 * holding `[]` drops the targets it gave before. So each tenant writes its own file, and adding or
 * changing a tenant never touches Prometheus's container.
 */
import { stringify } from "yaml";
import { GATEWAY_HEALTH_PORT } from "../runtime/haproxy";

/** Where each part serves its metrics. */
export const METRICS_PORTS = {
  prometheus: 9090,
  alertmanager: 9093,
  nodeExporter: 9100,
  /** ClickHouse's `<prometheus>` server (its config.xml ships it commented out with this port). */
  clickhouse: 9363,
  /** Temporal's `PROMETHEUS_ENDPOINT` (temporalio/temporal v1.22.4, docker/config_template.yaml). */
  temporal: 8000,
  /** cloudflared's metrics server, which the platform moves off loopback when it is scraped. */
  cloudflared: 20241,
  /** A tenant front's HAProxy, beside its health URI (see components/runtime/haproxy.ts). */
  front: GATEWAY_HEALTH_PORT,
} as const;

/** Where each tenant's target file is, inside Prometheus's container. */
export const TARGETS_DIRECTORY = "/etc/prometheus/targets";
/** The rules file, inside Prometheus's container. */
export const RULES_FILE = "/etc/prometheus/alerts.yml";
export const PROMETHEUS_CONFIG_FILE = "/etc/prometheus/prometheus.yml";

/** The scrape job of every tenant's front; its targets come from the tenants' files alone. */
export const FRONTS_JOB = "tenant-fronts";

/** A shared service Prometheus scrapes, by the alias it has on the data network. */
export interface ScrapeTarget {
  job: string;
  address: string;
  /**
   * Only the series whose names match, and at most this many of them: for a service whose
   * label values its users choose (Temporal's task queues). A scrape over the limit fails
   * whole, and the service shows down. @default every series, unbounded
   */
  only?: { names: string; limit: number };
}

/** Prometheus's config: the shared services, the tenants' files, and where alerts go. */
export function prometheusConfig(args: {
  stack: string;
  shared: readonly ScrapeTarget[];
  alertmanager: string;
  scrapeSeconds: number;
}): string {
  const interval = `${args.scrapeSeconds}s`;
  return stringify({
    global: {
      scrape_interval: interval,
      evaluation_interval: interval,
      external_labels: { stack: args.stack },
    },
    alerting: { alertmanagers: [{ static_configs: [{ targets: [args.alertmanager] }] }] },
    rule_files: [RULES_FILE],
    scrape_configs: [
      ...args.shared.map(({ job, address, only }) => ({
        job_name: job,
        static_configs: [{ targets: [address] }],
        ...(only && {
          sample_limit: only.limit,
          metric_relabel_configs: [
            { source_labels: ["__name__"], regex: only.names, action: "keep" },
          ],
        }),
      })),
      {
        job_name: FRONTS_JOB,
        // HAProxy's process and its relays' backend side: what the rules and dashboards read,
        // half of what it exports unasked (218 samples of 466 for a front's two relays).
        params: { scope: ["global", "backend"] },
        file_sd_configs: [{ files: [`${TARGETS_DIRECTORY}/*.json`], refresh_interval: "1m" }],
      },
    ],
  });
}

/** What Prometheus knows a tenant by: every series of its front carries these labels. */
export interface TenantTarget {
  tenant: string;
  /** Its Temporal namespace, which the worker alert joins Temporal's series on. */
  namespace: string;
  /** The address of its front's metrics; none while it has no front (not exposed, offboarded). */
  front?: string;
}

/** A tenant's target file (Prometheus's file_sd JSON): its front, labelled; `[]` without one. */
export function tenantTargetFile({ tenant, namespace, front }: TenantTarget): string {
  const groups = front ? [{ targets: [front], labels: { tenant, namespace } }] : [];
  return `${JSON.stringify(groups)}\n`;
}

/**
 * Writes a tenant's target file whole: to a temporary name, then renamed over the old one, so
 * that Prometheus never reads half a file. World-readable: Prometheus runs as `nobody`.
 */
export function targetFileScript(
  tenant: string,
  content: string,
  directory = TARGETS_DIRECTORY,
): string {
  if (!/^[a-z0-9-]+$/.test(tenant)) throw new Error(`${tenant} is not a tenant id`);
  const file = `${directory}/${tenant}.json`;
  return [
    "set -eu",
    `printf '%s' '${content.replace(/'/g, `'\\''`)}' > ${file}.new`,
    `chmod 644 ${file}.new`,
    `mv -f ${file}.new ${file}`,
    `echo "${file}: $(cat ${file})"`,
  ].join("\n");
}

/** Where alerts go: one receiver of the stack's config, with its secret (a URL or a password). */
export type Receiver = { name: string; minSeverity: "warning" | "critical" } & (
  | { type: "webhook" }
  | { type: "slack"; channel: string }
  | { type: "email"; to: string; from: string; smarthost: string; username?: string }
);

/** The environment variable that carries a receiver's secret into Alertmanager's container. */
export function receiverSecretVariable(index: number): string {
  return `RECEIVER_${index}_SECRET`;
}

/**
 * Alertmanager 0.25's config for `receivers`. Every alert goes to every receiver whose
 * `minSeverity` it meets; none configured, alerts show in Alertmanager's own UI only. A secret is
 * written as `${RECEIVER_<n>_SECRET}` inside single quotes, which the start script's shell fills
 * in from the environment (see `alertmanagerScript`): 0.25 reads a webhook's URL from the config
 * alone (`url_file` came later), and the config the preview shows holds no secret.
 */
export function alertmanagerConfig(
  receivers: readonly Receiver[],
  /** How long the first alert of a group waits for others before it is sent. */
  groupWait = "30s",
): string {
  const secret = (index: number) => `\${${receiverSecretVariable(index)}}`;
  const configs = receivers.map((receiver, index) => {
    switch (receiver.type) {
      case "webhook":
        return { webhook_configs: [{ url: secret(index), send_resolved: true }] };
      case "slack":
        return {
          slack_configs: [
            {
              api_url: secret(index),
              channel: receiver.channel,
              send_resolved: true,
              title: "{{ .CommonLabels.alertname }} {{ .CommonLabels.tenant }}",
              text: "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ end }}",
            },
          ],
        };
      case "email":
        return {
          email_configs: [
            {
              to: receiver.to,
              from: receiver.from,
              smarthost: receiver.smarthost,
              ...(receiver.username === undefined
                ? {}
                : { auth_username: receiver.username, auth_password: secret(index) }),
              send_resolved: true,
            },
          ],
        };
    }
  });
  return stringify(
    {
      // Temporal down, no worker can poll: its own alert says so, once, not every tenant's.
      inhibit_rules: [
        {
          source_matchers: ['alertname="ServiceDown"', 'job="temporal"'],
          target_matchers: ['alertname="TenantWorkersNotPolling"'],
        },
      ],
      route: {
        receiver: "none",
        group_by: ["alertname", "tenant"],
        group_wait: groupWait,
        group_interval: "5m",
        repeat_interval: "4h",
        routes: receivers.map((receiver) => ({
          receiver: receiver.name,
          ...(receiver.minSeverity === "critical" ? { matchers: ['severity="critical"'] } : {}),
          continue: true,
        })),
      },
      receivers: [
        { name: "none" },
        ...receivers.map((receiver, index) => ({ name: receiver.name, ...configs[index] })),
      ],
    },
    // Single-quoted scalars: the shell's `${...}` lands inside quotes YAML reads verbatim.
    { defaultStringType: "QUOTE_SINGLE", defaultKeyType: "PLAIN" },
  );
}

/**
 * Alertmanager's command, for `sh -c` (its image has busybox `sh`): writes the config with each
 * receiver's secret filled in from the environment, then becomes Alertmanager, alone (no
 * cluster). The config is a heredoc the shell expands: outside the secrets it may hold no `$`,
 * backquote or backslash; a secret is refused (by config) if it holds a quote or a newline.
 */
export function alertmanagerScript(
  config: string,
  where: { binary: string; storage: string; file: string; port: number } = {
    binary: "/bin/alertmanager",
    storage: "/alertmanager",
    file: "/tmp/alertmanager.yml",
    port: METRICS_PORTS.alertmanager,
  },
): string {
  const { binary, storage, file, port } = where;
  const variables = [...config.matchAll(/\$\{(RECEIVER_\d+_SECRET)\}/g)].map((m) => m[1]);
  if (/[`\\]|\$(?!\{RECEIVER_\d+_SECRET\})/.test(config)) {
    throw new Error("Alertmanager's config holds a character its start script would expand");
  }
  return [
    "set -eu",
    ...variables.map(
      (v) => `[ -n "\${${v}:-}" ] || { echo "${v} is empty: a receiver has no secret"; exit 1; }`,
    ),
    "umask 077",
    `cat > ${file} <<ALERTMANAGER_CONFIG_END`,
    config.trimEnd(),
    "ALERTMANAGER_CONFIG_END",
    `exec ${binary} --config.file=${file} --storage.path=${storage} --web.listen-address=:${port} --cluster.listen-address=`,
  ].join("\n");
}
