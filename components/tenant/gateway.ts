import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import {
  GATEWAY_HEALTH_PATH,
  GATEWAY_HEALTH_PORT,
  gatewayConfig,
  gatewayRelays,
  gatewayScript,
  SharedEndpoint,
} from "../../lib/gateway";
import { healthCheck } from "../../lib/healthchecks";
import { tenantAlias, tenantDockerName } from "../../lib/naming";
import { PlatformContext } from "../shared/context";
import { serviceContainer } from "../shared/docker";

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
  /** The tenant's serving roles the tunnel reaches through the gateway: alias role and port. */
  serving: { role: string; port: number }[];
  /** What must hold before the gateway, and so any container of the tenant, starts. @default none */
  dependsOn?: pulumi.Resource[];
}

/**
 * A tenant's way to everything outside its own network: HAProxy relaying fixed ports between the
 * tenant's network and the data network (see lib/gateway.ts). The tenant's containers find the
 * shared services here under the names they always used; the tunnel's connector finds the
 * tenant's api and dashboard here under `<tenant>-api` and `<tenant>-dashboard`. Adding a tenant
 * adds a gateway and touches no shared container (a container's networks are ForceNew in the
 * docker provider).
 */
export class Gateway extends pulumi.ComponentResource {
  public readonly container: docker.Container;

  constructor(name: string, args: GatewayArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:tenant:Gateway", name, {}, opts);
    const { context, tenantId } = args;
    const relays = gatewayRelays(args.shared, args.serving);
    this.container = serviceContainer(
      `${name}-container`,
      {
        name: tenantDockerName(context.stack, tenantId, "gateway"),
        image: args.image,
        owner: { environment: context.environment, service: "gateway", tenant: tenantId },
        network: args.tenantNetwork,
        aliases: [...new Set(args.shared.map((endpoint) => endpoint.host))],
        moreNetworks: [
          {
            network: context.network,
            aliases: args.serving.map(({ role }) => tenantAlias(tenantId, role)),
          },
        ],
        memoryMb: args.memoryMb,
        entrypoint: ["sh", "-c"],
        command: [gatewayScript(gatewayConfig(relays))],
        // busybox's wget: the alpine image has no curl.
        healthcheck: healthCheck(
          [
            "CMD",
            "wget",
            "-q",
            "-O",
            "/dev/null",
            `http://127.0.0.1:${GATEWAY_HEALTH_PORT}${GATEWAY_HEALTH_PATH}`,
          ],
          10,
        ),
      },
      { parent: this, dependsOn: args.dependsOn },
    );
    this.registerOutputs({});
  }
}
