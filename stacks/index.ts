/**
 * One stack's platform, on the runtime its config names: Docker (one host) or Kubernetes (a
 * cluster). Both build the same tenants from the same config and give the same outputs.
 */
import { PlatformConfig } from "./config";
import { UPGRADE_STEPS, UpgradeStep } from "../components/app/releases";
import { nextPlacement, Placement } from "./config/placement";
import { Platform } from "./common";
import { createDockerPlatform } from "./docker";
import { createKubernetesPlatform } from "./kubernetes";

export { Platform, TenantOutputs } from "./common";
export { previousPlacement } from "./previous";

/**
 * Registers the whole platform of one stack. `config` must come from `parsePlatformConfig`, with
 * the `previous` placement it was checked against. `releaseSteps` is Dittofeed's table of upgrade
 * steps (`UPGRADE_STEPS`); tests pass others.
 */
export function createPlatform(
  config: PlatformConfig,
  stack: string,
  previous?: Placement,
  releaseSteps: readonly UpgradeStep[] = UPGRADE_STEPS,
): Platform & { placement: Placement } {
  const platform =
    config.runtime === "kubernetes"
      ? createKubernetesPlatform(config, stack, releaseSteps)
      : createDockerPlatform(config, stack, releaseSteps);
  const docker = config.runtime === "docker";
  return {
    ...platform,
    placement: nextPlacement(
      config.tenants.map((t) => ({
        id: t.id,
        offboarded: t.offboarded,
        slot: docker ? t.slot : undefined,
      })),
      previous,
    ),
  };
}

/**
 * The stack's outputs, as `pulumi stack output` shows them; one the stack does not have is left
 * out, where the engine would warn that an undefined output does not show.
 */
export function stackExports(platform: ReturnType<typeof createPlatform>) {
  return {
    tenants: platform.tenants,
    connections: platform.connections,
    placement: platform.placement,
    ...(platform.backups && { backups: platform.backups }),
    ...(platform.monitoring && { monitoring: platform.monitoring }),
  };
}
