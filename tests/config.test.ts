import assert from "node:assert/strict";
import fc from "fast-check";
import mailProviders from "email-providers/all.json";
import * as YAML from "yaml";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { ConfigError, DEFAULT_DITTOFEED_VERSION, parsePlatformConfig } from "../stacks/config";
import { MISSING_UPSTREAM } from "../stacks/config/rules";
import {
  DEFAULT_NETWORK_POOL,
  defaultSlot,
  devPortsOf,
  parsePool,
  slotCount,
  tenantSubnet,
} from "../components/runtime/network";
import {
  BACKUP_PUBLIC_KEY,
  platformConfig,
  PROJECT_ROOT,
  runProgram,
  SECURE_PLACEHOLDER,
  stackFileConfig,
} from "./harness";

const CLOUDFLARE = {
  accountId: "0123456789abcdef0123456789abcdef",
  zoneId: "fedcba9876543210fedcba9876543210",
};
const tenant = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  workspaceName: id.toUpperCase(),
  accessEmails: [`ops@${id}.example`],
  ...extra,
});
const valid = {
  environment: "staging",
  domain: "example.com",
  cloudflare: CLOUDFLARE,
  tenants: [tenant("acme"), tenant("globex")],
  backup: { publicKey: BACKUP_PUBLIC_KEY },
};

/** Runs the whole program on a bad config: it must fail naming key and value, and create nothing. */
async function refuses(
  values: Record<string, unknown>,
  key: string,
  value: string,
  reason: RegExp,
  options: { stack?: string; stackFilesDirectory?: string } = {},
) {
  const run = await runProgram({ config: platformConfig(values), ...options });
  assert.ok(run.error instanceof ConfigError, `expected a ConfigError, got ${run.error}`);
  const problem = run.error.problems.find((p) => p.key === key);
  assert.ok(problem, `no problem reported for ${key}; got:\n${run.error.message}`);
  assert.equal(problem.value, value);
  assert.match(problem.message, reason);
  assert.ok(run.error.message.includes(`${key} = ${value}`), "the message names key and value");
  const ours = run.registrations.filter((r) => r.type !== "pulumi:pulumi:Stack");
  assert.deepEqual(
    ours.map((r) => r.name),
    [],
    "a bad config registers nothing",
  );
}

test("the valid baseline passes, so each refusal below is about its one change", async () => {
  const run = await runProgram({ config: platformConfig(valid) });
  assert.equal(run.error, undefined);
  assert.ok(run.registrations.length > 10);
});

test("refuses a tenant id that is not a slug", () =>
  refuses(
    { ...valid, tenants: [tenant("Acme_1")] },
    "platform:tenants[0].id",
    "(6 characters, not shown)",
    /slug/,
  ));

test("refuses a duplicate tenant id", () =>
  refuses(
    { ...valid, tenants: [tenant("acme"), tenant("acme", { hostname: "other" })] },
    "platform:tenants[1].id",
    '"acme"',
    /duplicates tenants\[0\]/,
  ));

test("refuses a duplicate hostname, including one defaulted from an id", () =>
  refuses(
    { ...valid, tenants: [tenant("acme"), tenant("globex", { hostname: "acme" })] },
    "platform:tenants[1].hostname",
    '"acme"',
    /already used by tenants\[0\]/,
  ));

test("refuses a multi-level hostname and says why", () =>
  refuses(
    { ...valid, tenants: [tenant("acme", { hostname: "api.north" })] },
    "platform:tenants[0].hostname",
    '"api.north"',
    /ONE DNS label.*Universal SSL.*one level/,
  ));

test("refuses a tunnel without a domain", () =>
  refuses(
    { ...valid, domain: undefined },
    "platform:domain",
    "(not set)",
    /required when platform:cloudflare/,
  ));

test("refuses an unknown environment", () =>
  refuses(
    { ...valid, environment: "prod" },
    "platform:environment",
    '"prod"',
    /dev, staging, production/,
  ));

test("refuses a malformed access email", () =>
  refuses(
    { ...valid, tenants: [tenant("acme", { accessEmails: ["ops@"] })] },
    "platform:tenants[0].accessEmails[0]",
    '"ops@"',
    /email/,
  ));

