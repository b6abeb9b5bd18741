import { createHash } from "node:crypto";
import * as cloudflare from "@pulumi/cloudflare";
import * as docker from "@pulumi/docker";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import {
  BACKUP_KINDS,
  BACKUP_ROLE,
  BACKUP_ROOT,
  BackupGrantsEnv,
  backupGrantsScript,
  BackupEnv,
  backupHealthTest,
  backupScript,
  BackupKind,
  REMOTE_NAME,
  TOOLS_ROOT,
} from "./backupScripts";
import { BACKUP_USER, backupAccessScript } from "./clickhouseServer";
import { healthCheck } from "../runtime/healthchecks";
import { BACKUP_CONNECTION_LIMIT } from "./postgresServer";
import { dockerName, SharedService } from "../runtime/naming";
import {
  dataOptions,
  JOB_MINUTES,
  PlatformContext,
  secretOrGenerated,
  waitFor,
} from "../runtime/context";
import {
  dataVolume,
  jobSucceeded,
  labels,
  scriptJob,
  secretEnv,
  serviceContainer,
  stackContainerSpec,
  tenantJobSpec,
} from "../runtime/docker";
import { ClickHouse } from "./clickhouse";
import { Postgres } from "./postgres";

/** The R2 permission group that reads, lists and writes objects of the buckets a token names. */
const R2_OBJECT_WRITE = "Workers R2 Storage Bucket Item Write";

/** An off-host copy of every set in a Cloudflare R2 bucket. */
export interface R2Args {
  accountId: string;
  /** The bucket's name; created here, protected and retained in production. */
  bucket: string;
  /** Days R2 keeps scheduled sets and snapshots (a lifecycle rule); exports are kept. */
  retentionDays: number;
  /** Image id of rclone's image, whose static binary uploads. */
  rcloneImage: pulumi.Input<string>;
}

export interface BackupArgs {
  /** The stack this service belongs to; it runs on the data network. */
  context: PlatformContext;
  /** The stack's Postgres: its image runs the backups (its own `pg_dump`, `gpg`, bash). */
  postgres: Postgres;
  /** The stack's ClickHouse; its image's `clickhouse` binary is copied into the tools volume. */
  clickhouse: ClickHouse;
  /** Image id of the ClickHouse server image. */
  clickhouseImage: pulumi.Input<string>;
  /** Temporal's databases (in-flight journeys live there), dumped with every set. */
  temporalDatabases: postgresql.Database[];
  /** Hours between scheduled sets. */
  intervalHours: number;
  /** Days a set is kept on the backup volume (the newest is always kept). */
  retentionDays: number;
  /** The ASCII-armored OpenPGP public key every file is encrypted to. */
  publicKey: string;
  /** Memory limit of the service and of its one-shot jobs, in MB. */
  memoryMb: number;
  /** Where sets are copied off the host. @default none (the backup volume only) */
  r2?: R2Args;
}

/** The S3 side of a bucket-scoped R2 token (developers.cloudflare.com/r2/api/tokens). */
function s3Credentials(token: cloudflare.AccountToken) {
  return {
    // "Access Key ID: the id of the API token. Secret Access Key: the SHA-256 hash of the API
    // token value."
    accessKeyId: token.id,
    secretAccessKey: pulumi.secret(
      token.value.apply((value) => {
        // Cloudflare returns a token's value once, at creation, and the provider keeps it in
        // state: without it no right secret can be derived, and a wrong one would only fail at
        // the next upload.
        if (!value) {
          throw new Error(
            "Cloudflare gave no value for the backup service's R2 token: create it anew with pulumi up --replace on the URN of backup-token",
          );
        }
        return createHash("sha256").update(value).digest("hex");
      }),
    ),
  };
}

