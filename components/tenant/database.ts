import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { Postgres } from "../data/postgres";
import { tenantSqlName } from "../../lib/naming";
import { postgresUrl } from "../../lib/urls";
import { dataOptions, PlatformContext } from "../shared/context";

export interface DatabaseArgs {
  /** The stack this database belongs to. */
  context: PlatformContext;
  /** The tenant's id; the role and database are both named `dittofeed_<id>`. */
  tenantId: string;
  /** The Postgres instance; its provider creates the role and database. */
  postgres: Postgres;
  /** The role's password (secret). */
  password: pulumi.Input<string>;
  /** How many connections the role may hold at once, so that no tenant exhausts the server. */
  connectionLimit: number;
}

/**
 * A tenant's own Postgres role and database. The role owns only its database and is neither
 * superuser nor able to create roles. It may create databases: Dittofeed's bootstrap always
 * issues `CREATE DATABASE` and tolerates only "already exists", which Postgres reports after the
 * privilege check, so without CREATEDB every bootstrap fails. `CONNECT` is revoked from PUBLIC,
 * so no other tenant's role can even open this database.
 */
export class Database extends pulumi.ComponentResource {
  public readonly role: postgresql.Role;
  public readonly database: postgresql.Database;
  public readonly revokePublic: postgresql.Grant;
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
    const keepData = dataOptions(context, { protect: true });

    this.role = new postgresql.Role(
      `${name}-role`,
      {
        name: sqlName,
        login: true,
        password: args.password,
        superuser: false,
        createRole: false,
        createDatabase: true,
        connectionLimit: args.connectionLimit,
      },
      { ...childOptions, ...keepRole },
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
    this.url = pulumi.secret(
      pulumi
        .all([this.role.name, args.password, this.database.name])
        .apply(([user, password, database]) =>
          postgresUrl({ user, password, host: postgres.host, port: postgres.port, database }),
        ),
    );
    this.registerOutputs({ url: this.url });
  }
}
