import * as cloudflare from "@pulumi/cloudflare";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { ClickHouse } from "../components/clickhouse";
import { Postgres } from "../components/postgres";
import { Redis } from "../components/redis";
import { Temporal } from "../components/temporal";
import { Tenant } from "../components/tenant";
import { TenantAccessArgs } from "../components/tenantAccess";
import { Tunnel, TunnelRoute } from "../components/tunnel";
import { labels } from "../lib/containers";
import { ingressRules } from "../lib/edge";
import { PlatformContext } from "../lib/context";
import { dockerName } from "../lib/naming";
import { publicHostname } from "../lib/urls";
import { PlatformConfig, TenantConfig } from "./config";
import { dittofeedImages, tenantEndpoints, tenantRoute } from "./dittofeed";

/** The provider settings operators already know, read from the `docker:` namespace. */
function dockerProviderArgs(config: PlatformConfig): docker.ProviderArgs {
  const standard = new pulumi.Config("docker");
  return {
    host: standard.get("host"),
    sshOpts: standard.getObject<string[]>("sshOpts"),
    registryAuth: config.secrets.registries.map((registry) => ({
      address: registry.address,
      username: registry.username,
      password: pulumi.secret(registry.password),
    })),
  };
}

/** An image pulled once and referenced by id, so that a new tag shows in previews. */
function pullImage(key: string, ref: string, provider: docker.Provider): pulumi.Output<string> {
  return new docker.RemoteImage(`image-${key}`, { name: ref, keepLocally: true }, { provider })
    .imageId;
}

/** The images of the data services and of Dittofeed's roles. */
function pullImages(config: PlatformConfig, provider: docker.Provider) {
  const refs = {
    postgres: config.postgres.image,
    redis: config.redis.image,
    clickhouse: config.clickhouse.image,
    temporal: config.temporal.image,
    ...dittofeedImages(config.dittofeed),
  };
  const ids = {} as Record<keyof typeof refs, pulumi.Output<string>>;
  for (const key of Object.keys(refs) as (keyof typeof refs)[]) {
    ids[key] = pullImage(key, refs[key], provider);
  }
  return ids;
}

/** The Cloudflare side of a stack that has a tunnel. */
interface Edge {
  accountId: string;
  zoneId: string;
  teamName?: string;
  domain: string;
}

function edgeOf(config: PlatformConfig): Edge | undefined {
  return config.cloudflare && config.domain
    ? { ...config.cloudflare, domain: config.domain }
    : undefined;
}

function cloudflareProvider(): cloudflare.Provider {
  // Unset, the provider falls back to CLOUDFLARE_API_TOKEN, as pipelines set it.
  const apiToken = new pulumi.Config("cloudflare").getSecret("apiToken");
  return new cloudflare.Provider("cloudflare", { apiToken });
}

function tenantAccessArgs(edge: Edge, stack: string, tenant: TenantConfig): TenantAccessArgs {
  return {
    accountId: edge.accountId,
    stack,
    tenantId: tenant.id,
    hostname: publicHostname(tenant.hostname, edge.domain),
    emails: tenant.accessEmails,
    emailDomains: tenant.accessEmailDomains,
  };
}

function guardedRoute(edge: Edge, tenant: TenantConfig, stamp: Tenant): TunnelRoute {
  if (!stamp.access) throw new Error(`Tenant ${tenant.id} would be routed without Access`);
  return {
    ...tenantRoute(edge.domain, tenant),
    audTag: stamp.access.aud,
    guardedBy: stamp.access.applications,
  };
}

export interface TenantOutputs {
  workspaceName: string;
  /** The origin the tenant's people open. */
  url: string;
  /** The dashboard's address. */
  dashboardUrl: string;
  /** Where the API (and public event ingestion under `/api/public`) answers. */
  apiUrl: string;
  /** Whether anything outside the Docker network reaches it. */
  reachable: boolean;
}

export interface Platform {
  tenants: Record<string, TenantOutputs>;
  /** Connection details for operators (secret). */
  connections: pulumi.Output<{
    postgresAdmin: { host: string; port: number; user: string; password: string };
    tenants: Record<string, { databaseUrl: string }>;
  }>;
}

