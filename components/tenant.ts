import * as pulumi from "@pulumi/pulumi";
import { LoopbackPort, secretEnv, waitFor } from "../lib/containers";
import { PlatformContext, secretOrGenerated } from "../lib/context";
import { tenantSqlName } from "../lib/naming";
import { TenantConfig } from "../stacks/config";
import {
  API_PORT,
  DASHBOARD_PORT,
  dittofeedEnvironment,
  roleEnvironment,
  TenantEndpoints,
} from "../stacks/dittofeed";
import { ClickHouse } from "./clickhouse";
import { DittofeedService } from "./dittofeedService";
import { Migration } from "./migration";
import { Postgres } from "./postgres";
import { Redis } from "./redis";
import { Temporal } from "./temporal";
import { TenantAccess, TenantAccessArgs } from "./tenantAccess";
import { TenantDatabase } from "./tenantDatabase";

export interface TenantArgs {
  /** The stack this tenant lives in. */
  context: PlatformContext;
  /** The tenant's validated config. */
  tenant: TenantConfig;
  /** Where the tenant is reached (see `tenantEndpoints`). */
  endpoints: TenantEndpoints;
  /** Publish api and dashboard on the Docker host's loopback (dev only). Default: false. */
  publishPorts?: boolean;
  /** Dittofeed's `LOG_LEVEL`. */
  logLevel: string;
  /** Image ids of the Dittofeed roles and of ClickHouse (for its client). */
  images: Record<"api" | "dashboard" | "worker" | "adminCli" | "clickhouse", pulumi.Input<string>>;
  /** The shared services of the stack. */
  shared: { postgres: Postgres; redis: Redis; clickhouse: ClickHouse; temporal: Temporal };
  /** Operator-supplied secrets; each one not given is generated. */
  secrets?: { databasePassword?: string; secretKey?: string; adminPassword?: string };
  /** Cloudflare Access for the tenant's public hostname. Default: none (not exposed). */
  access?: TenantAccessArgs;
}

/**
 * One tenant's stamp: its own Postgres role and database, ClickHouse database and user, Temporal
 * namespace, a migration that must succeed first, then api, dashboard and workers, and, when it
 * is exposed, the Cloudflare Access applications in front of its hostname.
 */
export class Tenant extends pulumi.ComponentResource {
  public readonly workspaceName: string;
  /** The origin the tenant's people open; the dashboard lives under `/dashboard`. */
  public readonly url: string;
  public readonly apiUrl: string;
  /** The tenant's `DATABASE_URL` (secret). */
  public readonly databaseUrl: pulumi.Output<string>;
  public readonly api: DittofeedService;
  public readonly dashboard: DittofeedService;
  public readonly worker: DittofeedService;
  /** Access in front of the tenant's hostname, when it is exposed through the tunnel. */
  public readonly access?: TenantAccess;

  constructor(name: string, args: TenantArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:tenant:Tenant", name, {}, opts);
    const { context, tenant, endpoints, images } = args;
    const { postgres, redis, clickhouse, temporal } = args.shared;
    const secrets = args.secrets ?? {};
    this.workspaceName = tenant.workspaceName;
    this.url = endpoints.dashboardUrl;
    this.apiUrl = endpoints.apiBaseUrl;

    const databasePassword = secretOrGenerated(
      `${name}-db-password`,
      secrets.databasePassword,
      this,
    );
    const clickhousePassword = secretOrGenerated(`${name}-clickhouse-password`, undefined, this);
    const secretKey = secretOrGenerated(`${name}-secret-key`, secrets.secretKey, this, 44);
    const adminPassword = secretOrGenerated(`${name}-admin-password`, secrets.adminPassword, this);

    const database = new TenantDatabase(
      `${name}-database`,
      { context, tenantId: tenant.id, postgres, password: databasePassword },
      { parent: this },
    );
    this.databaseUrl = database.url;

    const sqlName = tenantSqlName(tenant.id);
    const settings = {
      databaseUrl: database.url,
      clickhouseUrl: clickhouse.url,
      clickhouseDatabase: sqlName,
      clickhouseUser: sqlName,
      clickhousePassword,
      temporalNamespace: tenant.id,
      redisUrl: redis.url,
      secretKey,
      adminPassword,
      dashboardUrl: endpoints.dashboardUrl,
      apiBaseUrl: endpoints.apiBaseUrl,
      logLevel: args.logLevel,
    };
    // Resolved once for the tenant's four environments: every Output costs the SDK promises.
    const resolved = pulumi.output(settings);
    const environment = (role?: "api" | "dashboard" | "worker") =>
      secretEnv(
        resolved.apply((s) => ({
          ...dittofeedEnvironment(s),
          ...(role ? roleEnvironment(role) : {}),
        })),
      );

    const migration = new Migration(
      `${name}-migration`,
      {
        context,
        tenantId: tenant.id,
        workspaceName: tenant.workspaceName,
        adminCliImage: images.adminCli,
        clickhouseImage: images.clickhouse,
        clickhouse,
        clickhouseAccess: { database: sqlName, user: sqlName, password: clickhousePassword },
        env: environment(),
        dependsOn: [
          database.database,
          database.revokePublic,
          postgres.container,
          clickhouse.container,
          temporal.container,
        ],
      },
      { parent: this },
    );
    // Every app container waits for the migration's success and for the services it talks to.
    const ready = waitFor([temporal.container, redis.container], [migration.succeeded]);
    const service = (role: "api" | "dashboard" | "worker", port?: LoopbackPort) =>
      new DittofeedService(
        `${name}-${role}`,
        {
          context,
          tenantId: tenant.id,
          role,
          image: images[role],
          env: environment(role),
          memoryMb: tenant.memoryMb[role],
          replicas: role === "worker" ? tenant.workerReplicas : 1,
          ports: args.publishPorts && port ? [port] : undefined,
          dependsOn: ready,
        },
        { parent: this },
      );
    this.api = service("api", { internal: API_PORT, external: tenant.devPorts.api });
    this.dashboard = service("dashboard", {
      internal: DASHBOARD_PORT,
      external: tenant.devPorts.dashboard,
    });
    this.worker = service("worker");
    if (args.access)
      this.access = new TenantAccess(`${name}-access`, args.access, { parent: this });

    this.registerOutputs({
      workspaceName: this.workspaceName,
      url: this.url,
      databaseUrl: this.databaseUrl,
    });
  }
}
