import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import {
  gatewayConfig,
  gatewayScript,
  relayCheckScript,
  relayHealthCheck,
  ServingUpstream,
  servingRelays,
} from "../runtime/haproxy";
import { tenantAlias, tenantDockerName } from "../runtime/naming";
import { httpUrl } from "../runtime/urls";
import { PlatformContext } from "../runtime/context";
import { blueGreenContainer, jobSucceeded, scriptJob, tenantJobSpec } from "../runtime/docker";

/** One serving role of the release the front is made for. */
export interface FrontUpstream extends Omit<ServingUpstream, "host"> {
  /** The release's alias on the tenant's network (`DittofeedService.releaseAlias`). */
  host: pulumi.Input<string>;
  /** The release's containers, which the front waits for. */
  containers: docker.Container[];
}

export interface FrontArgs {
  /** The tenant's context: its network is the tenant's own, where its api and dashboard are. */
  context: PlatformContext;
  /** The stack's data network, where the tunnel's connector is. */
  dataNetwork: pulumi.Input<string>;
  tenantId: string;
  /** Image id of HAProxy (`platform:gateway.image`). */
  image: pulumi.Input<string>;
  /** Container memory limit in MB. Required: its default is config's. */
  memoryMb: number;
  /** The roles the tunnel routes to, each at the release being deployed. */
  upstreams: FrontUpstream[];
  /**
   * Made before its release runs (a later wave's, see `ReleaseGate`): it waits for none of the
   * release's containers and relays to each role's `fallback` (the tenant's running release)
   * until the release serves. @default false: it starts once the release's containers are healthy
   */
  early?: boolean;
}

/**
 * Where the tunnel reaches one release of a tenant's api and dashboard: HAProxy answering
 * `<tenant>-front-<tag>`, relaying each role's port to that release's alias on the tenant's
 * network (see components/runtime/haproxy.ts). A new release of either role gives the front another tag, so
 * each release has its own front:
 * - it starts once the release's containers are healthy (or, `early`, before they exist), and
 *   reports healthy only while each role answers its health path through it: from the release,
 *   or, while the release's role does not answer, from the tenant's running release under the
 *   role's alias, its `backup` (`fallback`);
 * - a check job then proves, on every `pulumi up` that deploys it, that it serves, and only then
 *   (`serving`) may the tunnel's ingress document name it; a second (`released`) proves that each
 *   role is served by the release itself, which is what deploys it. The check's outcome is kept like every
 *   job's: a failed check holds the routing back until it is re-run or a new release replaces it.
 *   A container that failed its health check stays in state as created (the provider records it
 *   before waiting, and the next `pulumi up` only updates it: pulumi/pulumi
 *   pkg/resource/deploy/step_generator.go), so a health wait alone would not hold a route back
 *   on the next run;
 * - the previous front keeps routing to the previous release until the engine deletes both, at
 *   the end of an update that succeeded.
 */
export class Front extends pulumi.ComponentResource {
  public readonly container: docker.Container;
  /** `<tenant>-front-<tag>`, on the data network and the tenant's. */
  public readonly alias: pulumi.Output<string>;
  /** `http://<alias>:<port>` of each role, for the tunnel's ingress rules. */
  public readonly services: Record<string, pulumi.Output<string>>;
  /** Resolves once the check job proved the front serves every role; fails otherwise. */
  public readonly serving: pulumi.Output<pulumi.Resource[]>;
  /** Resolves once a second check proved it serves every role from its own release, not a fallback. */
  public readonly released: pulumi.Output<pulumi.Resource[]>;

  constructor(name: string, args: FrontArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:tenant:Front", name, {}, opts);
    const { context, tenantId, upstreams } = args;
    if (upstreams.length === 0) throw new Error(`Front ${name}: no upstreams to route to`);
    const script = pulumi
      .all(upstreams.map((u) => u.host))
      .apply((hosts) =>
        gatewayScript(
          gatewayConfig(servingRelays(upstreams.map((u, i) => ({ ...u, host: hosts[i] })))),
        ),
      );
    const front = blueGreenContainer(
      `${name}-container`,
      {
        name: tenantDockerName(context.stack, tenantId, "front"),
        image: args.image,
        owner: { environment: context.environment, service: "front", tenant: tenantId },
        swapLimit: context.swapLimit,
        network: context.network,
        aliases: [],
        moreNetworks: [{ network: args.dataNetwork, aliases: [] }],
        memoryMb: args.memoryMb,
        entrypoint: ["sh", "-c"],
        command: [script],
        healthcheck: relayHealthCheck(),
      },
      { key: context.releaseKey, alias: tenantAlias(tenantId, "front") },
      { parent: this, dependsOn: args.early ? [] : upstreams.flatMap((u) => u.containers) },
    );
    this.container = front.container;
    this.alias = front.releaseAlias!;
    this.services = Object.fromEntries(
      upstreams.map((u) => [u.role, this.alias.apply((alias) => httpUrl(alias, u.port))]),
    );

    // Serving decides routing: the tunnel may name the front once it serves, from either release.
    // Released decides the deploy: each role relays to the release the front was made for.
    const check = (suffix: string, active: boolean, dependsOn: pulumi.Resource[]) =>
      scriptJob(
        `${name}-${suffix}`,
        {
          ...tenantJobSpec(context, tenantId, {
            name: `front-${suffix}`,
            service: "front-check",
            image: args.image,
            memoryMb: args.memoryMb,
          }),
          script: this.alias.apply((alias) =>
            relayCheckScript(
              alias,
              upstreams.map((u) => ({ port: u.port, path: u.healthPath })),
              active ? upstreams.map((u) => u.role) : [],
            ),
          ),
        },
        { parent: this, dependsOn: [this.container, ...dependsOn] },
      );
    this.serving = jobSucceeded(
      check("check", false, []),
      `The check that tenant ${tenantId}'s new front serves`,
    );
    this.released = jobSucceeded(
      check(
        "release-check",
        true,
        upstreams.flatMap((u) => u.containers),
      ),
      `The check that tenant ${tenantId}'s new front serves its new release`,
    );
    this.registerOutputs({ alias: this.alias });
  }
}
