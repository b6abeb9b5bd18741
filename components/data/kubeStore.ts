import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { serviceHost } from "../runtime/kubeSpecs";
import { secretOrGenerated } from "../runtime/context";
import {
  envSecret,
  KubeContainer,
  KubeNamespace,
  KubeOwner,
  service,
  statefulSet,
} from "../runtime/kubernetes";

export interface KubeStoreArgs {
  /** The data namespace. */
  namespace: KubeNamespace;
  /** Names the StatefulSet, its Service and its pods' label: `postgres`, `redis`, `clickhouse`. */
  service: string;
  /** The image reference from config. */
  image: string;
  /** The ports the Service exposes, which are the container's. */
  ports: { name: string; port: number }[];
  /** The service's password from `platform:secrets`. @default generated */
  password?: string;
  /** Secret settings, given the service's password; they reach the pod from a Secret. */
  secretEnv: (password: pulumi.Output<string>) => Record<string, pulumi.Input<string>>;
  /** Plain settings. @default none */
  env?: Record<string, string>;
  /** Replaces the image's entrypoint. @default the image's */
  command?: string[];
  /** Replaces the image's command (its entrypoint's arguments). @default the image's */
  args?: string[];
  /** Says when the service answers. */
  readinessProbe: Record<string, unknown>;
  /** Memory limit in MB. Required: its default is config's. */
  memoryMb: number;
  /** Where the data volume is mounted, and its size and class (the cluster's default when unset). */
  volume: { mountPath: string; storageGb: number; storageClass?: string };
  /** Who the server runs as (see `statefulSet`). */
  user: { mode: "drops" | "runs"; uid: number; gid: number };
  /** Config files mounted into the container (see `statefulSet`). @default none */
  files?: { path: string; content: string }[];
}

/**
 * A data service on Kubernetes: one pod of a StatefulSet on a volume claim that outlives it, a
 * ClusterIP Service under the service's name, and its secrets in a Secret. `pulumi up` goes on
 * only once the pod is ready.
 */
export class KubeStore extends pulumi.ComponentResource {
  /** `<service>.<namespace>.svc`, where the tenants and Temporal connect. */
  public readonly host: string;
  public readonly statefulSet: k8s.apps.v1.StatefulSet;
  public readonly password: pulumi.Output<string>;

  constructor(name: string, args: KubeStoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:data:KubeStore", name, {}, opts);
    const owner: KubeOwner = { service: args.service };
    this.password = secretOrGenerated(`${name}-password`, args.password, this);
    const secret = envSecret(
      `${name}-env`,
      { namespace: args.namespace, owner, values: args.secretEnv(this.password) },
      { parent: this },
    );
    const container: KubeContainer = {
      image: args.image,
      command: args.command,
      args: args.args,
      env: args.env,
      secret,
      memoryMb: args.memoryMb,
      ports: args.ports,
      readinessProbe: args.readinessProbe,
    };
    this.statefulSet = statefulSet(
      name,
      {
        namespace: args.namespace,
        owner,
        container,
        volume: args.volume,
        user: args.user,
        files: args.files,
      },
      { parent: this },
    );
    service(
      `${name}-service`,
      { namespace: args.namespace, owner, ports: args.ports },
      { parent: this },
    );
    this.host = serviceHost(args.service, args.namespace.name);
    this.registerOutputs({ host: this.host });
  }
}
