/**
 * The Kubernetes runtime under mocks: what a stack with `platform:runtime: kubernetes` registers,
 * checked against the Kubernetes schemas (kubernetes-models, generated from Kubernetes's OpenAPI
 * spec) and against the same properties the Docker runtime's suites hold: health-gated order,
 * isolation, secrets only in Secrets, data protected, bad config refused before anything, and
 * what adding a tenant touches.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { BlockList, isIPv4 } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { before, describe, test } from "node:test";
import {
  consumerEnvironment,
  DittofeedSettings,
  dittofeedHealthPath,
  roleEnvironment,
} from "../components/app/contract";
import type { IDeployment } from "kubernetes-models/apps/v1/Deployment";
import type { IStatefulSet } from "kubernetes-models/apps/v1/StatefulSet";
import type { IJob } from "kubernetes-models/batch/v1/Job";
import type { INetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import type { IPodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import type { IContainer } from "kubernetes-models/v1/Container";
import type { ILimitRange } from "kubernetes-models/v1/LimitRange";
import type { INamespace } from "kubernetes-models/v1/Namespace";
import type { IResourceQuota } from "kubernetes-models/v1/ResourceQuota";
import type { ISecret } from "kubernetes-models/v1/Secret";
import type { IService } from "kubernetes-models/v1/Service";
import { PolicySpec } from "../components/runtime/kubeSpecs";
import { diffPlans } from "../tools/plan/diff";
import { checkPolicies, mandatoryViolations } from "../tools/plan/policies";
import { buildPlan, tenantsOf } from "../tools/plan/plan";
import {
  committedStack,
  isSecret,
  unwrapSecrets,
  mockBytes,
  mockPassword,
  plainStrings,
  platformConfig,
  PROJECT_ROOT,
  Registration,
  RunResult,
  runProgram,
  SECURE_PLACEHOLDER,
} from "./harness";

const STACK = "production-k8s";

/** Settings whose values do not matter, for the environment's keys. */
const DUMMY_SETTINGS: DittofeedSettings = {
  databaseUrl: "postgresql://u:p@h:5432/d",
  clickhouseUrl: "http://c:8123",
  clickhouseDatabase: "d",
  clickhouseUser: "u",
  clickhousePassword: "p",
  temporalAddress: "t:7233",
  temporalNamespace: "n",
  redisUrl: "redis://u:p@r:6379",
  secretKey: "k",
  adminPassword: "a",
  dashboardUrl: "https://x.example.com",
  apiBaseUrl: "https://x.example.com",
  logLevel: "info",
  workspaceName: "W",
};
const TENANTS = ["stark", "umbrella"] as const;

/** The kinds the platform registers, as the Kubernetes schema types them. */
interface Kinds {
  Deployment: IDeployment;
  StatefulSet: IStatefulSet;
  Job: IJob;
  Service: IService;
  Namespace: INamespace;
  Secret: ISecret;
  ResourceQuota: IResourceQuota;
  LimitRange: ILimitRange;
  NetworkPolicy: INetworkPolicy;
  PodDisruptionBudget: IPodDisruptionBudget;
}
type Kind = keyof Kinds;
/** A manifest as a test reads it: every field typed as present; reading one that is not fails the test. */
type Full<T> = T extends (infer U)[]
  ? Full<U>[]
  : T extends object
    ? { [K in keyof T]-?: Full<NonNullable<T[K]>> }
    : T;
type KubeObject<K extends Kind = Kind> = Registration & { manifest: Full<Kinds[K]> };

/** Every Kubernetes object of a run, as the manifest the provider would apply. */
function manifests(run: RunResult): KubeObject[] {
  return run.registrations
    .filter((r) => r.custom && r.type.startsWith("kubernetes:"))
    .map((r) => ({ ...r, manifest: unwrapSecrets(r.inputs) as Full<Kinds[Kind]> }));
}

function ofKind<K extends Kind>(run: RunResult, kind: K, namespace?: string): KubeObject<K>[] {
  return manifests(run).filter(
    (r): r is KubeObject<K> =>
      r.manifest.kind === kind &&
      (namespace === undefined || r.manifest.metadata?.namespace === namespace),
  );
}

/** The one object of a kind and name in a namespace. */
function object<K extends Kind>(
  run: RunResult,
  kind: K,
  namespace: string,
  name: string,
): KubeObject<K> {
  const found = ofKind(run, kind, namespace).filter((r) => r.manifest.metadata?.name === name);
  assert.equal(found.length, 1, `${kind} ${namespace}/${name}`);
  return found[0];
}

/** The containers of a workload's pods. */
function containersOf(
  workload: Full<IDeployment> | Full<IStatefulSet> | Full<IJob>,
): Full<IContainer>[] {
  return workload.spec.template.spec.containers;
}

/** `512Mi` in MiB. */
function mebibytes(quantity: unknown): number {
  const match = /^(\d+)Mi$/.exec(String(quantity));
  assert.ok(match, `memory ${String(quantity)} is in Mi`);
  return Number(match[1]);
}

/** The resources a registration waits for, transitively. */
function upstream(run: RunResult, urn: string, seen = new Set<string>()): Set<string> {
  const byUrn = new Map(run.registrations.map((r) => [r.urn, r]));
  for (const dep of byUrn.get(urn)?.dependencies ?? []) {
    if (seen.has(dep)) continue;
    seen.add(dep);
    upstream(run, dep, seen);
  }
  return seen;
}

/** Entries in an order of their own, to compare lists whose order means nothing. */
const sortedJson = (list: unknown[]) => list.map((entry) => JSON.stringify(entry)).sort();

const k8sConfig = (values: Record<string, unknown>) =>
  platformConfig({
    environment: "staging",
    runtime: "kubernetes",
    tenants: [
      { id: "acme", workspaceName: "Acme" },
      { id: "globex", workspaceName: "Globex", workerReplicas: 2 },
    ],
    ...values,
  });

