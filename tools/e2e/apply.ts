/**
 * Applies a program's run to a real Docker engine, as `pulumi up` with the docker, postgresql and
 * cloudflare providers would: each registration is created when the program registers it (after
 * everything it depends on, since the SDK awaits their URNs), a second run is diffed against the
 * first with the plan tool's rules (update, replace create-first or delete-first), and what is
 * gone or replaced is deleted at the end, dependents first. The docker fields follow
 * kreuzwerker/terraform-provider-docker v4.5.0, which @pulumi/docker 5.x wraps
 * (internal/provider/resource_docker_container_funcs.go, resourceDockerContainerCreate); a field
 * this file does not map is refused, never skipped.
 */
import type * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";
import pg from "pg";
import { mocks as answering, unwrapSecrets } from "../engine/mocks";
import { Provision, Registration } from "../engine/runner";
import { compare } from "../plan/diff";
import { plannedResource, secretMarker } from "../plan/plan";
import { TUNNEL_CONFIG } from "../policy/rules";
import { api, DockerError, inspect, logs, putFiles } from "./docker";
import {
  alterRolePasswordSql,
  createDatabaseSql,
  createRoleSql,
  databaseGrantSql,
  quoteIdentifier,
  RoleInputs,
} from "./postgresql";

type Inputs = Record<string, unknown>;

/** A resource as it exists: what the provider answered, and what it was created from. */
export interface Live {
  urn: string;
  type: string;
  id: string;
  state: Inputs;
  registration: Omit<Registration, "inputs">;
  inputs: Inputs;
}

/** What a provider does with one resource type on the real systems. */
interface Handler {
  create(inputs: Inputs, r: Omit<Registration, "inputs">): Promise<{ id: string; state: Inputs }>;
  /** Applies an in-place update; absent: the provider records the new inputs only. */
  update?(live: Live, inputs: Inputs): Promise<void>;
  delete(live: Live): Promise<void>;
}

/** Go's `time.ParseDuration` for the forms the program writes (`10s`, `1m30s`), in nanoseconds. */
export function durationNs(text: string): number {
  const units: Record<string, number> = { h: 3600e9, m: 60e9, s: 1e9, ms: 1e6 };
  let total = 0;
  const rest = text.replace(/(\d+(?:\.\d+)?)(ms|h|m|s)/g, (_, n: string, unit: string) => {
    total += Number(n) * units[unit];
    return "";
  });
  if (rest !== "" || text === "") throw new Error(`not a duration: ${JSON.stringify(text)}`);
  return total;
}

/** A container's inputs as resolved: the provider's own arguments, every Input unwrapped. */
type ContainerInputs = pulumi.Unwrap<docker.ContainerArgs> & { name: string };

/** The container fields this applier maps; any other input fails the run. */
const CONTAINER_FIELDS = new Set<string>([
  "name",
  "image",
  "envs",
  "command",
  "entrypoints",
  "hostname",
  "user",
  "labels",
  "healthcheck",
  "ports",
  "volumes",
  "restart",
  "maxRetryCount",
  "memory",
  "memorySwap",
  "cpus",
  "capabilities",
  "ulimits",
  "logDriver",
  "logOpts",
  "networkMode",
  "networksAdvanced",
  "uploads",
  "wait",
  "waitTimeout",
  "attach",
  "logs",
  "mustRun",
  "destroyGraceSeconds",
]);

const MIB = 1024 * 1024;

/** A field this file does not map fails the run: skipped, it would be missing from what runs. */
function refuseUnmapped(what: string, inputs: object, fields: ReadonlySet<string>): void {
  const unmapped = Object.keys(inputs).filter((key) => !fields.has(key));
  if (unmapped.length > 0) {
    throw new Error(`${what}: fields the e2e applier does not map: ${unmapped.join(", ")}`);
  }
}

/**
 * The body of `ContainerCreate` for a container's inputs, field by field as
 * resourceDockerContainerCreate builds `container.Config` and `HostConfig` (line numbers of
 * resource_docker_container_funcs.go at v4.5.0).
 */
