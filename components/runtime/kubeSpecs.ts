/**
 * The Kubernetes runtime as plain data: names, labels, resources, probes, rollout strategies,
 * quotas and network policies. components/runtime/kubernetes.ts turns them into resources; the
 * tests read them directly and check every rendered manifest against the Kubernetes schemas.
 */
import { isIP } from "node:net";
import { BLOCKED_RANGES } from "./network";
import { LABELS } from "./labels";

/** A DNS-1123 label, which namespace, Service and container names must be (at most 63 characters). */
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Why `name` cannot name a namespace or Service, or undefined when it can. */
export function kubeNameProblem(name: string): string | undefined {
  if (DNS_LABEL.test(name)) return undefined;
  return `${JSON.stringify(name)} is not a Kubernetes name: at most 63 lowercase letters, digits and hyphens, starting and ending with a letter or digit`;
}

/** Why the namespace of tenant `id` in `stack` cannot be named, or undefined when it can. */
export function tenantNamespaceProblem(stack: string, id: string): string | undefined {
  const problem = kubeNameProblem(`${stack}-${id}`);
  return problem && `gives the tenant's namespace a name Kubernetes refuses: ${problem}`;
}

/** Why the stack's own namespaces (`<stack>-data`, `<stack>-edge`) cannot be named, or undefined. */
export function stackNamespaceProblem(stack: string): string | undefined {
  const problem = kubeNameProblem(`${stack}-data`);
  return problem && `needs the stack's name to start namespace names: ${problem}`;
}

/** What a namespace of the stack holds: the shared data services, the connector, or one tenant. */
export type NamespaceScope = "data" | "edge" | { tenant: string };

/**
 * The longest tenant id on Kubernetes. The API server labels a Job's pods with the Job's name
 * (`job-name`, at most 63 characters), and the provider names a Job `<resource name>-<8 hex>`
 * (pulumi-kubernetes v4.32.0, provider/pkg/metadata/naming.go): the longest, `<id>-database-
 * owner-check-xxxxxxxx`, is the id and 30 characters.
 */
export const KUBE_TENANT_ID_MAX = 33;

/** Tenant ids that would take the name of a stack's own namespace. */
export const RESERVED_SCOPES = ["data", "edge"] as const;

/** `<stack>-data`, `<stack>-edge`, `<stack>-<tenant>`; throws when that is no Kubernetes name. */
export function kubeNamespace(stack: string, scope: NamespaceScope): string {
  const name = `${stack}-${typeof scope === "string" ? scope : scope.tenant}`;
  const problem = kubeNameProblem(name);
  if (problem) throw new Error(`Namespace ${problem}`);
  return name;
}

/**
 * The labels of a stack's namespaces, for people and tools (`kubectl get ns -l ...`). No policy
 * admits by them: anyone who may label a namespace could forge them (see `namespacesNamed`).
 */
export function namespaceLabels(
  stack: string,
  environment: string,
  scope: NamespaceScope,
): Record<string, string> {
  const labels: Record<string, string> = {
    [LABELS.stack]: stack,
    [LABELS.environment]: environment,
    [LABELS.scope]: typeof scope === "string" ? scope : "tenant",
  };
  if (typeof scope !== "string") labels[LABELS.tenant] = scope.tenant;
  return labels;
}

/** The labels that select one service's pods inside its namespace. */
export function selectorLabels(service: string): Record<string, string> {
  return { [LABELS.service]: service };
}

/** A Service's address from anywhere in the cluster, without assuming the cluster's domain. */
export function serviceHost(service: string, namespace: string): string {
  return `${service}.${namespace}.svc`;
}

/** Memory in the unit Kubernetes and Docker limits agree on: MiB. */
export function mebibytes(memoryMb: number): string {
  return `${memoryMb}Mi`;
}

/**
 * A container's resources: memory requested and limited alike, so the scheduler places it where
 * its limit fits and it is never the first to be evicted; CPU requested only, since a CPU limit
 * throttles a Node.js process without protecting anyone.
 */
export function containerResources(memoryMb: number, cpuMillis: number) {
  return {
    requests: { memory: mebibytes(memoryMb), cpu: `${cpuMillis}m` },
    limits: { memory: mebibytes(memoryMb) },
  };
}

/** CPU each long-running container and each job requests. */
export const CPU_MILLIS = { service: 100, job: 50 } as const;

