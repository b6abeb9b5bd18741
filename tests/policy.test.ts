import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PolicyResource } from "@pulumi/policy";
import { unknownValue } from "@pulumi/pulumi/runtime/rpc";
import {
  fromPolicyResource,
  unknownCheckingProxy,
  UnknownValueError,
} from "../tools/policy/adapter";
import { checkPolicies, fromRegistration } from "../tools/plan/policies";
import { CheckedResource, RULES, uncheckedInPreview } from "../tools/policy/rules";
import { HOST_TYPE } from "../components/runtime/labels";
import { COMMITTED_STACKS, committedStack, runCommitted, runProgram } from "./harness";

const CONTAINER = "docker:index/container:Container";

function resource(
  type: string,
  name: string,
  props: Record<string, unknown>,
  opts: Partial<CheckedResource["opts"]> = {},
  secretInputs?: string[],
): CheckedResource {
  return {
    type,
    name,
    urn: `urn:pulumi:test::platform::${type}::${name}`,
    props,
    opts: { protect: false, additionalSecretOutputs: [], createTimeoutSeconds: 0, ...opts },
    ...(secretInputs ? { secretInputs } : {}),
  };
}

/** The stack's facts, as the program's Host component carries them. */
const host = (environment: string, memoryMb?: number) =>
  resource(HOST_TYPE, "host", { environment, ...(memoryMb ? { memoryMb } : {}) });

const service = (name: string, service: string, extra: Record<string, unknown> = {}) =>
  resource(CONTAINER, name, {
    labels: [{ label: "platform.service", value: service }],
    healthcheck: { tests: ["CMD", "node", "-e", "probe"] },
    restart: "unless-stopped",
    memory: 256,
    image: "sha256:abc",
    ...extra,
  });

/** A tenant's container on `networks`. */
const tenantContainer = (name: string, tenant: string, networks: string[], role = "api") =>
  service(name, role, {
    labels: [
      { label: "platform.service", value: role },
      { label: "platform.tenant", value: tenant },
    ],
    networksAdvanced: networks.map((network) => ({ name: network })),
  });

/** A tunnel document with one tenant rule, then `last`. */
const tunnelConfig = (last: Record<string, string>) =>
  resource(
    "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig",
    "tunnel-config",
    {
      config: {
        ingresses: [{ hostname: "a.example.com", service: "http://a-dashboard:3000" }, last],
      },
    },
  );

/** A Kubernetes object as the program registers it. */
const kube = (kind: string, name: string, metadata: Record<string, unknown>, spec?: unknown) =>
  resource(
    {
      Namespace: "kubernetes:core/v1:Namespace",
      NetworkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
      ResourceQuota: "kubernetes:core/v1:ResourceQuota",
      Job: "kubernetes:batch/v1:Job",
    }[kind]!,
    name,
    { metadata, ...(spec === undefined ? {} : { spec }) },
  );
const tenantNamespace = kube("Namespace", "acme-ns", {
  name: "k8s-acme",
  labels: { "platform.scope": "tenant", "platform.environment": "production" },
});
const denyAll = (namespace: string) =>
  kube(
    "NetworkPolicy",
    `${namespace}-default-deny`,
    { name: "default-deny", namespace },
    { podSelector: {}, policyTypes: ["Ingress", "Egress"] },
  );
const quota = (namespace: string) =>
  kube("ResourceQuota", `${namespace}-quota`, { name: "tenant", namespace }, { hard: {} });
const kubeJob = (spec: Record<string, unknown>) =>
  kube(
    "Job",
    "acme-schema",
    { namespace: "k8s-acme" },
    {
      backoffLimit: 1,
      activeDeadlineSeconds: 540,
      ...spec,
    },
  );