export function containerCreateBody(c: ContainerInputs): Inputs {
  refuseUnmapped(`container ${c.name}`, c, CONTAINER_FIELDS);
  const ports = c.ports ?? [];
  const binds = (c.volumes ?? []).map((v) => {
    // A host path wins over a volume name (structures.go, volumeSetToDockerVolumes 289-330).
    const source = v.hostPath ?? v.volumeName;
    if (!source) throw new Error(`container ${c.name}: an anonymous volume is not mapped`);
    return `${source}:${v.containerPath}:${v.readOnly ? "ro" : "rw"}`;
  });
  return {
    Image: c.image, // 69
    Hostname: c.hostname, // 71
    Env: c.envs, // 79-81
    Cmd: c.command, // 83-90
    Entrypoint: c.entrypoints, // 92-94
    User: c.user, // 96-98
    // 100-107: ExposedPorts and PortBindings, tcp unless told; no `external` is port 0 (random).
    ExposedPorts: Object.fromEntries(
      ports.map((p) => [`${p.internal}/${p.protocol ?? "tcp"}`, {}]),
    ),
    Labels: Object.fromEntries((c.labels ?? []).map((l) => [l.label, l.value])), // 135-137
    Volumes: Object.fromEntries((c.volumes ?? []).map((v) => [v.containerPath, {}])), // 122-133
    // 139-164: durations through time.ParseDuration; unset ones are "0s" (Docker's default).
    Healthcheck: c.healthcheck && {
      Test: c.healthcheck.tests,
      Interval: durationNs(c.healthcheck.interval ?? "0s"),
      Timeout: durationNs(c.healthcheck.timeout ?? "0s"),
      StartPeriod: durationNs(c.healthcheck.startPeriod ?? "0s"),
      Retries: c.healthcheck.retries ?? 0,
    },
    HostConfig: {
      Binds: binds,
      PortBindings: Object.fromEntries(
        ports.map((p) => [
          `${p.internal}/${p.protocol ?? "tcp"}`,
          [{ HostIp: p.ip ?? "0.0.0.0", HostPort: String(p.external ?? 0) }],
        ]),
      ),
      ...updatable(c), // restart policy and memory
      Ulimits: (c.ulimits ?? []).map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })), // 282
      CapAdd: c.capabilities?.adds ?? null, // 286-293, passed as given
      CapDrop: c.capabilities?.drops ?? null,
      LogConfig: { Type: c.logDriver ?? "", Config: c.logOpts ?? {} }, // 261-263
      ...(c.cpus ? { NanoCpus: Math.round(Number(c.cpus) * 1e9) } : {}), // 354-373
      NetworkMode: c.networkMode ?? "bridge", // 391-399; the schema's default is "bridge"
    },
  };
}

