import { HealthCheck, httpGetCheck, tcpConnectCheck } from "../lib/healthchecks";
import { tenantAlias } from "../lib/naming";
import { TenantRoute } from "../lib/edge";
import { httpUrl, publicHostname, tenantOrigin } from "../lib/urls";
import { PlatformConfig, TenantConfig } from "./config";

/** Dittofeed's split images. The admin-cli image is the only one that carries the migrations. */
export type DittofeedRole = "api" | "dashboard" | "worker" | "adminCli";

const REPOSITORIES: Record<DittofeedRole, string> = {
  api: "dittofeed/dittofeed-api",
  dashboard: "dittofeed/dittofeed-dashboard",
  worker: "dittofeed/dittofeed-worker",
  adminCli: "dittofeed/dittofeed-admin-cli",
};

export const API_PORT = 3001;
export const DASHBOARD_PORT = 3000;
export const TEMPORAL_PORT = 7233;
export const POSTGRES_PORT = 5432;
export const REDIS_PORT = 6379;
export const CLICKHOUSE_HTTP_PORT = 8123;

/** Service aliases on the platform network. */
export const SHARED_ALIASES = {
  postgres: "postgres",
  redis: "redis",
  clickhouse: "clickhouse",
  temporal: "temporal",
} as const;

/** The image of each role: the operator's override, or the official image at the pinned version. */
export function dittofeedImages(
  dittofeed: PlatformConfig["dittofeed"],
): Record<DittofeedRole, string> {
  const images = {} as Record<DittofeedRole, string>;
  for (const role of Object.keys(REPOSITORIES) as DittofeedRole[]) {
    images[role] = dittofeed.images[role] ?? `${REPOSITORIES[role]}:${dittofeed.version}`;
  }
  return images;
}

/**
 * Health checks of the long-running roles. api and dashboard have no `/health` path: `/api` and
 * `/dashboard/api` are the paths that answer 200. The worker has no HTTP port; it is healthy when
 * it can reach Temporal, which it needs to do any work at all.
 */
export function dittofeedHealthCheck(role: "api" | "dashboard" | "worker"): HealthCheck {
  switch (role) {
    case "api":
      return httpGetCheck(API_PORT, "/api");
    case "dashboard":
      return httpGetCheck(DASHBOARD_PORT, "/dashboard/api");
    case "worker":
      return tcpConnectCheck(SHARED_ALIASES.temporal, TEMPORAL_PORT);
  }
}

/** Everything a tenant's Dittofeed processes need to know, resolved to plain values. */
export interface DittofeedSettings {
  databaseUrl: string;
  clickhouseUrl: string;
  clickhouseDatabase: string;
  clickhouseUser: string;
  clickhousePassword: string;
  temporalNamespace: string;
  redisUrl: string;
  secretKey: string;
  adminPassword: string;
  /** The origin the tenant's people open in a browser. */
  dashboardUrl: string;
  /** Where the browser sends API calls: the same origin behind the tunnel. */
  apiBaseUrl: string;
  logLevel: string;
}

/**
 * The environment shared by api, dashboard, worker and the bootstrap job. `DATABASE_URL` is set
 * (not `DATABASE_PASSWORD`): Dittofeed interpolates the separate settings into a URL without
 * encoding them, which breaks on passwords with `+ / = @`.
 */
export function dittofeedEnvironment(s: DittofeedSettings): Record<string, string> {
  return {
    NODE_ENV: "production",
    AUTH_MODE: "anonymous",
    DATABASE_URL: s.databaseUrl,
    CLICKHOUSE_HOST: s.clickhouseUrl,
    CLICKHOUSE_DATABASE: s.clickhouseDatabase,
    CLICKHOUSE_USER: s.clickhouseUser,
    CLICKHOUSE_PASSWORD: s.clickhousePassword,
    TEMPORAL_ADDRESS: `${SHARED_ALIASES.temporal}:${TEMPORAL_PORT}`,
    TEMPORAL_NAMESPACE: s.temporalNamespace,
    REDIS_URL: s.redisUrl,
    SECRET_KEY: s.secretKey,
    PASSWORD: s.adminPassword,
    DASHBOARD_URL: s.dashboardUrl,
    DASHBOARD_API_BASE: s.apiBaseUrl,
    ALLOWED_ORIGINS: s.dashboardUrl,
    BOOTSTRAP_SAFE: "true",
    LOG_LEVEL: s.logLevel,
    DITTOFEED_TELEMETRY_DISABLED: "true",
  };
}

/** Role-specific additions: Next.js binds to the container hostname unless told otherwise. */
export function roleEnvironment(role: "api" | "dashboard" | "worker"): Record<string, string> {
  switch (role) {
    case "api":
      return { API_HOST: "0.0.0.0", API_PORT: String(API_PORT) };
    case "dashboard":
      return { HOSTNAME: "0.0.0.0", PORT: String(DASHBOARD_PORT) };
    case "worker":
      return {};
  }
}

/** Where a tenant is reached: by its people's browsers, and by the browser's API calls. */
export interface TenantEndpoints {
  /** Dittofeed's `DASHBOARD_URL`: the origin, without `/dashboard`. */
  dashboardUrl: string;
  /** Dittofeed's `DASHBOARD_API_BASE`: where the browser sends `/api` calls. */
  apiBaseUrl: string;
  /** Whether anyone outside the Docker network can reach it (tunnel or dev loopback). */
  reachable: boolean;
}

/**
 * Behind the tunnel a tenant is one origin: `/api` routes to its api, everything else to its
 * dashboard. In dev without a tunnel, api and dashboard sit on their own loopback ports. A
 * staging or production tenant without a tunnel is reachable only inside the Docker network.
 */
export function tenantEndpoints(
  config: Pick<PlatformConfig, "environment" | "domain">,
  tenant: Pick<TenantConfig, "id" | "hostname" | "exposed" | "devPorts">,
): TenantEndpoints {
  if (tenant.exposed && config.domain) {
    const origin = tenantOrigin(tenant.hostname, config.domain);
    return { dashboardUrl: origin, apiBaseUrl: origin, reachable: true };
  }
  if (config.environment === "dev") {
    return {
      dashboardUrl: httpUrl("localhost", tenant.devPorts.dashboard),
      apiBaseUrl: httpUrl("localhost", tenant.devPorts.api),
      reachable: true,
    };
  }
  return {
    dashboardUrl: httpUrl(tenantAlias(tenant.id, "dashboard"), DASHBOARD_PORT),
    apiBaseUrl: httpUrl(tenantAlias(tenant.id, "api"), API_PORT),
    reachable: false,
  };
}

/** How the tunnel reaches a tenant: its public hostname to its api and dashboard aliases. */
export function tenantRoute(
  domain: string,
  tenant: Pick<TenantConfig, "id" | "hostname">,
): TenantRoute<never> {
  return {
    tenantId: tenant.id,
    hostname: publicHostname(tenant.hostname, domain),
    apiService: httpUrl(tenantAlias(tenant.id, "api"), API_PORT),
    dashboardService: httpUrl(tenantAlias(tenant.id, "dashboard"), DASHBOARD_PORT),
  };
}
