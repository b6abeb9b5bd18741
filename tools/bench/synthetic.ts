/** Stacks of any size for the benchmark: production's settings with generated tenants. */
import { stackFilePath } from "../../stacks/config/stackFile";
import { BACKUP_CONNECTION_LIMIT, connectionsNeeded } from "../../components/data/postgresServer";
import { TEMPORAL_CONNECTION_LIMIT } from "../../components/data/temporalServer";
import { PROJECT_ROOT, RunOptions, stackFileConfig } from "../engine/runner";

/** The runtimes the benchmark measures. */
export type Runtime = "docker" | "kubernetes";

/** The committed stack whose settings the scaling runs use on each runtime: every feature on. */
export const SCALE_STACKS: Record<Runtime, string> = {
  docker: "production",
  kubernetes: "production-k8s",
};

/**
 * Each generated tenant's connection limit: one pool, so that hundreds of tenants fit one
 * server's `max_connections` (at most 10000 in config).
 */
const SYNTHETIC_CONNECTIONS = 10;

/** The id (and hostname) of the i-th generated tenant, counting from 1: `t0001`. */
export function syntheticTenantId(index: number): string {
  return `t${String(index).padStart(4, "0")}`;
}

/**
 * The runtime's committed production stack with its tenants replaced by `count` generated ones.
 * On Docker each has an explicit slot, as a stack of hundreds of tenants would: hashed ids share
 * slots from a few dozen tenants on. Kubernetes has no slots.
 */
export function syntheticStack(count: number, runtime: Runtime = "docker"): RunOptions {
  const stack = SCALE_STACKS[runtime];
  const { config, secretKeys } = stackFileConfig(stackFilePath(PROJECT_ROOT, stack));
  const tenants = Array.from({ length: count }, (_, i) => {
    const id = syntheticTenantId(i + 1);
    return {
      id,
      workspaceName: `Tenant ${i + 1}`,
      hostname: id,
      accessEmails: [`ops@${id}.example`],
      ...(runtime === "docker" ? { slot: i } : {}),
      postgresConnectionLimit: SYNTHETIC_CONNECTIONS,
    };
  });
  // One Postgres for every tenant: its max_connections must hold them all.
  const postgres = JSON.parse(config["platform:postgres"] ?? "{}") as Record<string, unknown>;
  postgres.maxConnections = connectionsNeeded({
    tenants: tenants.map((t) => ({ id: t.id, limit: SYNTHETIC_CONNECTIONS })),
    temporal: TEMPORAL_CONNECTION_LIMIT,
    backup: BACKUP_CONNECTION_LIMIT,
  });
  return {
    config: {
      ...config,
      "platform:tenants": JSON.stringify(tenants),
      "platform:postgres": JSON.stringify(postgres),
    },
    secretKeys,
    stack,
  };
}
