/**
 * Releases in waves, under the recording mocks: which resources of a version bump wait for
 * which, what a failed gate leaves untouched, and what a pinned tenant keeps. The gate's script is
 * run for real against fronts and a Prometheus played by local servers in tests/soak.test.ts.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { crossTenantWaits } from "../tools/bench/analysis";
import { buildPlan } from "../tools/plan/plan";
import { diffPlans, renderDiffMarkdown } from "../tools/plan/diff";
import {
  committedStack,
  CONTAINER,
  labelMap,
  Registration,
  runProgram,
  RunResult,
} from "./harness";
import { JobOutcome, unwrapSecrets } from "../tools/engine/mocks";
import { ConfigError, parsePlatformConfig } from "../stacks/config";
import { Placement } from "../stacks/config/placement";
import {
  dataAfter,
  moveProblem,
  movingWaves,
  ReleasedTenant,
  unprovenReleases,
} from "../components/app/releases";
import { BACKUP_PUBLIC_KEY } from "./harness";

const STACK = "staging";
const tenantsOf = () => {
  const file = committedStack(STACK).config["platform:tenants"];
  const tenants = JSON.parse(file) as Record<string, unknown>[];
  // A third tenant, so that a wave holds more than one.
  return [
    ...tenants,
    { ...tenants[1], id: "initech", workspaceName: "Initech", hostname: "initech-staging" },
  ];
};

/** The committed staging stack with three tenants, `acme` alone in wave 1. */
function staging(changes: Record<string, unknown> = {}) {
  return committedStack(STACK, {
    "platform:tenants": tenantsOf(),
    "platform:release": { waves: [["acme"]], soakMinutes: 10 },
    ...changes,
  });
}

async function run(
  changes: Record<string, unknown>,
  previousOutputs?: Record<string, unknown>,
  jobs: Record<string, JobOutcome> = {},
): Promise<RunResult> {
  return runProgram({ ...staging(changes), previousOutputs, jobs });
}

/** Every URN `r` waits for, directly or through what it waits for. */
function upstreamOf(result: RunResult, r: Registration): Set<string> {
  const byUrn = new Map(result.registrations.map((x) => [x.urn, x]));
  const seen = new Set<string>();
  const pending = [...r.dependencies];
  while (pending.length > 0) {
    const urn = pending.pop()!;
    if (seen.has(urn)) continue;
    seen.add(urn);
    pending.push(...(byUrn.get(urn)?.dependencies ?? []));
  }
  return seen;
}

const named = (result: RunResult, name: string) => {
  const found = result.registrations.find((r) => r.custom && r.name === name);
  assert.ok(found, `${name} is registered`);
  return found;
};
const ofTenant = (result: RunResult, tenant: string) =>
  result.registrations.filter((r) => r.custom && labelMap(r)["platform.tenant"] === tenant);
const BUMP = { "platform:dittofeed": { version: "v0.23.1" } };