describe("a Kubernetes stack (committed production-k8s)", () => {
  let run: RunResult;
  before(async () => {
    run = await runProgram(committedStack(STACK));
    assert.equal(run.error, undefined, String(run.error));
  });

  test("each tenant is a namespace of Deployments, Services, Jobs, Secrets, policies and quotas", () => {
    for (const id of TENANTS) {
      const namespace = `${STACK}-${id}`;
      assert.equal(
        ofKind(run, "Namespace").filter((n) => n.manifest.metadata.name === namespace).length,
        1,
      );
      const names = (kind: Kind) =>
        ofKind(run, kind, namespace)
          .map((r) => r.manifest.metadata.name)
          .sort();
      assert.deepEqual(names("Deployment"), ["api", "dashboard", "temporal-proxy", "worker"]);
      assert.deepEqual(names("Service"), ["api", "dashboard", "temporal-proxy"]);
      assert.deepEqual(names("NetworkPolicy"), [
        "api-from-connector",
        "dashboard-from-connector",
        "default-deny",
        "egress",
        "temporal-proxy-from-tenant",
        "temporal-proxy-to-temporal",
      ]);
      assert.equal(ofKind(run, "ResourceQuota", namespace).length, 1);
      assert.equal(ofKind(run, "LimitRange", namespace).length, 1);
      // Its bootstrap and schema jobs; the four with an admin's credentials (owner check, Redis
      // user, Temporal namespace, ClickHouse access) run in the data namespace.
      assert.deepEqual(
        ofKind(run, "Job", namespace)
          .map((r) => r.name)
          .sort(),
        [`${id}-bootstrap`, `${id}-schema`],
      );
      assert.deepEqual(
        ofKind(run, "Job", `${STACK}-data`)
          .filter((r) => r.name.startsWith(`${id}-`))
          .map((r) => r.name)
          .sort(),
        [
          `${id}-clickhouse`,
          `${id}-database-owner-check`,
          `${id}-namespace-job`,
          `${id}-redis-job`,
        ],
      );
      // One per job, one that the three roles read, and the Temporal proxy's token.
      assert.equal(ofKind(run, "Secret", namespace).length, 4);
    }
  });

  test("nothing of Docker is registered, and the Docker stacks register nothing of Kubernetes", async () => {
    assert.deepEqual(
      run.registrations.filter((r) => r.type.startsWith("docker:")).map((r) => r.name),
      [],
    );
    const docker = await runProgram(committedStack("production"));
    assert.equal(docker.error, undefined, String(docker.error));
    assert.deepEqual(
      docker.registrations.filter((r) => r.type.includes("kubernetes")).map((r) => r.name),
      [],
    );
  });

  test("every manifest is valid against the Kubernetes schema, with names Kubernetes accepts", async () => {
    const all = manifests(run);
    assert.ok(all.length > 60);
    for (const r of all) {
      const { apiVersion, kind } = r.manifest as { apiVersion: string; kind: string };
      const module = (await import(`kubernetes-models/${apiVersion}/${kind}`)) as Record<
        string,
        new (data: unknown) => { validate(): void }
      >;
      // The provider fills in a missing name (see tools/engine/mocks.ts); the schema requires none.
      assert.doesNotThrow(() => new module[kind](r.manifest).validate(), `${r.name}`);
      for (const name of [r.manifest.metadata?.name, r.manifest.metadata?.namespace]) {
        if (name !== undefined)
          assert.match(name, /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, r.name);
      }
    }
  });

  test("the schema check can fail: a Deployment with a bad field is refused", async () => {
    const deployment = object(run, "Deployment", `${STACK}-stark`, "api").manifest;
    const { Deployment } = (await import("kubernetes-models/apps/v1/Deployment")) as unknown as {
      Deployment: new (data: unknown) => { validate(): void };
    };
    const broken = structuredClone(deployment);
    // An int-or-string that is neither.
    (broken.spec.strategy.rollingUpdate as Record<string, unknown>).maxUnavailable = { percent: 0 };
    assert.throws(() => new Deployment(broken).validate());
  });

  test("apps wait for every job of their tenant, and the schema job for the bootstrap", () => {
    const urnOf = (name: string) => {
      const found = run.registrations.find((r) => r.name === name && r.custom);
      assert.ok(found, name);
      return found.urn;
    };
    for (const id of TENANTS) {
      const namespace = `${STACK}-${id}`;
      const jobs = ofKind(run, "Job")
        .filter((j) => j.name.startsWith(`${id}-`))
        .map((j) => j.urn);
      assert.equal(jobs.length, 6);
      for (const role of ["api", "dashboard", "worker"]) {
        const waits = upstream(run, object(run, "Deployment", namespace, role).urn);
        for (const job of jobs) assert.ok(waits.has(job), `${id} ${role} waits for ${job}`);
      }
      const schema = upstream(run, urnOf(`${id}-schema`));
      for (const before of [`${id}-bootstrap`, `${id}-clickhouse`, `${id}-namespace-job`]) {
        assert.ok(schema.has(urnOf(before)), `${id}'s schema job waits for ${before}`);
      }
      // No tenant waits for another.
      const other = TENANTS.find((t) => t !== id)!;
      const apiWaits = upstream(run, object(run, "Deployment", namespace, "api").urn);
      assert.ok(
        ![...apiWaits].some((urn) => urn.includes(`::${other}-`)),
        `${id} waits for ${other}`,
      );
    }
  });

  test("each role reads exactly the environment it reads on Docker: the shared Secret and its own plain settings", () => {
    const namespace = `${STACK}-stark`;
    const [app] = ofKind(run, "Secret", namespace).filter((s) =>
      s.name.startsWith("stark-app-env"),
    );
    for (const role of ["api", "dashboard", "worker"] as const) {
      const [container] = containersOf(object(run, "Deployment", namespace, role).manifest);
      // The Secret's name is the provider's (see tools/engine/mocks.ts).
      assert.match(container.envFrom[0].secretRef.name, /^stark-app-env-[0-9a-f]{8}$/);
      const plain = Object.fromEntries((container.env ?? []).map((e) => [e.name, e.value]));
      const effective = { ...app.manifest.stringData, ...plain };
      const docker = consumerEnvironment(role, DUMMY_SETTINGS);
      assert.deepEqual(Object.keys(effective).sort(), Object.keys(docker).sort(), role);
      assert.deepEqual(plain, roleEnvironment(role), role);
    }
  });

  test("serving roles roll without dropping below their replicas, behind readiness on the health paths", () => {
    const namespace = `${STACK}-stark`;
    for (const [role, port] of [
      ["api", 3001],
      ["dashboard", 3000],
    ] as const) {
      const { spec } = object(run, "Deployment", namespace, role).manifest;
      assert.deepEqual(spec.strategy, {
        type: "RollingUpdate",
        rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
      });
      const [container] = spec.template.spec.containers;
      assert.deepEqual(container.readinessProbe.httpGet, { path: dittofeedHealthPath(role), port });
      assert.deepEqual(container.ports, [{ name: "http", containerPort: port }]);
    }
    const worker = object(run, "Deployment", namespace, "worker").manifest.spec;
    // Two releases must not poll one task queue at once.
    assert.equal(worker.strategy.type, "Recreate");
    assert.equal(worker.replicas, 2);
    const command = worker.template.spec.containers[0].readinessProbe.exec.command;
    assert.equal(command[0], "node");
    // Temporal through the tenant's own proxy, which holds its token.
    assert.match(command[2], /host:"temporal-proxy",port:7233/);
  });

  test("jobs fail fast, are never deleted after they finish, and are run afresh once they failed", () => {
    const jobs = ofKind(run, "Job");
    assert.equal(jobs.length, 1 + 6 * TENANTS.length);
    for (const { name, manifest, customTimeouts } of jobs) {
      assert.equal(manifest.spec.backoffLimit, 1, name);
      assert.equal(manifest.spec.ttlSecondsAfterFinished, undefined, name);
      // Within the provider's wait (10 minutes unless told more), so a hung job fails as a job.
      const wait = customTimeouts.create === undefined ? 600 : parseInt(customTimeouts.create) * 60;
      assert.ok(manifest.spec.activeDeadlineSeconds < wait, name);
      assert.equal(manifest.spec.template.spec.restartPolicy, "Never", name);
      assert.equal(manifest.metadata.annotations["pulumi.com/replaceUnready"], "true", name);
      // Named by the provider: a changed job is created before the old one is deleted.
      assert.equal(manifest.metadata.name, undefined, name);
    }
  });

  test("a failing job stops its tenant's apps and leaves the other tenant alone", async () => {
    const failed = await runProgram({
      ...committedStack(STACK),
      jobs: { "stark-schema": { exitCode: 1, logs: "relation does not exist" } },
    });
    assert.match(String(failed.error), /stark-schema failed/);
    const registered = new Set(failed.registrations.map((r) => r.name));
    for (const role of ["api", "dashboard", "worker"]) {
      assert.ok(!registered.has(`stark-${role}`), `stark-${role} was registered`);
      assert.ok(registered.has(`umbrella-${role}`), `umbrella-${role} was not`);
    }
  });

  test("secrets reach pods only through Secrets, which Pulumi keeps encrypted", () => {
    const secrets = new Set<string>([SECURE_PLACEHOLDER]);
    for (const r of run.registrations) {
      if (r.type === "random:index/randomPassword:RandomPassword")
        secrets.add(mockPassword(r.name));
      if (r.type === "random:index/randomBytes:RandomBytes") {
        secrets.add(mockBytes(r.name, Number(r.inputs.length)).toString("base64"));
      }
    }
    assert.ok(secrets.size > 10);
    for (const r of run.registrations) {
      const leaked = plainStrings(r.inputs).filter((s) => [...secrets].some((v) => s.includes(v)));
      assert.deepEqual(leaked, [], `${r.name} (${r.type}) holds a secret in plain`);
    }
    for (const secret of ofKind(run, "Secret")) {
      const raw = run.registrations.find((r) => r.urn === secret.urn)!;
      assert.ok(isSecret(raw.inputs.stringData), `${secret.name}'s data is not a secret`);
      assert.equal(secret.manifest.immutable, true, secret.name);
    }
    // Every pod that is given a secret reads it from a Secret (the leak check above proves no
    // plain value is one); only the JWKS, which is public, reads none.
    const without = (["Deployment", "Job", "StatefulSet"] as const)
      .flatMap((kind) => ofKind(run, kind as "Job"))
      .filter((r) => !containersOf(r.manifest).some((c) => c.envFrom?.[0]?.secretRef?.name))
      .map((r) => r.name)
      .sort();
    assert.deepEqual(without, ["temporal-keys"]);
    assert.ok(isSecret(run.outputs?.connections), "connections output is not a secret");
  });

  test("the managed services are reached over TLS that checks their certificates", () => {
    const provider = run.registrations.find((r) => r.type === "pulumi:providers:postgresql")!;
    assert.equal(provider.inputs.sslmode, "verify-full");
    assert.equal(provider.inputs.host, "dittofeed-k8s.db.example.net");
    const apiEnv = run.registrations.find(
      (r) => r.name.startsWith("stark-app-env") && r.type === "kubernetes:core/v1:Secret",
    )!;
    const env = unwrapSecrets(apiEnv.inputs.stringData) as Record<string, string>;
    assert.match(
      env.DATABASE_URL,
      /@dittofeed-k8s\.db\.example\.net:5432\/dittofeed_stark\?sslmode=verify-full$/,
    );
    assert.equal(env.CLICKHOUSE_HOST, "https://abc123xyz.eu-west-1.aws.clickhouse.cloud:8443");
    const check = run.registrations.find(
      (r) =>
        r.name.startsWith("stark-database-owner-check-env") &&
        r.type === "kubernetes:core/v1:Secret",
    )!;
    const checkEnv = unwrapSecrets(check.inputs.stringData) as Record<string, string>;
    assert.equal(checkEnv.PGSSLMODE, "verify-full");
    const clickhouse = ofKind(run, "Job").find((r) => r.name === "stark-clickhouse")!;
    const script = containersOf(clickhouse.manifest)[0].command[2];
    assert.match(
      script,
      /--host abc123xyz\.eu-west-1\.aws\.clickhouse\.cloud --port 9440 --secure$/,
    );
  });

  test("the tunnel routes each hostname to a Service that exists, by its cluster name", () => {
    const config = run.registrations.find(
      (r) =>
        r.type ===
        "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig",
    )!;
    const ingresses = (config.inputs.config as { ingresses: { service: string }[] }).ingresses;
    const routed = new Set(
      ingresses.map((rule) => rule.service).filter((s) => s.startsWith("http://")),
    );
    assert.deepEqual(
      [...routed].sort(),
      TENANTS.flatMap((id) => [
        `http://api.${STACK}-${id}.svc:3001`,
        `http://dashboard.${STACK}-${id}.svc:3000`,
      ]).sort(),
    );
    for (const service of routed) {
      const url = new URL(service);
      const match = /^([a-z0-9-]+)\.([a-z0-9-]+)\.svc$/.exec(url.hostname);
      assert.ok(match, `${service} is not a Service's cluster name`);
      const target = object(run, "Service", match[2], match[1]).manifest;
      assert.ok(
        target.spec.ports.some((p: { port: number }) => p.port === Number(url.port)),
        `${service}: the Service has no such port`,
      );
    }
  });

  test("the connector runs at least two pods, ready once connected, with its token from a Secret", () => {
    const { spec } = object(run, "Deployment", `${STACK}-edge`, "cloudflared").manifest;
    assert.equal(spec.replicas, 3);
    assert.equal(spec.strategy.rollingUpdate.maxUnavailable, 0);
    const [container] = spec.template.spec.containers;
    const metrics = container.args[container.args.indexOf("--metrics") + 1];
    assert.equal(metrics, `0.0.0.0:${container.readinessProbe.httpGet.port}`);
    assert.equal(container.readinessProbe.httpGet.path, "/ready");
    assert.equal(container.args.at(-1), "run");
    assert.equal(container.env, undefined);
    assert.ok(container.envFrom[0].secretRef.name.startsWith("tunnel-token-"));
    // Spread over nodes, and a drain takes one at a time.
    assert.equal(
      spec.template.spec.topologySpreadConstraints[0].topologyKey,
      "kubernetes.io/hostname",
    );
    const [budget] = ofKind(run, "PodDisruptionBudget", `${STACK}-edge`);
    assert.deepEqual(budget.manifest.spec, {
      maxUnavailable: 1,
      selector: { matchLabels: { "platform.service": "cloudflared" } },
    });
  });

  test("Temporal binds every interface and broadcasts its pod's address", () => {
    const { spec } = object(run, "Deployment", `${STACK}-data`, "temporal").manifest;
    const env = Object.fromEntries(
      (
        spec.template.spec.containers[0].env as {
          name: string;
          value?: string;
          valueFrom?: unknown;
        }[]
      ).map((e) => [e.name, e.value ?? e.valueFrom]),
    );
    assert.equal(env.BIND_ON_IP, "0.0.0.0");
    assert.deepEqual(env.TEMPORAL_BROADCAST_ADDRESS, { fieldRef: { fieldPath: "status.podIP" } });
    assert.equal(env.DB_PORT, "5432");
    assert.equal(env.SQL_TLS_ENABLED, "true");
    // Without it Temporal asks for sslmode=require, which verifies nothing.
    assert.equal(env.SQL_HOST_VERIFICATION, "true");
    assert.equal(env.SQL_HOST_NAME, "dittofeed-k8s.db.example.net");
    assert.equal(spec.strategy.type, "Recreate");
  });

  test("each quota admits its tenant at its peak: every rollout's surge pod and every job at once", () => {
    for (const id of TENANTS) {
      const namespace = `${STACK}-${id}`;
      let memory = 0;
      let pods = 0;
      let largest = 0;
      const add = (manifest: Full<IDeployment> | Full<IJob>, count: number) => {
        pods += count;
        for (const c of containersOf(manifest)) {
          assert.equal(c.resources.requests.memory, c.resources.limits.memory);
          const mb = mebibytes(c.resources.limits.memory);
          memory += count * mb;
          largest = Math.max(largest, mb);
        }
      };
      for (const { manifest } of ofKind(run, "Deployment", namespace)) {
        add(
          manifest,
          manifest.spec.replicas +
            (manifest.spec.strategy.type === "RollingUpdate"
              ? Number(manifest.spec.strategy.rollingUpdate.maxSurge)
              : 0),
        );
      }
      for (const { manifest } of ofKind(run, "Job", namespace)) add(manifest, 1);
      const [quota] = ofKind(run, "ResourceQuota", namespace);
      const hard = quota.manifest.spec.hard;
      assert.ok(
        mebibytes(hard["limits.memory"]) >= memory,
        `${id}: ${hard["limits.memory"]} < ${memory}Mi`,
      );
      assert.ok(Number(hard.pods) >= pods, `${id}: ${hard.pods} pods < ${pods}`);
      // Nothing a tenant could expose or keep data in.
      assert.equal(hard["services.loadbalancers"], "0");
      assert.equal(hard["services.nodeports"], "0");
      assert.equal(hard.persistentvolumeclaims, "0");
      const [limits] = ofKind(run, "LimitRange", namespace);
      assert.ok(mebibytes(limits.manifest.spec.limits[0].max.memory) >= largest);
    }
  });

  describe("network policies", () => {
    const policiesOf = (namespace: string) =>
      ofKind(run, "NetworkPolicy", namespace).map((r) => r.manifest.spec as PolicySpec);
    const family = (ip: string) => (isIPv4(ip) ? "ipv4" : "ipv6");
    const blocks = (cidrs: readonly string[]) => {
      const list = new BlockList();
      for (const cidr of cidrs) {
        const [address, prefix] = cidr.split("/");
        list.addSubnet(address, Number(prefix), family(address));
      }
      return list;
    };

    /** Whether any policy's egress admits a connection to `ip` through an ipBlock. */
    function egressAdmits(policies: PolicySpec[], ip: string): boolean {
      return policies.some((policy) =>
        (policy.egress ?? []).some((rule) =>
          (rule.to ?? []).some(
            ({ ipBlock }) =>
              ipBlock !== undefined &&
              blocks([ipBlock.cidr]).check(ip, family(ip)) &&
              !blocks(ipBlock.except ?? []).check(ip, family(ip)),
          ),
        ),
      );
    }

    test("every tenant pod is denied everything by default", () => {
      for (const id of TENANTS) {
        const deny = policiesOf(`${STACK}-${id}`).filter(
          (p) => Object.keys(p.podSelector).length === 0 && !p.ingress && !p.egress,
        );
        assert.deepEqual(
          deny.map((p) => p.policyTypes),
          [["Ingress", "Egress"]],
        );
      }
    });

    test("tenants reach the internet and the named range, but no other private range, metadata or loopback", () => {
      const policies = policiesOf(`${STACK}-stark`);
      for (const ip of ["1.1.1.1", "8.8.8.8", "2606:4700:4700::1111", "10.40.16.5"]) {
        assert.ok(egressAdmits(policies, ip), `${ip} is not reachable`);
      }
      for (const ip of [
        "169.254.169.254",
        "100.100.100.200",
        "10.0.0.1",
        "10.40.17.1",
        "172.16.5.4",
        "192.168.1.1",
        "127.0.0.1",
        "fd00:ec2::254",
        "fe80::1",
        "::ffff:10.0.0.1",
        "64:ff9b::a00:1",
      ]) {
        assert.ok(!egressAdmits(policies, ip), `${ip} is reachable`);
      }
      // Without allowedCidrs no private range at all.
      const edge = policiesOf(`${STACK}-edge`);
      assert.ok(!egressAdmits(edge, "10.40.16.5"));
      assert.ok(egressAdmits(edge, "104.16.0.1"));
    });

    test("only the connector's pods get in, and only to the serving roles' ports; the tenant's own pods to its Temporal proxy", () => {
      for (const id of TENANTS) {
        const ingress = policiesOf(`${STACK}-${id}`).flatMap((p) =>
          (p.ingress ?? []).map((rule) => [p.podSelector.matchLabels, rule.from, rule.ports]),
        );
        assert.deepEqual(
          sortedJson(ingress),
          sortedJson([
            ...(["api", "dashboard"] as const).map((role, i) => [
              { "platform.service": role },
              [
                {
                  namespaceSelector: {
                    matchLabels: { "kubernetes.io/metadata.name": `${STACK}-edge` },
                  },
                  podSelector: { matchLabels: { "platform.service": "cloudflared" } },
                },
              ],
              [{ port: [3001, 3000][i], protocol: "TCP" }],
            ]),
            [
              { "platform.service": "temporal-proxy" },
              [{ podSelector: {} }],
              [{ port: 7233, protocol: "TCP" }],
            ],
          ]),
        );
      }
    });

    test("Temporal's port is reached by each tenant's proxy alone, which holds the tenant's token for its namespace only", () => {
      for (const id of TENANTS) {
        const policies = policiesOf(`${STACK}-${id}`);
        const toTemporal = policies.flatMap((p) =>
          (p.egress ?? [])
            .filter((rule) => (rule.ports ?? []).some((port) => port.port === 7233))
            .map((rule) => [p.podSelector.matchLabels ?? {}, rule.to]),
        );
        assert.deepEqual(
          sortedJson(toTemporal),
          sortedJson([
            // Every pod: the proxy in its own namespace.
            [{}, [{ podSelector: { matchLabels: { "platform.service": "temporal-proxy" } } }]],
            // The proxy: the data namespace.
            [
              { "platform.service": "temporal-proxy" },
              [
                {
                  namespaceSelector: {
                    matchLabels: { "kubernetes.io/metadata.name": `${STACK}-data` },
                  },
                },
              ],
            ],
          ]),
        );
        const proxy = object(run, "Deployment", `${STACK}-${id}`, "temporal-proxy").manifest.spec;
        const [script] = proxy.template.spec.containers[0].args;
        assert.match(script, /set-header authorization "Bearer \$\{TEMPORAL_AUTHORIZATION\}"/);
        assert.match(
          script,
          new RegExp(`server temporal temporal\\.${STACK}-data\\.svc:7233 proto h2`),
        );
      }
    });

    test("tenants reach no other namespace than the data services' and the cluster's DNS", () => {
      const peers = policiesOf(`${STACK}-stark`).flatMap((p) =>
        (p.egress ?? []).flatMap((rule) =>
          (rule.to ?? []).filter((peer) => peer.namespaceSelector),
        ),
      );
      assert.deepEqual(
        [
          ...new Set(
            peers.map(
              (peer) => peer.namespaceSelector!.matchLabels!["kubernetes.io/metadata.name"],
            ),
          ),
        ].sort(),
        ["kube-system", `${STACK}-data`],
      );
    });
  });
});

