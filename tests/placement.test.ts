/**
 * What the last deploy held decides slots and what may be removed (stacks/config/placement.ts): the pure
 * rules on generated tenant sets, then the whole program under mocks, its previous deploy
 * simulated by feeding one run's outputs to the next as the stack's own last outputs.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { ConfigError } from "../stacks/config";
import { diffPlans, renderDiffMarkdown } from "../tools/plan/diff";
import { buildPlan } from "../tools/plan/plan";
import { defaultSlot } from "../components/runtime/network";
import {
  continuityProblems,
  nextPlacement,
  parsePlacement,
  Placement,
  PLACEMENT_OUTPUT,
  placeSlots,
} from "../stacks/config/placement";
import { byName, committedStack, platformConfig, runProgram, RunResult } from "./harness";

/** The default pool's slot count: a /16 of /27s. */
const SLOTS = 2048;
const ids = (n: number, prefix = "t") => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const deployed = (tenants: string[], previous?: Placement): Placement => {
  const { slots, problems } = placeSlots(
    tenants.map((id) => ({ id })),
    SLOTS,
    previous,
  );
  assert.deepEqual(problems, []);
  return nextPlacement(
    tenants.map((id, i) => ({ id, offboarded: false, slot: slots[i] })),
    previous,
  );
};

describe("slots", () => {
  test("100 tenants without slots each get their own, with no hand work", () => {
    const { slots, problems } = placeSlots(
      ids(100).map((id) => ({ id })),
      SLOTS,
    );
    assert.deepEqual(problems, []);
    assert.equal(new Set(slots).size, 100);
    assert.ok(slots.every((s) => s !== undefined && s < SLOTS));
  });

  test("a tenant keeps its slot whatever others are added, removed or reordered", () => {
    const tenantIds = fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9]{0,7}$/), {
      minLength: 1,
      maxLength: 60,
    });
    fc.assert(
      fc.property(tenantIds, tenantIds, fc.integer({ min: 0, max: 1000 }), (first, added, seed) => {
        const previous = deployed(first);
        // Keep some, drop others, add new ones, in another order.
        const kept = first.filter((_, i) => (i + seed) % 3 !== 0);
        const next = [...new Set([...added, ...kept])].sort(() => 0).reverse();
        const { slots, problems } = placeSlots(
          next.map((id) => ({ id })),
          SLOTS,
          previous,
        );
        assert.deepEqual(problems, []);
        next.forEach((id, i) => {
          if (previous.slots[id] !== undefined) assert.equal(slots[i], previous.slots[id], id);
        });
        assert.equal(new Set(slots).size, next.length);
      }),
      { numRuns: 200 },
    );
  });

  test("without a previous deploy, tenants whose hashes differ keep their hash slots (as before placement existed)", () => {
    const tenants = ["acme", "globex", "initech"];
    const { slots } = placeSlots(
      tenants.map((id) => ({ id })),
      SLOTS,
    );
    assert.deepEqual(
      slots,
      tenants.map((id) => defaultSlot(id, SLOTS)),
    );
  });

  test("two ids of one hash: the first in hash order keeps it, the other the next free slot, whatever the list's order", () => {
    const acme = defaultSlot("acme", SLOTS);
    const twin = ids(20000, "x").find((id) => defaultSlot(id, SLOTS) === acme)!;
    for (const order of [
      ["acme", twin],
      [twin, "acme"],
    ]) {
      const { slots } = placeSlots(
        order.map((id) => ({ id })),
        SLOTS,
      );
      const slotOf = (id: string) => slots[order.indexOf(id)];
      const [first, second] = ["acme", twin].sort();
      assert.equal(slotOf(first), acme);
      assert.equal(slotOf(second), (acme + 1) % SLOTS);
    }
  });

  test("a slot set by hand that a deployed tenant holds is refused, naming it and a free slot", () => {
    const previous = deployed(["acme"]);
    const held = previous.slots.acme;
    const { problems } = placeSlots([{ id: "acme" }, { id: "new", slot: held }], SLOTS, previous);
    assert.equal(problems.length, 1);
    assert.deepEqual([problems[0].index, problems[0].key], [1, "slot"]);
    assert.match(problems[0].message, /which tenants\[0\] \(acme\) has since its last deploy/);
  });

  test("a full pool is said so, not papered over", () => {
    const { problems } = placeSlots(
      ids(5).map((id) => ({ id })),
      4,
    );
    assert.equal(problems.length, 1);
    assert.match(problems[0].message, /no free network slot: .* has 4, all taken/);
  });

  test("a slot whose tenant this deploy removes is not given to a new one until the next", () => {
    const previous = deployed(["acme", "gone"]);
    const freed = previous.slots.gone;
    // An id that hashes to the freed slot.
    const heir = ids(20000, "h").find((id) => defaultSlot(id, SLOTS) === freed)!;
    const now = placeSlots([{ id: "acme" }, { id: heir }], SLOTS, previous);
    assert.deepEqual(now.problems, []);
    assert.notEqual(now.slots[1], freed);
    // Set by hand, it is refused, saying why.
    const byHand = placeSlots([{ id: "acme" }, { id: heir, slot: freed }], SLOTS, previous);
    assert.match(
      byHand.problems[0].message,
      /a tenant this deploy removes holds until the update ends/,
    );
    // A deploy later the slot is free again.
    const next = deployed(["acme", heir], previous);
    assert.equal(placeSlots([{ id: "acme" }, { id: "other" }], SLOTS, next).problems.length, 0);
  });

  test("a damaged record that gives two tenants one slot moves neither onto the other", () => {
    const damaged: Placement = { slots: { acme: 7, globex: 7 }, tenants: {}, removed: [] };
    const { slots } = placeSlots([{ id: "acme" }, { id: "globex" }], SLOTS, damaged);
    assert.equal(slots[0], 7);
    assert.notEqual(slots[1], 7);
  });

  test("what is read back from outside is checked, not trusted", () => {
    assert.equal(parsePlacement(undefined), undefined);
    assert.deepEqual(parsePlacement({ slots: { a: 3, b: -1, c: "x" }, removed: ["z", 4] }), {
      slots: { a: 3 },
      tenants: {},
      removed: ["z"],
    });
  });
});

