/**
 * A tenant's Kubernetes half (see `TenantPlace`): its own namespace with a quota, limits, a
 * default-deny network policy and a Temporal proxy; the jobs that `Migration` runs on Docker, as
 * Jobs in the same order; then api, dashboard and workers as Deployments, api and dashboard
 * behind Services that only the tunnel's connector may reach. `pulumi up` waits for each Job to
 * complete before what depends on it, and for each Deployment's new pods to be ready.
 */
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
  roleEnvironment,
  SCHEMA_SCRIPT,
  SERVING_ROLES,
} from "../app/contract";
import { tenantAccessScript } from "../data/clickhouseServer";
import { DependsOn, JOB_MINUTES, ScriptSpec, waitFor } from "../runtime/context";
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
import {
  deployment,
  envSecret,
  KubeNamespace,
  namespace as kubeNamespaceOf,
  namespaceLimits,
  networkPolicies,
  scriptRunner,
  service,
  temporalProxy,
} from "../runtime/kubernetes";
import { tenantSqlName } from "../runtime/naming";
import { tenantClaims } from "../data/temporalServer";
import { TenantRuntime } from "./tenant";

/** Memory of each one-shot job in the tenant's namespace, in MB. */
const JOB_MEMORY_MB = { migrate: 1024, schema: 1024 } as const;
const CLICKHOUSE_JOB_MEMORY_MB = 256;

/** A ClickHouse server, whoever runs it. */
export interface ClickHouseServer {
  /** Dittofeed's `CLICKHOUSE_HOST`: `http://` on the platform's network, `https://` for a managed one. */
  url: pulumi.Input<string>;
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

/** What the Kubernetes half reads of the tenant itself: a tenant's config has each of these. */
export interface KubeTenantSpec {
  /** Container memory limits in MB. */
  memoryMb: Record<AppRole, number>;
  /** Worker pods. */
  workerReplicas: number;
}

export interface KubeTenantArgs {
  /** The stack's name, which prefixes the tenant's namespace. */
  stack: string;
  environment: Environment;
  /** The tenant's own settings. */
  tenant: KubeTenantSpec;
  /** Image references of the Dittofeed roles, and of ClickHouse and the proxy's HAProxy. */
  images: Record<DittofeedImage | "clickhouse" | "gateway", string>;
  /** Memory limit of the tenant's Temporal proxy in MB (`platform:gateway.memoryMb`). */
  proxyMemoryMb: number;
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
  /** The stack's ClickHouse, in the cluster or managed. */
  clickhouse: ClickHouseServer;
  /** Resources that must exist before anything of the tenant (the data services). @default none */
  dependsOn?: pulumi.Resource[];
}

/** Places a tenant in a namespace of its own in the stack's cluster. */
export function kubeTenant(args: KubeTenantArgs): TenantRuntime {
  return ({ name, parent, id, namespace, shared }) => {
    const { images, tenant } = args;
    const { clickhouse } = args;
    const { temporal } = shared;
    const { memoryMb, workerReplicas } = tenant;
    const ns = kubeNamespaceOf(
      `${name}-ns`,
      {
        name: kubeNamespace(args.stack, { tenant: id }),
        labels: namespaceLabels(args.stack, args.environment, { tenant: id }),
      },
      { parent, dependsOn: args.dependsOn },
    );
    const inNamespace = { parent, dependsOn: [ns.resource] };
    const limits = namespaceLimits(
      name,
      ns,
      {
        quota: tenantQuota(
          [
            { memoryMb: memoryMb.api, replicas: 1, surge: true },
            { memoryMb: memoryMb.dashboard, replicas: 1, surge: true },
            { memoryMb: memoryMb.worker, replicas: workerReplicas, surge: false },
            // Its Temporal proxy, which rolls like a serving role.
            { memoryMb: args.proxyMemoryMb, replicas: 1, surge: true },
          ],
          Object.values(JOB_MEMORY_MB),
        ),
        limits: tenantLimitRange(
          Math.max(...Object.values(memoryMb), ...Object.values(JOB_MEMORY_MB)),
        ),
      },
      { parent },
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
      { parent },
    );
    // The tenant's own jobs (its credentials only) in its namespace, after its policies; those
    // with an admin's credentials in the data namespace, after the data services are ready.
    const run = scriptRunner({ namespace: ns, tenant: id });
    const adminRun = scriptRunner({ namespace: args.data.namespace, tenant: id });
    const sharedReady = args.dependsOn ?? [];
    // Temporal through a proxy in the tenant's namespace that holds its token (see `TEMPORAL_PROXY`).
    const proxy = temporalProxy(
      `${name}-temporal-proxy`,
      {
        namespace: ns,
        tenantId: id,
        image: images.gateway,
        memoryMb: args.proxyMemoryMb,
        upstream: temporal.endpoint,
        token: temporal.token(tenantClaims(id, namespace)),
      },
      // Its Service's name is resolved once, at start: Temporal's Service exists first.
      { parent, dependsOn: [...policies, ...sharedReady] },
    );

    return {
      adminRun,
      before: { database: sharedReady, redis: sharedReady, namespace: sharedReady },
      temporalAddress: `${proxy.endpoint.host}:${proxy.endpoint.port}`,
      release: ({ database, redisUser, namespace: temporalNamespace, settings, ...data }) => {
        const sqlName = tenantSqlName(id);
        const environmentOf = (consumer: Consumer) =>
          settings.apply((s) => consumerEnvironment(consumer, s));
        // The tenant's migration, in the order `Migration` runs it on Docker.
        const step = (
          suffix: string,
          spec: Omit<ScriptSpec, "memoryMb" | "job"> & { job: keyof typeof JOB_MEMORY_MB },
          dependsOn: DependsOn,
        ) =>
          run(
            `${name}-${suffix}`,
            { ...spec, memoryMb: JOB_MEMORY_MB[spec.job] },
            { parent, dependsOn },
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
              TENANT_PASSWORD: data.clickhousePassword,
            },
            description: `ClickHouse access job of tenant ${id}`,
            secrets: [clickhouse.password, data.clickhousePassword],
          },
          { parent, dependsOn: sharedReady },
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
            secrets: data.secrets,
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
            secrets: data.secrets,
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
          const probe = dittofeedProbe(role, proxy.endpoint);
          const serving = role !== "worker";
          return deployment(
            `${name}-${role}`,
            {
              namespace: ns,
              owner: { service: role, tenant: id },
              replicas: serving ? 1 : workerReplicas,
              serving,
              container: {
                image: images[role],
                env: roleEnvironment(role),
                secret: appSecret,
                memoryMb: memoryMb[role],
                ports: serving ? [{ name: "http", port: APP_PORTS[role] }] : undefined,
                readinessProbe:
                  "http" in probe
                    ? httpProbe(probe.http.port, probe.http.path)
                    : execProbe(nodeTcpConnect(probe.tcpConnect.host, probe.tcpConnect.port)),
              },
            },
            { parent, dependsOn: ready },
          );
        };
        const deployments = { api: app("api"), dashboard: app("dashboard"), worker: app("worker") };
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
        return {
          // Resolves once every Deployment of the tenant has rolled out.
          deployed: pulumi
            .all(Object.values(deployments).map((d) => d.metadata))
            .apply((): pulumi.Resource[] => []),
          // Its routes name its Services, whose addresses do not change from one release to the next.
          route: {
            servedBy: [deployments.api, deployments.dashboard, ...services],
            gates: [],
          },
        };
      },
    };
  };
}
