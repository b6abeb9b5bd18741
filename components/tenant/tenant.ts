import * as pulumi from "@pulumi/pulumi";
import {
  APP_PORTS,
  AppRole,
  DittofeedImage,
  Consumer,
  consumerEnvironment,
  dittofeedHealthPath,
  SERVING_ROLES,
} from "../app/contract";
import { UpgradeStep } from "../app/releases";
import { tenantSqlName } from "../runtime/naming";
import { namespaceAdminClaims, tenantClaims, tenantNamespace } from "../data/temporalServer";
import { DittofeedService } from "../app/dittofeedService";
import { Backup } from "../data/backup";
import { ClickHouse } from "../data/clickhouse";
import { Postgres } from "../data/postgres";
import { Redis } from "../data/redis";
import { Temporal } from "../data/temporal";
import { Monitoring } from "../monitoring/monitoring";
import { TenantTargets } from "../monitoring/tenantTargets";
import { TenantAccess, TenantAccessArgs } from "../edge/tenantAccess";
import { keyOrGenerated, PlatformContext, secretOrGenerated, waitFor } from "../runtime/context";
import { envList, LoopbackPort, tenantNetwork, tenantScriptRunner } from "../runtime/docker";
import { Database } from "./database";
import { Offboarding } from "./offboarding";
import { Front } from "./front";
import { Gateway } from "./gateway";
import { Migration } from "./migration";
import { Namespace } from "./namespace";
import { RedisUser } from "./redisUser";
import { installedVersion, UpgradeSteps } from "./upgrade";
import { WorkerCheck } from "./workerCheck";

/** Where a tenant is reached: by its people's browsers, and by the browser's API calls. */
export interface TenantEndpoints {
  /** Dittofeed's `DASHBOARD_URL`: the origin, without `/dashboard`. */
  dashboardUrl: string;
  /** Dittofeed's `DASHBOARD_API_BASE`: where the browser sends `/api` calls. */
  apiBaseUrl: string;
}

export interface TenantArgs {
  /** The stack this tenant lives in. */
  context: PlatformContext;
  /** The tenant's id: names its containers, aliases, database, ClickHouse user and Temporal namespace. */
  id: string;
  /** The Dittofeed workspace the bootstrap creates (or keeps). */
  workspaceName: string;
  /** Where the tenant is reached. */
  endpoints: TenantEndpoints;
  /** The subnet of the tenant's own network (its slot of `platform:network.pool`). */
  subnet: string;
  /** Memory limit of the tenant's gateway container in MB. Required: its default is config's. */
  gatewayMemoryMb: number;
  /**
   * The host firewall rules that keep the tenant off private addresses (see EgressGuard); every
   * container of the tenant starts after them. @default none (the operator turned the guard off)
   */
  egressGuard?: pulumi.Resource;
  /** Loopback ports on the Docker host to publish api and dashboard on (dev only). @default none */
  devPorts?: Record<keyof typeof APP_PORTS, number>;
  /** Container memory limits in MB. Required: their defaults are config's. */
  memoryMb: Record<AppRole, number>;
  /** Number of worker containers. @default 1 */
  workerReplicas?: number;
  /** The most CPUs each of its api, dashboard and worker containers may use. Required: its default is config's. */
  cpus: number;
  /** Connections the tenant's Postgres role may hold at once. Required: its default is config's. */
  databaseConnectionLimit: number;
  /** Dittofeed's `LOG_LEVEL`. */
  logLevel: string;
  /** Image ids of the Dittofeed roles, of the gateway, and of ClickHouse and Redis (for their clients). */
  images: Record<DittofeedImage | "clickhouse" | "redis" | "gateway", pulumi.Input<string>>;
  /**
   * The Dittofeed release deployed, and its upgrade steps that a tenant installed earlier must
   * run (`stepsCrossed` from the oldest supported release), in order.
   */
  release: { version: string; steps: readonly UpgradeStep[] };
  /** How long, after its workers start, each of them has to poll its task queue. */
  workerCheckSeconds: number;
  /** Days Temporal keeps the history of the tenant's closed workflows. */
  namespaceRetentionDays: number;
  /** The shared services of the stack. */
  shared: { postgres: Postgres; redis: Redis; clickhouse: ClickHouse; temporal: Temporal };
  /** Operator-supplied secrets; each one not given is generated. @default all generated */
  secrets?: { databasePassword?: string; secretKey?: string; adminPassword?: string };
  /**
   * Cloudflare Access for the tenant's public hostname; with it, the tenant is routed through the
   * tunnel and gets a front for each release. @default none (not exposed)
   */
  access?: TenantAccessArgs;
  /** Its Temporal namespace's generation (see `tenantNamespace`). @default 1 */
  namespaceGeneration?: number;
  /**
   * The stack's backup service, which the tenant's database lets in; with `snapshots`, each of
   * the tenant's migrations waits for a snapshot of its database. @default none (no backups)
   */
  backup?: { service: Backup; snapshots: boolean };
  /**
   * The stack's monitoring: the tenant writes its own target file, which names its front
   * (nothing while it has none). @default none (not monitored)
   */
  monitoring?: Monitoring;
  /**
   * Offboarded (see `Offboarding`): no apps, its data exported and its access locked; its
   * network, gateway, database and secrets stay, so that it can come back. @default false
   */
  offboarded?: boolean;
}

