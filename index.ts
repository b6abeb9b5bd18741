import * as pulumi from "@pulumi/pulumi";
import { loadPlatformConfig } from "./stacks/config";
import { createPlatform, previousPlacement, stackExports } from "./stacks";

// The stack's last deploy is read first (it decides tenants' slots and what may be removed), then
// config is validated whole: a bad config creates nothing.
export = async () => {
  const previous = await previousPlacement();
  const platform = createPlatform(
    loadPlatformConfig(undefined, previous),
    pulumi.getStack(),
    previous,
  );
  return stackExports(platform);
};
