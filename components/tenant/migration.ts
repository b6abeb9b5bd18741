import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { bootstrapOnceScript } from "../app/bootstrap";
import { AdminStep, SCHEMA_SCRIPT } from "../app/contract";
import { UpgradeStep } from "../app/releases";
import { Backup } from "../data/backup";
import { ClickHouse } from "../data/clickhouse";
import { tenantAccessScript } from "../data/clickhouseServer";
import { JOB_MINUTES, PlatformContext, waitFor } from "../runtime/context";
import { jobSucceeded, scriptJob, secretEnv, tenantJobSpec } from "../runtime/docker";
import { installedVersion, UpgradeSteps } from "./upgrade";

export interface MigrationArgs {
  /** The stack this migration belongs to, with the tenant's network: where its jobs run. */
  context: PlatformContext;
  /**
   * The stack's own context: jobs that hold an admin's or the backup's credentials (the
   * ClickHouse access, the snapshot) run on its data network, never on the tenant's.
   */
  adminContext: PlatformContext;
  /** The tenant whose schema this migrates. */
  tenantId: string;
  /** Image id of `dittofeed/dittofeed-admin-cli`, the only image that ships the migrations. */
  adminCliImage: pulumi.Input<string>;
  /** Image id of the ClickHouse server image, whose `clickhouse-client` creates the tenant's user. */
  clickhouseImage: pulumi.Input<string>;
  /** The shared ClickHouse. */
  clickhouse: ClickHouse;
  /** The tenant's ClickHouse database and user (both created here) and the user's password. */
  clickhouseAccess: { database: string; user: string; password: pulumi.Input<string> };
  /** The environment (secret) of each admin-cli step: what it reads of the tenant's settings. */
  env: Record<AdminStep, pulumi.Input<string[]>>;
  /** Every secret value in `env`, to be redacted from a failed job's output. */
  secrets: pulumi.Input<string>[];
  /** What must be ready first: the tenant's database, Postgres, ClickHouse, Temporal. */
  dependsOn: pulumi.Resource[];
  /** Jobs that must have succeeded first (see `jobSucceeded`): the tenant's Temporal namespace. */
  gates: pulumi.Output<pulumi.Resource[]>[];
  /** The Dittofeed release being deployed. */
  dittofeedVersion: string;
  /** Its `pre` upgrade steps not older than the oldest supported release, in order. @default none */
  preSteps?: readonly UpgradeStep[];
  /** Memory limit of the job containers in MB. @default 1024 */
  memoryMb?: number;
  /**
   * A snapshot of the tenant's database, taken by the stack's backup service before anything
   * here runs, and again before each new migration image. @default none
   */
  snapshot?: {
    backup: Backup;
    /** The tenant's database. */
    database: string;
    /** The tenant's `SECRET_KEY` (secret), sealed into the snapshot. */
    secretKey: pulumi.Input<string>;
    /** What the snapshot needs first: the gateway, the database, the backup role's grant. */
    dependsOn: pulumi.Resource[];
    /** Gates the snapshot waits for: the backup role may read the database. */
    gates: pulumi.Output<pulumi.Resource[]>[];
  };
}

/**
 * Brings a tenant's schema to the deployed version before any of its app containers start, as
 * one-shot containers in order: the tenant's ClickHouse database and user; Dittofeed's
 * `bootstrap`, once per workspace (database, migrations, ClickHouse tables, the workspace; it
 * starts workflows, so it waits for the tenant's Temporal namespace); the release's `pre`
 * upgrade steps, if it has any; and, per version, the schema job (`migrate` and
 * `bootstrap-clickhouse`). A non-zero exit fails `pulumi up` with the job's output and leaves the
 * running app containers untouched.
 */
export class Migration extends pulumi.ComponentResource {
  /** The snapshot every other job here waits for, with `snapshot`. */
  public readonly snapshot?: docker.Container;
  public readonly bootstrapJob: docker.Container;
  /** Resolves once the schema job exited 0, which waited for the bootstrap and the ClickHouse job: the gate of every app container of the tenant. */
  public readonly succeeded: pulumi.Output<pulumi.Resource[]>;