/** What every container of a tenant or of the edge runs with: nothing beyond what it needs. */
export const RESTRICTED_CONTAINER: {
  allowPrivilegeEscalation: boolean;
  capabilities: { drop: string[] };
} = { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } };

/** An HTTP readiness probe. Probes come from the kubelet, which NetworkPolicy does not filter. */
export function httpProbe(port: number, path: string, periodSeconds = 10) {
  return { httpGet: { path, port }, periodSeconds, timeoutSeconds: 5, failureThreshold: 3 };
}

/** A probe that runs a command in the container, for a process that serves no HTTP. */
export function execProbe(command: string[], periodSeconds = 15) {
  return { exec: { command }, periodSeconds, timeoutSeconds: 10, failureThreshold: 3 };
}

/**
 * How a Deployment replaces its pods. Serving roles roll: a new pod must be ready before an old
 * one goes (`maxUnavailable: 0`), so the Service always has as many ready pods as it serves with.
 * Workers are recreated, as on Docker: two releases polling one task queue at once invite
 * Temporal non-determinism errors, and a short gap only queues work.
 */
export function rolloutStrategy(serving: boolean) {
  return serving
    ? { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } }
    : { type: "Recreate" };
}

/** One long-running process of a tenant, as the quota sees it. */
export interface Workload {
  memoryMb: number;
  replicas: number;
  /** A rolling update runs one more pod while it replaces them. */
  surge: boolean;
}

/**
 * A tenant namespace's quota: what its workloads need at their peak (every Deployment mid-rollout
 * with its surge pod, and every job of the tenant running at once), and nothing that would
 * expose it or keep data: no LoadBalancer or NodePort Service, no volume claim.
 */
export function tenantQuota(workloads: readonly Workload[], jobsMemoryMb: readonly number[]) {
  const pods = workloads.map((w) => w.replicas + (w.surge ? 1 : 0));
  const memory =
    workloads.reduce((sum, w, i) => sum + w.memoryMb * pods[i], 0) +
    jobsMemoryMb.reduce((sum, mb) => sum + mb, 0);
  const cpu =
    pods.reduce((sum, n) => sum + n, 0) * CPU_MILLIS.service + jobsMemoryMb.length * CPU_MILLIS.job;
  return {
    hard: {
      pods: String(pods.reduce((sum, n) => sum + n, 0) + jobsMemoryMb.length),
      "requests.memory": mebibytes(memory),
      "limits.memory": mebibytes(memory),
      "requests.cpu": `${cpu}m`,
      "services.loadbalancers": "0",
      "services.nodeports": "0",
      persistentvolumeclaims: "0",
    },
  };
}

/**
 * Defaults for a container that sets no resources (the quota refuses pods without them), and the
 * largest container the namespace admits.
 */
export function tenantLimitRange(largestMemoryMb: number) {
  return {
    limits: [
      {
        type: "Container",
        default: { memory: mebibytes(128) },
        defaultRequest: { memory: mebibytes(128), cpu: `${CPU_MILLIS.job}m` },
        max: { memory: mebibytes(largestMemoryMb) },
      },
    ],
  };
}

/**
 * IPv6 destinations no tenant may reach: unique-local (where fd00:ec2::254, AWS's metadata
 * address, lives), link-local, loopback, and the prefixes that embed an IPv4 address (mapped,
 * and NAT64's well-known and local-use prefixes, RFC 6052 and RFC 8215), through which a private
 * IPv4 address could be reached.
 */
export const BLOCKED_RANGES_V6 = [
  "::1/128",
  "::ffff:0:0/96",
  "64:ff9b::/96",
  "64:ff9b:1::/48",
  "fc00::/7",
  "fe80::/10",
] as const;

/** A port a namespace's policy opens. */
export interface PolicyPort {
  port: number;
  protocol?: "TCP" | "UDP";
}

/** Where a cluster's DNS answers: CoreDNS (or kube-dns) in kube-system, by its usual label. */
const CLUSTER_DNS = {
  namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
  podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
};
const DNS_PORTS: PolicyPort[] = [
  { port: 53, protocol: "UDP" },
  { port: 53, protocol: "TCP" },
];

/** Namespaces by their immutable name label, which the API server sets. */
function namespaceNamed(namespace: string) {
  return { matchLabels: { "kubernetes.io/metadata.name": namespace } };
}

/**
 * The stack's tenant namespaces, by the name label the API server sets and no one can change
 * (kubernetes/kubernetes, pkg/apis/core/v1: `kubernetes.io/metadata.name`, since 1.21): a label
 * of the platform's own could be put on any namespace by whoever may label one. Adding a tenant
 * updates the policies that name them, in place.
 */
