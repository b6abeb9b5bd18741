/**
 * Everything that makes Docker objects: containers (long-running services and one-shot jobs),
 * volumes, the network and pulled images, with the labels, log rotation and replacement options
 * they all share. Components describe what runs; this module alone knows how Docker runs it.
 */
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { sharedAlias } from "./haproxy";
import { HealthCheck } from "./healthchecks";
import { gatewayOf } from "./network";
import { RELEASE_TAG_LENGTH, releaseTag, tagged } from "./release";
import { GateLabel, LABELS } from "./labels";
import { redactSecrets } from "./redact";
import { dockerName, SharedService, tenantDockerName } from "./naming";
import { dataOptions, JOB_MINUTES, PlatformContext, RunScript, SharedServiceArgs } from "./context";

/** What a container, volume or network belongs to; carried as `platform.*` labels. */
export interface Ownership {
  environment: string;
  /** `postgres`, `redis`, `clickhouse`, `temporal`, `api`, `dashboard`, `worker`, `migrate`, `namespace`, `cloudflared`, `network`. */
  service: string;
  /** Set when the object belongs to one tenant. */
  tenant?: string;
  /** The Dittofeed release it was created for, where that is worth keeping. */
  dittofeedVersion?: string;
  /** On a release gate's job: what it gates. */
  releaseGate?: GateLabel;
}

export function labels(owner: Ownership): { label: string; value: string }[] {
  const list: { label: string; value: string }[] = [
    { label: LABELS.environment, value: owner.environment },
    { label: LABELS.service, value: owner.service },
  ];
  if (owner.tenant !== undefined) list.push({ label: LABELS.tenant, value: owner.tenant });
  if (owner.dittofeedVersion !== undefined) {
    list.push({ label: LABELS.dittofeedVersion, value: owner.dittofeedVersion });
  }
  if (owner.releaseGate !== undefined) {
    list.push({ label: LABELS.releaseGate, value: JSON.stringify(owner.releaseGate) });
  }
  return list;
}

/**
 * CPUs as the docker provider reads them back from Docker's NanoCPUs (terraform-provider-docker
 * v4.5.0, helpers.go `nanoInt64ToDecimalString`: whole numbers below 10 as `2.0`, others without
 * trailing zeros), so that a refresh finds what was written. `cpus` is ForceNew there
 * (resource_docker_container.go).
 */
export function dockerCpus(cpus: number): string {
  return Number.isInteger(cpus) ? cpus.toFixed(1) : String(cpus);
}

/** Docker's `KEY=value` list, sorted so that the same settings always give the same diff. */
export function envList(env: Record<string, string>): string[] {
  return Object.keys(env)
    .sort()
    .map((key) => `${key}=${env[key]}`);
}

/**
 * An environment that carries at least one secret: the whole list is a Pulumi secret, so it is
 * encrypted in state and masked in previews.
 */
export function secretEnv(
  env: pulumi.Input<Record<string, pulumi.Input<string>>>,
): pulumi.Output<string[]> {
  return pulumi.secret(env).apply(envList);
}

/** A bind of a container port onto the Docker host's loopback interface, never beyond it. */
export interface LoopbackPort {
  internal: number;
  external: number;
}

/** The host's own network namespace, as a container's `network`. */
export const HOST_NETWORK = "host";

