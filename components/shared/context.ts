/** What every component of a stack shares, whatever runs its containers. */
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { Environment } from "../../config/schema";

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
  /** Container memory limit in MB. Required: its default is operator-facing, so it is config's. */
  memoryMb: number;
  /** The service's password from `platform:secrets`. @default generated */
  password?: string;
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

/**
 * A `dependsOn` value: every one of `prerequisites`, once each gate (see `jobSucceeded`) has
 * resolved. Its value is always empty, because the SDK takes an Output's own resources as
 * dependencies too. An Output whose value held the resources themselves would have the SDK walk
 * each resource's object graph for every Output built on it, which made evaluation half as slow
 * again as registering the same resources (tools/bench/results.md).
 */
export function waitFor(
  prerequisites: pulumi.Resource[],
  gates: pulumi.Output<pulumi.Resource[]>[] = [],
): pulumi.Output<pulumi.Resource[]> {
  return pulumi
    .all([pulumi.all(gates), pulumi.all(prerequisites.map((r) => r.urn))])
    .apply(() => []);
}
