import * as docker from "@pulumi/docker";
import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { SERVICE_PORTS } from "../runtime/ports";
import { HealthCheck, healthCheck } from "../runtime/healthchecks";
import * as tls from "@pulumi/tls";
import { GATEWAY_HEALTH_PORT, gatewayScript, relayHealthCheck } from "../runtime/haproxy";
import {
  jwks,
  jwksServerConfig,
  signToken,
  TemporalClaims,
  temporalAuthEnv,
  temporalStartScript,
  TEMPORAL_KEYS,
  POSTGRES_SCHEMA_ROOT,
  TEMPORAL_CONNECTION_LIMIT,
  temporalPoolEnv,
  temporalSchemaScript,
  TemporalSchemaEnv,
} from "./temporalServer";
import {
  dataOptions,
  JOB_MINUTES,
  PlatformContext,
  PostgresServer,
  RunScript,
  secretOrGenerated,
  SharedServiceArgs,
  waitFor,
} from "../runtime/context";
import {
  dockerScriptRunner,
  ScriptJobSpec,
  secretEnv,
  serviceContainer,
  sharedServiceSpec,
  stackContainerSpec,
  tenantJobSpec,
} from "../runtime/docker";
import { Postgres } from "./postgres";

/** Where Temporal's frontend answers on the platform network: its alias and gRPC port. */
export const TEMPORAL_ENDPOINT = { host: "temporal", port: SERVICE_PORTS.temporal } as const;

/** Temporal's databases: history and the SQL visibility store. */
export const TEMPORAL_DATABASES = { main: "temporal", visibility: "temporal_visibility" } as const;

/**
 * Temporal binds its frontend to the container's own address, not to loopback; the server and
 * auto-setup images ship tctl (temporalio/docker-builds, server.Dockerfile).
 */
function temporalCheck(): HealthCheck {
  return healthCheck(
    [
      "CMD-SHELL",
      `tctl --address "$(hostname -i):${TEMPORAL_ENDPOINT.port}" cluster health | grep -q SERVING`,
    ],
    90,
  );
}

/**
 * Temporal's role on Postgres, which owns its two databases and nothing else (no CREATEDB: the
 * provider creates the databases), with CONNECT revoked from PUBLIC on both.
 */
export function temporalStore(
  name: string,
  context: Pick<PlatformContext, "environment">,
  password: pulumi.Input<string>,
  sql: { parent: pulumi.Resource; provider: postgresql.Provider },
): { role: postgresql.Role; databases: postgresql.Database[] } {
  const role = new postgresql.Role(
    `${name}-role`,
    {
      name: "temporal",
      login: true,
      password,
      createDatabase: false,
      createRole: false,
      superuser: false,
      connectionLimit: TEMPORAL_CONNECTION_LIMIT,
    },
    { ...sql, ...dataOptions(context, { protect: false }) },
  );
  // auto-setup skips creating the database named like its user ("the PostgreSQL container
  // itself will create database": docker/auto-setup.sh, setup_postgres_schema), and this
  // Postgres's superuser is `postgres`: the provider creates both databases, and the server
  // sets SKIP_DB_CREATE so that auto-setup (in dev) does not try `CREATE DATABASE` without
  // CREATEDB for the other one.
  const databases = Object.entries(TEMPORAL_DATABASES).map(([key, database]) => {
    const db = new postgresql.Database(
      `${name}-db-${key}`,
      { name: database, owner: role.name },
      { ...sql, ...dataOptions(context, { protect: true }) },
    );
    // No other role (a tenant's, say) may even open Temporal's databases.
    new postgresql.Grant(
      `${name}-db-${key}-revoke-public`,
      { database: db.name, role: "public", objectType: "database", privileges: [] },
      sql,
    );
    return db;
  });
  return { role, databases };
}

/** What signs a Temporal's tokens, on either runtime. */
export interface TemporalSigner {
  /** Replacing it revokes every token (every holder gets a new one). */
  key: tls.PrivateKey;
  /** The JWKS the server verifies with (public), as served. */
  jwks: pulumi.Output<string>;
  /** A token of `claims` (secret). */
  token(claims: TemporalClaims): pulumi.Output<string>;
}