export interface ContainerSpec {
  /** The Docker name; carries the stack (see `dockerName`). */
  name: pulumi.Input<string>;
  /** An image id, e.g. `RemoteImage.imageId`. */
  image: pulumi.Input<string>;
  owner: Ownership;
  /** Its network; `host` for the host's own (no aliases there), which only the egress guard uses. */
  network: pulumi.Input<string>;
  /** Stable DNS names on the network; nothing addresses a container by IP. */
  aliases: pulumi.Input<string>[];
  /**
   * A container whose network namespace this one shares (`container:<id>`), in place of
   * `network`: only the tunnel's routes check, which reads the connector's loopback-only metrics.
   * @default none
   */
  namespaceOf?: pulumi.Input<string>;
  /** Further networks the container joins, with its names there: a tenant's relays, and Prometheus. @default none */
  moreNetworks?: { network: pulumi.Input<string>; aliases: pulumi.Input<string>[] }[];
  memoryMb: number;
  /** Whether the host limits swap (see `PlatformContext.swapLimit`). */
  swapLimit: boolean;
  /** The most CPUs it may use (a tenant's apps: a tenant cannot starve the host). @default unlimited */
  cpus?: number;
  /** `KEY=value` pairs; pass a secret Output when any value is secret. @default none */
  env?: pulumi.Input<pulumi.Input<string>[]>;
  /** @default the image's */
  command?: pulumi.Input<pulumi.Input<string>[]>;
  /** @default the image's */
  entrypoint?: string[];
  /** The container's hostname, which some processes put into their identity. @default Docker's (the container id) */
  hostname?: string;
  /** Linux capabilities beyond Docker's default set, as Docker reads them back (`CAP_NET_ADMIN`). @default none */
  capabilities?: `CAP_${string}`[];
  /** Named volumes to mount, or (read-only, node_exporter's) a path of the host. @default none */
  volumes?: ({ containerPath: string; readOnly?: boolean } & (
    { volumeName: pulumi.Input<string> } | { hostPath: string; readOnly: true }
  ))[];
  /** Files written into the container before it starts; a change replaces it. @default none */
  files?: { path: string; content: string }[];
}

/**
 * What every shared service's container has alike: `<stack>-<service>`, on the data network by
 * its alias, which the stack's own jobs use, and by the alias that tenants' gateways relay to
 * (see `sharedAlias`).
 */
export function sharedServiceSpec(
  service: SharedService,
  alias: string,
  args: SharedServiceArgs,
): ContainerSpec {
  return {
    ...stackContainerSpec(args.context, { ...args, name: service }),
    aliases: [alias, sharedAlias(alias)],
  };
}

export interface ServiceSpec extends ContainerSpec {
  healthcheck: HealthCheck;
  /** How long `pulumi up` waits for the first healthy report; first boots of databases are slow. @default 120 */
  waitTimeoutSeconds?: number;
  /** @default none */
  ports?: LoopbackPort[];
  /** Resource limits beyond memory, e.g. open files. @default Docker's */
  ulimits?: docker.types.input.ContainerUlimit[];
  /**
   * Seconds a container being deleted has to stop on its image's stop signal before it is killed.
   * Without it the provider stops with a timeout of 0, i.e. kills at once (terraform-provider-docker
   * v4.5.0, resourceDockerContainerDelete): open requests and connections are cut, and a database
   * skips its clean shutdown. @default 30
   */
  stopGraceSeconds?: number;
}

/**
 * A tenant's containers lose CAP_NET_RAW (which Docker grants by default and none of their
 * programs uses): without it no process on the tenant's network can forge packets, such as ARP
 * replies that would put it between the platform's jobs and the gateway. Names are written as
 * Docker reads them back (moby's client adds the `CAP_` prefix; terraform-provider-docker v4.5.0
 * compares them as given), or every refresh would show a replacement.
 */
function capabilitiesOf(spec: ContainerSpec): docker.types.input.ContainerCapabilities | undefined {
  const drops = spec.owner.tenant === undefined ? [] : ["CAP_NET_RAW"];
  const adds = spec.capabilities ?? [];
  if (adds.length + drops.length === 0) return undefined;
  return { ...(adds.length ? { adds } : {}), ...(drops.length ? { drops } : {}) };
}

function baseArgs(spec: ContainerSpec): docker.ContainerArgs {
  return {
    name: spec.name,
    image: spec.image,
    labels: labels(spec.owner),
    ...(spec.namespaceOf !== undefined
      ? { networkMode: pulumi.interpolate`container:${spec.namespaceOf}` }
      : spec.network === HOST_NETWORK
        ? { networkMode: HOST_NETWORK }
        : {
            networksAdvanced: [
              { name: spec.network, aliases: spec.aliases },
              ...(spec.moreNetworks ?? []).map((m) => ({ name: m.network, aliases: m.aliases })),
            ],
          }),
    capabilities: capabilitiesOf(spec),
    memory: spec.memoryMb,
    cpus: spec.cpus === undefined ? undefined : dockerCpus(spec.cpus),
    // Equal to the limit: no swap, so a container over its limit is killed rather than slowing the
    // whole host. Unset, Docker would store twice the memory (moby v28.5.2, daemon/daemon_unix.go
    // adaptContainerSettings); on a kernel without swap accounting it stores -1 whatever it is
    // asked (verifyPlatformContainerResources), and terraform-provider-docker v4.5.0 reads back
    // `HostConfig.MemorySwap` as it is: anything else would show a change on every refresh.
    memorySwap: spec.swapLimit ? spec.memoryMb : -1,
    envs: spec.env,
    hostname: spec.hostname,
    command: spec.command,
    entrypoints: spec.entrypoint,
    volumes: spec.volumes,
    uploads: spec.files?.map(({ path, content }) => ({ file: path, content })),
    // Without rotation, json-file logs grow until the host's disk is full.
    logDriver: "json-file",
    logOpts: { "max-size": "10m", "max-file": "3" },
  };
}

