/**
 * A tenant's Docker half (see `TenantPlace`): its own network, with a gateway as its only way to
 * the shared services and the tunnel's only way in; its migration, blue/green apps and front,
 * the check that its workers poll, and its offboarding.
 */
import * as pulumi from "@pulumi/pulumi";
import {
  APP_PORTS,
  AppRole,
  Consumer,
  consumerEnvironment,
  DittofeedImage,
  dittofeedHealthPath,
  SERVING_ROLES,
} from "../app/contract";
import { DittofeedService } from "../app/dittofeedService";
import { UpgradeStep } from "../app/releases";
import { Backup } from "../data/backup";
import { ClickHouse } from "../data/clickhouse";
import { Postgres } from "../data/postgres";
import { Redis } from "../data/redis";
import { Temporal } from "../data/temporal";
import { tenantClaims } from "../data/temporalServer";
import { Monitoring } from "../monitoring/monitoring";
import { TenantTargets } from "../monitoring/tenantTargets";
import { PlatformContext, waitFor } from "../runtime/context";
import { envList, LoopbackPort, tenantNetwork, dockerScriptRunner } from "../runtime/docker";
import { tenantSqlName } from "../runtime/naming";
import { Front } from "./front";
import { Gateway } from "./gateway";
import { Migration } from "./migration";
import { Offboarding } from "./offboarding";
import { TenantData, TenantRuntime } from "./tenant";
import { installedVersion, UpgradeSteps } from "./upgrade";
import { WorkerCheck } from "./workerCheck";

/**
 * What the Docker half reads of the tenant itself: a tenant's config has each of these (a new
 * per-tenant key reaches this file without passing through the stack's composition).
 */
export interface DockerTenantSpec {
  /** The subnet of the tenant's own network (its slot of `platform:network.pool`). */
  subnet: string;
  /** Loopback ports on the Docker host to publish api and dashboard on, in dev only. */
  devPorts: Record<keyof typeof APP_PORTS, number>;
  /** Container memory limits in MB. */
  memoryMb: Record<AppRole, number>;
  /** Number of worker containers. */
  workerReplicas: number;
  /** The most CPUs each of its api, dashboard and worker containers may use. */
  cpus: number;
}

export interface DockerTenantArgs {
  /** The stack this tenant lives in. */
  context: PlatformContext;
  /** The tenant's own settings. */
  tenant: DockerTenantSpec;
  /** Memory limit of the tenant's gateway and front containers in MB. Required: its default is config's. */
  gatewayMemoryMb: number;
  /**
   * The host firewall rules that keep the tenant off private addresses (see EgressGuard); every
   * container of the tenant starts after them. @default none (the operator turned the guard off)
   */
  egressGuard?: pulumi.Resource;
  /** Image ids of the Dittofeed roles, of the gateway, and of ClickHouse (for its client). */
  images: Record<DittofeedImage | "clickhouse" | "gateway", pulumi.Input<string>>;
  /**
   * The Dittofeed release deployed, and its upgrade steps that a tenant installed earlier must
   * run (`stepsCrossed` from the oldest supported release), in order; with `gate`, the tenant is
   * in a later wave of a release (see `ReleaseGate`): its snapshot and migration, and so all its
   * release, wait for the gate, and its new front is made first, relaying to the release the
   * tenant runs until the new one serves, so that the tunnel's one document can name it early.
   * @default gate: none, the release moves at once
   */
  release: {
    version: string;
    steps: readonly UpgradeStep[];
    gate?: pulumi.Output<pulumi.Resource[]>;
  };
  /** How long, after its workers start, each of them has to poll its task queue. */
  workerCheckSeconds: number;
  /** The stack's shared services, as the Docker runtime runs them. */
  services: { postgres: Postgres; redis: Redis; clickhouse: ClickHouse; temporal: Temporal };
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
}

/** The gateway's variable that holds the tenant's Temporal token. */
const TEMPORAL_TOKEN = "TEMPORAL_AUTHORIZATION";

/** The loopback binds of a serving role in dev; workers serve nothing. */
function loopbackPorts(role: AppRole, args: DockerTenantArgs): LoopbackPort[] | undefined {
  if (role === "worker" || args.context.environment !== "dev") return undefined;
  return [{ internal: APP_PORTS[role], external: args.tenant.devPorts[role] }];
}

/**
 * Places a tenant on the stack's Docker host. Every container of the tenant is on its network
 * alone; the gateway is the one that is also on the data network, and jobs that hold an admin's
 * credentials or token run on the data network, never on the tenant's.
 */
