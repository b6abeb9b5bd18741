import * as docker from "@pulumi/docker";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { HealthCheck, healthCheck } from "../../lib/healthchecks";
import { dataOptions, secretOrGenerated, SharedServiceArgs } from "../shared/context";
import { secretEnv, serviceContainer, sharedServiceSpec } from "../shared/docker";
import { Postgres } from "./postgres";

/** Where Temporal's frontend answers on the platform network: its alias and gRPC port. */
export const TEMPORAL_ENDPOINT = { host: "temporal", port: 7233 } as const;

/** auto-setup binds the frontend to the container's own address, not to loopback; it ships tctl. */
function temporalCheck(): HealthCheck {
  return healthCheck(
    [
      "CMD-SHELL",
      `tctl --address "$(hostname -i):${TEMPORAL_ENDPOINT.port}" cluster health | grep -q SERVING`,
    ],
    90,
  );
}

/** Image: `temporalio/auto-setup`. Password: its Postgres role's. */
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
  public readonly endpoint = TEMPORAL_ENDPOINT;
  /** `temporal:7233`, the form of Dittofeed's `TEMPORAL_ADDRESS`. */
  public readonly address = `${TEMPORAL_ENDPOINT.host}:${TEMPORAL_ENDPOINT.port}`;
  /** The image id whose `tctl` tenants' jobs use to talk to this Temporal. */
  public readonly toolsImage: pulumi.Input<string>;
  public readonly role: postgresql.Role;
  public readonly container: docker.Container;

  constructor(name: string, args: TemporalArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:data:Temporal", name, {}, opts);
    const { context, postgres } = args;
    this.toolsImage = args.image;

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
    this.container = serviceContainer(
      name,
      {
        ...sharedServiceSpec("temporal", TEMPORAL_ENDPOINT.host, args),
        env: secretEnv({
          DB: "postgres12",
          DB_PORT: String(postgres.port),
          POSTGRES_SEEDS: postgres.host,
          POSTGRES_USER: this.role.name,
          POSTGRES_PWD: password,
        }),
        healthcheck: temporalCheck(),
        waitTimeoutSeconds: 300,
      },
      { parent: this, dependsOn: [postgres.container, this.role] },
    );
    this.registerOutputs({ address: this.address });
  }
}
