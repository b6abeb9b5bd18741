/** The difference between two plans, resource by resource, with what the engine would do to each. */
import { parsePlacement, PLACEMENT_OUTPUT } from "../../stacks/config/placement";
import { GateLabel, LABELS } from "../../components/runtime/labels";
import { Json, Plan, PlannedResource, prerequisites, shortType, tenantsOf } from "./plan";
import { moves } from "./moves";
import { ChangeKind, changeKind, strongest, under } from "./replacement";

export interface ResourceRef {
  id: string;
  type: string;
  name: string;
}

export interface ResourceChange extends ResourceRef {
  /** What the provider does: replace wins over update when several inputs change. */
  action: ChangeKind;
  /** Changed input paths (e.g. `healthcheck.tests[2]`), and `options.<name>` for options. */
  paths: string[];
  /** Paths whose values are secret: that they changed is all the diff says. */
  secretPaths: string[];
  /** The changed inputs that force the replacement. */
  replacingInputs: string[];
  /** For a replacement: in which order, and what is down meanwhile. */
  replacement?: Replacement;
}

/**
 * How the engine replaces a resource: the new one first and then the old one deleted, or the old
 * one deleted first (`deleteBeforeReplace`, or the provider's own default), which leaves a
 * long-running container's service down until the new one is healthy.
 */
export interface Replacement {
  order: "create-first" | "delete-first";
  /** What is down while it is replaced, e.g. `tenant acme's api`; absent when nothing is. */
  downtime?: string;
}

/**
 * Resource types whose provider asks for delete-first replacement unless the program says
 * otherwise: pulumi-docker marks `docker_container` DeleteBeforeReplace (pulumi/pulumi-docker,
 * provider/resources.go), since a fixed container name cannot exist twice. The program's own
 * `deleteBeforeReplace`, `false` included, overrides it (pulumi/pulumi,
 * pkg/resource/deploy/step_generator.go).
 */
const PROVIDER_DELETES_FIRST = new Set(["docker:index/container:Container"]);

function labelOf(r: PlannedResource, label: string): string | undefined {
  const inputs = r.inputs as { labels?: { label: string; value: string }[] } | null;
  return (Array.isArray(inputs?.labels) ? inputs.labels : []).find((l) => l.label === label)?.value;
}

function replacementOf(r: PlannedResource): Replacement {
  const deleteFirst = r.deleteBeforeReplace ?? PROVIDER_DELETES_FIRST.has(r.type);
  if (!deleteFirst) return { order: "create-first" };
  const inputs = r.inputs as { attach?: unknown } | null;
  const longRunning = r.type === "docker:index/container:Container" && inputs?.attach !== true;
  if (!longRunning) return { order: "delete-first" };
  const service = labelOf(r, "platform.service") ?? r.name;
  const tenant = labelOf(r, "platform.tenant");
  return {
    order: "delete-first",
    downtime:
      tenant === undefined ? `shared ${service}: every tenant` : `tenant ${tenant}'s ${service}`,
  };
}

export interface PlanDiff {
  stack: string;
  base: string;
  added: ResourceRef[];
  removed: ResourceRef[];
  /** Found in the last state under an old URN, by an alias: the engine renames it, nothing more. */
  moved: (ResourceRef & { from: string; to: string })[];
  changed: ResourceChange[];
  /**
   * What the stack's `placement` output decides (stacks/config/placement.ts), with `base`'s as the last
   * deploy: each tenant whose slot is new or moved, and the ids the stack has removed.
   */
  placement: { slots: string[]; removed: string[]; firstRecorded: boolean };
  /** Each gate of a release in waves (components/tenant/releaseGate.ts), with the tenants it holds back. */
  waves: (GateLabel & { gate: string; holds: string[] })[];
}

const SECRET_MARK = /^\[secret( [0-9a-f]+)?\]$/;
const isSecretMark = (value: Json) => typeof value === "string" && SECRET_MARK.test(value);