/** A create that failed after the resource came to exist: the engine records it, tainted. */
class Tainted extends Error {
  constructor(
    message: string,
    readonly id: string,
    readonly state: Inputs,
  ) {
    super(message);
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The docker_container resource: create, update and delete as the provider does them. A ulimit
 * above what the engine may grant (`maxNofile`, its own hard limit) is lowered to it and noted:
 * an engine run by systemd has a far higher one than a sandbox allows.
 */
function container(maxNofile: number | undefined, note: (line: string) => void): Handler {
  return {
    async create(raw, r) {
      const c = unwrapSecrets(raw) as ContainerInputs;
      const body = containerCreateBody(c);
      const host = body.HostConfig as { Ulimits: { Name: string; Soft: number; Hard: number }[] };
      for (const u of host.Ulimits) {
        if (u.Name === "nofile" && maxNofile !== undefined && u.Hard > maxNofile) {
          note(
            `${c.name}: ulimit nofile ${u.Hard} lowered to ${maxNofile}, the engine's own hard limit`,
          );
          u.Soft = Math.min(u.Soft, maxNofile);
          u.Hard = maxNofile;
        }
      }
      const { Id: id } = await api<{ Id: string }>(
        "POST",
        `/containers/create?name=${encodeURIComponent(c.name)}`,
        body,
      );
      const state: Inputs = { ...raw, id };
      // From here the container exists: a failure leaves it, and the engine keeps it as tainted.
      try {
        await startContainer(id, c, state, timeoutSeconds(r.customTimeouts.create) ?? 20 * 60);
      } catch (error) {
        throw new Tainted((error as Error).message, id, state);
      }
      return { id, state };
    },
    async update(live, raw) {
      // resourceDockerContainerUpdate (991-1077): restart policy and resources in one
      // ContainerUpdate; the other updatable fields are recorded only.
      await api(
        "POST",
        `/containers/${live.id}/update`,
        updatable(unwrapSecrets(raw) as ContainerInputs),
      );
    },
    async delete(live) {
      // resourceDockerContainerDelete (1079-1131): a stop within destroy_grace_seconds (0: killed)
      // unless attached, then a forced remove.
      const c = unwrapSecrets(live.inputs) as ContainerInputs;
      try {
        if (!c.attach) {
          await api(
            "POST",
            `/containers/${live.id}/stop?t=${c.destroyGraceSeconds ?? 0}`,
            undefined,
            120_000,
          );
        }
        await api("DELETE", `/containers/${live.id}?force=1&v=1`);
      } catch (error) {
        if (!(error instanceof DockerError && error.status === 404)) throw error;
      }
    },
  };
}

/**
 * What resourceDockerContainerCreate does once the container exists: networks, uploads, start,
 * and the waits, filling `state` with what the provider reads back.
 */
async function startContainer(id: string, c: ContainerInputs, state: Inputs, jobSeconds: number) {
  // 459-502: off the default bridge (its "not connected" error ignored, as the provider does),
  // then every network of networks_advanced, with its aliases.
  if (c.networksAdvanced?.length) {
    await api("POST", "/networks/bridge/disconnect", { Container: id }).catch((error: Error) => {
      if (!/is not connected/.test(error.message)) throw error;
    });
    for (const n of c.networksAdvanced) {
      await api("POST", `/networks/${encodeURIComponent(n.name)}/connect`, {
        Container: id,
        EndpointConfig: { Aliases: n.aliases ?? [] },
      });
    }
  }
  // 504-581: each upload copied in before the start; executable files 0744, others 0644.
  if (c.uploads?.length) {
    await putFiles(
      id,
      c.uploads.map((u) => ({
        path: u.file,
        content: u.contentBase64
          ? Buffer.from(u.contentBase64, "base64")
          : Buffer.from(u.content ?? ""),
        mode: u.executable ? 0o744 : 0o644,
      })),
    );
  }
  await api("POST", `/containers/${id}/start`); // 584-588
  if (c.wait) await waitHealthy(id, c.name, c.waitTimeout ?? 60);
  if (c.attach) {
    // 631-671: the provider waits for the container to stop and ignores its status; a non-zero
    // exit is a successful create, with exit_code read back from the container.
    await api("POST", `/containers/${id}/wait?condition=not-running`, undefined, jobSeconds * 1000);
    state.exitCode = (await inspect(id)).State.ExitCode;
    if (c.logs) state.containerLogs = await logs(id);
  }
}

/**
 * What ContainerUpdate changes on a running container, as create sets it: the restart policy
 * (253-256; the schema's default is "no") and memory in MiB (334-336, 342-348).
 */
function updatable(c: ContainerInputs) {
  return {
    RestartPolicy: { Name: c.restart ?? "no", MaximumRetryCount: c.maxRetryCount ?? 0 },
    Memory: (c.memory ?? 0) * MIB,
    // A positive value in MiB, -1 passed through (unlimited), 0 left unset.
    ...(c.memorySwap ? { MemorySwap: c.memorySwap > 0 ? c.memorySwap * MIB : -1 } : {}),
  };
}

function timeoutSeconds(duration: string | undefined): number | undefined {
  return duration ? durationNs(duration) / 1e9 : undefined;
}

/** 590-626: inspect every second until healthy; "unhealthy" keeps polling until the timeout. */
async function waitHealthy(id: string, name: string, seconds: number): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const health = (await inspect(id)).State.Health;
    if (!health) throw new Error(`container ${name} has no health check to wait for`);
    if (health.Status === "healthy") return;
    if (Date.now() > deadline) {
      const last = health.Log?.at(-1)?.Output ?? "";
      throw new Error(
        `container ${name} failed to be in healthy state within ${seconds} s (${health.Status}): ${last}\n${(await logs(id)).slice(-2000)}`,
      );
    }
    await sleep(1000);
  }
}

