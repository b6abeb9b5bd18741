import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { lockUserScript } from "../../lib/clickhouse";
import { DeprecateNamespaceEnv, deprecateNamespaceScript } from "../../lib/temporal";
import { Backup } from "../data/backup";
import { ClickHouse } from "../data/clickhouse";
import { Temporal } from "../data/temporal";
import { PlatformContext, waitFor } from "../shared/context";
import { jobSucceeded, scriptJob, secretEnv, tenantJobSpec } from "../shared/docker";

export interface OffboardingArgs {
  /** The tenant's context: its jobs run on its own network, through its gateway. */
  context: PlatformContext;
  tenantId: string;
  /** The tenant's database and ClickHouse user, both `dittofeed_<id>`. */
  sqlName: string;
  /** Its Temporal namespace, which is deprecated. */
  namespace: string;
  /** The tenant's `SECRET_KEY` (secret): the export keeps it, sealed, beside the data it decrypts. */
  secretKey: pulumi.Input<string>;
  /** The stack's backup service, which takes the final export. @default none (no export: dev) */
  backup?: Backup;
  clickhouse: ClickHouse;
  /** Image id of the ClickHouse server image, whose client locks the user. */
  clickhouseImage: pulumi.Input<string>;
  temporal: Temporal;
  /** Image id of Dittofeed's admin-cli image, whose Temporal client deprecates the namespace. */
  adminCliImage: pulumi.Input<string>;
  /** What the jobs need first: the tenant's gateway, its database, the services they talk to. */
  dependsOn: pulumi.Resource[];
}

/**
 * The first step of removing a tenant, reviewable on its own and reversible: its apps are gone
 * (the tenant stops creating them), a final export of its databases and its `SECRET_KEY` is
 * taken, its ClickHouse user is locked (its Postgres role is, by its Database), and its Temporal
 * namespace is deprecated, so nothing starts there again. The lock waits for the export, which
 * reads as the backup service, not as the tenant.
 */
export class Offboarding extends pulumi.ComponentResource {
  /** The final export, when the stack backs up. */
  public readonly export?: docker.Container;
  public readonly lock: docker.Container;
  public readonly deprecation: docker.Container;
  /** Resolves once the export (if any), the lock and the deprecation succeeded. */
  public readonly succeeded: pulumi.Output<pulumi.Resource[]>;

  constructor(name: string, args: OffboardingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:tenant:Offboarding", name, {}, opts);
    const { context, tenantId, clickhouse } = args;
    const gates: pulumi.Output<pulumi.Resource[]>[] = [];
    if (args.backup) {
      this.export = args.backup.tenantSetJob(
        `${name}-export`,
        {
          context,
          tenantId,
          kind: "export",
          database: args.sqlName,
          clickhouse: true,
          secretKey: args.secretKey,
        },
        { parent: this, dependsOn: args.dependsOn },
      );
      gates.push(jobSucceeded(this.export, `Final export of tenant ${tenantId}`, [args.secretKey]));
    }
    const exported = waitFor(args.dependsOn, [...gates]);
    this.lock = scriptJob(
      `${name}-clickhouse-lock`,
      {
        ...tenantJobSpec(context, tenantId, {
          name: "clickhouse-lock",
          service: "offboard",
          image: args.clickhouseImage,
          memoryMb: 128,
        }),
        script: lockUserScript({
          server: clickhouse.host,
          port: clickhouse.nativePort,
          user: args.sqlName,
        }),
        env: secretEnv({
          CLICKHOUSE_USER: clickhouse.adminUser,
          CLICKHOUSE_PASSWORD: clickhouse.password,
        }),
      },
      { parent: this, dependsOn: exported },
    );
    const env: DeprecateNamespaceEnv = {
      TEMPORAL_ADDRESS: args.temporal.address,
      NAMESPACE: args.namespace,
    };
    this.deprecation = scriptJob(
      `${name}-namespace-deprecation`,
      {
        ...tenantJobSpec(context, tenantId, {
          name: "namespace-deprecation",
          service: "offboard",
          image: args.adminCliImage,
          memoryMb: 256,
        }),
        script: deprecateNamespaceScript(),
        env: secretEnv({ ...env }),
      },
      {
        parent: this,
        dependsOn: waitFor([...args.dependsOn, args.temporal.container], [...gates]),
      },
    );
    this.succeeded = pulumi
      .all([
        ...gates,
        jobSucceeded(this.lock, `ClickHouse lock of tenant ${tenantId}`, [clickhouse.password]),
        jobSucceeded(this.deprecation, `Deprecation of tenant ${tenantId}'s namespace`),
      ])
      .apply(() => []);
    this.registerOutputs({});
  }
}
