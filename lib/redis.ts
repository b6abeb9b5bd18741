/**
 * Redis with one ACL user per tenant, confined to the tenant's own keys and channels, and the
 * `default` user (whose password is the operator's) for the platform alone. Facts from redis/redis
 * 7.4 (checked against Debian's redis-server 7.0 in the tests):
 * - users made with `ACL SETUSER` live in memory; `ACL SAVE` writes them to the `aclfile`, which
 *   is read at start, and Redis refuses to start when that file is missing (src/acl.c,
 *   `ACLLoadUsersAtStartup`);
 * - with an aclfile, `requirepass` is ignored (redis.conf: "requirepass is not compatible with
 *   aclfile"): the file's `user default` line decides, and an aclfile without one leaves `default`
 *   open without a password. So the server's start script writes that line from `REDIS_PASSWORD`
 *   each time, which also makes a rotated password take effect.
 */

/** Where the users are kept: on Redis's data volume, beside its append-only file. */
export const REDIS_ACL_FILE = "/data/users.acl";

/**
 * What a tenant's user may do: any command on keys and channels that start with `<tenant>:`,
 * except the dangerous ones (FLUSHALL, FLUSHDB, KEYS, CONFIG, ACL, DEBUG, MONITOR, CLIENT, ...:
 * `ACL CAT dangerous`), scripts (SCRIPT FLUSH and FUNCTION FLUSH are not key-scoped), and the
 * commands that show other tenants' key names or switch to another database.
 */
export const TENANT_COMMAND_RULES = [
  "+@all",
  "-@dangerous",
  "-@scripting",
  "-select",
  "-scan",

  "-randomkey",
  "-dbsize",
] as const;

/** The ACL user of a tenant, which is also the prefix of its keys (`<user>:`). */
export function redisUserOf(tenantId: string): string {
  if (!/^[a-z0-9-]+$/.test(tenantId)) {
    throw new Error(`Redis user ${JSON.stringify(tenantId)} must be a slug`);
  }
  return tenantId;
}

/**
 * redis-server's start, for `sh -c` in the Redis image: the aclfile with a `default` line for
 * `$REDIS_PASSWORD` (its SHA-256, as Redis keeps it), then the server. The password stays in
 * the environment, out of the command line and state.
 */
export function redisServerScript(options: { maxMemoryMb: number; aclFile?: string }): string {
  const aclFile = options.aclFile ?? REDIS_ACL_FILE;
  return [
    "set -e",
    `acl=${aclFile}`,
    'touch "$acl"',
    `hash=$(printf '%s' "$REDIS_PASSWORD" | sha256sum | cut -d ' ' -f 1)`,
    `grep -v '^user default ' "$acl" > "$acl.start" || true`,
    `echo "user default on #$hash ~* &* +@all" >> "$acl.start"`,
    'mv "$acl.start" "$acl"',
    // At the memory limit Redis refuses writes (noeviction) instead of being OOM-killed or
    // silently dropping keys.
    `exec redis-server --aclfile "$acl" --appendonly yes --maxmemory ${options.maxMemoryMb}mb --maxmemory-policy noeviction`,
  ].join("\n");
}

/** The environment of a tenant's user job. */
export interface RedisUserJobEnv {
  /** The `default` user's password, which `redis-cli` reads from here. */
  REDISCLI_AUTH: string;
  REDIS_USER: string;
  /** The tenant user's password: only its SHA-256 reaches Redis. */
  TENANT_PASSWORD: string;
}

/**
 * A tenant's user job, for `sh -c` in the Redis image: creates or resets the user (`reset` first,
 * so running it again leaves exactly these rules and this password) and saves every user to the
 * aclfile. Commands go through stdin, never argv, where `ps` on the host would show them; the
 * job fails unless Redis answered OK to both.
 */
export function redisUserScript(server: { host: string; port: number }): string {
  const rules = TENANT_COMMAND_RULES.join(" ");
  return [
    "set -e",
    `hash=$(printf '%s' "$TENANT_PASSWORD" | sha256sum | cut -d ' ' -f 1)`,
    `reply=$(printf 'ACL SETUSER %s reset on #%s ~%s:* &%s:* ${rules}\\nACL SAVE\\n' "$REDIS_USER" "$hash" "$REDIS_USER" "$REDIS_USER" | redis-cli -h ${server.host} -p ${server.port} 2>&1)`,
    `if [ "$(printf '%s\\n' "$reply" | grep -c '^OK$')" != 2 ]; then`,
    `  echo "Redis did not accept the user $REDIS_USER:"; printf '%s\\n' "$reply"; exit 1`,
    "fi",
    'echo "Redis user $REDIS_USER is set and saved"',
  ].join("\n");
}
