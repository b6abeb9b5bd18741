import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { Environment } from "../stacks/config";
import { labels } from "./containers";
import { dockerName } from "./naming";

/** What every component of one stack needs to know about the stack it is in. */
export interface PlatformContext {
  /** The Pulumi stack name; prefixes every Docker name. */
  stack: string;
  environment: Environment;
  /** The name of the stack's Docker network. */
  network: pulumi.Input<string>;
}

/**
 * Options for resources that hold data. In production they outlive their Pulumi resources:
 * removing a tenant or destroying the stack leaves the data where it is. `protect` additionally
 * refuses deletion and replacement outright; it is for whatever holds data (volumes, databases),
 * not for roles, which removing a tenant must be able to drop.
 */
export function dataOptions(
  context: PlatformContext,
  { protect }: { protect: boolean },
): pulumi.CustomResourceOptions {
  const production = context.environment === "production";
  return { retainOnDelete: production, protect: production && protect };
}

/** What every shared service component (Postgres, Redis, ClickHouse, Temporal) is given. */
export interface SharedServiceArgs {
  /** The stack this service belongs to. */
  context: PlatformContext;
  /** The image id to run, from a pulled `RemoteImage`; the reference comes from config. */
  image: pulumi.Input<string>;
  /** Container memory limit in MB; each service's default is in stacks/config.ts. */
  memoryMb: number;
  /** The service's password from `platform:secrets`. Default: generated. */
  password?: string;
}

/** The named volume `<stack>-<service>-data`, protected and kept in production. */
export function dataVolume(
  name: string,
  context: PlatformContext,
  service: string,
  parent: pulumi.Resource,
): docker.Volume {
  return new docker.Volume(
    `${name}-data`,
    {
      name: dockerName(context.stack, `${service}-data`),
      labels: labels({ environment: context.environment, service }),
    },
    { parent, ...dataOptions(context, { protect: true }) },
  );
}

/**
 * The operator's secret from config when set, otherwise a generated one kept in state. Generated
 * passwords are alphanumeric: they still go through URL encoding, but they are also safe in the
 * SQL and shell contexts where a few of them end up.
 */
export function secretOrGenerated(
  name: string,
  override: string | undefined,
  parent: pulumi.Resource,
  length = 32,
): pulumi.Output<string> {
  if (override !== undefined) return pulumi.secret(override);
  return new random.RandomPassword(name, { length, special: false }, { parent }).result;
}