/**
 * Fixed Docker names and fixed host ports collide with Pulumi's default create-before-delete
 * replacement, so containers are replaced delete-first. `envs` and a job's `containerLogs` (which
 * the provider stores in state) are secret outputs: state never holds an environment or a job's
 * output in plain text, and the policy pack can check that it is so. A changed health check
 * replaces the container: terraform-provider-docker v4.5.0 neither marks `healthcheck` ForceNew
 * nor updates it in place (resourceDockerContainerUpdate changes restart, memory, CPU and blkio
 * only), so the change would show on every preview and never reach Docker (kreuzwerker #988).
 */
const containerOptions = {
  deleteBeforeReplace: true,
  replaceOnChanges: ["healthcheck"],
  additionalSecretOutputs: ["envs", "containerLogs"],
} satisfies pulumi.CustomResourceOptions;

/** Options a container's caller may set; the replacement and secrecy options are this module's. */
type CallerOptions = Omit<pulumi.CustomResourceOptions, keyof typeof containerOptions>;

/**
 * A long-running service: restarted unless stopped by hand, memory-limited, health-checked, and
 * `wait`ed for, so nothing that depends on it is created before it reports healthy.
 */
export function serviceContainerArgs(spec: ServiceSpec): docker.ContainerArgs {
  return {
    ...baseArgs(spec),
    restart: "unless-stopped",
    healthcheck: spec.healthcheck,
    wait: true,
    waitTimeout: spec.waitTimeoutSeconds ?? 120,
    ports: spec.ports?.map((p) => ({
      internal: p.internal,
      external: p.external,
      ip: "127.0.0.1",
    })),
    ulimits: spec.ulimits,
    destroyGraceSeconds: spec.stopGraceSeconds ?? 30,
  };
}

export function serviceContainer(
  name: string,
  spec: ServiceSpec,
  opts: CallerOptions,
): docker.Container {
  return new docker.Container(name, serviceContainerArgs(spec), { ...opts, ...containerOptions });
}

/** Where `resolvedOnce` puts back the value of the Output at `index`. */
class Slot {
  constructor(readonly index: number) {}
}

/**
 * `value` with every Output and promise in it resolved, as one Output: one `pulumi.all` over
 * them, where `pulumi.output(value)` makes an Output of every property and element on the way,
 * and each Output costs evaluation time (tools/bench/results.md).
 */
function resolvedOnce<T extends unknown[]>(value: T): pulumi.Output<unknown[]> {
  const inputs: unknown[] = [];
  const shape = (v: unknown): unknown => {
    if (pulumi.Output.isInstance(v) || v instanceof Promise) return new Slot(inputs.push(v) - 1);
    if (Array.isArray(v)) return v.map(shape);
    if (v !== null && typeof v === "object")
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, shape(x)]));
    return v;
  };
  const template = shape(value);
  const fill = (v: unknown, values: unknown[]): unknown => {
    if (v instanceof Slot) return values[v.index];
    if (Array.isArray(v)) return v.map((x) => fill(x, values));
    if (v !== null && typeof v === "object")
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x, values)]));
    return v;
  };
  return pulumi.all(inputs).apply((values) => fill(template, values) as unknown[]);
}

/**
 * A string output's value, or "" where there is none: a provider always returns a
 * `RandomBytes.base64` and a `RandomId.hex`, but mocks that echo their inputs (Pulumi's own
 * testing guide) return neither, and names must still be built.
 */
const textOf = (value: unknown): string => (typeof value === "string" ? value : "");

/** How a blue/green container's release is named. */
export interface BlueGreen {
  /** The stack's release key (secret), which keys the digest of each spec (see `releaseTag`). */
  key: pulumi.Input<string>;
  /** An alias, on each network the container joins, that carries the tag: for what routes to this release. @default none */
  alias?: string;
}

