import * as docker from "@pulumi/docker";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { containerOptions, secretEnv, serviceContainerArgs } from "../lib/containers";
import { dataVolume, secretOrGenerated, SharedServiceArgs } from "../lib/context";
import { postgresCheck } from "../lib/healthchecks";
import { dockerName } from "../lib/naming";
import { POSTGRES_PORT, SHARED_ALIASES } from "../stacks/dittofeed";

/** Image: Postgres 15. Memory default: 1024 MB. Password: the superuser's. */
export interface PostgresArgs extends SharedServiceArgs {
  /** Port on the Docker host's 127.0.0.1 where the admin endpoint is published. Default in config: 15432. */
  adminPort: number;
  /** Address at which the machine running Pulumi reaches `adminPort` (through an SSH forward for remote hosts). Default in config: 127.0.0.1. */
  adminHost: string;
}

/**
 * Postgres 15 on a named volume, with a Postgres provider pointed at its admin endpoint for the
 * roles and databases that tenants and Temporal need.
 */
export class Postgres extends pulumi.ComponentResource {
  /** The network alias other services connect to. */
  public readonly host = SHARED_ALIASES.postgres;
  public readonly port = POSTGRES_PORT;
  public readonly password: pulumi.Output<string>;
  public readonly volume: docker.Volume;
  public readonly container: docker.Container;
  /** Manages roles and databases; connects only once the container reports healthy. */
  public readonly provider: postgresql.Provider;

  constructor(name: string, args: PostgresArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:data:Postgres", name, {}, opts);
    const { context } = args;
    const owner = { environment: context.environment, service: "postgres" };

    this.password = secretOrGenerated(`${name}-password`, args.password, this);
    this.volume = dataVolume(name, context, "postgres", this);
    this.container = new docker.Container(
      name,
      serviceContainerArgs({
        name: dockerName(context.stack, "postgres"),
        image: args.image,
        owner,
        network: context.network,
        aliases: [this.host],
        memoryMb: args.memoryMb,
        env: secretEnv({ POSTGRES_PASSWORD: this.password }),
        healthcheck: postgresCheck(),
        waitTimeoutSeconds: 180,
        ports: [{ internal: POSTGRES_PORT, external: args.adminPort }],
        volumes: [{ volumeName: this.volume.name, containerPath: "/var/lib/postgresql/data" }],
      }),
      { parent: this, ...containerOptions },
    );
    this.provider = new postgresql.Provider(
      `${name}-admin`,
      {
        host: args.adminHost,
        port: args.adminPort,
        username: "postgres",
        password: this.password,
        database: "postgres",
        sslmode: "disable",
        superuser: true,
        connectTimeout: 30,
      },
      { parent: this, dependsOn: [this.container] },
    );
    this.registerOutputs({ host: this.host, port: this.port, password: this.password });
  }
}
