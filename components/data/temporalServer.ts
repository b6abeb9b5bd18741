/**
 * Temporal as plain data: the namespaces it keeps for itself, and the scripts that tenants' jobs
 * run with the `tctl` its server images ship (tctl v1.18.0 in temporalio/auto-setup:1.22.4 and
 * temporalio/server:1.22.4, per temporalio/docker-builds' server.Dockerfile on release/v1.22.x).
 *
 * tctl facts the scripts rely on (temporalio/tctl v1.18.0, cli_curr/): global flags come before
 * the command; the address comes from `TEMPORAL_CLI_ADDRESS`; errors go to stdout with exit code
 * 1; `namespace register` on an existing namespace prints "Namespace already exists." (the
 * server's NamespaceAlreadyExists); a bare retention number is days; no command used here prompts.
 */

import { createHash, createPublicKey, sign } from "node:crypto";
import { imageParts } from "../runtime/images";

/**
 * Namespaces Temporal creates itself (`temporal-system` for its own workflows, `default` by
 * auto-setup). A tenant's namespace is its id, so these ids are refused.
 */
export const RESERVED_NAMESPACES = ["default", "temporal-system"] as const;

/**
 * A tenant's Temporal namespace: its id, or `<id>-gen<n>` from its second generation on.
 * Offboarding deprecates a namespace, and Temporal never takes a deprecated namespace back
 * (temporalio/temporal v1.22.4, service/frontend/namespace_handler.go, validateStateUpdate: from
 * DEPRECATED only DELETED is allowed), so a tenant brought back gets the next generation.
 */
export function tenantNamespace(tenantId: string, generation = 1): string {
  return generation === 1 ? tenantId : `${tenantId}-gen${generation}`;
}

/**
 * Whether an image is Temporal's auto-setup, which sets up its schema (and the `default`
 * namespace) itself at every start, so the platform runs no schema job beside it.
 */
export function isAutoSetupImage(ref: string): boolean {
  return imageParts(ref).repository.endsWith("temporalio/auto-setup");
}

/**
 * The services the Temporal server runs: the four of `DefaultServices` (temporalio/temporal
 * v1.22.4, temporal/server.go) and the internal frontend, which its own system workers call once
 * an authorizer is on (common/resource/fx.go routes them to it; temporal/fx.go gives it no claim
 * mapper, so it admits them). Each service has connection pools of its own to both stores
 * (common/resource/fx.go gives each service's fx app its own persistence factory). The images'
 * start script passes `SERVICES` as `--service` flags (temporalio/docker-builds,
 * release/v1.22.x, docker/start-temporal.sh).
 */
export const TEMPORAL_SERVICE_NAMES = [
  "frontend",
  "internal-frontend",
  "history",
  "matching",
  "worker",
] as const;
export const TEMPORAL_SERVICES = TEMPORAL_SERVICE_NAMES.length;

/**
 * Each service's pool sizes, set through the variables of the images' config template
 * (temporalio/temporal v1.22.4, docker/config_template.yaml: `maxConns: SQL_MAX_CONNS` (20 when
 * unset) for the default store and `SQL_VIS_MAX_CONNS` (10) for visibility), smaller than those
 * defaults: one host's Postgres serves every tenant besides Temporal.
 */
export const TEMPORAL_SQL_POOL = { main: 10, visibility: 5 } as const;

/** The pool settings as the server's environment; idle connections are capped alike. */
export function temporalPoolEnv(): Record<string, string> {
  const { main, visibility } = TEMPORAL_SQL_POOL;
  return {
    SQL_MAX_CONNS: String(main),
    SQL_MAX_IDLE_CONNS: String(main),
    SQL_VIS_MAX_CONNS: String(visibility),
    SQL_VIS_MAX_IDLE_CONNS: String(visibility),
  };
}

/**
 * Temporal's role's connection limit: every service's pools full, and two for the schema tool
 * (temporal-sql-tool, which auto-setup also runs at its start).
 */
export const TEMPORAL_CONNECTION_LIMIT =
  TEMPORAL_SERVICES * (TEMPORAL_SQL_POOL.main + TEMPORAL_SQL_POOL.visibility) + 2;

/** The task queue Dittofeed v0.23.0's worker polls unless `TASK_QUEUE` says otherwise. */
export const DEFAULT_TASK_QUEUE = "default";

/**
 * The environment the namespace script reads. The values are plain: the script carries no
 * secret, and a job's command line is stored in plain text.
 */
