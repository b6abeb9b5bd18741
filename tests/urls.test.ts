import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { parse as parsePgConnectionString } from "pg-connection-string";
import { postgresUrl, redisUrl } from "../components/runtime/urls";

const printableAscii = fc.string({
  unit: fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code)),
  minLength: 1,
  maxLength: 64,
});

/** Dittofeed re-serialises DATABASE_URL through WHATWG URL, then hands it to pg. */
function asDittofeedSeesIt(url: string) {
  const parsed = new URL(url);
  parsed.search = new URLSearchParams({ sslmode: "disable" }).toString();
  return parsePgConnectionString(parsed.toString());
}

test("DATABASE_URL round-trips any printable-ASCII user and password through Dittofeed's parsing", () => {
  fc.assert(
    fc.property(printableAscii, printableAscii, (user, password) => {
      const url = postgresUrl({
        user,
        password,
        host: "postgres",
        port: 5432,
        database: "dittofeed_acme",
      });
      const seen = asDittofeedSeesIt(url);
      assert.equal(seen.user, user);
      assert.equal(seen.password, password);
      assert.equal(seen.host, "postgres");
      assert.equal(seen.port, "5432");
      assert.equal(seen.database, "dittofeed_acme");
    }),
    { numRuns: 2000 },
  );
});

test("the characters that broke hand-built URLs are encoded", () => {
  const url = postgresUrl({
    user: "u",
    password: "a+b/c=d@e:f#g?h%i",
    host: "h",
    port: 1,
    database: "d",
  });
  assert.equal(url, "postgresql://u:a%2Bb%2Fc%3Dd%40e%3Af%23g%3Fh%25i@h:1/d");
});

test("REDIS_URL round-trips any printable-ASCII password", () => {
  fc.assert(
    fc.property(printableAscii, (password) => {
      const parsed = new URL(redisUrl({ user: "acme-eu", password, host: "redis", port: 6379 }));
      assert.equal(decodeURIComponent(parsed.password), password);
      assert.equal(decodeURIComponent(parsed.username), "acme-eu");
      assert.equal(parsed.hostname, "redis");
      assert.equal(parsed.port, "6379");
    }),
    { numRuns: 2000 },
  );
});

/**
 * How Dittofeed reads a DATABASE_URL that carries parameters (dittofeed v0.23.0,
 * packages/backend-lib/src/config.ts `parseDatabaseUrl`): it keeps them, adding its own
 * `connect_timeout`; `databaseUrlWithoutName` (the bootstrap's CREATE DATABASE) only swaps the
 * path. node-postgres then parses it (pg-connection-string: any `sslmode` but `disable` and
 * `no-verify` gives `ssl: {}`, which verifies the chain and the host; read at 2.7.0, the version
 * Dittofeed v0.23.0 locks, and run here at the installed one).
 */
function asDittofeedKeepsIt(url: string) {
  const parsed = new URL(url);
  parsed.search = new URLSearchParams({
    connect_timeout: "60",
    ...Object.fromEntries(parsed.searchParams),
  }).toString();
  const withoutName = new URL(parsed.toString());
  withoutName.pathname = "postgres";
  return [parsed, withoutName].map((u) => parsePgConnectionString(u.toString()));
}

test("a managed Postgres's DATABASE_URL keeps full TLS verification through Dittofeed's parsing", () => {
  const endpoint = {
    user: "dittofeed_acme",
    password: "p+/=@:#?%&x",
    host: "db.example.net",
    port: 5432,
    database: "dittofeed_acme",
  };
  for (const seen of asDittofeedKeepsIt(postgresUrl({ ...endpoint, sslMode: "verify-full" }))) {
    assert.deepEqual(seen.ssl, {});
    assert.equal(seen.host, "db.example.net");
    assert.equal(seen.password, endpoint.password);
  }
  // Inside the platform's own network: no TLS at all.
  for (const seen of asDittofeedKeepsIt(postgresUrl(endpoint))) assert.equal(seen.ssl, undefined);
});
