import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_TASK_QUEUE, namespaceScript, NamespaceJobEnv } from "../../lib/temporal";
import { Temporal } from "../data/temporal";
import { PlatformContext } from "../shared/context";
import { jobSucceeded, scriptJob, secretEnv } from "../shared/docker";

export interface NamespaceArgs {
  /** The tenant's context: its jobs run on its own network. */
  context: PlatformContext;
  /** The tenant whose namespace this is. */
  tenantId: string;
  /** The namespace's name (see `tenantNamespace`). */
  namespace: string;
  /** The shared Temporal; its image's `tctl` registers the namespace. */
  temporal: Temporal;
  /** Days Temporal keeps a closed workflow's history. */
  retentionDays: number;
  /** What must run first: Temporal, and the tenant's gateway to it. */
  dependsOn: pulumi.Resource[];
  /** How long the job waits for a frontend to know the new namespace. @default 60 */
  waitSeconds?: number;
}

/**
 * A tenant's Temporal namespace. Dittofeed v0.23.0 neither registers it (its bootstrap has no
 * namespace call: packages/backend-lib/src/bootstrap.ts) nor runs without it: api, worker and the
 * bootstrap itself (which starts the compute-properties workflows) talk to `TEMPORAL_NAMESPACE`
 * only. `temporalio/auto-setup` creates only `default`. A one-shot job registers the namespace
 * once Temporal is healthy ("already exists" counts as success, and brings the retention to the
 * configured value); it runs again only when its settings change.
 */
export class Namespace extends pulumi.ComponentResource {
  public readonly name: string;
  public readonly job: docker.Container;
  /** Resolves once the namespace is registered and a frontend answers for it. */
  public readonly succeeded: pulumi.Output<pulumi.Resource[]>;

  constructor(name: string, args: NamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:tenant:Namespace", name, {}, opts);
    const { tenantId, temporal } = args;
    this.name = args.namespace;
    const env: NamespaceJobEnv = {
      TEMPORAL_CLI_ADDRESS: temporal.address,
      NAMESPACE: this.name,
      RETENTION_DAYS: String(args.retentionDays),
      TASK_QUEUE: DEFAULT_TASK_QUEUE,
      WAIT_SECONDS: String(args.waitSeconds ?? 60),
    };
    this.job = scriptJob(
      `${name}-job`,
      {
        ...temporal.tctlJobSpec(args.context, tenantId, "namespace"),
        script: namespaceScript(),
        // Nothing here is secret, but every container's environment is, by one rule that the
        // policy pack checks: a rule with exceptions is one nobody can check at a glance.
        env: secretEnv({ ...env }),
      },
      { parent: this, dependsOn: args.dependsOn },
    );
    this.succeeded = jobSucceeded(this.job, `Temporal namespace job of tenant ${tenantId}`);
    this.registerOutputs({ name: this.name });
  }
}
