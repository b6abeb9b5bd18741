/**
 * Where each tenant is reached, computed once per tenant from config: its public hostname and
 * tunnel route when it is exposed, and the URLs its people and their browsers use.
 */
import { PlatformConfig, TenantConfig } from "./config";
import { TenantEndpoints } from "../components/tenant/tenant";
import { appUrl, ServingRole } from "../components/app/contract";
import { TenantRoute } from "../components/edge/ingress";
import { httpsOrigin, httpUrl, publicHostname } from "../components/runtime/urls";

/** Where a tenant's serving role answers inside the platform: the runtime's address for it. */
export type AppUrlOf = (tenantId: string, role: ServingRole) => string;

/** How the tunnel reaches a tenant: its public hostname to its api and dashboard. */
export function tenantRoute(
  domain: string,
  tenant: Pick<TenantConfig, "id" | "hostname">,
  appUrlOf: AppUrlOf = appUrl,
): TenantRoute<never> {
  return {
    tenantId: tenant.id,
    hostname: publicHostname(tenant.hostname, domain),
    apiService: appUrlOf(tenant.id, "api"),
    dashboardService: appUrlOf(tenant.id, "dashboard"),
  };
}

export interface TenantSite {
  endpoints: TenantEndpoints;
  /** Whether anyone outside the platform can reach it (tunnel or dev loopback). */
  reachable: boolean;
  /** Its route through the tunnel, when it is exposed. */
  route?: TenantRoute<never>;
}

/**
 * Behind the tunnel a tenant is one origin: `/api` routes to its api, everything else to its
 * dashboard. In dev without a tunnel, api and dashboard sit on their own loopback ports (published
 * by Docker, or forwarded with kubectl). A staging or production tenant without a tunnel is
 * reachable only inside the platform.
 */
export function tenantSite(
  config: Pick<PlatformConfig, "environment" | "domain">,
  tenant: Pick<TenantConfig, "id" | "hostname" | "exposed" | "devPorts">,
  appUrlOf: AppUrlOf,
): TenantSite {
  if (tenant.exposed && config.domain) {
    const route = tenantRoute(config.domain, tenant, appUrlOf);
    const origin = httpsOrigin(route.hostname);
    return { endpoints: { dashboardUrl: origin, apiBaseUrl: origin }, reachable: true, route };
  }
  if (config.environment === "dev") {
    return {
      endpoints: {
        dashboardUrl: httpUrl("localhost", tenant.devPorts.dashboard),
        apiBaseUrl: httpUrl("localhost", tenant.devPorts.api),
      },
      reachable: true,
    };
  }
  return {
    endpoints: {
      dashboardUrl: appUrl(tenant.id, "dashboard"),
      apiBaseUrl: appUrl(tenant.id, "api"),
    },
    reachable: false,
  };
}
