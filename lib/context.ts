import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { Environment } from "../stacks/config";

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
 * refuses deletion and replacement outright; it is for the shared stores of every tenant's data.
 */
export function dataOptions(
  context: PlatformContext,
  { protect }: { protect: boolean },
): pulumi.CustomResourceOptions {
  const production = context.environment === "production";
  return { retainOnDelete: production, protect: production && protect };
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
