import { imagePinProblem } from "../lib/images";
import { HOST_TYPE, HostFacts, LABELS } from "../lib/labels";

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
  };
  /** Top-level inputs that were secrets. Known offline only. */
  secretInputs?: string[];
}

export interface Violation {
  message: string;
  urn?: string;
}

export interface Rule {
  name: string;
  description: string;
  enforcementLevel: "mandatory" | "advisory";
  check(resources: readonly CheckedResource[]): Violation[];
}

const CONTAINER = "docker:index/container:Container";
const DATA_SERVICES = new Set(["postgres", "redis", "clickhouse", "temporal"]);
const RESTART_POLICIES = new Set(["always", "unless-stopped", "on-failure"]);

type Port = { internal?: number; external?: number; ip?: string };

function labelsOf(r: Pick<CheckedResource, "props">): Record<string, string> {
  const list = (r.props.labels ?? []) as { label: string; value: string }[];
  return Object.fromEntries(list.map((l) => [l.label, l.value]));
}

function ofType(resources: readonly CheckedResource[], type: string) {
  return resources.filter((r) => r.type === type);
}

/** The stack's environment and host size, as its Host component carries them in its inputs. */
function stackLabels(resources: readonly CheckedResource[]) {
  const facts = (ofType(resources, HOST_TYPE)[0]?.props ?? {}) as Partial<HostFacts>;
  const host = Number(facts.memoryMb);
  return {
    environment: facts.environment,
    hostMemoryMb: Number.isFinite(host) && host > 0 ? host : undefined,
  };
}

/** A string property, or "" when it is absent or not a string. */
const text = (value: unknown) => (typeof value === "string" ? value : "");

const isJob = (r: CheckedResource) => r.props.attach === true;
const longRunning = (resources: readonly CheckedResource[]) =>
  ofType(resources, CONTAINER).filter((r) => !isJob(r));
const portsOf = (r: CheckedResource) => (r.props.ports ?? []) as Port[];
const describePort = (p: Port) => `${p.ip ?? "0.0.0.0"}:${p.external ?? "?"}->${p.internal ?? "?"}`;

export const RULES: Rule[] = [
  {
    name: "data-ports-on-loopback",
    description:
      "No database, cache, ClickHouse or Temporal port is published beyond the host's loopback.",
    enforcementLevel: "mandatory",
    check: (resources) =>
      ofType(resources, CONTAINER)
        .filter((r) => DATA_SERVICES.has(labelsOf(r)[LABELS.service]))
        .flatMap((r) =>
          portsOf(r)
            .filter((p) => p.ip !== "127.0.0.1")
            .map((p) => ({
              urn: r.urn,
              message: `${r.name} publishes ${describePort(p)}: data services may bind only 127.0.0.1`,
            })),
        ),
  },
  {
    name: "app-ports-only-in-dev",
    description:
      "Apps publish no port outside dev (they are reached through the tunnel), and only on loopback in dev.",
    enforcementLevel: "mandatory",
    check: (resources) => {
      const { environment } = stackLabels(resources);
      return ofType(resources, CONTAINER)
        .filter((r) => !DATA_SERVICES.has(labelsOf(r)[LABELS.service]))
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
    check: (resources) =>
      longRunning(resources).flatMap((r) => {
        const problems: string[] = [];
        const tests = (
          (r.props.healthcheck as { tests?: string[] } | undefined)?.tests ?? []
        ).filter((t) => t !== "NONE");
        if (tests.length < 2) problems.push("has no health check");
        else if (tests.some((t) => /(^|[\s/;|&])curl(\s|$)/.test(t)))
          problems.push("health check calls curl, which the images do not ship");
        if (!RESTART_POLICIES.has(text(r.props.restart)))
          problems.push(`restart policy is ${JSON.stringify(r.props.restart ?? "no")}`);
        if (!(Number(r.props.memory) > 0)) problems.push("has no memory limit");
        return problems.map((p) => ({ urn: r.urn, message: `${r.name} ${p}` }));
      }),
  },
  {
    name: "images-pinned",
    description:
      "No image is referenced without a tag, by the tag latest, or by a tag that floats to new minor releases.",
    enforcementLevel: "mandatory",
    check: (resources) =>
      [
        ...ofType(resources, "docker:index/remoteImage:RemoteImage").map((r) => ({
          r,
          ref: text(r.props.name),
        })),
        ...ofType(resources, CONTAINER)
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
      "In production, data volumes and tenant databases are protected and retained on delete.",
    enforcementLevel: "mandatory",
    check: (resources) => {
      if (stackLabels(resources).environment !== "production") return [];
      return [
        ...ofType(resources, "docker:index/volume:Volume"),
        ...ofType(resources, "postgresql:index/database:Database"),
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
    name: "tunnel-ingress-ends-with-404",
    description:
      "A tunnel's ingress document ends with the catch-all http_status:404, and only there.",
    enforcementLevel: "mandatory",
    check: (resources) =>
      ofType(
        resources,
        "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig",
      ).flatMap((r) => {
        const rules = ((r.props.config as { ingresses?: unknown[] } | undefined)?.ingresses ??
          []) as {
          hostname?: string;
          path?: string;
          service?: string;
        }[];
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
    check: (resources) =>
      ofType(resources, CONTAINER)
        .filter((r) => Array.isArray(r.props.envs) && (r.props.envs as unknown[]).length > 0)
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
    name: "memory-within-host",
    description:
      "The memory limits of long-running containers add up to no more than the host's memory (platform:hostMemoryMb).",
    enforcementLevel: "advisory",
    check: (resources) => {
      const { hostMemoryMb } = stackLabels(resources);
      if (hostMemoryMb === undefined) return [];
      const total = longRunning(resources).reduce(
        (sum, r) => sum + (Number(r.props.memory) || 0),
        0,
      );
      return total > hostMemoryMb
        ? [
            {
              message: `container memory limits add up to ${total} MB, more than the host's ${hostMemoryMb} MB`,
            },
          ]
        : [];
    },
  },
];