export interface NamespaceJobEnv {
  /** Temporal's frontend, `host:port`. */
  TEMPORAL_CLI_ADDRESS: string;
  NAMESPACE: string;
  /** Days a closed workflow's history is kept. */
  RETENTION_DAYS: string;
  /** The queue whose description proves a frontend knows the namespace. */
  TASK_QUEUE: string;
  /** How long to wait for a frontend to know a just-registered namespace. */
  WAIT_SECONDS: string;
}

/**
 * Registers the namespace, or brings an existing one's retention to the configured value; then
 * waits until a frontend answers for it. Frontends learn of a new namespace from a cache that is
 * refreshed every few seconds, and until then Dittofeed's bootstrap (which starts workflows)
 * and workers would meet "Namespace ... is not found".
 */
export function namespaceScript(): string {
  return [
    "set -u",
    'out=$(tctl --namespace "$NAMESPACE" namespace register --retention "$RETENTION_DAYS" 2>&1)',
    "status=$?",
    'printf "%s\\n" "$out"',
    'if [ "$status" -ne 0 ]; then',
    '  case "$out" in',
    '    *"Namespace already exists"*)',
    // An offboarded tenant's namespace is deprecated for good (see `tenantNamespace`): no new
    // workflow starts there. tctl v1.18.0 prints `State: <state>` (cli_curr/namespaceCommands.go).
    '      if tctl --namespace "$NAMESPACE" namespace describe 2>&1 | grep -Eq "^State: (Deprecated|NAMESPACE_STATE_DEPRECATED)"; then',
    '        echo "Namespace $NAMESPACE was deprecated when its tenant was offboarded, and Temporal never takes a deprecated namespace back: raise the tenant\'s namespaceGeneration in platform:tenants"',
    "        exit 1",
    "      fi",
    '      tctl --namespace "$NAMESPACE" namespace update --retention "$RETENTION_DAYS" || exit 1 ;;',
    '    *) exit "$status" ;;',
    "  esac",
    "fi",
    "waited=0",
    'until tctl --namespace "$NAMESPACE" taskqueue describe --taskqueue "$TASK_QUEUE" >/dev/null 2>&1; do',
    '  if [ "$waited" -ge "$WAIT_SECONDS" ]; then',
    '    echo "Namespace $NAMESPACE is registered, but no Temporal frontend knows it after ${WAIT_SECONDS}s"',
    "    exit 1",
    "  fi",
    "  sleep 1",
    "  waited=$((waited + 1))",
    "done",
    'echo "Namespace $NAMESPACE is ready"',
  ].join("\n");
}

/** The environment the worker check reads. */
export interface WorkerCheckEnv {
  /** Temporal's frontend, `host:port`. */
  TEMPORAL_CLI_ADDRESS: string;
  NAMESPACE: string;
  TASK_QUEUE: string;
  /** The hostnames of the tenant's worker containers, space-separated. */
  WORKERS: string;
  /** How long to wait for every worker's poll. */
  WAIT_SECONDS: string;
}

/**
 * Proves that each worker container polls the tenant's task queue: a container that is up is
 * not yet a worker that works (a wrong namespace or task queue leaves it idle or crash-looping
 * between health checks). `tctl taskqueue describe` lists pollers as `<pid>@<hostname> | <last
 * access, RFC 3339>` under a header whose cells carry colour codes (tctl v1.18.0,
 * cli_curr/taskQueueCommands.go); Temporal's TypeScript SDK names a worker `<pid>@<hostname>`
 * by default, which Dittofeed v0.23.0 keeps (packages/worker/src/buildWorker.ts sets no
 * identity). A poll must have arrived since the check started, so the record of a replaced
 * container with the same hostname does not count; idle workers re-poll at least once a minute.
 */
export function workerCheckScript(): string {
  return [
    "set -u",
    "since=$(date -u +%Y-%m-%dT%H:%M:%SZ)",
    // Wall-clock seconds, not loops: each loop's tctl call takes time of its own.
    "start=$(date +%s)",
    "while :; do",
    '  out=$(tctl --namespace "$NAMESPACE" taskqueue describe --taskqueue "$TASK_QUEUE" 2>&1)',
    '  missing=""',
    "  for host in $WORKERS; do",
    '    seen=$(printf "%s\\n" "$out" | awk -F"|" -v host="$host" -v since="$since" \'',
    '      { id = $1; at = $2; gsub(/^[ \\t]+|[ \\t]+$/, "", id); gsub(/^[ \\t]+|[ \\t]+$/, "", at)',
    '        n = split(id, part, "@"); if (n >= 2 && part[n] == host && at >= since) seen = 1 }',
    '      END { print seen ? "yes" : "no" }\')',
    '    [ "$seen" = yes ] || missing="$missing $host"',
    "  done",
    '  if [ -z "$missing" ]; then',
    '    echo "Every worker of namespace $NAMESPACE polls task queue $TASK_QUEUE"',
    "    exit 0",
    "  fi",
    '  if [ $(($(date +%s) - start)) -ge "$WAIT_SECONDS" ]; then',
    '    echo "No poll of task queue $TASK_QUEUE in namespace $NAMESPACE since $since from:$missing. What Temporal reports:"',
    '    printf "%s\\n" "$out"',
    "    exit 1",
    "  fi",
    "  sleep 1",
    "done",
  ].join("\n");
}