describe("continuity", () => {
  const previous: Placement = {
    slots: {},
    tenants: { acme: { offboarded: false }, globex: { offboarded: true } },
    removed: ["hooli"],
  };
  test("production refuses to drop a tenant that is not offboarded; an offboarded one may go", () => {
    const problems = continuityProblems([{ id: "globex" }], previous, true);
    assert.equal(problems.length, 1);
    assert.match(problems[0].message, /drops tenant acme, .* not offboarded/);
    assert.deepEqual(continuityProblems([{ id: "acme" }], previous, true), []);
    // Elsewhere, and on Kubernetes (which has no offboarding), a tenant may simply be removed.
    assert.deepEqual(continuityProblems([{ id: "globex" }], previous, false), []);
  });
  test("an id removed before is not taken again, and every removed id stays removed", () => {
    const problems = continuityProblems([{ id: "acme" }, { id: "hooli" }], previous, false);
    assert.deepEqual(
      problems.map((p) => p.index),
      [1],
    );
    const next = nextPlacement([{ id: "acme", offboarded: false }], previous);
    assert.deepEqual(next.removed, ["globex", "hooli"]);
  });
});

describe("the program, deployed twice", () => {
  const staging = committedStack("staging");
  const tenantsOf = (options: { config: Record<string, string> }) =>
    JSON.parse(options.config["platform:tenants"]) as Record<string, unknown>[];
  const withTenants = (
    options: { config: Record<string, string>; secretKeys?: string[]; stack?: string },
    tenants: Record<string, unknown>[],
  ) => ({
    ...options,
    config: { ...options.config, "platform:tenants": JSON.stringify(tenants) },
  });
  const subnetOf = (run: RunResult, id: string) =>
    (byName(run, `${id}-network`).inputs.ipamConfigs as { subnet: string }[])[0].subnet;

  test("a tenant added in the slot another's id hashes to takes a free one; the deployed one stays", async () => {
    const first = await runProgram(staging);
    assert.equal(first.error, undefined, String(first.error));
    const placement = first.outputs?.[PLACEMENT_OUTPUT] as Placement;
    assert.ok(placement.slots.acme !== undefined);
    // An id that hashes to acme's slot, sorting before it: without the last deploy it would win.
    const twin = ids(20000, "a").find(
      (id) => id < "acme" && defaultSlot(id, SLOTS) === placement.slots.acme,
    )!;
    const next = withTenants(staging, [
      ...tenantsOf(staging),
      { id: twin, workspaceName: "Twin", accessEmails: ["ops@twin.example"] },
    ]);
    const second = await runProgram({ ...next, previousOutputs: first.outputs });
    assert.equal(second.error, undefined, String(second.error));
    assert.equal(subnetOf(second, "acme"), subnetOf(first, "acme"));
    assert.notEqual(subnetOf(second, twin), subnetOf(second, "acme"));
    // Without what the last deploy held, the same config would have moved acme.
    const blind = await runProgram(next);
    assert.notEqual(subnetOf(blind, "acme"), subnetOf(first, "acme"));
  });

  test("production refuses, before anything is registered, to drop a tenant that was not offboarded", async () => {
    const production = committedStack("production");
    const first = await runProgram(production);
    assert.equal(first.error, undefined, String(first.error));
    const dropped = withTenants(
      production,
      tenantsOf(production).filter((t) => t.id !== "globex"),
    );
    const second = await runProgram({ ...dropped, previousOutputs: first.outputs });
    assert.ok(second.error instanceof ConfigError, String(second.error));
    assert.match(second.error.message, /drops tenant globex/);
    assert.deepEqual(
      second.registrations.filter((r) => r.custom).map((r) => r.name),
      [],
    );
  });

  test("an id removed at the last deploy cannot come back as a new tenant", async () => {
    const first = await runProgram(staging);
    const without = withTenants(
      staging,
      tenantsOf(staging).filter((t) => t.id !== "globex"),
    );
    const second = await runProgram({ ...without, previousOutputs: first.outputs });
    assert.equal(second.error, undefined, String(second.error));
    assert.deepEqual((second.outputs?.[PLACEMENT_OUTPUT] as Placement).removed, ["globex"]);
    const third = await runProgram({ ...staging, previousOutputs: second.outputs });
    assert.ok(third.error instanceof ConfigError, String(third.error));
    assert.match(third.error.message, /tenants\[1\]\.id .*was removed from this stack before/);
  });

  test("a stack of 100 tenants listed without slots evaluates", async () => {
    // dev: the fewest resources per tenant, and its slots also give each tenant its ports.
    const tenants = ids(100, "tenant").map((id) => ({
      id,
      workspaceName: id,
      postgresConnectionLimit: 10,
    }));
    const run = await runProgram({
      stack: "dev",
      config: platformConfig({
        environment: "dev",
        tenants,
        postgres: { maxConnections: 2000 },
      }),
    });
    assert.equal(run.error, undefined, String(run.error));
    const subnets = tenants.map((t) => subnetOf(run, t.id));
    assert.equal(new Set(subnets).size, 100);
  });
});

