import * as pulumi from "@pulumi/pulumi";
import { ServingRole } from "../edge/ingress";
import { tenantSqlName } from "../runtime/naming";
import { namespaceAdminClaims, TemporalClaims, tenantNamespace } from "../data/temporalServer";
import { DittofeedSettings, Endpoint } from "../app/contract";
import { Environment } from "../runtime/environments";
import { TenantAccess, TenantAccessArgs } from "../edge/tenantAccess";
import { keyOrGenerated, PostgresServer, RunScript, secretOrGenerated } from "../runtime/context";
import { Database } from "./database";
import { Namespace, TemporalServer } from "./namespace";
import { RedisServer, RedisUser } from "./redisUser";

/** Where a tenant is reached: by its people's browsers, and by the browser's API calls. */
export interface TenantEndpoints {
  /** Dittofeed's `DASHBOARD_URL`: the origin, without `/dashboard`. */
  dashboardUrl: string;
  /** Dittofeed's `DASHBOARD_API_BASE`: where the browser sends `/api` calls. */
  apiBaseUrl: string;
}

/** The stack's shared services, as every runtime's tenant sees them. */
export interface SharedServices {
  postgres: PostgresServer;
  redis: RedisServer;
  /** Dittofeed's `CLICKHOUSE_HOST`: `http://` on the platform's network, `https://` for a managed one. */
  clickhouse: { url: pulumi.Input<string> };
  temporal: TemporalServer & {
    endpoint: Endpoint;
    /** A token of `claims` (secret), signed with Temporal's key. */
    token(claims: TemporalClaims): pulumi.Output<string>;
  };
}

/** What a tenant's shared steps made, which its runtime's release builds on. */
export interface TenantData {
  database: Database;
  redisUser: RedisUser;
  /** The tenant's settings, resolved once, as a secret. */
  settings: pulumi.Output<DittofeedSettings>;
  clickhousePassword: pulumi.Output<string>;
  secretKey: pulumi.Output<string>;
  /** Every secret a job of the tenant's might print, to redact from a failure. */
  secrets: pulumi.Output<string>[];
}

/** What the tunnel's route to a tenant waits for, and where it sends each role. */
export interface TenantRoute {
  /** What must run before a route points at it. */
  servedBy: pulumi.Resource[];
  /** Gates (see `waitFor`) that must have passed too. */
  gates: pulumi.Output<pulumi.Resource[]>[];
  /** The origin of each serving role, where it is not the one the ingress document names. @default the document's */
  services?: Record<ServingRole, pulumi.Output<string>>;
}

/** What a tenant's runtime built of its release. */
export interface TenantRelease {
  /** Resolves once the release is deployed (see `TenantOutputs.deployed`); fails otherwise. */
  deployed: pulumi.Output<pulumi.Resource[]>;
  /** Where the tunnel reaches it, when it serves. @default none (offboarded) */
  route?: TenantRoute;
  /** Its front's alias on the stack's network, which a release gate watches. @default none */
  front?: pulumi.Output<string>;
}

/**
 * The runtime's half of a tenant, which the shared steps call in order: the seam that keeps
 * Docker-only and Kubernetes-only code below `Tenant` (see ./docker.ts, ./kubernetes.ts).
 */
export interface TenantPlace {
  /** Runs the jobs that hold an admin's credentials: never in the tenant's own place. */
  adminRun: RunScript;
  /** What the jobs of its database, Redis user and Temporal namespace wait for. */
  before: { database: pulumi.Resource[]; redis: pulumi.Resource[]; namespace: pulumi.Resource[] };
  /** The backup service's role, which its database lets in. @default none (no backups) */
  backupRole?: pulumi.Input<string>;
  /** Where its processes reach Temporal. */
  temporalAddress: pulumi.Input<string>;
  /** Its release, once its data and Temporal namespace exist: schema, apps, checks. */
  release: (data: TenantData & { namespace: Namespace }) => TenantRelease;
  /** Its offboarding, in place of a release (see `Offboarding`). @default none: the runtime cannot offboard */
  offboard?: (data: TenantData) => TenantRelease;
}

