import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { bootstrapOnceScript } from "../app/bootstrap";
import {
  APP_PORTS,
  appEnvironment,
  AppRole,
  Consumer,
  consumerEnvironment,
  DittofeedImage,
  dittofeedProbe,
  Endpoint,
  roleEnvironment,
  SCHEMA_SCRIPT,
  SERVING_ROLES,
} from "../app/contract";
import { tenantAccessScript } from "../data/clickhouseServer";
import { Environment } from "../runtime/environments";
import { nodeTcpConnect } from "../runtime/healthchecks";
import {
  ClusterRanges,
  execProbe,
  httpProbe,
  kubeNamespace,
  namespaceLabels,
  PolicyPort,
  tenantLimitRange,
  tenantPolicies,
  tenantQuota,
} from "../runtime/kubeSpecs";
import { tenantSqlName } from "../runtime/naming";
import {
  namespaceAdminClaims,
  tenantClaims,
  TemporalClaims,
  tenantNamespace,
} from "../data/temporalServer";
import { TenantAccess, TenantAccessArgs } from "../edge/tenantAccess";
import {
  DependsOn,
  JOB_MINUTES,
  keyOrGenerated,
  PostgresServer,
  ScriptSpec,
  secretOrGenerated,
  waitFor,
} from "../runtime/context";
import {
  deployment,
  envSecret,
  KubeNamespace,
  namespace,
  namespaceLimits,
  networkPolicies,
  scriptRunner,
  temporalProxy,
  service,
} from "../runtime/kubernetes";
import { Database } from "./database";
import { Namespace, TemporalServer } from "./namespace";
import { RedisServer, RedisUser } from "./redisUser";
import { TenantEndpoints } from "./tenant";

/** A ClickHouse server, whoever runs it. */
export interface ClickHouseServer {
  /** Dittofeed's `CLICKHOUSE_HOST`: `http://` in the cluster, `https://` for a managed one. */
  url: string;
  /** Where clickhouse-client reaches it, on the native protocol's port. */
  host: string;
  nativePort: number;
  /** Whether clickhouse-client must speak TLS there. */
  secure: boolean;
  /** Its memory, when the platform runs it (see `tenantProfile`). @default none: a managed server's own limits */
  memoryMb?: number;
  /** The user that creates tenants' databases and users, and its password. */
  adminUser: string;
  password: pulumi.Input<string>;
}

/** Memory of each one-shot job in the tenant's namespace, in MB. */
const JOB_MEMORY_MB = { migrate: 1024, schema: 1024 } as const;
const CLICKHOUSE_JOB_MEMORY_MB = 256;

export interface KubeTenantArgs {
  /** The stack's name, which prefixes the tenant's namespace. */
  stack: string;
  environment: Environment;
  /** The tenant's id: names its namespace, database, ClickHouse user and Temporal namespace. */
  id: string;
  /** The Dittofeed workspace the bootstrap creates (or keeps). */
  workspaceName: string;
  /** Where the tenant is reached. */
  endpoints: TenantEndpoints;
  /** Container memory limits in MB. Required: their defaults are config's. */
  memoryMb: Record<AppRole, number>;
  /** Worker pods. @default 1 */
  workerReplicas?: number;
  /** Connections the tenant's Postgres role may hold at once. Required: its default is config's. */
  databaseConnectionLimit: number;
  /** Dittofeed's `LOG_LEVEL`. */
  logLevel: string;
  /** Image references of the Dittofeed roles, and of ClickHouse and Redis (for their clients). */
  images: Record<DittofeedImage | "clickhouse" | "redis" | "gateway", string>;
  /** Memory limit of the tenant's Temporal proxy in MB (`platform:gateway.memoryMb`). */
  proxyMemoryMb: number;
  /** Days Temporal keeps the history of the tenant's closed workflows. */
  namespaceRetentionDays: number;
  /** Its Temporal namespace's generation (see `tenantNamespace`). @default 1 */
  namespaceGeneration?: number;
  /** The shared services. */
  shared: {
    postgres: PostgresServer;
    redis: RedisServer;
    clickhouse: ClickHouseServer;
    temporal: TemporalServer & {
      endpoint: Endpoint;
      /** A token of `claims` (secret), signed with Temporal's key. */
      token(claims: TemporalClaims): pulumi.Output<string>;
    };
  };
  /** The connector's namespace, the only one let in to api and dashboard. */
  edgeNamespace: string;
  /**
   * The stack's data namespace and the ports of the services the platform runs there. The
   * tenant's jobs that use an admin's credentials run there, so that no such credential is ever
   * in the tenant's namespace.
   */
  data: { namespace: KubeNamespace; ports: readonly PolicyPort[] };
  /** The operator's additions to what tenants may and may not reach (see `ClusterRanges`). @default none */
  ranges?: ClusterRanges;
  /** Operator-supplied secrets; each one not given is generated. @default all generated */
  secrets?: { databasePassword?: string; secretKey?: string; adminPassword?: string };
  /** Cloudflare Access for the tenant's public hostname. @default none (not exposed) */
  access?: TenantAccessArgs;
  /** Resources that must exist before anything of the tenant (the data services). @default none */
  dependsOn?: pulumi.Resource[];
}

