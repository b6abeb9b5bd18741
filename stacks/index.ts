/**
 * One stack's platform, on the runtime its config names: Docker (one host) or Kubernetes (a
 * cluster). Both build the same tenants from the same config and give the same outputs.
 */
import * as pulumi from "@pulumi/pulumi";
import { PlatformConfig } from "./config";
import {
  dataAfter,
  movingWaves,
  recorded,
  UPGRADE_STEPS,
  UpgradeStep,
} from "../components/app/releases";
import { nextPlacement, Placement, releasedTenants } from "./config/placement";
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
): Platform & { placement: pulumi.Output<Placement> } {
  const released = releasedTenants(config, previous);
  const platform =
    config.runtime === "kubernetes"
      ? createKubernetesPlatform(config, stack, releaseSteps)
      : createDockerPlatform(
          config,
          stack,
          releaseSteps,
          movingWaves(released, config.release.waves),
        );
  const docker = config.runtime === "docker";
  const placement = nextPlacement(
    released.map(({ id, version, offboarded, last }, index) => {
      const from = recorded(last);
      return {
        id,
        offboarded,
        slot: docker ? config.tenants[index].slot : undefined,
        // An offboarded tenant runs no release: its data stays where it was.
        ...(offboarded ? from : dataAfter(from, version, releaseSteps)),
      };
    }),
    previous,
  );
  return {
    ...platform,
    // Written once every tenant is deployed: a release that failed is not recorded as run, and
    // the engine keeps the last outputs of an update that failed (pulumi/pulumi#15754, CLI 3.112).
    placement: pulumi
      .all(Object.values(platform.tenants).map((t) => t.deployed))
      .apply(() => placement),
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