/** For each rule: a stack it accepts and one it refuses, differing in one thing. */
const CASES: Record<string, { pass: CheckedResource[]; fail: CheckedResource[]; expect: RegExp }> =
  {
    "data-ports-on-loopback": {
      pass: [
        service("postgres", "postgres", {
          ports: [{ internal: 5432, external: 15432, ip: "127.0.0.1" }],
        }),
      ],
      fail: [service("postgres", "postgres", { ports: [{ internal: 5432, external: 15432 }] })],
      expect: /postgres publishes 0\.0\.0\.0:15432->5432/,
    },
    "app-ports-only-in-dev": {
      pass: [
        host("dev"),
        service("acme-api", "api", {
          ports: [{ internal: 3001, external: 3001, ip: "127.0.0.1" }],
        }),
      ],
      fail: [
        host("staging"),
        service("acme-api", "api", {
          ports: [{ internal: 3001, external: 3001, ip: "127.0.0.1" }],
        }),
      ],
      expect: /acme-api publishes 127\.0\.0\.1:3001->3001 in staging/,
    },
    "tenants-never-share-a-network": {
      pass: [
        tenantContainer("acme-api", "acme", ["prod_acme.network"]),
        tenantContainer("acme-gateway", "acme", ["prod_acme.network", "prod-platform"], "gateway"),
        tenantContainer("globex-api", "globex", ["prod_globex.network"]),
        service("postgres", "postgres", { networksAdvanced: [{ name: "prod-platform" }] }),
      ],
      fail: [
        tenantContainer("acme-api", "acme", ["prod_acme.network"]),
        tenantContainer("globex-api", "globex", ["prod_acme.network"]),
      ],
      expect: /network prod_acme\.network joins acme and globex/,
    },
    "containers-are-supervised": {
      pass: [
        service("redis", "redis", {
          healthcheck: { tests: ["CMD-SHELL", "redis-cli ping | grep -q PONG"] },
        }),
      ],
      fail: [
        service("acme-api", "api", {
          healthcheck: { tests: ["CMD-SHELL", "curl -f http://localhost:3001/api"] },
          restart: "no",
          memory: 0,
        }),
      ],
      expect: /acme-api health check calls curl/,
    },
    "images-pinned": {
      pass: [
        resource("docker:index/remoteImage:RemoteImage", "image-api", {
          name: "dittofeed/dittofeed-api:v0.23.0",
        }),
      ],
      fail: [
        resource("docker:index/remoteImage:RemoteImage", "image-api", {
          name: "dittofeed/dittofeed-api:latest",
        }),
      ],
      expect: /image-api: image "dittofeed\/dittofeed-api:latest" must not use the floating tag/,
    },
    "production-data-protected": {
      pass: [
        host("production"),
        resource(
          "postgresql:index/database:Database",
          "acme-database-db",
          {},
          { protect: true, retainOnDelete: true },
        ),
      ],
      fail: [
        host("production"),
        resource(
          "postgresql:index/database:Database",
          "acme-database-db",
          {},
          { protect: true, retainOnDelete: false },
        ),
      ],
      expect: /acme-database-db holds production data but is not retained on delete/,
    },
    "production-backs-up": {
      pass: [
        host("production"),
        service("backup-container", "backup", { healthcheck: { tests: ["CMD", "bash"] } }),
        tenantContainer("acme-migration-schema", "acme", ["acme-net"], "migrate"),
        tenantContainer("acme-migration-snapshot", "acme", ["acme-net"], "snapshot"),
      ],
      fail: [
        host("production"),
        service("backup-container", "backup", { healthcheck: { tests: ["CMD", "bash"] } }),
        tenantContainer("acme-migration-schema", "acme", ["acme-net"], "migrate"),
        tenantContainer("globex-migration-schema", "globex", ["globex-net"], "migrate"),
        tenantContainer("acme-migration-snapshot", "acme", ["acme-net"], "snapshot"),
      ],
      expect: /tenant globex migrates in production without a snapshot job/,
    },
    "tunnel-ingress-ends-with-404": {
      pass: [tunnelConfig({ service: "http_status:404" })],
      fail: [tunnelConfig({ service: "http://a-api:3001" })],
      expect:
        /tunnel-config does not end with a rule that answers everything else with http_status:404/,
    },
    "container-env-is-secret": {
      pass: [
        resource(
          CONTAINER,
          "acme-api",
          { envs: ["SECRET_KEY=x"] },
          { additionalSecretOutputs: ["envs"] },
          ["envs"],
        ),
      ],
      fail: [
        resource(
          CONTAINER,
          "acme-api",
          { envs: ["SECRET_KEY=x"] },
          { additionalSecretOutputs: ["envs"] },
          [],
        ),
      ],
      expect: /acme-api: envs is passed in plain text/,
    },
    "job-output-is-secret": {
      pass: [
        resource(
          CONTAINER,
          "acme-migration-bootstrap",
          { envs: ["SECRET_KEY=x"], logs: true },
          { additionalSecretOutputs: ["containerLogs", "envs"] },
          ["envs"],
        ),
      ],
      fail: [
        resource(
          CONTAINER,
          "acme-migration-bootstrap",
          { envs: ["SECRET_KEY=x"], logs: true },
          { additionalSecretOutputs: ["envs"] },
          ["envs"],
        ),
      ],
      expect: /acme-migration-bootstrap: containerLogs is not in additionalSecretOutputs/,
    },
    "kubernetes-tenants-isolated": {
      pass: [tenantNamespace, denyAll("k8s-acme"), quota("k8s-acme")],
      // A policy that selects every pod but allows some egress is no default deny.
      fail: [
        tenantNamespace,
        kube(
          "NetworkPolicy",
          "k8s-acme-egress",
          { name: "egress", namespace: "k8s-acme" },
          { podSelector: {}, policyTypes: ["Ingress", "Egress"], egress: [{}] },
        ),
        quota("k8s-acme"),
      ],
      expect: /namespace k8s-acme has no default-deny NetworkPolicy/,
    },
    "kubernetes-jobs-end": {
      pass: [
        kubeJob({}),
        // A data job the engine waits hours for may run nearly as long.
        {
          ...kubeJob({ activeDeadlineSeconds: 14340 }),
          opts: { ...kubeJob({}).opts, createTimeoutSeconds: 14400 },
        },
      ],
      fail: [kubeJob({ ttlSecondsAfterFinished: 600 })],
      expect: /acme-schema sets ttlSecondsAfterFinished/,
    },
    "memory-within-host": {
      // Blue/green services count twice: a release runs beside the previous one.
      pass: [
        host("production", 1024),
        service("a", "api", { memory: 256 }),
        service("b", "worker", { memory: 512 }),
      ],
      fail: [
        host("production", 1024),
        service("a", "api", { memory: 384 }),
        service("b", "worker", { memory: 512 }),
      ],
      expect:
        /add up to 896 MB, and 1280 MB while a release runs beside the previous one: more than the host's 1024 MB/,
    },
  };

