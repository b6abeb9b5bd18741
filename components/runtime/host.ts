import * as pulumi from "@pulumi/pulumi";
import { HostFacts } from "./labels";

/** What the stack knows about the Docker host it runs on. */
export type HostArgs = HostFacts;

/**
 * The Docker host of a stack, as facts the policy pack checks the stack against (its memory
 * against the sum of the containers' limits). It creates nothing: its inputs are where those
 * facts live, because a changed component input is an update that touches no container, network
 * or volume.
 */
export class Host extends pulumi.ComponentResource {
  constructor(name: string, args: HostArgs, opts?: pulumi.ComponentResourceOptions) {
    // It was `platform:shared:Host` while the runtime's factories sat in components/shared/.
    super(
      "platform:runtime:Host",
      name,
      { ...args },
      {
        ...opts,
        aliases: [{ type: "platform:shared:Host" }],
      },
    );
    this.registerOutputs({});
  }
}
