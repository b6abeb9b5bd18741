/** The blast radius of typical operator changes: each applied to a committed stack file, both plans diffed. */
import { randomBytes } from "node:crypto";
import { diffPlans, PlanDiff, ResourceRef } from "../plan/diff";
import { buildPlan, Plan, tenantsOf } from "../plan/plan";
import { PROJECT_ROOT, runProgram, RunOptions, stackFileConfig } from "../engine/runner";
import { DEFAULT_DITTOFEED_VERSION } from "../../stacks/config";
import { stackFilePath } from "../../stacks/config/stackFile";
import { TUNNEL_CONFIG } from "../policy/rules";
import { classesOf, ResourceClass } from "./analysis";

/** The stacks whose committed files the scenarios edit: the two with a tunnel. */
export const BLAST_STACKS = ["staging", "production"] as const;

interface TenantEntry {
  id: string;
  [key: string]: unknown;
}

/** The platform config of a stack with the structured keys parsed, for scenarios to edit. */
export interface EditableConfig {
  tenants: TenantEntry[];
  dittofeed: { version?: string; [key: string]: unknown };
}

/** Both sides of a scenario's diff, with what each resource is and whose it is. */
export interface Sides {
  stack: string;
  base: Plan;
  head: Plan;
  owner: { base: Map<string, string>; head: Map<string, string> };
  kind: Map<string, ResourceClass>;
}

export interface Scenario {
  id: string;
  /** What the operator changes, in words. */
  change: string;
  /** What the change may touch, in words. */
  target: string;
  edit(config: EditableConfig, stack: string): void;
  /** Everything in the diff the target does not allow; empty when it is met. */
  violations(diff: PlanDiff, sides: Sides): string[];
}

/** The release one patch after `version` (the default release when none is set). */
export function nextPatchRelease(version: string = DEFAULT_DITTOFEED_VERSION): string {
  const [major, minor, patch] = version.replace(/^v/, "").split(/[.-]/).map(Number);
  return `v${major}.${minor}.${patch + 1}`;
}

/** The tenant the scenarios change or remove, and the one they add. */
const CHANGED = "globex";
const ADDED = "initech";
const ROUTES_CHECK = "tunnel-routes-check";
/** What holds data a tenant would lose if the engine deleted it. */
const DATA_BEARING = ["postgresql:index/database:Database", "docker:index/volume:Volume"];

const entries = (diff: PlanDiff): (ResourceRef & { side: "base" | "head" })[] => [
  ...diff.added.map((r) => ({ ...r, side: "head" as const })),
  ...diff.changed.map((r) => ({ ...r, side: "head" as const })),
  ...diff.removed.map((r) => ({ ...r, side: "base" as const })),
];

/** Entries not owned by `tenant` or not of an allowed class. */
function outside(
  diff: PlanDiff,
  sides: Sides,
  allowed: { tenant?: string; classes?: readonly ResourceClass[] },
): string[] {
  return entries(diff).flatMap((r) => {
    const owner = sides.owner[r.side].get(r.id)!;
    const kind = sides.kind.get(r.id)!;
    if (allowed.tenant !== undefined && owner !== allowed.tenant)
      return [`${r.name} (${kind} of ${owner})`];
    if (allowed.classes && !allowed.classes.includes(kind)) return [`${r.name} (${kind})`];
    return [];
  });
}

/** The stack's routing: its one ingress document, and the check that the connector runs it. */
const besidesRouting = (diff: PlanDiff): PlanDiff => ({
  ...diff,
  changed: diff.changed.filter((c) => c.type !== TUNNEL_CONFIG && c.name !== ROUTES_CHECK),
});

/** A role whose only change is its connection limit, which follows the worker count. */
const besidesConnectionLimit = (diff: PlanDiff): PlanDiff => ({
  ...diff,
  changed: diff.changed.filter(
    (c) =>
      !(
        c.type === "postgresql:index/role:Role" &&
        c.action === "update" &&
        c.paths.every((path) => path === "connectionLimit")
      ),
  ),
});