test("refuses a hostname another committed stack already routes", () =>
  refuses(
    { ...valid, tenants: [tenant("initech"), tenant("acme", { hostname: "acme" })] },
    "platform:tenants[1].hostname",
    '"acme"',
    /acme\.example\.com is also routed by stack production \(Pulumi\.production\.yaml\)/,
    { stack: "staging", stackFilesDirectory: PROJECT_ROOT },
  ));

test("refuses a defaulted hostname that collides with another stack, pointing at the id", () =>
  refuses(
    { ...valid, tenants: [tenant("globex")] },
    "platform:tenants[0].id",
    '"globex"',
    /globex\.example\.com is also routed by stack production/,
    { stack: "staging", stackFilesDirectory: PROJECT_ROOT },
  ));

test("refuses a hostname of a committed stack that holds its secrets encrypted (production-k8s)", () =>
  refuses(
    { ...valid, tenants: [tenant("umbrella")] },
    "platform:tenants[0].id",
    '"umbrella"',
    /umbrella\.example\.com is also routed by stack production-k8s/,
    { stack: "staging", stackFilesDirectory: PROJECT_ROOT },
  ));

test("refuses a Zero Trust team name that is not one", () =>
  refuses(
    { ...valid, cloudflare: { ...CLOUDFLARE, teamName: "example.cloudflareaccess.com" } },
    "platform:cloudflare.teamName",
    '"example.cloudflareaccess.com"',
    /team name/,
  ));

test("refuses an empty tenant list", () =>
  refuses({ ...valid, tenants: [] }, "platform:tenants", "[]", /at least one tenant/));

test("refuses an exposed tenant without anyone allowed to sign in", () =>
  refuses(
    { ...valid, tenants: [tenant("acme", { accessEmails: [] })] },
    "platform:tenants[0].accessEmails",
    "[]",
    /who may sign in/,
  ));

test("refuses an unknown key instead of silently defaulting", () =>
  refuses({ ...valid, tenant: [] }, "platform:tenant", "(not shown)", /not a known key/));

test("refuses a floating image tag", () =>
  refuses(
    { ...valid, dittofeed: { images: { api: "registry.example/api:latest" } } },
    "platform:dittofeed.images.api",
    '"registry.example/api:latest"',
    /latest/,
  ));

test("reports every problem of a value at once, then every problem between values at once", () => {
  const keysOf = (raw: Record<string, unknown>) => {
    try {
      parsePlatformConfig(raw);
    } catch (error) {
      return (error as ConfigError).problems.map((p) => p.key);
    }
    return [];
  };
  const tenants = [tenant("ok"), tenant("ok", { hostname: "web" })];
  // The rules between values read what the schema checked, so they wait for it to pass.
  assert.deepEqual(
    keysOf({
      environment: "prod",
      cloudflare: CLOUDFLARE,
      tenants: [tenant("Bad"), tenant("ok", { hostname: "a.b" }), tenant("ok")],
    }),
    ["platform:environment", "platform:tenants[0].id", "platform:tenants[1].hostname"],
  );
  assert.deepEqual(keysOf({ environment: "production", cloudflare: CLOUDFLARE, tenants }), [
    "platform:backup.publicKey",
    "platform:domain",
    "platform:tenants[1].id",
  ]);
});

test("never echoes a secret value in an error", () => {
  const leaked = "hunter2-but-short";
  assert.throws(
    () =>
      parsePlatformConfig({ ...valid, secrets: { postgresPassword: "short", unknown: leaked } }),
    (error: ConfigError) => {
      assert.ok(error.message.includes("platform:secrets.postgresPassword = [secret]"));
      assert.ok(error.message.includes("platform:secrets.unknown = (not shown)"));
      assert.ok(!error.message.includes(leaked) && !error.message.includes("short:"));
      return true;
    },
  );
});

test("never prints a secret put under a mistyped key, nor inside a value shown whole", () => {
  const leaked = 'Tr0ub4dor&3"\\+/=';
  assert.throws(
    () =>
      parsePlatformConfig({
        ...valid,
        secret: { postgresPassword: leaked },
        tenants: [{ id: "acme", workspaceName: "Acme", databasePassword: leaked }],
        tenant: [{ id: "x", adminPassword: leaked }],
      }),
    (error: ConfigError) => {
      const keys = error.problems.map((p) => p.key);
      assert.ok(keys.includes("platform:secret"), keys.join());
      assert.ok(keys.includes("platform:tenants[0].databasePassword"), keys.join());
      assert.ok(keys.includes("platform:tenant"), keys.join());
      for (const form of [leaked, JSON.stringify(leaked).slice(1, -1), encodeURIComponent(leaked)])
        assert.ok(!error.message.includes(form), error.message);
      return true;
    },
  );
});

