import { imagePinProblem } from "../../components/runtime/images";
import { HOST_TYPE, HostFacts, LABELS } from "../../components/runtime/labels";

/**
 * The platform's safety rules as pure functions over resources. The CrossGuard pack (index.ts)
 * feeds them what `pulumi preview` shows a policy; the offline plan feeds them the program's
 * registrations, which also say what CrossGuard cannot see: `retainOnDelete`, and which inputs
 * were secret.
 */
export interface CheckedResource {
  type: string;
  name: string;
  urn: string;
  props: Record<string, unknown>;
  opts: {
    protect: boolean;
    additionalSecretOutputs: string[];
    /** Known offline only; CrossGuard does not pass it to policies. */
    retainOnDelete?: boolean;
    /** How long the engine waits for the provider to create it (`customTimeouts`); 0: the provider's default. */
    createTimeoutSeconds: number;
  };
  /** Top-level inputs that were secrets. Known offline only. */
  secretInputs?: string[];
}

export interface Violation {
  message: string;
  urn?: string;
}

/**
 * A value `pulumi preview` cannot know yet (a new resource's id, a generated password). Rules
 * check what is known around it and report, per resource, what they could not check (see
 * `uncheckedInPreview`), instead of giving up on the whole stack.
 */
export const UNKNOWN: unique symbol = Symbol("unknown until the update");
export const isUnknown = (value: unknown): value is typeof UNKNOWN => value === UNKNOWN;

/** Whether `value` holds an unknown anywhere. */
function holdsUnknown(value: unknown): boolean {
  if (isUnknown(value)) return true;
  if (value === null || typeof value !== "object") return false;
  return Object.values(value).some(holdsUnknown);
}

export interface Rule {
  name: string;
  description: string;
  enforcementLevel: "mandatory" | "advisory";
  /** The resource types the rule reads, and which of their properties. */
  reads: { types: string[]; props: string[] };
  check(resources: readonly CheckedResource[]): Violation[];
}

/**
 * For each rule, what it could not check in this preview: one finding per resource and property
 * it reads that holds an unknown. Known properties of the same resources are still checked.
 */
export function uncheckedInPreview(rule: Rule, resources: readonly CheckedResource[]): Violation[] {
  return resources
    .filter((r) => rule.reads.types.includes(r.type))
    .flatMap((r) =>
      rule.reads.props
        .filter((prop) => holdsUnknown(r.props[prop]))
        .map((prop) => ({
          urn: r.urn,
          message: `${rule.name} could not check ${r.name}.${prop} in preview: it is known only once the update runs (the update checks it)`,
        })),
    );
}

/** The services of a tenant that relay between its network and the data network. */
const RELAYS = ["gateway", "front"];

/**
 * The services replaced blue/green unless they publish host ports (components/runtime/docker.ts
 * `blueGreenContainer`): during a release, old and new run side by side.
 */
const BLUE_GREEN = ["api", "dashboard", "front", "gateway", "cloudflared"];

const CONTAINER = "docker:index/container:Container";
const REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage";
export const TUNNEL_CONFIG =
  "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig";
/** What an operator reaches on the host's loopback (through an SSH forward), in any environment. */
const LOOPBACK_SERVICES = new Set([
  "postgres",
  "redis",
  "clickhouse",
  "temporal",
  "prometheus",
  "alertmanager",
]);
const RESTART_POLICIES = new Set(["always", "unless-stopped", "on-failure"]);

type Port = { internal?: number; external?: number; ip?: string };

/** An array property, without its unknown elements; `[]` when it is unknown or absent. */
function knownList<T>(value: unknown): T[] {
  return Array.isArray(value) ? (value.filter((v) => !holdsUnknown(v)) as T[]) : [];
}

function labelsOf(r: Pick<CheckedResource, "props">): Record<string, string> {
  const list = knownList<{ label: string; value: string }>(r.props.labels);
  return Object.fromEntries(list.map((l) => [l.label, l.value]));
}

