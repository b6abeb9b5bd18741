/**
 * Dittofeed's contract as plain data: which images run it, which ports its processes listen on,
 * how their health is probed, and the environment they read. Everything here is a fact about
 * Dittofeed (v0.23.0, github.com/dittofeed/dittofeed), not about how this platform runs it.
 */
import { HealthCheck, httpGetCheck, tcpConnectCheck } from "../runtime/healthchecks";
import { tenantAlias } from "../runtime/naming";
import { httpUrl } from "../runtime/urls";

/** The long-running Dittofeed processes of a tenant. */
export type AppRole = "api" | "dashboard" | "worker";

/** Dittofeed's split images. The admin-cli image is the only one that carries the migrations. */
export type DittofeedImage = AppRole | "adminCli";

const REPOSITORIES: Record<DittofeedImage, string> = {
  api: "dittofeed/dittofeed-api",
  dashboard: "dittofeed/dittofeed-dashboard",
  worker: "dittofeed/dittofeed-worker",
  adminCli: "dittofeed/dittofeed-admin-cli",
};

/** The roles that serve HTTP, and their ports; the worker serves nothing. */
export const APP_PORTS = { api: 3001, dashboard: 3000 } as const;
export type ServingRole = keyof typeof APP_PORTS;
export const SERVING_ROLES = Object.keys(APP_PORTS) as ServingRole[];

/** Which Dittofeed release runs, and the operator's image overrides by role. */
export interface DittofeedRelease {
  version: string;
  images: Partial<Record<DittofeedImage, string>>;
}

/** The image of each role: the operator's override, or the official image at the pinned version. */
export function dittofeedImages(release: DittofeedRelease): Record<DittofeedImage, string> {
  const images = {} as Record<DittofeedImage, string>;
  for (const role of Object.keys(REPOSITORIES) as DittofeedImage[]) {
    images[role] = release.images[role] ?? `${REPOSITORIES[role]}:${release.version}`;
  }
  return images;
}

/** Where a tenant's serving role answers inside the Docker network, by its alias. */
export function appUrl(tenantId: string, role: ServingRole): string {
  return httpUrl(tenantAlias(tenantId, role), APP_PORTS[role]);
}

/** A host and port on the platform network. */
export interface Endpoint {
  host: string;
  port: number;
}

/**
 * The path each serving role answers 200 on without signing in. api and dashboard have no
 * `/health`: dittofeed v0.23.0 packages/api/src/controllers/indexController.ts (`GET /` under the
 * `/api` prefix, "Application health check endpoint") and
 * packages/dashboard/src/pages/api/index.page.ts ("Used for health checks", under the basePath
 * `/dashboard`).
 */
export function dittofeedHealthPath(role: ServingRole): string {
  return role === "api" ? "/api" : "/dashboard/api";
}

/** What says a long-running role is ready, whatever runtime asks: an HTTP path, or a connection. */
export type AppProbe = { http: { port: number; path: string } } | { tcpConnect: Endpoint };

/**
 * The serving roles are ready when their health paths answer. The worker has no HTTP port; it
 * is ready when it can reach Temporal, which it needs to do any work at all.
 */
export function dittofeedProbe(role: AppRole, temporal: Endpoint): AppProbe {
  return role === "worker"
    ? { tcpConnect: temporal }
    : { http: { port: APP_PORTS[role], path: dittofeedHealthPath(role) } };
}

/** Docker's health checks of the long-running roles (see `dittofeedProbe`). */
export function dittofeedHealthCheck(role: AppRole, temporal: Endpoint): HealthCheck {
  const probe = dittofeedProbe(role, temporal);
  return "http" in probe
    ? httpGetCheck(probe.http.port, probe.http.path)
    : tcpConnectCheck(probe.tcpConnect.host, probe.tcpConnect.port);
}

/** Everything a tenant's Dittofeed processes need to know, resolved to plain values. */
export interface DittofeedSettings {
  databaseUrl: string;
  clickhouseUrl: string;
  clickhouseDatabase: string;
  clickhouseUser: string;
  clickhousePassword: string;
  /** `<host>:<port>` of Temporal's frontend. */
  temporalAddress: string;
  temporalNamespace: string;
  redisUrl: string;
  secretKey: string;
  adminPassword: string;
  /** The origin the tenant's people open in a browser. */
  dashboardUrl: string;
  /** Where the browser sends API calls: the same origin behind the tunnel. */
  apiBaseUrl: string;
  logLevel: string;
  /** The workspace the bootstrap creates once (see components/app/bootstrap.ts). */
  workspaceName: string;
}

