/**
 * Connection URLs with percent-encoded userinfo. Generated or operator-supplied passwords may
 * contain `+ / = @ : # ? %`; interpolating them raw into a URL breaks parsing or, worse, points the
 * client at the wrong host.
 */
function userinfo(user: string, password: string): string {
  return `${encodeURIComponent(user)}:${encodeURIComponent(password)}`;
}

export interface PostgresEndpoint {
  user: string;
  password: string;
  host: string;
  port: number;
  database: string;
  /** TLS that checks the server's certificate, for a server outside the platform. @default none */
  sslMode?: "verify-full";
}

export function postgresUrl(endpoint: PostgresEndpoint): string {
  const { user, password, host, port, database, sslMode } = endpoint;
  const url = `postgresql://${userinfo(user, password)}@${host}:${port}/${encodeURIComponent(database)}`;
  return sslMode === undefined ? url : `${url}?sslmode=${sslMode}`;
}

export interface RedisEndpoint {
  /** An ACL user: a tenant's own (see components/data/redisServer.ts), never `default`. */
  user: string;
  password: string;
  host: string;
  port: number;
}

/** Redis 6+ ACL form: `redis://<user>:<password>@<host>:<port>`. */
export function redisUrl(endpoint: RedisEndpoint): string {
  const { user, password, host, port } = endpoint;
  return `redis://${userinfo(user, password)}@${host}:${port}`;
}

export function httpUrl(host: string, port: number): string {
  return `http://${host}:${port}`;
}

/** A tenant's public hostname: one label under the zone, which Universal SSL covers. */
export function publicHostname(hostname: string, domain: string): string {
  return `${hostname}.${domain}`;
}

/** The origin of a public hostname, which Cloudflare serves over TLS. */
export function httpsOrigin(hostname: string): string {
  return `https://${hostname}`;
}