describe("a Kubernetes stack that runs its own data services (staging)", () => {
  let run: RunResult;
  before(async () => {
    run = await runProgram({ stack: "staging-k8s", config: k8sConfig({}) });
    assert.equal(run.error, undefined, String(run.error));
  });

  test("Postgres, Redis and ClickHouse run as StatefulSets whose volumes outlive them", () => {
    const namespace = "staging-k8s-data";
    for (const [name, size] of [
      ["postgres", "20Gi"],
      ["redis", "2Gi"],
      ["clickhouse", "50Gi"],
    ] as const) {
      const { spec } = object(run, "StatefulSet", namespace, name).manifest;
      assert.deepEqual(spec.persistentVolumeClaimRetentionPolicy, {
        whenDeleted: "Retain",
        whenScaled: "Retain",
      });
      assert.equal(spec.volumeClaimTemplates[0].spec.resources.requests.storage, size);
      assert.ok(spec.template.spec.containers[0].readinessProbe, name);
      object(run, "Service", namespace, name);
    }
    // Redis runs as its image's user from the start (the command replaces the entrypoint that
    // would drop root); Postgres and ClickHouse start as root and drop it themselves.
    const redis = object(run, "StatefulSet", namespace, "redis").manifest.spec.template.spec;
    assert.deepEqual(
      [
        redis.securityContext.runAsUser,
        redis.securityContext.runAsGroup,
        redis.securityContext.fsGroup,
      ],
      [999, 1000, 1000],
    );
    assert.deepEqual(redis.containers[0].securityContext.capabilities.drop, ["ALL"]);
    const postgres = object(run, "StatefulSet", namespace, "postgres").manifest.spec.template.spec;
    assert.equal(postgres.securityContext.runAsUser, undefined);
    // initdb refuses a volume's root, which holds lost+found.
    assert.deepEqual(postgres.containers[0].env, [
      { name: "PGDATA", value: "/var/lib/postgresql/data/pgdata" },
    ]);
  });

  test("the data services admit the stack's tenant namespaces by their names, which no one can relabel, and reach out only where tenants may", () => {
    const policies = ofKind(run, "NetworkPolicy", "staging-k8s-data").map(
      (r) => r.manifest.spec as PolicySpec,
    );
    const from = policies.flatMap((p) => (p.ingress ?? []).flatMap((rule) => rule.from ?? []));
    const tenants = {
      matchExpressions: [
        {
          key: "kubernetes.io/metadata.name",
          operator: "In",
          values: ["staging-k8s-acme", "staging-k8s-globex"],
        },
      ],
    };
    assert.deepEqual(from, [
      { podSelector: {} },
      { namespaceSelector: tenants },
      // Temporal's port from each tenant's proxy alone.
      {
        namespaceSelector: tenants,
        podSelector: { matchLabels: { "platform.service": "temporal-proxy" } },
      },
    ]);
    // The jobs that hold an admin's credentials run here: egress is denied but to its own pods,
    // the cluster's DNS and what is no private range.
    assert.ok(policies.some((p) => p.podSelector && p.policyTypes.includes("Egress") && !p.egress));
    const to = policies.flatMap((p) => (p.egress ?? []).flatMap((rule) => rule.to ?? []));
    assert.deepEqual(to[0], { podSelector: {} });
    const everywhere = to.filter((peer) => peer.ipBlock).map((peer) => peer.ipBlock!);
    assert.ok(everywhere.every((block) => (block.except ?? []).length > 0));
    assert.ok(everywhere.some((block) => block.except!.includes("169.254.0.0/16")));
    assert.ok(everywhere.some((block) => block.except!.includes("64:ff9b:1::/48")));
  });

  test("the provider reaches the in-cluster Postgres through the forwarded port on loopback", () => {
    const provider = run.registrations.find((r) => r.type === "pulumi:providers:postgresql")!;
    assert.deepEqual(
      [provider.inputs.host, Number(provider.inputs.port), provider.inputs.sslmode],
      ["127.0.0.1", 15432, "disable"],
    );
    // Only once the server is ready.
    const statefulSet = object(run, "StatefulSet", "staging-k8s-data", "postgres");
    assert.ok(provider.dependencies.includes(statefulSet.urn));
  });
});