export interface BlueGreenContainer {
  container: docker.Container;
  /** The tag of this release: a random id drawn anew whenever the container's spec changes. */
  tag: pulumi.Output<string>;
  /** `<alias>-<tag>`, where this release answers; absent without `alias`. */
  releaseAlias?: pulumi.Output<string>;
}

/**
 * A long-running service replaced create-first (blue/green). Its Docker name, and its release
 * alias, carry a tag that changes with everything else the container is, so that a change which
 * replaces it (a new image, environment or command) also renames it: the engine then starts the
 * new one beside the old one, waits for it to be healthy (`wait`), updates what depends on it,
 * and deletes the old one only at the end of an update that succeeded. The explicit
 * `deleteBeforeReplace: false` is what allows it: pulumi-docker asks for delete-first on every
 * container (pulumi/pulumi-docker, provider/resources.go), and the engine lets a program's own
 * option override the provider's (pulumi/pulumi, pkg/resource/deploy/step_generator.go).
 *
 * The tag is a `RandomId` whose keeper is the spec's keyed digest, not the digest itself: after a
 * failed update the previous releases still run, waiting for deletion, and going back to an
 * earlier spec (a rollback) must not ask Docker for a name one of them holds. A new digest draws
 * a new id, and so does `pulumi up --replace` of the id, which starts the same spec afresh.
 * Published host ports cannot be held twice, so a container with ports cannot be blue/green.
 */
export function blueGreenContainer(
  name: string,
  spec: ServiceSpec & { name: string },
  blueGreen: BlueGreen,
  opts: CallerOptions,
): BlueGreenContainer {
  if (spec.ports?.length) {
    throw new Error(`Container ${name}: published host ports cannot be held by two releases`);
  }
  // Everything but the name, which is what gets the tag. A digest of a secret environment
  // reveals nothing without the key: neither the keeper nor the tag is secret.
  const described = resolvedOnce([blueGreen.key, serviceContainerArgs(spec)]).apply(
    ([key, args]) => ({ key: textOf(key), spec: { ...(args as object), name: undefined } }),
  );
  const digest = pulumi.unsecret(described.apply(({ key: k, spec: s }) => releaseTag(k, s)));
  const id = new random.RandomId(
    `${name}-release`,
    { byteLength: RELEASE_TAG_LENGTH / 2, keepers: { spec: digest } },
    { parent: opts.parent },
  );
  // The spec and the id drawn for it: a new spec gives a new tag by itself, a new id (a spec
  // gone back to, or `--replace` of the id) gives one as well.
  const tag = pulumi.unsecret(
    pulumi
      .all([described, id.hex])
      .apply(([{ key: k, spec: s }, hex]) => releaseTag(k, { spec: s, id: textOf(hex) })),
  );
  const releaseAlias =
    blueGreen.alias === undefined ? undefined : tag.apply((t) => tagged(blueGreen.alias!, t));
  const withRelease = (aliases: pulumi.Input<string>[]) =>
    releaseAlias === undefined ? aliases : [...aliases, releaseAlias];
  const args = serviceContainerArgs({
    ...spec,
    name: tag.apply((t) => tagged(spec.name, t)),
    aliases: withRelease(spec.aliases),
    moreNetworks: spec.moreNetworks?.map((m) => ({ ...m, aliases: withRelease(m.aliases) })),
  });
  const container = new docker.Container(name, args, {
    ...opts,
    ...containerOptions,
    deleteBeforeReplace: false,
  });
  return { container, tag, releaseAlias };
}

/**
 * A one-shot job: `pulumi up` attaches until it exits and records its exit code and logs. The
 * provider does not fail on a non-zero exit; `jobSucceeded` does.
 */
function jobContainerArgs(spec: ContainerSpec): docker.ContainerArgs {
  return {
    ...baseArgs(spec),
    restart: "no",
    mustRun: false,
    attach: true,
    logs: true,
  };
}

/** A one-shot job that runs a shell script, reachable by no alias. */
export interface ScriptJobSpec extends Omit<ContainerSpec, "aliases" | "entrypoint" | "command"> {
  /**
   * A shell script, run as `<shell> -c <script>` in place of the image's entrypoint (which, in
   * several images, starts a server or only sleeps). It carries no secret: those come from `env`.
   */
  script: pulumi.Input<string>;
  /** The shell that runs it; `bash` only in images that have it. @default "sh" */
  shell?: "sh" | "bash";
  /** How long it may run, in minutes (see {@link JOB_MINUTES}). @default JOB_MINUTES.short */
  maxMinutes?: number;
}

