/** The SDK floor: the same URNs registered with only the inputs each SDK class requires, and no logic of ours. */
import * as cloudflare from "@pulumi/cloudflare";
import * as docker from "@pulumi/docker";
import * as k8s from "@pulumi/kubernetes";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import * as tls from "@pulumi/tls";
import { Program, Registration } from "../engine/runner";

/** One registration of the measured program, as the floor repeats it. */
export interface SkeletonEntry {
  type: string;
  name: string;
  custom: boolean;
  /** Index of the parent in the skeleton; absent at the top of the stack. */
  parent?: number;
}

type Register = (name: string, opts: pulumi.CustomResourceOptions) => pulumi.Resource;

const ACCOUNT = "0123456789abcdef0123456789abcdef";

/**
 * Each custom type the platform registers, with only the inputs its SDK class requires: what
 * registering one costs the Pulumi SDK and the mocks, and nothing of ours.
 */
export const MINIMAL: Record<string, Register> = {
  "pulumi:providers:kubernetes": (name, opts) => new k8s.Provider(name, {}, opts),
  "kubernetes:core/v1:Namespace": (name, opts) => new k8s.core.v1.Namespace(name, {}, opts),
  "kubernetes:core/v1:Secret": (name, opts) => new k8s.core.v1.Secret(name, {}, opts),
  "kubernetes:core/v1:Service": (name, opts) => new k8s.core.v1.Service(name, {}, opts),
  "kubernetes:core/v1:ResourceQuota": (name, opts) => new k8s.core.v1.ResourceQuota(name, {}, opts),
  "kubernetes:core/v1:LimitRange": (name, opts) => new k8s.core.v1.LimitRange(name, {}, opts),
  "kubernetes:networking.k8s.io/v1:NetworkPolicy": (name, opts) =>
    new k8s.networking.v1.NetworkPolicy(name, {}, opts),
  "kubernetes:policy/v1:PodDisruptionBudget": (name, opts) =>
    new k8s.policy.v1.PodDisruptionBudget(name, {}, opts),
  "kubernetes:apps/v1:Deployment": (name, opts) =>
    new k8s.apps.v1.Deployment(name, { spec: { selector: {}, template: {} } }, opts),
  "kubernetes:apps/v1:StatefulSet": (name, opts) =>
    new k8s.apps.v1.StatefulSet(name, { spec: { selector: {}, template: {} } }, opts),
  "kubernetes:batch/v1:Job": (name, opts) => new k8s.batch.v1.Job(name, {}, opts),
  "pulumi:providers:docker": (name, opts) => new docker.Provider(name, {}, opts),
  "pulumi:providers:postgresql": (name, opts) => new postgresql.Provider(name, {}, opts),
  "pulumi:providers:cloudflare": (name, opts) => new cloudflare.Provider(name, {}, opts),
  "docker:index/network:Network": (name, opts) => new docker.Network(name, {}, opts),
  "docker:index/volume:Volume": (name, opts) => new docker.Volume(name, {}, opts),
  "docker:index/remoteImage:RemoteImage": (name, opts) =>
    new docker.RemoteImage(name, { name }, opts),
  "docker:index/container:Container": (name, opts) =>
    new docker.Container(name, { image: name }, opts),
  "postgresql:index/role:Role": (name, opts) => new postgresql.Role(name, {}, opts),
  "postgresql:index/database:Database": (name, opts) => new postgresql.Database(name, {}, opts),
  "postgresql:index/grant:Grant": (name, opts) =>
    new postgresql.Grant(
      name,
      { database: name, role: name, objectType: "database", privileges: [] },
      opts,
    ),
  "random:index/randomPassword:RandomPassword": (name, opts) =>
    new random.RandomPassword(name, { length: 16 }, opts),
  "random:index/randomBytes:RandomBytes": (name, opts) =>
    new random.RandomBytes(name, { length: 16 }, opts),
  "tls:index/privateKey:PrivateKey": (name, opts) =>
    new tls.PrivateKey(name, { algorithm: "RSA" }, opts),
  "random:index/randomId:RandomId": (name, opts) =>
    new random.RandomId(name, { byteLength: 5 }, opts),
  "cloudflare:index/r2Bucket:R2Bucket": (name, opts) =>
    new cloudflare.R2Bucket(name, { accountId: ACCOUNT, name }, opts),
  "cloudflare:index/r2BucketLifecycle:R2BucketLifecycle": (name, opts) =>
    new cloudflare.R2BucketLifecycle(name, { accountId: ACCOUNT, bucketName: name }, opts),
  "cloudflare:index/r2BucketLock:R2BucketLock": (name, opts) =>
    new cloudflare.R2BucketLock(name, { accountId: ACCOUNT, bucketName: name }, opts),
  "cloudflare:index/accountToken:AccountToken": (name, opts) =>
    new cloudflare.AccountToken(name, { accountId: ACCOUNT, name, policies: [] }, opts),
  "cloudflare:index/dnsRecord:DnsRecord": (name, opts) =>
    new cloudflare.DnsRecord(name, { zoneId: ACCOUNT, name, type: "CNAME", ttl: 1 }, opts),
  "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication": (name, opts) =>
    new cloudflare.ZeroTrustAccessApplication(name, {}, opts),
  "cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy": (name, opts) =>
    new cloudflare.ZeroTrustAccessPolicy(
      name,
      { accountId: ACCOUNT, name, decision: "allow" },
      opts,
    ),
  "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared": (name, opts) =>
    new cloudflare.ZeroTrustTunnelCloudflared(name, { accountId: ACCOUNT, name }, opts),
  "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig": (
    name,
    opts,
  ) =>
    new cloudflare.ZeroTrustTunnelCloudflaredConfig(
      name,
      { accountId: ACCOUNT, tunnelId: name },
      opts,
    ),
};

/** A component with nothing in it but its type, name and parent. */
class BareComponent extends pulumi.ComponentResource {
  constructor(type: string, name: string, opts: pulumi.ComponentResourceOptions) {
    super(type, name, {}, opts);
    this.registerOutputs({});
  }
}

/** A program that registers the same resources as `skeleton`, with no logic and minimal inputs. */
export function floorProgram(skeleton: readonly SkeletonEntry[]): Program {
  return () => {
    const made: pulumi.Resource[] = [];
    for (const entry of skeleton) {
      const parent = entry.parent === undefined ? undefined : made[entry.parent];
      if (entry.custom) {
        const register = MINIMAL[entry.type];
        if (!register) throw new Error(`the floor has no minimal form of ${entry.type}`);
        made.push(register(entry.name, { parent }));
      } else {
        made.push(new BareComponent(entry.type, entry.name, { parent }));
      }
    }
    return {};
  };
}

/** The registrations of a run as the floor repeats them, every parent before its children. */
export function skeletonOf(registrations: readonly Registration[]): SkeletonEntry[] {
  const resources = registrations.filter((r) => r.type !== "pulumi:pulumi:Stack");
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const depth = (r: Registration): number => {
    const parent = byUrn.get(r.parent);
    return parent ? depth(parent) + 1 : 0;
  };
  const ordered = resources
    .map((r, index) => ({ r, index, depth: depth(r) }))
    .sort((a, b) => a.depth - b.depth || a.index - b.index)
    .map(({ r }) => r);
  const position = new Map(ordered.map((r, i) => [r.urn, i]));
  return ordered.map((r) => ({
    type: r.type,
    name: r.name,
    custom: r.custom,
    ...(position.has(r.parent) ? { parent: position.get(r.parent) } : {}),
  }));
}
