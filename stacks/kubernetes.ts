/**
 * The composition of one stack on Kubernetes, as named steps: the provider, the data namespace
 * and the services the platform runs there (or the managed ones config names), the tenants, the
 * edge, and the stack's outputs.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { kubeConnector } from "../components/edge/connectors";
import { ExternalPostgres } from "../components/data/externalPostgres";
import { KubePostgres } from "../components/data/kubePostgres";
import { KubeStore } from "../components/data/kubeStore";
import { KubeTemporal } from "../components/data/kubeTemporal";

import { PostgresServer } from "../components/runtime/context";
import { namespace, networkPolicies, scriptRunner } from "../components/runtime/kubernetes";
import { ClickHouseServer, kubeTenant } from "../components/tenant/kubernetes";
import { configError, PlatformConfig } from "./config";
import { APP_PORTS, dittofeedImages } from "../components/app/contract";
import { FIRST_SUPPORTED_VERSION, stepsCrossed, UpgradeStep } from "../components/app/releases";
import { CLICKHOUSE_ADMIN_USER, clickhouseServerFiles } from "../components/data/clickhouseServer";
import {
  dataPolicies,
  execProbe,
  httpProbe,
  kubeNamespace,
  namespaceLabels,
  PolicyPort,
  serviceHost,
} from "../components/runtime/kubeSpecs";
import { SERVICE_PORTS } from "../components/runtime/ports";
import { redisHealthCommand, redisServerScript } from "../components/data/redisServer";
import { isAutoSetupImage, TEMPORAL_KEYS } from "../components/data/temporalServer";
import { httpUrl } from "../components/runtime/urls";
import { createTenants, Platform, plannedStack, stackOutputs, stackTunnel } from "./common";
import { tenantVersion } from "./config/placement";
import { cloudflareProvider, kubernetesProvider } from "./providers";

/**
 * Upgrade steps run on Docker only so far: a Kubernetes stack refuses a release that crosses
 * one, before anything is registered.
 */
function checkSteps(config: PlatformConfig, releaseSteps: readonly UpgradeStep[]): void {
  const problems = config.tenants.flatMap((tenant, index) => {
    const steps = stepsCrossed(
      FIRST_SUPPORTED_VERSION,
      tenantVersion(config, tenant),
      releaseSteps,
    );
    if (steps.length === 0) return [];
    const pinned = tenant.dittofeed.version !== undefined;
    return [
      {
        path: pinned ? ["tenants", index, "dittofeed", "version"] : ["dittofeed", "version"],
        message: `crosses upgrade steps (${steps.map((s) => s.command).join(", ")}), which run on platform:runtime docker only so far`,
      },
    ];
  });
  if (problems.length > 0)
    throw configError(config, [...new Map(problems.map((p) => [JSON.stringify(p), p])).values()]);
}

/** The Services' addresses of a tenant's serving roles. */
function appUrlOf(stack: string) {
  return (tenantId: string, role: keyof typeof APP_PORTS) =>
    httpUrl(serviceHost(role, kubeNamespace(stack, { tenant: tenantId })), APP_PORTS[role]);
}

