import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { egressGuardCheck, egressGuardScript } from "./egress";
import { healthCheck } from "../runtime/healthchecks";
import { PlatformContext } from "../runtime/context";
import { HOST_NETWORK, serviceContainer, stackContainerSpec } from "../runtime/docker";

export interface EgressGuardArgs {
  /** The stack this guard belongs to; its chains are named after it. */
  context: PlatformContext;
  /** The stack's address pool (`platform:network.pool`): every tenant network is in it. */
  pool: string;
  /** Image id of an image with `sh` and iptables, legacy and nft (`platform:egress.image`). */
  image: pulumi.Input<string>;
  /** Container memory limit in MB. Required: its default is config's. */
  memoryMb: number;
}

/**
 * The host firewall rules that keep tenants off private addresses (see components/edge/egress.ts), kept in
 * place by a small container on the host's network with NET_ADMIN, which applies them at start
 * and again every half minute. Its only input that varies is the pool, so adding a tenant leaves
 * it as it is.
 */
export class EgressGuard extends pulumi.ComponentResource {
  public readonly container: docker.Container;

  constructor(name: string, args: EgressGuardArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:edge:EgressGuard", name, {}, opts);
    const { context } = args;
    this.container = serviceContainer(
      `${name}-container`,
      {
        ...stackContainerSpec(
          { ...context, network: HOST_NETWORK },
          { ...args, name: "egress-guard" },
        ),
        aliases: [],
        capabilities: ["CAP_NET_ADMIN", "CAP_NET_RAW"],
        entrypoint: ["sh", "-c"],
        command: [egressGuardScript(context.stack, args.pool)],
        healthcheck: healthCheck(["CMD-SHELL", egressGuardCheck(context.stack)], 10),
      },
      { parent: this },
    );
    this.registerOutputs({});
  }
}