/** Registers the whole platform of one stack. `config` must come from `parsePlatformConfig`. */
export function createPlatform(config: PlatformConfig, stack: string): Platform {
  const edge = edgeOf(config);
  // Checked before anything is registered: a document that would misroute creates nothing.
  if (edge) ingressRules(config.tenants.map((tenant) => tenantRoute(edge.domain, tenant)));

  const provider = new docker.Provider("docker", dockerProviderArgs(config));
  const network = new docker.Network(
    "network",
    {
      name: dockerName(stack, "platform"),
      driver: "bridge",
      // The host's size travels with the stack, where the policy pack can compare limits with it.
      labels: [
        ...labels({ environment: config.environment, service: "network" }),
        ...(config.hostMemoryMb === undefined
          ? []
          : [{ label: "platform.host-memory-mb", value: String(config.hostMemoryMb) }]),
      ],
    },
    { provider },
  );
  const context: PlatformContext = {
    stack,
    environment: config.environment,
    network: network.name,
  };
  const images = pullImages(config, provider);
  const secrets = config.secrets;
  const componentOptions = { providers: edge ? [provider, cloudflareProvider()] : [provider] };

  const postgres = new Postgres(
    "postgres",
    {
      context,
      image: images.postgres,
      memoryMb: config.postgres.memoryMb,
      adminPort: config.postgres.adminPort,
      adminHost: config.postgres.adminHost,
      password: secrets.postgresPassword,
    },
    componentOptions,
  );
  const redis = new Redis(
    "redis",
    {
      context,
      image: images.redis,
      memoryMb: config.redis.memoryMb,
      password: secrets.redisPassword,
    },
    componentOptions,
  );
  const clickhouse = new ClickHouse(
    "clickhouse",
    {
      context,
      image: images.clickhouse,
      memoryMb: config.clickhouse.memoryMb,
      password: secrets.clickhousePassword,
    },
    componentOptions,
  );
  const temporal = new Temporal(
    "temporal",
    {
      context,
      image: images.temporal,
      memoryMb: config.temporal.memoryMb,
      postgres,
      password: secrets.temporalPassword,
    },
    componentOptions,
  );

  const tenants = config.tenants.map((tenant) => {
    const endpoints = tenantEndpoints(config, tenant);
    const stamp = new Tenant(
      tenant.id,
      {
        context,
        tenant,
        endpoints,
        publishPorts: config.environment === "dev",
        logLevel: config.dittofeed.logLevel,
        images,
        shared: { postgres, redis, clickhouse, temporal },
        secrets: secrets.tenants[tenant.id],
        access: edge && tenantAccessArgs(edge, stack, tenant),
      },
      componentOptions,
    );
    return { tenant, endpoints, stamp };
  });

  if (edge) {
    new Tunnel(
      "tunnel",
      {
        context,
        accountId: edge.accountId,
        zoneId: edge.zoneId,
        teamName: edge.teamName,
        routes: tenants.map(({ tenant, stamp }) => guardedRoute(edge, tenant, stamp)),
        image: pullImage("cloudflared", config.cloudflared.image, provider),
        memoryMb: config.cloudflared.memoryMb,
      },
      componentOptions,
    );
  }

  return {
    tenants: Object.fromEntries(
      tenants.map(({ tenant, endpoints }) => [
        tenant.id,
        {
          workspaceName: tenant.workspaceName,
          url: endpoints.dashboardUrl,
          dashboardUrl: `${endpoints.dashboardUrl}/dashboard`,
          apiUrl: `${endpoints.apiBaseUrl}/api`,
          reachable: endpoints.reachable,
        },
      ]),
    ),
    connections: pulumi.secret(
      pulumi.output({
        postgresAdmin: {
          host: config.postgres.adminHost,
          port: config.postgres.adminPort,
          user: "postgres",
          password: postgres.password,
        },
        tenants: Object.fromEntries(
          tenants.map(({ tenant, stamp }) => [tenant.id, { databaseUrl: stamp.databaseUrl }]),
        ),
      }),
    ),
  };
}
