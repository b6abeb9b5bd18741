/**
 * Config that would quietly remove a safeguard is refused, naming the key and its value: a stack
 * whose name and environment disagree, reserved names, an admin endpoint beyond loopback without
 * verified TLS, and stacks on one Docker host that would share a port or addresses. Tenants keep
 * their slot, subnet and ports whatever the others do.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import fc from "fast-check";
import * as YAML from "yaml";
import { ConfigError, parsePlatformConfig, TenantConfig } from "../stacks/config";
import { OtherStack } from "../stacks/config/rules";
import { environmentsNamedBy } from "../components/runtime/environments";
import {
  DEFAULT_NETWORK_POOL,
  defaultSlot,
  parsePool,
  slotCount,
  tenantSubnet,
} from "../components/runtime/network";
import { BACKUP_PUBLIC_KEY, platformConfig, runProgram } from "./harness";

const tenant = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  workspaceName: id.toUpperCase(),
  ...extra,
});
const dev = { environment: "dev", tenants: [tenant("acme"), tenant("globex")] };

/** The problem `parse` reports at `key`, failing when there is none. */
function problemAt(parse: () => unknown, key: string) {
  try {
    parse();
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    const problem = error.problems.find((p) => p.key === key);
    assert.ok(problem, `no problem at ${key}:\n${error.message}`);
    return problem;
  }
  assert.fail(`expected a problem at ${key}`);
}

test("a stack's name binds its environment when it names one", () => {
  assert.deepEqual(environmentsNamedBy("production-a"), ["production"]);
  assert.deepEqual(environmentsNamedBy("acme-production"), ["production"]);
  assert.deepEqual(environmentsNamedBy("prod_eu.1"), ["production"]);
  assert.deepEqual(environmentsNamedBy("Staging-2"), ["staging"]);
  assert.deepEqual(environmentsNamedBy("prod2"), ["production"]);
  assert.deepEqual(environmentsNamedBy("acme-preprod"), ["staging"]);
  assert.deepEqual(environmentsNamedBy("eu-1"), []);
  assert.deepEqual(environmentsNamedBy("production-from-staging"), ["production", "staging"]);
  // A word inside another is not the word: "reproduction" and "devops" name nothing.
  assert.deepEqual(environmentsNamedBy("reproduction-devops"), []);

  const mismatch = problemAt(
    () => parsePlatformConfig({ ...dev, environment: "staging" }, { stack: "acme-production" }),
    "platform:environment",
  );
  assert.equal(mismatch.value, '"staging"');
  assert.match(mismatch.message, /must be production/);
  problemAt(
    () => parsePlatformConfig(dev, { stack: "production-from-staging" }),
    "platform:environment",
  );
  assert.equal(parsePlatformConfig(dev, { stack: "eu-1" }).environment, "dev");
});

test("the copy-paste the issue describes: staging's environment in production's file creates nothing", async () => {
  const production = YAML.parse(fs.readFileSync("Pulumi.production.yaml", "utf8")) as {
    config: Record<string, unknown>;
  };
  const run = await runProgram({
    config: platformConfig({
      ...Object.fromEntries(
        Object.entries(production.config).map(([k, v]) => [k.replace(/^platform:/, ""), v]),
      ),
      environment: "staging",
    }),
    stack: "production",
  });
  assert.ok(run.error instanceof ConfigError, String(run.error));
  assert.match(run.error.message, /platform:environment = "staging": must be production/);
  assert.deepEqual(
    run.registrations.filter((r) => r.type !== "pulumi:pulumi:Stack").map((r) => r.name),
    [],
  );
});

test("reserved names are refused as ids and as hostnames", () => {
  for (const [extra, key] of [
    [{ id: "www" }, "platform:tenants[0].id"],
    [{ id: "acme", hostname: "mail" }, "platform:tenants[0].hostname"],
  ] as const) {
    const problem = problemAt(
      () => parsePlatformConfig({ environment: "dev", tenants: [tenant("x", extra)] }),
      key,
    );
    assert.match(problem.message, /reserved/);
  }
});

