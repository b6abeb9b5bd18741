import * as pulumi from "@pulumi/pulumi";
import { METRICS_PORTS, TARGETS_DIRECTORY, targetFileScript, tenantTargetFile } from "./prometheus";
import { PlatformContext, waitFor } from "../runtime/context";
import { jobSucceeded, scriptJob, tenantJobSpec } from "../runtime/docker";
import { Monitoring } from "./monitoring";

export interface TenantTargetsArgs {
  /** The tenant's context (its network). */
  context: PlatformContext;
  monitoring: Monitoring;
  tenantId: string;
  /** Its Temporal namespace, which the worker alert joins Temporal's series on. */
  namespace: string;
  /** Its front's alias on the data network, while it has one. @default none: nothing to scrape */
  front?: pulumi.Input<string>;
  /** What the file must not name before it exists: the front's container. @default none */
  dependsOn?: pulumi.Resource[];
  /** Gates (see `waitFor`) that must have passed first: the front serving its release. @default none */
  gates?: pulumi.Output<pulumi.Resource[]>[];
}

/**
 * A tenant's target file, written by a job of its own into the stack's targets volume: what
 * Prometheus scrapes of the tenant, labelled with its id (see components/monitoring/prometheus.ts). The job runs
 * again whenever the file's content changes (a release's new front, offboarding), and nothing of
 * Prometheus changes with it.
 */
export class TenantTargets extends pulumi.ComponentResource {
  /** Resolves once the file is written; fails with the job's output otherwise. */
  public readonly written: pulumi.Output<pulumi.Resource[]>;

  constructor(name: string, args: TenantTargetsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:monitoring:TenantTargets", name, {}, opts);
    const { context, monitoring, tenantId: tenant, namespace } = args;
    const job = scriptJob(
      `${name}-job`,
      {
        ...tenantJobSpec(context, tenant, {
          name: "monitoring",
          image: monitoring.jobImage,
          memoryMb: 32,
        }),
        script: pulumi.output(args.front).apply((alias) =>
          targetFileScript(
            tenant,
            tenantTargetFile({
              tenant,
              namespace,
              front: alias === undefined ? undefined : `${alias}:${METRICS_PORTS.front}`,
            }),
          ),
        ),
        volumes: [{ volumeName: monitoring.targets.name, containerPath: TARGETS_DIRECTORY }],
      },
      {
        parent: this,
        dependsOn: waitFor([monitoring.prometheus, ...(args.dependsOn ?? [])], args.gates),
      },
    );
    this.written = jobSucceeded(job, `The job that writes tenant ${tenant}'s target file`);
    this.registerOutputs({});
  }
}
