/**
 * Docker names are global on a host, so they carry the stack name: two stacks (say staging and
 * production) can then share one Docker host. Pulumi's logical names need no prefix: URNs already
 * carry the stack.
 *
 * A stack name may hold any of Docker's name characters (letters, digits, `_`, `.`, `-`), so no
 * separator alone keeps two stacks' names apart. Two forms do, read from the right:
 * - a shared object is `<stack>-<service>`, from a fixed set of services none of which ends with
 *   `-` and another (`SHARED_SERVICES`): `prod-eu-postgres` is stack `prod-eu`'s Postgres, and
 *   no other stack's anything;
 * - a tenant's object is `<stack>_<tenant>.<service>`: tenant ids and services hold neither `_`
 *   nor `.`, so the last `_` ends the stack and the `.` after it ends the tenant. Stack `prod` with
 *   tenant `eu-acme` and stack `prod-eu` with tenant `acme` give `prod_eu-acme.api` and
 *   `prod-eu_acme.api`. A shared name never ends in `.<service>` of a tenant, since no tenant
 *   service ends with `-` and a shared service (the test of this module checks both lists).
 */
export function dockerName(stack: string, service: SharedService): string {
  return `${stack}-${service}`;
}

/** The objects a stack has once, whatever its tenants: each a `dockerName` suffix. */
export const SHARED_SERVICES = [
  "postgres",
  "postgres-data",
  "postgres-rotate-password",
  "postgres-version-check",
  "redis",
  "redis-data",
  "clickhouse",
  "clickhouse-data",
  "temporal",
  "temporal-schema",
  "temporal-keys",
  "cloudflared",
  "tunnel-check",
  "egress-guard",
  "platform",
  "backup",
  "backup-data",
  "backup-tools",
  "backup-access",
  "backup-grants",
  "backup-clickhouse-copy",
  "backup-rclone-copy",
  "prometheus",
  "prometheus-data",
  "prometheus-targets-data",
  "alertmanager",
  "alertmanager-data",
  "node-exporter",
  "monitoring",
  // Followed by the wave it lets go (`<stack>-release-gate-2`): no service ends in a digit.
  "release-gate",
] as const;
export type SharedService = (typeof SHARED_SERVICES)[number];

/** The Docker name of a tenant's object: `<stack>_<tenant>.<service>` (see `dockerName`). */
export function tenantDockerName(stack: string, tenantId: string, ...service: string[]): string {
  const suffix = service.join("-");
  if (!/^[a-z0-9-]+$/.test(suffix) || !/^[a-z0-9-]+$/.test(tenantId)) {
    throw new Error(`Docker name parts ${JSON.stringify([tenantId, suffix])} must be slugs`);
  }
  const shared = SHARED_SERVICES.find((name) => suffix.endsWith(`-${name}`));
  if (shared !== undefined) {
    throw new Error(`A tenant's service ${JSON.stringify(suffix)} must not end with -${shared}`);
  }
  return `${stack}_${tenantId}.${suffix}`;
}

/** Postgres and ClickHouse identifiers for a tenant: slugs map one-to-one, hyphens to underscores. */
export function tenantSqlName(tenantId: string): string {
  return `dittofeed_${tenantId.replace(/-/g, "_")}`;
}

/**
 * The network alias of a tenant's service. Aliases, unlike container IPs, survive replacement,
 * so every consumer (other services, tunnel routes) addresses services by alias.
 */
export function tenantAlias(tenantId: string, role: string): string {
  return `${tenantId}-${role}`;
}