test("an admin endpoint beyond loopback needs TLS that verifies the server", () => {
  const problem = problemAt(
    () => parsePlatformConfig({ ...dev, postgres: { adminHost: "db.example.com" } }),
    "platform:postgres.adminHost",
  );
  assert.equal(problem.value, '"db.example.com"');
  assert.match(problem.message, /SSH forward/);
  problemAt(
    () =>
      parsePlatformConfig({
        ...dev,
        postgres: { adminHost: "10.0.0.5", adminSslMode: "disable" },
      }),
    "platform:postgres.adminHost",
  );
  for (const adminHost of ["127.0.0.1", "127.1.2.3", "localhost", "::1"]) {
    assert.equal(
      parsePlatformConfig({ ...dev, postgres: { adminHost } }).postgres.adminHost,
      adminHost,
    );
  }
  const tls = parsePlatformConfig({
    ...dev,
    postgres: { adminHost: "db.example.com", adminSslMode: "verify-full" },
  });
  assert.equal(tls.postgres.adminSslMode, "verify-full");
});

test("stacks on one Docker host may not share a loopback port or overlapping pools", () => {
  const other = (dockerHost?: string): OtherStack => ({
    stack: "staging",
    // Its file holds its secrets encrypted, as every real stack's does: it is checked all the same.
    raw: {
      environment: "staging",
      postgres: { adminPort: 15433 },
      tenants: [tenant("z")],
      secrets: { postgresPassword: { secure: "v1:abc" } },
    },
    dockerHost,
  });
  const raw = { ...dev, postgres: { adminPort: 15433 } };
  const port = problemAt(
    () => parsePlatformConfig(raw, { otherStacks: [other()] }),
    "platform:postgres.adminPort",
  );
  assert.match(port.message, /also published by stack staging/);
  const pool = problemAt(
    () => parsePlatformConfig(raw, { otherStacks: [other()] }),
    "platform:network.pool",
  );
  assert.match(pool.message, /overlaps 10\.213\.0\.0\/16, the pool of stack staging/);
  // On another host, the same port and pool are that host's.
  parsePlatformConfig(raw, { otherStacks: [other("ssh://deploy@staging.example")] });
  // A dev tenant's port is a published port too.
  const acme = parsePlatformConfig(dev).tenants[0].devPorts;
  const clash = problemAt(
    () =>
      parsePlatformConfig(dev, {
        otherStacks: [
          {
            stack: "other",
            raw: {
              environment: "dev",
              network: { pool: "10.99.0.0/16" },
              postgres: { adminPort: acme.api },
              tenants: [tenant("z")],
            },
          },
        ],
      }),
    "platform:tenants[0].id",
  );
  assert.match(clash.message, new RegExp(`port ${acme.api} .*stack other.*postgres\\.adminPort`));
  // A stack whose own file is invalid deploys nothing, so it holds no port: its run says why.
  parsePlatformConfig(dev, {
    otherStacks: [{ stack: "broken", raw: { environment: "dev", tenants: [] } }],
  });
});

test("other stacks' files are read in every form Pulumi writes: tenants as a JSON string too", () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "stacks-"));
  const tenants = JSON.stringify([
    { id: "acme", workspaceName: "A", accessEmails: ["a@b.example"] },
  ]);
  fs.writeFileSync(
    path.join(directory, "Pulumi.other.yaml"),
    YAML.stringify({
      config: {
        "platform:environment": "staging",
        "platform:domain": "example.com",
        "platform:cloudflare": JSON.stringify({
          accountId: "0".repeat(32),
          zoneId: "f".repeat(32),
        }),
        "platform:tenants": tenants,
        "docker:host": "ssh://deploy@elsewhere.example",
      },
    }),
  );
  const ours = {
    environment: "staging",
    domain: "example.com",
    cloudflare: { accountId: "0".repeat(32), zoneId: "f".repeat(32) },
    tenants: [tenant("acme", { accessEmails: ["ops@acme.example"] })],
  };
  return refusesIn(
    directory,
    ours,
    "platform:tenants[0].id",
    /acme\.example\.com is also routed by stack other/,
  );
});

async function refusesIn(
  directory: string,
  values: Record<string, unknown>,
  key: string,
  reason: RegExp,
) {
  const run = await runProgram({
    config: platformConfig(values),
    stack: "staging",
    stackFilesDirectory: directory,
  });
  assert.ok(run.error instanceof ConfigError, String(run.error));
  const problem = run.error.problems.find((p) => p.key === key);
  assert.ok(problem, run.error.message);
  assert.match(problem.message, reason);
}

