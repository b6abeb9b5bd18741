/**
 * Whether a provider updates a changed input in place or replaces the resource, per resource
 * type, as the providers' schemas say:
 * - terraform-provider-docker v4.5.0 (internal/provider/resource_docker_container.go and
 *   resource_docker_container_funcs.go): every container attribute is ForceNew except a few;
 *   of those, `resourceDockerContainerUpdate` applies only the resource limits, the restart
 *   policy and `must_run` (starting a stopped container); the rest it only records.
 * - terraform-provider-cloudflare v5 (internal/services/<resource>/schema.go): only the attributes with a
 *   RequiresReplace plan modifier replace; `tunnel_secret` is updated in place.
 * - pulumi-kubernetes v4.32.0 (provider/pkg/provider/diff.go, `forceNew`): nested fields replace
 *   an object (a name, a Job's template, a StatefulSet's claims, a Secret's data); the rest is
 *   applied in place.
 */
export type ChangeKind = "replace" | "update" | "state-only" | "unknown" | "none";

interface TypeRule {
  /** Inputs changed in place. Every other input replaces the resource, unless listed below. */
  inPlace?: readonly string[];
  /** Inputs the provider accepts as an update but never applies to what is running. */
  stateOnly?: readonly string[];
  /** Inputs that replace the resource. Every other input is changed in place. */
  replaceOn?: readonly string[];
  /** Paths, at any depth, whose change replaces the resource; every other path is changed in place. */
  replacePaths?: readonly string[];
}

/** What replaces any Kubernetes object: another name or namespace. */
const KUBE_NAME = ["metadata.name", "metadata.namespace"];
const kube = (...paths: string[]): TypeRule => ({ replacePaths: [...KUBE_NAME, ...paths] });

/** How the provider runs a container, not what runs: recorded, used by later operations. */
const CONTAINER_RUNTIME_KNOBS = [
  "attach",
  "containerReadRefreshTimeoutMilliseconds",
  "destroyGraceSeconds",
  "logs",
  "removeVolumes",
  "rm",
  "start",
  "wait",
  "waitTimeout",
];

const RULES: Record<string, TypeRule> = {
  "docker:index/container:Container": {
    // What `ContainerUpdate` changes on the running container, and `mustRun` (which starts it).
    inPlace: [
      "restart",
      "maxRetryCount",
      "memory",
      "memoryReservation",
      "memorySwap",
      "cpuShares",
      "cpuSet",
      "deviceReadBps",
      "deviceReadIops",
      "deviceWriteBps",
      "deviceWriteIops",
      "mustRun",
    ],
    // Docker cannot change these on a running container and the provider does not try.
    stateOnly: [
      ...CONTAINER_RUNTIME_KNOBS,
      "healthcheck",
      "init",
      "tmpfs",
      "cpuPeriod",
      "cpuQuota",
    ],
  },
  "docker:index/volume:Volume": { inPlace: ["cluster"] },
  "docker:index/network:Network": { inPlace: [] },
  "docker:index/remoteImage:RemoteImage": { inPlace: ["keepLocally", "forceRemove", "build"] },
  "postgresql:index/grant:Grant": { inPlace: [] },
  "postgresql:index/database:Database": {
    replaceOn: ["template", "encoding", "lcCollate", "lcCtype"],
  },
  "postgresql:index/role:Role": { replaceOn: [] },
  "random:index/randomPassword:RandomPassword": { inPlace: [] },
  "random:index/randomBytes:RandomBytes": { inPlace: [] },
  "random:index/randomId:RandomId": { inPlace: [] },
  "cloudflare:index/dnsRecord:DnsRecord": { replaceOn: ["zoneId"] },
  "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared": {
    // config_src is RequiresReplaceIfConfigured, and the program always sets it.
    replaceOn: ["accountId", "configSrc"],
  },
  "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig": {
    replaceOn: ["accountId", "tunnelId"],
  },
  "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication": {
    replaceOn: ["accountId", "zoneId"],
  },
  "cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy": { replaceOn: ["accountId"] },
  // v5.22.0, internal/services/r2_bucket/schema.go: a bucket's location cannot change after it
  // is created (RequiresReplaceIfConfigured); its jurisdiction and storage class are updated.
  "cloudflare:index/r2Bucket:R2Bucket": { replaceOn: ["accountId", "name", "location"] },
  "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle": {
    replaceOn: ["accountId", "bucketName"],
  },
  "cloudflare:index/r2BucketLock:R2BucketLock": { replaceOn: ["accountId", "bucketName"] },
  // A token's policies and name are updated in place; only another account replaces it.
  "cloudflare:index/accountToken:AccountToken": { replaceOn: ["accountId"] },
  "kubernetes:core/v1:Namespace": kube(),
  "kubernetes:core/v1:LimitRange": kube(),
  "kubernetes:core/v1:ResourceQuota": kube("spec.scopes"),
  // Immutable, and the provider's `enableSecretMutable` is off by default anyway.
  "kubernetes:core/v1:Secret": kube("type", "stringData", "data"),
  "kubernetes:core/v1:ConfigMap": kube("immutable", "data", "binaryData"),
  "kubernetes:core/v1:Service": kube("spec.clusterIP"),
  "kubernetes:networking.k8s.io/v1:NetworkPolicy": kube(),
  "kubernetes:apps/v1:Deployment": kube("spec.selector"),
  "kubernetes:policy/v1:PodDisruptionBudget": kube(),
  "kubernetes:apps/v1:StatefulSet": kube(
    "spec.podManagementPolicy",
    "spec.revisionHistoryLimit",
    "spec.selector",
    "spec.serviceName",
    "spec.volumeClaimTemplates",
  ),
  "kubernetes:batch/v1:Job": kube(
    "spec.completions",
    "spec.parallelism",
    "spec.selector",
    "spec.template",
  ),
};

/** Whether `path` is `prefix` or lies beneath it (`healthcheck.retries` under `healthcheck`). */
export const under = (path: string, prefix: string) =>
  path === prefix || path.startsWith(`${prefix}.`) || path.startsWith(`${prefix}[`);

/**
 * What changing the top-level input `property` of a resource of `type` does; `paths` are the
 * changed paths under it (`spec.template.spec.containers[0].image`), for rules that look deeper.
 */
export function changeKind(
  type: string,
  property: string,
  paths: readonly string[] = [property],
): ChangeKind {
  const rule = RULES[type];
  if (!rule) return "unknown";
  if (rule.replacePaths) {
    return paths.some((path) => rule.replacePaths!.some((prefix) => under(path, prefix)))
      ? "replace"
      : "update";
  }
  if (rule.stateOnly?.includes(property)) return "state-only";
  if (rule.replaceOn) return rule.replaceOn.includes(property) ? "replace" : "update";
  return rule.inPlace?.includes(property) ? "update" : "replace";
}

/** The strongest effect of several changes: one replacing input replaces the resource. */
export function strongest(kinds: readonly ChangeKind[]): ChangeKind {
  for (const kind of ["replace", "unknown", "update", "state-only", "none"] as const) {
    if (kinds.includes(kind)) return kind;
  }
  return "update";
}