/** What a runtime is told of the tenant it places. */
export interface TenantScope {
  /** The tenant component's name, which prefixes its children's. */
  name: string;
  /** The tenant component, every child's parent. */
  parent: pulumi.Resource;
  id: string;
  /** Its Temporal namespace. */
  namespace: string;
  shared: SharedServices;
  /** Whether the tunnel routes to it (it has Access). */
  exposed: boolean;
}

/** A runtime's way of placing tenants (`dockerTenant`, `kubeTenant`). */
export type TenantRuntime = (scope: TenantScope) => TenantPlace;

export interface TenantArgs {
  /** The stack's environment: production keeps the tenant's database. */
  environment: Environment;
  /** The tenant's id: names its containers or namespace, database, ClickHouse user and Temporal namespace. */
  id: string;
  /** The Dittofeed workspace the bootstrap creates (or keeps). */
  workspaceName: string;
  /** Where the tenant is reached. */
  endpoints: TenantEndpoints;
  /** Connections the tenant's Postgres role may hold at once. Required: its default is config's. */
  databaseConnectionLimit: number;
  /** Dittofeed's `LOG_LEVEL`. */
  logLevel: string;
  /** Image of Redis, whose `redis-cli` adds the tenant's user. */
  redisImage: pulumi.Input<string>;
  /** Days Temporal keeps the history of the tenant's closed workflows. */
  namespaceRetentionDays: number;
  /** Its Temporal namespace's generation (see `tenantNamespace`). @default 1 */
  namespaceGeneration?: number;
  /** The shared services of the stack. */
  shared: SharedServices;
  /** Operator-supplied secrets; each one not given is generated. @default all generated */
  secrets?: { databasePassword?: string; secretKey?: string; adminPassword?: string };
  /** Cloudflare Access for the tenant's public hostname. @default none (not exposed) */
  access?: TenantAccessArgs;
  /**
   * Offboarded (see `Offboarding`): no apps, its data exported and its access locked; its
   * database and secrets stay, so that it can come back. Only a runtime that can offboard is
   * given it (config refuses it elsewhere). @default false
   */
  offboarded?: boolean;
  /** Where and how the tenant runs: its runtime's half. */
  runtime: TenantRuntime;
}

/**
 * One tenant, on either runtime: its own Postgres role and database, Redis user and Temporal
 * namespace, its settings and secrets, and, when it is exposed, the Cloudflare Access
 * applications in front of its hostname; its runtime places it (its own network or namespace,
 * with a single way to the shared services) and runs its release: a migration that must succeed
 * first, then api, dashboard and workers.
 */
export class Tenant extends pulumi.ComponentResource {
  public readonly workspaceName: string;
  /** The origin the tenant's people open; the dashboard lives under `/dashboard`. */
  public readonly url: string;
  public readonly apiUrl: string;
  /** The tenant's `DATABASE_URL` (secret). */
  public readonly databaseUrl: pulumi.Output<string>;
  /** The tenant's `SECRET_KEY` (secret): what a restore of its database needs besides the data. */
  public readonly secretKey: pulumi.Output<string>;
  /**
   * Resolves once the release is deployed (offboarded: once offboarding succeeded); fails
   * otherwise. Nothing waits for it: the stack's outputs carry it, so a failure fails
   * `pulumi up` after the rest is done.
   */
  public readonly deployed: pulumi.Output<pulumi.Resource[]>;
  /** Access in front of the tenant's hostname, when it is exposed through the tunnel. */
  public readonly access?: TenantAccess;
  /** Where the tunnel reaches the tenant, when it serves. */
  public readonly route?: TenantRoute;
  /** Its release's front, on the stack's network, when it has one. */
  public readonly front?: pulumi.Output<string>;