describe("a version bump in two waves", () => {
  let base: RunResult;
  let bumped: RunResult;
  before(async () => {
    base = await run({});
    assert.equal(base.error, undefined, String(base.error));
    bumped = await run(BUMP, base.outputs);
    assert.equal(bumped.error, undefined, String(bumped.error));
  });

  test("the last deploy records each tenant's release, once it is deployed", () => {
    const placement = base.outputs?.placement as { tenants: Record<string, { version?: string }> };
    assert.deepEqual(
      Object.entries(placement.tenants).map(([id, t]) => [id, t.version]),
      [
        ["acme", "v0.23.0"],
        ["globex", "v0.23.0"],
        ["initech", "v0.23.0"],
      ],
    );
  });

  test("wave 2's release waits for the gate, which waits for wave 1 deployed and routed", () => {
    const gate = named(bumped, "release-gate-2-job");
    const watched = upstreamOf(bumped, gate);
    for (const name of [
      "acme-worker-check-job",
      "acme-front-release-check",
      "acme-monitoring-job",
      "tunnel-routes-check",
    ]) {
      assert.ok(watched.has(named(bumped, name).urn), `the gate waits for ${name}`);
    }
    for (const tenant of ["globex", "initech"]) {
      // Its first step (the production snapshot, else the migration) and everything after it.
      for (const name of [
        "migration-bootstrap",
        "migration-schema",
        "api",
        "dashboard",
        "worker-1",
      ]) {
        const r = named(bumped, `${tenant}-${name}`);
        assert.ok(upstreamOf(bumped, r).has(gate.urn), `${r.name} waits for the gate`);
      }
      // Its new front is made before the gate, relaying to its running release meanwhile.
      const front = named(bumped, `${tenant}-front-container`);
      assert.ok(!upstreamOf(bumped, front).has(gate.urn), `${front.name} is made before the gate`);
    }
    assert.ok(!upstreamOf(bumped, named(bumped, "tunnel-config")).has(gate.urn));
  });

  test("no first-wave resource waits for wave 2, and no tenant for the release of one of its own wave", () => {
    const waits = crossTenantWaits(buildPlan(STACK, bumped));
    assert.deepEqual(
      waits.filter((w) => w.startsWith("acme-")),
      [],
    );
    // A wave-2 tenant's release waits for acme, and, through the one ingress document that
    // moves acme's routes, for the early fronts of its own wave: never for what their release runs.
    const gate = named(bumped, "release-gate-2-job").urn;
    for (const [tenant, other] of [
      ["globex", "initech"],
      ["initech", "globex"],
    ]) {
      const held = ofTenant(bumped, other).filter((r) => upstreamOf(bumped, r).has(gate));
      assert.ok(held.length >= 5, `${other}'s release is held by the gate`);
      for (const r of ofTenant(bumped, tenant)) {
        const upstream = upstreamOf(bumped, r);
        assert.deepEqual(
          held.filter((h) => upstream.has(h.urn)).map((h) => h.name),
          [],
          `${r.name} waits for nothing of ${other}'s release`,
        );
      }
    }
  });

  test("plan:diff says which tenants each wave moves and what gates the second", () => {
    const text = renderDiffMarkdown(
      diffPlans(buildPlan(STACK, base), buildPlan(STACK, bumped), "base"),
    );
    assert.match(
      text,
      /\*\*Release in waves:\*\* wave 1 moves acme; wave 2 moves globex, initech once `release-gate-2` has watched wave 1 for 10 min/,
    );
    assert.doesNotMatch(text, /\*\*Downtime:\*\*[^\n]*(api|dashboard|front)/);
  });

  test("a failed gate fails the update naming wave and tenant, and wave 2 keeps its release", async () => {
    const failed = await run(BUMP, base.outputs, {
      "release-gate-2-job": {
        exitCode: 1,
        logs: "Release gate of wave 2: tenant acme of wave 1 stopped serving its new release through its front acme-front-0123456789 (2 of its checks, 10 s apart, missed)\n",
      },
    });
    assert.match(String(failed.error), /Release gate of wave 2[\s\S]*tenant acme of wave 1/);
    for (const tenant of ["globex", "initech"]) {
      const names = ofTenant(failed, tenant).map((r) => r.name);
      for (const held of ["migration-schema", "api", "worker-1", "worker-check-job"]) {
        assert.ok(!names.some((n) => n.endsWith(`-${held}`)), `${tenant}'s ${held} is not touched`);
      }
    }
    // Wave 1 moved; the record of the last deploy is not written for a failed update.
    assert.ok(ofTenant(failed, "acme").some((r) => r.name === "acme-api"));
    assert.equal(failed.outputs?.placement, undefined);
  });

  test("a rollback moves every tenant at once: no gate holds a way back", async () => {
    const down = await run({}, bumped.outputs);
    assert.equal(down.error, undefined, String(down.error));
    assert.ok(!down.registrations.some((r) => r.name.startsWith("release-gate")));
    assert.deepEqual(crossTenantWaits(buildPlan(STACK, down)), []);
    const placement = down.outputs?.placement as { tenants: Record<string, { version: string }> };
    assert.equal(placement.tenants.globex.version, "v0.23.0");
  });

  test("a change that moves no tenant's version has no gate and no tenant waits for another", async () => {
    const moved = await run({}, base.outputs);
    const rotated = await run(
      { "platform:tenants": tenantsOf().map((t) => ({ ...t, workerReplicas: 2 })) },
      base.outputs,
    );
    for (const result of [moved, rotated]) {
      assert.equal(result.error, undefined, String(result.error));
      assert.ok(!result.registrations.some((r) => r.name.startsWith("release-gate")));
      assert.deepEqual(crossTenantWaits(buildPlan(STACK, result)), []);
    }
  });
});

