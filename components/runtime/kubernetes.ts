/**
 * Everything that makes Kubernetes objects: namespaces, Secrets, Deployments, StatefulSets,
 * Services, Jobs, quotas and policies, with the labels and pod settings they all share.
 * Components describe what runs; this module alone knows how Kubernetes runs it, as
 * `docker.ts` does for Docker.
 *
 * What @pulumi/kubernetes (4.x; read at pulumi/pulumi-kubernetes v4.32.0, provider/pkg/await)
 * waits for, which the graph relies on: a Deployment until its new ReplicaSet's pods are ready,
 * a StatefulSet until every replica is ready at the current revision, a Job until it is Complete
 * (failing at once on BackoffLimitExceeded or DeadlineExceeded), each for 10 minutes at most.
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import {
  containerResources,
  CPU_MILLIS,
  httpProbe,
  NamedPolicy,
  RESTRICTED_CONTAINER,
  rolloutStrategy,
  selectorLabels,
  tenantLimitRange,
  tenantQuota,
  TEMPORAL_PROXY,
} from "./kubeSpecs";
import { GATEWAY_HEALTH_PATH, GATEWAY_HEALTH_PORT, gatewayConfig, gatewayScript } from "./haproxy";
import { LABELS } from "./labels";
import { RunScript } from "./context";

/** What an object belongs to; carried as `platform.*` labels, as on Docker. */
export interface KubeOwner {
  /** The service its pods are selected by: `api`, `postgres`, `cloudflared`, a job's name. */
  service: string;
  /** Set when it belongs to one tenant. */
  tenant?: string;
}

export function kubeLabels(owner: KubeOwner): Record<string, string> {
  // The environment and the stack are the namespace's labels (`namespaceLabels`), which every
  // object inherits by where it is: repeating them on each object and pod only costs.
  return {
    ...selectorLabels(owner.service),
    ...(owner.tenant === undefined ? {} : { [LABELS.tenant]: owner.tenant }),
  };
}

type Options = pulumi.CustomResourceOptions;

/**
 * A namespace the platform made: its name, known before it exists (for addresses and manifests),
 * and the resource, which every object in it waits for (see `inNamespace`).
 */
export interface KubeNamespace {
  name: string;
  resource: k8s.core.v1.Namespace;
}

/** A namespace of the stack (see `kubeNamespace` in components/runtime/kubeSpecs.ts for its name). */
export function namespace(
  name: string,
  args: { name: string; labels: Record<string, string> },
  opts: Options,
): KubeNamespace {
  const resource = new k8s.core.v1.Namespace(
    name,
    { metadata: { name: args.name, labels: args.labels } },
    opts,
  );
  return { name: args.name, resource };
}

/**
 * Options of an object in `namespace`: it waits for the namespace. The name itself goes into the
 * manifest as a plain string: every Output in a resource's inputs costs the SDK a captured stack
 * trace when it serializes them (@pulumi/pulumi 3.270.0, runtime/rpc.js `serializeProperty`),
 * and a tenant has dozens of objects (tools/bench/results.md).
 */
function inNamespace(namespace: KubeNamespace, opts: Options): Options {
  const { dependsOn } = opts;
  // An Output of a list flattens at run time, as `waitFor`'s gates do (see there).
  const others =
    dependsOn === undefined
      ? []
      : Array.isArray(dependsOn)
        ? dependsOn
        : [dependsOn as pulumi.Input<pulumi.Resource>];
  return { ...opts, dependsOn: [namespace.resource, ...others] };
}

/** At most one pod of `service` down at a time for a voluntary disruption (a node drain). */
export function disruptionBudget(
  name: string,
  namespace: KubeNamespace,
  service: string,
  opts: Options,
): k8s.policy.v1.PodDisruptionBudget {
  return new k8s.policy.v1.PodDisruptionBudget(
    name,
    {
      metadata: { name: service, namespace: namespace.name },
      spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(service) } },
    },
    inNamespace(namespace, opts),
  );
}