test("refuses tenants' connection limits that do not fit Postgres's max_connections, with the numbers", () =>
  refuses(
    {
      ...valid,
      tenants: [tenant("acme", { postgresConnectionLimit: 190 }), tenant("globex")],
    },
    "platform:postgres.maxConnections",
    "(not set)",
    /is 300, but the login roles may hold 354 connections at once: tenants 230 \(acme 190, globex 40\), Temporal 77, backups 8, and 39 kept for the superuser\. Raise platform:postgres\.maxConnections to at least 354/,
  ));

test("a larger max_connections, or offboarded tenants, make the same limits fit", () => {
  const big = {
    ...valid,
    tenants: [tenant("acme", { postgresConnectionLimit: 190 }), tenant("globex")],
  };
  assert.equal(
    parsePlatformConfig({ ...big, postgres: { maxConnections: 354 } }).postgres.maxConnections,
    354,
  );
  const offboarded = {
    ...big,
    tenants: [tenant("acme", { postgresConnectionLimit: 190, offboarded: true }), tenant("globex")],
  };
  assert.equal(parsePlatformConfig(offboarded).tenants[0].postgresConnectionLimit, 190);
});

test("a tenant's default connection limit is a full pool per process of its runtime", () => {
  const config = parsePlatformConfig({
    ...valid,
    tenants: [tenant("acme", { workerReplicas: 3 }), tenant("globex")],
  });
  assert.deepEqual(
    config.tenants.map((t) => t.postgresConnectionLimit),
    [60, 40],
  );
});

test("resolves defaults: pinned version, hostname from id, slot, subnet and dev ports from the slot", () => {
  const config = parsePlatformConfig({
    environment: "dev",
    tenants: [tenant("acme"), tenant("globex")],
  });
  assert.equal(config.dittofeed.version, DEFAULT_DITTOFEED_VERSION);
  assert.notEqual(config.dittofeed.version, "latest");
  const pool = parsePool(DEFAULT_NETWORK_POOL);
  assert.deepEqual(
    config.tenants.map((t) => [t.hostname, t.slot, t.subnet, t.devPorts, t.exposed]),
    ["acme", "globex"].map((id) => {
      const slot = defaultSlot(id, slotCount(pool));
      return [id, slot, tenantSubnet(pool, slot), devPortsOf(slot), false];
    }),
  );
});

test("refuses a dev port that another tenant's slot already gives it", () => {
  const acme = devPortsOf(defaultSlot("acme", slotCount(parsePool(DEFAULT_NETWORK_POOL))));
  assert.throws(
    () =>
      parsePlatformConfig({
        environment: "dev",
        tenants: [
          tenant("acme"),
          tenant("globex", { devPorts: { api: acme.api, dashboard: 3020 } }),
        ],
      }),
    new RegExp(
      `platform:tenants\\[1\\]\\.devPorts\\.api = ${acme.api}: port ${acme.api} is already taken by tenants\\[0\\]\\.id`,
    ),
  );
});

test("stack files: encrypted values, top-level or nested, become placeholders and secret keys", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stackfile-"));
  const file = path.join(dir, "Pulumi.x.yaml");
  fs.writeFileSync(
    file,
    [
      "config:",
      "  platform:environment: dev",
      "  platform:secrets:",
      "    postgresPassword:",
      "      secure: v1:abc:def",
      "  cloudflare:apiToken:",
      "    secure: v1:ghi:jkl",
    ].join("\n"),
  );
  const { config, secretKeys } = stackFileConfig(file);
  assert.deepEqual(secretKeys.sort(), ["cloudflare:apiToken", "platform:secrets"]);
  assert.equal(config["platform:environment"], "dev");
  assert.equal(config["cloudflare:apiToken"], SECURE_PLACEHOLDER);
  assert.deepEqual(JSON.parse(config["platform:secrets"]), {
    postgresPassword: SECURE_PLACEHOLDER,
  });
});

