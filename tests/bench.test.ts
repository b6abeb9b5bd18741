import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { classesOf, crossTenantWaits } from "../tools/bench/analysis";
import { BlastResult, blastRadius, SCENARIOS, sidesOf } from "../tools/bench/blast";
import { DOWNTIME_CHANGES, downtime, DowntimeResult } from "../tools/bench/downtime";
import { floorProgram, MINIMAL, skeletonOf } from "../tools/bench/floor";
import { Measurement } from "../tools/bench/measure";
import { evaluateTargets, SizeResult } from "../tools/bench/report";
import {
  DEFAULT_HEAP_TENANTS,
  nodeArgsFor,
  parseRuntimes,
  parseSizes,
  RAISED_HEAP_MB,
} from "../tools/bench/run";
import { syntheticStack } from "../tools/bench/synthetic";
import { diffPlans } from "../tools/plan/diff";
import { buildPlan, Plan, PlannedResource } from "../tools/plan/plan";
import { parsePlatformConfig, rawPlatformConfig } from "../stacks/config";
import {
  COMMITTED_STACKS,
  committedStack,
  PROJECT_ROOT,
  runCommitted,
  runProgram,
  RunResult,
} from "./harness";

const runs: Record<string, RunResult> = {};
before(async () => {
  for (const stack of COMMITTED_STACKS) runs[stack] = (await runCommitted(stack)).run;
});

const planOf = (stack: string) => buildPlan(stack, runs[stack]);
const idOf = (plan: Plan, name: string) => {
  const found = plan.resources.find((r) => r.name === name && r.custom);
  assert.ok(found, `no resource ${name}`);
  return found.id;
};

describe("the floor", () => {
  test("has a minimal form of every custom type the committed stacks register", () => {
    for (const stack of COMMITTED_STACKS) {
      for (const r of runs[stack].registrations.filter((x) => x.custom)) {
        assert.ok(MINIMAL[r.type], `${stack}: no minimal ${r.type}`);
      }
    }
  });

  test("registers the very same resources (URNs) as the program, with bare inputs and no dependencies", async () => {
    const program = runs.production;
    const floor = await runProgram({
      ...committedStack("production"),
      program: floorProgram(skeletonOf(program.registrations)),
    });
    assert.equal(floor.error, undefined, String(floor.error));
    const urns = (run: RunResult) => run.registrations.map((r) => r.urn).sort();
    assert.deepEqual(urns(floor), urns(program));
    for (const r of floor.registrations) {
      assert.deepEqual(r.dependencies, [], `${r.name} has no dependencies`);
      assert.ok(Object.keys(r.inputs).length <= 4, `${r.name}: ${Object.keys(r.inputs).join()}`);
    }
  });

  test("the skeleton puts every parent before its children, whatever order registrations came in", () => {
    const reversed = [...runs.staging.registrations].reverse();
    const skeleton = skeletonOf(reversed);
    assert.equal(skeleton.length, reversed.length - 1, "all but the stack");
    skeleton.forEach((entry, index) => {
      if (entry.parent !== undefined) assert.ok(entry.parent < index, entry.name);
    });
    const api = skeleton.find((e) => e.name === "acme-api" && e.custom)!;
    assert.equal(skeleton[api.parent!].type, "platform:app:DittofeedService");
  });
});

test("synthetic stacks are valid production configs with distinct tenants and hostnames", () => {
  const options = syntheticStack(500);
  const config = parsePlatformConfig(rawPlatformConfig(options.config));
  assert.equal(config.environment, "production");
  assert.equal(config.tenants.length, 500);
  assert.equal(new Set(config.tenants.map((t) => t.hostname)).size, 500);
  const kube = parsePlatformConfig(rawPlatformConfig(syntheticStack(100, "kubernetes").config), {
    stack: "production-k8s",
  });
  assert.deepEqual(
    [kube.runtime, kube.environment, kube.tenants.length],
    ["kubernetes", "production", 100],
  );
});

