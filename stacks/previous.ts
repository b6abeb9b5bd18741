/**
 * What the stack's last deploy held, read from its own outputs: the one read this program makes
 * before it validates config (see stacks/config/placement.ts).
 */
import * as pulumi from "@pulumi/pulumi";
import { parsePlacement, Placement, PLACEMENT_OUTPUT } from "./config/placement";

/**
 * The `placement` output of the stack's last update, through a StackReference to the stack
 * itself (`<organization>/<project>/<stack>`, as every backend names stacks since @pulumi/pulumi
 * 3.61); none before the first deploy, or before a deploy of a program that wrote it. The engine
 * reads the stack's last checkpoint, not the update in progress.
 */
export async function previousPlacement(): Promise<Placement | undefined> {
  const self = new pulumi.StackReference("last-deploy", {
    name: `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`,
  });
  const details = await self.getOutputDetails(PLACEMENT_OUTPUT);
  return parsePlacement(details.value as unknown);
}