test("plan:diff shows what placement decides, with the base as the last deploy", async () => {
  const staging = committedStack("staging");
  const tenants = JSON.parse(staging.config["platform:tenants"]) as Record<string, unknown>[];
  const base = await runProgram(staging);
  const added = {
    ...staging,
    config: {
      ...staging.config,
      "platform:tenants": JSON.stringify([
        ...tenants.filter((t) => t.id !== "globex"),
        { id: "hooli", workspaceName: "Hooli", accessEmails: ["ops@hooli.example"] },
      ]),
    },
  };
  const head = await runProgram({ ...added, previousOutputs: base.outputs });
  assert.equal(head.error, undefined, String(head.error));
  const diff = diffPlans(buildPlan("staging", base), buildPlan("staging", head), "main");
  const slot = (head.outputs?.[PLACEMENT_OUTPUT] as Placement).slots.hooli;
  assert.deepEqual(diff.placement, {
    slots: [`hooli: slot ${slot} (new)`],
    removed: ["globex"],
    firstRecorded: false,
  });
  assert.match(
    renderDiffMarkdown(diff),
    new RegExp(
      `\\*\\*Placement\\*\\* \\(the base as the last deploy\\): hooli: slot ${slot} \\(new\\); globex: removed, its id retired\\.`,
    ),
  );
});

test("a production Kubernetes stack may remove a tenant: offboarding is Docker's", async () => {
  const k8s = committedStack("production-k8s");
  const tenants = JSON.parse(k8s.config["platform:tenants"]) as Record<string, unknown>[];
  const first = await runProgram(k8s);
  assert.equal(first.error, undefined, String(first.error));
  const second = await runProgram({
    ...k8s,
    config: { ...k8s.config, "platform:tenants": JSON.stringify(tenants.slice(0, 1)) },
    previousOutputs: first.outputs,
  });
  assert.equal(second.error, undefined, String(second.error));
});