/** The data services: the platform's in the data namespace, or the managed ones config names. */
function dataServices(
  config: PlatformConfig,
  stack: string,
  images: ReturnType<typeof dittofeedImages>,
  provider: k8s.Provider,
  options: pulumi.ComponentResourceOptions,
) {
  const { environment, secrets } = config;
  const data = namespace(
    "data",
    { name: kubeNamespace(stack, "data"), labels: namespaceLabels(stack, environment, "data") },
    { provider },
  );
  const storage = (service: "postgres" | "clickhouse" | "redis") => ({
    storageGb: config.kubernetes.storageGb[service],
    storageClass: config.kubernetes.storageClass,
  });
  // Temporal's port is admitted from tenants' proxies alone (see `tenantPolicies`); the JWKS is
  // public.
  const ports: PolicyPort[] = [{ port: SERVICE_PORTS.redis }, { port: TEMPORAL_KEYS.port }];
  // The services the platform runs, which tenants' jobs wait for.
  const ready: pulumi.Resource[] = [];

  const external = config.postgres.external;
  let postgres: PostgresServer;
  if (external) {
    postgres = new ExternalPostgres(
      "postgres",
      {
        ...external,
        // Config refuses an external Postgres without its password.
        password: secrets.postgresPassword ?? "",
        image: images.adminCli,
      },
      options,
    );
  } else {
    const platformPostgres = new KubePostgres(
      "postgres",
      {
        namespace: data,
        image: config.postgres.image,
        memoryMb: config.postgres.memoryMb,
        storage: storage("postgres"),
        password: secrets.postgresPassword,
        maxConnections: config.postgres.maxConnections,
        admin: {
          host: config.postgres.adminHost,
          port: config.postgres.adminPort,
          sslMode: config.postgres.adminSslMode,
          sslRootCert: config.postgres.adminSslRootCert,
        },
      },
      options,
    );
    postgres = platformPostgres;
    ports.push({ port: SERVICE_PORTS.postgres });
    ready.push(platformPostgres.store.statefulSet);
  }

  const redis = new KubeStore(
    "redis",
    {
      namespace: data,
      service: "redis",
      image: config.redis.image,
      ports: [{ name: "redis", port: SERVICE_PORTS.redis }],
      password: secrets.redisPassword,
      // The password reaches redis-server and redis-cli through the environment (see components/data/redisServer.ts).
      secretEnv: (password) => ({ REDIS_PASSWORD: password, REDISCLI_AUTH: password }),
      command: ["sh", "-c", redisServerScript({ memoryMb: config.redis.memoryMb })],
      readinessProbe: execProbe(["sh", "-c", redisHealthCommand()]),
      memoryMb: config.redis.memoryMb,
      volume: { mountPath: "/data", ...storage("redis") },
      // The command replaces the image's entrypoint, which would drop root with su-exec: the pod
      // runs as the image's redis user instead (docker-library/redis, 7.4/alpine/Dockerfile: uid
      // 999, gid 1000).
      user: { mode: "runs", uid: 999, gid: 1000 },
    },
    options,
  );

  let clickhouse: ClickHouseServer;
  const managed = config.clickhouse.external;
  if (managed) {
    clickhouse = {
      url: `https://${managed.host}:${managed.httpsPort}`,
      host: managed.host,
      nativePort: managed.nativePort,
      secure: true,
      adminUser: managed.user,
      // Config refuses an external ClickHouse without its password.
      password: pulumi.secret(secrets.clickhousePassword ?? ""),
    };
  } else {
    const store = new KubeStore(
      "clickhouse",
      {
        namespace: data,
        service: "clickhouse",
        image: config.clickhouse.image,
        ports: [
          { name: "http", port: SERVICE_PORTS.clickhouseHttp },
          { name: "native", port: SERVICE_PORTS.clickhouseNative },
        ],
        password: secrets.clickhousePassword,
        secretEnv: (password) => ({
          CLICKHOUSE_USER: CLICKHOUSE_ADMIN_USER,
          CLICKHOUSE_PASSWORD: password,
          CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT: "1",
        }),
        // `/ping` answers "Ok." without credentials (ClickHouse, src/Server/HTTPHandlerFactory.cpp).
        readinessProbe: httpProbe(SERVICE_PORTS.clickhouseHttp, "/ping"),
        memoryMb: config.clickhouse.memoryMb,
        volume: { mountPath: "/var/lib/clickhouse", ...storage("clickhouse") },
        // The entrypoint starts as root and drops to uid and gid 101 with `clickhouse su`
        // (ClickHouse/docker-library, server entrypoint.sh).
        user: { mode: "drops", uid: 101, gid: 101 },
        files: clickhouseServerFiles(),
      },
      options,
    );
    clickhouse = {
      url: httpUrl(store.host, SERVICE_PORTS.clickhouseHttp),
      host: store.host,
      nativePort: SERVICE_PORTS.clickhouseNative,
      secure: false,
      adminUser: CLICKHOUSE_ADMIN_USER,
      password: store.password,
      memoryMb: config.clickhouse.memoryMb,
    };
    ports.push({ port: SERVICE_PORTS.clickhouseHttp }, { port: SERVICE_PORTS.clickhouseNative });
    ready.push(store.statefulSet);
  }

  const temporal = new KubeTemporal(
    "temporal",
    {
      environment,
      namespace: data,
      image: config.temporal.image,
      // auto-setup keeps its schema itself; a server image beside admin-tools' job.
      adminToolsImage: isAutoSetupImage(config.temporal.image)
        ? undefined
        : config.temporal.adminToolsImage,
      memoryMb: config.temporal.memoryMb,
      postgres,
      run: scriptRunner({ namespace: data }),
      password: secrets.temporalPassword,
      keys: { image: config.gateway.image, memoryMb: config.gateway.memoryMb },
    },
    options,
  );
  const policies = networkPolicies(
    "data",
    data,
    dataPolicies(
      config.tenants.map((tenant) => kubeNamespace(stack, { tenant: tenant.id })),
      ports,
      SERVICE_PORTS.temporal,
      config.kubernetes,
    ),
    { provider },
  );
  ready.push(redis.statefulSet);
  return {
    data,
    ports,
    policies,
    ready,
    postgres,
    redis: { host: redis.host, port: SERVICE_PORTS.redis, password: redis.password },
    clickhouse,
    temporal,
  };
}