/**
 * One tenant on Kubernetes: its own namespace with a quota, limits and a default-deny network
 * policy; its Postgres role and database, Redis user, Temporal namespace and ClickHouse access,
 * made by the same components and scripts as on Docker, as Jobs; the bootstrap and the schema
 * Jobs; then api, dashboard and workers as Deployments, api and dashboard behind Services that
 * only the tunnel's connector may reach. `pulumi up` waits for each Job to complete before what
 * depends on it, and for each Deployment's new pods to be ready.
 */
export class KubeTenant extends pulumi.ComponentResource {
  public readonly workspaceName: string;
  public readonly url: string;
  public readonly apiUrl: string;
  /** The tenant's namespace. */
  public readonly namespace: KubeNamespace;
  /** The tenant's `DATABASE_URL` (secret). */
  public readonly databaseUrl: pulumi.Output<string>;
  /** The tenant's `SECRET_KEY` (secret). */
  public readonly secretKey: pulumi.Output<string>;
  public readonly deployments: Record<AppRole, k8s.apps.v1.Deployment>;
  /** What the connector's routes wait for: the serving roles' Deployments and Services. */
  public readonly serving: pulumi.Resource[];
  /** Resolves once every Deployment of the tenant has rolled out. */
  public readonly deployed: pulumi.Output<pulumi.Resource[]>;
  public readonly access?: TenantAccess;

