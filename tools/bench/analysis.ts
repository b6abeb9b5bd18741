/** What a plan says about the platform's shape: resources by class and tenant, critical path, cross-tenant waits. */
import {
  bringUpOrder,
  nameOf,
  Plan,
  PlannedResource,
  prerequisites,
  SHARED,
  shortType,
  tenantsOf,
} from "../plan/plan";

/** What a resource is, in the terms the blast-radius targets use. */
export type ResourceClass =
  | "database"
  | "cache"
  | "clickhouse"
  | "temporal"
  | "volume"
  | "dns"
  | "access"
  | "tunnel"
  | "app"
  | "bootstrap"
  | "image"
  | "network"
  | "provider"
  | "backup"
  | "secret";

/** The component each class of resource lives in; the first match up the parent chain wins. */
const COMPONENT_CLASSES: Record<string, ResourceClass> = {
  "platform:data:Postgres": "database",
  "platform:tenant:Database": "database",
  "platform:data:Redis": "cache",
  "platform:data:ClickHouse": "clickhouse",
  "platform:data:Temporal": "temporal",
  "platform:edge:Tunnel": "tunnel",
  "platform:edge:TenantAccess": "access",
  "platform:app:DittofeedService": "app",
  "platform:tenant:Migration": "bootstrap",
  "platform:tenant:Namespace": "bootstrap",
  // The check belongs to the rollout of the workers it checks.
  "platform:tenant:WorkerCheck": "app",
  "platform:tenant:Gateway": "network",
  // A release's front belongs to the rollout of the apps it routes to.
  "platform:tenant:Front": "app",
  // A tenant's target file names its front: it belongs to the same rollout.
  "platform:monitoring:TenantTargets": "app",
  "platform:tenant:RedisUser": "cache",
  "platform:edge:EgressGuard": "network",
  "platform:data:Backup": "backup",
  "platform:tenant:Offboarding": "backup",
};

/** Classes fixed by the resource's own type, whatever component holds it. */
function classOfType(type: string): ResourceClass | undefined {
  if (type === "docker:index/volume:Volume") return "volume";
  if (type === "cloudflare:index/dnsRecord:DnsRecord") return "dns";
  if (type.startsWith("cloudflare:index/zeroTrustAccess")) return "access";
  if (type === "docker:index/remoteImage:RemoteImage") return "image";
  if (type === "docker:index/network:Network") return "network";
  if (type.startsWith("pulumi:providers:")) return "provider";
  if (type.startsWith("postgresql:")) return "database";
  return undefined;
}

/** The class of every custom resource of a plan (see {@link ResourceClass}). */
export function classesOf(plan: Plan): Map<string, ResourceClass> {
  const byId = new Map(plan.resources.map((r) => [r.id, r]));
  const classOf = (r: PlannedResource): ResourceClass => {
    const fixed = classOfType(r.type);
    if (fixed) return fixed;
    for (let at = r.parent ? byId.get(r.parent) : undefined; at;) {
      const component = COMPONENT_CLASSES[at.type];
      if (component) return component;
      at = at.parent ? byId.get(at.parent) : undefined;
    }
    // What is left is the tenants' generated credentials.
    return "secret";
  };
  return new Map(plan.resources.filter((r) => r.custom).map((r) => [r.id, classOf(r)]));
}

/**
 * Every custom resource of one tenant that waits, directly or through shared resources, for a
 * resource of another tenant: `<name> waits for <tenant>`. Empty when tenants come up independently.
 */
export function crossTenantWaits(plan: Plan): string[] {
  const prereqs = prerequisites(plan);
  const owners = tenantsOf(plan);
  const upstream = new Map<string, Set<string>>();
  const tenantsUpstream = (id: string): Set<string> => {
    const known = upstream.get(id);
    if (known) return known;
    const found = new Set<string>();
    for (const dep of prereqs.get(id) ?? []) {
      const owner = owners.get(dep)!;
      if (owner !== SHARED) found.add(owner);
      for (const tenant of tenantsUpstream(dep)) found.add(tenant);
    }
    upstream.set(id, found);
    return found;
  };
  const waits: string[] = [];
  for (const id of [...prereqs.keys()].sort()) {
    const owner = owners.get(id)!;
    if (owner === SHARED) continue;
    for (const other of [...tenantsUpstream(id)].sort()) {
      if (other !== owner) waits.push(`${nameOf(id)} waits for ${other}`);
    }
  }
  return waits;
}

/** How often each value occurs, keyed in sorted order. */
export function count(values: Iterable<string>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const v of [...values].sort()) counts[v] = (counts[v] ?? 0) + 1;
  return counts;
}

/** What one size registers, and how its fresh bring-up is ordered. */
export interface ShapeFigures {
  /** Custom resources (what providers create). */
  resources: number;
  components: number;
  byType: Record<string, number>;
  /** Custom resources of the stack's shared part, by short type. */
  shared: Record<string, number>;
  /** Custom resources of every tenant, by short type, when all tenants have the same; else null. */
  perTenant: Record<string, number> | null;
  /** Longest chain of resources created one after another on a fresh stack, by name. */
  criticalPath: string[];
  /** Resources the engine may create at once, at the widest point of the bring-up. */
  widestWave: number;
  crossTenantWaits: string[];
}

export function shapeOf(plan: Plan): ShapeFigures {
  const custom = plan.resources.filter((r) => r.custom);
  const owners = tenantsOf(plan);
  const byOwner = new Map<string, PlannedResource[]>();
  for (const r of custom) {
    const owner = owners.get(r.id)!;
    if (!byOwner.has(owner)) byOwner.set(owner, []);
    byOwner.get(owner)!.push(r);
  }
  const shapes = [...byOwner]
    .filter(([owner]) => owner !== SHARED)
    .map(([, list]) => JSON.stringify(count(list.map((r) => shortType(r.type)))));
  const { waves, criticalPath } = bringUpOrder(plan);
  return {
    resources: custom.length,
    components: plan.resources.length - custom.length,
    byType: count(custom.map((r) => r.type)),
    shared: count((byOwner.get(SHARED) ?? []).map((r) => shortType(r.type))),
    perTenant:
      shapes.length > 0 && shapes.every((s) => s === shapes[0])
        ? (JSON.parse(shapes[0]) as Record<string, number>)
        : null,
    criticalPath: criticalPath.map(nameOf),
    widestWave: Math.max(...waves.map((w) => w.length)),
    crossTenantWaits: crossTenantWaits(plan),
  };
}