/**
 * Registers the whole platform of one stack on Kubernetes. `config` must come from
 * `parsePlatformConfig`. `releaseSteps` is Dittofeed's table of upgrade steps; tests pass others.
 */
export function createKubernetesPlatform(
  config: PlatformConfig,
  stack: string,
  releaseSteps: readonly UpgradeStep[],
): Platform {
  checkSteps(config, releaseSteps);
  const { edge, sited, ingress } = plannedStack(config, appUrlOf(stack));
  const provider = kubernetesProvider(config.environment);
  const options = { providers: edge ? [provider, cloudflareProvider()] : [provider] };
  const images = dittofeedImages(config.dittofeed);
  const shared = dataServices(config, stack, images, provider, options);
  const edgeNamespace = kubeNamespace(stack, "edge");

  const tenants = createTenants(
    config,
    stack,
    { edge, sited },
    { shared, redisImage: config.redis.image },
    (tenant) =>
      kubeTenant({
        stack,
        environment: config.environment,
        tenant,
        images: {
          ...dittofeedImages({ ...config.dittofeed, version: tenantVersion(config, tenant) }),
          clickhouse: config.clickhouse.image,
          gateway: config.gateway.image,
        },
        proxyMemoryMb: config.gateway.memoryMb,
        edgeNamespace,
        data: { namespace: shared.data, ports: shared.ports },
        ranges: {
          allowedCidrs: config.kubernetes.allowedCidrs,
          blockedCidrs: config.kubernetes.blockedCidrs,
        },
        clickhouse: shared.clickhouse,
        // A tenant's jobs talk to the data services the moment they start.
        dependsOn: [shared.temporal.server, ...shared.policies, ...shared.ready],
      }),
    // It was `platform:tenant:KubeTenant` before one component served both runtimes.
    { ...options, aliases: [{ type: "platform:tenant:KubeTenant" }] },
  );

  // The document names each tenant's Services already (see `appUrlOf`).
  const routesApplied = stackTunnel(
    stack,
    { edge, ingress },
    tenants,
    () =>
      kubeConnector({
        stack,
        environment: config.environment,
        image: config.cloudflared.image,
        memoryMb: config.cloudflared.memoryMb,
        replicas: config.kubernetes.connectorReplicas,
        blockedCidrs: config.kubernetes.blockedCidrs,
        tenantNamespaces: config.tenants.map((tenant) =>
          kubeNamespace(stack, { tenant: tenant.id }),
        ),
      }),
    options,
  );

  const external = config.postgres.external;
  return {
    ...stackOutputs(tenants, routesApplied, {
      host: external?.host ?? config.postgres.adminHost,
      port: external?.port ?? config.postgres.adminPort,
      user: shared.postgres.superuser,
      password: shared.postgres.password,
    }),
  };
}
