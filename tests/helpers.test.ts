import assert from "node:assert/strict";
import fc from "fast-check";
import { test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { dockerCpus } from "../components/runtime/docker";
import { tenantAccessScript } from "../components/data/clickhouseServer";
import {
  assertJobSucceeded,
  JobFailedError,
  secretEnv,
  serviceContainerArgs,
} from "../components/runtime/docker";
import { httpGetCheck } from "../components/runtime/healthchecks";
import { redactSecrets } from "../components/runtime/redact";
import { byName, promiseOf, runCommitted } from "./harness";

test("secretEnv is a Pulumi secret with a stable, sorted KEY=value list", async () => {
  const env = secretEnv({ ZED: "1", ALPHA: pulumi.output("a=b") });
  assert.equal(await pulumi.isSecret(env), true);
  assert.deepEqual(await promiseOf(env), ["ALPHA=a=b", "ZED=1"]);
});

test("published ports are bound to loopback whatever the caller asks", () => {
  const args = serviceContainerArgs({
    name: "s-x",
    image: "img",
    owner: { environment: "dev", service: "api" },
    network: "n",
    aliases: ["x"],
    memoryMb: 128,
    swapLimit: true,
    healthcheck: httpGetCheck(1, "/"),
    ports: [{ internal: 3000, external: 3000 }],
  });
  assert.deepEqual(args.ports, [{ internal: 3000, external: 3000, ip: "127.0.0.1" }]);
});

test("a job fails with its exit code, its output and the command that re-runs it, unless it exited 0", () => {
  const urn =
    "urn:pulumi:dev::platform::platform:tenant:Migration$docker:index/container:Container::acme-migration-bootstrap";
  assert.doesNotThrow(() => assertJobSucceeded("job", { exitCode: 0, logs: "", urn }));
  assert.throws(
    () => assertJobSucceeded("Bootstrap of acme", { exitCode: 2, logs: "boom\n", urn }),
    (e: JobFailedError) => {
      assert.equal(
        e.message,
        `Bootstrap of acme exited with code 2. Its output:\nboom\nOnce the cause is fixed, run it again with: pulumi up --replace '${urn}'`,
      );
      return true;
    },
  );
  assert.throws(
    () => assertJobSucceeded("job", { exitCode: undefined, logs: "", urn }),
    /code -1[\s\S]*\(no output\)/,
  );
});

test("a failed job's output never carries a secret it was given, raw, percent-encoded or JSON-escaped", () => {
  const secret = "p@ss/w+rd=1";
  const logs = `connecting to postgresql://acme:${encodeURIComponent(secret)}@postgres:5432/x\npassword ${secret} rejected\n`;
  assert.throws(
    () => assertJobSucceeded("job", { exitCode: 1, logs, urn: "urn" }, [secret, ""]),
    (e: JobFailedError) => {
      assert.ok(!e.message.includes(secret) && !e.message.includes(encodeURIComponent(secret)));
      assert.match(e.message, /acme:\[secret\]@postgres[\s\S]*password \[secret\] rejected/);
      return true;
    },
  );
});

test("a secret is redacted in every form a consumer prints it, alone or inside longer encoded text", () => {
  const url = (part: "password" | "search") => (s: string) => {
    const u = new URL("postgresql://postgres/db");
    u.username = "acme";
    if (part === "password") u.password = s;
    else u.search = `?${s}`;
    return u.href;
  };
  const lowerHex = (text: string) => text.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase());
  const consumers: [string, (s: string) => string][] = [
    ["as given", (s) => s],
    ["JSON", (s) => JSON.stringify({ password: s })],
    ["encodeURIComponent", encodeURIComponent],
    ["WHATWG userinfo", url("password")],
    ["WHATWG query", url("search")],
    ["URLSearchParams", (s) => new URLSearchParams({ user: "acme", password: s }).toString()],
    ["lowercase percent-encoding", (s) => lowerHex(url("password")(s))],
    ["lowercase hex", (s) => Buffer.from(s).toString("hex")],
    ["uppercase hex", (s) => Buffer.from(s).toString("hex").toUpperCase()],
    ["base64", (s) => Buffer.from(s).toString("base64")],
    ["base64url", (s) => Buffer.from(s).toString("base64url")],
  ];
  const other = fc.string({ unit: fc.constantFrom(..."xyz \n".split("")) });
  fc.assert(
    // Config refuses control characters in a secret; a URL drops tabs and newlines anyway.
    fc.property(
      fc.string({ unit: "binary", minLength: 8 }).filter((s) => !/\p{Cc}/u.test(s)),
      other,
      other,
      (s, a, b) => {
        for (const [name, consume] of consumers) {
          const printed = consume(s);
          const redacted = redactSecrets(`${a}${printed}${b}`, [s]);
          assert.ok(!redacted.includes(printed), `${name}: ${redacted}`);
        }
      },
    ),
  );
  assert.equal(redactSecrets("a \ud800 b", ["\ud800"]), "a [secret] b", "a lone surrogate");
  // Inside a longer base64 text (an Authorization: Basic header, a base64 blob), the secret's
  // characters depend on where it starts: none of those that encode its bits alone survive.
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 5 }),
      fc.string({ unit: "binary", minLength: 8 }),
      fc.uint8Array({ maxLength: 5 }),
      fc.constantFrom("base64", "base64url" as const),
      (before, s, after, encoding) => {
        const secret = Buffer.from(s);
        const text = Buffer.concat([before, secret, after]).toString(encoding);
        const first = Math.ceil((8 * before.length) / 6);
        const last = Math.floor((8 * (before.length + secret.length)) / 6);
        const redacted = redactSecrets(`Basic ${text}`, [s]);
        assert.ok(!redacted.includes(text.slice(first, last)), redacted);
      },
    ),
  );
});