/**
 * Backups of every tenant's Postgres and ClickHouse databases and of Temporal's, on a schedule,
 * encrypted on the host to `publicKey` (see components/data/backupScripts.ts), to a protected volume and, with
 * `r2`, to a bucket only it can write. It finds tenants' databases by name at every run, so adding
 * or removing a tenant changes nothing here. It reads as a Postgres role and a ClickHouse user
 * that can read every table and write none. Its container turns unhealthy when a set is overdue.
 *
 * ClickHouse is dumped through its client, not with its server-side BACKUP, which would need a
 * backup disk in the server's config: the ClickHouse container stays as it is.
 */
export class Backup extends pulumi.ComponentResource {
  public readonly role: postgresql.Role;
  /** The backup volume, `<stack>-backup-data`. */
  public readonly volume: docker.Volume;
  /** `clickhouse` (and `rclone`), copied from their images: what the backup image lacks. */
  public readonly toolsVolume: docker.Volume;
  public readonly container: docker.Container;
  /** The bucket sets are copied to, with `r2`. */
  public readonly bucket?: cloudflare.R2Bucket;
  /** Resolves once the role, the ClickHouse user and the tools are in place: one-shot sets wait for it. */
  public readonly ready: pulumi.Output<pulumi.Resource[]>;
  /** Where every set is written, `scheduled` under the volume; and the off-host copy, if any. */
  public readonly location: pulumi.Output<string>;
  private readonly environment: { [K in keyof BackupEnv]: pulumi.Input<NonNullable<BackupEnv[K]>> };
  /** rclone's settings for the off-host copy; empty without one. */
  private readonly remoteEnv: Record<string, pulumi.Input<string>>;
  private readonly image: pulumi.Input<string>;
  private readonly memoryMb: number;
  private readonly prerequisites: pulumi.Resource[];

