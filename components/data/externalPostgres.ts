import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { PostgresServer } from "../runtime/context";
import { adminProvider } from "./postgres";

export interface ExternalPostgresArgs {
  /** The server's hostname, which its certificate names. */
  host: string;
  port: number;
  /** The admin role, which may create roles and databases (a managed service's master user). */
  user: string;
  /** Its password (secret). */
  password: string;
  /**
   * An image whose `psql` the platform's jobs use, with the system's CA certificates: Dittofeed's
   * admin-cli image (node:20 bullseye, with postgresql-client and ca-certificates: dittofeed
   * v0.23.0, packages/admin-cli/Dockerfile). The postgres image purges its CA certificates after
   * its build (docker-library/postgres, 15/bookworm/Dockerfile), so it could not verify a server.
   */
  image: string;
}

/**
 * A Postgres the platform does not run (a managed service), reached over TLS that checks the
 * server's certificate and that it names the host (`verify-full`), by the provider and by every
 * client the platform configures, against each one's system CAs: node-postgres treats any
 * `sslmode` but `no-verify` as full verification (pg-connection-string 2.7.0, index.js), and
 * Temporal without a CA file skips verification altogether unless it checks the host name
 * (temporal v1.22.4, postgresql/session/session.go), so nothing weaker is offered. Its admin
 * role need not be a superuser: the provider then grants itself membership in the roles it
 * creates where it must.
 */
export class ExternalPostgres extends pulumi.ComponentResource implements PostgresServer {
  public readonly host: string;
  public readonly port: number;
  public readonly superuser: string;
  public readonly image: string;
  public readonly password: pulumi.Output<string>;
  public readonly provider: postgresql.Provider;
  public readonly sslMode = "verify-full";
  public readonly clientEnv: Record<string, string>;

  constructor(name: string, args: ExternalPostgresArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:data:ExternalPostgres", name, {}, opts);
    this.host = args.host;
    this.port = args.port;
    this.superuser = args.user;
    this.image = args.image;
    this.password = pulumi.secret(args.password);
    // libpq 13 (bullseye) has no `sslrootcert=system`: it is given Debian's bundle by path.
    this.clientEnv = {
      PGSSLMODE: this.sslMode,
      PGSSLROOTCERT: "/etc/ssl/certs/ca-certificates.crt",
    };
    this.provider = adminProvider(
      `${name}-admin`,
      {
        host: args.host,
        port: args.port,
        username: args.user,
        password: this.password,
        sslmode: this.sslMode,
        superuser: false,
      },
      { parent: this },
    );
    this.registerOutputs({ host: this.host });
  }
}