/**
 * A Secret of environment values. Immutable and named by the provider (`<name>-<8 hex>`): any
 * change makes a new Secret, which changes the pod template of whatever reads it, so the pods
 * roll onto it; the old one is deleted once nothing in the update needs it. The provider keeps
 * its data as a secret in state (pulumi-kubernetes v4.32.0, provider.go `annotateSecrets`).
 */
export function envSecret(
  name: string,
  args: {
    namespace: KubeNamespace;
    owner: KubeOwner;
    values: pulumi.Input<Record<string, pulumi.Input<string>>>;
  },
  opts: Options,
): k8s.core.v1.Secret {
  return new k8s.core.v1.Secret(
    name,
    {
      metadata: { namespace: args.namespace.name, labels: kubeLabels(args.owner) },
      immutable: true,
      type: "Opaque",
      stringData: pulumi.secret(args.values),
    },
    inNamespace(args.namespace, opts),
  );
}

/** One container of a pod. */
export interface KubeContainer {
  image: pulumi.Input<string>;
  /** Replaces the image's entrypoint. @default the image's */
  command?: string[];
  args?: pulumi.Input<string>[];
  /** Plain settings; whatever is secret comes from `secret`. @default none */
  env?: Record<string, pulumi.Input<string>>;
  /** Settings read from the pod's own downward API (`status.podIP`). @default none */
  fieldEnv?: Record<string, string>;
  /** A Secret (see `envSecret`) whose every key becomes a variable. @default none */
  secret?: k8s.core.v1.Secret;
  memoryMb: number;
  ports?: { name: string; port: number }[];
  readinessProbe?: Record<string, unknown>;
  /** Where a volume is mounted. @default none */
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
  /** Data services keep their image's user switching; everything else runs restricted. @default true */
  restricted?: boolean;
}

function container(name: string, spec: KubeContainer, cpuMillis: number) {
  const env = [
    ...Object.entries(spec.env ?? {}).map(([key, value]) => ({ name: key, value })),
    ...Object.entries(spec.fieldEnv ?? {}).map(([key, fieldPath]) => ({
      name: key,
      valueFrom: { fieldRef: { fieldPath } },
    })),
  ];
  return {
    name,
    image: spec.image,
    command: spec.command,
    args: spec.args,
    env: env.length > 0 ? env : undefined,
    envFrom: spec.secret ? [{ secretRef: { name: spec.secret.metadata.name } }] : undefined,
    ports: spec.ports?.map(({ name: portName, port }) => ({ name: portName, containerPort: port })),
    resources: containerResources(spec.memoryMb, cpuMillis),
    readinessProbe: spec.readinessProbe,
    volumeMounts: spec.volumeMounts,
    securityContext: spec.restricted === false ? undefined : RESTRICTED_CONTAINER,
  };
}

/** What every pod of the platform has alike: no API token and no service links. */
function podSpec(containers: ReturnType<typeof container>[], extra: Record<string, unknown> = {}) {
  return {
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: { seccompProfile: { type: "RuntimeDefault" } },
    containers,
    ...extra,
  };
}