function namespacesNamed(namespaces: readonly string[]): Selector {
  return {
    matchExpressions: [
      { key: "kubernetes.io/metadata.name", operator: "In", values: [...namespaces].sort() },
    ],
  };
}

function ports(list: readonly PolicyPort[]) {
  return list.map(({ port, protocol }) => ({ port, protocol: protocol ?? "TCP" }));
}

/** The ranges the operator adds to the blocked ones, and the private ones they open. */
export interface ClusterRanges {
  /** Private ranges tenants may reach (a managed database's). @default none */
  allowedCidrs?: readonly string[];
  /**
   * Public ranges of the cluster itself (pods, Services, nodes of an IPv6 cluster), which the
   * internet rule would otherwise admit. @default none
   */
  blockedCidrs?: readonly string[];
}

/**
 * The internet: every address but the blocked ranges (the operator's included), and the private
 * ranges the operator names, which are let through on their own.
 */
function internetEgress({ allowedCidrs = [], blockedCidrs = [] }: ClusterRanges): PolicyRule[] {
  const v4 = blockedCidrs.filter((cidr) => isIP(cidr.split("/")[0]) === 4);
  const v6 = blockedCidrs.filter((cidr) => isIP(cidr.split("/")[0]) === 6);
  const rules: PolicyRule[] = [
    { to: [{ ipBlock: { cidr: "0.0.0.0/0", except: [...BLOCKED_RANGES, ...v4] } }] },
    { to: [{ ipBlock: { cidr: "::/0", except: [...BLOCKED_RANGES_V6, ...v6] } }] },
  ];
  if (allowedCidrs.length > 0) {
    rules.push({ to: allowedCidrs.map((cidr) => ({ ipBlock: { cidr } })) });
  }
  return rules;
}

/** A label selector, as NetworkPolicy peers use it. */
interface Selector {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: "In"; values: string[] }[];
}

/** One side of a NetworkPolicy rule. */
interface Peer {
  ipBlock?: { cidr: string; except?: string[] };
  namespaceSelector?: Selector;
  podSelector?: Selector;
}

interface PolicyRule {
  from?: Peer[];
  to?: Peer[];
  ports?: { port: number; protocol: string }[];
}

/** A NetworkPolicy's spec (networking.k8s.io/v1). */
export interface PolicySpec {
  podSelector: Selector;
  policyTypes: ("Ingress" | "Egress")[];
  ingress?: PolicyRule[];
  egress?: PolicyRule[];
}

/** A NetworkPolicy's name and spec. */
export interface NamedPolicy {
  name: string;
  spec: PolicySpec;
}

/** What a tenant namespace's policies are built from. */
export interface TenantPolicyArgs {
  stack: string;
  /** The connector's namespace, the only one that reaches the serving roles. */
  edgeNamespace: string;
  /** The serving roles' pod selector values and the port each listens on. */
  serving: readonly { service: string; port: number }[];
  /** The shared data services' namespace and ports. */
  data: { namespace: string; ports: readonly PolicyPort[] };
  /** Temporal's port in the data namespace, which only the tenant's proxy reaches (see `TEMPORAL_PROXY`). */
  temporalPort: number;
  /** The operator's additions to what the internet rule admits and blocks. @default none */
  ranges?: ClusterRanges;
}

/**
 * A tenant namespace's policies: nothing in or out by default; the connector's pods in to each
 * serving role's port; out to the cluster's DNS, to the shared data services, and to the
 * internet, but not to other namespaces, the cluster's private ranges or the metadata address.
 * Policies add up: a connection passes when any policy selecting the pod admits it.
 */
