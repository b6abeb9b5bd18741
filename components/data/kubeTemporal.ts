import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { Environment } from "../runtime/environments";
import { execProbe, httpProbe, serviceHost } from "../runtime/kubeSpecs";
import { SERVICE_PORTS } from "../runtime/ports";
import {
  temporalAuthEnv,
  TemporalClaims,
  TEMPORAL_KEYS,
  temporalPoolEnv,
  temporalSqlTlsEnv,
  temporalStartScript,
} from "./temporalServer";
import { GATEWAY_HEALTH_PATH, GATEWAY_HEALTH_PORT } from "../runtime/haproxy";
import { PostgresServer, RunScript, waitFor } from "../runtime/context";
import { deployment, envSecret, KubeNamespace, service } from "../runtime/kubernetes";
import {
  jwksServerScript,
  temporalFoundation,
  temporalServerEnv,
  TemporalSigner,
} from "./temporal";

export interface KubeTemporalArgs {
  /** The stack's environment. */
  environment: Environment;
  /** The data namespace. */
  namespace: KubeNamespace;
  /** `temporalio/server`, or `temporalio/auto-setup` in dev: the reference from config. */
  image: string;
  /** `temporalio/admin-tools` at the server's version, beside a server image. @default none (auto-setup) */
  adminToolsImage?: string;
  /** Memory limit in MB. Required: its default is config's. */
  memoryMb: number;
  /** The Postgres that stores Temporal's state, under a role of its own. */
  postgres: PostgresServer;
  /** Runs the schema job in the data namespace. */
  run: RunScript;
  /** The role's password from `platform:secrets`. @default generated */
  password?: string;
  /** What serves the JWKS: the relays' HAProxy image (`platform:gateway.image`) and its memory. */
  keys: { image: string; memoryMb: number };
}

/**
 * Temporal on Kubernetes: the same role, databases and schema job as on Docker (see `Temporal`),
 * then one server pod, recreated rather than rolled (one history shard owner at a time), behind
 * the Service `temporal`. Ringpop needs each server's own address: it binds all interfaces and
 * broadcasts the pod's IP (temporal v1.22.4, common/membership/ringpop/service_resolver.go).
 */
export class KubeTemporal extends pulumi.ComponentResource {
  /** `temporal.<namespace>.svc:7233`, the form of Dittofeed's `TEMPORAL_ADDRESS`. */
  public readonly address: string;
  public readonly endpoint: { host: string; port: number };
  /** The image whose `tctl` tenants' jobs use. */
  public readonly toolsImage: string;
  public readonly databases: postgresql.Database[];
  public readonly server: pulumi.Resource;
  /** Signs every token (see `Temporal`). */
  public readonly signer: TemporalSigner;

  constructor(name: string, args: KubeTemporalArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:data:KubeTemporal", name, {}, opts);
    const { postgres } = args;
    this.endpoint = {
      host: serviceHost("temporal", args.namespace.name),
      port: SERVICE_PORTS.temporal,
    };
    this.address = `${this.endpoint.host}:${this.endpoint.port}`;
    this.toolsImage = args.adminToolsImage ?? args.image;
    const tls = postgres.sslMode ? temporalSqlTlsEnv(postgres.host) : undefined;
    const { password, role, databases, signer, ready, schemaReady } = temporalFoundation(
      name,
      this,
      { ...args, dependsOn: [], toolEnv: tls?.tool },
    );
    this.databases = databases;
    // The JWKS, served in the data namespace as on Docker (see `Temporal`).
    this.signer = signer;
    const keysOwner = { service: TEMPORAL_KEYS.alias };
    const keys = deployment(
      `${name}-keys`,
      {
        namespace: args.namespace,
        owner: keysOwner,
        replicas: 1,
        serving: true,
        container: {
          image: args.keys.image,
          command: ["sh", "-c"],
          args: [this.signer.jwks.apply(jwksServerScript)],
          memoryMb: args.keys.memoryMb,
          ports: [{ name: "keys", port: TEMPORAL_KEYS.port }],
          readinessProbe: httpProbe(GATEWAY_HEALTH_PORT, GATEWAY_HEALTH_PATH),
        },
      },
      { parent: this },
    );
    service(
      `${name}-keys-service`,
      {
        namespace: args.namespace,
        owner: keysOwner,
        ports: [{ name: "keys", port: TEMPORAL_KEYS.port }],
      },
      { parent: this },
    );

    const owner = { service: "temporal" };
    const secret = envSecret(
      `${name}-env`,
      { namespace: args.namespace, owner, values: { POSTGRES_PWD: password } },
      { parent: this },
    );
    this.server = deployment(
      name,
      {
        namespace: args.namespace,
        owner,
        replicas: 1,
        serving: false,
        container: {
          image: args.image,
          env: {
            ...temporalServerEnv(postgres, role.name),
            BIND_ON_IP: "0.0.0.0",
            // Within the role's connection limit.
            ...temporalPoolEnv(),
            ...temporalAuthEnv(serviceHost(TEMPORAL_KEYS.alias, args.namespace.name)),
            ...tls?.server,
            ...tls?.tool,
          },
          fieldEnv: { TEMPORAL_BROADCAST_ADDRESS: "status.podIP" },
          command: ["bash", "-c"],
          args: [temporalStartScript(args.adminToolsImage === undefined)],
          secret,
          memoryMb: args.memoryMb,
          ports: [{ name: "frontend", port: this.endpoint.port }],
          // tctl ships in the server and auto-setup images (temporalio/docker-builds, server.Dockerfile).
          readinessProbe: execProbe([
            "sh",
            "-c",
            `tctl --address 127.0.0.1:${this.endpoint.port} cluster health | grep -q SERVING`,
          ]),
        },
      },
      { parent: this, dependsOn: waitFor([...ready, keys], schemaReady) },
    );
    service(
      `${name}-service`,
      { namespace: args.namespace, owner, ports: [{ name: "frontend", port: this.endpoint.port }] },
      { parent: this },
    );
    this.registerOutputs({ address: this.address });
  }

  /** A token of `claims` (secret), signed with this Temporal's key. */
  token(claims: TemporalClaims): pulumi.Output<string> {
    return this.signer.token(claims);
  }
}