test("a secret in plain text is refused, naming its key and the command that encrypts it, never its value", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "stackfile-"));
  const plain = { redis: "plain-redis-password-0123", registry: "plain-registry-0123" };
  const config = {
    ...Object.fromEntries(Object.entries(valid).map(([key, value]) => [`platform:${key}`, value])),
    "platform:secrets": {
      // Set with --secret: encrypted. Beside it, values set with --path alone stay plain.
      postgresPassword: { secure: "v1:abc:def" },
      redisPassword: plain.redis,
      registries: [{ address: "registry.example", username: "ci", password: plain.registry }],
    },
  };
  fs.writeFileSync(path.join(dir, "Pulumi.staging.yaml"), YAML.stringify({ config }));
  const run = await runProgram({
    ...stackFileConfig(path.join(dir, "Pulumi.staging.yaml")),
    stack: "staging",
    stackFilesDirectory: dir,
  });
  assert.ok(run.error instanceof ConfigError, String(run.error));
  assert.deepEqual(
    run.error.problems.map((p) => [p.key, p.value]),
    [
      ["platform:secrets.redisPassword", "[secret]"],
      ["platform:secrets.registries[0].password", "[secret]"],
    ],
  );
  assert.match(
    run.error.problems[0].message,
    /in plain text: set it with pulumi config set --secret --path 'platform:secrets\.redisPassword' <value>/,
  );
  for (const value of Object.values(plain)) assert.ok(!run.error.message.includes(value));
  assert.deepEqual(
    run.registrations.filter((r) => r.custom),
    [],
  );

  // Without a stack file (config from elsewhere), a key Pulumi does not hold as a secret.
  await refuses(
    { ...valid, secrets: { redisPassword: plain.redis } },
    "platform:secrets",
    "[secret]",
    /in plain text: set it with pulumi config set --secret --path 'platform:secrets'/,
  );
});

test("typed secrets: each refuses what one of its consumers would change, naming key and rule, never the value", async () => {
  const base = "Abcdefgh12345678";
  const key32 = Buffer.alloc(32, 0x5c).toString("base64");
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      "platform:secrets.postgresPassword",
      { postgresPassword: `${base}\u0000` },
      /control characters: a NUL/,
    ],
    ["platform:secrets.redisPassword", { redisPassword: `${base}\nmore` }, /first newline/],
    [
      "platform:secrets.temporalPassword",
      { temporalPassword: `${base}\\` },
      /backslash.*doubles it/,
    ],
    ["platform:secrets.temporalPassword", { temporalPassword: `${base}"` }, /double quote.*YAML/],
    ["platform:secrets.clickhousePassword", { clickhousePassword: `${base}]]>` }, /CDATA/],
    [
      "platform:secrets.tenants.acme.databasePassword",
      { tenants: { acme: { databasePassword: `${base}\\x` } } },
      /backslash/,
    ],
    [
      "platform:secrets.tenants.acme.secretKey",
      { tenants: { acme: { secretKey: Buffer.alloc(31, 1).toString("base64") } } },
      /base64 of exactly 32 random bytes.*AES-256-GCM/,
    ],
    [
      "platform:secrets.tenants.acme.secretKey",
      { tenants: { acme: { secretKey: key32.replace(/=$/, "") } } },
      /base64 of exactly 32/,
    ],
    [
      "platform:secrets.tenants.acme.secretKey",
      { tenants: { acme: { secretKey: "0123456789abcdef0123456789abcdef0123456789ab" } } },
      /base64 of exactly 32/,
    ],
  ];
  for (const [key, secrets, reason] of cases) {
    await refuses({ ...valid, secrets }, key, "[secret]", reason);
    const message = (() => {
      try {
        parsePlatformConfig({ ...valid, secrets });
        return "";
      } catch (error) {
        return (error as Error).message;
      }
    })();
    assert.ok(!message.includes(base), `${key}: the value is not in the error`);
  }
  // What every consumer takes as typed is accepted: URL, shell and SQL specials, non-ASCII.
  const accepted = parsePlatformConfig({
    ...valid,
    secrets: {
      postgresPassword: `${base}'"\\$\`+/=@:#?%&`,
      temporalPassword: `${base}'$\`+/=@:#?% é`,
      clickhousePassword: `${base}<&>]]`,
      tenants: { acme: { databasePassword: `${base}'"$+/=@:#?%`, secretKey: key32 } },
    },
  });
  assert.equal(accepted.secrets.tenants.acme.secretKey, key32);
});

