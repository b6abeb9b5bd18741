import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_TASK_QUEUE, workerCheckScript, WorkerCheckEnv } from "../data/temporalServer";
import { DittofeedService } from "../app/dittofeedService";
import { Temporal } from "../data/temporal";
import { JOB_MINUTES, PlatformContext } from "../runtime/context";
import { jobSucceeded, scriptJob, secretEnv } from "../runtime/docker";

export interface WorkerCheckArgs {
  /** The tenant's context: its jobs run on its own network. */
  context: PlatformContext;
  /** The tenant whose workers are checked. */
  tenantId: string;
  /** The tenant's Temporal namespace. */
  namespace: string;
  /** The tenant's workers. */
  workers: DittofeedService;
  /** The shared Temporal; its image's `tctl` asks for the task queue's pollers. */
  temporal: Temporal;
  /** How long the check waits for every worker's poll. */
  waitSeconds: number;
}

/**
 * After a tenant's workers start: a one-shot job that fails `pulumi up`, with Temporal's view of
 * the task queue, unless every worker container has polled the tenant's task queue since the job
 * began (see `workerCheckScript`). Docker's health check only shows that a worker can reach
 * Temporal. It runs again whenever a worker container is replaced.
 */
export class WorkerCheck extends pulumi.ComponentResource {
  /** Resolves once every worker has polled; fails the update otherwise. */
  public readonly succeeded: pulumi.Output<pulumi.Resource[]>;

  constructor(name: string, args: WorkerCheckArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:tenant:WorkerCheck", name, {}, opts);
    const { tenantId, temporal, workers } = args;
    const env: WorkerCheckEnv = {
      TEMPORAL_CLI_ADDRESS: temporal.address,
      NAMESPACE: args.namespace,
      TASK_QUEUE: DEFAULT_TASK_QUEUE,
      WORKERS: workers.workerHostnames.join(" "),
      WAIT_SECONDS: String(args.waitSeconds),
    };
    // The workers' container ids (which the script does not read) make the job's inputs change,
    // and so the check run again, whenever a worker container is replaced.
    const replacedWith = pulumi
      .all(workers.containers.map((c) => c.id))
      .apply((ids) => ids.join(" "));
    const job = scriptJob(
      `${name}-job`,
      {
        ...temporal.tctlJobSpec(args.context, tenantId, "worker-check"),
        script: workerCheckScript(),
        env: secretEnv({ ...env, WORKER_CONTAINERS: replacedWith }),
        // It waits up to `waitSeconds` for a poll, then a few tctl calls.
        maxMinutes: Math.max(JOB_MINUTES.short, Math.ceil(args.waitSeconds / 60) + 5),
      },
      { parent: this, dependsOn: workers.containers },
    );
    this.succeeded = jobSucceeded(job, `Worker check of tenant ${tenantId}`);
    this.registerOutputs({});
  }
}