test("a tenant's slot, subnet and dev ports depend on its own id alone", () => {
  const ids = fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9]{0,11}$/), {
    minLength: 2,
    maxLength: 12,
  });
  const placed = (list: string[]): TenantConfig[] | undefined => {
    try {
      return parsePlatformConfig({ environment: "dev", tenants: list.map((id) => tenant(id)) })
        .tenants;
    } catch (error) {
      // Two ids in one slot, or a reserved id: refused, which moves nobody either.
      if (error instanceof ConfigError) return undefined;
      throw error;
    }
  };
  fc.assert(
    fc.property(ids, fc.nat(), (list, cut) => {
      // Ids of one hash slot are ordered by hash and id on a first deploy (placeSlots), so
      // removing the first moves the second there; a deployed stack keeps them (its placement).
      const count = slotCount(parsePool(DEFAULT_NETWORK_POOL));
      fc.pre(new Set(list.map((id) => defaultSlot(id, count))).size === list.length);
      const all = placed(list);
      // Removing one tenant and reversing the rest moves nobody.
      const fewer = list.filter((_, index) => index !== cut % list.length).reverse();
      const some = placed(fewer);
      if (all === undefined || some === undefined) return;
      for (const t of some) {
        const same: TenantConfig | undefined = all.find((u) => u.id === t.id);
        assert.deepEqual(
          [t.slot, t.subnet, t.devPorts],
          [same?.slot, same?.subnet, same?.devPorts],
        );
      }
    }),
  );
});

test("two ids of one hash slot need no hand work: the second in hash order takes the next free slot", () => {
  const count = slotCount(parsePool(DEFAULT_NETWORK_POOL));
  const seen = new Map<number, string>();
  let pair: [string, string] | undefined;
  for (let n = 0; pair === undefined; n += 1) {
    const id = `t${n}`;
    const slot = defaultSlot(id, count);
    const first = seen.get(slot);
    if (first !== undefined) pair = [first, id];
    else seen.set(slot, id);
  }
  const raw = {
    environment: "staging",
    tenants: pair.map((id) => tenant(id)),
    backup: { publicKey: BACKUP_PUBLIC_KEY },
  };
  const config = parsePlatformConfig(raw);
  const hash = defaultSlot(pair[0], count);
  const [first, second] = [...pair].sort();
  const slotOf = (id: string) => config.tenants.find((t) => t.id === id)!.slot;
  assert.equal(slotOf(first), hash);
  assert.equal(slotOf(second), (hash + 1) % count);
  assert.equal(
    config.tenants.find((t) => t.id === second)!.subnet,
    tenantSubnet(parsePool(DEFAULT_NETWORK_POOL), (hash + 1) % count),
  );
  problemAt(
    () => parsePlatformConfig({ ...raw, tenants: [tenant("a", { slot: count })] }),
    "platform:tenants[0].slot",
  );
});

test("a pool must be private IPv4, aligned, and hold at least one tenant network", () => {
  for (const pool of ["8.8.0.0/16", "10.0.0.0/7", "10.213.1.0/16", "10.0.0.0/28", "fd00::/64"]) {
    problemAt(() => parsePlatformConfig({ ...dev, network: { pool } }), "platform:network.pool");
  }
});

test("a value Pulumi holds as a secret is never printed, whatever its key is called", async () => {
  const leaked = "Not.A.Domain-hunter2";
  const run = await runProgram({
    config: platformConfig({ ...dev, domain: leaked, postgres: { adminPort: 1234567 } }),
    // As `pulumi config set --secret platform:domain ...` records it.
    secretKeys: ["platform:domain", "platform:postgres"],
  });
  assert.ok(run.error instanceof ConfigError, String(run.error));
  const keys = run.error.problems.map((p) => p.key);
  assert.ok(keys.includes("platform:domain") && keys.includes("platform:postgres.adminPort"));
  assert.match(run.error.message, /platform:domain = \[secret\]/);
  assert.ok(!run.error.message.includes(leaked) && !run.error.message.includes("1234567"));
});
