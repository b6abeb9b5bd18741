/**
 * The composition of one stack on Docker, as named steps: providers, the network and images, the
 * shared services, the tenants, the edge, and the stack's outputs.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { Backup } from "../components/data/backup";
import { ClickHouse } from "../components/data/clickhouse";
import { Postgres } from "../components/data/postgres";
import { Redis } from "../components/data/redis";
import { Temporal } from "../components/data/temporal";

import { EgressGuard } from "../components/edge/egressGuard";
import { Monitoring } from "../components/monitoring/monitoring";
import { PlatformContext } from "../components/runtime/context";
import { Host } from "../components/runtime/host";
import { pulledImage, stackNetwork } from "../components/runtime/docker";
import { dockerConnector } from "../components/edge/connectors";
import { dockerTenant } from "../components/tenant/docker";
import { TenantRuntime } from "../components/tenant/tenant";
import { PlatformConfig, TenantConfig } from "./config";
import {
  APP_PORTS,
  appUrl,
  dittofeedHealthPath,
  dittofeedImages,
  DittofeedImage,
  SERVING_ROLES,
} from "../components/app/contract";
import {
  compareVersions,
  FIRST_SUPPORTED_VERSION,
  stepsCrossed,
  UpgradeStep,
  Wave,
} from "../components/app/releases";
import { ReleaseGate } from "../components/tenant/releaseGate";
import { tenantNamespace } from "../components/data/temporalServer";
import { waitFor } from "../components/runtime/context";
import { alertRules } from "../components/monitoring/alerts";
import { BACKUP_GRACE_SECONDS } from "../components/data/backupScripts";
import { LABELS } from "../components/runtime/labels";
import { METRICS_PORTS } from "../components/monitoring/prometheus";
import { isAutoSetupImage } from "../components/data/temporalServer";
import { tenantVersion } from "./config/placement";
import { cloudflareProvider, dockerProvider } from "./providers";
import { createTenants, Edge, Platform, plannedStack, stackOutputs, stackTunnel } from "./common";

/**
 * The images of the data services, and of Dittofeed's roles at each release a tenant runs (see
 * `Images.of`), each pulled once. A release's images are named by it (`image-api-v0.23.0`), so a
 * tenant pinned to the release the stack leaves keeps the very resource it ran, and a preview
 * shows it unchanged; the stack's own release answers to the names they had before
 * (`image-api`), which state keeps from earlier programs.
 */
function pullImages(config: PlatformConfig, provider: docker.Provider) {
  const refs = {
    postgres: config.postgres.image,
    redis: config.redis.image,
    clickhouse: config.clickhouse.image,
    temporal: config.temporal.image,
    gateway: config.gateway.image,
  };
  const ids = {} as Record<keyof typeof refs, pulumi.Output<string>>;
  for (const key of Object.keys(refs) as (keyof typeof refs)[]) {
    ids[key] = pulledImage(key, refs[key], provider);
  }
  const releases = new Map<string, Record<DittofeedImage, pulumi.Output<string>>>();
  // One set per release, however its tag is spelled (`v0.23.1`, `0.23.1`): the stack's first.
  const of = (version: string) => {
    const stacks = compareVersions(version, config.dittofeed.version) === 0;
    const tag = stacks ? config.dittofeed.version : version;
    let release = releases.get(tag);
    if (release === undefined) {
      const roles = dittofeedImages({ ...config.dittofeed, version: tag });
      release = {} as Record<DittofeedImage, pulumi.Output<string>>;
      for (const role of Object.keys(roles) as DittofeedImage[]) {
        release[role] = pulledImage(
          `${role}-${tag}`,
          roles[role],
          provider,
          stacks ? role : undefined,
        );
      }
      releases.set(tag, release);
    }
    return { ...ids, ...release };
  };
  return { ...of(config.dittofeed.version), of };
}

type Images = ReturnType<typeof pullImages>;