/** The environment the Temporal schema script reads; `SQL_PASSWORD` is temporal-sql-tool's own. */
export interface TemporalSchemaEnv {
  SQL_HOST: string;
  SQL_PORT: string;
  SQL_USER: string;
  SQL_PASSWORD: string;
  DBNAME: string;
  VISIBILITY_DBNAME: string;
  /** Where the admin-tools image keeps the PostgreSQL 12+ schemas. */
  SCHEMA_ROOT: string;
}

/** The PostgreSQL 12+ schemas in temporalio/admin-tools (`/etc/temporal/schema`). */
export const POSTGRES_SCHEMA_ROOT = "/etc/temporal/schema/postgresql/v12";

/**
 * Sets up and upgrades Temporal's two databases, as auto-setup does it (temporalio/docker-builds,
 * docker/auto-setup.sh, `setup_postgres_schema`, for `DB=postgres12`): `setup-schema -v 0.0`
 * (a no-op once a version is recorded) then `update-schema` to the newest version the image
 * ships. The databases themselves are the postgresql provider's. The password reaches
 * temporal-sql-tool through `SQL_PASSWORD` (temporal v1.22.4, tools/sql/main.go), never a
 * command line.
 */
export function temporalSchemaScript(): string {
  return [
    "set -eu",
    'for target in "$DBNAME:temporal" "$VISIBILITY_DBNAME:visibility"; do',
    '  db="${target%%:*}"',
    '  schema="${target#*:}"',
    '  echo "Temporal schema of database $db"',
    '  temporal-sql-tool --plugin postgres --ep "$SQL_HOST" -p "$SQL_PORT" -u "$SQL_USER" --db "$db" setup-schema -v 0.0',
    '  temporal-sql-tool --plugin postgres --ep "$SQL_HOST" -p "$SQL_PORT" -u "$SQL_USER" --db "$db" update-schema -d "$SCHEMA_ROOT/$schema/versioned"',
    "done",
  ].join("\n");
}

/** The environment the deprecation reads. */
export interface DeprecateNamespaceEnv {
  /** Temporal's frontend, `host:port`. */
  TEMPORAL_ADDRESS: string;
  NAMESPACE: string;
  /** `Bearer <JWT>` of the namespace's admin (see `namespaceAdminClaims`); empty: none sent. */
  TEMPORAL_AUTHORIZATION: string;
}

/**
 * Node, run in Dittofeed's admin-cli image (WORKDIR /service; `@temporalio/client` 1.11.6 from
 * backend-lib's dependencies, dittofeed v0.23.0 packages/backend-lib/package.json): sets the
 * namespace's state to DEPRECATED (2, temporal.api.enums.v1.NamespaceState), after which Temporal
 * starts no new workflow there. Neither tctl v1.18.0 nor the `temporal` CLI of the 1.22.4 images
 * can set a namespace's state; the server's UpdateNamespace can (temporalio/temporal v1.22.4,
 * service/frontend/namespace_handler.go), and does nothing for one already deprecated. A namespace
 * that does not exist (gRPC NOT_FOUND, 5) has nothing to deprecate. No single quote in it: the
 * shell carries it inside single quotes.
 */
