/** What every component of a stack shares, whatever runs its containers. */
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { Environment } from "../../lib/environments";

/** What every component of one stack needs to know about the stack it is in. */
export interface PlatformContext {
  /** The Pulumi stack name; prefixes every Docker name. */
  stack: string;
  environment: Environment;
  /** The name of the stack's Docker network. */
  network: pulumi.Input<string>;
  /**
   * The stack's release key (secret, generated once): keys the tags that tell a blue/green
   * container's releases apart (see `releaseTag`). Replacing it renames every such container.
   */
  releaseKey: pulumi.Input<string>;
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
 * passwords are 32 alphanumerics: they still go through URL encoding, but they are also safe in
 * the SQL, YAML and shell contexts where a few of them end up.
 */
export function secretOrGenerated(
  name: string,
  override: string | undefined,
  parent: pulumi.Resource,
): pulumi.Output<string> {
  if (override !== undefined) return pulumi.secret(override);
  return new random.RandomPassword(name, { length: 32, special: false }, { parent }).result;
}

/**
 * A key of `bytes` random bytes, base64-encoded, from config when set (config checks its shape),
 * otherwise generated once and kept in state.
 */
export function keyOrGenerated(
  name: string,
  override: string | undefined,
  bytes: number,
  parent: pulumi.Resource,
): pulumi.Output<string> {
  if (override !== undefined) return pulumi.secret(override);
  return new random.RandomBytes(name, { length: bytes }, { parent }).base64;
}

/** What `dependsOn` accepts. */
export type DependsOn = pulumi.CustomResourceOptions["dependsOn"];

/**
 * A `dependsOn` value: every one of `prerequisites`, and every gate (see `jobSucceeded`), which
 * holds the resources that depend on it until it has resolved. A gate's value is always empty:
 * the SDK awaits each Output in a `dependsOn` list, flattens what it resolves to, and adds the
 * resources the Output was built from. An Output whose value held resources would have the SDK
 * walk each resource's object graph for every Output built on it, and every extra Output per
 * tenant costs evaluation time (tools/bench/results.md).
 */
export function waitFor(
  prerequisites: pulumi.Resource[],
  gates: pulumi.Output<pulumi.Resource[]>[] = [],
): DependsOn {
  // The option's type wants one resource per element; at run time the SDK flattens each
  // element's value, which for a gate is the empty list, and adds the Output's own resources
  // (@pulumi/pulumi 3.270.0, runtime/dependsOn.js); a gate that throws fails the registration.
  return [...prerequisites, ...(gates as unknown as pulumi.Output<pulumi.Resource>[])];
}