function sharedServices(
  config: PlatformConfig,
  context: PlatformContext,
  images: Images,
  provider: docker.Provider,
  options: pulumi.ComponentResourceOptions,
) {
  const secrets = config.secrets;
  const scraped = config.monitoring.enabled;
  const postgres = new Postgres(
    "postgres",
    {
      context,
      image: images.postgres,
      memoryMb: config.postgres.memoryMb,
      adminPort: config.postgres.adminPort,
      adminHost: config.postgres.adminHost,
      adminSslMode: config.postgres.adminSslMode,
      adminSslRootCert: config.postgres.adminSslRootCert,
      maxConnections: config.postgres.maxConnections,
      password: secrets.postgresPassword,
      previousPassword: secrets.postgresPasswordPrevious,
    },
    options,
  );
  const redis = new Redis(
    "redis",
    {
      context,
      image: images.redis,
      memoryMb: config.redis.memoryMb,
      password: secrets.redisPassword,
    },
    options,
  );
  const clickhouse = new ClickHouse(
    "clickhouse",
    {
      context,
      image: images.clickhouse,
      memoryMb: config.clickhouse.memoryMb,
      password: secrets.clickhousePassword,
      metricsPort: scraped ? METRICS_PORTS.clickhouse : undefined,
    },
    options,
  );
  const temporal = new Temporal(
    "temporal",
    {
      context,
      image: images.temporal,
      // Pulled only where it is used: beside a server image, which does not keep its schema.
      adminToolsImage: isAutoSetupImage(config.temporal.image)
        ? undefined
        : pulledImage("temporalAdminTools", config.temporal.adminToolsImage, provider),
      memoryMb: config.temporal.memoryMb,
      postgres,
      password: secrets.temporalPassword,
      keys: { image: images.gateway, memoryMb: config.gateway.memoryMb },
      metricsPort: scraped ? METRICS_PORTS.temporal : undefined,
    },
    options,
  );
  return { postgres, redis, clickhouse, temporal };
}

type Shared = ReturnType<typeof sharedServices>;

/** The backup service, wherever config gives it a key to encrypt to (staging and production must). */
function backupService(
  config: PlatformConfig,
  context: PlatformContext,
  images: Images,
  shared: Shared,
  provider: docker.Provider,
  options: pulumi.ComponentResourceOptions,
): Backup | undefined {
  const { backup } = config;
  if (backup.publicKey === undefined) return undefined;
  return new Backup(
    "backup",
    {
      context,
      postgres: shared.postgres,
      clickhouse: shared.clickhouse,
      clickhouseImage: images.clickhouse,
      temporalDatabases: shared.temporal.databases,
      intervalHours: backup.intervalHours,
      retentionDays: backup.retentionDays,
      publicKey: backup.publicKey,
      memoryMb: backup.memoryMb,
      // Config refuses r2 without platform:cloudflare.
      r2:
        backup.r2 && config.cloudflare
          ? {
              accountId: config.cloudflare.accountId,
              bucket: backup.r2.bucket,
              retentionDays: backup.r2.retentionDays,
              rcloneImage: pulledImage("rclone", backup.rcloneImage, provider),
            }
          : undefined,
    },
    options,
  );
}

/**
 * Prometheus, Alertmanager and node_exporter, when config turns monitoring on: the shared
 * services to scrape, and the rules for what this stack has (a tunnel, backups).
 */