test("adding a tenant to a Kubernetes stack adds only its own resources and changes only the routes", async () => {
  const options = committedStack(STACK);
  const digestKey = randomBytes(32).toString("hex");
  const tenants = JSON.parse(options.config["platform:tenants"]) as Record<string, unknown>[];
  const hooli = {
    id: "hooli",
    workspaceName: "Hooli",
    hostname: "hooli-k8s",
    accessEmails: ["ops@hooli.example"],
  };
  const edited = {
    ...options,
    config: { ...options.config, "platform:tenants": JSON.stringify([...tenants, hooli]) },
  };
  const [base, head] = [await runProgram(options), await runProgram(edited)];
  assert.equal(head.error, undefined, String(head.error));
  const headPlan = buildPlan(STACK, head, digestKey);
  const diff = diffPlans(buildPlan(STACK, base, digestKey), headPlan, "committed");
  const owners = tenantsOf(headPlan);
  assert.deepEqual(diff.removed, []);
  // The policies that name the stack's tenant namespaces (by their immutable names) gain the
  // new one, in place.
  assert.deepEqual(
    diff.changed.map((c) => [c.name, c.action]),
    [
      ["tunnel-config", "update"],
      ["data-from-platform", "update"],
      ["tunnel-edge-egress", "update"],
    ],
  );
  assert.deepEqual(
    diff.added.filter((r) => owners.get(r.id) !== "hooli").map((r) => r.name),
    [],
  );
  assert.ok(diff.added.some((r) => r.name === "tunnel-dns-hooli"));
});