test("a hostname or id that is invalid punycode (xn--) is refused: no URL parser takes it", async () => {
  assert.throws(() => new URL("https://xn--a.example.com/"));
  await refuses(
    { ...valid, tenants: [tenant("acme", { hostname: "xn--a" }), tenant("globex")] },
    "platform:tenants[0].hostname",
    '"xn--a"',
    /not a valid internationalised label/,
  );
  await refuses(
    { ...valid, tenants: [tenant("xn--a"), tenant("globex")] },
    "platform:tenants[0].id",
    '"xn--a"',
    /not a valid internationalised label/,
  );
  // Double hyphens elsewhere, and valid punycode, are ordinary labels.
  const config = parsePlatformConfig({
    ...valid,
    tenants: [tenant("ab--c"), tenant("globex", { hostname: "xn--bcher-kva" })],
  });
  assert.deepEqual(
    config.tenants.map((t) => t.hostname),
    ["ab--c", "xn--bcher-kva"],
  );
});

test("an image tag that floats to new minor releases is refused, naming the key; major.minor or a digest passes", async () => {
  for (const [key, values, ref] of [
    ["platform:postgres.image", { postgres: { image: "postgres:16" } }, "postgres:16"],
    ["platform:redis.image", { redis: { image: "redis:alpine" } }, "redis:alpine"],
    [
      "platform:dittofeed.images.api",
      { dittofeed: { images: { api: "registry.example/api:head" } } },
      "registry.example/api:head",
    ],
  ] as const) {
    await refuses({ ...valid, ...values }, key, JSON.stringify(ref), /floating tag .*major\.minor/);
  }
  const pinned = parsePlatformConfig({
    ...valid,
    postgres: { image: "postgres:15.13" },
    redis: { image: "redis:7.4.2-alpine" },
    dittofeed: { images: { api: `registry.example/api@sha256:${"a".repeat(64)}` } },
  });
  assert.equal(pinned.postgres.image, "postgres:15.13");
});

test("a public mail provider in accessEmailDomains is refused unless explicitly allowed", async () => {
  await refuses(
    {
      ...valid,
      tenants: [
        tenant("acme", { accessEmailDomains: ["acme.example", "gmail.com"] }),
        tenant("globex"),
      ],
    },
    "platform:tenants[0].accessEmailDomains[1]",
    '"gmail.com"',
    /public mail provider: anyone can open an address there/,
  );
  // Country variants and privacy providers, from the maintained list and what it lacks.
  const publicDomains = [
    "hotmail.co.uk",
    "outlook.fr",
    "yahoo.co.jp",
    "fastmail.com",
    "tutanota.com",
    "duck.com",
    "gmx.de",
  ];
  const run = await runProgram({
    config: platformConfig({
      ...valid,
      tenants: [tenant("acme", { accessEmailDomains: publicDomains }), tenant("globex")],
    }),
  });
  assert.ok(run.error instanceof ConfigError);
  assert.deepEqual(
    run.error.problems.map((p) => p.key),
    publicDomains.map((_, i) => `platform:tenants[0].accessEmailDomains[${i}]`),
  );
  // The hand-kept part holds only what the package lacks: drop an entry once it has it.
  const upstream = new Set(mailProviders);
  assert.deepEqual(
    MISSING_UPSTREAM.filter((domain) => upstream.has(domain)),
    [],
  );
  const allowed = parsePlatformConfig({
    ...valid,
    tenants: [
      tenant("acme", { accessEmailDomains: ["gmail.com"], allowPublicEmailDomains: true }),
      tenant("globex"),
    ],
  });
  assert.deepEqual(allowed.tenants[0].accessEmailDomains, ["gmail.com"]);
});

