/**
 * A tenant's relays: the only containers on both the tenant's own network and the stack's data
 * network. Each relays fixed TCP ports and nothing else, so no network joins two tenants:
 * - its gateway lets the tenant reach the shared services under the names its apps already use;
 * - its front (one per release of its api and dashboard) lets the tunnel reach that release,
 *   and answers healthy only while both of the release's roles answer their health paths.
 * Both are HAProxy in TCP mode (image `haproxy:2.6-alpine`, docker-library/haproxy
 * `2.6/alpine/Dockerfile`: busybox `sh` and `wget`, runs as the unprivileged user `haproxy`,
 * `/tmp` writable, `STOPSIGNAL SIGUSR1`: a graceful stop, which takes no new connections and lets
 * open ones finish until `hard-stop-after`).
 */
import { HealthCheck, wgetCheck } from "./healthchecks";
import { retryScript } from "./retry";

/**
 * The second alias of a shared service on the data network, which only gateways use. A gateway
 * answers to the plain alias (`postgres`) on its tenant's network; asked for that alias, Docker's
 * DNS could give it its own address, so it relays to this one.
 */
export function sharedAlias(alias: string): string {
  return `shared-${alias}`;
}

/** A port the gateway listens on, and where it relays each connection. */
export interface Relay {
  /** The listener's name in HAProxy's config: a letter, then letters, digits, `-`, `_`. */
  name: string;
  port: number;
  /** A network alias that the gateway alone resolves on the far network, and its port. */
  upstream: { host: string; port: number };
  /**
   * An HTTP path on the upstream that answers 2xx when it serves. With it, once HAProxy has
   * checked the upstream, it sends it no connection while that path does not answer, and the
   * relay's health answers 503 meanwhile.
   * @default none: the upstream is relayed to whatever its state
   */
  healthPath?: string;
  /**
   * A host HAProxy relays to only while `upstream` is down: a `backup` server, checked on the
   * same path (HAProxy 2.6, configuration.txt, `backup`). A front made before its release runs
   * relays to the tenant's running release meanwhile. Needs `healthPath`. @default none
   */
  fallback?: string;
  /**
   * The relay speaks to Postgres and lets through only sessions of this role (see
   * `postgresStartupRules`). @default none: any bytes are relayed
   */
  postgresRole?: string;
  /**
   * The relay speaks gRPC (HTTP/2 in clear, both sides) and sends every call on with
   * `authorization: Bearer $<variable>`, from the gateway's environment, in place of any the
   * client sent (see `bearerRules`). @default none: any bytes are relayed
   */
  bearerFrom?: string;
  /**
   * The relay speaks HTTP/1.1 (a front's, which the tunnel's connector sends requests to): HAProxy
   * then counts each response by status class and times it, and the health port also serves
   * those counts to Prometheus at `/metrics`. @default false: bytes are relayed (TCP)
   */
  http?: boolean;
}

/** A shared service as a tenant reaches it: the alias its apps use, and the port. */
export interface SharedEndpoint {
  host: string;
  port: number;
  /** For Postgres: the one role the tenant may log in as through its gateway. @default any */
  postgresRole?: string;
  /** For Temporal: the variable holding the tenant's token (see `Relay.bearerFrom`). @default none */
  bearerFrom?: string;
}

/** The bytes as HAProxy's `hex` converter prints them: upper case. */
function hex(text: string): string {
  return Buffer.from(text, "utf8").toString("hex").toUpperCase();
}

/**
 * A gRPC relay that holds the caller's credentials itself: HTTP/2 in clear on both sides
 * (HAProxy 2.6, doc/configuration.txt: `proto h2` on a bind and on a server; trailers, which gRPC
 * status travels in, pass between two H2 sides), and on every request the `authorization` header
 * set from the environment, which removes any the client sent (`http-request set-header`), and
 * Temporal's `authorization-extras` removed. HAProxy reads `${VAR}` inside double quotes from its
 * environment when it loads the config, so the token is never in the config or the command.
 */
function bearerRules(variable: string): string[] {
  if (!/^[A-Z][A-Z0-9_]*$/.test(variable)) throw new Error(`${variable} is not a variable name`);
  return [
    "    mode http",
    "    option httplog",
    "    http-request del-header authorization-extras",
    `    http-request set-header authorization "Bearer \${${variable}}"`,
  ];
}