describe("policy rules, each fed a passing and a failing stack", () => {
  test("every rule has its cases", () => {
    assert.deepEqual(Object.keys(CASES).sort(), RULES.map((r) => r.name).sort());
  });
  for (const rule of RULES) {
    test(rule.name, () => {
      const { pass, fail, expect } = CASES[rule.name];
      assert.deepEqual(rule.check(pass), []);
      const violations = rule.check(fail);
      assert.ok(violations.length > 0, "the failing stack is refused");
      assert.ok(
        violations.some((v) => expect.test(v.message)),
        violations.map((v) => v.message).join("\n"),
      );
    });
  }

  test("without the offline-only facts (as under CrossGuard), a missing protect still fails", () => {
    const rule = RULES.find((r) => r.name === "production-data-protected")!;
    const volume = resource("docker:index/volume:Volume", "postgres-data", {});
    assert.match(rule.check([host("production"), volume])[0].message, /not protected/);
    assert.deepEqual(rule.check([host("staging"), volume]), []);
    const bucket = resource("cloudflare:index/r2Bucket:R2Bucket", "backup-bucket", {});
    assert.match(
      rule.check([host("production"), bucket])[0].message,
      /backup-bucket holds production data but is not protected/,
    );
  });

  test("production without a backup service fails; other environments are not judged", () => {
    const rule = RULES.find((r) => r.name === "production-backs-up")!;
    const job = resource(CONTAINER, "backup-clickhouse-copy", {
      labels: [{ label: "platform.service", value: "backup" }],
      restart: "no",
    });
    assert.match(rule.check([host("production"), job])[0].message, /no backup service/);
    assert.deepEqual(rule.check([host("staging"), job]), []);
  });

  test("CrossGuard cannot see secret inputs, so there the env rule rests on additionalSecretOutputs", () => {
    const rule = RULES.find((r) => r.name === "container-env-is-secret")!;
    const plain = resource(CONTAINER, "acme-api", { envs: ["A=b"] });
    assert.match(rule.check([plain])[0].message, /not in additionalSecretOutputs/);
  });
});

describe("the committed stacks satisfy every rule", () => {
  for (const stack of COMMITTED_STACKS) {
    test(stack, async () => {
      const run = await runProgram(committedStack(stack));
      assert.equal(run.error, undefined, String(run.error));
      for (const { rule, violations } of checkPolicies(run.registrations)) {
        assert.deepEqual(violations, [], rule.name);
      }
    });
  }
});

