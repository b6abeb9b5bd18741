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
 * except the dangerous ones (`ACL CAT dangerous`: FLUSHALL, FLUSHDB, KEYS, CONFIG, ACL, DEBUG,
 * MONITOR, and of CLIENT only its KILL, LIST, PAUSE, UNPAUSE, UNBLOCK and NO-EVICT), scripts
 * (SCRIPT FLUSH and FUNCTION FLUSH are not key-scoped), and what shows another tenant's names
 * or outgrows the memory limit. Names: SCAN, RANDOMKEY and DBSIZE; CLIENT TRACKING, whose BCAST
 * mode sends invalidations of every tenant's keys whatever the ACL (redis 7.0.15 and 7.4.1,
 * src/tracking.c checks none) and whose REDIRECT injects them into another tenant's connection;
 * PUBSUB, which lists and counts every channel (src/pubsub.c; channel rules apply only to the
 * commands in src/db.c `commands_with_channels`); MEMORY STATS, which counts every key. Memory:
 * MULTI, whose EXEC is checked against `maxmemory` once, before any of its commands runs
 * (src/server.c `processCommand`), so a transaction of many writes grows Redis far past it; and
 * for the same reason the commands that build a value as large as their sources from a short
 * request (COPY, the *STORE set, sorted-set and geo commands, BITOP; SORT is `@dangerous`).
 * Subcommands named here exist in Redis 7.0 (an unknown one stops the server at start).
 */
export const TENANT_COMMAND_RULES = [
  "+@all",
  "-@dangerous",
  "-@scripting",
  "-select",
  "-scan",
  "-randomkey",
  "-dbsize",
  "-client|tracking",
  "-pubsub",
  "-memory|stats",
  "-multi",
  "-copy",
  "-sunionstore",
  "-sinterstore",
  "-sdiffstore",
  "-zunionstore",
  "-zinterstore",
  "-zdiffstore",
  "-zrangestore",
  "-georadius",
  "-georadiusbymember",
  "-geosearchstore",
  "-bitop",
] as const;

/**
 * Where Redis keeps its data, its users and its start count: the image's working directory and
 * volume (docker-library/redis, 7.4/alpine/Dockerfile: `VOLUME /data`, `WORKDIR /data`).
 */
export const REDIS_DATA_DIR = "/data";

/**
 * Bounds on what one client can make Redis hold besides `maxmemory`: a string that SETRANGE,
 * APPEND or SETBIT grows (up to `proto-max-bulk-len`, 512 MB by default, whatever `maxmemory`
 * says: src/t_string.c `checkStringLength`; 1 MB is the least Redis accepts, src/config.c),
 * replies a client does not read (`client-output-buffer-limit`, none for normal clients by
 * default), and a request it has not finished (`client-query-buffer-limit`, 1 GB by default).
 */
const CLIENT_BOUNDS = [
  "--proto-max-bulk-len 1mb",
  "--client-output-buffer-limit 'normal 16mb 4mb 30'",
  "--client-query-buffer-limit 8mb",
];

/**
 * The virtual memory a trial load of the data may take: the container's limit and room for the
 * server's own reservations. Data that fits `maxmemory` (three quarters of the limit) loads
 * within it; data that does not never would.
 */
function trialCapKb(memoryMb: number): number {
  return (memoryMb + 256) * 1024;
}

/** The ACL user of a tenant, which is also the prefix of its keys (`<user>:`). */
export function redisUserOf(tenantId: string): string {
  if (!/^[a-z0-9-]+$/.test(tenantId)) {
    throw new Error(`Redis user ${JSON.stringify(tenantId)} must be a slug`);
  }
  return tenantId;
}

