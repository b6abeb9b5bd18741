import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { AlertRule, rulesFile } from "./alerts";
import { wgetCheck } from "../runtime/healthchecks";
import {
  alertmanagerConfig,
  alertmanagerScript,
  METRICS_PORTS,
  PROMETHEUS_CONFIG_FILE,
  prometheusConfig,
  Receiver,
  receiverSecretVariable,
  RULES_FILE,
  ScrapeTarget,
  TARGETS_DIRECTORY,
} from "./prometheus";
import { PlatformContext } from "../runtime/context";
import {
  dataVolume,
  secretEnv,
  serviceContainer,
  stackContainerSpec,
  stackNetwork,
} from "../runtime/docker";

/** One service of the monitoring stack: its image id and memory limit. */
interface Part {
  image: pulumi.Input<string>;
  memoryMb: number;
}

export interface MonitoringArgs {
  /** The stack's context: Prometheus scrapes its data network. */
  context: PlatformContext;
  prometheus: Part & {
    /** Days of metrics kept. */
    retentionDays: number;
    /** The host loopback port Prometheus's UI and API are published on. */
    port: number;
  };
  alertmanager: Part & {
    /** The host loopback port its UI and API are published on. */
    port: number;
  };
  nodeExporter: Part;
  /** Seconds between two scrapes, and between two evaluations of the rules. */
  scrapeSeconds: number;
  /** The shared services Prometheus scrapes (the tenants' fronts come from their own files). */
  shared: ScrapeTarget[];
  /**
   * Their containers: Prometheus starts once they are healthy, so a first `pulumi up` does not
   * alert on a service not yet created. @default none
   */
  scraped?: pulumi.Resource[];
  rules: AlertRule[];
  /** Where alerts go, and each one's secret by receiver name (config's `secrets.receivers`). */
  receivers: { list: Receiver[]; secrets: Record<string, string> };
  /** The backup service's volume, whose status file node_exporter reads. @default none */
  backupVolume?: pulumi.Input<string>;
  /**
   * An image with a POSIX `sh` whose default user is root, for the jobs that write tenants'
   * target files into the root-owned targets volume (Redis's). Required: it is the stack's.
   */
  jobImage: pulumi.Input<string>;
}

/**
 * Prometheus, Alertmanager and node_exporter (docs/monitoring.md), on a network of their own:
 * only Prometheus is also on the data network, which it scrapes, so nothing there reaches
 * Alertmanager's API (unauthenticated in 0.25) or the host's metrics. Prometheus's config and
 * rules are uploaded, so a change to either (a threshold) replaces its container and keeps its
 * data, as a receiver's change does Alertmanager's; each tenant's front is found through a file
 * the tenant writes (`TenantTargets`), which Prometheus re-reads, so a tenant added, released or
 * offboarded never touches this component. Their UIs are published on the host's loopback only:
 * reach them through an SSH forward.
 */
export class Monitoring extends pulumi.ComponentResource {
  /** The volume each tenant's target file is written into. */
  public readonly targets: docker.Volume;
  public readonly prometheus: docker.Container;
  public readonly jobImage: pulumi.Input<string>;

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:monitoring:Monitoring", name, {}, opts);
    const { context } = args;
    const network = stackNetwork(
      `${name}-network`,
      context.stack,
      context.environment,
      "monitoring",
      { parent: this },
    ).name;
    const base = (name: "prometheus" | "alertmanager" | "node-exporter", part: Part) => ({
      ...stackContainerSpec({ ...context, network }, { ...part, name }),
      aliases: [name],
    });
    this.jobImage = args.jobImage;

    const alertmanagerData = dataVolume(`${name}-alertmanager`, context, "alertmanager", this);
    const { list, secrets } = args.receivers;
    const alertmanager = serviceContainer(
      `${name}-alertmanager`,
      {
        ...base("alertmanager", args.alertmanager),
        entrypoint: ["sh", "-c"],
        command: [alertmanagerScript(alertmanagerConfig(list))],
        // Config guarantees a secret for every receiver that needs one.
        env: secretEnv(
          Object.fromEntries(
            list.flatMap((r, i) =>
              secrets[r.name] === undefined ? [] : [[receiverSecretVariable(i), secrets[r.name]]],
            ),
          ),
        ),
        volumes: [{ volumeName: alertmanagerData.name, containerPath: "/alertmanager" }],
        ports: [{ internal: METRICS_PORTS.alertmanager, external: args.alertmanager.port }],
        healthcheck: wgetCheck(METRICS_PORTS.alertmanager, "/-/ready", 15),
      },
      { parent: this },
    );

    const nodeExporter = serviceContainer(
      `${name}-node-exporter`,
      {
        ...base("node-exporter", args.nodeExporter),
        entrypoint: ["/bin/node_exporter"],
        command: [
          "--path.rootfs=/host",
          ...(args.backupVolume ? ["--collector.textfile.directory=/backup/status"] : []),
        ],
        volumes: [
          { hostPath: "/", containerPath: "/host", readOnly: true },
          ...(args.backupVolume
            ? [{ volumeName: args.backupVolume, containerPath: "/backup", readOnly: true }]
            : []),
        ],
        healthcheck: wgetCheck(METRICS_PORTS.nodeExporter, "/metrics", 15),
      },
      { parent: this },
    );

    const data = dataVolume(`${name}-prometheus`, context, "prometheus", this);
    this.targets = dataVolume(`${name}-targets`, context, "prometheus-targets", this);
    this.prometheus = serviceContainer(
      `${name}-prometheus`,
      {
        ...base("prometheus", args.prometheus),
        moreNetworks: [{ network: context.network, aliases: ["prometheus"] }],
        entrypoint: ["/bin/prometheus"],
        command: [
          `--config.file=${PROMETHEUS_CONFIG_FILE}`,
          "--storage.tsdb.path=/prometheus",
          `--storage.tsdb.retention.time=${args.prometheus.retentionDays}d`,
          `--web.listen-address=:${METRICS_PORTS.prometheus}`,
        ],
        files: [
          {
            path: PROMETHEUS_CONFIG_FILE,
            content: prometheusConfig({
              stack: context.stack,
              shared: [
                { job: "prometheus", address: `localhost:${METRICS_PORTS.prometheus}` },
                { job: "alertmanager", address: `alertmanager:${METRICS_PORTS.alertmanager}` },
                { job: "node", address: `node-exporter:${METRICS_PORTS.nodeExporter}` },
                ...args.shared,
              ],
              alertmanager: `alertmanager:${METRICS_PORTS.alertmanager}`,
              scrapeSeconds: args.scrapeSeconds,
            }),
          },
          { path: RULES_FILE, content: rulesFile(args.rules) },
        ],
        volumes: [
          { volumeName: data.name, containerPath: "/prometheus" },
          { volumeName: this.targets.name, containerPath: TARGETS_DIRECTORY, readOnly: true },
        ],
        ports: [{ internal: METRICS_PORTS.prometheus, external: args.prometheus.port }],
        healthcheck: wgetCheck(METRICS_PORTS.prometheus, "/-/ready", 15),
      },
      { parent: this, dependsOn: [alertmanager, nodeExporter, ...(args.scraped ?? [])] },
    );
    this.registerOutputs({});
  }
}