test("a setting a job reads replaces the job and rolls the roles that read it; others are untouched", async () => {
  const options = committedStack(STACK);
  const digestKey = randomBytes(32).toString("hex");
  const changed = {
    ...options,
    config: { ...options.config, "platform:dittofeed": JSON.stringify({ logLevel: "debug" }) },
  };
  const [base, head] = [await runProgram(options), await runProgram(changed)];
  assert.equal(head.error, undefined, String(head.error));
  const diff = diffPlans(
    buildPlan(STACK, base, digestKey),
    buildPlan(STACK, head, digestKey),
    "committed",
  );
  const action = (name: string) => diff.changed.find((c) => c.name === name)?.action;
  // LOG_LEVEL is read by the schema job and every role: their Secrets are replaced (immutable),
  // the job's template names the new Secret, and each Deployment's pod template rolls to it.
  assert.equal(action("stark-schema-env"), "replace");
  assert.equal(action("stark-schema"), "replace");
  assert.equal(action("stark-app-env"), "replace");
  assert.equal(action("stark-api"), "update");
  // The owner check reads nothing of it.
  assert.equal(action("stark-database-owner-check"), undefined);
});

describe("bad Kubernetes config is refused before anything is registered", () => {
  const cases: [string, Record<string, unknown>, string, RegExp][] = [
    [
      "a Docker-only key",
      { egress: { guard: false } },
      "staging-k8s",
      /platform:egress .*Docker's/,
    ],
    [
      "a tenant named like the data namespace",
      { tenants: [{ id: "data", workspaceName: "D" }] },
      "staging-k8s",
      /platform:tenants\[0\]\.id .*<stack>-data/,
    ],
    [
      "production without managed data",
      { environment: "production" },
      "production-k8s2",
      /platform:postgres\.external .*required in production/,
    ],
    ["a namespace name Kubernetes refuses", {}, "Staging_K8s", /Kubernetes refuses/],
    [
      "an external Postgres without its password",
      { postgres: { external: { host: "db.example.net" } } },
      "staging-k8s",
      /platform:secrets\.postgresPassword .*required/,
    ],
    [
      "an allowed range that is no CIDR",
      { kubernetes: { allowedCidrs: ["10.0.0.0"] } },
      "staging-k8s",
      /platform:kubernetes\.allowedCidrs\[0\] .*CIDR/,
    ],
    [
      "a Docker CPU cap on a tenant",
      { tenants: [{ id: "acme", workspaceName: "Acme", cpus: 2 }] },
      "staging-k8s",
      /platform:tenants\[0\]\.cpus .*Docker's/,
    ],
    [
      "a single connector",
      { kubernetes: { connectorReplicas: 1 } },
      "staging-k8s",
      /connectorReplicas .*at least 2/,
    ],
  ];
  for (const [what, values, stack, message] of cases) {
    test(what, async () => {
      const failed = await runProgram({ stack, config: k8sConfig(values) });
      assert.match(String(failed.error), message);
      assert.deepEqual(
        failed.registrations.filter((r) => r.custom).map((r) => r.name),
        [],
      );
    });
  }

  test("a Docker stack refuses Kubernetes and external keys", async () => {
    const failed = await runProgram({
      stack: "staging",
      config: platformConfig({
        environment: "staging",
        tenants: [{ id: "acme", workspaceName: "Acme" }],
        kubernetes: {},
        clickhouse: { external: { host: "ch.example.net" } },
      }),
    });
    assert.match(String(failed.error), /platform:kubernetes .*runtime kubernetes/);
    assert.match(String(failed.error), /platform:clickhouse\.external .*kubernetes only/);
  });
});

