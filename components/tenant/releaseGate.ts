import * as pulumi from "@pulumi/pulumi";
import { DependsOn, JOB_MINUTES, PlatformContext } from "../runtime/context";
import { jobSucceeded, scriptJob, stackContainerSpec } from "../runtime/docker";
import { soakScript, Soak } from "./soak";

export interface ReleaseGateArgs {
  /** The stack's context: the gate runs on its data network, where fronts and Prometheus answer. */
  context: PlatformContext;
  /** The wave it lets go, the wave it watches, and how long (see `Soak`). */
  soak: Omit<Soak, "tenants" | "seconds"> & { minutes: number };
  /** The watched wave's tenants, each with its new front's alias. */
  tenants: { id: string; namespace: string; front: pulumi.Input<string> }[];
  /** Image id of HAProxy (`platform:gateway.image`), whose busybox runs the script. */
  image: pulumi.Input<string>;
  /** Container memory limit in MB. Required: its default is config's. */
  memoryMb: number;
  /**
   * What the soak starts after: every watched tenant deployed (worker check, release check,
   * post-upgrade steps), and the tunnel routing to it.
   */
  dependsOn: DependsOn;
}

/**
 * The gate between two waves of a release: a job that watches the earlier wave for its soak time
 * (see `soakScript`) and fails `pulumi up`, naming the wave and the tenant, at the first sign of
 * trouble. The later wave's first step waits for `passed`, so a failed gate leaves its tenants on
 * the release they run. Its outcome is kept like every job's: a failed gate stops the next
 * `pulumi up` too, until it is re-run (`pulumi up --replace <urn>`, which its error names) or the
 * watched wave's release changes, which makes it another gate.
 */
export class ReleaseGate extends pulumi.ComponentResource {
  /** Resolves once the watched wave stayed healthy for its soak time; fails otherwise. */
  public readonly passed: pulumi.Output<pulumi.Resource[]>;

  constructor(name: string, args: ReleaseGateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:tenant:ReleaseGate", name, {}, opts);
    const { soak } = args;
    const seconds = soak.minutes * 60;
    const spec = stackContainerSpec(args.context, {
      name: "release-gate",
      image: args.image,
      memoryMb: args.memoryMb,
    });
    const job = scriptJob(
      `${name}-job`,
      {
        ...spec,
        // One per wave: the jobs of several gates stay on the host at once.
        name: `${spec.name}-${soak.wave}`,
        owner: {
          ...spec.owner,
          releaseGate: {
            wave: soak.wave,
            after: soak.after,
            watch: args.tenants.map((t) => t.id),
            soakMinutes: soak.minutes,
          },
        },
        // The fronts' aliases, which a new release of the watched wave changes, make it another gate.
        script: pulumi.all(args.tenants.map((t) => t.front)).apply((fronts) =>
          soakScript({
            ...soak,
            seconds,
            tenants: args.tenants.map((t, i) => ({ ...t, front: fronts[i] })),
          }),
        ),
        maxMinutes: Math.max(JOB_MINUTES.short, soak.minutes + 10),
      },
      { parent: this, dependsOn: args.dependsOn },
    );
    this.passed = jobSucceeded(job, `Release gate of wave ${soak.wave}`);
    this.registerOutputs({});
  }
}
