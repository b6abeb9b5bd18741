import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { PostgresServer } from "../shared/context";

export interface ExternalPostgresArgs {
  /** The server's hostname, which its certificate names. */
  host: string;
  port: number;
  /** The admin role, which may create roles and databases (a managed service's master user). */
  user: string;
  /** Its password (secret). */
  password: string;
  /** `verify-full` checks the certificate and that it names `host`; `verify-ca` only the certificate. */
  sslMode: "verify-ca" | "verify-full";
  /** The CA certificate file that verifies the server on the machine running Pulumi. @default the system's */
  sslRootCert?: string;
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
 * server's certificate, by the provider and by every client the platform configures. Its admin
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
  public readonly sslMode: "verify-ca" | "verify-full";
  public readonly clientEnv: Record<string, string>;

  constructor(name: string, args: ExternalPostgresArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:data:ExternalPostgres", name, {}, opts);
    this.host = args.host;
    this.port = args.port;
    this.superuser = args.user;
    this.image = args.image;
    this.sslMode = args.sslMode;
    this.password = pulumi.secret(args.password);
    // libpq 13 (bullseye) has no `sslrootcert=system`: it is given Debian's bundle by path.
    this.clientEnv = {
      PGSSLMODE: args.sslMode,
      PGSSLROOTCERT: "/etc/ssl/certs/ca-certificates.crt",
    };
    this.provider = new postgresql.Provider(
      `${name}-admin`,
      {
        host: args.host,
        port: args.port,
        username: args.user,
        password: this.password,
        database: "postgres",
        sslmode: args.sslMode,
        sslrootcert: args.sslRootCert,
        superuser: false,
        connectTimeout: 30,
      },
      { parent: this },
    );
    this.registerOutputs({ host: this.host });
  }
}