test("an error shows a value only when it is a plain name: a password typed under the wrong key is described, never printed", async () => {
  // A password, and a connection string with one before its host.
  for (const typed of [
    "Tr0ub4dor&3-horse",
    "postgresql://admin:hunter22@db.example.com:5432/app",
  ]) {
    await refuses(
      { ...valid, postgres: { adminHost: typed } },
      "platform:postgres.adminHost",
      `(${typed.length} characters, not shown)`,
      /is not loopback/,
    );
  }
  // Whatever a key holds, a value that is not a short lowercase name never reaches the error,
  // in any form: the key that refused it, or any message that quotes it.
  const keys: ((v: string) => Record<string, unknown>)[] = [
    (v) => ({ postgres: { adminHost: v } }),
    (v) => ({ domain: v }),
    (v) => ({ network: { pool: v } }),
    (v) => ({ tenants: [tenant("acme", { hostname: v }), tenant("globex")] }),
    (v) => ({ tenants: [tenant(v), tenant("globex")] }),
    (v) => ({ tenants: [tenant("acme", { accessEmailDomains: [v] }), tenant("globex")] }),
    (v) => ({ redis: { image: v } }),
    // A key this program does not know (a one-letter typo of a secret's) may hold anything.
    (v) => ({ postgres: { adminPasword: v } }),
  ];
  const word = fc.string({ unit: fc.constantFrom(..."abcxyz0189".split("")), minLength: 3 });
  const secretLike = fc.oneof(
    fc.string({ unit: "binary", minLength: 8 }).filter((v) => /[^a-z0-9._:/@-]/.test(v)),
    // Lowercase, but with a password before the host.
    fc.tuple(word, word, word).map(([u, p, h]) => `postgresql://${u}:${p}@${h}.example:5432`),
  );
  fc.assert(
    fc.property(fc.constantFrom(...keys), secretLike, (at, v) => {
      try {
        parsePlatformConfig({ ...valid, ...at(v) });
      } catch (error) {
        assert.ok(error instanceof ConfigError);
        assert.ok(!error.message.includes(v), error.message);
        assert.ok(!error.message.includes(encodeURIComponent(v)), error.message);
      }
    }),
  );
});

test("staging and production refuse to run without a key to encrypt backups to", () =>
  refuses(
    { ...valid, environment: "production", backup: {} },
    "platform:backup.publicKey",
    "(not set)",
    /is required in production: every backup is encrypted to this OpenPGP public key/,
  ));

test("a private key in config is refused before it reaches the host", async () => {
  // The shape of `gpg --export-secret-keys --armor`: base64 lines of 64 characters.
  const body = Array.from({ length: 20 }, (_, i) =>
    Buffer.alloc(48, `lQOYBGV${i}+/secret`).toString("base64"),
  );
  const privateKey = `-----BEGIN PGP PRIVATE KEY BLOCK-----\n\n${body.join("\n")}\n=AbCd\n-----END PGP PRIVATE KEY BLOCK-----\n`;
  const run = await runProgram({
    config: platformConfig({ ...valid, backup: { publicKey: privateKey } }),
  });
  assert.ok(run.error instanceof ConfigError);
  const problem = run.error.problems.find((p) => p.key === "platform:backup.publicKey");
  assert.match(problem?.message ?? "", /is a PRIVATE key: only the public half belongs in config/);
  assert.equal(
    problem?.value,
    `(a PGP PRIVATE KEY BLOCK, ${privateKey.length} characters, not shown)`,
  );
  for (const line of body) assert.ok(!run.error.message.includes(line.slice(0, 16)));
  assert.deepEqual(
    run.registrations.filter((r) => r.custom),
    [],
  );
});

test("refuses anything but an armored public key, an R2 bucket name R2 refuses, and R2 without Cloudflare", async () => {
  await refuses(
    { ...valid, backup: { publicKey: "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgp" } },
    "platform:backup.publicKey",
    "(36 characters, not shown)",
    /must be an ASCII-armored OpenPGP public key/,
  );
  await refuses(
    { ...valid, backup: { publicKey: BACKUP_PUBLIC_KEY, r2: { bucket: "Backups_1" } } },
    "platform:backup.r2.bucket",
    "(9 characters, not shown)",
    /must be an R2 bucket name/,
  );
  const noEdge = { environment: valid.environment, tenants: valid.tenants };
  await refuses(
    { ...noEdge, backup: { publicKey: BACKUP_PUBLIC_KEY, r2: { bucket: "backups" } } },
    "platform:backup.r2",
    '{"bucket":"backups"}',
    /needs platform:cloudflare/,
  );
});