describe("a pinned tenant", () => {
  test("keeps every resource of its own through a stack-wide bump", async () => {
    const base = await run({});
    const pinned = tenantsOf().map((t) =>
      t.id === "globex" ? { ...t, dittofeed: { version: "v0.23.0" } } : t,
    );
    const bumped = await run({ ...BUMP, "platform:tenants": pinned }, base.outputs);
    assert.equal(bumped.error, undefined, String(bumped.error));
    const diff = diffPlans(buildPlan(STACK, base), buildPlan(STACK, bumped), "base");
    const globex = new Set(ofTenant(bumped, "globex").map((r) => r.urn));
    assert.ok(globex.size > 10);
    const touched = [...diff.changed, ...diff.added, ...diff.removed].filter((c) =>
      globex.has(c.id),
    );
    assert.deepEqual(touched, []);
    // The others moved, and its containers still run v0.23.0's images.
    assert.ok(diff.changed.some((c) => c.name === "acme-worker-1"));
    const api = ofTenant(bumped, "globex").find((r) => r.name === "globex-api")!;
    assert.equal(labelMap(api)["platform.dittofeed-version"], "v0.23.0");
    assert.equal(
      (bumped.outputs?.placement as { tenants: Record<string, { version: string }> }).tenants.globex
        .version,
      "v0.23.0",
    );
    assert.ok(
      bumped.registrations.some(
        (r) =>
          r.type === "docker:index/remoteImage:RemoteImage" &&
          r.inputs.name === "dittofeed/dittofeed-api:v0.23.0",
      ),
    );
    assert.ok(bumped.registrations.filter((r) => r.type === CONTAINER).length > 0);
  });
});