test("production keeps every database: protected and retained", async () => {
  const run = await runProgram(committedStack(STACK));
  const databases = run.registrations.filter(
    (r) => r.type === "postgresql:index/database:Database",
  );
  // Each tenant's, and Temporal's two.
  assert.equal(databases.length, TENANTS.length + 2);
  for (const db of databases) {
    assert.deepEqual([db.protect, db.retainOnDelete], [true, true], db.name);
  }
});

describe("the policy pack on a Kubernetes stack", () => {
  let run: RunResult;
  before(async () => {
    run = await runProgram(committedStack(STACK));
  });
  const violationsOf = (registrations: Registration[], rule: string) =>
    checkPolicies(registrations)
      .find((r) => r.rule.name === rule)!
      .violations.map((v) => v.message);

  test("the committed stack breaks no mandatory rule", () => {
    assert.equal(mandatoryViolations(checkPolicies(run.registrations)), 0);
  });

  test("a tenant namespace without its default-deny policy or quota is caught", () => {
    const stripped = run.registrations.filter(
      (r) => !(r.name === "stark-default-deny" || r.name === "stark-quota"),
    );
    assert.deepEqual(violationsOf(stripped, "kubernetes-tenants-isolated"), [
      `namespace ${STACK}-stark has no default-deny NetworkPolicy`,
      `namespace ${STACK}-stark has no ResourceQuota`,
    ]);
  });

  test("a job that could be deleted after it finished, or never fail, is caught", () => {
    const changed = run.registrations.map((r) =>
      r.name === "stark-schema"
        ? {
            ...r,
            inputs: {
              ...r.inputs,
              spec: { ...(r.inputs.spec as object), ttlSecondsAfterFinished: 60, backoffLimit: 6 },
            },
          }
        : r,
    );
    assert.equal(violationsOf(changed, "kubernetes-jobs-end").length, 2);
    // A data Job's deadline of hours, without the wait that goes with it, outlasts the provider.
    const unwaited = run.registrations.map((r) =>
      r.name === "stark-schema" ? { ...r, customTimeouts: {} } : r,
    );
    assert.deepEqual(violationsOf(unwaited, "kubernetes-jobs-end"), [
      "stark-schema has no activeDeadlineSeconds under 600, so a hung step outlasts the provider's wait",
    ]);
  });

  test("production data kept in the cluster, where nothing backs it up, is caught", async () => {
    const staging = await runProgram({ stack: "staging-k8s", config: k8sConfig({}) });
    const inCluster = staging.registrations.filter(
      (r) => r.type === "kubernetes:apps/v1:StatefulSet" && r.name === "postgres",
    );
    assert.equal(inCluster.length, 1);
    assert.deepEqual(violationsOf([...run.registrations, ...inCluster], "production-backs-up"), [
      "postgres keeps production data in the cluster, where nothing backs it up: use a managed service (platform:postgres.external, platform:clickhouse.external)",
    ]);
  });

  test("production is told from the namespaces' labels: an unprotected database is caught", () => {
    const changed = run.registrations.map((r) =>
      r.name === "stark-database-db" ? { ...r, protect: false } : r,
    );
    assert.deepEqual(violationsOf(changed, "production-data-protected"), [
      "stark-database-db holds production data but is not protected",
    ]);
  });
});