/**
 * HAProxy rules that let a Postgres connection through only when its first message is a whole
 * StartupMessage of protocol 3.0 whose every `user` parameter is `role`, or a CancelRequest
 * (PostgreSQL 15, doc/src/sgml/protocol.sgml, "Message Formats": an Int32 length that counts
 * itself, an Int32 code, then NUL-terminated names and values; 80877103 asks for SSL, 80877104
 * for GSSAPI, 80877102 cancels). Without it, every tenant could try the superuser's or Temporal's
 * password through its gateway. An SSL or GSSAPI request is refused, so no later, unread startup
 * message follows: the platform's Postgres speaks neither, and libpq then tries again in plain
 * text (`sslmode=prefer`). A later `user` overrides an earlier one (src/backend/postmaster/
 * postmaster.c, ProcessStartupPacket), so every one must be the role. `req.payload_lv(0,4,0)`
 * is the whole message once it has arrived; the hex pairs keep the match on byte boundaries.
 */
function postgresStartupRules(role: string): string[] {
  if (!/^[a-z_][a-z0-9_]*$/.test(role))
    throw new Error(`Postgres role ${JSON.stringify(role)} is not a plain name`);
  const user = hex("\0user\0");
  const message = "req.payload_lv(0,4,0),hex";
  return [
    "    tcp-request inspect-delay 10s",
    "    tcp-request content accept if { req.payload(4,4) -m bin 04D2162E }",
    "    tcp-request content reject unless { req.payload(4,4) -m bin 00030000 }",
    `    tcp-request content reject if { ${message} -m reg ^(..)*?${user}(?!${hex(role)}00) }`,
    `    tcp-request content accept if { ${message} -m reg ^(..)*?${user}${hex(role)}00 }`,
    "    tcp-request content reject",
  ];
}

/**
 * The relays of a tenant's gateway: each shared service under its own alias and port, towards its
 * data-network alias.
 */
export function sharedRelays(shared: readonly SharedEndpoint[]): Relay[] {
  return shared.map(({ host, port, postgresRole, bearerFrom }) => ({
    name: `${host}-${port}`,
    port,
    upstream: { host: sharedAlias(host), port },
    postgresRole,
    bearerFrom,
  }));
}

/** One serving role of one release of a tenant, as its front reaches it on the tenant's network. */
export interface ServingUpstream {
  role: string;
  port: number;
  /** The release's alias, e.g. `api-<tag>`: answered by that release's container alone. */
  host: string;
  /** The path that answers 2xx when the role serves, e.g. `/api`. */
  healthPath: string;
  /** The alias every release of the role answers to, relayed to while `host` does not serve. @default none */
  fallback?: string;
}

/**
 * The relays of a tenant's front: each serving role under its own port, towards the alias of the
 * one release the front was made for, health-checked.
 */
export function servingRelays(upstreams: readonly ServingUpstream[]): Relay[] {
  return upstreams.map(({ role, port, host, healthPath, fallback }) => ({
    name: role,
    port,
    upstream: { host, port },
    healthPath,
    fallback,
    http: true,
  }));
}

/**
 * An HTTP relay's own lines: its log is HAProxy's `httplog` without the query string, which
 * carries what an end user's links do (subscription hashes, tokens), and a request's headers must
 * arrive within 30 s (the client timeout, an hour, is for idle connections).
 */
const HTTP_RELAY = [
  "    mode http",
  '    log-format "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %HM %{+Q}HPO"',
  "    timeout http-request 30s",
];

/** Where a config with HTTP relays serves their counts, on the health port. */
export const GATEWAY_METRICS_PATH = "/metrics";

/** Where HAProxy answers Docker's health check: `GET /healthz` on this port. */
export const GATEWAY_HEALTH_PORT = 8404;
export const GATEWAY_HEALTH_PATH = "/healthz";

/** Docker's health check of a relay: busybox's wget, since the alpine image has no curl. */
export function relayHealthCheck(): HealthCheck {
  return wgetCheck(GATEWAY_HEALTH_PORT, GATEWAY_HEALTH_PATH, 10);
}

/** What relays and their checks accept as an upstream's name, and as an HTTP path. */
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9.-]*$/;
const PLAIN_PATH = /^\/[A-Za-z0-9/_.-]*$/;

/** Seconds between two HTTP checks of a checked upstream. */
const CHECK_EVERY_SECONDS = 2;

/** Docker's embedded DNS, which every container on a user-defined network asks. */
const DOCKER_DNS = "127.0.0.11:53";

/**
 * Seconds between two resolutions of an upstream's alias: a replaced container comes back with
 * another address, and until the gateway resolves again its connections fail.
 */
const RESOLVE_EVERY_SECONDS = 5;

/**
 * HAProxy's configuration for `relays`. Every upstream is resolved through Docker's DNS, again
 * every few seconds, and may be missing at start (`init-addr none`): HAProxy otherwise refuses to
 * start while an upstream is being replaced. Timeouts suit long-lived Postgres pools and
 * Temporal's gRPC streams. No `user`, `group` or `chroot`: the image already runs unprivileged.
 * A relay with a health path sends its upstream nothing while the path does not answer 2xx, and
 * while any such relay has no upstream up the health URI answers 503: Docker reports the relay
 * unhealthy and `pulumi up`, waiting for it, never routes to it. HAProxy 2.6 counts a checked
 * upstream up until its first check, within the first `CHECK_EVERY_SECONDS` (`init-state down`
 * came in 3.1); nothing reaches a new front that early: Docker's first probe comes after 10 s,
 * and the tunnel names the front only once its check job has passed.
 */
