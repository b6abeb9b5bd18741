/**
 * Docker names are global on a host, so they carry the stack name: two stacks (say staging and
 * production) can then share one Docker host. Pulumi's logical names need no prefix: URNs already
 * carry the stack.
 */
export function dockerName(stack: string, ...parts: string[]): string {
  return [stack, ...parts].join("-");
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
