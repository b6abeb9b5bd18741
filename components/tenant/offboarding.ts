import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as postgresql from "@pulumi/postgresql";
import { lockUserScript } from "../data/clickhouseServer";
import { EndSessionsEnv, endSessionsScript } from "../data/postgresServer";
import {
  DeprecateNamespaceEnv,
  deprecateNamespaceScript,
  namespaceAdminClaims,
} from "../data/temporalServer";
import { Backup } from "../data/backup";
import { ClickHouse } from "../data/clickhouse";
import { Postgres } from "../data/postgres";
import { Temporal } from "../data/temporal";
import { PlatformContext, waitFor } from "../runtime/context";
import { jobSucceeded, scriptJob, secretEnv, tenantJobSpec } from "../runtime/docker";

export interface OffboardingArgs {
  /**
   * The stack's own context: every job here holds an admin's or the backup's credentials, and
   * runs on the data network, never on the tenant's.
   */
  context: PlatformContext;
  tenantId: string;
  /** The tenant's database and ClickHouse user, both `dittofeed_<id>`. */
  sqlName: string;
  /** Its Temporal namespace, which is deprecated. */
  namespace: string;
  /** The tenant's `SECRET_KEY` (secret): the export keeps it, sealed, beside the data it decrypts. */
  secretKey: pulumi.Input<string>;
  /**
   * The stack's backup service, which takes the final export once the backup role may read the
   * tenant's database (`readable`). @default none (no export: dev)
   */
  backup?: { service: Backup; readable: pulumi.Output<pulumi.Resource[]>[] };
  clickhouse: ClickHouse;
  /** Image id of the ClickHouse server image, whose client locks the user. */
  clickhouseImage: pulumi.Input<string>;
  temporal: Temporal;
  /** Image id of Dittofeed's admin-cli image, whose Temporal client deprecates the namespace. */
  adminCliImage: pulumi.Input<string>;
  /** The stack's Postgres: its superuser ends the locked role's sessions. */
  postgres: Postgres;
  /** The tenant's role, locked (NOLOGIN) by its Database while the tenant is offboarded. */
  role: postgresql.Role;
  /** What the jobs need first: the tenant's gateway, its database, the services they talk to. */
  dependsOn: pulumi.Resource[];
}

/**
 * The first step of removing a tenant, reviewable on its own and reversible. Its apps are gone
 * (the tenant stops creating them), but the engine deletes them only at the end of the update,
 * so first nothing of the tenant may write any more: its Postgres role is locked (NOLOGIN, by its
 * Database) and its open sessions ended, and its ClickHouse user is locked. Then a final export
 * of its databases and its `SECRET_KEY` is taken, as the backup service (which the locks do not
 * touch), and its Temporal namespace is deprecated, so nothing starts there again.
 */
export class Offboarding extends pulumi.ComponentResource {
  /** The final export, when the stack backs up; after the locks. */
  public readonly export?: docker.Container;
  /** Resolves once the export (if any), the lock and the deprecation succeeded. */
  public readonly succeeded: pulumi.Output<pulumi.Resource[]>;

  constructor(name: string, args: OffboardingArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:tenant:Offboarding", name, {}, opts);
    const { context, tenantId, clickhouse, postgres } = args;
    // Every step here: `<stack>_<tenant>.<job>`, labelled `offboard`, on the data network.
    const offboardJob = (
      job: string,
      image: pulumi.Input<string>,
      memoryMb: number,
      script: string,
      env: pulumi.Output<string[]>,
      dependsOn: pulumi.CustomResourceOptions["dependsOn"],
    ) =>
      scriptJob(
        `${name}-${job}`,
        {
          ...tenantJobSpec(context, tenantId, { name: job, service: "offboard", image, memoryMb }),
          script,
          env,
        },
        { parent: this, dependsOn },
      );
    const sessionsEnv: Record<keyof EndSessionsEnv, pulumi.Input<string>> = {
      PGHOST: postgres.host,
      PGPORT: String(postgres.port),
      PGUSER: postgres.superuser,
      PGPASSWORD: postgres.password,
      PGDATABASE: "postgres",
      ROLE: args.sqlName,
    };
    // After the role's NOLOGIN: a session ended before it could simply open again.
    const sessionsEnd = offboardJob(
      "sessions-end",
      postgres.image,
      64,
      endSessionsScript(),
      secretEnv(sessionsEnv),
      [...args.dependsOn, args.role, postgres.provider],
    );
    const lock = offboardJob(
      "clickhouse-lock",
      args.clickhouseImage,
      128,
      lockUserScript({ server: clickhouse.host, port: clickhouse.nativePort, user: args.sqlName }),
      secretEnv({
        CLICKHOUSE_USER: clickhouse.adminUser,
        CLICKHOUSE_PASSWORD: clickhouse.password,
      }),
      args.dependsOn,
    );
    const gates = [
      jobSucceeded(sessionsEnd, `End of tenant ${tenantId}'s Postgres sessions`, [
        postgres.password,
      ]),
      jobSucceeded(lock, `ClickHouse lock of tenant ${tenantId}`, [clickhouse.password]),
    ];
    if (args.backup) {
      this.export = args.backup.service.tenantSetJob(
        `${name}-export`,
        {
          context,
          tenantId,
          kind: "export",
          database: args.sqlName,
          clickhouse: true,
          secretKey: args.secretKey,
        },
        { parent: this, dependsOn: args.dependsOn, gates: [...gates, ...args.backup.readable] },
      );
      gates.push(jobSucceeded(this.export, `Final export of tenant ${tenantId}`, [args.secretKey]));
    }
    const env: Record<keyof DeprecateNamespaceEnv, pulumi.Input<string>> = {
      TEMPORAL_ADDRESS: args.temporal.address,
      NAMESPACE: args.namespace,
      TEMPORAL_AUTHORIZATION: pulumi.concat(
        "Bearer ",
        args.temporal.token(namespaceAdminClaims(args.namespace)),
      ),
    };
    const deprecation = offboardJob(
      "namespace-deprecation",
      args.adminCliImage,
      256,
      deprecateNamespaceScript(),
      secretEnv({ ...env }),
      waitFor([...args.dependsOn, args.temporal.container], [...gates]),
    );
    this.succeeded = pulumi
      .all([
        ...gates,
        jobSucceeded(deprecation, `Deprecation of tenant ${tenantId}'s namespace`, [
          env.TEMPORAL_AUTHORIZATION,
        ]),
      ])
      .apply(() => []);
    this.registerOutputs({});
  }
}