function monitoringStack(
  config: PlatformConfig,
  context: PlatformContext,
  images: Images,
  shared: Shared,
  edge: Edge | undefined,
  backup: Backup | undefined,
  provider: docker.Provider,
  options: pulumi.ComponentResourceOptions,
): Monitoring | undefined {
  const { monitoring } = config;
  if (!monitoring.enabled) return undefined;
  const image = (key: "prometheus" | "alertmanager" | "nodeExporter") =>
    pulledImage(key, monitoring[key].image, provider);
  return new Monitoring(
    "monitoring",
    {
      context,
      prometheus: { ...monitoring.prometheus, image: image("prometheus") },
      alertmanager: { ...monitoring.alertmanager, image: image("alertmanager") },
      nodeExporter: { ...monitoring.nodeExporter, image: image("nodeExporter") },
      scrapeSeconds: monitoring.scrapeSeconds,
      shared: [
        { job: "clickhouse", address: `clickhouse:${METRICS_PORTS.clickhouse}` },
        // A tenant names its task queues, each a label value of Temporal's series: only the
        // polls the rules read are kept, and a scrape past the limit shows Temporal down rather
        // than filling Prometheus.
        {
          job: "temporal",
          address: `temporal:${METRICS_PORTS.temporal}`,
          only: { names: "poll_success|poll_timeouts", limit: 20000 },
        },
        ...(edge
          ? [{ job: "cloudflared", address: `cloudflared:${METRICS_PORTS.cloudflared}` }]
          : []),
      ],
      scraped: [shared.temporal.container, shared.clickhouse.container],
      rules: alertRules({
        errorRatio: monitoring.errorRatio,
        latencySeconds: monitoring.latencySeconds,
        backupMaxAgeSeconds: backup && config.backup.intervalHours * 3600 + BACKUP_GRACE_SECONDS,
        tunnel: edge !== undefined,
      }),
      receivers: { list: monitoring.receivers, secrets: config.secrets.receivers },
      backupVolume: backup?.volume.name,
      jobImage: images.redis,
    },
    options,
  );
}

/** What every tenant of the stack is built on. */
interface Foundation {
  config: PlatformConfig;
  /** The host firewall rules that must hold before any tenant container starts, when enabled. */
  egressGuard?: EgressGuard;
  context: PlatformContext;
  images: Images;
  shared: Shared;
  /** The stack's backup service, when it has one. */
  backup?: Backup;
  /** The stack's monitoring, when it has it. */
  monitoring?: Monitoring;
  /** Dittofeed's upgrade steps, of which a tenant runs those up to its release. */
  releaseSteps: readonly UpgradeStep[];
}

/** A tenant's Docker half, on what the stack built; `gate` when a release moves it in a later wave. */
function dockerRuntime(
  tenant: TenantConfig,
  { config, context, images, shared, releaseSteps, egressGuard, backup, monitoring }: Foundation,
  gate?: pulumi.Output<pulumi.Resource[]>,
): TenantRuntime {
  const version = tenantVersion(config, tenant);
  return dockerTenant({
    context,
    tenant,
    gatewayMemoryMb: config.gateway.memoryMb,
    egressGuard: egressGuard?.container,
    images: images.of(version),
    release: {
      version,
      steps: stepsCrossed(FIRST_SUPPORTED_VERSION, version, releaseSteps),
      gate,
    },
    workerCheckSeconds: config.dittofeed.workerCheckSeconds,
    services: shared,
    // Production snapshots each tenant before each of its migrations.
    backup: backup && { service: backup, snapshots: config.environment === "production" },
    monitoring,
  });
}

/**
 * Registers the whole platform of one stack on Docker. `config` must come from
 * `parsePlatformConfig`. `releaseSteps` is Dittofeed's table of upgrade steps; tests pass others.
 * `waves` are the waves this deploy's release moves (see `movingWaves`): none, or one, when it
 * moves no tenant or moves all at once.
 */