describe("what config refuses", () => {
  const tenant = (id: string, extra: Record<string, unknown> = {}) => ({
    id,
    workspaceName: id,
    accessEmails: [`ops@${id}.example`],
    ...extra,
  });
  const base = {
    environment: "staging",
    domain: "example.com",
    cloudflare: {
      accountId: "0123456789abcdef0123456789abcdef",
      zoneId: "fedcba9876543210fedcba9876543210",
    },
    tenants: [tenant("acme"), tenant("globex"), tenant("gone", { offboarded: true })],
    backup: { publicKey: BACKUP_PUBLIC_KEY },
  };
  /** The problems of `values`, as `key: message`, checked against `previous` as the last deploy. */
  const problems = (values: Record<string, unknown>, previous?: Placement) => {
    try {
      parsePlatformConfig({ ...base, ...values }, { previous });
      return [];
    } catch (error) {
      assert.ok(error instanceof ConfigError, String(error));
      return error.problems.map((p) => `${p.key}: ${p.message}`);
    }
  };

  test("waves that name no tenant, a tenant twice or an offboarded one, and waves where they cannot apply", () => {
    assert.deepEqual(problems({ release: { waves: [["acme"], ["nobody", "acme", "gone"]] } }), [
      "platform:release.waves[1][0]: names no tenant of platform:tenants",
      "platform:release.waves[1][1]: repeats acme, already in wave 1",
      "platform:release.waves[1][2]: names gone, which is offboarded: it runs no release",
    ]);
    assert.deepEqual(problems({ release: { waves: [[]] } }), [
      "platform:release.waves[0]: must list at least one tenant",
    ]);
    assert.deepEqual(
      problems({ release: { waves: [["acme"]] }, cloudflare: undefined, domain: undefined }),
      [
        "platform:release.waves: needs platform:cloudflare: a wave's gate watches each tenant's front, which only a stack behind the tunnel runs",
      ],
    );
    const kubernetes = problems({
      runtime: "kubernetes",
      backup: undefined,
      release: { soakMinutes: 5 },
      tenants: [tenant("acme")],
    });
    assert.ok(
      kubernetes.some((p) =>
        p.startsWith("platform:release: is Docker's and is refused on platform:runtime kubernetes"),
      ),
      kubernetes.join("\n"),
    );
  });

  test("a canary held back while a later wave moves up: the later wave would move unwatched", () => {
    const previous: Placement = {
      slots: {},
      removed: [],
      tenants: {
        acme: { offboarded: false, version: "v0.25.1" },
        globex: { offboarded: false, version: "v0.25.1" },
      },
    };
    const held = [tenant("acme", { dittofeed: { version: "v0.25.1" } }), tenant("globex")];
    assert.deepEqual(
      problems(
        { dittofeed: { version: "v0.25.2" }, tenants: held, release: { waves: [["acme"]] } },
        previous,
      ),
      [
        "platform:release.waves: the last wave (the tenants no wave lists) moves globex up to v0.25.2, which no earlier wave runs or moves up to: it would move first, with no gate. Hold it too (a pin), or let an earlier wave move to v0.25.2",
      ],
    );
    // Holding both, or setting the stack's version back, is a config that passes.
    const both = held.map((t) => ({ ...t, dittofeed: { version: "v0.25.1" } }));
    assert.deepEqual(
      problems(
        { dittofeed: { version: "v0.25.2" }, tenants: both, release: { waves: [["acme"]] } },
        previous,
      ),
      [],
    );
    assert.deepEqual(
      problems({ dittofeed: { version: "v0.25.1" }, release: { waves: [["acme"]] } }, previous),
      [],
    );
  });

  test("pins: below the data's floor, below v0.23.0, with the operator's own images; the stack's version for its followers", () => {
    const previous: Placement = {
      slots: {},
      removed: [],
      tenants: {
        acme: { offboarded: false, version: "v0.25.1", floor: "0.25.0" },
        globex: { offboarded: false, version: "v0.25.1", floor: "0.25.0" },
      },
    };
    const pinned = (version: string) => [
      tenant("acme", { dittofeed: { version } }),
      tenant("globex"),
    ];
    assert.deepEqual(
      problems({ dittofeed: { version: "v0.25.2" }, tenants: pinned("v0.24.0") }, previous),
      [
        "platform:tenants[0].dittofeed.version: goes below v0.25.0, whose upgrade steps have already moved the tenant's data: no earlier release reads it; restore its data from before the upgrade instead (docs/upgrades.md#rolling-back)",
      ],
    );
    // Back down to the floor's release, or within it, is a rollback config lets through.
    assert.deepEqual(
      problems({ dittofeed: { version: "v0.25.2" }, tenants: pinned("v0.25.0") }, previous),
      [],
    );
    assert.deepEqual(problems({ dittofeed: { version: "v0.24.3" } }, previous), [
      "platform:dittofeed.version: for tenants acme, globex: goes below v0.25.0, whose upgrade steps have already moved the tenant's data: no earlier release reads it; restore its data from before the upgrade instead (docs/upgrades.md#rolling-back)",
    ]);
    assert.deepEqual(problems({ tenants: pinned("v0.22.0") }), [
      "platform:tenants[0].dittofeed.version: is below v0.23.0, the oldest release whose environment this platform describes",
    ]);
    assert.deepEqual(
      problems({
        tenants: pinned("v0.23.0"),
        dittofeed: { images: { api: "registry.example/api:0.23.0-ours" } },
      }),
      [
        "platform:tenants[0].dittofeed.version: cannot choose a release while platform:dittofeed.images names your own builds: every tenant runs those",
      ],
    );
  });
});