test("tools/scripts/postgres-forward.sh waits for the pod, forwards on loopback only, and forwards again", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "forward-"));
  const log = path.join(dir, "calls");
  // A stand-in kubectl: the pod is not ready at first, then ready; every forward ends at once.
  fs.writeFileSync(
    path.join(dir, "kubectl"),
    [
      "#!/bin/sh",
      `echo "$*" >> "${log}"`,
      'case "$3" in wait) [ "$(grep -c wait "' + log + '")" -gt 1 ] || exit 1 ;; esac',
      "exit 0",
    ].join("\n"),
    { mode: 0o755 },
  );
  spawnSync("timeout", ["2", "bash", "tools/scripts/postgres-forward.sh", "staging-k8s", "15499"], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, PATH: `${dir}:${process.env.PATH}`, FORWARD_RETRY_SECONDS: "0.2" },
  });
  const calls = fs.readFileSync(log, "utf8").trim().split("\n");
  const wait = "-n staging-k8s-data wait --for=condition=Ready pod/postgres-0 --timeout=30s";
  const forward = "-n staging-k8s-data port-forward --address 127.0.0.1 svc/postgres 15499:5432";
  // Not ready: no forward; ready: forward; the forward ended: wait and forward again.
  assert.deepEqual(calls.slice(0, 5), [wait, wait, forward, wait, forward]);
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("what a tenant's namespace can read", () => {
  test("no admin's credential is in a tenant's namespace: those jobs run in the data namespace", async () => {
    const run = await runProgram({ stack: "staging-k8s", config: k8sConfig({}) });
    assert.equal(run.error, undefined, String(run.error));
    const admin = ["postgres-password", "redis-password", "clickhouse-password"].map(mockPassword);
    for (const id of ["acme", "globex"]) {
      for (const secret of ofKind(run, "Secret", `staging-k8s-${id}`)) {
        const values = Object.values(secret.manifest.stringData);
        assert.deepEqual(
          values.filter((v) => admin.some((password) => v.includes(password))),
          [],
          `${secret.name} holds an admin's password`,
        );
      }
    }
    // They are in the data namespace, whose policy admits its own pods.
    const check = ofKind(run, "Secret", "staging-k8s-data").find((s) =>
      s.name.startsWith("acme-database-owner-check-env"),
    )!;
    assert.equal(check.manifest.stringData.PGPASSWORD, mockPassword("postgres-password"));
  });
});