function ofType(resources: readonly CheckedResource[], type: string) {
  return resources.filter((r) => r.type === type);
}

const NAMESPACE = "kubernetes:core/v1:Namespace";
const NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy";
const RESOURCE_QUOTA = "kubernetes:core/v1:ResourceQuota";
const KUBE_JOB = "kubernetes:batch/v1:Job";
const STATEFUL_SET = "kubernetes:apps/v1:StatefulSet";

/** A Kubernetes object's metadata, where it is known. */
function metadataOf(r: CheckedResource): {
  name?: string;
  namespace?: string;
  labels: Record<string, string>;
} {
  const metadata = (r.props.metadata ?? {}) as Record<string, unknown>;
  const labels = metadata.labels;
  return {
    name: typeof metadata.name === "string" ? metadata.name : undefined,
    namespace: typeof metadata.namespace === "string" ? metadata.namespace : undefined,
    labels:
      labels !== null && typeof labels === "object" && !isUnknown(labels)
        ? (labels as Record<string, string>)
        : {},
  };
}

/**
 * The stack's environment and host size: on Docker as its Host component carries them in its
 * inputs, on Kubernetes as its namespaces are labelled.
 */
function stackLabels(resources: readonly CheckedResource[]) {
  const facts = (ofType(resources, HOST_TYPE)[0]?.props ?? {}) as Partial<HostFacts>;
  const host = typeof facts.memoryMb === "number" ? facts.memoryMb : NaN;
  const namespaces = ofType(resources, NAMESPACE).map(
    (r) => metadataOf(r).labels[LABELS.environment],
  );
  return {
    environment: facts.environment ?? namespaces.find((e) => e !== undefined),
    hostMemoryMb: Number.isFinite(host) && host > 0 ? host : undefined,
  };
}

/** A string property, or "" when it is absent or not a string. */
const text = (value: unknown) => (typeof value === "string" ? value : "");

const isJob = (r: CheckedResource) => r.props.attach === true;
const longRunning = (resources: readonly CheckedResource[]) =>
  ofType(resources, CONTAINER).filter((r) => !isJob(r));
const portsOf = (r: CheckedResource) => knownList<Port>(r.props.ports);
const describePort = (p: Port) => `${p.ip ?? "0.0.0.0"}:${p.external ?? "?"}->${p.internal ?? "?"}`;