  constructor(name: string, args: MigrationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:tenant:Migration", name, {}, opts);
    const { context, tenantId, clickhouse } = args;
    // The tenant's Postgres database as it was before this migration: ClickHouse's changes at
    // upgrades are additive (`ADD COLUMN IF NOT EXISTS`, new tables: dittofeed v0.23.0
    // packages/admin-cli/src/upgrades.ts), and its rows are in the scheduled sets.
    const gates = [...args.gates];
    if (args.snapshot) {
      const { backup, database, secretKey, dependsOn, gates: readable } = args.snapshot;
      this.snapshot = backup.tenantSetJob(
        `${name}-snapshot`,
        {
          context: args.adminContext,
          tenantId,
          kind: "snapshot",
          database,
          clickhouse: false,
          secretKey,
          before: args.adminCliImage,
        },
        { parent: this, dependsOn, gates: readable },
      );
      gates.push(
        jobSucceeded(this.snapshot, `Snapshot of tenant ${tenantId} before its migration`, [
          secretKey,
        ]),
      );
    }
    // Every job: `<stack>-<tenant>-<job>`, labelled as the tenant's migration.
    const job = (name: string, image: pulumi.Input<string>, on: PlatformContext = context) =>
      tenantJobSpec(on, tenantId, {
        name,
        service: "migrate",
        image,
        memoryMb: args.memoryMb ?? 1024,
      });

    const clickhouseJob = scriptJob(
      `${name}-clickhouse`,
      {
        ...job("clickhouse-access", args.clickhouseImage, args.adminContext),
        script: tenantAccessScript({
          server: clickhouse.host,
          port: clickhouse.nativePort,
          database: args.clickhouseAccess.database,
          user: args.clickhouseAccess.user,
          serverMemoryMb: clickhouse.memoryMb,
        }),
        env: secretEnv({
          CLICKHOUSE_USER: clickhouse.adminUser,
          CLICKHOUSE_PASSWORD: clickhouse.password,
          TENANT_PASSWORD: args.clickhouseAccess.password,
        }),
      },
      { parent: this, dependsOn: args.dependsOn },
    );
    const clickhouseReady = jobSucceeded(
      clickhouseJob,
      `ClickHouse access job of tenant ${tenantId}`,
      [clickhouse.password, args.clickhouseAccess.password],
    );

    // Once per workspace, decided by the tenant's database (see components/app/bootstrap.ts): a later
    // run of the job (a new version, a rotated password, a pruned container) skips the bootstrap,
    // and a renamed workspace fails it. The label keeps the release the tenant was installed at:
    // ignored changes keep their stored value, even when the job is replaced.
    const bootstrapSpec = job("migrate", args.adminCliImage);
    this.bootstrapJob = scriptJob(
      `${name}-bootstrap`,
      {
        ...bootstrapSpec,
        owner: { ...bootstrapSpec.owner, dittofeedVersion: args.dittofeedVersion },
        script: bootstrapOnceScript(),
        env: args.env.bootstrap,
        maxMinutes: JOB_MINUTES.data,
      },
      {
        parent: this,
        dependsOn: waitFor(args.dependsOn, [...gates, clickhouseReady]),
        ignoreChanges: ["labels"],
      },
    );
    const bootstrapped = jobSucceeded(
      this.bootstrapJob,
      `Bootstrap of tenant ${tenantId}`,
      args.secrets,
    );

    // The release's `pre` steps, once each, before its migrations and apps.
    const preSteps = args.preSteps ?? [];
    const preUpgrade =
      preSteps.length === 0
        ? undefined
        : new UpgradeSteps(
            `${name}-pre-upgrade`,
            {
              context,
              tenantId,
              steps: preSteps,
              installedVersion: installedVersion(this.bootstrapJob),
              adminCliImage: args.adminCliImage,
              env: args.env.bootstrap,
              secrets: args.secrets,
              dependsOn: args.dependsOn,
              gates: [bootstrapped, ...gates],
            },
            { parent: this },
          );

    // Per version: the drizzle migrations and ClickHouse tables of the image that is deployed.
    // Both are idempotent; they run again when the version (the image) or a credential changes.
    const schemaJob = scriptJob(
      `${name}-schema`,
      {
        ...job("schema", args.adminCliImage),
        script: SCHEMA_SCRIPT,
        env: args.env.schema,
        maxMinutes: JOB_MINUTES.data,
      },
      {
        parent: this,
        dependsOn: waitFor(args.dependsOn, [
          ...(preUpgrade?.succeeded ?? [bootstrapped]),
          ...gates,
        ]),
      },
    );
    this.succeeded = jobSucceeded(
      schemaJob,
      `Schema migration of tenant ${tenantId}`,
      args.secrets,
    );
    this.registerOutputs({});
  }
}