export const DEPRECATE_NAMESPACE_JS = [
  `const { Connection } = require(require.resolve("@temporalio/client", { paths: ["./packages/backend-lib", "."] }));`,
  `const ns = process.env.NAMESPACE;`,
  `const DEPRECATED = 2;`,
  `(async () => {`,
  `  const auth = process.env.TEMPORAL_AUTHORIZATION;`,
  `  const c = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS, metadata: auth ? { authorization: auth } : {} });`,
  `  try {`,
  `    await c.workflowService.updateNamespace({ namespace: ns, updateInfo: { state: DEPRECATED } });`,
  `  } catch (e) {`,
  `    if (e && e.code === 5) { console.log("Namespace " + ns + " does not exist: nothing to deprecate"); return c.close(); }`,
  `    throw e;`,
  `  }`,
  `  const r = await c.workflowService.describeNamespace({ namespace: ns });`,
  `  const state = r.namespaceInfo && r.namespaceInfo.state;`,
  `  if (state !== DEPRECATED) throw new Error("Namespace " + ns + " is in state " + state + " after the update, not deprecated");`,
  `  console.log("Namespace " + ns + " is deprecated: no new workflow starts there");`,
  `  await c.close();`,
  `})().catch((e) => { console.error("Deprecating namespace " + ns + " failed: " + ((e && e.message) || e)); process.exit(1); });`,
].join("\n");

export function deprecateNamespaceScript(): string {
  return `exec node -e '${DEPRECATE_NAMESPACE_JS}'`;
}

/**
 * What Temporal needs to reach a Postgres outside the platform over TLS, for the server and for
 * temporal-sql-tool, which read different variables (temporal v1.22.4: docker/config_template.yaml
 * `SQL_TLS_ENABLED`, `SQL_HOST_VERIFICATION`, `SQL_HOST_NAME`; tools/sql/main.go `SQL_TLS`,
 * `SQL_TLS_DISABLE_HOST_VERIFICATION`, `SQL_TLS_SERVER_NAME`). Without a CA file both verify
 * against the image's system certificates, and only with the host's name checked.
 */
export function temporalSqlTlsEnv(host: string): {
  server: Record<string, string>;
  tool: Record<string, string>;
} {
  // Without host verification the server asks for `sslmode=require`, which lib/pq does not verify.
  return {
    server: { SQL_TLS_ENABLED: "true", SQL_HOST_VERIFICATION: "true", SQL_HOST_NAME: host },
    tool: {
      SQL_TLS: "true",
      SQL_TLS_DISABLE_HOST_VERIFICATION: "false",
      SQL_TLS_SERVER_NAME: host,
    },
  };
}

/**
 * Temporal's authorization, and what each caller may do. Temporal 1.22.4 authorizes nothing by
 * default: any client that reaches the frontend may list namespaces, read another namespace's
 * histories or terminate its workflows. With its default authorizer and claim mapper (docker/
 * config_template.yaml: `TEMPORAL_AUTH_AUTHORIZER`, `TEMPORAL_AUTH_CLAIM_MAPPER`,
 * `TEMPORAL_JWT_KEY_SOURCE1`), every call carries `authorization: Bearer <JWT>`, signed RS256
 * with a key whose JWKS the server fetches over HTTP (common/authorization/
 * default_token_key_provider.go: `http.Get`, RSA with RS256, keys by `kid`), and whose
 * `permissions` claim lists `<namespace>:<read|write|worker|admin>` (default_jwt_claim_mapper.go;
 * `temporal-system:admin` would be every namespace's admin). The namespace of a call is the
 * request's own (authorization/interceptor.go), so a token of one namespace opens no other.
 * Dittofeed's clients send no token (@temporalio/* 1.11.6): a tenant's gateway adds its own,
 * replacing any the client sent.
 */
export interface TemporalClaims {
  /** Who holds it, for Temporal's logs. */
  sub: string;
  permissions: string[];
}

/** What a tenant's apps may do in its own namespace, and nowhere else. */
export function tenantClaims(tenantId: string, namespace: string): TemporalClaims {
  return { sub: `tenant:${tenantId}`, permissions: [`${namespace}:write`] };
}

/** What the platform's jobs for a tenant may do: register, update and deprecate its namespace. */
export function namespaceAdminClaims(namespace: string): TemporalClaims {
  return { sub: `platform:namespace:${namespace}`, permissions: [`${namespace}:admin`] };
}

const base64url = (value: string | Buffer) => Buffer.from(value).toString("base64url");

/** The key's id in the JWKS and in every token's header: a digest of its public half. */
export function keyId(publicKeyPem: string): string {
  return createHash("sha256").update(publicKeyPem.trim()).digest("hex").slice(0, 16);
}

/**
 * A JWT of `claims`, RS256-signed with `privateKeyPem`. PKCS#1 v1.5 signatures are deterministic:
 * the same claims and key give the same token, so a deploy changes no token it need not. No
 * `exp`: Temporal checks one only when present (golang-jwt v4 `MapClaims.Valid`); a token is
 * revoked by a new key (replacing the signing key) or by the gateway that holds it being removed.
 */