/**
 * What every one-shot job of a tenant has alike: the Docker name `<stack>_<tenant>.<name>`, the
 * tenant's network (`context` is the tenant's), and the labels of the tenant's `service`.
 */
export function tenantJobSpec(
  context: PlatformContext,
  tenantId: string,
  job: {
    /** The Docker name's service part. */
    name: string;
    /** The `platform.service` label. @default the name */
    service?: string;
    image: pulumi.Input<string>;
    memoryMb: number;
  },
): Omit<ScriptJobSpec, "script" | "env"> {
  return {
    name: tenantDockerName(context.stack, tenantId, job.name),
    image: job.image,
    owner: { environment: context.environment, service: job.service ?? job.name, tenant: tenantId },
    swapLimit: context.swapLimit,
    network: context.network,
    memoryMb: job.memoryMb,
  };
}

/**
 * What a container of the stack's own has alike: the Docker name `<stack>-<name>`, the stack's
 * network (`context`'s), and the labels of its `service`.
 */
export function stackContainerSpec(
  context: PlatformContext,
  job: { name: SharedService; service?: string; image: pulumi.Input<string>; memoryMb: number },
): Omit<ScriptJobSpec, "script" | "env"> & { name: string } {
  return {
    name: dockerName(context.stack, job.name),
    image: job.image,
    owner: { environment: context.environment, service: job.service ?? job.name },
    swapLimit: context.swapLimit,
    network: context.network,
    memoryMb: job.memoryMb,
  };
}

export function scriptJob(
  name: string,
  spec: ScriptJobSpec,
  opts: CallerOptions,
): docker.Container {
  const { script, shell, maxMinutes = JOB_MINUTES.short, ...rest } = spec;
  const args = jobContainerArgs({
    ...rest,
    aliases: [],
    entrypoint: [shell ?? "sh", "-c"],
    command: [script],
  });
  // An attached container is waited for within its create timeout (the job is replaced, never
  // updated in place): "Unable to wait container end of execution" past it.
  const wait = `${maxMinutes}m`;
  return new docker.Container(name, args, {
    ...opts,
    ...containerOptions,
    customTimeouts: { create: wait, update: wait },
  });
}

export class JobFailedError extends Error {
  constructor(job: string, exitCode: number, logs: string, urn: string) {
    super(
      `${job} exited with code ${exitCode}. Its output:\n${logs.trimEnd() || "(no output)"}\n` +
        // The provider records a finished job as created whatever its exit code, so with
        // unchanged inputs it never runs again: the retry has to be asked for.
        `Once the cause is fixed, run it again with: pulumi up --replace '${urn}'`,
    );
    this.name = "JobFailedError";
  }
}

/** What a finished job left in state. */
export interface JobOutcome {
  exitCode: number | undefined;
  logs: string;
  urn: string;
}

/** Throws a {@link JobFailedError}, with `secrets` redacted from the output, unless the job exited 0. */
export function assertJobSucceeded(
  job: string,
  { exitCode, logs, urn }: JobOutcome,
  secrets: readonly string[] = [],
): void {
  if (exitCode !== 0) {
    throw new JobFailedError(job, exitCode ?? -1, redactSecrets(logs, secrets), urn);
  }
}

/**
 * A `dependsOn` value that resolves only when the job exited 0. Pass it to every resource that
 * must wait for the job: when the job fails, their registration fails with the job's logs (with
 * `secrets` redacted) and the command that re-runs it, so `pulumi up` stops and leaves them as
 * they were. Combine it with others through `waitFor`.
 */
export function jobSucceeded(
  job: docker.Container,
  description: string,
  secrets: pulumi.Input<string>[] = [],
): pulumi.Output<pulumi.Resource[]> {
  // One Output per job on success; the logs and secrets are read only when the job failed.
  return job.exitCode.apply((exitCode) =>
    exitCode === 0
      ? pulumi.output<pulumi.Resource[]>([])
      : pulumi
          .all([job.containerLogs, job.urn, pulumi.all(secrets)])
          .apply(([logs, urn, values]): pulumi.Resource[] => {
            try {
              assertJobSucceeded(description, { exitCode, logs: logs ?? "", urn }, values);
            } catch (error) {
              // A preview sees a failure stored in state: it warns, so that previews of pull
              // requests and the drift check still show what would change; an update fails.
              if (!pulumi.runtime.isDryRun()) throw error;
              void pulumi.log.warn((error as Error).message, job);
            }
            return [];
          }),
  );
}