  constructor(name: string, args: BackupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:data:Backup", name, {}, opts);
    const { context, postgres, clickhouse } = args;
    this.image = postgres.image;
    this.memoryMb = args.memoryMb;
    const password = secretOrGenerated(`${name}-password`, undefined, this);
    const clickhousePassword = secretOrGenerated(`${name}-clickhouse-password`, undefined, this);

    this.role = new postgresql.Role(
      `${name}-role`,
      {
        name: BACKUP_ROLE,
        login: true,
        password,
        // Row-level security would fail a dump (see `backupGrantsSql`); reading is granted in
        // each database, no more.
        bypassRowLevelSecurity: true,
        connectionLimit: BACKUP_CONNECTION_LIMIT,
      },
      { parent: this, provider: postgres.provider, ...dataOptions(context, { protect: false }) },
    );
    // Temporal's databases revoke CONNECT from PUBLIC; each tenant's grants it in its Database.
    const temporalGrants = args.temporalDatabases.map(
      (database, i) =>
        new postgresql.Grant(
          `${name}-connect-temporal-${i}`,
          {
            database: database.name,
            role: this.role.name,
            objectType: "database",
            privileges: ["CONNECT"],
          },
          // Kept with the databases it opens, as each tenant's is.
          {
            parent: this,
            provider: postgres.provider,
            ...dataOptions(context, { protect: false }),
          },
        ),
    );

    this.volume = dataVolume(name, context, "backup", this);
    this.toolsVolume = new docker.Volume(
      `${name}-tools`,
      {
        name: dockerName(context.stack, "backup-tools"),
        labels: labels({ environment: context.environment, service: "backup" }),
      },
      // Nothing here is data, but what production keeps, it keeps alike (the policy's rule).
      { parent: this, ignoreChanges: ["labels"], ...dataOptions(context, { protect: true }) },
    );
    // Not labelled `backup`: that label finds the service itself.
    const job = (name: SharedService, image: pulumi.Input<string>, script: string) => ({
      ...stackContainerSpec(context, { name, image, memoryMb: 256 }),
      script,
    });
    const accessJob = scriptJob(
      `${name}-clickhouse-access`,
      {
        ...job(
          "backup-access",
          args.clickhouseImage,
          backupAccessScript({ server: clickhouse.host, port: clickhouse.nativePort }),
        ),
        env: secretEnv({
          CLICKHOUSE_USER: clickhouse.adminUser,
          CLICKHOUSE_PASSWORD: clickhouse.password,
          BACKUP_PASSWORD: clickhousePassword,
        }),
      },
      { parent: this, dependsOn: [clickhouse.container] },
    );
    // Each binary is copied anew whenever its image changes; the service reads it at every run.
    const copy = (tool: "clickhouse" | "rclone", image: pulumi.Input<string>, binary: string) => {
      const target = `${TOOLS_ROOT}/${tool}`;
      const copyJob = scriptJob(
        `${name}-${tool}-copy`,
        {
          ...job(
            `backup-${tool}-copy`,
            image,
            `set -e; cp ${binary} ${target}.new; mv -f ${target}.new ${target}`,
          ),
          volumes: [{ volumeName: this.toolsVolume.name, containerPath: TOOLS_ROOT }],
        },
        { parent: this },
      );
      return jobSucceeded(copyJob, `Copy of ${binary} into the backup tools`);
    };
    // Paths in the official images: ClickHouse's packages put it in /usr/bin
    // (packages/clickhouse-common-static.yaml), rclone's Dockerfile in /usr/local/bin.
    const copied = [copy("clickhouse", args.clickhouseImage, "/usr/bin/clickhouse")];

    let remote = "";
    this.remoteEnv = {};
    if (args.r2) {
      const offsite = this.offsite(name, context, args.r2);
      this.bucket = offsite.bucket;
      this.remoteEnv = offsite.rcloneEnv;
      copied.push(copy("rclone", args.r2.rcloneImage, "/usr/local/bin/rclone"));
      remote = `${REMOTE_NAME}:${args.r2.bucket}`;
    }

    this.environment = {
      PGHOST: postgres.host,
      PGPORT: String(postgres.port),
      PGUSER: BACKUP_ROLE,
      PGPASSWORD: password,
      PUBLIC_KEY: args.publicKey,
      MODE: "service",
      DESTINATION: BACKUP_KINDS.scheduled,
      DATABASES: "",
      EXTRA_DATABASES: "",
      CLICKHOUSE_DATABASES: "",
      CLICKHOUSE_HOST: clickhouse.host,
      CLICKHOUSE_PORT: String(clickhouse.nativePort),
      CLICKHOUSE_USER: BACKUP_USER,
      CLICKHOUSE_PASSWORD: clickhousePassword,
      INTERVAL_HOURS: String(args.intervalHours),
      RETENTION_DAYS: String(args.retentionDays),
      REMOTE: remote,
    };
    // Temporal's databases, as each tenant's Database does for its own.
    const grantsEnv: Record<keyof BackupGrantsEnv, pulumi.Input<string>> = {
      PGHOST: postgres.host,
      PGPORT: String(postgres.port),
      PGUSER: postgres.superuser,
      PGPASSWORD: postgres.password,
      DATABASES: pulumi
        .all(args.temporalDatabases.map((d) => d.name))
        .apply((names) => names.join(" ")),
    };
    const grantsJob = scriptJob(
      `${name}-grants`,
      {
        ...job("backup-grants", postgres.image, backupGrantsScript()),
        env: secretEnv(grantsEnv),
      },
      { parent: this, dependsOn: [postgres.container, this.role, ...temporalGrants] },
    );
    this.prerequisites = [postgres.container, clickhouse.container, this.role];
    this.ready = pulumi
      .all([
        jobSucceeded(accessJob, "ClickHouse backup user job", [clickhouse.password]),
        jobSucceeded(grantsJob, "Backup grants in Temporal's databases", [postgres.password]),
        ...copied,
      ])
      .apply(() => []);

    this.container = serviceContainer(
      name,
      {
        ...stackContainerSpec(context, {
          name: "backup",
          image: postgres.image,
          memoryMb: args.memoryMb,
        }),
        aliases: [],
        entrypoint: ["bash", "-c"],
        command: [backupScript()],
        env: secretEnv({
          ...this.environment,
          EXTRA_DATABASES: pulumi
            .all(args.temporalDatabases.map((d) => d.name))
            .apply((names) => names.join(" ")),
          ...this.remoteEnv,
        }),
        healthcheck: healthCheck(backupHealthTest(args.intervalHours), 30),
        volumes: [
          { volumeName: this.volume.name, containerPath: BACKUP_ROOT },
          { volumeName: this.toolsVolume.name, containerPath: TOOLS_ROOT, readOnly: true },
        ],
      },
      {
        parent: this,
        dependsOn: waitFor([...this.prerequisites, ...temporalGrants], [this.ready]),
      },
    );
    this.location = pulumi.output(
      `${BACKUP_ROOT}/${BACKUP_KINDS.scheduled} on volume ${dockerName(context.stack, "backup-data")}` +
        (remote ? `, copied to R2 bucket ${args.r2!.bucket}` : ""),
    );
    this.registerOutputs({ location: this.location });
  }

