import * as pulumi from "@pulumi/pulumi";
import { HOST_TYPE, HostFacts } from "../../lib/labels";

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
    super(HOST_TYPE, name, { ...args }, opts);
    this.registerOutputs({});
  }
}
