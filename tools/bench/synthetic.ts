/** Stacks of any size for the benchmark: production's settings with generated tenants. */
import { stackFilePath } from "../../config/stackFile";
import { PROJECT_ROOT, RunOptions, stackFileConfig } from "../engine/runner";

/** The committed stack whose settings the scaling runs use: the one with every feature on. */
export const SCALE_STACK = "production";

/** The id (and hostname) of the i-th generated tenant, counting from 1: `t0001`. */
export function syntheticTenantId(index: number): string {
  return `t${String(index).padStart(4, "0")}`;
}

/**
 * The committed production stack with its tenants replaced by `count` generated ones. Each has
 * an explicit slot, as a stack of hundreds of tenants would: hashed ids share slots from a few
 * dozen tenants on.
 */
export function syntheticStack(count: number): RunOptions {
  const { config, secretKeys } = stackFileConfig(stackFilePath(PROJECT_ROOT, SCALE_STACK));
  const tenants = Array.from({ length: count }, (_, i) => {
    const id = syntheticTenantId(i + 1);
    return {
      id,
      workspaceName: `Tenant ${i + 1}`,
      hostname: id,
      accessEmails: [`ops@${id}.example`],
      slot: i,
    };
  });
  return {
    config: { ...config, "platform:tenants": JSON.stringify(tenants) },
    secretKeys,
    stack: SCALE_STACK,
  };
}