  /** The bucket, its lifecycle, and a token that can write only there; rclone's settings for it. */
  private offsite(name: string, context: PlatformContext, r2: R2Args) {
    const { accountId, bucket } = r2;
    const bucketResource = new cloudflare.R2Bucket(
      `${name}-bucket`,
      { accountId, name: bucket },
      { parent: this, ...dataOptions(context, { protect: true }) },
    );
    const maxAge = r2.retentionDays * 86400;
    new cloudflare.R2BucketLifecycle(
      `${name}-lifecycle`,
      {
        accountId,
        bucketName: bucketResource.name,
        // Exports of offboarded tenants carry no rule: they stay until someone deletes them.
        rules: [BACKUP_KINDS.scheduled, BACKUP_KINDS.snapshot].map((prefix) => ({
          id: `expire-${prefix}`,
          enabled: true,
          conditions: { prefix: `${prefix}/` },
          // Seconds (@pulumi/cloudflare 6.22.1, R2BucketLifecycleRuleDeleteObjectsTransitionCondition).
          deleteObjectsTransition: { condition: { type: "Age", maxAge } },
        })),
      },
      { parent: this },
    );
    // The token may delete objects (R2 has no write-only permission), so a host that is taken
    // over could wipe its own backups: a lock keeps every object for as long as R2 keeps sets.
    new cloudflare.R2BucketLock(
      `${name}-lock`,
      {
        accountId,
        bucketName: bucketResource.name,
        rules: [
          {
            id: "keep-backups",
            enabled: true,
            prefix: "",
            condition: { type: "Age", maxAgeSeconds: maxAge },
          },
        ],
      },
      { parent: this },
    );
    // Permission group ids are looked up, as Cloudflare's token docs advise, not written down.
    const groups = cloudflare.getAccountApiTokenPermissionGroupsListOutput(
      { accountId },
      { parent: this },
    );
    const writeGroup = groups.results.apply((results) => {
      const group = results.find((g) => g.name === R2_OBJECT_WRITE);
      if (!group) {
        throw new Error(
          `Cloudflare lists no permission group "${R2_OBJECT_WRITE}" for account ${accountId}`,
        );
      }
      return group.id;
    });
    const token = new cloudflare.AccountToken(
      `${name}-token`,
      {
        accountId,
        name: `platform-${context.stack}-backups`,
        policies: [
          {
            effect: "allow",
            permissionGroups: [{ id: writeGroup }],
            // One bucket, of the default jurisdiction (developers.cloudflare.com/r2/api/tokens).
            resources: bucketResource.name.apply((b) =>
              JSON.stringify({ [`com.cloudflare.edge.r2.bucket.${accountId}_default_${b}`]: "*" }),
            ),
          },
        ],
      },
      { parent: this },
    );
    const { accessKeyId, secretAccessKey } = s3Credentials(token);
    // rclone reads a remote from RCLONE_CONFIG_<NAME>_<OPTION> (rclone docs/content/docs.md); a
    // token that may not create buckets needs no_check_bucket (docs/content/s3.md, Cloudflare).
    const prefix = `RCLONE_CONFIG_${REMOTE_NAME.toUpperCase()}_`;
    const rcloneEnv: Record<string, pulumi.Input<string>> = {
      [`${prefix}TYPE`]: "s3",
      [`${prefix}PROVIDER`]: "Cloudflare",
      [`${prefix}ACCESS_KEY_ID`]: accessKeyId,
      [`${prefix}SECRET_ACCESS_KEY`]: secretAccessKey,
      [`${prefix}ENDPOINT`]: `https://${accountId}.r2.cloudflarestorage.com`,
      [`${prefix}REGION`]: "auto",
      [`${prefix}NO_CHECK_BUCKET`]: "true",
    };
    return { bucket: bucketResource, rcloneEnv };
  }