/** A long-running process: `replicas` pods behind its service's selector. */
export function deployment(
  name: string,
  args: {
    namespace: KubeNamespace;
    owner: KubeOwner;
    replicas: number;
    /** Serving roles roll without dropping below `replicas`; others are recreated (see `rolloutStrategy`). */
    serving: boolean;
    container: KubeContainer;
    /** Seconds a stopping pod gets to finish. @default 30 */
    terminationGraceSeconds?: number;
    /** Spread the pods over nodes, where the scheduler can. @default false */
    spread?: boolean;
  },
  opts: Options,
): k8s.apps.v1.Deployment {
  const labels = kubeLabels(args.owner);
  return new k8s.apps.v1.Deployment(
    name,
    {
      metadata: { name: args.owner.service, namespace: args.namespace.name, labels },
      spec: {
        replicas: args.replicas,
        selector: { matchLabels: selectorLabels(args.owner.service) },
        strategy: rolloutStrategy(args.serving),
        template: {
          metadata: { labels },
          spec: podSpec([container(args.owner.service, args.container, CPU_MILLIS.service)], {
            terminationGracePeriodSeconds: args.terminationGraceSeconds,
            topologySpreadConstraints: args.spread
              ? [
                  {
                    maxSkew: 1,
                    topologyKey: "kubernetes.io/hostname",
                    whenUnsatisfiable: "ScheduleAnyway",
                    labelSelector: { matchLabels: selectorLabels(args.owner.service) },
                  },
                ]
              : undefined,
          }),
        },
      },
    },
    inNamespace(args.namespace, opts),
  );
}

/**
 * A service with its data on a volume of its own: one replica, its claim kept when it goes. The
 * claim template is written once: changing it would replace the StatefulSet (pulumi-kubernetes
 * v4.32.0, provider/pkg/provider/diff.go) and stop the service, and the new set would find its
 * retained claim at the old size anyway. A claim is resized on the claim itself (docs/kubernetes.md).
 */
export function statefulSet(
  name: string,
  args: {
    namespace: KubeNamespace;
    owner: KubeOwner;
    container: KubeContainer;
    /** Where the volume is mounted, and its size and class. */
    volume: { mountPath: string; storageGb: number; storageClass?: string };
    /**
     * Who the server runs as. `drops`: the image starts as root and drops to this user itself
     * (its entrypoint chowns the volume first), so the container keeps the capabilities that
     * takes. `runs`: the pod runs as this user from the start, with nothing more. The group owns
     * the volume's files either way.
     */
    user: { mode: "drops" | "runs"; uid: number; gid: number };
    /**
     * Files mounted read-only into the container, from a ConfigMap of their own: immutable, so a
     * change makes a new one, which rolls the pod. @default none
     */
    files?: { path: string; content: string }[];
  },
  opts: Options,
): k8s.apps.v1.StatefulSet {
  const labels = kubeLabels(args.owner);
  const service = args.owner.service;
  const files = args.files ?? [];
  const fileKey = (path: string) => path.split("/").pop()!;
  const configMap =
    files.length === 0
      ? undefined
      : new k8s.core.v1.ConfigMap(
          `${name}-files`,
          {
            metadata: { namespace: args.namespace.name, labels },
            immutable: true,
            data: Object.fromEntries(files.map((f) => [fileKey(f.path), f.content])),
          },
          inNamespace(args.namespace, { parent: opts.parent }),
        );
  return new k8s.apps.v1.StatefulSet(
    name,
    {
      metadata: { name: service, namespace: args.namespace.name, labels },
      spec: {
        replicas: 1,
        serviceName: service,
        selector: { matchLabels: selectorLabels(service) },
        // A claim outlives its StatefulSet: deleting or replacing the set keeps the data.
        persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
        template: {
          metadata: { labels },
          spec: podSpec(
            [
              container(
                service,
                {
                  ...args.container,
                  volumeMounts: [
                    { name: "data", mountPath: args.volume.mountPath },
                    ...files.map((f) => ({
                      name: "files",
                      mountPath: f.path,
                      subPath: fileKey(f.path),
                      readOnly: true,
                    })),
                  ],
                  restricted: args.user.mode === "runs",
                },
                CPU_MILLIS.service,
              ),
            ],
            {
              ...(configMap && {
                volumes: [{ name: "files", configMap: { name: configMap.metadata.name } }],
              }),
              securityContext: {
                seccompProfile: { type: "RuntimeDefault" },
                fsGroup: args.user.gid,
                ...(args.user.mode === "runs"
                  ? { runAsUser: args.user.uid, runAsGroup: args.user.gid, runAsNonRoot: true }
                  : {}),
              },
            },
          ),
        },
        volumeClaimTemplates: [
          {
            metadata: { name: "data", labels },
            spec: {
              accessModes: ["ReadWriteOnce"],
              storageClassName: args.volume.storageClass,
              resources: { requests: { storage: `${args.volume.storageGb}Gi` } },
            },
          },
        ],
      },
    },
    { ...inNamespace(args.namespace, opts), ignoreChanges: ["spec.volumeClaimTemplates"] },
  );
}