test("a retired id is refused; two tenants on one Temporal namespace are refused", async () => {
  await refuses(
    { ...valid, retiredTenants: ["globex"] },
    "platform:tenants[1].id",
    '"globex"',
    /is retired \(platform:retiredTenants\).*would inherit/,
  );
  await refuses(
    {
      ...valid,
      tenants: [tenant("acme", { namespaceGeneration: 2 }), tenant("acme-gen2")],
    },
    "platform:tenants[1].namespaceGeneration",
    "(not set)",
    /gives Temporal namespace "acme-gen2", which is tenants\[0\]'s/,
  );
});

test("an offboarded tenant is not exposed and needs no one to sign in", () => {
  const config = parsePlatformConfig({
    ...valid,
    tenants: [tenant("acme"), { id: "globex", workspaceName: "G", offboarded: true }],
  });
  assert.deepEqual(
    config.tenants.map((t) => [t.id, t.exposed, t.offboarded]),
    [
      ["acme", true, false],
      ["globex", false, true],
    ],
  );
});

test("monitoring receivers: each needs its secret and each secret its receiver, named by key, never shown", () => {
  const token = "https://hooks.example.com/very-secret-token";
  const monitoring = (receivers: unknown[]) => ({ enabled: true, receivers });
  const ops = { name: "ops", type: "webhook" };
  // An email receiver that logs in to its smarthost: its password is its secret.
  const mail = {
    name: "mail",
    type: "email",
    to: "ops@example.com",
    from: "a@example.com",
    smarthost: "smtp.example.com:587",
    username: "alerts",
  };
  assert.throws(
    () =>
      parsePlatformConfig({
        ...valid,
        monitoring: monitoring([ops, mail, { name: "ops", type: "slack", channel: "#ops" }]),
        secrets: { receivers: { stray: token, ops: "it's" } },
      }),
    (error: ConfigError) => {
      assert.deepEqual(error.problems.map((p) => p.key).sort(), [
        "platform:monitoring.receivers[2].name",
        "platform:secrets.receivers.ops",
      ]);
      assert.match(error.problems.find((p) => p.key.endsWith("[2].name"))!.message, /used twice/);
      assert.match(error.message, /single quote/);
      assert.ok(!error.message.includes(token) && !error.message.includes("it's"));
      return true;
    },
  );
  // Once each value passes, the pairs: a receiver without its secret, a secret without receiver.
  assert.throws(
    () =>
      parsePlatformConfig({
        ...valid,
        monitoring: monitoring([ops, mail]),
        secrets: { receivers: { stray: token, ops: token } },
      }),
    (error: ConfigError) => {
      assert.deepEqual(error.problems.map((p) => p.key).sort(), [
        "platform:secrets.receivers.mail",
        "platform:secrets.receivers.stray",
      ]);
      assert.ok(!error.message.includes(token));
      return true;
    },
  );
  // An email receiver without a username needs no secret.
  assert.throws(
    () =>
      parsePlatformConfig({
        ...valid,
        monitoring: monitoring([
          ops,
          mail,
          {
            name: "anon",
            type: "email",
            to: "ops@example.com",
            from: "a@example.com",
            smarthost: "smtp.example.com:25",
          },
        ]),
        secrets: { receivers: { stray: token } },
      }),
    (error: ConfigError) => {
      assert.deepEqual(error.problems.map((p) => p.key).sort(), [
        "platform:secrets.receivers.mail",
        "platform:secrets.receivers.ops",
        "platform:secrets.receivers.stray",
      ]);
      assert.match(error.message, /required by platform:monitoring\.receivers\[0\] \(its URL\)/);
      assert.match(error.message, /names no receiver/);
      assert.ok(!error.message.includes(token));
      return true;
    },
  );
});

test("refuses monitoring on Kubernetes, and a monitoring port another published port has", async () => {
  await refuses(
    {
      environment: "staging",
      runtime: "kubernetes",
      tenants: [tenant("acme")],
      monitoring: { enabled: true },
    },
    "platform:monitoring",
    '{"enabled":true}',
    /Docker only so far/,
  );
  await refuses(
    {
      ...valid,
      postgres: { adminPort: 9093 },
      monitoring: { enabled: true },
    },
    "platform:monitoring.alertmanager.port",
    "(not set)",
    /port 9093 is already taken by postgres\.adminPort/,
  );
});