/**
 * redis-server's start, for `sh -c` in the Redis image: the aclfile with a `default` line for
 * `$REDIS_PASSWORD` (its SHA-256, as Redis keeps it), then the server, within `memoryMb` (the
 * container's limit; Redis's own `maxmemory` is three quarters of it). The password stays in
 * the environment, out of the command line and state.
 *
 * A start that never answered (see `redisHealthCommand`, which clears the count) loads the data
 * once aside first, under a virtual-memory cap: the append-only file replays every command
 * without checking `maxmemory` or `proto-max-bulk-len` (src/server.c `mustObeyClient` for the
 * AOF client, src/aof.c `loadSingleAppendOnlyFile`), so data that outgrew the limit would be
 * killed at every start. Data that does not load is moved aside, named in the log, and Redis
 * starts empty (Dittofeed v0.23.0 keeps nothing there: its config.ts reads no Redis setting).
 */
export function redisServerScript(options: {
  memoryMb: number;
  aclFile?: string;
  dataDir?: string;
}): string {
  const aclFile = options.aclFile ?? REDIS_ACL_FILE;
  const data = options.dataDir ?? REDIS_DATA_DIR;
  const capKb = trialCapKb(options.memoryMb);
  return [
    "set -e",
    `acl=${aclFile}`,
    `data=${data}`,
    'touch "$acl"',
    `hash=$(printf '%s' "$REDIS_PASSWORD" | sha256sum | cut -d ' ' -f 1)`,
    `grep -v '^user default ' "$acl" > "$acl.start" || true`,
    `echo "user default on #$hash ~* &* +@all" >> "$acl.start"`,
    'mv "$acl.start" "$acl"',
    'attempts=$(cat "$data/.start-attempts" 2>/dev/null || true)',
    'case "$attempts" in "" | *[!0-9]*) attempts=0 ;; esac',
    'echo $((attempts + 1)) > "$data/.start-attempts"',
    'if [ "$attempts" -gt 0 ] && [ -d "$data/appendonlydir" ]; then',
    `  echo "redis: the last start never answered: loading the data aside first, within ${capKb} KiB"`,
    '  trial="$data/.trial"',
    '  rm -rf "$trial" && mkdir -p "$trial" && cp -R "$data/appendonlydir" "$trial/"',
    `  ( ulimit -v ${capKb}; exec redis-server --port 0 --unixsocket "$trial/redis.sock" --dir "$trial" --appendonly yes --save '' ) > "$trial/log" 2>&1 &`,
    "  pid=$!",
    "  loaded=no",
    '  while kill -0 "$pid" 2>/dev/null; do',
    '    if redis-cli -s "$trial/redis.sock" ping 2>/dev/null | grep -q PONG; then loaded=yes; break; fi',
    "    sleep 1",
    "  done",
    '  if [ "$loaded" = yes ]; then',
    '    redis-cli -s "$trial/redis.sock" shutdown nosave >/dev/null 2>&1 || true',
    '    wait "$pid" || true',
    "  else",
    '    aside="$data/appendonlydir.unloadable-$(date +%Y%m%dT%H%M%S)"',
    '    mv "$data/appendonlydir" "$aside"',
    `    echo "redis: the data does not load within ${capKb} KiB ($(tail -n 1 "$trial/log")): moved to $aside; Redis starts empty"`,
    "  fi",
    '  rm -rf "$trial"',
    "fi",
    // At the memory limit Redis refuses writes (noeviction) instead of being OOM-killed or
    // silently dropping keys. No RDB snapshots: the append-only file is the data.
    `exec redis-server --aclfile "$acl" --appendonly yes --save '' --maxmemory ${Math.floor(options.memoryMb * 0.75)}mb --maxmemory-policy noeviction ${CLIENT_BOUNDS.join(" ")}`,
  ].join("\n");
}

/** Healthy once Redis answers PONG (a NOAUTH reply is not); that clears the start count. */
export function redisHealthCommand(dataDir = REDIS_DATA_DIR): string {
  return `redis-cli -h 127.0.0.1 ping | grep -q PONG && rm -f ${dataDir}/.start-attempts`;
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