/**
 * The Docker runtime's way to run scripts: one-shot containers on `context`'s network, named
 * `<stack>_<tenant>.<job>` for a tenant's, `<stack>-<job>` for the stack's own.
 */
export function dockerScriptRunner(context: PlatformContext, tenantId?: string): RunScript {
  return (name, spec, opts) => {
    const base = {
      name: spec.job,
      service: spec.service,
      image: spec.image,
      memoryMb: spec.memoryMb,
    };
    const job = scriptJob(
      name,
      {
        ...(tenantId === undefined
          ? stackContainerSpec(context, { ...base, name: spec.job as SharedService })
          : tenantJobSpec(context, tenantId, base)),
        script: spec.script,
        env: secretEnv(spec.env),
        maxMinutes: spec.maxMinutes,
      },
      opts,
    );
    return { job, succeeded: jobSucceeded(job, spec.description, spec.secrets) };
  };
}

/**
 * A network's or volume's labels are ForceNew in the docker provider (terraform-provider-docker
 * v4.5.x, `resource_docker_network.go` and `resource_docker_volume.go`): a changed label would
 * replace the one network every container is on, or a volume with its data. Their labels are
 * written once, at creation, and later changes to them are ignored.
 */
const LABELS_ARE_HISTORY = ["labels"];

/** The named volume `<stack>-<service>-data`, protected and kept in production. */
export function dataVolume(
  name: string,
  context: PlatformContext,
  service:
    | "postgres"
    | "redis"
    | "clickhouse"
    | "backup"
    | "prometheus"
    | "prometheus-targets"
    | "alertmanager",
  parent: pulumi.Resource,
): docker.Volume {
  return new docker.Volume(
    `${name}-data`,
    {
      name: dockerName(context.stack, `${service}-data`),
      labels: labels({ environment: context.environment, service }),
    },
    { parent, ...dataOptions(context, { protect: true }), ignoreChanges: LABELS_ARE_HISTORY },
  );
}

/**
 * One of the stack's own networks, `<stack>-<suffix>`. Its name is fixed: it must never be
 * replaced.
 */
export function stackNetwork(
  name: string,
  stack: string,
  environment: string,
  suffix: "platform" | "monitoring",
  opts: pulumi.CustomResourceOptions,
): docker.Network {
  return new docker.Network(
    name,
    {
      name: dockerName(stack, suffix),
      driver: "bridge",
      labels: labels({ environment, service: "network" }),
    },
    { ...opts, ignoreChanges: LABELS_ARE_HISTORY },
  );
}

/**
 * A tenant's own network `<stack>_<tenant>.network`, on its slot's subnet (explicit, so Docker's
 * default pools, which run out after a few dozen networks, are never used, and it never moves).
 * Its containers and its gateway are the only ones on it.
 */
export function tenantNetwork(
  name: string,
  context: PlatformContext,
  tenantId: string,
  subnet: string,
  parent: pulumi.Resource,
): docker.Network {
  return new docker.Network(
    name,
    {
      name: tenantDockerName(context.stack, tenantId, "network"),
      driver: "bridge",
      ipamConfigs: [{ subnet, gateway: gatewayOf(subnet) }],
      labels: labels({ environment: context.environment, service: "network", tenant: tenantId }),
    },
    { parent, ignoreChanges: LABELS_ARE_HISTORY },
  );
}

/**
 * An image pulled once and referenced by id, so that a new tag shows in previews; `formerKey`
 * names the key it was pulled under before, which state may hold it by.
 */
export function pulledImage(
  key: string,
  ref: string,
  provider: docker.Provider,
  formerKey?: string,
): pulumi.Output<string> {
  return new docker.RemoteImage(
    `image-${key}`,
    { name: ref, keepLocally: true },
    { provider, aliases: formerKey === undefined ? [] : [{ name: `image-${formerKey}` }] },
  ).imageId;
}