export function gatewayConfig(
  relays: readonly Relay[],
  healthPort: number = GATEWAY_HEALTH_PORT,
  /**
   * Where names are resolved: Docker's embedded DNS, again every few seconds (a replaced
   * container comes back with another address); or the C library, once at start, with the
   * resolver's search domains, for a Kubernetes Service's name, whose address lasts as long as
   * the Service does.
   */
  dns: "docker" | "libc" = "docker",
): string {
  const names = new Set<string>();
  const ports = new Set<number>([healthPort]);
  for (const relay of relays) {
    if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(relay.name) || names.has(relay.name)) {
      throw new Error(`Gateway relay name ${JSON.stringify(relay.name)} is invalid or repeated`);
    }
    if (ports.has(relay.port)) throw new Error(`Gateway port ${relay.port} is taken twice`);
    if (!HOST_NAME.test(relay.upstream.host)) {
      throw new Error(`Gateway upstream ${JSON.stringify(relay.upstream.host)} is not a host name`);
    }
    if (
      relay.fallback !== undefined &&
      (relay.healthPath === undefined || !HOST_NAME.test(relay.fallback))
    ) {
      throw new Error(
        `Gateway fallback ${JSON.stringify(relay.fallback)} is not a checked host name`,
      );
    }
    if (relay.healthPath !== undefined && !PLAIN_PATH.test(relay.healthPath)) {
      throw new Error(
        `Gateway health path ${JSON.stringify(relay.healthPath)} is not a plain path`,
      );
    }
    names.add(relay.name);
    ports.add(relay.port);
  }
  const checked = relays.filter((relay) => relay.healthPath !== undefined);
  const hold = ["valid", "other", "refused", "nx", "timeout", "obsolete"].map(
    (status) => `    hold ${status} ${RESOLVE_EVERY_SECONDS}s`,
  );
  return [
    "global",
    "    log stdout format raw local0",
    "    maxconn 4096",
    // On `docker stop` (SIGUSR1, the image's stop signal) HAProxy stops accepting connections at
    // once and lets open ones finish; those still open after this are cut, inside the stop grace
    // period (30 s, `ServiceSpec.stopGraceSeconds`) so that the relay, not Docker, ends them.
    "    hard-stop-after 25s",
    ...(dns === "docker"
      ? [
          "resolvers docker",
          `    nameserver dns ${DOCKER_DNS}`,
          "    resolve_retries 3",
          "    timeout resolve 1s",
          "    timeout retry 1s",
          ...hold,
          "    accepted_payload_size 8192",
        ]
      : []),
    "defaults",
    "    mode tcp",
    "    log global",
    "    option tcplog",
    "    option clitcpka",
    "    option srvtcpka",
    "    timeout connect 5s",
    "    timeout client 1h",
    "    timeout server 1h",
    "    timeout tunnel 1h",
    "    timeout client-fin 30s",
    "    timeout server-fin 30s",
    ...(dns === "docker"
      ? ["    default-server resolvers docker resolve-prefer ipv4 init-addr none"]
      : []),
    "frontend health",
    "    mode http",
    `    bind :${healthPort}`,
    "    timeout client 5s",
    `    monitor-uri ${GATEWAY_HEALTH_PATH}`,
    ...(checked.length === 0
      ? []
      : [`    monitor fail if ${checked.map((r) => `{ nbsrv(${r.name}) lt 1 }`).join(" || ")}`]),
    // HAProxy's own exporter (built in with USE_PROMEX=1: docker-library/haproxy
    // 2.6/alpine/Dockerfile, and Debian's 2.6.12), per relay: requests, responses by class,
    // response times, servers up (addons/promex/service-prometheus.c, v2.6.0).
    ...(relays.some((relay) => relay.http)
      ? [`    http-request use-service prometheus-exporter if { path ${GATEWAY_METRICS_PATH} }`]
      : []),
    ...relays.flatMap((relay) => [
      `listen ${relay.name}`,
      `    bind :${relay.port}${relay.bearerFrom === undefined ? "" : " proto h2"}`,
      ...(relay.http ? HTTP_RELAY : []),
      ...(relay.postgresRole === undefined ? [] : postgresStartupRules(relay.postgresRole)),
      ...(relay.bearerFrom === undefined ? [] : bearerRules(relay.bearerFrom)),
      ...(relay.healthPath === undefined
        ? [
            `    server ${relay.name} ${relay.upstream.host}:${relay.upstream.port}${relay.bearerFrom === undefined ? "" : " proto h2"}`,
          ]
        : [
            "    option httpchk",
            `    http-check send meth GET uri ${relay.healthPath} ver HTTP/1.1 hdr Host localhost`,
            "    http-check expect rstatus ^2",
            `    server ${relay.name} ${relay.upstream.host}:${relay.upstream.port} check inter ${CHECK_EVERY_SECONDS}s fall 2 rise 1`,
            ...(relay.fallback === undefined
              ? []
              : [
                  `    server ${relay.name}-fallback ${relay.fallback}:${relay.upstream.port} check inter ${CHECK_EVERY_SECONDS}s fall 2 rise 1 backup`,
                ]),
          ]),
    ]),
    "",
  ].join("\n");
}