/** docker_network (resource_docker_network_funcs.go, resourceDockerNetworkCreate 26-81). */
function network(onCreated: (subnets: string[]) => void): Handler {
  return {
    async create(raw) {
      const n = unwrapSecrets(raw) as pulumi.Unwrap<docker.NetworkArgs> & { name: string };
      refuseUnmapped(`network ${n.name}`, n, new Set(["name", "driver", "labels", "ipamConfigs"]));
      const { Id: id } = await api<{ Id: string }>("POST", "/networks/create", {
        Name: n.name,
        Driver: n.driver ?? "bridge",
        Labels: Object.fromEntries((n.labels ?? []).map((l) => [l.label, l.value])),
        CheckDuplicate: true,
        IPAM: {
          Driver: "default",
          Config: (n.ipamConfigs ?? []).map((c) => ({
            Subnet: c.subnet,
            Gateway: c.gateway,
            IPRange: c.ipRange,
          })),
        },
      });
      const inspect = await api<{ IPAM: { Config: { Subnet: string }[] } }>(
        "GET",
        `/networks/${id}`,
      );
      onCreated(inspect.IPAM.Config.map((c) => c.Subnet));
      return { id, state: { ...raw, id } };
    },
    async delete(live) {
      // 190-224: retried while the network still has endpoints.
      for (let attempt = 0; ; attempt++) {
        try {
          return await api("DELETE", `/networks/${live.id}`);
        } catch (error) {
          if (error instanceof DockerError && error.status === 404) return;
          if (attempt >= 30) throw error;
          await sleep(1000);
        }
      }
    },
  };
}

/** docker_volume (resource_docker_volume.go, resourceDockerVolumeCreate 166-286): the id is the name. */
const volume: Handler = {
  async create(raw) {
    const v = unwrapSecrets(raw) as { name: string; labels?: { label: string; value: string }[] };
    refuseUnmapped(`volume ${v.name}`, v, new Set(["name", "labels"]));
    await api("POST", "/volumes/create", {
      Name: v.name,
      Labels: Object.fromEntries((v.labels ?? []).map((l) => [l.label, l.value])),
    });
    return { id: v.name, state: { ...raw } };
  },
  async delete(live) {
    await api("DELETE", `/volumes/${encodeURIComponent(live.id)}?force=1`).catch((error) => {
      if (!(error instanceof DockerError && error.status === 404)) throw error;
    });
  },
};

/**
 * docker_image (RemoteImage): no registry is reachable here, so the image must have been built
 * under that name (tools/e2e/images); its id is what containers run.
 */
const image: Handler = {
  async create(raw) {
    const name = String(unwrapSecrets(raw.name));
    const found = await api<{ Id: string }>(
      "GET",
      `/images/${encodeURIComponent(name)}/json`,
    ).catch(() => {
      throw new Error(`image ${name} is not on the engine: tools/e2e/images/build.sh builds it`);
    });
    return { id: found.Id, state: { ...raw, imageId: found.Id, repoDigest: found.Id } };
  },
  // keepLocally: the image stays.
  async delete() {},
};

interface Connection {
  host: string;
  port: string;
  username: string;
  password: string;
}