export function dockerTenant(args: DockerTenantArgs): TenantRuntime {
  return ({ name, parent, id, namespace, exposed }) => {
    const { images, tenant } = args;
    const { postgres, redis, clickhouse, temporal } = args.services;
    const network = tenantNetwork(`${name}-network`, args.context, id, tenant.subnet, parent);
    // The stack's context for this tenant's containers: every one of them on its own network.
    const context: PlatformContext = { ...args.context, network: network.name };
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
        env: { [TEMPORAL_TOKEN]: temporal.token(tenantClaims(id, namespace)) },
        // Every other container of the tenant waits for its gateway, and so for the guard.
        dependsOn: args.egressGuard ? [args.egressGuard] : [],
      },
      { parent },
    );
    const sqlName = tenantSqlName(id);
    const environmentOf = (data: TenantData) => (consumer: Consumer) =>
      data.settings.apply((s) => envList(consumerEnvironment(consumer, s)));
    // Its file names its front once the front serves its release (Prometheus would count a front
    // on its fallback as down); empty, Prometheus stops scraping it and its alerts resolve.
    const targets = (front?: Front) =>
      args.monitoring &&
      new TenantTargets(
        `${name}-monitoring`,
        {
          context,
          monitoring: args.monitoring,
          tenantId: id,
          namespace,
          front: front?.alias,
          dependsOn: front ? [front.container] : [],
          gates: front ? [front.released] : [],
        },
        { parent },
      ).written;

    return {
      adminRun: dockerScriptRunner(args.context, id),
      before: {
        database: [gateway.container],
        redis: [redis.container, gateway.container],
        namespace: [temporal.container, gateway.container],
      },
      backupRole: args.backup?.service.role.name,
      temporalAddress: temporal.address,

      offboard: ({ database, secretKey }) => {
        const offboarding = new Offboarding(
          `${name}-offboarding`,
          {
            context: args.context,
            tenantId: id,
            sqlName,
            namespace,
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
          { parent },
        );
        targets();
        return { deployed: offboarding.succeeded };
      },

      release: (data) => {
        const { database, redisUser } = data;
        const environment = environmentOf(data);
        const gate = args.release.gate ? [args.release.gate] : [];
        const namespaceSucceeded = data.namespace.succeeded;
        const migration = new Migration(
          `${name}-migration`,
          {
            context,
            adminContext: args.context,
            tenantId: id,
            adminCliImage: images.adminCli,
            clickhouseImage: images.clickhouse,
            clickhouse,
            clickhouseAccess: {
              database: sqlName,
              user: sqlName,
              password: data.clickhousePassword,
            },
            env: { bootstrap: environment("bootstrap"), schema: environment("schema") },
            secrets: data.secrets,
            dependsOn: [
              database.database,
              database.revokePublic,
              postgres.container,
              clickhouse.container,
              temporal.container,
              gateway.container,
            ],
            gates: [namespaceSucceeded, ...gate],
            // In production every migration has a point to go back to.
            snapshot: args.backup?.snapshots
              ? {
                  backup: args.backup.service,
                  database: sqlName,
                  secretKey: data.secretKey,
                  dependsOn: [gateway.container, database.database, ...database.grants],
                  gates: [...(database.backupReadable ? [database.backupReadable] : []), ...gate],
                }
              : undefined,
            dittofeedVersion: args.release.version,
            preSteps: args.release.steps.filter((step) => step.phase === "pre"),
          },
          { parent },
        );
        // Every app container waits for its namespace and migration, and for the services it talks to.
        const ready = waitFor(
          [temporal.container, redis.container, gateway.container],
          [namespaceSucceeded, migration.succeeded, redisUser.succeeded],
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
              memoryMb: tenant.memoryMb[role],
              cpus: tenant.cpus,
              temporal: temporal.endpoint,
              replicas: role === "worker" ? tenant.workerReplicas : 1,
              ports: loopbackPorts(role, args),
              releaseKey: context.releaseKey,
              dependsOn: ready,
            },
            { parent },
          );
        const apps = {
          api: service("api"),
          dashboard: service("dashboard"),
          worker: service("worker"),
        };
        const front = exposed
          ? new Front(
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
                  // Every release of the role answers to it: the running one until this one serves.
                  fallback: apps[role].alias,
                  containers: apps[role].containers,
                })),
                early: args.release.gate !== undefined,
              },
              { parent },
            )
          : undefined;
        const workerCheck = new WorkerCheck(
          `${name}-worker-check`,
          {
            context,
            tenantId: id,
            namespace,
            workers: apps.worker,
            temporal,
            waitSeconds: args.workerCheckSeconds,
          },
          { parent },
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
                  secrets: data.secrets,
                  dependsOn: Object.values(apps).flatMap((app) => app.containers),
                  gates: front ? [front.released] : [],
                },
                { parent },
              );
        return {
          deployed: pulumi
            .all([
              workerCheck.succeeded,
              ...(postUpgrade?.succeeded ?? []),
              front?.released ?? [],
              targets(front) ?? [],
            ])
            .apply(() => []),
          // A front made early serves the running release through its fallback: the route waits
          // for it alone, not for the release behind the gate.
          route: front && {
            servedBy: args.release.gate
              ? [front.container]
              : [front.container, ...apps.api.containers, ...apps.dashboard.containers],
            gates: [front.serving],
            services: front.services,
          },
          front: front?.alias,
        };
      },
    };
  };
}