describe("releases as data", () => {
  const steps = [
    { version: "0.24.0", phase: "pre" as const, command: "upgrade-0-24-0-pre" },
    { version: "0.26.0", phase: "post" as const, command: "upgrade-0-26-0-post" },
  ];

  test("a move may not skip a mandatory stop, nor go below the data's floor; a new tenant may start anywhere supported", () => {
    const stops = ["0.25.0"];
    assert.match(
      moveProblem({ version: "v0.24.0" }, "v0.26.0", stops) ?? "",
      /skips v0\.25\.0, a mandatory stop on the way from v0\.24\.0: deploy the tenant at v0\.25\.0 first/,
    );
    assert.equal(moveProblem({ version: "v0.24.0" }, "v0.25.0", stops), undefined);
    assert.equal(moveProblem({ version: "v0.25.0" }, "v0.26.0", stops), undefined);
    assert.equal(moveProblem(undefined, "v0.26.0", stops), undefined);
    assert.match(
      moveProblem({ version: "v0.26.0", floor: "0.26.0" }, "v0.25.3", stops) ?? "",
      /goes below v0\.26\.0/,
    );
    assert.equal(moveProblem({ version: "v0.26.1", floor: "0.26.0" }, "v0.26.0", stops), undefined);
    // Dittofeed's own stop lies below every release this platform runs.
    assert.equal(moveProblem({ version: "v0.23.0" }, "v0.30.0"), undefined);
  });

  test("the floor is the newest release whose steps the data went through, and going back keeps it", () => {
    // A tenant installed at a release has its data in the shape every step up to it makes.
    assert.deepEqual(dataAfter(undefined, "v0.26.0", steps), {
      version: "v0.26.0",
      floor: "0.26.0",
    });
    assert.deepEqual(dataAfter(undefined, "v0.23.0", steps), { version: "v0.23.0" });
    assert.deepEqual(dataAfter({ version: "v0.23.0" }, "v0.26.0", steps), {
      version: "v0.26.0",
      floor: "0.26.0",
    });
    assert.deepEqual(dataAfter({ version: "v0.23.0" }, "v0.25.0", steps), {
      version: "v0.25.0",
      floor: "0.24.0",
    });
    assert.deepEqual(dataAfter({ version: "v0.26.0", floor: "0.26.0" }, "v0.26.0", steps), {
      version: "v0.26.0",
      floor: "0.26.0",
    });
    assert.deepEqual(dataAfter({ version: "v0.25.0", floor: "0.24.0" }, "v0.24.1", steps), {
      version: "v0.24.1",
      floor: "0.24.0",
    });
  });

  test("waves move only tenants whose release goes up from one they run, listed ones in order and the rest last", () => {
    const t = (id: string, version: string, last?: ReleasedTenant["last"], offboarded = false) => ({
      id,
      version,
      last,
      offboarded,
    });
    const tenants = [
      t("a", "v0.24.0", { version: "v0.23.0" }),
      t("b", "v0.24.0", { version: "v0.24.0" }), // unchanged
      t("c", "v0.24.0", undefined), // new to the stack
      t("d", "v0.24.0", {}), // recorded before versions were: counts as moving
      t("e", "v0.24.0", { version: "v0.23.0" }, true), // offboarded
      t("f", "v0.24.0", { version: "v0.23.0" }),
      t("g", "v0.23.0", { version: "v0.24.0" }), // a rollback
      t("h", "v0.24.0", { version: "v0.23.0", offboarded: true }), // coming back
    ];
    assert.deepEqual(movingWaves(tenants, [["b"], ["f", "c"]]), [
      { number: 2, tenants: ["f"] },
      { number: 3, tenants: ["a", "d"] },
    ]);
    assert.deepEqual(
      movingWaves(
        tenants.map((x) => ({ ...x, version: x.last?.version ?? "v0.24.0" })),
        [["a"]],
      ),
      [{ number: 2, tenants: ["d"] }],
    );
  });

  test("a wave that would move up to a release no earlier wave runs or moves up to is found", () => {
    const t = (id: string, version: string, last?: ReleasedTenant["last"]) => ({
      id,
      version,
      last,
      offboarded: false,
    });
    const at = (version: string) => ({ version });
    const up = (id: string) => t(id, "v0.24.0", at("v0.23.0"));
    const found = (tenants: ReleasedTenant[], waves: string[][]) =>
      unprovenReleases(tenants, waves).map(
        (u) => `${u.wave}: ${u.tenants.join(",")} → ${u.release}`,
      );
    // acme's gate failed and it is pinned back: globex, and the unlisted initech, would go first.
    const held = t("acme", "v0.23.0", at("v0.23.0"));
    assert.deepEqual(found([held, up("globex"), up("initech")], [["acme"], ["globex"]]), [
      "1: globex → v0.24.0",
    ]);
    assert.deepEqual(found([held, up("globex")], [["acme"]]), ["1: globex → v0.24.0"]);
    // Neither a tenant new to the stack, nor one back from offboarding, nor one rolling down
    // from the release proves it.
    for (const canary of [
      t("acme", "v0.24.0"),
      t("acme", "v0.24.0", { version: "v0.23.0", offboarded: true }),
      t("acme", "v0.23.0", at("v0.24.0")),
    ])
      assert.deepEqual(found([canary, up("globex")], [["acme"]]), ["1: globex → v0.24.0"]);
    // Proven: a canary moving up now, or running it already (pinned ahead by an earlier deploy);
    // a middle wave held while the first moves; one tenant of the first wave held.
    assert.deepEqual(found([up("acme"), up("globex")], [["acme"]]), []);
    assert.deepEqual(found([t("acme", "v0.24.0", at("v0.24.0")), up("globex")], [["acme"]]), []);
    assert.deepEqual(
      found(
        [up("acme"), t("globex", "v0.23.0", at("v0.23.0")), up("initech")],
        [["acme"], ["globex"]],
      ),
      [],
    );
    assert.deepEqual(
      found(
        [up("acme"), held, up("globex")].map((x, i) => (i === 1 ? { ...x, id: "acme2" } : x)),
        [["acme", "acme2"]],
      ),
      [],
    );
    // Without waves, nothing is watched and nothing is missing.
    assert.deepEqual(found([held, up("globex")], []), []);
  });
});

describe("a pin on Kubernetes", () => {
  test("runs the pinned release's images in that tenant's Deployments alone", async () => {
    const file = committedStack("production-k8s").config["platform:tenants"];
    const tenants = (JSON.parse(file) as Record<string, unknown>[]).map((t) =>
      t.id === "umbrella" ? { ...t, dittofeed: { version: "v0.23.0" } } : t,
    );
    const result = await runProgram(
      committedStack("production-k8s", {
        "platform:tenants": tenants,
        "platform:dittofeed": { version: "v0.23.1" },
      }),
    );
    assert.equal(result.error, undefined, String(result.error));
    const imageOf = (name: string) => {
      const deployment = result.registrations.find(
        (r) => r.type === "kubernetes:apps/v1:Deployment" && r.name === name,
      );
      assert.ok(deployment, name);
      const spec = unwrapSecrets(deployment.inputs.spec) as {
        template: { spec: { containers: { image: string }[] } };
      };
      return spec.template.spec.containers[0].image;
    };
    assert.equal(imageOf("umbrella-api"), "dittofeed/dittofeed-api:v0.23.0");
    assert.equal(imageOf("stark-api"), "dittofeed/dittofeed-api:v0.23.1");
  });
});