/** The signing key of a Temporal and what it gives (see components/data/temporalServer.ts). */
export function temporalSigner(name: string, parent: pulumi.Resource): TemporalSigner {
  const key = new tls.PrivateKey(
    `${name}-signing-key`,
    { algorithm: "RSA", rsaBits: 2048 },
    { parent },
  );
  return {
    key,
    jwks: key.publicKeyPem.apply((pem) => JSON.stringify(jwks(pem))),
    token: (claims) =>
      pulumi.secret(
        pulumi
          .all([key.privateKeyPem, key.publicKeyPem])
          .apply(([privateKey, publicKey]) => signToken(claims, privateKey, publicKey)),
      ),
  };
}

/**
 * What a Temporal is on either runtime before its server runs: its role's password, its role and
 * databases, its signer, and, beside a server image, the job (run by `run`) that keeps the schema,
 * whose gate the server waits for.
 */
export function temporalFoundation(
  name: string,
  parent: pulumi.Resource,
  args: {
    environment: PlatformContext["environment"];
    postgres: PostgresServer;
    password?: string;
    adminToolsImage?: pulumi.Input<string>;
    run: RunScript;
    /** What the schema job waits for besides the role and databases. */
    dependsOn: pulumi.Resource[];
    /** temporal-sql-tool's TLS settings, for a Postgres outside the platform. @default none */
    toolEnv?: Record<string, string>;
  },
) {
  const { postgres } = args;
  const password = secretOrGenerated(`${name}-password`, args.password, parent);
  const { role, databases } = temporalStore(name, args, password, {
    parent,
    provider: postgres.provider,
  });
  const signer = temporalSigner(name, parent);
  const ready = [...args.dependsOn, role, ...databases];
  if (args.adminToolsImage === undefined)
    return { password, role, databases, signer, ready, schemaReady: [] };
  const env: Record<keyof TemporalSchemaEnv, pulumi.Input<string>> = {
    SQL_HOST: postgres.host,
    SQL_PORT: String(postgres.port),
    SQL_USER: role.name,
    SQL_PASSWORD: password,
    DBNAME: TEMPORAL_DATABASES.main,
    VISIBILITY_DBNAME: TEMPORAL_DATABASES.visibility,
    SCHEMA_ROOT: POSTGRES_SCHEMA_ROOT,
  };
  const schema = args.run(
    `${name}-schema`,
    {
      job: "temporal-schema",
      image: args.adminToolsImage,
      memoryMb: 256,
      script: temporalSchemaScript(),
      env: { ...env, ...args.toolEnv },
      description: "Temporal's schema job",
      secrets: [password],
      // An upgrade's schema steps rewrite tables that grow with the workflows' history.
      maxMinutes: JOB_MINUTES.data,
    },
    { parent, dependsOn: ready },
  );
  return { password, role, databases, signer, ready, schemaReady: [schema.succeeded] };
}

/** The server's settings on either runtime, but its password, TLS and authorization. */
export function temporalServerEnv(
  postgres: { host: string; port: number },
  user: pulumi.Input<string>,
) {
  return {
    DB: "postgres12",
    // auto-setup defaults DB_PORT to 3306 (temporalio/docker-builds, docker/auto-setup.sh).
    DB_PORT: String(postgres.port),
    POSTGRES_SEEDS: postgres.host,
    POSTGRES_USER: user,
    DBNAME: TEMPORAL_DATABASES.main,
    VISIBILITY_DBNAME: TEMPORAL_DATABASES.visibility,
    // Read by auto-setup only: the databases are the provider's. With an authorizer its
    // default namespace and search attributes, which it adds through the frontend without
    // a token, would be refused (docker/auto-setup.sh); tenants have namespaces of their own.
    SKIP_DB_CREATE: "true",
    SKIP_DEFAULT_NAMESPACE_CREATION: "true",
    SKIP_ADD_CUSTOM_SEARCH_ATTRIBUTES: "true",
  };
}

/** The JWKS server's command: HAProxy answering the document (see `jwksServerConfig`). */
export function jwksServerScript(document: string): string {
  return gatewayScript(jwksServerConfig(document, GATEWAY_HEALTH_PORT));
}