/** The postgresql provider's resources, with the SQL it issues (./postgresql). */
function postgresql(connectionOf: (provider: string) => Connection): Record<string, Handler> {
  const run = async (provider: string, database: string, statements: string[]) => {
    const c = connectionOf(provider);
    const client = new pg.Client({
      host: c.host,
      port: Number(c.port),
      user: c.username,
      password: c.password,
      database,
    });
    client.on("error", (error) =>
      console.log(`postgresql provider on ${database}: ${error.message}`),
    );
    await client.connect();
    try {
      for (const statement of statements) await client.query(statement);
    } finally {
      await client.end();
    }
  };
  return {
    "postgresql:index/role:Role": {
      async create(raw, r) {
        const role = unwrapSecrets(raw) as RoleInputs;
        await run(r.provider, "postgres", [createRoleSql(role)]);
        return { id: role.name, state: { ...raw } };
      },
      async update(live, raw) {
        const role = unwrapSecrets(raw) as RoleInputs;
        const was = unwrapSecrets(live.inputs) as RoleInputs;
        const keys = new Set([...Object.keys(role), ...Object.keys(was)]) as Set<keyof RoleInputs>;
        const changed = [...keys].filter((key) => key !== "password" && role[key] !== was[key]);
        if (changed.length > 0) {
          throw new Error(
            `role ${role.name}: the e2e applier maps only a new password, not ${changed.join(", ")}`,
          );
        }
        await run(live.registration.provider, "postgres", [
          alterRolePasswordSql(role.name, role.password),
        ]);
      },
      async delete(live) {
        await run(live.registration.provider, "postgres", [
          `DROP ROLE IF EXISTS ${quoteIdentifier(live.id)}`,
        ]);
      },
    },
    "postgresql:index/database:Database": {
      async create(raw, r) {
        const d = unwrapSecrets(raw) as { name: string; owner: string };
        await run(r.provider, "postgres", [createDatabaseSql(d.name, d.owner)]);
        return { id: d.name, state: { ...raw } };
      },
      async delete(live) {
        await run(live.registration.provider, "postgres", [
          `DROP DATABASE IF EXISTS ${quoteIdentifier(live.id)} WITH (FORCE)`,
        ]);
      },
    },
    "postgresql:index/grant:Grant": {
      async create(raw, r) {
        const g = unwrapSecrets(raw) as {
          database: string;
          role: string;
          objectType: string;
          privileges: string[];
        };
        if (g.objectType !== "database") throw new Error(`grant on ${g.objectType} is not mapped`);
        await run(r.provider, g.database, databaseGrantSql(g.database, g.role, g.privileges));
        return { id: `${g.role}_${g.database}_database`, state: { ...raw } };
      },
      async delete(live) {
        const g = unwrapSecrets(live.inputs) as { database: string; role: string };
        await run(
          live.registration.provider,
          g.database,
          databaseGrantSql(g.database, g.role, []),
        ).catch(
          () => undefined, // the database may be gone first
        );
      },
    },
  };
}

const CLOUDFLARED_IMAGE = /^cloudflare\/cloudflared:/;

/** Where the cloudflared stand-in reads the ingress document Cloudflare would push to it. */
const INGRESS_FILE = "/etc/cloudflared/e2e-ingress.json";

/** The engine and its providers on the real systems, for one stack, across runs. */
export class Applier {
  readonly live = new Map<string, Live>();
  private doomed: Live[] = [];
  private readonly handlers: Record<string, Handler>;
  private readonly base = answering({});
  private ingress: unknown[] | undefined;
  /** The image names behind image ids, so a connector is known by what it runs. */
  private readonly imageNames = new Map<string, string>();

  /** What the run changed of the program's specs to fit this machine, one line each. */
  readonly adjustments: string[] = [];
  /** Set by `destroy`: what a create still under way makes is deleted as soon as it exists. */
  private closed = false;

