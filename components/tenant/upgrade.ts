import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { compareVersions, FIRST_SUPPORTED_VERSION, UpgradeStep } from "../app/releases";
import { LABELS } from "../runtime/labels";
import { JOB_MINUTES, PlatformContext, waitFor } from "../runtime/context";
import { jobSucceeded, scriptJob, tenantJobSpec } from "../runtime/docker";

/** What a tenant's upgrade steps of one phase run with. */
export interface UpgradeStepsArgs {
  context: PlatformContext;
  tenantId: string;
  /** The steps, in the order they must run (see `stepsCrossed`). */
  steps: readonly UpgradeStep[];
  /** The release the tenant was installed at: steps up to it were never needed. */
  installedVersion: pulumi.Output<string>;
  /** Image id of the admin-cli of the release being deployed, which ships the steps. */
  adminCliImage: pulumi.Input<string>;
  /** The environment (secret) the steps read: the bootstrap's. */
  env: pulumi.Input<string[]>;
  /** Every secret value in `env`, to be redacted from a failed step's output. */
  secrets: pulumi.Input<string>[];
  /** What must be ready, and which jobs must have succeeded, before the first step. */
  dependsOn: pulumi.Resource[];
  gates: pulumi.Output<pulumi.Resource[]>[];
}

/**
 * The release a tenant was installed at, as its bootstrap job recorded it (a label, which later
 * runs of the job keep as it was); the oldest supported release for a bootstrap recorded before
 * the label existed.
 */
export function installedVersion(bootstrapJob: docker.Container): pulumi.Output<string> {
  return bootstrapJob.labels.apply(
    (labels) =>
      labels?.find((l) => l.label === LABELS.dittofeedVersion)?.value ?? FIRST_SUPPORTED_VERSION,
  );
}

/**
 * The shell command of one step for a tenant installed at `installed`: the step itself, or, for
 * a tenant installed at its release or later (which never had the old state it migrates), a
 * line that says why it is skipped.
 */
export function upgradeCommand(step: UpgradeStep, installed: string): string {
  return compareVersions(step.version, installed) > 0
    ? `exec ./admin.sh ${step.command}`
    : `echo "${step.command} is not needed: the tenant was installed at ${installed}"`;
}

/**
 * One phase of a release's upgrade steps for one tenant: one job per step, each after the one
 * before, each run once. A step migrates data from one release's shape to the next, so it must
 * never run again, whatever changes later (its image, its settings); `pulumi up --replace` runs
 * it again on purpose.
 */
export class UpgradeSteps extends pulumi.ComponentResource {
  public readonly jobs: docker.Container[] = [];
  /** The gate of the last step (or the gates given, when there is no step). */
  public readonly succeeded: pulumi.Output<pulumi.Resource[]>[];

  constructor(name: string, args: UpgradeStepsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:tenant:UpgradeSteps", name, {}, opts);
    const { context, tenantId } = args;
    let gates = args.gates;
    for (const step of args.steps) {
      const job = scriptJob(
        `${name}-${step.version}`,
        {
          ...tenantJobSpec(context, tenantId, {
            name: step.command,
            service: "upgrade",
            image: args.adminCliImage,
            memoryMb: 1024,
          }),
          script: args.installedVersion.apply((installed) => upgradeCommand(step, installed)),
          env: args.env,
          maxMinutes: JOB_MINUTES.data,
        },
        {
          parent: this,
          dependsOn: waitFor(args.dependsOn, gates),
          ignoreChanges: ["image", "command", "envs"],
        },
      );
      this.jobs.push(job);
      gates = [jobSucceeded(job, `${step.command} of tenant ${tenantId}`, args.secrets)];
    }
    this.succeeded = gates;
    this.registerOutputs({});
  }
}
