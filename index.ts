import * as pulumi from "@pulumi/pulumi";
import { loadPlatformConfig } from "./config";
import { createPlatform } from "./platform";

// Validation runs before anything is registered: a bad config creates nothing.
const platform = createPlatform(loadPlatformConfig(), pulumi.getStack());

export const tenants = platform.tenants;
export const connections = platform.connections;
export const backups = platform.backups;