  /**
   * A one-shot set of one tenant's databases, as the service writes them, under
   * `<kind>/<tenant>` (see `BACKUP_KINDS`): the tenant's snapshot before a migration, or its
   * export when it is offboarded. It runs on the data network (`context` is the stack's), as the
   * service does, with the service's credentials: never on a tenant's network.
   */
  tenantSetJob(
    name: string,
    set: {
      /** The stack's context: the set is written from its data network. */
      context: PlatformContext;
      tenantId: string;
      kind: Exclude<BackupKind, "scheduled">;
      /** The tenant's database, in Postgres and in ClickHouse. */
      database: string;
      /** Whether its ClickHouse database is part of the set. */
      clickhouse: boolean;
      /** The tenant's `SECRET_KEY` (secret), sealed into the set: a restore needs it. @default none */
      secretKey?: pulumi.Input<string>;
      /**
       * The image of the migration a snapshot precedes: a new one replaces the job, so each
       * migration gets its own snapshot. @default none
       */
      before?: pulumi.Input<string>;
    },
    opts: {
      parent: pulumi.Resource;
      dependsOn: pulumi.Resource[];
      gates?: pulumi.Output<pulumi.Resource[]>[];
    },
  ): docker.Container {
    const { context, tenantId, kind } = set;
    const offsite = kind === "export" && this.environment.REMOTE !== "";
    return scriptJob(
      name,
      {
        ...tenantJobSpec(context, tenantId, {
          name: kind,
          image: this.image,
          memoryMb: this.memoryMb,
        }),
        maxMinutes: JOB_MINUTES.data,
        shell: "bash",
        script: backupScript(),
        env: secretEnv({
          ...this.environment,
          MODE: "once",
          DESTINATION: `${BACKUP_KINDS[kind]}/${tenantId}`,
          DATABASES: set.database,
          CLICKHOUSE_DATABASES: set.clickhouse ? set.database : "-",
          // A snapshot is for going back on this host; an export leaves it, as the sets do.
          REMOTE: offsite ? this.environment.REMOTE : "",
          ...(offsite ? this.remoteEnv : {}),
          ...(set.secretKey === undefined ? {} : { SECRET_KEY: set.secretKey }),
          ...(set.before === undefined ? {} : { BEFORE: set.before }),
        }),
        volumes: [
          { volumeName: this.volume.name, containerPath: BACKUP_ROOT },
          { volumeName: this.toolsVolume.name, containerPath: TOOLS_ROOT, readOnly: true },
        ],
      },
      {
        parent: opts.parent,
        dependsOn: waitFor(
          [...this.prerequisites, ...opts.dependsOn],
          [this.ready, ...(opts.gates ?? [])],
        ),
      },
    );
  }
}