  /**
   * `onNetwork` runs once a network exists, before any container can join it; `maxNofile` is the
   * engine's hard limit of open files.
   */
  constructor(onNetwork: (subnets: string[]) => void, maxNofile?: number) {
    const connections = new Map<string, Connection>();
    const note = (line: string) => {
      if (!this.adjustments.includes(line)) this.adjustments.push(line);
    };
    this.handlers = {
      "docker:index/container:Container": this.withTunnel(container(maxNofile, note)),
      "docker:index/network:Network": network(onNetwork),
      "docker:index/volume:Volume": volume,
      "docker:index/remoteImage:RemoteImage": image,
      "pulumi:providers:postgresql": {
        create(raw, r) {
          connections.set(r.urn, unwrapSecrets(raw) as Connection);
          return Promise.resolve({ id: `${r.name}-id`, state: { ...raw } });
        },
        async delete() {},
      },
      ...postgresql((reference) => {
        const connection = connections.get(reference.slice(0, reference.lastIndexOf("::")));
        if (!connection) throw new Error(`no postgresql provider ${reference}`);
        return connection;
      }),
      [TUNNEL_CONFIG]: {
        create: async (raw) => {
          await this.route(raw);
          return { id: "tunnel-config-id", state: { ...raw } };
        },
        update: async (_, raw) => this.route(raw),
        async delete() {},
      },
    };
  }

  /** Cloudflare pushes a tunnel's whole ingress document to its connectors: here, as a file. */
  private async route(raw: Inputs): Promise<void> {
    const config = unwrapSecrets(raw.config) as { ingresses: Record<string, unknown>[] };
    this.ingress = config.ingresses;
    for (const live of this.live.values()) {
      if (live.type === "docker:index/container:Container" && this.isConnector(live.inputs)) {
        await this.pushIngress(live.id);
      }
    }
  }

  private isConnector(inputs: Inputs): boolean {
    return CLOUDFLARED_IMAGE.test(this.imageNames.get(String(unwrapSecrets(inputs.image))) ?? "");
  }

  private async pushIngress(id: string): Promise<void> {
    if (this.ingress === undefined) return;
    const document = JSON.stringify({ ingress: this.ingress });
    await putFiles(id, [{ path: INGRESS_FILE, content: Buffer.from(document), mode: 0o644 }]);
  }

  /** Containers of the cloudflared image get the ingress document once they run. */
  private withTunnel(handler: Handler): Handler {
    return {
      ...handler,
      create: async (raw, r) => {
        const created = await handler.create(raw, r);
        if (this.isConnector(raw)) await this.pushIngress(created.id);
        return created;
      },
    };
  }

  /** For `runProgram`'s `provision`. */
  readonly provision: Provision = async (args, registration) => {
    const handler = this.handlers[args.type];
    if (!handler) {
      // What only Cloudflare's API, random or tls would answer stays with the mocks; a Docker or
      // Postgres resource this file does not create would be missing from what runs.
      if (/^(docker|postgresql):/.test(args.type)) {
        throw new Error(`${registration.urn}: the e2e applier does not create ${args.type}`);
      }
      return this.base.newResource(args);
    }
    const inputs = { ...(args.inputs as Inputs) };
    const prior = this.live.get(registration.urn);
    if (prior) {
      const marker = secretMarker("e2e");
      const ids = new Map<string, string>();
      const change = compare(
        plannedResource({ ...prior.registration, inputs: prior.inputs }, ids, marker),
        plannedResource({ ...registration, inputs }, ids, marker),
      );
      if (!change || change.action === "none") {
        // Nothing to do, but the engine stores what it now depends on.
        this.live.set(registration.urn, { ...prior, registration });
        return { id: prior.id, state: prior.state };
      }
      if (change.action === "update" || change.action === "state-only") {
        if (change.action === "update") {
          if (!handler.update) {
            throw new Error(
              `${registration.urn}: the e2e applier does not update ${args.type} in place`,
            );
          }
          await handler.update(prior, inputs);
        }
        const state = { ...prior.state, ...inputs };
        this.live.set(registration.urn, { ...prior, inputs, state, registration });
        return { id: prior.id, state };
      }
      if (change.action !== "replace") {
        throw new Error(
          `${registration.urn}: the applier cannot tell update from replace (${change.paths.join(", ")})`,
        );
      }
      if (change.replacement?.order === "delete-first") {
        await handler.delete(prior);
      } else {
        this.doomed.push(prior);
      }
      this.live.delete(registration.urn);
    }
    const created = await handler.create(inputs, registration).catch(async (error: Error) => {
      if (error instanceof Tainted) await this.record(registration, args.type, error, inputs);
      throw error;
    });
    if (args.type === "docker:index/remoteImage:RemoteImage") {
      this.imageNames.set(String(created.state.imageId), String(unwrapSecrets(inputs.name)));
    }
    await this.record(registration, args.type, created, inputs);
    return created;
  };