test("the floor registers every Kubernetes type the platform does", async () => {
  const run = await runProgram(syntheticStack(1, "kubernetes"));
  assert.equal(run.error, undefined, String(run.error));
  const missing = [...new Set(run.registrations.filter((r) => r.custom).map((r) => r.type))].filter(
    (type) => !(type in MINIMAL),
  );
  assert.deepEqual(missing, []);
});

describe("dependency analysis", () => {
  test("no tenant of a committed stack waits for another", () => {
    for (const stack of COMMITTED_STACKS) assert.deepEqual(crossTenantWaits(planOf(stack)), []);
  });

  const withDependency = (plan: Plan, name: string, on: string): Plan => ({
    ...plan,
    resources: plan.resources.map((r) =>
      r.name === name && r.custom ? { ...r, dependsOn: [...r.dependsOn, idOf(plan, on)] } : r,
    ),
  });

  test("finds a tenant waiting for another, directly or through a shared resource", () => {
    const plan = planOf("staging");
    // acme's front, its check and its target file wait for acme's api, and so for globex too.
    const acmeWaits = [
      "acme-api waits for globex",
      "acme-front-check waits for globex",
      "acme-front-container waits for globex",
      "acme-front-release-check waits for globex",
      "acme-monitoring-job waits for globex",
    ];
    assert.deepEqual(crossTenantWaits(withDependency(plan, "acme-api", "globex-api")), acmeWaits);
    // Through a shared resource: the egress guard, which every tenant's containers wait for.
    const through = crossTenantWaits(withDependency(plan, "egress-container", "globex-network"));
    assert.ok(through.includes("acme-api waits for globex"), through.join("\n"));
    assert.ok(
      through.every((wait) => /^acme-\S+ waits for globex$/.test(wait)),
      through.join("\n"),
    );
  });

  test("classes every resource as the blast-radius targets name them", () => {
    const plan = planOf("production");
    const classes = classesOf(plan);
    const expected: Record<string, string> = {
      postgres: "database",
      "acme-database-db": "database",
      "acme-database-role": "database",
      redis: "cache",
      clickhouse: "clickhouse",
      temporal: "temporal",
      "postgres-data": "volume",
      "tunnel-dns-acme": "dns",
      "acme-access-app": "access",
      "acme-access-members": "access",
      tunnel: "tunnel",
      "tunnel-config": "tunnel",
      "tunnel-connector": "tunnel",
      "tunnel-secret": "tunnel",
      "acme-api": "app",
      "acme-worker-2": "app",
      "acme-migration-bootstrap": "bootstrap",
      "acme-migration-clickhouse": "bootstrap",
      "image-api-v0.23.0": "image",
      "acme-monitoring-job": "app",
      "acme-secret-key": "secret",
    };
    for (const [name, kind] of Object.entries(expected)) {
      assert.equal(classes.get(idOf(plan, name)), kind, name);
    }
  });
});