describe("the cluster's limits on names and addresses", () => {
  const id = (length: number) => `t${"x".repeat(length - 1)}`;

  test("a tenant id of 33 characters gives every Job a name its pods' label can hold; 34 is refused", async () => {
    const longest = await runProgram({
      stack: "staging-k8s",
      config: k8sConfig({ tenants: [{ id: id(33), workspaceName: "Long" }] }),
    });
    assert.equal(longest.error, undefined, String(longest.error));
    const jobs = ofKind(longest, "Job");
    assert.ok(jobs.length >= 6);
    // The provider's name for each: `<resource name>-<8 hex>` (tools/engine/mocks.ts).
    for (const job of jobs) assert.ok(`${job.name}-12345678`.length <= 63, job.name);
    assert.ok(jobs.some((job) => `${job.name}-12345678`.length === 63));
    const tooLong = await runProgram({
      stack: "staging-k8s",
      config: k8sConfig({ tenants: [{ id: id(34), workspaceName: "Long" }] }),
    });
    assert.match(
      String(tooLong.error),
      /platform:tenants\[0\]\.id .*at most 33 characters on Kubernetes/,
    );
  });

  test("the cluster's own public ranges can be closed to tenants and the connector", async () => {
    const run = await runProgram({
      stack: "staging-k8s",
      config: k8sConfig({
        kubernetes: { blockedCidrs: ["2600:1f18::/36", "203.0.113.0/24"] },
        domain: "example.com",
        cloudflare: {
          accountId: "0123456789abcdef0123456789abcdef",
          zoneId: "fedcba9876543210fedcba9876543210",
        },
        tenants: [{ id: "acme", workspaceName: "Acme", accessEmails: ["ops@acme.example"] }],
      }),
    });
    assert.equal(run.error, undefined, String(run.error));
    for (const namespace of ["staging-k8s-acme", "staging-k8s-edge"]) {
      const excepts = ofKind(run, "NetworkPolicy", namespace).flatMap((p) =>
        (p.manifest.spec.egress ?? []).flatMap((rule) =>
          (rule.to ?? []).flatMap((peer) => peer.ipBlock?.except ?? []),
        ),
      );
      assert.ok(
        excepts.includes("2600:1f18::/36") && excepts.includes("203.0.113.0/24"),
        namespace,
      );
    }
  });

  test("production names its cluster's context", async () => {
    const options = committedStack(STACK);
    const config = { ...options.config };
    delete config["kubernetes:context"];
    const failed = await runProgram({ ...options, config });
    assert.match(String(failed.error), /kubernetes:context must be set in production/);
    assert.deepEqual(
      failed.registrations.filter((r) => r.custom).map((r) => r.name),
      [],
    );
  });
});
