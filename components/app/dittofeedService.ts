import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { AppRole, dittofeedHealthCheck, Endpoint } from "./contract";
import { tenantDockerName, tenantAlias } from "../runtime/naming";
import { DependsOn, PlatformContext } from "../runtime/context";
import { blueGreenContainer, LoopbackPort, serviceContainer } from "../runtime/docker";

export interface DittofeedServiceArgs {
  /** The stack this service belongs to. */
  context: PlatformContext;
  /** The tenant this service serves. */
  tenantId: string;
  /** Which Dittofeed process: `api` or `dashboard` (serving HTTP on `APP_PORTS`), or `worker`. */
  role: AppRole;
  /** Image id of the role's image. */
  image: pulumi.Input<string>;
  /** The Dittofeed release the image is of, labelled on each container for `docker ps`. */
  dittofeedVersion: string;
  /** The role's environment (secret). */
  env: pulumi.Input<string[]>;
  /** Container memory limit in MB. Required: the defaults per role are config's. */
  memoryMb: number;
  /** The most CPUs each container may use. Required: its default is config's. */
  cpus: number;
  /** Temporal's frontend, which a worker must reach to count as healthy. */
  temporal: Endpoint;
  /** Number of containers. @default 1 */
  replicas?: number;
  /** Loopback ports to publish (dev only); a container with ports is replaced delete-first. @default none */
  ports?: LoopbackPort[];
  /** The stack's release key, which tags a blue/green container's name and release alias. */
  releaseKey: pulumi.Input<string>;
  /** What must be ready (and, for jobs, have succeeded) before any container starts. */
  dependsOn: DependsOn;
}

/**
 * One Dittofeed process of one tenant, as one or more identical containers behind the alias
 * `<tenant>-<role>`. Each container carries its own `dependsOn`: a component's dependencies do
 * not delay its children.
 *
 * How each role is replaced:
 * - api and dashboard are blue/green (see `blueGreenContainer`): each release has its own Docker
 *   name and its own alias `<role>-<tag>`, which the tenant's front routes to once it is healthy.
 *   In `dev`, where they publish fixed loopback ports, they are replaced delete-first instead.
 * - workers are replaced delete-first: they serve no requests, a short gap only queues work in
 *   Temporal, and two releases polling one task queue at once invite non-determinism errors.
 */
export class DittofeedService extends pulumi.ComponentResource {
  /** The network alias that tunnel routes and other services use. */
  public readonly alias: string;
  public readonly containers: docker.Container[];
  /**
   * The alias under which this release of a serving role answers on the tenant's network, and
   * which nothing else answers to: `<role>-<tag>` when blue/green, the bare role otherwise.
   */
  public readonly releaseAlias: pulumi.Output<string>;
  /**
   * Each worker container's hostname, `<tenant>-worker-<n>`: Temporal names a worker's polls
   * `<pid>@<hostname>`, so a check can tell which container polls. Empty for other roles.
   */
  public readonly workerHostnames: string[] = [];

  constructor(name: string, args: DittofeedServiceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:app:DittofeedService", name, {}, opts);
    const { context, tenantId, role } = args;
    const replicas = args.replicas ?? 1;
    if (role !== "worker" && replicas > 1) {
      throw new Error(
        `DittofeedService ${name}: a serving role runs one container per release (its front routes to one), got ${replicas}`,
      );
    }
    if (args.ports?.length && replicas > 1) {
      throw new Error(
        `DittofeedService ${name}: published ports need exactly one replica, got ${replicas}`,
      );
    }
    this.alias = tenantAlias(tenantId, role);
    const healthcheck = dittofeedHealthCheck(role, args.temporal);

    const blueGreen = role !== "worker" && !args.ports?.length;
    const releaseAliases: pulumi.Output<string>[] = [];
    this.containers = Array.from({ length: replicas }, (_, index) => {
      // A single container keeps the plain name; replicas are numbered from 1.
      const suffix = replicas === 1 && role !== "worker" ? [] : [String(index + 1)];
      // Without the stack: a hostname has at most 64 bytes, and each stack has its own Temporal.
      const hostname = role === "worker" ? [tenantId, role, ...suffix].join("-") : undefined;
      if (hostname !== undefined) this.workerHostnames.push(hostname);
      const spec = {
        name: tenantDockerName(context.stack, tenantId, role, ...suffix),
        hostname,
        image: args.image,
        owner: {
          environment: context.environment,
          service: role,
          tenant: tenantId,
          dittofeedVersion: args.dittofeedVersion,
        },
        network: context.network,
        swapLimit: context.swapLimit,
        memoryMb: args.memoryMb,
        cpus: args.cpus,
        env: args.env,
        healthcheck,
        // Generous: a wait that times out fails `pulumi up`, a slow first start harms nothing.
        waitTimeoutSeconds: 180,
        ports: args.ports,
      };
      const childName = [name, ...suffix].join("-");
      const options = { parent: this, dependsOn: args.dependsOn };
      if (!blueGreen) {
        // The bare role is what the tenant's front relays to when releases are not told apart.
        return serviceContainer(childName, { ...spec, aliases: [this.alias, role] }, options);
      }
      const release = blueGreenContainer(
        childName,
        { ...spec, aliases: [this.alias] },
        { key: args.releaseKey, alias: role },
        options,
      );
      releaseAliases.push(release.releaseAlias!);
      return release.container;
    });
    this.releaseAlias = releaseAliases[0] ?? pulumi.output(role);
    this.registerOutputs({ alias: this.alias });
  }
}