  constructor(name: string, args: KubeTenantArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:tenant:KubeTenant", name, {}, opts);
    const { id, images, environment } = args;
    const { postgres, redis, clickhouse, temporal } = args.shared;
    const workerReplicas = args.workerReplicas ?? 1;
    this.workspaceName = args.workspaceName;
    this.url = args.endpoints.dashboardUrl;
    this.apiUrl = args.endpoints.apiBaseUrl;

    this.namespace = namespace(
      `${name}-ns`,
      {
        name: kubeNamespace(args.stack, { tenant: id }),
        labels: namespaceLabels(args.stack, environment, { tenant: id }),
      },
      { parent: this, dependsOn: args.dependsOn },
    );
    const ns = this.namespace;
    const inNamespace = { parent: this, dependsOn: [ns.resource] };
    const limits = namespaceLimits(
      name,
      ns,
      {
        quota: tenantQuota(
          [
            { memoryMb: args.memoryMb.api, replicas: 1, surge: true },
            { memoryMb: args.memoryMb.dashboard, replicas: 1, surge: true },
            { memoryMb: args.memoryMb.worker, replicas: workerReplicas, surge: false },
            // Its Temporal proxy, which rolls like a serving role.
            { memoryMb: args.proxyMemoryMb, replicas: 1, surge: true },
          ],
          Object.values(JOB_MEMORY_MB),
        ),
        limits: tenantLimitRange(
          Math.max(...Object.values(args.memoryMb), ...Object.values(JOB_MEMORY_MB)),
        ),
      },
      { parent: this },
    );
    // The policies first: no pod of the tenant runs a moment without them.
    const policies = networkPolicies(
      name,
      ns,
      tenantPolicies({
        stack: args.stack,
        edgeNamespace: args.edgeNamespace,
        serving: SERVING_ROLES.map((role) => ({ service: role, port: APP_PORTS[role] })),
        data: { namespace: args.data.namespace.name, ports: args.data.ports },
        temporalPort: temporal.endpoint.port,
        ranges: args.ranges,
      }),
      { parent: this },
    );
    // The tenant's own jobs (its credentials only) in its namespace, after its policies; those
    // with an admin's credentials in the data namespace, after the data services are ready.
    const run = scriptRunner({ namespace: ns, tenant: id });
    const adminRun = scriptRunner({ namespace: args.data.namespace, tenant: id });
    const sharedReady = args.dependsOn ?? [];

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
        context: { environment },
        run: adminRun,
        tenantId: id,
        postgres,
        password: databasePassword,
        connectionLimit: args.databaseConnectionLimit,
        dependsOn: sharedReady,
      },
      { parent: this },
    );
    this.databaseUrl = database.url;
    const sqlName = tenantSqlName(id);
    const redisUser = new RedisUser(
      `${name}-redis`,
      { run: adminRun, tenantId: id, redis, image: images.redis, dependsOn: sharedReady },
      { parent: this },
    );
    const namespaceName = tenantNamespace(id, args.namespaceGeneration);
    // Temporal through a proxy in the tenant's namespace that holds its token (see `TEMPORAL_PROXY`).
    const proxy = temporalProxy(
      `${name}-temporal-proxy`,
      {
        namespace: ns,
        tenantId: id,
        image: images.gateway,
        memoryMb: args.proxyMemoryMb,
        upstream: temporal.endpoint,
        token: temporal.token(tenantClaims(id, namespaceName)),
      },
      // Its Service's name is resolved once, at start: Temporal's Service exists first.
      { parent: this, dependsOn: [...policies, ...sharedReady] },
    );
    const temporalNamespace = new Namespace(
      `${name}-namespace`,
      {
        run: adminRun,
        auth: temporal.token(namespaceAdminClaims(namespaceName)),
        tenantId: id,
        namespace: namespaceName,
        temporal,
        retentionDays: args.namespaceRetentionDays,
        dependsOn: sharedReady,
      },
      { parent: this },
    );

    const settings = pulumi.secret({
      databaseUrl: database.url,
      clickhouseUrl: clickhouse.url,
      clickhouseDatabase: sqlName,
      clickhouseUser: sqlName,
      clickhousePassword,
      temporalAddress: `${proxy.endpoint.host}:${proxy.endpoint.port}`,
      temporalNamespace: temporalNamespace.name,
      redisUrl: redisUser.url,
      secretKey: this.secretKey,
      adminPassword,
      dashboardUrl: args.endpoints.dashboardUrl,
      apiBaseUrl: args.endpoints.apiBaseUrl,
      logLevel: args.logLevel,
      workspaceName: args.workspaceName,
    });
    const environmentOf = (consumer: Consumer) =>
      settings.apply((s) => consumerEnvironment(consumer, s));
    const stepSecrets = [databasePassword, clickhousePassword, this.secretKey, adminPassword];

    // The tenant's migration, in the order `Migration` runs it on Docker.
    const step = (
      suffix: string,
      spec: Omit<ScriptSpec, "memoryMb" | "job"> & { job: keyof typeof JOB_MEMORY_MB },
      dependsOn: DependsOn,
    ) =>
      run(
        `${name}-${suffix}`,
        { ...spec, memoryMb: JOB_MEMORY_MB[spec.job] },
        { parent: this, dependsOn },
      );
    const clickhouseAccess = adminRun(
      `${name}-clickhouse`,
      {
        job: "clickhouse-access",
        image: images.clickhouse,
        memoryMb: CLICKHOUSE_JOB_MEMORY_MB,
        script: tenantAccessScript({
          server: clickhouse.host,
          port: clickhouse.nativePort,
          database: sqlName,
          user: sqlName,
          secure: clickhouse.secure,
          serverMemoryMb: clickhouse.memoryMb,
        }),
        env: {
          CLICKHOUSE_USER: clickhouse.adminUser,
          CLICKHOUSE_PASSWORD: clickhouse.password,
          TENANT_PASSWORD: clickhousePassword,
        },
        description: `ClickHouse access job of tenant ${id}`,
        secrets: [clickhouse.password, clickhousePassword],
      },
      { parent: this, dependsOn: sharedReady },
    );
    const prerequisites = [database.database, database.revokePublic, ...policies];
    // Once per workspace, decided by the tenant's database (see components/app/bootstrap.ts).
    const bootstrap = step(
      "bootstrap",
      {
        job: "migrate",
        image: images.adminCli,
        script: bootstrapOnceScript(),
        env: environmentOf("bootstrap"),
        maxMinutes: JOB_MINUTES.data,
        description: `Bootstrap of tenant ${id}`,
        secrets: stepSecrets,
      },
      waitFor(prerequisites, [temporalNamespace.succeeded, clickhouseAccess.succeeded]),
    );
    // Per version: the drizzle migrations and ClickHouse tables of the image that is deployed.
    const schema = step(
      "schema",
      {
        job: "schema",
        image: images.adminCli,
        script: SCHEMA_SCRIPT,
        env: environmentOf("schema"),
        maxMinutes: JOB_MINUTES.data,
        description: `Schema migration of tenant ${id}`,
        secrets: stepSecrets,
      },
      waitFor(prerequisites, [bootstrap.succeeded, temporalNamespace.succeeded]),
    );

    // A grown memory limit must be admitted by the quota and limits before the pods that need it.
    const ready = waitFor(
      [...policies, ...limits],
      [temporalNamespace.succeeded, schema.succeeded, redisUser.succeeded],
    );
    // One Secret for the three roles, which read the same settings; what differs by role is plain.
    const appSecret = envSecret(
      `${name}-app-env`,
      {
        namespace: ns,
        owner: { service: "app", tenant: id },
        values: settings.apply(appEnvironment),
      },
      inNamespace,
    );
    const app = (role: AppRole) => {
      const owner = { service: role, tenant: id };
      const probe = dittofeedProbe(role, proxy.endpoint);
      const serving = role !== "worker";
      return deployment(
        `${name}-${role}`,
        {
          namespace: ns,
          owner,
          replicas: serving ? 1 : workerReplicas,
          serving,
          container: {
            image: images[role],
            env: roleEnvironment(role),
            secret: appSecret,
            memoryMb: args.memoryMb[role],
            ports: serving ? [{ name: "http", port: APP_PORTS[role] }] : undefined,
            readinessProbe:
              "http" in probe
                ? httpProbe(probe.http.port, probe.http.path)
                : execProbe(nodeTcpConnect(probe.tcpConnect.host, probe.tcpConnect.port)),
          },
        },
        { parent: this, dependsOn: ready },
      );
    };
    this.deployments = { api: app("api"), dashboard: app("dashboard"), worker: app("worker") };
    const services = SERVING_ROLES.map((role) =>
      service(
        `${name}-${role}-service`,
        {
          namespace: ns,
          owner: { service: role, tenant: id },
          ports: [{ name: "http", port: APP_PORTS[role] }],
        },
        inNamespace,
      ),
    );
    this.serving = [this.deployments.api, this.deployments.dashboard, ...services];
    this.deployed = pulumi
      .all(Object.values(this.deployments).map((d) => d.metadata))
      .apply((): pulumi.Resource[] => []);
    if (args.access)
      this.access = new TenantAccess(`${name}-access`, args.access, { parent: this });
    this.registerOutputs({ workspaceName: this.workspaceName, url: this.url });
  }
}