export const SCENARIOS: Scenario[] = [
  {
    id: "add-tenant",
    change: `add tenant \`${ADDED}\``,
    target:
      "only the new tenant's resources, plus the tunnel's one ingress document and the check that the connector runs it",
    edit: (config, stack) =>
      config.tenants.push({
        id: ADDED,
        workspaceName: "Initech",
        hostname: `${ADDED}-${stack}`,
        accessEmails: [`ops@${ADDED}.example`],
      }),
    violations: (diff, sides) => [
      ...outside(besidesRouting(diff), sides, { tenant: ADDED }),
      ...diff.removed.map((r) => `${r.name} removed`),
    ],
  },
  {
    id: "remove-tenant",
    change: `remove tenant \`${CHANGED}\``,
    target:
      "only that tenant's resources, plus the ingress document and its check; in production, none of them holds data without being retained",
    edit: (config) => {
      config.tenants = config.tenants.filter((t) => t.id !== CHANGED);
    },
    violations: (diff, sides) => {
      const base = new Map(sides.base.resources.map((r) => [r.id, r]));
      const unretained =
        sides.stack === "production"
          ? diff.removed
              .filter((r) => DATA_BEARING.includes(r.type) && !base.get(r.id)!.retainOnDelete)
              .map((r) => `${r.name} holds data and is not retained`)
          : [];
      return [
        ...outside(besidesRouting(diff), sides, { tenant: CHANGED }),
        ...diff.added.map((r) => `${r.name} added`),
        ...unretained,
      ];
    },
  },
  {
    id: "access-list",
    change: `add a person to \`${CHANGED}\`'s accessEmails`,
    target: "only that tenant's Access resources",
    edit: (config) => {
      const tenant = config.tenants.find((t) => t.id === CHANGED)!;
      tenant.accessEmails = [
        ...((tenant.accessEmails as string[]) ?? []),
        "new.hire@globex.example",
      ];
    },
    violations: (diff, sides) => outside(diff, sides, { tenant: CHANGED, classes: ["access"] }),
  },
  {
    id: "worker-count",
    change: `one more worker for \`${CHANGED}\``,
    target:
      "only that tenant's app containers, and its Postgres role's connection limit (in place)",
    edit: (config) => {
      const tenant = config.tenants.find((t) => t.id === CHANGED)!;
      tenant.workerReplicas = ((tenant.workerReplicas as number | undefined) ?? 1) + 1;
    },
    violations: (diff, sides) =>
      outside(besidesConnectionLimit(diff), sides, { tenant: CHANGED, classes: ["app"] }),
  },
  {
    id: "version-bump",
    change: "bump `dittofeed.version` one patch release",
    target:
      "app containers (with each tenant's front), bootstrap jobs and the Dittofeed images they run, and the ingress document, which moves to the new fronts, with its check; no database, cache, ClickHouse, Temporal, volume, DNS, Access or other tunnel resource",
    edit: (config) => {
      config.dittofeed.version = nextPatchRelease(config.dittofeed.version);
    },
    violations: (diff, sides) =>
      outside(besidesRouting(diff), sides, { classes: ["app", "bootstrap", "image"] }),
  },
];

/** A committed stack's run options, with the scenario's edit applied. */
function editedStack(stack: string, scenario?: Scenario): RunOptions {
  const { config, secretKeys } = stackFileConfig(stackFilePath(PROJECT_ROOT, stack));
  if (!scenario) return { config, secretKeys, stack };
  const editable: EditableConfig = {
    tenants: JSON.parse(config["platform:tenants"]) as TenantEntry[],
    dittofeed: JSON.parse(config["platform:dittofeed"] ?? "{}") as EditableConfig["dittofeed"],
  };
  scenario.edit(editable, stack);
  return {
    config: {
      ...config,
      "platform:tenants": JSON.stringify(editable.tenants),
      "platform:dittofeed": JSON.stringify(editable.dittofeed),
    },
    secretKeys,
    stack,
  };
}

/** One scenario's outcome on one stack. */
export interface BlastResult {
  stack: string;
  scenario: string;
  change: string;
  target: string;
  added: { name: string; kind: ResourceClass; owner: string }[];
  removed: { name: string; kind: ResourceClass; owner: string; retained: boolean }[];
  changed: { name: string; kind: ResourceClass; owner: string; action: string; paths: string[] }[];
  violations: string[];
}

async function planOf(options: RunOptions, digestKey: string): Promise<Plan> {
  const run = await runProgram(options);
  if (run.error) throw new Error(`stack ${options.stack}: ${run.error.message}`);
  return buildPlan(options.stack!, run, digestKey);
}

/** Both sides of a diff, with every resource's owner and class. */
export function sidesOf(stack: string, base: Plan, head: Plan): Sides {
  return {
    stack,
    base,
    head,
    owner: { base: tenantsOf(base), head: tenantsOf(head) },
    kind: new Map([...classesOf(base), ...classesOf(head)]),
  };
}

/** Runs every scenario against a committed stack and compares every resource's inputs and options. */
export async function blastRadius(stack: string): Promise<BlastResult[]> {
  // Secrets are compared by a keyed digest whose key lives only for this run.
  const digestKey = randomBytes(32).toString("hex");
  const base = await planOf(editedStack(stack), digestKey);
  const results: BlastResult[] = [];
  for (const scenario of SCENARIOS) {
    const head = await planOf(editedStack(stack, scenario), digestKey);
    const diff = diffPlans(base, head, "committed");
    const sides = sidesOf(stack, base, head);
    const { owner, kind } = sides;
    const baseById = new Map(base.resources.map((r) => [r.id, r]));
    results.push({
      stack,
      scenario: scenario.id,
      change: scenario.change,
      target: scenario.target,
      added: diff.added.map((r) => ({
        name: r.name,
        kind: kind.get(r.id)!,
        owner: owner.head.get(r.id)!,
      })),
      removed: diff.removed.map((r) => ({
        name: r.name,
        kind: kind.get(r.id)!,
        owner: owner.base.get(r.id)!,
        retained: baseById.get(r.id)!.retainOnDelete,
      })),
      changed: diff.changed.map((c) => ({
        name: c.name,
        kind: kind.get(c.id)!,
        owner: owner.head.get(c.id)!,
        action: c.action,
        paths: c.paths,
      })),
      violations: scenario.violations(diff, sides),
    });
  }
  return results;
}