test("the memory rule reads the host size the program registers: a host too small for staging is refused", async () => {
  const { run } = await runCommitted("staging", { "platform:hostMemoryMb": 1024 });
  const memory = checkPolicies(run.registrations).find((r) => r.rule.name === "memory-within-host");
  assert.match(memory?.violations[0]?.message ?? "", /more than the host's 1024 MB/);
});

/**
 * What CrossGuard hands a stack policy during `pulumi preview` of two changes: a new tenant (its
 * generated secrets, its network and image ids are unknown) and an image bump (every container's
 * image id is unknown). Values are wrapped as the policy SDK wraps them: the engine's unknown
 * sentinel inside `unknownCheckingProxy`, which throws on reading one.
 */
async function previewResources(plant: (resources: CheckedResource[]) => void) {
  const run = await runProgram(committedStack("production"));
  assert.equal(run.error, undefined);
  const resources = run.registrations.map(fromRegistration);
  const newTenant = (r: CheckedResource) => r.name.startsWith("globex-");
  for (const r of resources) {
    if (r.type !== CONTAINER) continue;
    r.props.image = unknownValue;
    if (newTenant(r)) {
      if (r.props.envs !== undefined) r.props.envs = unknownValue;
      r.props.networksAdvanced = (r.props.networksAdvanced as { name: string }[]).map((n) => ({
        ...n,
        name: unknownValue,
      }));
    }
  }
  const tunnel = resources.find((r) => r.name === "tunnel-config");
  assert.ok(tunnel);
  const { ingresses } = tunnel.props.config as { ingresses: Record<string, unknown>[] };
  for (const rule of ingresses) {
    if (String(rule.hostname).startsWith("globex."))
      rule.originRequest = { access: { required: true, audTag: [unknownValue] } };
  }
  plant(resources);
  return resources.map(
    (r): PolicyResource =>
      ({
        type: r.type,
        name: r.name,
        urn: r.urn,
        props: unknownCheckingProxy(r.props),
        opts: {
          protect: r.opts.protect,
          additionalSecretOutputs: r.opts.additionalSecretOutputs,
          customTimeouts: { createSeconds: r.opts.createTimeoutSeconds },
        },
      }) as unknown as PolicyResource,
  );
}

describe("rules hold in preview, around values it cannot know", () => {
  test("a planted violation is reported although the stack is full of unknowns", async () => {
    const seen = await previewResources((resources) => {
      const postgres = resources.find((r) => r.type === CONTAINER && r.name === "postgres");
      assert.ok(postgres);
      postgres.props.ports = [{ internal: 5432, external: 15434 }];
      const api = resources.find((r) => r.type === CONTAINER && r.name === "globex-api");
      assert.ok(api);
      api.props.healthcheck = { tests: ["CMD-SHELL", "curl -f http://127.0.0.1:3001/"] };
    });
    // Read naively, as the pack did before: the first unknown throws, and the policy SDK then
    // reports the whole rule as "can't run during preview".
    assert.throws(
      () => seen.map((r) => JSON.stringify(r.props)),
      (error: Error) => error instanceof UnknownValueError,
    );
    const resources = seen.map(fromPolicyResource);
    const violations = Object.fromEntries(RULES.map((rule) => [rule.name, rule.check(resources)]));
    assert.match(
      violations["data-ports-on-loopback"][0]?.message ?? "",
      /postgres publishes 0\.0\.0\.0:15434/,
    );
    assert.match(
      violations["containers-are-supervised"][0]?.message ?? "",
      /globex-api health check calls curl/,
    );
    for (const [name, found] of Object.entries(violations)) {
      if (name === "data-ports-on-loopback" || name === "containers-are-supervised") {
        assert.equal(found.length, 1, `${name}: ${found.map((v) => v.message).join("; ")}`);
      } else assert.deepEqual(found, [], name);
    }
    // What could not be checked is said per resource: each container's image id.
    const unchecked = RULES.flatMap((rule) => uncheckedInPreview(rule, resources));
    assert.ok(
      unchecked.some((v) =>
        /images-pinned could not check globex-api\.image in preview/.test(v.message),
      ),
      unchecked.map((v) => v.message).join("\n"),
    );
    assert.ok(unchecked.every((v) => v.urn !== undefined));
  });

  test("the same preview without a planted violation passes every rule", async () => {
    const resources = (await previewResources(() => {})).map(fromPolicyResource);
    for (const rule of RULES) assert.deepEqual(rule.check(resources), [], rule.name);
  });
});

test("a gateway on another tenant's network, or a tenant container in the host's namespace, is refused", () => {
  const rule = RULES.find((r) => r.name === "tenants-never-share-a-network");
  assert.ok(rule);
  const postgres = service("postgres", "postgres", {
    networksAdvanced: [{ name: "prod-platform" }],
  });
  const cases: [CheckedResource[], RegExp][] = [
    [
      [
        postgres,
        tenantContainer(
          "acme-gateway",
          "acme",
          ["prod_globex.network", "prod-platform"],
          "gateway",
        ),
        tenantContainer("globex-api", "globex", ["prod_globex.network"]),
      ],
      /network prod_globex\.network joins acme and globex/,
    ],
    [
      [
        postgres,
        tenantContainer(
          "acme-gateway",
          "acme",
          ["prod_acme.network", "prod_globex.network", "prod-platform"],
          "gateway",
        ),
      ],
      /acme-gateway joins .*: a relay joins its tenant's network and the data network only/,
    ],
    [
      [
        postgres,
        {
          ...tenantContainer("acme-worker", "acme", []),
          props: { ...tenantContainer("acme-worker", "acme", []).props, networkMode: "host" },
        },
      ],
      /acme-worker of tenant acme shares the network namespace host/,
    ],
  ];
  for (const [resources, expected] of cases) {
    const messages = rule.check(resources).map((v) => v.message);
    assert.ok(
      messages.some((m) => expected.test(m)),
      `${expected}: ${messages.join("; ")}`,
    );
  }
});