/** The gateway's variable that holds the tenant's Temporal token. */
const TEMPORAL_TOKEN = "TEMPORAL_AUTHORIZATION";

/** The loopback binds of a serving role in dev; workers serve nothing. */
function loopbackPorts(
  role: AppRole,
  devPorts: TenantArgs["devPorts"],
): LoopbackPort[] | undefined {
  if (role === "worker" || devPorts === undefined) return undefined;
  return [{ internal: APP_PORTS[role], external: devPorts[role] }];
}

/**
 * One tenant's stamp: its own network, with a gateway as its only way to the shared services and
 * the tunnel's only way in; its own Postgres role and database, ClickHouse database and user,
 * Redis user and Temporal namespace; a migration that must succeed first, then api, dashboard
 * and workers, and, when it is exposed, the Cloudflare Access applications in front of its
 * hostname. Every container of the tenant is on its network alone; the gateway is the one that is
 * also on the data network. Offboarded, it keeps its network, gateway, database, Redis user and
 * secrets, and has no apps: see `Offboarding`.
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
  /** Its apps; none while it is offboarded. */
  public readonly api?: DittofeedService;
  public readonly dashboard?: DittofeedService;
  public readonly worker?: DittofeedService;
  /** What offboarding did, while the tenant is offboarded. */
  public readonly offboarding?: Offboarding;
  /**
   * Resolves once every worker polls the tenant's task queue and the release's `post` upgrade
   * steps succeeded (offboarded: once offboarding succeeded); fails otherwise. Nothing waits for it: the stack's outputs carry it, so a
   * failure fails `pulumi up` after the rest is done.
   */
  public readonly deployed: pulumi.Output<pulumi.Resource[]>;
  /** Access in front of the tenant's hostname, when it is exposed through the tunnel. */
  public readonly access?: TenantAccess;
  /** Where the tunnel reaches this release of the tenant's api and dashboard, when it is exposed. */
  public readonly front?: Front;

  constructor(name: string, args: TenantArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:tenant:Tenant", name, {}, opts);
    const { id, endpoints, images } = args;
    const { postgres, redis, clickhouse, temporal } = args.shared;
    const network = tenantNetwork(`${name}-network`, args.context, id, args.subnet, this);
    const namespaceName = tenantNamespace(id, args.namespaceGeneration);
    // The stack's context for this tenant's containers: every one of them on its own network.
    const context: PlatformContext = { ...args.context, network: network.name };
    // Jobs that hold an admin's credentials or token run on the data network, never on the tenant's.
    const adminRun = tenantScriptRunner(args.context, id);
    const gateway = new Gateway(
      `${name}-gateway`,
      {
        context: args.context,
        tenantNetwork: network.name,
        tenantId: id,
        image: images.gateway,
        memoryMb: args.gatewayMemoryMb,
        shared: [
          // Its own role only: no superuser, Temporal or backup login through it.
          { host: postgres.host, port: postgres.port, postgresRole: tenantSqlName(id) },
          { host: redis.host, port: redis.port },
          { host: clickhouse.host, port: clickhouse.port },
          { host: clickhouse.host, port: clickhouse.nativePort },
          // Every call to Temporal carries the tenant's token, for its namespace alone.
          { ...temporal.endpoint, bearerFrom: TEMPORAL_TOKEN },
        ],
        env: { [TEMPORAL_TOKEN]: temporal.token(tenantClaims(id, namespaceName)) },
        // Every other container of the tenant waits for its gateway, and so for the guard.
        dependsOn: args.egressGuard ? [args.egressGuard] : [],
      },
      { parent: this },
    );
    const secrets = args.secrets ?? {};
    this.workspaceName = args.workspaceName;
    this.url = endpoints.dashboardUrl;
    this.apiUrl = endpoints.apiBaseUrl;

    const databasePassword = secretOrGenerated(
      `${name}-db-password`,
      secrets.databasePassword,
      this,
    );
    const clickhousePassword = secretOrGenerated(`${name}-clickhouse-password`, undefined, this);
    // Dittofeed's SECRET_KEY is an AES-256-GCM key: base64 of exactly 32 bytes (dittofeed
    // v0.23.0, packages/backend-lib/src/secrets.ts).
    const secretKey = keyOrGenerated(`${name}-secret-key`, secrets.secretKey, 32, this);
    this.secretKey = secretKey;
    const adminPassword = secretOrGenerated(`${name}-admin-password`, secrets.adminPassword, this);

    const database = new Database(
      `${name}-database`,
      {
        context,
        run: adminRun,
        tenantId: id,
        postgres,
        password: databasePassword,
        connectionLimit: args.databaseConnectionLimit,
        dependsOn: [gateway.container],
        backupRole: args.backup?.service.role.name,
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
        run: adminRun,
        tenantId: id,
        redis,
        image: images.redis,
        dependsOn: [redis.container, gateway.container],
      },
      { parent: this },
    );

    if (args.offboarded) {
      this.offboarding = new Offboarding(
        `${name}-offboarding`,
        {
          context: args.context,
          tenantId: id,
          sqlName,
          namespace: namespaceName,
          secretKey,
          backup: args.backup && {
            service: args.backup.service,
            readable: database.backupReadable ? [database.backupReadable] : [],
          },
          clickhouse,
          clickhouseImage: images.clickhouse,
          temporal,
          adminCliImage: images.adminCli,
          postgres,
          role: database.role,
          dependsOn: [gateway.container, database.database, clickhouse.container],
        },
        { parent: this },
      );
      this.deployed = this.offboarding.succeeded;
      // Its file empties: Prometheus stops scraping it, and its alerts resolve.
      if (args.monitoring)
        new TenantTargets(
          `${name}-monitoring`,
          { context, monitoring: args.monitoring, tenantId: id, namespace: namespaceName },
          { parent: this },
        );
      this.registerOutputs({ workspaceName: this.workspaceName, databaseUrl: this.databaseUrl });
      return;
    }

    // Registering a namespace takes its admin: the job runs on the data network, with a token
    // of its own, not through the tenant's gateway.
    const namespace = new Namespace(
      `${name}-namespace`,
      {
        run: adminRun,
        auth: temporal.token(namespaceAdminClaims(namespaceName)),
        tenantId: id,
        namespace: namespaceName,
        temporal,
        retentionDays: args.namespaceRetentionDays,
        dependsOn: [temporal.container, gateway.container],
      },
      { parent: this },
    );

    const settings = {
      databaseUrl: database.url,
      clickhouseUrl: clickhouse.url,
      clickhouseDatabase: sqlName,
      clickhouseUser: sqlName,
      clickhousePassword,
      temporalAddress: temporal.address,
      temporalNamespace: namespace.name,
      redisUrl: redisUser.url,
      secretKey,
      adminPassword,
      dashboardUrl: endpoints.dashboardUrl,
      apiBaseUrl: endpoints.apiBaseUrl,
      logLevel: args.logLevel,
      workspaceName: args.workspaceName,
    };
    // Resolved once, as a secret, for the tenant's four environments: each derived environment
    // stays secret, and every Output costs the SDK promises.
    const resolved = pulumi.secret(settings);
    const environment = (consumer: Consumer) =>
      resolved.apply((s) => envList(consumerEnvironment(consumer, s)));

    const stepSecrets = [databasePassword, clickhousePassword, secretKey, adminPassword];
    const migration = new Migration(
      `${name}-migration`,
      {
        context,
        adminContext: args.context,
        tenantId: id,
        adminCliImage: images.adminCli,
        clickhouseImage: images.clickhouse,
        clickhouse,
        clickhouseAccess: { database: sqlName, user: sqlName, password: clickhousePassword },
        env: { bootstrap: environment("bootstrap"), schema: environment("schema") },
        secrets: stepSecrets,
        dependsOn: [
          database.database,
          database.revokePublic,
          postgres.container,
          clickhouse.container,
          temporal.container,
          gateway.container,
        ],
        gates: [namespace.succeeded],
        // In production every migration has a point to go back to.
        snapshot: args.backup?.snapshots
          ? {
              backup: args.backup.service,
              database: sqlName,
              secretKey,
              dependsOn: [gateway.container, database.database, ...database.grants],
              gates: database.backupReadable ? [database.backupReadable] : [],
            }
          : undefined,
        dittofeedVersion: args.release.version,
        preSteps: args.release.steps.filter((step) => step.phase === "pre"),
      },
      { parent: this },
    );
    // Every app container waits for its namespace and migration, and for the services it talks to.
    const ready = waitFor(
      [temporal.container, redis.container, gateway.container],
      [namespace.succeeded, migration.succeeded, redisUser.succeeded],
    );
    const service = (role: AppRole) =>
      new DittofeedService(
        `${name}-${role}`,
        {
          context,
          tenantId: id,
          role,
          image: images[role],
          dittofeedVersion: args.release.version,
          env: environment(role),
          memoryMb: args.memoryMb[role],
          cpus: args.cpus,
          temporal: temporal.endpoint,
          replicas: role === "worker" ? (args.workerReplicas ?? 1) : 1,
          ports: loopbackPorts(role, args.devPorts),
          releaseKey: context.releaseKey,
          dependsOn: ready,
        },
        { parent: this },
      );
    const apps = {
      api: service("api"),
      dashboard: service("dashboard"),
      worker: service("worker"),
    };
    this.api = apps.api;
    this.dashboard = apps.dashboard;
    this.worker = apps.worker;
    if (args.access) {
      this.front = new Front(
        `${name}-front`,
        {
          context,
          dataNetwork: args.context.network,
          tenantId: id,
          image: images.gateway,
          memoryMb: args.gatewayMemoryMb,
          upstreams: SERVING_ROLES.map((role) => ({
            role,
            port: APP_PORTS[role],
            host: apps[role].releaseAlias,
            healthPath: dittofeedHealthPath(role),
            containers: apps[role].containers,
          })),
        },
        { parent: this },
      );
    }
    const workerCheck = new WorkerCheck(
      `${name}-worker-check`,
      {
        context,
        tenantId: id,
        namespace: namespace.name,
        workers: apps.worker,
        temporal,
        waitSeconds: args.workerCheckSeconds,
      },
      { parent: this },
    );
    // The release's `post` steps, once each, once its apps serve.
    const postSteps = args.release.steps.filter((step) => step.phase === "post");
    const postUpgrade =
      postSteps.length === 0
        ? undefined
        : new UpgradeSteps(
            `${name}-post-upgrade`,
            {
              context,
              tenantId: id,
              steps: postSteps,
              installedVersion: installedVersion(migration.bootstrapJob),
              adminCliImage: images.adminCli,
              env: environment("bootstrap"),
              secrets: stepSecrets,
              dependsOn: [
                ...apps.api.containers,
                ...apps.dashboard.containers,
                ...apps.worker.containers,
              ],
              gates: this.front ? [this.front.serving] : [],
            },
            { parent: this },
          );
    const watched =
      args.monitoring &&
      new TenantTargets(
        `${name}-monitoring`,
        {
          context,
          monitoring: args.monitoring,
          tenantId: id,
          namespace: namespaceName,
          front: this.front?.alias,
          dependsOn: this.front ? [this.front.container] : [],
        },
        { parent: this },
      ).written;
    this.deployed = pulumi
      .all([workerCheck.succeeded, ...(postUpgrade?.succeeded ?? []), watched ?? []])
      .apply(() => []);
    if (args.access)
      this.access = new TenantAccess(`${name}-access`, args.access, { parent: this });

    this.registerOutputs({
      workspaceName: this.workspaceName,
      url: this.url,
      databaseUrl: this.databaseUrl,
    });
  }
}