export function signToken(
  claims: TemporalClaims,
  privateKeyPem: string,
  publicKeyPem: string,
): string {
  const header = base64url(JSON.stringify({ alg: "RS256", typ: "JWT", kid: keyId(publicKeyPem) }));
  const payload = base64url(JSON.stringify(claims));
  const signature = sign("RSA-SHA256", Buffer.from(`${header}.${payload}`), privateKeyPem);
  return `${header}.${payload}.${base64url(signature)}`;
}

/** The JWKS Temporal fetches: the public half of the signing key. */
export function jwks(publicKeyPem: string): { keys: Record<string, string>[] } {
  const jwk = createPublicKey(publicKeyPem).export({ format: "jwk" }) as Record<string, string>;
  return {
    keys: [
      { kty: jwk.kty, n: jwk.n, e: jwk.e, kid: keyId(publicKeyPem), alg: "RS256", use: "sig" },
    ],
  };
}

/** Where the JWKS is served on the data network (see `jwksServerConfig`). */
export const TEMPORAL_KEYS = { alias: "temporal-keys", port: 8080, path: "/jwks.json" } as const;

/**
 * HAProxy's configuration for the JWKS: the document answered from the config itself (HAProxy 2.6
 * `http-request return ... string`), so no file and no other image. The JWKS holds only
 * base64url and JSON punctuation: no single quote ends the string early.
 */
export function jwksServerConfig(document: string, healthPort: number): string {
  if (document.includes("'")) throw new Error("The JWKS must not contain a single quote");
  return [
    "global",
    "    log stdout format raw local0",
    "defaults",
    "    mode http",
    "    timeout connect 5s",
    "    timeout client 10s",
    "    timeout server 10s",
    "frontend keys",
    `    bind :${TEMPORAL_KEYS.port}`,
    `    bind :${healthPort}`,
    "    monitor-uri /healthz",
    `    http-request return status 200 content-type application/json string '${document}' if { path ${TEMPORAL_KEYS.path} }`,
    "    http-request return status 404",
    "",
  ].join("\n");
}

/**
 * The Temporal server's environment for authorization: the default authorizer and claim mapper,
 * the JWKS on the data network, and the internal frontend for the server's own system workers
 * (config_template.yaml: `USE_INTERNAL_FRONTEND`, which also drops `publicClient`).
 */
export function temporalAuthEnv(keysHost: string = TEMPORAL_KEYS.alias): Record<string, string> {
  return {
    TEMPORAL_AUTH_AUTHORIZER: "default",
    TEMPORAL_AUTH_CLAIM_MAPPER: "default",
    TEMPORAL_JWT_KEY_SOURCE1: `http://${keysHost}:${TEMPORAL_KEYS.port}${TEMPORAL_KEYS.path}`,
    TEMPORAL_JWT_KEY_REFRESH: "1m",
    USE_INTERNAL_FRONTEND: "true",
    SERVICES: TEMPORAL_SERVICE_NAMES.join(":"),
    DYNAMIC_CONFIG_FILE_PATH: TEMPORAL_DYNAMIC_CONFIG,
  };
}

/** Where the server's start script writes its dynamic config. */
const TEMPORAL_DYNAMIC_CONFIG = "/tmp/platform-dynamicconfig.yaml";

/**
 * The server's command, for `bash -c` (the images' entrypoint is bash): writes the dynamic config
 * and starts the server as the image would (temporalio/docker-builds, release/v1.22.x:
 * `ENTRYPOINT ["/etc/temporal/entrypoint.sh"]`, auto-setup's `CMD ["autosetup"]`). Cross-namespace
 * commands (a child workflow, a signal or a cancel aimed at another namespace) never pass the
 * frontend's authorizer: history checks them alone (service/history/command_checker.go,
 * `validateCrossNamespaceCall`), and `system.enableCrossNamespaceCommands` defaults to true
 * (service/history/configs/config.go). Dittofeed's workflows stay in their own namespace.
 */
export function temporalStartScript(autoSetup: boolean): string {
  return [
    "set -e",
    `cat > ${TEMPORAL_DYNAMIC_CONFIG} <<'DYNAMIC_CONFIG_END'`,
    "system.enableCrossNamespaceCommands:",
    "  - value: false",
    "DYNAMIC_CONFIG_END",
    `exec /etc/temporal/entrypoint.sh${autoSetup ? " autosetup" : ""}`,
  ].join("\n");
}
