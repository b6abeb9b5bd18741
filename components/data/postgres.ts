import * as docker from "@pulumi/docker";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { SERVICE_PORTS } from "../runtime/ports";
import { HealthCheck, healthCheck } from "../runtime/healthchecks";
import {
  postgresCommand,
  rotateSuperuserScript,
  RotationEnv,
  versionCheckScript,
} from "./postgresServer";
import { secretOrGenerated, SharedServiceArgs, waitFor } from "../runtime/context";
import {
  dataVolume,
  jobSucceeded,
  scriptJob,
  secretEnv,
  serviceContainer,
  sharedServiceSpec,
  stackContainerSpec,
} from "../runtime/docker";

const POSTGRES_ALIAS = "postgres";
const POSTGRES_PORT = SERVICE_PORTS.postgres;
/** Where the version check sees the data volume (read-only). */
const VERSION_CHECK_MOUNT = "/volume";
/** The superuser the image creates (`POSTGRES_USER` unset). */
export const SUPERUSER = "postgres";

/**
 * The postgresql provider that creates roles and databases on a server, as its admin, from where
 * `pulumi up` runs; it gives up on a server that does not answer within 30 s.
 */
export function adminProvider(
  name: string,
  args: Omit<postgresql.ProviderArgs, "database" | "connectTimeout">,
  opts: pulumi.CustomResourceOptions,
): postgresql.Provider {
  return new postgresql.Provider(name, { ...args, database: "postgres", connectTimeout: 30 }, opts);
}

/** Over TCP: the socket answers during initdb, before Postgres listens on the network. */
function postgresCheck(): HealthCheck {
  return healthCheck(
    ["CMD", "pg_isready", "-h", "127.0.0.1", "-p", String(POSTGRES_PORT), "-U", "postgres"],
    30,
  );
}

/** Image: Postgres 15. Password: the superuser's. */
export interface PostgresArgs extends SharedServiceArgs {
  /** Port on the Docker host's 127.0.0.1 where the admin endpoint is published. Required: its default is config's. */
  adminPort: number;
  /** Address at which the machine running Pulumi reaches `adminPort` (through an SSH forward for remote hosts). Required: its default is config's. */
  adminHost: string;
  /**
   * How the provider's connection to `adminHost` uses TLS: `disable` over loopback; config
   * requires `verify-ca` or `verify-full` anywhere else. @default "disable"
   */
  adminSslMode?: "disable" | "verify-ca" | "verify-full";
  /** The CA certificate file that verifies the admin endpoint's TLS. @default the system's */
  adminSslRootCert?: string;
  /** The server's `max_connections`; a change restarts Postgres. Required: its default is config's. */
  maxConnections: number;
  /**
   * The superuser's password before `password`, while it is rotated: a job sets `password` on
   * the running server with it. @default none (nothing to rotate)
   */
  previousPassword?: string;
}

/**
 * Postgres 15 on a named volume, with a Postgres provider pointed at its admin endpoint for the
 * roles and databases that tenants and Temporal need.
 */
export class Postgres extends pulumi.ComponentResource {
  /** The network alias other services connect to. */
  public readonly host = POSTGRES_ALIAS;
  public readonly port = POSTGRES_PORT;
  /** The role the image creates, which the provider and the platform's jobs log in as. */
  public readonly superuser = SUPERUSER;
  /** The image id Postgres runs, whose `psql` the platform's jobs use. */
  public readonly image: pulumi.Input<string>;
  public readonly password: pulumi.Output<string>;
  public readonly volume: docker.Volume;
  public readonly container: docker.Container;
  /** Manages roles and databases; connects only once the container reports healthy. */
  public readonly provider: postgresql.Provider;

  constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:data:Postgres", name, {}, opts);
    const { context } = args;
    this.image = args.image;

    this.password = secretOrGenerated(`${name}-password`, args.password, this);
    this.volume = dataVolume(name, context, "postgres", this);
    // The platform's jobs in the Postgres image, on the data network.
    const job = (
      name: "postgres-version-check" | "postgres-rotate-password",
      service: string,
      memoryMb: number,
    ) => stackContainerSpec(context, { name, service, image: args.image, memoryMb });
    // Runs whenever the image changes, before the server is replaced: a new major over the old
    // data directory stops `pulumi up` here, with the old server still running.
    const versionCheck = scriptJob(
      `${name}-version-check`,
      {
        ...job("postgres-version-check", "postgres", 64),
        script: versionCheckScript(VERSION_CHECK_MOUNT),
        volumes: [
          { volumeName: this.volume.name, containerPath: VERSION_CHECK_MOUNT, readOnly: true },
        ],
      },
      { parent: this },
    );
    this.container = serviceContainer(
      name,
      {
        ...sharedServiceSpec("postgres", this.host, args),
        env: secretEnv({ POSTGRES_PASSWORD: this.password }),
        command: postgresCommand(args.maxConnections),
        healthcheck: postgresCheck(),
        waitTimeoutSeconds: 180,
        ports: [{ internal: this.port, external: args.adminPort }],
        volumes: [{ volumeName: this.volume.name, containerPath: "/var/lib/postgresql/data" }],
      },
      {
        parent: this,
        dependsOn: waitFor(
          [],
          [jobSucceeded(versionCheck, "Check of the data volume's PostgreSQL version")],
        ),
      },
    );
    // The image applies POSTGRES_PASSWORD only to an empty data directory: a rotation is applied
    // to the running server before the provider logs in with the new password.
    let rotated: pulumi.Output<pulumi.Resource[]>[] = [];
    if (args.previousPassword !== undefined) {
      const env: Record<keyof RotationEnv, pulumi.Input<string>> = {
        PGHOST: this.host,
        PGPORT: String(this.port),
        PGUSER: SUPERUSER,
        PGDATABASE: "postgres",
        OLD_PASSWORD: pulumi.secret(args.previousPassword),
        NEW_PASSWORD: this.password,
      };
      const rotation = scriptJob(
        `${name}-rotate-password`,
        {
          ...job("postgres-rotate-password", "postgres-rotation", 128),
          script: rotateSuperuserScript(),
          env: secretEnv(env),
        },
        { parent: this, dependsOn: [this.container] },
      );
      rotated = [
        jobSucceeded(rotation, "Rotation of the Postgres superuser's password", [
          this.password,
          args.previousPassword,
        ]),
      ];
    }
    this.provider = adminProvider(
      `${name}-admin`,
      {
        host: args.adminHost,
        port: args.adminPort,
        username: SUPERUSER,
        password: this.password,
        sslmode: args.adminSslMode ?? "disable",
        sslrootcert: args.adminSslRootCert,
        superuser: true,
      },
      { parent: this, dependsOn: waitFor([this.container], rotated) },
    );
    this.registerOutputs({ host: this.host, port: this.port, password: this.password });
  }
}