/** A Service in front of a service's pods, under the service's own name. */
export function service(
  name: string,
  args: {
    namespace: KubeNamespace;
    owner: KubeOwner;
    ports: { name: string; port: number }[];
  },
  opts: Options,
): k8s.core.v1.Service {
  return new k8s.core.v1.Service(
    name,
    {
      metadata: {
        name: args.owner.service,
        namespace: args.namespace.name,
        labels: kubeLabels(args.owner),
      },
      spec: {
        type: "ClusterIP",
        selector: selectorLabels(args.owner.service),
        ports: args.ports.map(({ name: portName, port }) => ({
          name: portName,
          port,
          targetPort: port,
        })),
      },
    },
    inNamespace(args.namespace, opts),
  );
}

/**
 * A one-shot job. `pulumi up` waits for it to complete and fails at once when it fails; one retry
 * absorbs a transient failure (a DNS answer that came late). It is never deleted after it
 * finishes (no `ttlSecondsAfterFinished`): the provider would find it gone and create it again.
 * `replaceUnready` makes the next `pulumi up` run a failed job afresh rather than wait on it
 * (pulumi-kubernetes v4.32.0, provider.go). Named by the provider, so a changed job (its template
 * is immutable) is created before the old one is deleted.
 */
export function job(
  name: string,
  args: {
    namespace: KubeNamespace;
    owner: KubeOwner;
    container: KubeContainer;
    /**
     * How long it may run, in minutes: `pulumi up` waits that long, and Kubernetes fails the job a
     * minute earlier, so that it fails as a job rather than run on unseen. @default 10, the
     * provider's wait (the job gets 9)
     */
    maxMinutes?: number;
  },
  opts: Options,
): k8s.batch.v1.Job {
  const labels = kubeLabels(args.owner);
  const maxMinutes = args.maxMinutes ?? 10;
  const wait =
    args.maxMinutes === undefined ? {} : { create: `${maxMinutes}m`, update: `${maxMinutes}m` };
  return new k8s.batch.v1.Job(
    name,
    {
      metadata: {
        namespace: args.namespace.name,
        labels,
        annotations: { "pulumi.com/replaceUnready": "true" },
      },
      spec: {
        backoffLimit: 1,
        activeDeadlineSeconds: (maxMinutes - 1) * 60,
        template: {
          metadata: { labels },
          spec: podSpec([container(args.owner.service, args.container, CPU_MILLIS.job)], {
            restartPolicy: "Never",
          }),
        },
      },
    },
    { ...inNamespace(args.namespace, opts), customTimeouts: wait },
  );
}

/**
 * The Kubernetes runtime's way to run scripts: a Job in `namespace`, its environment in a Secret
 * of its own. The gate resolves once the provider has seen the Job complete.
 */
export function scriptRunner(args: { namespace: KubeNamespace; tenant?: string }): RunScript {
  return (name, spec, opts) => {
    const owner = { service: spec.job, tenant: args.tenant };
    // Settings that are all literals carry no secret (the platform's secrets are Outputs, marked
    // secret): they go into the Job itself, and need no Secret of their own.
    const literal = Object.values(spec.env).every((value) => typeof value === "string");
    const env = literal
      ? { env: spec.env }
      : {
          secret: envSecret(
            `${name}-env`,
            { namespace: args.namespace, owner, values: spec.env },
            { parent: opts.parent },
          ),
        };
    const run = job(
      name,
      {
        namespace: args.namespace,
        owner,
        container: {
          image: spec.image,
          command: ["sh", "-c", spec.script],
          ...env,
          memoryMb: spec.memoryMb,
        },
        maxMinutes: spec.maxMinutes,
      },
      opts,
    );
    return { job: run, succeeded: run.metadata.apply((): pulumi.Resource[] => []) };
  };
}

