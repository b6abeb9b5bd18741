import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { ClickHouse } from "../data/clickhouse";
import { tenantAccessScript } from "../../lib/clickhouse";
import { dockerName } from "../../lib/naming";
import { PlatformContext, waitFor } from "../shared/context";
import { jobContainer, jobSucceeded, secretEnv } from "../shared/docker";

export interface MigrationArgs {
  /** The stack this migration belongs to. */
  context: PlatformContext;
  /** The tenant whose schema this migrates. */
  tenantId: string;
  /** Dittofeed workspace created (or kept) by the bootstrap. */
  workspaceName: string;
  /** Image id of `dittofeed/dittofeed-admin-cli`, the only image that ships the migrations. */
  adminCliImage: pulumi.Input<string>;
  /** Image id of the ClickHouse server image, whose `clickhouse-client` creates the tenant's user. */
  clickhouseImage: pulumi.Input<string>;
  /** The shared ClickHouse. */
  clickhouse: ClickHouse;
  /** The tenant's ClickHouse database and user (both created here) and the user's password. */
  clickhouseAccess: { database: string; user: string; password: pulumi.Input<string> };
  /** The tenant's Dittofeed environment (secret), as the app containers get it. */
  env: pulumi.Input<string[]>;
  /** Every secret value in `env`, to be redacted from a failed job's output. */
  secrets: pulumi.Input<string>[];
  /** What must be ready first: the tenant's database, Postgres, ClickHouse, Temporal. */
  dependsOn: pulumi.Resource[];
  /** Memory limit of the job containers in MB. @default 1024 */
  memoryMb?: number;
}

/**
 * Brings a tenant's schema to the deployed version before any of its app containers start:
 * first the tenant's ClickHouse database and user, then Dittofeed's `bootstrap` (Postgres
 * migrations, ClickHouse tables, the Temporal namespace, the workspace). Both are one-shot
 * containers that run again whenever their image or settings change; a non-zero exit fails
 * `pulumi up` with the job's output and leaves the running app containers untouched.
 */
export class Migration extends pulumi.ComponentResource {
  public readonly clickhouseJob: docker.Container;
  public readonly bootstrapJob: docker.Container;
  /** Resolves once the bootstrap exited 0, which waited for the ClickHouse job's success: the gate of every app container of the tenant. */
  public readonly succeeded: pulumi.Output<pulumi.Resource[]>;

  constructor(name: string, args: MigrationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:tenant:Migration", name, {}, opts);
    const { context, tenantId, clickhouse } = args;
    // Both jobs: `<stack>-<tenant>-<job>`, labelled as the tenant's migration, reachable by no alias.
    const job = (dockerSuffix: string, image: pulumi.Input<string>) => ({
      name: dockerName(context.stack, tenantId, dockerSuffix),
      image,
      owner: { environment: context.environment, service: "migrate", tenant: tenantId },
      network: context.network,
      aliases: [],
      memoryMb: args.memoryMb ?? 1024,
    });

    this.clickhouseJob = jobContainer(
      `${name}-clickhouse`,
      {
        ...job("clickhouse-access", args.clickhouseImage),
        entrypoint: ["sh", "-c"],
        command: [
          tenantAccessScript({
            server: clickhouse.host,
            database: args.clickhouseAccess.database,
            user: args.clickhouseAccess.user,
          }),
        ],
        env: secretEnv({
          ADMIN_USER: clickhouse.adminUser,
          ADMIN_PASSWORD: clickhouse.password,
          TENANT_PASSWORD: args.clickhouseAccess.password,
        }),
      },
      { parent: this, dependsOn: [clickhouse.container] },
    );
    const clickhouseReady = jobSucceeded(
      this.clickhouseJob,
      `ClickHouse access job of tenant ${tenantId}`,
      [clickhouse.password, args.clickhouseAccess.password],
    );

    this.bootstrapJob = jobContainer(
      `${name}-bootstrap`,
      {
        ...job("migrate", args.adminCliImage),
        command: ["bootstrap", `--workspace-name=${args.workspaceName}`],
        env: args.env,
      },
      { parent: this, dependsOn: waitFor(args.dependsOn, [clickhouseReady]) },
    );
    this.succeeded = jobSucceeded(
      this.bootstrapJob,
      `Bootstrap (migrations) of tenant ${tenantId}`,
      args.secrets,
    );
    this.registerOutputs({});
  }
}
