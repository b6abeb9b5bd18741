/**
 * What every runtime's composition shares: where tenants are reached and how the tunnel routes
 * them (pure, checked before anything is registered), and the shape of the stack's outputs.
 */
import * as pulumi from "@pulumi/pulumi";
import { PlatformConfig, TenantConfig } from "./config";
import { IngressRule, ingressRules, withAudiences, withServices } from "../components/edge/ingress";
import { RunConnector } from "../components/runtime/context";
import { Tunnel, TunnelHost } from "../components/edge/tunnel";
import { SharedServices, Tenant, TenantRuntime } from "../components/tenant/tenant";
import { AppUrlOf, TenantSite, tenantSite } from "./sites";

/** The Cloudflare side of a stack that has a tunnel. */
export interface Edge {
  accountId: string;
  zoneId: string;
  teamName?: string;
}

/** A tenant with where it is reached: the one place both are read from. */
export interface SitedTenant {
  tenant: TenantConfig;
  site: TenantSite;
}

/**
 * The stack's ingress document with each tenant's audience still referenced by tenant id.
 * Building it checks it: a document that would misroute a request throws here.
 */
export function ingressDocument(
  edge: Edge,
  tenants: readonly SitedTenant[],
): IngressRule<string>[] {
  const routes = tenants.flatMap(({ tenant, site }) =>
    site.route ? [{ ...site.route, audTag: tenant.id }] : [],
  );
  return ingressRules(routes, edge.teamName);
}

/**
 * The stack's edge, its tenants where they are reached, and its ingress document, built and
 * checked before anything is registered: a document that would misroute creates nothing.
 */
export function plannedStack(config: PlatformConfig, appUrlOf: AppUrlOf) {
  const edge: Edge | undefined = config.domain ? config.cloudflare : undefined;
  const sited: SitedTenant[] = config.tenants.map((tenant) => ({
    tenant,
    site: tenantSite(config, tenant, appUrlOf),
  }));
  const ingress = edge && ingressDocument(edge, sited);
  return { edge, sited, ingress };
}

export interface TenantOutputs {
  workspaceName: string;
  /** The origin the tenant's people open. */
  url: string;
  /** The dashboard's address. */
  dashboardUrl: string;
  /** Where the API (and public event ingestion under `/api/public`) answers. */
  apiUrl: string;
  /** Whether anything outside the platform (its Docker networks, its cluster) reaches it. */
  reachable: boolean;
  /**
   * True once the tenant's release is deployed and, behind a tunnel, the connector routes to it;
   * the update fails otherwise. On Docker: every worker polls the tenant's task queue and the
   * release's post-upgrade steps succeeded. On Kubernetes: every Deployment has rolled out.
   */
  deployed: pulumi.Output<boolean>;
}

export interface Platform {
  tenants: Record<string, TenantOutputs>;
  /** Connection details for operators, and each tenant's `SECRET_KEY`, which a restore needs (secret). */
  connections: pulumi.Output<{
    postgresAdmin: { host: string; port: number; user: string; password: string };
    tenants: Record<string, { databaseUrl: string; secretKey: string }>;
  }>;
  /** Where backups go and how often, when the stack backs up. */
  backups?: {
    location: pulumi.Output<string>;
    intervalHours: number;
    retentionDays: number;
    /** The Docker label that finds the service (`docker ps --filter label=...`), whose health says whether the last set is recent. */
    service: string;
  };
  /** Where Prometheus and Alertmanager answer on the Docker host's loopback, when it is monitored. */
  monitoring?: { prometheus: string; alertmanager: string };
}

/** A tenant's outputs, once `deployed` (its runtime's) and the tunnel's routes resolve. */
function tenantOutputs(
  { tenant, site }: SitedTenant,
  deployed: pulumi.Output<pulumi.Resource[]>,
  routesApplied?: pulumi.Output<pulumi.Resource[]>,
): TenantOutputs {
  return {
    workspaceName: tenant.workspaceName,
    url: site.endpoints.dashboardUrl,
    dashboardUrl: `${site.endpoints.dashboardUrl}/dashboard`,
    apiUrl: `${site.endpoints.apiBaseUrl}/api`,
    reachable: site.reachable,
    deployed: pulumi.all([deployed, routesApplied ?? []]).apply(() => true),
  };
}

/** A sited tenant with the component that runs it. */
export type StampedTenant = SitedTenant & { stamp: Tenant };

/**
 * Each tenant of the stack on the runtime `runtimeOf` gives it: what the tenant is (config), where
 * it is reached and who may sign in (its site and the edge), and the shared services.
 */