export const RULES: Rule[] = [
  {
    name: "data-ports-on-loopback",
    description:
      "No database, cache, ClickHouse, Temporal, Prometheus or Alertmanager port is published beyond the host's loopback.",
    enforcementLevel: "mandatory",
    reads: { types: [CONTAINER], props: ["labels", "ports"] },
    check: (resources) =>
      ofType(resources, CONTAINER)
        .filter((r) => LOOPBACK_SERVICES.has(labelsOf(r)[LABELS.service]))
        .flatMap((r) =>
          portsOf(r)
            .filter((p) => p.ip !== "127.0.0.1")
            .map((p) => ({
              urn: r.urn,
              message: `${r.name} publishes ${describePort(p)}: data services and monitoring UIs may bind only 127.0.0.1`,
            })),
        ),
  },
  {
    name: "app-ports-only-in-dev",
    description:
      "Apps publish no port outside dev (they are reached through the tunnel), and only on loopback in dev.",
    enforcementLevel: "mandatory",
    reads: { types: [CONTAINER, HOST_TYPE], props: ["labels", "ports", "environment"] },
    check: (resources) => {
      const { environment } = stackLabels(resources);
      return ofType(resources, CONTAINER)
        .filter((r) => !LOOPBACK_SERVICES.has(labelsOf(r)[LABELS.service]))
        .flatMap((r) =>
          portsOf(r)
            .filter((p) => environment !== "dev" || p.ip !== "127.0.0.1")
            .map((p) => ({
              urn: r.urn,
              message: `${r.name} publishes ${describePort(p)} in ${environment ?? "an unlabelled stack"}: apps are reached through the tunnel, and in dev on 127.0.0.1 only`,
            })),
        );
    },
  },
  {
    name: "containers-are-supervised",
    description:
      "Every long-running container has a health check that does not call curl, a restart policy and a memory limit.",
    enforcementLevel: "mandatory",
    reads: { types: [CONTAINER], props: ["attach", "healthcheck", "restart", "memory"] },
    check: (resources) =>
      longRunning(resources).flatMap((r) => {
        const problems: string[] = [];
        const { healthcheck, restart, memory } = r.props;
        if (!holdsUnknown(healthcheck)) {
          const tests = ((healthcheck as { tests?: string[] } | undefined)?.tests ?? []).filter(
            (t) => t !== "NONE",
          );
          if (tests.length < 2) problems.push("has no health check");
          else if (tests.some((t) => /(^|[\s/;|&])curl(\s|$)/.test(t)))
            problems.push("health check calls curl, which the images do not ship");
        }
        if (!isUnknown(restart) && !RESTART_POLICIES.has(text(restart)))
          problems.push(`restart policy is ${JSON.stringify(restart ?? "no")}`);
        if (!isUnknown(memory) && !(typeof memory === "number" && memory > 0))
          problems.push("has no memory limit");
        return problems.map((p) => ({ urn: r.urn, message: `${r.name} ${p}` }));
      }),
  },
  {
    name: "images-pinned",
    description:
      "No image is referenced without a tag, by the tag latest, or by a tag that floats to new minor releases.",
    enforcementLevel: "mandatory",
    reads: { types: [REMOTE_IMAGE, CONTAINER], props: ["name", "image"] },
    check: (resources) =>
      [
        ...ofType(resources, REMOTE_IMAGE)
          .filter((r) => !isUnknown(r.props.name))
          .map((r) => ({ r, ref: text(r.props.name) })),
        // A container runs a pulled image by id, which a preview often does not know yet.
        ...ofType(resources, CONTAINER)
          .filter((r) => !isUnknown(r.props.image))
          .map((r) => ({ r, ref: text(r.props.image) }))
          .filter(({ ref }) => !ref.startsWith("sha256:")),
      ].flatMap(({ r, ref }) => {
        const problem = imagePinProblem(ref);
        return problem
          ? [{ urn: r.urn, message: `${r.name}: image ${JSON.stringify(ref)} ${problem}` }]
          : [];
      }),
  },
  {
    name: "production-data-protected",
    description:
      "In production, data volumes, tenant databases and the backup bucket are protected and retained on delete.",
    enforcementLevel: "mandatory",
    reads: { types: [HOST_TYPE], props: ["environment"] },
    check: (resources) => {
      if (stackLabels(resources).environment !== "production") return [];
      return [
        ...ofType(resources, "docker:index/volume:Volume"),
        ...ofType(resources, "postgresql:index/database:Database"),
        // Where backups leave the host to.
        ...ofType(resources, "cloudflare:index/r2Bucket:R2Bucket"),
      ].flatMap((r) => [
        ...(r.opts.protect
          ? []
          : [{ urn: r.urn, message: `${r.name} holds production data but is not protected` }]),
        ...(r.opts.retainOnDelete === false
          ? [
              {
                urn: r.urn,
                message: `${r.name} holds production data but is not retained on delete`,
              },
            ]
          : []),
      ]);
    },
  },
  {
    name: "production-backs-up",
    description:
      "In production, a long-running backup service runs, and every tenant that migrates has a snapshot job; on Kubernetes, where the platform's backups do not run yet, no Postgres or ClickHouse of the platform's own holds production data (managed services back it up).",
    enforcementLevel: "mandatory",
    reads: {
      types: [HOST_TYPE, CONTAINER, STATEFUL_SET],
      props: ["environment", "labels", "restart", "metadata"],
    },
    check: (resources) => {
      if (stackLabels(resources).environment !== "production") return [];
      if (ofType(resources, HOST_TYPE).length === 0) {
        return ofType(resources, STATEFUL_SET)
          .filter((r) =>
            ["postgres", "clickhouse"].includes(metadataOf(r).labels[LABELS.service] ?? ""),
          )
          .map((r) => ({
            urn: r.urn,
            message: `${r.name} keeps production data in the cluster, where nothing backs it up: use a managed service (platform:postgres.external, platform:clickhouse.external)`,
          }));
      }
      const containers = ofType(resources, CONTAINER).map((r) => ({ r, labels: labelsOf(r) }));
      const violations: Violation[] = [];
      const service = containers.find(
        (c) =>
          c.labels[LABELS.service] === "backup" &&
          c.labels[LABELS.tenant] === undefined &&
          RESTART_POLICIES.has(text(c.r.props.restart)),
      );
      if (!service) {
        violations.push({
          message:
            "production has no backup service (a long-running container labelled platform.service=backup)",
        });
      }
      const tenantsWith = (label: string) =>
        new Set(
          containers
            .filter((c) => c.labels[LABELS.service] === label)
            .map((c) => c.labels[LABELS.tenant])
            .filter((t): t is string => t !== undefined),
        );
      const snapshotted = tenantsWith("snapshot");
      for (const tenant of [...tenantsWith("migrate")].sort()) {
        if (!snapshotted.has(tenant)) {
          violations.push({
            message: `tenant ${tenant} migrates in production without a snapshot job (platform.service=snapshot) to go back to`,
          });
        }
      }
      return violations;
    },
  },
  {
    name: "tunnel-ingress-ends-with-404",
    description:
      "A tunnel's ingress document ends with the catch-all http_status:404, and only there.",
    enforcementLevel: "mandatory",
    reads: { types: [TUNNEL_CONFIG], props: ["config"] },
    check: (resources) =>
      ofType(resources, TUNNEL_CONFIG).flatMap((r) => {
        const ingresses = (r.props.config as { ingresses?: unknown } | undefined)?.ingresses;
        // Each rule is read by its hostname, path and service: an unknown elsewhere in it (a new
        // tenant's Access audience) does not hide them.
        const routing = (rule: unknown) => {
          const { hostname, path, service } = (rule ?? {}) as Record<string, unknown>;
          return { hostname, path, service };
        };
        if (isUnknown(r.props.config) || isUnknown(ingresses)) return [];
        const all = Array.isArray(ingresses) ? ingresses.map(routing) : [];
        if (all.some(holdsUnknown)) return [];
        const rules = all as { hostname?: string; path?: string; service?: string }[];
        const last = rules.at(-1);
        const problems: string[] = [];
        if (!last || last.hostname || last.path || last.service !== "http_status:404")
          problems.push(
            "does not end with a rule that answers everything else with http_status:404",
          );
        if (rules.slice(0, -1).some((rule) => !rule.hostname))
          problems.push(
            "has a rule without hostname before the end, which shadows every rule after it",
          );
        return problems.map((p) => ({ urn: r.urn, message: `${r.name} ${p}` }));
      }),
  },
  {
    name: "container-env-is-secret",
    description: "No container environment is stored or shown in plain text: envs is a secret.",
    enforcementLevel: "mandatory",
    // What it reads of a container is its options; an unknown environment is one it has.
    reads: { types: [], props: [] },
    check: (resources) =>
      ofType(resources, CONTAINER)
        .filter(
          (r) =>
            isUnknown(r.props.envs) ||
            (Array.isArray(r.props.envs) && (r.props.envs as unknown[]).length > 0),
        )
        .flatMap((r) => [
          ...(r.opts.additionalSecretOutputs.includes("envs")
            ? []
            : [
                {
                  urn: r.urn,
                  message: `${r.name}: envs is not in additionalSecretOutputs, so state could hold it in plain text`,
                },
              ]),
          ...(r.secretInputs && !r.secretInputs.includes("envs")
            ? [
                {
                  urn: r.urn,
                  message: `${r.name}: envs is passed in plain text, so previews show it`,
                },
              ]
            : []),
        ]),
  },
  {
    name: "job-output-is-secret",
    description:
      "A job's output, which the docker provider stores in state as containerLogs and which may echo its environment, is a secret.",
    enforcementLevel: "mandatory",
    reads: { types: [CONTAINER], props: ["logs"] },
    check: (resources) =>
      ofType(resources, CONTAINER)
        .filter((r) => r.props.logs === true)
        .filter((r) => !r.opts.additionalSecretOutputs.includes("containerLogs"))
        .map((r) => ({
          urn: r.urn,
          message: `${r.name}: containerLogs is not in additionalSecretOutputs, so state could hold the job's output in plain text`,
        })),
  },
  {
    name: "tenants-never-share-a-network",
    description:
      "No Docker network joins containers of two tenants, or a tenant's containers and the shared services; only a tenant's relays (its gateway and its fronts) are on its own network and the data network, and only the platform's one-shot jobs for a tenant (those that hold an admin's credentials) on the data network alone.",
    enforcementLevel: "mandatory",
    reads: { types: [CONTAINER], props: ["labels", "networksAdvanced", "networkMode", "restart"] },
    check: (resources) => {
      const containers = ofType(resources, CONTAINER).map((r) => ({
        r,
        labels: labelsOf(r),
        networks: knownList<{ name?: unknown }>(r.props.networksAdvanced)
          .map((n) => n.name)
          .filter((name): name is string => typeof name === "string"),
      }));
      // The data network is the one the shared services are on; a relay's other network is its
      // tenant's.
      const data = new Set(
        containers.filter((c) => c.labels[LABELS.tenant] === undefined).flatMap((c) => c.networks),
      );
      const owners = new Map<string, Set<string>>();
      const violations: Violation[] = [];
      for (const { r, labels, networks } of containers) {
        const tenant = labels[LABELS.tenant];
        const mode = text(r.props.networkMode);
        if (tenant !== undefined && (mode === "host" || mode.startsWith("container:"))) {
          violations.push({
            urn: r.urn,
            message: `${r.name} of tenant ${tenant} shares the network namespace ${mode}`,
          });
        }
        const relay = RELAYS.includes(labels[LABELS.service] ?? "");
        if (relay && networks.filter((n) => !data.has(n)).length > 1) {
          violations.push({
            urn: r.urn,
            message: `${r.name} joins ${networks.join(", ")}: a relay joins its tenant's network and the data network only`,
          });
        }
        // A job of the platform's for a tenant, on the data network alone, runs none of the
        // tenant's code: it counts with the shared services.
        const platformJob =
          text(r.props.restart) === "no" &&
          networks.length > 0 &&
          networks.every((n) => data.has(n));
        for (const network of relay ? networks.filter((n) => !data.has(n)) : networks) {
          const set = owners.get(network) ?? new Set<string>();
          set.add(platformJob ? "the shared services" : (tenant ?? "the shared services"));
          owners.set(network, set);
        }
      }
      for (const [network, set] of owners) {
        if (set.size > 1)
          violations.push({ message: `network ${network} joins ${[...set].sort().join(" and ")}` });
      }
      return violations;
    },
  },
  {
    name: "kubernetes-tenants-isolated",
    description:
      "On Kubernetes, every tenant namespace denies all traffic by default (a NetworkPolicy selecting every pod, for ingress and egress) and has a ResourceQuota.",
    enforcementLevel: "mandatory",
    reads: { types: [NAMESPACE, NETWORK_POLICY, RESOURCE_QUOTA], props: ["metadata", "spec"] },
    check: (resources) => {
      const tenants = ofType(resources, NAMESPACE)
        .map(metadataOf)
        .filter((m) => m.labels[LABELS.scope] === "tenant" && m.name !== undefined);
      const inNamespace = (type: string, namespace: string) =>
        ofType(resources, type).filter((r) => metadataOf(r).namespace === namespace);
      return tenants.flatMap(({ name }) => {
        const denies = inNamespace(NETWORK_POLICY, name!).some((r) => {
          const spec = (r.props.spec ?? {}) as Record<string, unknown>;
          const selector = spec.podSelector as Record<string, unknown> | undefined;
          const types = knownList<string>(spec.policyTypes);
          return (
            selector !== undefined &&
            Object.keys(selector).length === 0 &&
            types.includes("Ingress") &&
            types.includes("Egress") &&
            spec.ingress === undefined &&
            spec.egress === undefined
          );
        });
        return [
          ...(denies ? [] : [{ message: `namespace ${name} has no default-deny NetworkPolicy` }]),
          ...(inNamespace(RESOURCE_QUOTA, name!).length > 0
            ? []
            : [{ message: `namespace ${name} has no ResourceQuota` }]),
        ];
      });
    },
  },
  {
    name: "kubernetes-jobs-end",
    description:
      "On Kubernetes, every Job fails within the provider's wait (a backoffLimit, and an activeDeadlineSeconds under its create timeout, 10 minutes unless customTimeouts says more) and is never deleted once finished (no ttlSecondsAfterFinished), which would make the provider run it again.",
    enforcementLevel: "mandatory",
    reads: { types: [KUBE_JOB], props: ["spec"] },
    check: (resources) =>
      ofType(resources, KUBE_JOB).flatMap((r) => {
        const spec = (r.props.spec ?? {}) as Record<string, unknown>;
        const problems: string[] = [];
        if (typeof spec.backoffLimit !== "number" || spec.backoffLimit > 2) {
          problems.push("has no backoffLimit of at most 2, so a failing step retries for minutes");
        }
        const wait = r.opts.createTimeoutSeconds || 600;
        if (typeof spec.activeDeadlineSeconds !== "number" || spec.activeDeadlineSeconds >= wait) {
          problems.push(
            `has no activeDeadlineSeconds under ${wait}, so a hung step outlasts the provider's wait`,
          );
        }
        if (spec.ttlSecondsAfterFinished !== undefined) {
          problems.push(
            "sets ttlSecondsAfterFinished: once deleted, the provider would create it again",
          );
        }
        return problems.map((p) => ({ urn: r.urn, message: `${r.name} ${p}` }));
      }),
  },
  {
    name: "memory-within-host",
    description:
      "The memory limits of long-running containers add up to no more than the host's memory (platform:hostMemoryMb), counting twice those replaced blue/green, which run beside their successors during a release.",
    enforcementLevel: "advisory",
    reads: {
      types: [CONTAINER, HOST_TYPE],
      props: ["memory", "memoryMb", "labels", "ports", "networkMode"],
    },
    check: (resources) => {
      const { hostMemoryMb } = stackLabels(resources);
      if (hostMemoryMb === undefined) return [];
      const memoryOf = (r: CheckedResource) =>
        typeof r.props.memory === "number" ? r.props.memory : 0;
      const running = longRunning(resources);
      const total = running.reduce((sum, r) => sum + memoryOf(r), 0);
      // A version bump starts a second generation of every one of them at once.
      const overlap = running
        .filter(
          (r) =>
            BLUE_GREEN.includes(labelsOf(r)[LABELS.service] ?? "") &&
            knownList(r.props.ports).length === 0,
        )
        .reduce((sum, r) => sum + memoryOf(r), 0);
      return total + overlap > hostMemoryMb
        ? [
            {
              message: `container memory limits add up to ${total} MB, and ${total + overlap} MB while a release runs beside the previous one: more than the host's ${hostMemoryMb} MB`,
            },
          ]
        : [];
    },
  },
];
