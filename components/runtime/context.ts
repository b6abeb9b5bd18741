/** What every component of a stack shares, whatever runs its containers. */
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { Environment } from "./environments";

/** What every component of one stack needs to know about the stack it is in. */
export interface PlatformContext {
  /** The Pulumi stack name; prefixes every Docker name. */
  stack: string;
  environment: Environment;
  /** The name of the stack's Docker network. */
  network: pulumi.Input<string>;
  /** Whether the Docker host's kernel limits swap (`platform:hostSwapLimit`). */
  swapLimit: boolean;
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
  context: Pick<PlatformContext, "environment">,
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

/**
 * How long a job may run, in minutes; a runtime waits that long for it. The docker provider
 * would wait 20 minutes for an attached container (terraform-provider-docker v4.5.0,
 * resource_docker_container.go) and the kubernetes provider 10 for a Job, and a job that outlives
 * the wait fails `pulumi up` while it runs on. A job that moves or migrates a tenant's data (a
 * snapshot, an export, a schema migration, an upgrade step) takes as long as the data does.
 */
export const JOB_MINUTES = { short: 20, data: 240 } as const;

/**
 * A one-shot shell script a tenant's component needs run (an owner check, a user, a namespace),
 * described without saying what runs it: the stack's runtime decides (a Docker container on the
 * tenant's network, or a Kubernetes Job in the tenant's namespace).
 */
export interface ScriptSpec {
  /** The job's short name, unique within its tenant: `database-check`, `namespace`. */
  job: string;
  /** What it is part of, for labels. @default the job's name */
  service?: string;
  /** Image id (Docker) or reference (Kubernetes) that has the script's tools. */
  image: pulumi.Input<string>;
  /** Memory limit in MB. */
  memoryMb: number;
  /** A POSIX shell script; it carries no secret: those come from `env`. */
  script: string;
  /** Its environment, held as a secret whatever it holds. */
  env: Record<string, pulumi.Input<string>>;
  /** How a failure names the job: `Owner check of dittofeed_acme`. */
  description: string;
  /** Secret values to redact from a failed job's output. @default none */
  secrets?: pulumi.Input<string>[];
  /** How long it may run, in minutes (see {@link JOB_MINUTES}). @default the runtime's: 20 on Docker, 10 on Kubernetes */
  maxMinutes?: number;
}

/** A script that was run: the resource that ran it, and a gate that resolves once it succeeded. */
export interface ScriptRun {
  job: pulumi.Resource;
  /** A gate (see `waitFor`): resolves once the script exited 0, fails the update otherwise. */
  succeeded: pulumi.Output<pulumi.Resource[]>;
}

/** Runs scripts for one tenant; each runtime has its own (see `ScriptSpec`). */
export type RunScript = (
  name: string,
  spec: ScriptSpec,
  opts: pulumi.CustomResourceOptions & { parent: pulumi.Resource },
) => ScriptRun;

/** A Postgres server the platform's roles and databases live on, whoever runs it. */
export interface PostgresServer {
  /** Where the tenants and Temporal connect (a network alias, a cluster DNS name, a managed host). */
  host: string;
  port: number;
  /** The role the provider and the platform's jobs log in as. */
  superuser: string;
  password: pulumi.Output<string>;
  /** An image whose `psql` the platform's jobs use. */
  image: pulumi.Input<string>;
  /** Manages roles and databases; resolves only once the server answers. */
  provider: postgresql.Provider;
  /**
   * What a TLS connection to it needs in a client's URL (`sslmode=verify-full`), when it is not
   * the platform's own. @default none (inside the platform's own network)
   */
  sslMode?: "verify-full";
  /** What `psql` in `image` needs besides the connection to check the server's TLS. @default none */
  clientEnv?: Record<string, string>;
}

/** What a runtime's connector is given to run the tunnel. */
export interface ConnectorArgs {
  /** The tunnel's name, from which the connector's resources are named (`<name>-connector`). */
  name: string;
  /** The connector's token (secret). */
  token: pulumi.Output<string>;
  /** The routes, which must exist before a remotely managed connector connects and fetches them. */
  config: pulumi.Resource;
  /** Every `http://` service the document routes to. */
  services: pulumi.Output<string[]>;
  /** The tunnel, every connector resource's parent. */
  parent: pulumi.Resource;
}

/** What a runtime's connector made. */
export interface Connector {
  /** What runs cloudflared. */
  workload: pulumi.Resource;
  /**
   * Resolves once the connector routes to every service of this update's document; fails
   * otherwise. Until it resolves the update is not over, so the engine deletes no release that
   * the connector might still route to (replaced resources are deleted after the program ends).
   */
  routesApplied: pulumi.Output<pulumi.Resource[]>;
}

/** Runs the tunnel's connector: the stack's runtime (Docker containers, a Kubernetes Deployment). */
export type RunConnector = (args: ConnectorArgs) => Connector;