export function createTenants(
  config: PlatformConfig,
  stack: string,
  { edge, sited }: { edge?: Edge; sited: readonly SitedTenant[] },
  services: { shared: SharedServices; redisImage: pulumi.Input<string> },
  runtimeOf: (tenant: TenantConfig) => TenantRuntime,
  opts: pulumi.ComponentResourceOptions,
): StampedTenant[] {
  return sited.map(({ tenant, site }) => ({
    tenant,
    site,
    stamp: new Tenant(
      tenant.id,
      {
        environment: config.environment,
        id: tenant.id,
        workspaceName: tenant.workspaceName,
        endpoints: site.endpoints,
        databaseConnectionLimit: tenant.postgresConnectionLimit,
        logLevel: config.dittofeed.logLevel,
        redisImage: services.redisImage,
        namespaceRetentionDays: config.temporal.namespaceRetentionDays,
        namespaceGeneration: tenant.namespaceGeneration,
        shared: services.shared,
        secrets: config.secrets.tenants[tenant.id],
        offboarded: tenant.offboarded,
        access:
          edge && site.route
            ? {
                accountId: edge.accountId,
                stack,
                tenantId: tenant.id,
                hostname: site.route.hostname,
                emails: tenant.accessEmails,
                emailDomains: tenant.accessEmailDomains,
              }
            : undefined,
        runtime: runtimeOf(tenant),
      },
      opts,
    ),
  }));
}

/**
 * The stack's tunnel, when it has an edge: its ingress document with each tenant's audience and
 * origins filled in, its routed hosts, and the runtime's connector (made only then). Resolves once
 * the connector routes this update's document (see `Connector.routesApplied`).
 */
export function stackTunnel(
  stack: string,
  { edge, ingress }: { edge?: Edge; ingress?: IngressRule<string>[] },
  tenants: readonly StampedTenant[],
  connector: () => RunConnector,
  opts: pulumi.ComponentResourceOptions,
): pulumi.Output<pulumi.Resource[]> | undefined {
  if (!edge || !ingress) return undefined;
  const { hosts, audienceOf, serviceOf } = routedHosts(tenants);
  return new Tunnel(
    "tunnel",
    {
      stack,
      accountId: edge.accountId,
      zoneId: edge.zoneId,
      ingress: withServices(withAudiences(ingress, audienceOf), serviceOf),
      hosts,
      connector: connector(),
    },
    opts,
  ).routesApplied;
}

/**
 * Every routed hostname with the Access applications that must guard it first and what serves
 * it, the audience tag of each tenant's application (the ingress document refers to it by tenant
 * id), and the origin of each service the document names.
 */
function routedHosts(tenants: readonly StampedTenant[]) {
  const hosts: TunnelHost[] = [];
  const audiences = new Map<string, pulumi.Output<string>>();
  const services = new Map<string, pulumi.Input<string>>();
  for (const { tenant, site, stamp } of tenants) {
    if (!site.route) continue;
    const { access, route } = stamp;
    if (!access || !route) {
      throw new Error(`Tenant ${tenant.id} would be routed without Access or without its apps`);
    }
    hosts.push({
      tenantId: tenant.id,
      hostname: site.route.hostname,
      guardedBy: access.applications,
      servedBy: { containers: route.servedBy, gates: route.gates },
    });
    audiences.set(tenant.id, access.aud);
    services.set(site.route.apiService, route.services?.api ?? site.route.apiService);
    services.set(
      site.route.dashboardService,
      route.services?.dashboard ?? site.route.dashboardService,
    );
  }
  const lookup =
    <T>(map: Map<string, T>, what: string) =>
    (key: string): T => {
      const value = map.get(key);
      if (value === undefined) throw new Error(`No ${what} for ${key}`);
      return value;
    };
  return {
    hosts,
    audienceOf: lookup(audiences, "Access audience"),
    serviceOf: lookup(services, "origin"),
  };
}

/**
 * The stack's `tenants` and `connections` outputs, whatever the runtime: each tenant's addresses
 * and whether it is deployed (once the tunnel's routes apply, when there is a tunnel), and the
 * admin endpoint with each tenant's `DATABASE_URL` and `SECRET_KEY` (secret).
 */
export function stackOutputs(
  tenants: readonly StampedTenant[],
  routesApplied: pulumi.Output<pulumi.Resource[]> | undefined,
  postgresAdmin: { host: string; port: number; user: string; password: pulumi.Output<string> },
): Pick<Platform, "tenants" | "connections"> {
  return {
    tenants: Object.fromEntries(
      tenants.map((entry) => [
        entry.tenant.id,
        tenantOutputs(entry, entry.stamp.deployed, routesApplied),
      ]),
    ),
    connections: pulumi.secret(
      pulumi.output({
        postgresAdmin,
        tenants: Object.fromEntries(
          tenants.map(({ tenant, stamp }) => [
            tenant.id,
            { databaseUrl: stamp.databaseUrl, secretKey: stamp.secretKey },
          ]),
        ),
      }),
    ),
  };
}
