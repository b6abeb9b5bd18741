import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { parse as parsePgConnectionString } from "pg-connection-string";
import { postgresUrl, redisUrl } from "../lib/urls";

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