describe("blast radius", () => {
  const results: BlastResult[] = [];
  before(async () => {
    for (const stack of ["staging", "production"]) results.push(...(await blastRadius(stack)));
  });
  const result = (stack: string, scenario: string) =>
    results.find((r) => r.stack === stack && r.scenario === scenario)!;
  const names = (list: { name: string }[]) => list.map((r) => r.name).sort();

  test("every scenario meets its target on both stacks", () => {
    assert.equal(results.length, 2 * SCENARIOS.length);
    for (const r of results) assert.deepEqual(r.violations, [], `${r.stack} ${r.scenario}`);
  });

  test("what each change touches, exactly", () => {
    const added = result("production", "add-tenant");
    assert.deepEqual(names(added.changed), ["tunnel-config", "tunnel-routes-check"]);
    assert.ok(added.added.every((r) => r.owner === "initech"));
    // Its own network, gateway, front and its two checks, release tags, Redis user, the backup role's grant, its
    // snapshot and its target file included: nothing shared is replaced or attached (the backup
    // service finds its database by name, Prometheus its front by the file).
    assert.equal(added.added.length, 36, names(added.added).join(", "));
    assert.ok(names(added.added).includes("initech-migration-snapshot"));
    assert.ok(names(added.added).includes("initech-monitoring-job"));
    assert.ok(names(added.added).includes("tunnel-dns-initech"));
    assert.deepEqual(names(result("production", "access-list").changed), ["globex-access-members"]);
    assert.deepEqual(names(result("production", "worker-count").added), ["globex-worker-2"]);
    const removed = result("production", "remove-tenant").removed;
    assert.ok(removed.every((r) => r.owner === "globex"));
    assert.ok(removed.find((r) => r.name === "globex-database-db")?.retained);
  });

  test("a version bump touches apps, bootstrap jobs, Dittofeed images and the ingress document only", () => {
    const bump = result("production", "version-bump");
    assert.deepEqual([...new Set(bump.changed.map((c) => c.kind))].sort(), [
      "app",
      "bootstrap",
      "tunnel",
    ]);
    // Each release's images are its own: the new ones pulled, the old ones let go.
    for (const list of [bump.added, bump.removed])
      assert.deepEqual([...new Set(list.map((r) => r.kind))], ["image"]);
    // The document is updated in place, to the new fronts; everything else is replaced.
    assert.deepEqual(
      bump.changed.filter((c) => c.action !== "replace").map((c) => [c.name, c.action]),
      [["tunnel-config", "update"]],
    );
  });

  test("a target's check flags what lies outside it", () => {
    const base = planOf("production");
    const edit = (plan: Plan, name: string, change: Partial<PlannedResource>): Plan => ({
      ...plan,
      resources: plan.resources.map((r) => (r.name === name && r.custom ? { ...r, ...change } : r)),
    });
    const violations = (scenario: string, before: Plan, after: Plan) =>
      SCENARIOS.find((s) => s.id === scenario)!.violations(
        diffPlans(before, after, "base"),
        sidesOf("production", before, after),
      );
    assert.deepEqual(
      violations("version-bump", base, edit(base, "postgres", { inputs: { image: "new" } })),
      ["postgres (database)"],
    );
    assert.deepEqual(
      violations("access-list", base, edit(base, "acme-access-members", { inputs: {} })),
      ["acme-access-members (access of acme)"],
    );
    const unretained = edit(base, "globex-database-db", { retainOnDelete: false });
    const withoutGlobex = {
      ...base,
      resources: base.resources.filter((r) => !r.name.startsWith("globex-")),
    };
    assert.deepEqual(violations("remove-tenant", unretained, withoutGlobex), [
      "globex-database-db holds data and is not retained",
    ]);
  });
});

