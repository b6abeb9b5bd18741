/**
 * The ports the shared services listen on, whatever runs them: their images' defaults
 * (postgres, redis, clickhouse-server's HTTP and native protocols, Temporal's frontend).
 */
export const SERVICE_PORTS = {
  postgres: 5432,
  redis: 6379,
  clickhouseHttp: 8123,
  clickhouseNative: 9000,
  temporal: 7233,
} as const;