/** Every path at which two JSON values differ, down to the first secret or scalar. */
export function changedPaths(before: Json, after: Json, at = ""): string[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  if (Array.isArray(before) && Array.isArray(after)) {
    const length = Math.max(before.length, after.length);
    return Array.from({ length }, (_, i) =>
      changedPaths(before[i] ?? null, after[i] ?? null, `${at}[${i}]`),
    ).flat();
  }
  const isObject = (v: Json): v is { [key: string]: Json } =>
    v !== null && typeof v === "object" && !Array.isArray(v);
  if (isObject(before) && isObject(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
    return keys.flatMap((key) =>
      changedPaths(before[key] ?? null, after[key] ?? null, at ? `${at}.${key}` : key),
    );
  }
  return [at];
}

function valueAt(value: Json, path: string): Json {
  let current: Json = value;
  for (const part of path.match(/[^.[\]]+/g) ?? []) {
    if (current === null || typeof current !== "object") return null;
    current = Array.isArray(current) ? (current[Number(part)] ?? null) : (current[part] ?? null);
  }
  return current;
}

/** The options compared besides inputs, and what the engine does when one of them changes. */
const OPTION_KINDS = {
  protect: "update",
  retainOnDelete: "update",
  deleteBeforeReplace: "update",
  additionalSecretOutputs: "update",
  provider: "unknown",
  // Dependencies order the engine's work; a change of them alone touches nothing.
  dependsOn: "none",
  inputDependencies: "none",
} satisfies Partial<Record<keyof PlannedResource, ChangeKind>>;
type ComparedOption = keyof typeof OPTION_KINDS;

/** What the engine does to a resource that changed from `before` to `after`; undefined: nothing. */
export function compare(
  before: PlannedResource,
  after: PlannedResource,
): ResourceChange | undefined {
  // The engine keeps the stored value of an ignored input (or nested path) of a resource that
  // already exists.
  const ignored = after.ignoreChanges ?? [];
  const inputPaths = changedPaths(before.inputs, after.inputs).filter(
    (p) => !ignored.some((i) => under(p, i)),
  );
  const options = (Object.keys(OPTION_KINDS) as ComparedOption[]).filter(
    (o) => JSON.stringify(before[o]) !== JSON.stringify(after[o]),
  );
  if (inputPaths.length + options.length === 0) return undefined;
  const topLevel = [...new Set(inputPaths.map((p) => p.split(/[.[]/)[0]))];
  const causes = [...topLevel, ...options.map((o) => `options.${o}`)];
  // The engine replaces on a change under a `replaceOnChanges` path whatever the provider says
  // (pulumi/pulumi, pkg/resource/deploy/step_generator.go, applyReplaceOnChanges).
  // Paths without wildcards: the only kind this program sets.
  const forced = (path: string) => after.replaceOnChanges.some((f) => under(path, f));
  const kinds = [
    ...topLevel.map((property) => {
      const paths = inputPaths.filter((p) => p.split(/[.[]/)[0] === property);
      return paths.some(forced) ? "replace" : changeKind(after.type, property, paths);
    }),
    ...options.map((o): ChangeKind => OPTION_KINDS[o]),
  ];
  const action = strongest(kinds);
  return {
    id: after.id,
    type: after.type,
    name: after.name,
    action,
    paths: [...inputPaths, ...options.map((o) => `options.${o}`)],
    secretPaths: inputPaths.filter(
      (p) => isSecretMark(valueAt(before.inputs, p)) || isSecretMark(valueAt(after.inputs, p)),
    ),
    replacingInputs: causes.filter((_, i) => kinds[i] === "replace"),
    ...(action === "replace" ? { replacement: replacementOf(after) } : {}),
  };
}

const ref = ({ id, type, name }: PlannedResource): ResourceRef => ({ id, type, name });

/**
 * What applying `head` to a stack at `base` would do, resource by resource (custom resources
 * only). Each is the resource of `base` with its URN, or the one an alias names (see ./moves);
 * a resource whose URN changed without an alias is another resource to the engine.
 */
export function diffPlans(base: Plan, head: Plan, baseLabel: string): PlanDiff {
  const before = new Map(base.resources.filter((r) => r.custom).map((r) => [r.urn, r]));
  const was = moves(base.resources, head.resources);
  const diff: PlanDiff = {
    stack: head.stack,
    base: baseLabel,
    added: [],
    removed: [],
    moved: [],
    changed: [],
    placement: placementChanges(base.outputs, head.outputs),
    waves: gatesOf(head),
  };
  // A dependency on a moved resource is the same dependency: compared under its old id.
  const baseIds = new Map(base.resources.map((r) => [r.urn, r.id]));
  const oldId = new Map(
    head.resources.flatMap((r) => {
      const from = baseIds.get(was.get(r.urn) ?? "");
      return from === undefined || from === r.id ? [] : [[r.id, from] as const];
    }),
  );
  const renamed = (ids: string[]) => ids.map((id) => oldId.get(id) ?? id).sort();
  const kept = new Set<string>();
  for (const r of head.resources.filter((x) => x.custom)) {
    const urn = was.get(r.urn) ?? r.urn;
    const old = before.get(urn);
    if (!old) {
      diff.added.push(ref(r));
      continue;
    }
    kept.add(urn);
    if (urn !== r.urn) diff.moved.push({ ...ref(r), from: urn, to: r.urn });
    const change = compare(old, {
      ...r,
      dependsOn: renamed(r.dependsOn),
      inputDependencies: Object.fromEntries(
        Object.entries(r.inputDependencies).map(([key, ids]) => [key, renamed(ids)]),
      ),
    });
    if (change) diff.changed.push(change);
  }
  diff.removed = [...before.values()].filter((r) => !kept.has(r.urn)).map(ref);
  return diff;
}

/** Each release gate of `head`, read from its job's label, and the tenants whose resources wait for it. */
function gatesOf(head: Plan): PlanDiff["waves"] {
  const owners = tenantsOf(head);
  const waiting = prerequisites(head);
  return head.resources
    .flatMap((r) => {
      const label = labelOf(r, LABELS.releaseGate);
      if (label === undefined) return [];
      const holds = [...waiting]
        .filter(([, prereqs]) => prereqs.includes(r.id))
        .map(([id]) => owners.get(id)!);
      const gate = r.name.replace(/-job$/, "");
      return [{ ...(JSON.parse(label) as GateLabel), gate, holds: [...new Set(holds)].sort() }];
    })
    .sort((a, b) => a.wave - b.wave);
}

/** Tenants whose slot `head` gives anew or moves, and ids it has removed since `base`. */
function placementChanges(base: Json, head: Json): PlanDiff["placement"] {
  const placementOf = (outputs: Json) =>
    parsePlacement((outputs as Record<string, unknown> | null)?.[PLACEMENT_OUTPUT]);
  const [before, after] = [placementOf(base), placementOf(head)];
  const slots = Object.entries(after?.slots ?? {}).flatMap(([id, slot]) => {
    const was = before?.slots[id];
    if (was === slot) return [];
    return [was === undefined ? `${id}: slot ${slot} (new)` : `${id}: slot ${was} → ${slot}`];
  });
  const removed = (after?.removed ?? []).filter((id) => !(before?.removed ?? []).includes(id));
  return { slots, removed, firstRecorded: before === undefined && after !== undefined };
}

const ACTION_TEXT: Record<ChangeKind, string> = {
  replace: "**replace**",
  update: "update",
  "state-only": "update in state only (takes effect on the next replacement)",
  unknown: "update or replace (this tool cannot tell)",
  none: "no provider action (dependencies only)",
};

/** A pull-request comment: counts first, then each resource with what changes and how. */
/** `a ×2; b`: each distinct entry once, in first-seen order, with how often it occurs. */
function countedList(entries: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const entry of entries) counts.set(entry, (counts.get(entry) ?? 0) + 1);
  return [...counts].map(([entry, n]) => (n === 1 ? entry : `${entry} ×${n}`)).join("; ");
}

export function renderDiffMarkdown(diff: PlanDiff): string {
  const replaced = diff.changed.filter((c) => c.action === "replace");
  const down = replaced.flatMap((c) => (c.replacement?.downtime ? [c.replacement.downtime] : []));
  const lines = [
    `### Stack \`${diff.stack}\` against \`${diff.base}\``,
    "",
    diff.added.length + diff.removed.length + diff.changed.length === 0
      ? "No changes."
      : `${diff.added.length} to create, ${diff.changed.length} to change (${replaced.length} replaced), ${diff.removed.length} to delete.`,
    "",
  ];
  if (diff.moved.length > 0) {
    lines.push(
      `**Moved:** ${diff.moved.length} resource${diff.moved.length === 1 ? "" : "s"} found under an old URN by an alias: the engine renames ${diff.moved.length === 1 ? "it" : "them"} in its state, with no create or delete.`,
      "",
    );
  }
  // The same type and name created and deleted: its URN changed with no alias to say so.
  const removedIds = new Set(diff.removed.map((r) => r.id));
  const recreated = diff.added.filter((r) => removedIds.has(r.id));
  if (recreated.length > 0) {
    lines.push(
      `**URN changed without an alias:** ${recreated.map((r) => `\`${r.name}\``).join(", ")}: the engine creates each anew beside the old one and then deletes the old (a fixed container name then conflicts). An \`aliases\` option on the moved component keeps each.`,
      "",
    );
  }
  if (down.length > 0) {
    lines.push(
      `**Downtime:** ${down.length} replacement${down.length === 1 ? "" : "s"} delete the running container first, so each is down until its successor is healthy: ${countedList(down)}.`,
      "",
    );
  }
  if (diff.waves.length > 0) {
    const first = diff.waves[0];
    lines.push(
      `**Release in waves:** wave ${first.after} moves ${first.watch.join(", ")}; ${diff.waves
        .map(
          (g) =>
            `wave ${g.wave} moves ${g.holds.join(", ")} once \`${g.gate}\` has watched wave ${g.after} for ${g.soakMinutes} min (deployed, serving its new release, no alert of its own pending or firing)`,
        )
        .join("; ")}.`,
      "",
    );
  }
  if (diff.added.length + diff.removed.length > 0) {
    lines.push("| | resource | type |", "| --- | --- | --- |");
    for (const r of diff.added) lines.push(`| + | \`${r.name}\` | ${shortType(r.type)} |`);
    for (const r of diff.removed) lines.push(`| - | \`${r.name}\` | ${shortType(r.type)} |`);
    lines.push("");
  }
  if (diff.changed.length > 0) {
    lines.push(
      "| | resource | type | action | down while replaced | changed |",
      "| --- | --- | --- | --- | --- | --- |",
    );
    for (const c of diff.changed) {
      const paths = c.paths.map((p) => `\`${p}\`${c.secretPaths.includes(p) ? " (secret)" : ""}`);
      const shown =
        paths.length > 12 ? [...paths.slice(0, 12), `and ${paths.length - 12} more`] : paths;
      const why = c.replacingInputs.length
        ? ` because of ${c.replacingInputs.map((p) => `\`${p}\``).join(", ")}`
        : "";
      const order = c.replacement ? ` (${c.replacement.order})` : "";
      const down = c.replacement?.downtime ?? "";
      lines.push(
        `| ~ | \`${c.name}\` | ${shortType(c.type)} | ${ACTION_TEXT[c.action]}${order}${why} | ${down} | ${shown.join(", ")} |`,
      );
    }
    lines.push("");
  }
  if (diff.placement.slots.length + diff.placement.removed.length > 0) {
    lines.push(
      `**Placement** (${diff.placement.firstRecorded ? "recorded for the first time: the base's program wrote none" : "the base as the last deploy"}): ${[
        ...diff.placement.slots,
        ...diff.placement.removed.map((id) => `${id}: removed, its id retired`),
      ].join("; ")}.`,
      "",
    );
  }
  return lines.join("\n");
}

/** The diff as JSON: the same change always gives the same bytes. */
export function renderDiffJson(diff: PlanDiff): string {
  return `${JSON.stringify(diff, null, 2)}\n`;
}