export function createDockerPlatform(
  config: PlatformConfig,
  stack: string,
  releaseSteps: readonly UpgradeStep[],
  waves: readonly Wave[] = [],
): Platform {
  const { edge, sited, ingress } = plannedStack(config, appUrl);

  const provider = dockerProvider(config.secrets.registries);
  new Host("host", { environment: config.environment, memoryMb: config.hostMemoryMb });
  // The data network: the shared services, the connector and each tenant's gateway, never a
  // tenant's own container.
  const network = stackNetwork("network", stack, config.environment, "platform", { provider });
  const context: PlatformContext = {
    stack,
    environment: config.environment,
    network: network.name,
    swapLimit: config.hostSwapLimit,
    releaseKey: new random.RandomBytes("release-key", { length: 32 }).base64,
  };
  const images = pullImages(config, provider);
  const options = { providers: edge ? [provider, cloudflareProvider()] : [provider] };

  const shared = sharedServices(config, context, images, provider, options);
  const backup = backupService(config, context, images, shared, provider, options);
  const egressGuard = config.egress.guard
    ? new EgressGuard(
        "egress",
        {
          context,
          pool: config.network.pool,
          image: pulledImage("egressGuard", config.egress.image, provider),
          memoryMb: config.egress.memoryMb,
        },
        options,
      )
    : undefined;
  const monitoring = monitoringStack(
    config,
    context,
    images,
    shared,
    edge,
    backup,
    provider,
    options,
  );
  const foundation: Foundation = {
    monitoring,
    config,
    context,
    images,
    shared,
    releaseSteps,
    egressGuard,
    backup,
  };
  // Each later wave's gate, made once the wave before it is (below), and the tenants it holds.
  const gates = waves
    .slice(1)
    .map((wave) => ({ wave, deferred: pulumi.deferredOutput<pulumi.Resource[]>() }));
  const gateOf = new Map(
    gates.flatMap(({ wave, deferred }) => wave.tenants.map((id) => [id, deferred[0]] as const)),
  );
  const tenants = createTenants(
    config,
    stack,
    { edge, sited },
    { shared, redisImage: images.redis },
    (tenant) => dockerRuntime(tenant, foundation, gateOf.get(tenant.id)),
    options,
  );

  const routesApplied = stackTunnel(
    stack,
    { edge, ingress },
    tenants,
    () =>
      dockerConnector({
        context,
        image: pulledImage("cloudflared", config.cloudflared.image, provider),
        memoryMb: config.cloudflared.memoryMb,
        routesCheck: { image: images.gateway, memoryMb: config.gateway.memoryMb },
        scraped: monitoring !== undefined,
      }),
    options,
  );

  gates.forEach(({ wave, deferred: [, resolve] }, index) => {
    const watched = tenants.filter(({ tenant }) => waves[index].tenants.includes(tenant.id));
    const gate = new ReleaseGate(
      `release-gate-${wave.number}`,
      {
        context,
        soak: {
          wave: wave.number,
          after: waves[index].number,
          minutes: config.release.soakMinutes,
          roles: SERVING_ROLES.map((role) => ({
            role,
            port: APP_PORTS[role],
            path: dittofeedHealthPath(role),
          })),
          prometheus: monitoring && `prometheus:${METRICS_PORTS.prometheus}`,
        },
        tenants: watched.map(({ tenant, stamp }) => {
          // Config refuses waves on a stack without a tunnel, where tenants have no front.
          if (!stamp.front) throw new Error(`Tenant ${tenant.id} has no front to watch`);
          return {
            id: tenant.id,
            namespace: tenantNamespace(tenant.id, tenant.namespaceGeneration),
            front: stamp.front,
          };
        }),
        image: images.gateway,
        memoryMb: config.gateway.memoryMb,
        dependsOn: waitFor(monitoring ? [monitoring.prometheus] : [], [
          ...watched.map(({ stamp }) => stamp.deployed),
          ...(routesApplied ? [routesApplied] : []),
        ]),
      },
      options,
    );
    resolve(gate.passed);
  });

  return {
    ...stackOutputs(tenants, routesApplied, {
      host: config.postgres.adminHost,
      port: config.postgres.adminPort,
      user: "postgres",
      password: shared.postgres.password,
    }),
    backups: backup && {
      location: backup.location,
      intervalHours: config.backup.intervalHours,
      retentionDays: config.backup.retentionDays,
      service: `${LABELS.service}=backup`,
    },
    monitoring: monitoring && {
      prometheus: `http://127.0.0.1:${config.monitoring.prometheus.port}`,
      alertmanager: `http://127.0.0.1:${config.monitoring.alertmanager.port}`,
    },
  };
}