export function tenantPolicies(args: TenantPolicyArgs): NamedPolicy[] {
  const temporal = [{ port: args.temporalPort }];
  const proxy = { podSelector: { matchLabels: selectorLabels(TEMPORAL_PROXY) } };
  const egress: PolicyRule[] = [
    { to: [CLUSTER_DNS], ports: ports(DNS_PORTS) },
    {
      to: [{ namespaceSelector: namespaceNamed(args.data.namespace) }],
      ports: ports(args.data.ports),
    },
    // Temporal through the tenant's proxy, which alone holds its token.
    { to: [proxy], ports: ports(temporal) },
    ...internetEgress(args.ranges ?? {}),
  ];
  return [
    { name: "default-deny", spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] } },
    ...args.serving.map(({ service, port }): NamedPolicy => ({
      name: `${service}-from-connector`,
      spec: {
        podSelector: { matchLabels: selectorLabels(service) },
        policyTypes: ["Ingress"],
        ingress: [
          {
            from: [
              {
                namespaceSelector: namespaceNamed(args.edgeNamespace),
                podSelector: { matchLabels: selectorLabels(CONNECTOR_SERVICE) },
              },
            ],
            ports: ports([{ port }]),
          },
        ],
      },
    })),
    { name: "egress", spec: { podSelector: {}, policyTypes: ["Egress"], egress } },
    {
      name: `${TEMPORAL_PROXY}-from-tenant`,
      spec: {
        ...proxy,
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ podSelector: {} }], ports: ports(temporal) }],
      },
    },
    {
      name: `${TEMPORAL_PROXY}-to-temporal`,
      spec: {
        ...proxy,
        policyTypes: ["Egress"],
        egress: [
          {
            to: [{ namespaceSelector: namespaceNamed(args.data.namespace) }],
            ports: ports(temporal),
          },
        ],
      },
    },
  ];
}

/**
 * A tenant's Temporal proxy's service label: HAProxy in the tenant's namespace that sends the
 * tenant's token with every call, as its gateway does on Docker. Only it reaches Temporal.
 */
export const TEMPORAL_PROXY = "temporal-proxy";

/** The connector's pods' service label. */
export const CONNECTOR_SERVICE = "cloudflared";

/**
 * The data namespace's policy: in only from its own pods (Temporal to Postgres, the platform's
 * jobs) and from the stack's tenant namespaces, on the services' ports; out only to its own pods,
 * the cluster's DNS and, for managed services, what a tenant may reach (the internet and the
 * operator's allowed ranges): the jobs that hold an admin's credentials run here.
 */
export function dataPolicies(
  tenantNamespaces: readonly string[],
  servicePorts: readonly PolicyPort[],
  temporalPort: number,
  ranges: ClusterRanges = {},
): NamedPolicy[] {
  const tenants = namespacesNamed(tenantNamespaces);
  return [
    { name: "default-deny", spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] } },
    {
      name: "from-platform",
      spec: {
        podSelector: {},
        policyTypes: ["Ingress"],
        ingress: [
          { from: [{ podSelector: {} }], ports: ports([...servicePorts, { port: temporalPort }]) },
          { from: [{ namespaceSelector: tenants }], ports: ports(servicePorts) },
          // Temporal from each tenant's proxy alone (see `TEMPORAL_PROXY`).
          {
            from: [
              {
                namespaceSelector: tenants,
                podSelector: { matchLabels: selectorLabels(TEMPORAL_PROXY) },
              },
            ],
            ports: ports([{ port: temporalPort }]),
          },
        ],
      },
    },
    {
      name: "egress",
      spec: {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [
          { to: [{ podSelector: {} }] },
          { to: [CLUSTER_DNS], ports: ports(DNS_PORTS) },
          ...internetEgress(ranges),
        ],
      },
    },
  ];
}

/**
 * The edge namespace's policy: nothing in (the kubelet's readiness probes are not filtered); out
 * to the cluster's DNS, to the stack's tenants' serving ports, and to the internet (Cloudflare's
 * edge), never to the cluster's private ranges.
 */
export function edgePolicies(
  tenantNamespaces: readonly string[],
  servingPorts: readonly number[],
  blockedCidrs: readonly string[] = [],
): NamedPolicy[] {
  return [
    { name: "default-deny", spec: { podSelector: {}, policyTypes: ["Ingress", "Egress"] } },
    {
      name: "egress",
      spec: {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [
          { to: [CLUSTER_DNS], ports: ports(DNS_PORTS) },
          {
            to: [{ namespaceSelector: namespacesNamed(tenantNamespaces) }],
            ports: ports(servingPorts.map((port) => ({ port }))),
          },
          ...internetEgress({ blockedCidrs }),
        ],
      },
    },
  ];
}

/** Why `value` is not an IPv4 or IPv6 CIDR block (`10.20.0.0/16`), or undefined when it is. */
export function cidrProblem(value: string): string | undefined {
  const match = /^([^/]+)\/(\d{1,3})$/.exec(value);
  const family = match ? isIP(match[1]) : 0;
  if (!match || family === 0 || Number(match[2]) > (family === 4 ? 32 : 128)) {
    return "must be a CIDR block such as 10.20.0.0/16";
  }
  return undefined;
}
