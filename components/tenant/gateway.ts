import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import {
  gatewayConfig,
  gatewayScript,
  relayHealthCheck,
  SharedEndpoint,
  sharedRelays,
} from "../runtime/haproxy";
import { tenantDockerName } from "../runtime/naming";
import { PlatformContext } from "../runtime/context";
import { blueGreenContainer, secretEnv } from "../runtime/docker";

export interface GatewayArgs {
  /** The stack's context; its network is the data network, where the shared services are. */
  context: PlatformContext;
  /** The tenant's own network. */
  tenantNetwork: pulumi.Input<string>;
  tenantId: string;
  /** Image id of HAProxy (`platform:gateway.image`). */
  image: pulumi.Input<string>;
  /** Container memory limit in MB. Required: its default is config's. */
  memoryMb: number;
  /** The shared services the tenant's containers reach through the gateway, by their aliases. */
  shared: SharedEndpoint[];
  /** What its relays send on the tenant's behalf (a Temporal token; see `Relay.bearerFrom`). @default none */
  env?: Record<string, pulumi.Input<string>>;
  /** What must hold before the gateway, and so any container of the tenant, starts. @default none */
  dependsOn?: pulumi.Resource[];
}

/**
 * A tenant's way to the shared services: HAProxy relaying fixed ports from the tenant's network
 * to the data network (see components/runtime/haproxy.ts). The tenant's containers find the shared services here
 * under the names they always used. Adding a tenant adds a gateway and touches no shared
 * container (a container's networks are ForceNew in the docker provider). Replaced blue/green:
 * while two gateways answer the same names new connections go through either; the old one, once
 * stopped, takes none and cuts those it still holds after 25 s, which the apps' pools and clients
 * open again through the new one.
 */
export class Gateway extends pulumi.ComponentResource {
  public readonly container: docker.Container;

  constructor(name: string, args: GatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:tenant:Gateway", name, {}, opts);
    const { context, tenantId } = args;
    this.container = blueGreenContainer(
      `${name}-container`,
      {
        name: tenantDockerName(context.stack, tenantId, "gateway"),
        image: args.image,
        owner: { environment: context.environment, service: "gateway", tenant: tenantId },
        swapLimit: context.swapLimit,
        network: args.tenantNetwork,
        aliases: [...new Set(args.shared.map((endpoint) => endpoint.host))],
        moreNetworks: [{ network: context.network, aliases: [] }],
        memoryMb: args.memoryMb,
        entrypoint: ["sh", "-c"],
        command: [gatewayScript(gatewayConfig(sharedRelays(args.shared)))],
        env: args.env === undefined ? undefined : secretEnv(args.env),
        healthcheck: relayHealthCheck(),
      },
      { key: context.releaseKey },
      { parent: this, dependsOn: args.dependsOn },
    ).container;
    this.registerOutputs({});
  }
}
