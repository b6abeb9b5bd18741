import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { BackupGrantsEnv, backupGrantsScript } from "../data/backupScripts";
import { tenantSqlName } from "../runtime/naming";
import { OwnerCheckEnv, ownerCheckScript } from "../data/postgresServer";
import { postgresUrl } from "../runtime/urls";
import {
  dataOptions,
  PlatformContext,
  PostgresServer,
  RunScript,
  waitFor,
} from "../runtime/context";

export interface DatabaseArgs {
  /** The stack's environment: production keeps the database. */
  context: Pick<PlatformContext, "environment">;
  /** Runs the owner check and the backup grants, which hold the superuser's password: where admin jobs run (the data network, the data namespace). */
  run: RunScript;
  /** The tenant's id; the role and database are both named `dittofeed_<id>`. */
  tenantId: string;
  /** The Postgres server; its provider creates the role and database. */
  postgres: PostgresServer;
  /** The role's password (secret). */
  password: pulumi.Input<string>;
  /** How many connections the role may hold at once, so that no tenant exhausts the server. */
  connectionLimit: number;
  /** What the owner check needs first: the tenant's gateway to Postgres. */
  dependsOn: pulumi.Resource[];
  /**
   * The backup service's role, which gets CONNECT here and, through `grant_reads()` (see
   * `backupGrantsSql`), what a dump reads. @default none
   */
  backupRole?: pulumi.Input<string>;
  /**
   * The tenant is offboarded: its role may no longer log in, and in production its database is
   * no longer protected, so that removing the tenant (the second step) retains it without a
   * `pulumi state unprotect`. @default false
   */
  offboarded?: boolean;
}

/**
 * A tenant's own Postgres role and database. The role owns only its database and is neither
 * superuser nor able to create roles. It may create databases: Dittofeed's bootstrap always
 * issues `CREATE DATABASE` and tolerates only "already exists", which Postgres reports after the
 * privilege check, so without CREATEDB every bootstrap fails. So any tenant could create this
 * database before this tenant exists: a job checks its owner before anything is created (see
 * `ownerCheckScript`). `CONNECT` is revoked from PUBLIC, so no other tenant's role can even open
 * this database; the backup service's role, which reads and never writes, gets it.
 */
export class Database extends pulumi.ComponentResource {
  public readonly role: postgresql.Role;
  public readonly database: postgresql.Database;
  public readonly revokePublic: postgresql.Grant;
  /** The grants this database's readers need besides its owner: the backup role's, when there is one. */
  public readonly grants: postgresql.Grant[] = [];
  /** Resolves once the backup role may read this database (see `backupGrantsSql`); none without backups. */
  public readonly backupReadable?: pulumi.Output<pulumi.Resource[]>;
  /** The tenant's `DATABASE_URL`, percent-encoded; secret. */
  public readonly url: pulumi.Output<string>;

  constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:tenant:Database", name, {}, opts);
    const { context, postgres } = args;
    const sqlName = tenantSqlName(args.tenantId);
    const childOptions = { parent: this, provider: postgres.provider };
    // In production the database is also protected: dropping a tenant's data takes a deliberate
    // `pulumi state unprotect`, not just a line removed from config.
    const keepRole = dataOptions(context, { protect: false });
    const keepData = dataOptions(context, { protect: !args.offboarded });

    // The superuser's jobs: `psql` in the server's image, logged in by libpq's variables.
    const superuserJob = <Env extends Record<string, pulumi.Input<string>>>(
      job: string,
      script: string,
      env: Env,
      description: string,
    ) => ({
      job,
      service: "migrate",
      image: postgres.image,
      memoryMb: 64,
      script,
      env: {
        PGHOST: postgres.host,
        PGPORT: String(postgres.port),
        PGUSER: postgres.superuser,
        PGPASSWORD: postgres.password,
        ...env,
        ...postgres.clientEnv,
      },
      description,
      secrets: [postgres.password],
    });
    const checkEnv: Pick<OwnerCheckEnv, "PGDATABASE" | "DATABASE" | "OWNER"> = {
      PGDATABASE: "postgres",
      DATABASE: sqlName,
      OWNER: sqlName,
    };
    const check = args.run(
      `${name}-owner-check`,
      superuserJob("database-check", ownerCheckScript(), checkEnv, `Owner check of ${sqlName}`),
      // The provider resolves once Postgres is healthy and its password current.
      { parent: this, dependsOn: [...args.dependsOn, postgres.provider] },
    );
    const checked = check.succeeded;

    this.role = new postgresql.Role(
      `${name}-role`,
      {
        name: sqlName,
        login: !args.offboarded,
        password: args.password,
        superuser: false,
        createRole: false,
        createDatabase: true,
        connectionLimit: args.connectionLimit,
      },
      { ...childOptions, ...keepRole, dependsOn: waitFor([], [checked]) },
    );
    this.database = new postgresql.Database(
      `${name}-db`,
      { name: sqlName, owner: this.role.name },
      { ...childOptions, ...keepData },
    );
    this.revokePublic = new postgresql.Grant(
      `${name}-revoke-public`,
      { database: this.database.name, role: "public", objectType: "database", privileges: [] },
      childOptions,
    );
    if (args.backupRole !== undefined) {
      const backupConnect = new postgresql.Grant(
        `${name}-backup-connect`,
        {
          database: this.database.name,
          role: args.backupRole,
          objectType: "database",
          privileges: ["CONNECT"],
        },
        // Kept with the database it opens: a retained database (a removed tenant's, in
        // production) stays in the backups only while the backup role may open it.
        { ...childOptions, ...keepRole },
      );
      this.grants.push(backupConnect);
      const grantsEnv: Pick<BackupGrantsEnv, "DATABASES"> = { DATABASES: sqlName };
      const grants = args.run(
        `${name}-backup-grants`,
        superuserJob(
          "backup-grants",
          backupGrantsScript(),
          grantsEnv,
          `Backup grants in ${sqlName}`,
        ),
        { parent: this, dependsOn: [this.database, backupConnect] },
      );
      this.backupReadable = grants.succeeded;
    }
    this.url = pulumi.secret(
      pulumi
        .all([this.role.name, args.password, this.database.name])
        .apply(([user, password, database]) =>
          postgresUrl({
            user,
            password,
            host: postgres.host,
            port: postgres.port,
            database,
            sslMode: postgres.sslMode,
          }),
        ),
    );
    this.registerOutputs({ url: this.url });
  }
}