/** A namespace's ResourceQuota and LimitRange, both named `tenant` (see components/runtime/kubeSpecs.ts). */
export function namespaceLimits(
  name: string,
  namespace: KubeNamespace,
  spec: { quota: ReturnType<typeof tenantQuota>; limits: ReturnType<typeof tenantLimitRange> },
  opts: Options,
): pulumi.Resource[] {
  const metadata = { name: "tenant", namespace: namespace.name };
  return [
    new k8s.core.v1.ResourceQuota(
      `${name}-quota`,
      { metadata, spec: spec.quota },
      inNamespace(namespace, opts),
    ),
    new k8s.core.v1.LimitRange(
      `${name}-limits`,
      { metadata, spec: spec.limits },
      inNamespace(namespace, opts),
    ),
  ];
}

/** A namespace's NetworkPolicies (see components/runtime/kubeSpecs.ts). */
export function networkPolicies(
  name: string,
  namespace: KubeNamespace,
  policies: readonly NamedPolicy[],
  opts: Options,
): k8s.networking.v1.NetworkPolicy[] {
  return policies.map(
    (policy) =>
      new k8s.networking.v1.NetworkPolicy(
        `${name}-${policy.name}`,
        { metadata: { name: policy.name, namespace: namespace.name }, spec: policy.spec },
        inNamespace(namespace, opts),
      ),
  );
}

/**
 * A tenant's Temporal proxy (see `TEMPORAL_PROXY`): HAProxy relaying gRPC to Temporal with the
 * tenant's token on every call, as its gateway does on Docker (components/runtime/haproxy.ts), behind a Service
 * of its own in the tenant's namespace. The token reaches it from a Secret, never the command.
 */
export function temporalProxy(
  name: string,
  args: {
    namespace: KubeNamespace;
    tenantId: string;
    /** The relays' HAProxy image (`platform:gateway.image`). */
    image: string;
    memoryMb: number;
    /** Temporal's Service. */
    upstream: { host: string; port: number };
    /** The tenant's token (secret). */
    token: pulumi.Output<string>;
  },
  opts: Options,
): { endpoint: { host: string; port: number }; deployment: k8s.apps.v1.Deployment } {
  const owner = { service: TEMPORAL_PROXY, tenant: args.tenantId };
  const port = args.upstream.port;
  const secret = envSecret(
    `${name}-token`,
    { namespace: args.namespace, owner, values: { [PROXY_TOKEN]: args.token } },
    opts,
  );
  const config = gatewayConfig(
    [{ name: "temporal", port, upstream: args.upstream, bearerFrom: PROXY_TOKEN }],
    GATEWAY_HEALTH_PORT,
    "libc",
  );
  const proxy = deployment(
    name,
    {
      namespace: args.namespace,
      owner,
      replicas: 1,
      serving: true,
      container: {
        image: args.image,
        command: ["sh", "-c"],
        args: [gatewayScript(config)],
        secret,
        memoryMb: args.memoryMb,
        ports: [{ name: "temporal", port }],
        readinessProbe: httpProbe(GATEWAY_HEALTH_PORT, GATEWAY_HEALTH_PATH),
      },
    },
    opts,
  );
  service(
    `${name}-service`,
    { namespace: args.namespace, owner, ports: [{ name: "temporal", port }] },
    opts,
  );
  return { endpoint: { host: TEMPORAL_PROXY, port }, deployment: proxy };
}

/** The proxy's variable that holds the tenant's token. */
const PROXY_TOKEN = "TEMPORAL_AUTHORIZATION";