test("the ClickHouse access script refuses identifiers that could inject SQL", () => {
  assert.throws(
    () =>
      tenantAccessScript({
        server: "clickhouse",
        port: 9000,
        database: "x; DROP DATABASE y",
        user: "u",
      }),
    /database name .* is not a plain identifier/,
  );
  const script = tenantAccessScript({
    server: "clickhouse",
    port: 9000,
    database: "dittofeed_a",
    user: "dittofeed_a",
  });
  assert.match(script, /clickhouse-client --host clickhouse --port 9000$/);
  assert.match(script, /GRANT ALL ON dittofeed_a\.\* TO dittofeed_a/);
});

test("each tenant's ClickHouse user gets a profile it cannot change: half the server's memory, a few queries at once", async () => {
  const script = tenantAccessScript({
    server: "clickhouse",
    port: 9000,
    database: "dittofeed_a",
    user: "dittofeed_a",
    serverMemoryMb: 2048,
  });
  assert.match(
    script,
    /CREATE SETTINGS PROFILE OR REPLACE dittofeed_a SETTINGS max_memory_usage_for_user = 1073741824 CONST, max_concurrent_queries_for_user = 8 CONST TO dittofeed_a/,
  );
  // A managed ClickHouse keeps its own limits.
  assert.doesNotMatch(
    tenantAccessScript({ server: "c", port: 9440, database: "d", user: "d", secure: true }),
    /SETTINGS PROFILE/,
  );
  // The program gives its own ClickHouse's memory to every tenant's job.
  const { run } = await runCommitted("production");
  const [job] = byName(run, "acme-migration-clickhouse").inputs.command as string[];
  assert.match(job, /max_memory_usage_for_user = 1610612736 CONST/);
});

test("a tenant's CPU cap is written as the docker provider reads it back, and caps each of its apps", async () => {
  // terraform-provider-docker v4.5.0, internal/provider/helpers.go nanoInt64ToDecimalString.
  const readBack = (nano: bigint): string => {
    const whole = nano / 1_000_000_000n;
    const frac = (nano % 1_000_000_000n).toString().padStart(9, "0");
    const str = `${whole}.${frac}`;
    if ((str.match(/0/g) ?? []).length === 9) return `${whole}.${frac.slice(0, 1)}`;
    return str.replace(/0+$/, "");
  };
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 32 }), (quarters) => {
      const cpus = quarters / 4;
      assert.equal(dockerCpus(cpus), readBack(BigInt(quarters) * 250_000_000n));
    }),
  );
  const { run } = await runCommitted("production");
  for (const name of ["acme-api", "acme-dashboard", "acme-worker-1"])
    assert.equal(byName(run, name).inputs.cpus, "1.0", name);
  assert.equal(byName(run, "postgres").inputs.cpus, undefined);
});