describe("targets", () => {
  const measured = (
    program: "platform" | "floor",
    tenants: number,
    wallMs: number,
    peakRssMb: number,
    steps = 9,
  ) => ({
    program,
    tenants,
    wallMs,
    peakRssMb,
    heapUsedMb: 0,
    heapLimitMb: 4144,
    registered: {},
    ...(program === "platform"
      ? {
          shape: {
            resources: 0,
            components: 0,
            byType: {},
            shared: {},
            perTenant: null,
            criticalPath: Array.from({ length: steps }, (_, i) => `r${i}`),
            widestWave: 1,
            crossTenantWaits: [],
          },
        }
      : {}),
  });
  const size = (tenants: number, platformMs: number, floorMs: number, steps = 9): SizeResult => ({
    tenants,
    runs: 1,
    platform: measured("platform", tenants, platformMs, 100 + tenants, steps),
    floor: measured("floor", tenants, floorMs, 100 + tenants),
    ratio: { wall: Math.round((platformMs / floorMs) * 100) / 100, rss: 1 },
  });
  const met = (sizes: SizeResult[]) =>
    Object.fromEntries(evaluateTargets(sizes, []).map((t) => [t.target.split(/[ :]/)[0], t.met]));

  test("are met by proportional, linear figures", () => {
    assert.deepEqual(
      Object.values(
        met([size(1, 10, 10), size(10, 100, 90), size(100, 1000, 900), size(500, 5000, 4500)]),
      ),
      [true, true, true, true],
    );
  });

  test("are missed by a ratio over 1.3, superlinear growth, a crash, or a longer path", () => {
    const targets = (sizes: SizeResult[]) =>
      evaluateTargets(sizes, [])
        .filter((t) => !t.met)
        .map((t) => t.target);
    assert.match(targets([size(1, 10, 10), size(10, 140, 100)]).join(), /at most 1.3/);
    assert.match(
      targets([
        size(1, 10, 10),
        size(10, 100, 100),
        size(100, 1000, 1000),
        size(500, 9000, 9000),
      ]).join(),
      /growth linear/,
    );
    const crashed = { ...size(500, 0, 1), platform: { failed: "out of memory" } };
    assert.match(targets([size(100, 1000, 1000), crashed]).join(), /default heap limit/);
    assert.match(targets([size(1, 10, 10, 9), size(10, 100, 100, 10)]).join(), /critical path/);
  });

  test("the largest size at the default heap must leave a quarter of it; raised sizes are not judged so", () => {
    const heapTarget = (sizes: SizeResult[]) =>
      evaluateTargets(sizes, []).find((t) => /default heap limit/.test(t.target));
    const withHeap = (s: SizeResult, heapUsedMb: number): SizeResult => ({
      ...s,
      platform: { ...(s.platform as Measurement), heapUsedMb },
    });
    const crowded = withHeap(size(300, 1000, 1000), 3500);
    assert.equal(heapTarget([size(100, 1000, 1000), crowded])?.met, false);
    assert.match(heapTarget([size(100, 1000, 1000), crowded])!.target, /^300 tenants/);
    const roomy = withHeap(size(300, 1000, 1000), 2000);
    const raised = { ...withHeap(size(500, 1000, 1000), 4000), nodeArgs: nodeArgsFor(500) };
    assert.deepEqual(raised.nodeArgs, [`--max-old-space-size=${RAISED_HEAP_MB}`]);
    assert.deepEqual(nodeArgsFor(DEFAULT_HEAP_TENANTS), []);
    const judged = heapTarget([roomy, raised]);
    assert.equal(judged?.met, true);
    assert.match(judged.target, /^300 tenants/);
  });
});

test("--sizes takes tenant counts or none, and names the bad value", () => {
  assert.deepEqual(parseSizes("100,1,10"), [1, 10, 100]);
  assert.deepEqual(parseSizes("none"), []);
  assert.throws(() => parseSizes("1,ten"), /--sizes .*"1,ten"/);
  assert.deepEqual(parseRuntimes(undefined), ["docker", "kubernetes"]);
  assert.deepEqual(parseRuntimes("kubernetes"), ["kubernetes"]);
  assert.throws(() => parseRuntimes("docker,k8s"), /--runtimes .*"docker,k8s"/);
});

describe("downtime of a change", () => {
  let results: DowntimeResult[];
  before(async () => {
    results = await downtime(PROJECT_ROOT, "after");
  });

  test("a version bump, a secret rotation and a hostname change take down workers only", () => {
    assert.equal(results.length, 2 * DOWNTIME_CHANGES.length);
    for (const r of results)
      assert.ok(
        r.down.every((d) => /^tenant \S+'s worker$/.test(d)),
        `${r.stack} ${r.change}: ${r.down.join("; ")}`,
      );
    const staging = (change: string) =>
      results.find((r) => r.stack === "staging" && r.change === change)!.down;
    // One worker per tenant the change reaches: every tenant for a release, one for the rest.
    assert.deepEqual(staging("version-bump"), ["tenant acme's worker", "tenant globex's worker"]);
    assert.deepEqual(staging("secret-rotation"), ["tenant globex's worker"]);
    assert.deepEqual(staging("hostname-change"), ["tenant globex's worker"]);
  });

  test("the target flags a serving container that would be down", () => {
    const [first, ...rest] = results;
    const broken = [{ ...first, down: [...first.down, "tenant acme's api"] }, ...rest];
    const target = (list: DowntimeResult[]) =>
      evaluateTargets([], [], "", list).find((t) =>
        t.target.startsWith("no container that serves"),
      )!;
    assert.equal(target(results).met, true, target(results).detail);
    assert.equal(target(broken).met, false);
    assert.match(target(broken).detail, /tenant acme's api/);
  });
});
