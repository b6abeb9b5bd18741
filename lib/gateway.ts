/**
 * A tenant's gateway: the one container on both the tenant's own network and the stack's data
 * network. It relays fixed TCP ports and nothing else, so a tenant reaches the shared services
 * under the names its apps already use, and the tunnel reaches the tenant's api and dashboard,
 * while no network joins two tenants. It is HAProxy in TCP mode (image `haproxy:2.6-alpine`,
 * docker-library/haproxy `2.6/alpine/Dockerfile`: busybox `sh` and `wget`, runs as the
 * unprivileged user `haproxy`, `/tmp` writable).
 */

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
}

/** A shared service as a tenant reaches it: the alias its apps use, and the port. */
export interface SharedEndpoint {
  host: string;
  port: number;
}

/**
 * The relays of a tenant's gateway: each shared service under its own alias and port, towards its
 * data-network alias; each serving role of the tenant under its port, towards the role's alias on
 * the tenant's network (`api`), which nothing on the data network answers to.
 */
export function gatewayRelays(
  shared: readonly SharedEndpoint[],
  serving: readonly { role: string; port: number }[],
): Relay[] {
  return [
    ...shared.map(({ host, port }) => ({
      name: `${host}-${port}`,
      port,
      upstream: { host: sharedAlias(host), port },
    })),
    ...serving.map(({ role, port }) => ({ name: role, port, upstream: { host: role, port } })),
  ];
}

/** Where HAProxy answers Docker's health check: `GET /healthz` on this port. */
export const GATEWAY_HEALTH_PORT = 8404;
export const GATEWAY_HEALTH_PATH = "/healthz";

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
 */
export function gatewayConfig(
  relays: readonly Relay[],
  healthPort: number = GATEWAY_HEALTH_PORT,
): string {
  const names = new Set<string>();
  const ports = new Set<number>([healthPort]);
  for (const relay of relays) {
    if (!/^[A-Za-z][A-Za-z0-9_-]*$/.test(relay.name) || names.has(relay.name)) {
      throw new Error(`Gateway relay name ${JSON.stringify(relay.name)} is invalid or repeated`);
    }
    if (ports.has(relay.port)) throw new Error(`Gateway port ${relay.port} is taken twice`);
    if (!/^[A-Za-z0-9][A-Za-z0-9.-]*$/.test(relay.upstream.host)) {
      throw new Error(`Gateway upstream ${JSON.stringify(relay.upstream.host)} is not a host name`);
    }
    names.add(relay.name);
    ports.add(relay.port);
  }
  const hold = ["valid", "other", "refused", "nx", "timeout", "obsolete"].map(
    (status) => `    hold ${status} ${RESOLVE_EVERY_SECONDS}s`,
  );
  return [
    "global",
    "    log stdout format raw local0",
    "    maxconn 4096",
    // Long timeouts would hold `docker stop` until Docker kills the container.
    "    hard-stop-after 10s",
    "resolvers docker",
    `    nameserver dns ${DOCKER_DNS}`,
    "    resolve_retries 3",
    "    timeout resolve 1s",
    "    timeout retry 1s",
    ...hold,
    "    accepted_payload_size 8192",
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
    "    default-server resolvers docker resolve-prefer ipv4 init-addr none",
    "frontend health",
    "    mode http",
    `    bind :${healthPort}`,
    "    timeout client 5s",
    `    monitor-uri ${GATEWAY_HEALTH_PATH}`,
    ...relays.flatMap((relay) => [
      `listen ${relay.name}`,
      `    bind :${relay.port}`,
      `    server ${relay.name} ${relay.upstream.host}:${relay.upstream.port}`,
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
  return [
    "set -e",
    `cat > ${configFile} <<'HAPROXY_CONFIG_END'`,
    config.endsWith("\n") ? config.slice(0, -1) : config,
    "HAPROXY_CONFIG_END",
    `exec haproxy -W -db -f ${configFile}`,
  ].join("\n");
}