  constructor(name: string, args: TenantArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:tenant:Tenant", name, {}, opts);
    const { id, endpoints, shared } = args;
    this.workspaceName = args.workspaceName;
    this.url = endpoints.dashboardUrl;
    this.apiUrl = endpoints.apiBaseUrl;
    const namespaceName = tenantNamespace(id, args.namespaceGeneration);
    const place = args.runtime({
      name,
      parent: this,
      id,
      namespace: namespaceName,
      shared,
      exposed: args.access !== undefined,
    });

    const secrets = args.secrets ?? {};
    const databasePassword = secretOrGenerated(
      `${name}-db-password`,
      secrets.databasePassword,
      this,
    );
    const clickhousePassword = secretOrGenerated(`${name}-clickhouse-password`, undefined, this);
    // Dittofeed's SECRET_KEY is an AES-256-GCM key: base64 of exactly 32 bytes (dittofeed
    // v0.23.0, packages/backend-lib/src/secrets.ts).
    this.secretKey = keyOrGenerated(`${name}-secret-key`, secrets.secretKey, 32, this);
    const adminPassword = secretOrGenerated(`${name}-admin-password`, secrets.adminPassword, this);

    const database = new Database(
      `${name}-database`,
      {
        context: { environment: args.environment },
        run: place.adminRun,
        tenantId: id,
        postgres: shared.postgres,
        password: databasePassword,
        connectionLimit: args.databaseConnectionLimit,
        dependsOn: place.before.database,
        backupRole: place.backupRole,
        offboarded: args.offboarded,
      },
      { parent: this },
    );
    this.databaseUrl = database.url;
    const sqlName = tenantSqlName(id);
    // Kept while offboarded, with its password: Dittofeed v0.23.0 does not use Redis, and a
    // tenant brought back finds its user as it was.
    const redisUser = new RedisUser(
      `${name}-redis`,
      {
        run: place.adminRun,
        tenantId: id,
        redis: shared.redis,
        image: args.redisImage,
        dependsOn: place.before.redis,
      },
      { parent: this },
    );
    const data: TenantData = {
      database,
      redisUser,
      // Resolved once, as a secret, for every environment derived from it: each stays secret,
      // and every Output costs the SDK promises.
      settings: pulumi.secret({
        databaseUrl: database.url,
        clickhouseUrl: shared.clickhouse.url,
        clickhouseDatabase: sqlName,
        clickhouseUser: sqlName,
        clickhousePassword,
        temporalAddress: place.temporalAddress,
        temporalNamespace: namespaceName,
        redisUrl: redisUser.url,
        secretKey: this.secretKey,
        adminPassword,
        dashboardUrl: endpoints.dashboardUrl,
        apiBaseUrl: endpoints.apiBaseUrl,
        logLevel: args.logLevel,
        workspaceName: args.workspaceName,
      }),
      clickhousePassword,
      secretKey: this.secretKey,
      secrets: [databasePassword, clickhousePassword, this.secretKey, adminPassword],
    };
    const offboard = args.offboarded ? place.offboard : undefined;
    // Registering a namespace takes its admin: the job runs where admin jobs run, with a token
    // of its own, not through the tenant's way to Temporal.
    const release = offboard
      ? offboard(data)
      : place.release({
          ...data,
          namespace: new Namespace(
            `${name}-namespace`,
            {
              run: place.adminRun,
              auth: shared.temporal.token(namespaceAdminClaims(namespaceName)),
              tenantId: id,
              namespace: namespaceName,
              temporal: shared.temporal,
              retentionDays: args.namespaceRetentionDays,
              dependsOn: place.before.namespace,
            },
            { parent: this },
          ),
        });
    this.deployed = release.deployed;
    this.route = release.route;
    this.front = release.front;
    if (args.access)
      this.access = new TenantAccess(`${name}-access`, args.access, { parent: this });
    this.registerOutputs({
      workspaceName: this.workspaceName,
      url: this.url,
      databaseUrl: this.databaseUrl,
    });
  }
}