  /**
   * A resource that now exists, kept for the end of the run; once `destroy` has begun it is
   * deleted at once instead, and the registration fails.
   */
  private async record(
    registration: Omit<Registration, "inputs">,
    type: string,
    created: { id: string; state: Inputs },
    inputs: Inputs,
  ): Promise<void> {
    const live = {
      urn: registration.urn,
      type,
      id: created.id,
      state: created.state,
      registration,
      inputs,
    };
    if (this.closed) {
      await this.handlers[type].delete(live);
      throw new Error(`${registration.urn}: the run was stopped`);
    }
    this.live.set(registration.urn, live);
  }

  /**
   * The end of an update: what the run no longer registers, and what it replaced create-first,
   * is deleted, each before what it depends on.
   */
  async finish(registered: ReadonlySet<string>): Promise<void> {
    const gone = [...this.live.values()].filter((live) => !registered.has(live.urn));
    const cannot = gone.filter((live) => live.registration.protect);
    if (cannot.length > 0) {
      throw new Error(
        `the engine refuses to delete protected ${cannot.map((l) => l.urn).join(", ")}`,
      );
    }
    for (const live of gone) this.live.delete(live.urn);
    // A resource retained on delete leaves the state and stays where it is.
    await this.deleteAll([...this.doomed, ...gone].filter((l) => !l.registration.retainOnDelete));
    this.doomed = [];
  }

  /**
   * Deletes everything this applier created (the end of a run, also after a failure), going on
   * past what fails; what failed is returned.
   */
  async destroy(): Promise<string[]> {
    this.closed = true;
    // Roles, databases and grants go with the Postgres container and its volume.
    const all = [...this.doomed, ...this.live.values()].filter(
      (l) => !l.type.startsWith("postgresql:"),
    );
    this.live.clear();
    this.doomed = [];
    const failed: string[] = [];
    await this.deleteAll(all, (live, error) => failed.push(`${live.urn}: ${error.message}`));
    return failed;
  }

  private async deleteAll(
    resources: Live[],
    onError: (live: Live, error: Error) => void = (_, error) => {
      throw error;
    },
  ): Promise<void> {
    // Each wave at once, as the engine deletes what nothing else waits for in parallel.
    for (const wave of deleteOrder(resources)) {
      await Promise.all(
        wave.map(async (live) => {
          await this.handlers[live.type].delete(live).catch((error: Error) => onError(live, error));
        }),
      );
    }
  }
}

/**
 * Dependents before what they depend on (the engine's delete order), among `resources`: waves,
 * each of what nothing left depends on.
 */
export function deleteOrder<T extends { urn: string; registration: { dependencies: string[] } }>(
  resources: readonly T[],
): T[][] {
  const pending = [...resources];
  const ordered: T[][] = [];
  while (pending.length > 0) {
    const urns = new Set(pending.map((r) => r.urn));
    // Deletable now: nothing still pending depends on it.
    const free = pending.filter(
      (r) =>
        !pending.some((other) => other !== r && other.registration.dependencies.includes(r.urn)),
    );
    if (free.length === 0) throw new Error(`a dependency cycle among ${[...urns].join(", ")}`);
    ordered.push(free);
    for (const r of free) pending.splice(pending.indexOf(r), 1);
  }
  return ordered;
}
