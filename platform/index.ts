/**
 * One stack's platform, on the runtime its config names: Docker (one host) or Kubernetes (a
 * cluster). Both build the same tenants from the same config and give the same outputs.
 */
import { PlatformConfig } from "../config";
import { UPGRADE_STEPS, UpgradeStep } from "../dittofeed/releases";
import { Platform } from "./common";
import { createDockerPlatform } from "./docker";
import { createKubernetesPlatform } from "./kubernetes";

export { Platform, TenantOutputs } from "./common";

/**
 * Registers the whole platform of one stack. `config` must come from `parsePlatformConfig`.
 * `releaseSteps` is Dittofeed's table of upgrade steps (`UPGRADE_STEPS`); tests pass others.
 */
export function createPlatform(
  config: PlatformConfig,
  stack: string,
  releaseSteps: readonly UpgradeStep[] = UPGRADE_STEPS,
): Platform {
  return config.runtime === "kubernetes"
    ? createKubernetesPlatform(config, stack, releaseSteps)
    : createDockerPlatform(config, stack, releaseSteps);
}