/**
 * The gateway's command, for `sh -c`: writes the config (no secret in it, so a preview shows
 * every change) and becomes HAProxy. A bind mount would need the file on the Docker host, which
 * may be remote.
 */
export function gatewayScript(config: string, configFile = "/tmp/haproxy.cfg"): string {
  if (config.split("\n").includes("HAPROXY_CONFIG_END")) {
    throw new Error("Gateway config must not contain the heredoc's end marker");
  }
  // HAProxy would read an unset variable as empty: a relay would then send a token of nothing.
  const variables = [...new Set([...config.matchAll(/\$\{([A-Z][A-Z0-9_]*)\}/g)].map((m) => m[1]))];
  return [
    "set -e",
    ...variables.map(
      (v) =>
        `[ -n "\${${v}:-}" ] || { echo "${v} is empty: the gateway would relay without it"; exit 1; }`,
    ),
    `cat > ${configFile} <<'HAPROXY_CONFIG_END'`,
    config.endsWith("\n") ? config.slice(0, -1) : config,
    "HAPROXY_CONFIG_END",
    `exec haproxy -W -db -f ${configFile}`,
  ].join("\n");
}

/** A path a relay must answer 2xx on, on one of its ports. */
export interface RelayProbe {
  port: number;
  path: string;
}

/**
 * The condition (busybox `sh`, `timeout`, `wget`, `grep`) that `relay` of `host` relays to its
 * own upstream, not to its fallback: HAProxy's exporter counts the relay's non-backup servers up
 * as `haproxy_backend_active_servers{proxy="<relay>"}` (addons/promex/service-prometheus.c,
 * v2.6.0; measured on 2.6.12 in tests/gateway.test.ts).
 */
export function activeCondition(host: string, relay: string): string {
  if (!HOST_NAME.test(host) || !/^[A-Za-z][A-Za-z0-9_-]*$/.test(relay)) {
    throw new Error(
      `Relay ${JSON.stringify(relay)} of ${JSON.stringify(host)} is not a plain name`,
    );
  }
  return `timeout 5 wget -q -O - http://${host}:${GATEWAY_HEALTH_PORT}${GATEWAY_METRICS_PATH} | grep -q '^haproxy_backend_active_servers{proxy="${relay}"} [1-9]'`;
}

/**
 * A shell script (busybox `sh`, `timeout` and `wget`, as in the relay's image) that succeeds once `host`
 * answers its health URI and every probe through its relays (and, for each of `active`, that relay
 * relays to its own upstream: see `activeCondition`), trying every `intervalSeconds` up to
 * `attempts` times, and fails otherwise.
 */
export function relayCheckScript(
  host: string,
  probes: readonly RelayProbe[],
  active: readonly string[] = [],
  attempts = 30,
  intervalSeconds = 2,
): string {
  if (!HOST_NAME.test(host)) {
    throw new Error(`Relay check host ${JSON.stringify(host)} is not a host name`);
  }
  const urls = [
    `http://${host}:${GATEWAY_HEALTH_PORT}${GATEWAY_HEALTH_PATH}`,
    ...probes.map(({ port, path }) => {
      if (!PLAIN_PATH.test(path)) {
        throw new Error(`Relay check path ${JSON.stringify(path)} is not a plain path`);
      }
      return `http://${host}:${port}${path}`;
    }),
  ];
  const relaying = active.length === 0 ? "" : ` through ${active.join(" and ")}'s own upstream`;
  return retryScript({
    // busybox's `timeout`, not wget's own `-T`, which crashes Debian's busybox 1.35.
    condition: [
      ...active.map((relay) => activeCondition(host, relay)),
      ...urls.map((url) => `timeout 5 wget -q -O /dev/null ${url}`),
    ].join(" && "),
    success: `${host} serves${relaying}`,
    failure: `${host} did not serve ${urls.join(", ")}${relaying} within ${attempts * intervalSeconds} s`,
    attempts,
    intervalSeconds,
  });
}
