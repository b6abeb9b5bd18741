import * as docker from "@pulumi/docker";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { containerOptions, secretEnv, serviceContainerArgs } from "../lib/containers";
import { dataOptions, secretOrGenerated, SharedServiceArgs } from "../lib/context";
import { temporalCheck } from "../lib/healthchecks";
import { dockerName } from "../lib/naming";
import { SHARED_ALIASES, TEMPORAL_PORT } from "../stacks/dittofeed";
import { Postgres } from "./postgres";

/** Image: `temporalio/auto-setup`. Memory default: 768 MB. Password: its Postgres role's. */
export interface TemporalArgs extends SharedServiceArgs {
  /** The Postgres that stores Temporal's state, under a role of its own. */
  postgres: Postgres;
}

/**
 * Temporal (auto-setup) on the platform's Postgres. Its role may create databases, because
 * auto-setup creates and migrates `temporal` and `temporal_visibility` itself; it is not a
 * superuser.
 */
export class Temporal extends pulumi.ComponentResource {
  /** `temporal:7233`, the form of Dittofeed's `TEMPORAL_ADDRESS`. */
  public readonly address = `${SHARED_ALIASES.temporal}:${TEMPORAL_PORT}`;
  public readonly role: postgresql.Role;
  public readonly container: docker.Container;

  constructor(name: string, args: TemporalArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:data:Temporal", name, {}, opts);
    const { context, postgres } = args;

    const password = secretOrGenerated(`${name}-password`, args.password, this);
    this.role = new postgresql.Role(
      `${name}-role`,
      {
        name: "temporal",
        login: true,
        password,
        createDatabase: true,
        createRole: false,
        superuser: false,
      },
      { parent: this, provider: postgres.provider, ...dataOptions(context, { protect: false }) },
    );
    this.container = new docker.Container(
      name,
      serviceContainerArgs({
        name: dockerName(context.stack, "temporal"),
        image: args.image,
        owner: { environment: context.environment, service: "temporal" },
        network: context.network,
        aliases: [SHARED_ALIASES.temporal],
        memoryMb: args.memoryMb,
        env: secretEnv({
          DB: "postgres12",
          DB_PORT: String(postgres.port),
          POSTGRES_SEEDS: postgres.host,
          POSTGRES_USER: this.role.name,
          POSTGRES_PWD: password,
        }),
        healthcheck: temporalCheck(),
        waitTimeoutSeconds: 300,
      }),
      { parent: this, ...containerOptions, dependsOn: [postgres.container, this.role] },
    );
    this.registerOutputs({ address: this.address });
  }
}