/**
 * Everything a tenant's Dittofeed processes may read, the same for api, dashboard and workers
 * (so that one set of settings serves all three; see {@link roleEnvironment} for the rest).
 * `DATABASE_URL` is set (not `DATABASE_PASSWORD`): Dittofeed interpolates the separate settings
 * into a URL without encoding them, which breaks on passwords with `+ / = @`.
 */
export function appEnvironment(s: DittofeedSettings): Record<string, string> {
  return {
    NODE_ENV: "production",
    AUTH_MODE: "anonymous",
    DATABASE_URL: s.databaseUrl,
    CLICKHOUSE_HOST: s.clickhouseUrl,
    CLICKHOUSE_DATABASE: s.clickhouseDatabase,
    CLICKHOUSE_USER: s.clickhouseUser,
    CLICKHOUSE_PASSWORD: s.clickhousePassword,
    TEMPORAL_ADDRESS: s.temporalAddress,
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

/**
 * Role-specific additions, none of them secret: Next.js binds to the container hostname unless
 * told otherwise.
 */
export function roleEnvironment(role: AppRole): Record<string, string> {
  switch (role) {
    case "api":
      return { API_HOST: "0.0.0.0", API_PORT: String(APP_PORTS.api) };
    case "dashboard":
      return { HOSTNAME: "0.0.0.0", PORT: String(APP_PORTS.dashboard) };
    case "worker":
      return {};
  }
}

/** The schema step's script: the drizzle migrations, then ClickHouse's tables, both idempotent. */
export const SCHEMA_SCRIPT = "set -e; ./admin.sh migrate; ./admin.sh bootstrap-clickhouse";

/** The one-shot admin-cli steps of a tenant (see `Migration`). */
export type AdminStep = "bootstrap" | "schema";

/**
 * What each admin-cli step reads, and nothing more: a job's environment is one of its inputs, so
 * a setting it does not read (a hostname, an access list) must not re-run it.
 * - `schema` runs `migrate` (drizzle migrations only) and `bootstrap-clickhouse` (ClickHouse
 *   database and tables): Postgres and ClickHouse (dittofeed v0.23.0,
 *   packages/admin-cli/src/commandDefinitions.ts, packages/backend-lib/src/migrate.ts).
 * - `bootstrap` also creates the workspace and, in production, starts its compute-properties
 *   workflows and global cron (`bootstrapWorker`, packages/backend-lib/src/bootstrap.ts): it needs
 *   Temporal too, and `SECRET_KEY` for what it stores.
 */
const STEP_KEYS: Record<AdminStep, readonly string[]> = {
  schema: [
    "NODE_ENV",
    "DATABASE_URL",
    "CLICKHOUSE_HOST",
    "CLICKHOUSE_DATABASE",
    "CLICKHOUSE_USER",
    "CLICKHOUSE_PASSWORD",
    "BOOTSTRAP_SAFE",
    "LOG_LEVEL",
    "DITTOFEED_TELEMETRY_DISABLED",
  ],
  bootstrap: [
    "NODE_ENV",
    "AUTH_MODE",
    "DATABASE_URL",
    "CLICKHOUSE_HOST",
    "CLICKHOUSE_DATABASE",
    "CLICKHOUSE_USER",
    "CLICKHOUSE_PASSWORD",
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "SECRET_KEY",
    "BOOTSTRAP_SAFE",
    "LOG_LEVEL",
    "DITTOFEED_TELEMETRY_DISABLED",
  ],
};

/** Who reads a tenant's settings: a long-running role, or a one-shot admin-cli step. */
export type Consumer = AppRole | AdminStep;

/** The environment of one consumer of a tenant's settings. */
export function consumerEnvironment(
  consumer: Consumer,
  s: DittofeedSettings,
): Record<string, string> {
  const all = appEnvironment(s);
  if (consumer === "bootstrap" || consumer === "schema") {
    const picked = Object.fromEntries(STEP_KEYS[consumer].map((key) => [key, all[key]]));
    // The bootstrap script's own input: it names the workspace only on the bootstrap's command
    // line, so that a rename reaches no app.
    return consumer === "bootstrap" ? { ...picked, WORKSPACE_NAME: s.workspaceName } : picked;
  }
  return { ...all, ...roleEnvironment(consumer) };
}
