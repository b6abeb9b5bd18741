import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { execProbe } from "../runtime/kubeSpecs";
import { SERVICE_PORTS } from "../runtime/ports";
import { postgresCommand } from "./postgresServer";
import { PostgresServer } from "../runtime/context";
import { KubeNamespace } from "../runtime/kubernetes";
import { KubeStore } from "./kubeStore";
import { adminProvider, SUPERUSER } from "./postgres";

/**
 * The postgres image's entrypoint starts as root, prepares the data directory and drops to
 * uid and gid 999 (docker-library/postgres, 15/bookworm/Dockerfile and docker-entrypoint.sh).
 */
const POSTGRES_USER = { uid: 999, gid: 999 };
const DATA_MOUNT = "/var/lib/postgresql/data";

export interface KubePostgresArgs {
  /** The data namespace. */
  namespace: KubeNamespace;
  /** The image reference from config. */
  image: string;
  /** Memory limit in MB. Required: its default is config's. */
  memoryMb: number;
  /** The volume's size in GB and its storage class (the cluster's default when unset). */
  storage: { storageGb: number; storageClass?: string };
  /** The superuser's password from `platform:secrets`. @default generated */
  password?: string;
  /** The server's `max_connections`; a change restarts Postgres. Required: its default is config's. */
  maxConnections: number;
  /**
   * Where the machine running Pulumi reaches the server: `kubectl port-forward` to its Service
   * on loopback, or a TLS endpoint in front of it. Required: its default is config's.
   */
  admin: {
    host: string;
    port: number;
    sslMode: "disable" | "verify-ca" | "verify-full";
    sslRootCert?: string;
  };
}

/**
 * Postgres 15 as a StatefulSet in the data namespace, with a Postgres provider pointed at the
 * admin endpoint for the roles and databases that tenants and Temporal need. The provider
 * connects only once the pod is ready, and only through `admin`: see docs/kubernetes.md for the
 * port-forward.
 */
export class KubePostgres extends pulumi.ComponentResource implements PostgresServer {
  public readonly host: string;
  public readonly port = SERVICE_PORTS.postgres;
  public readonly superuser = SUPERUSER;
  public readonly image: string;
  public readonly password: pulumi.Output<string>;
  public readonly store: KubeStore;
  public readonly provider: postgresql.Provider;

  constructor(name: string, args: KubePostgresArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:data:KubePostgres", name, {}, opts);
    this.image = args.image;
    this.store = new KubeStore(
      name,
      {
        namespace: args.namespace,
        service: "postgres",
        image: args.image,
        ports: [{ name: "postgres", port: this.port }],
        password: args.password,
        secretEnv: (password) => ({ POSTGRES_PASSWORD: password }),
        // A volume's root holds lost+found, where initdb refuses to start; a subdirectory does
        // not (docker-library/docs, postgres/content.md, PGDATA).
        env: { PGDATA: `${DATA_MOUNT}/pgdata` },
        args: postgresCommand(args.maxConnections),
        // Over TCP: the socket answers during initdb, before Postgres listens on the network.
        readinessProbe: execProbe(["pg_isready", "-h", "127.0.0.1", "-U", SUPERUSER]),
        memoryMb: args.memoryMb,
        volume: { mountPath: DATA_MOUNT, ...args.storage },
        user: { mode: "drops", ...POSTGRES_USER },
      },
      { parent: this },
    );
    this.host = this.store.host;
    this.password = this.store.password;
    this.provider = adminProvider(
      `${name}-admin`,
      {
        host: args.admin.host,
        port: args.admin.port,
        username: SUPERUSER,
        password: this.password,
        sslmode: args.admin.sslMode,
        sslrootcert: args.admin.sslRootCert,
        superuser: true,
      },
      { parent: this, dependsOn: [this.store.statefulSet] },
    );
    this.registerOutputs({ host: this.host, password: this.password });
  }
}