/** Image: `temporalio/server`, or `temporalio/auto-setup` in dev. Password: its Postgres role's. */
export interface TemporalArgs extends SharedServiceArgs {
  /** The Postgres that stores Temporal's state, under a role of its own. */
  postgres: Postgres;
  /**
   * Image id of `temporalio/admin-tools` at the server's version, whose temporal-sql-tool keeps
   * the schema before the server starts. @default none: the image is auto-setup, which keeps its
   * schema itself at every start
   */
  adminToolsImage?: pulumi.Input<string>;
  /** What serves the JWKS Temporal verifies tokens with: the relays' HAProxy image and its memory. */
  keys: { image: pulumi.Input<string>; memoryMb: number };
  /**
   * The port the server serves Prometheus on (`PROMETHEUS_ENDPOINT`, which the image's
   * config_template.yaml turns into `global.metrics.prometheus`: temporalio/temporal v1.22.4).
   * @default none (no metrics)
   */
  metricsPort?: number;
}

/**
 * Temporal on the platform's Postgres, under a role that owns its two databases and nothing
 * else (no CREATEDB: the provider creates the databases). With an admin-tools image, a one-shot
 * job sets up and upgrades the schema before the server (re)starts: it runs again whenever the
 * admin-tools image (the Temporal version) changes, and the server waits for its success.
 * auto-setup (dev) does the same itself at every start. Every call needs a token this component
 * signs (see components/data/temporalServer.ts): a tenant's gateway holds the tenant's, the platform's jobs their
 * own; the JWKS is served on the data network, the server's own workers use its internal
 * frontend, and cross-namespace commands are off.
 */
export class Temporal extends pulumi.ComponentResource {
  public readonly endpoint = TEMPORAL_ENDPOINT;
  /** `temporal:7233`, the form of Dittofeed's `TEMPORAL_ADDRESS`. */
  public readonly address = `${TEMPORAL_ENDPOINT.host}:${TEMPORAL_ENDPOINT.port}`;
  /** The image id whose `tctl` tenants' jobs use to talk to this Temporal. */
  public readonly toolsImage: pulumi.Input<string>;
  public readonly databases: postgresql.Database[];
  public readonly container: docker.Container;
  /** Signs every token. */
  public readonly signer: TemporalSigner;
  /** Serves the JWKS on the data network, which the server fetches at start and every minute. */
  public readonly keys: docker.Container;

  constructor(name: string, args: TemporalArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:data:Temporal", name, {}, opts);
    const { context, postgres } = args;
    this.toolsImage = args.adminToolsImage ?? args.image;

    const { password, role, databases, signer, ready, schemaReady } = temporalFoundation(
      name,
      this,
      {
        ...args,
        environment: context.environment,
        run: dockerScriptRunner(context),
        dependsOn: [postgres.container],
      },
    );
    this.databases = databases;
    this.signer = signer;
    this.keys = serviceContainer(
      `${name}-keys`,
      {
        ...stackContainerSpec(context, { ...args.keys, name: "temporal-keys" }),
        aliases: [TEMPORAL_KEYS.alias],
        entrypoint: ["sh", "-c"],
        // The public half only: nothing secret in the command.
        command: [signer.jwks.apply(jwksServerScript)],
        healthcheck: relayHealthCheck(),
      },
      { parent: this },
    );

    this.container = serviceContainer(
      name,
      {
        ...sharedServiceSpec("temporal", TEMPORAL_ENDPOINT.host, args),
        env: secretEnv({
          ...temporalServerEnv(postgres, role.name),
          POSTGRES_PWD: password,
          // Within the role's connection limit.
          ...temporalPoolEnv(),
          ...temporalAuthEnv(),
          ...(args.metricsPort === undefined
            ? {}
            : { PROMETHEUS_ENDPOINT: `0.0.0.0:${args.metricsPort}` }),
        }),
        entrypoint: ["bash", "-c"],
        command: [temporalStartScript(args.adminToolsImage === undefined)],
        healthcheck: temporalCheck(),
        waitTimeoutSeconds: 300,
      },
      { parent: this, dependsOn: waitFor([...ready, this.keys], schemaReady) },
    );
    this.registerOutputs({ address: this.address });
  }

  /** A token of `claims` (secret), signed with this Temporal's key. */
  token(claims: TemporalClaims): pulumi.Output<string> {
    return this.signer.token(claims);
  }

  /**
   * What a tenant's job that talks to this Temporal with `tctl` has alike: `<stack>_<tenant>.
   * <service>` on the tenant's own network (`context`), the image whose tctl matches the server,
   * little memory.
   */
  tctlJobSpec(
    context: PlatformContext,
    tenantId: string,
    service: string,
  ): Omit<ScriptJobSpec, "script" | "env"> {
    return tenantJobSpec(context, tenantId, {
      name: service,
      image: this.toolsImage,
      memoryMb: 128,
    });
  }
}
