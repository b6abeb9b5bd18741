/**
 * Which resource of the last state each resource of a plan is, as the engine decides it: by its
 * URN, or else by one of its aliases, a child inheriting the old URN its parent was found by
 * (pulumi/pulumi, read at 1b5949891b3c, pkg/resource/deploy/step_generator.go: getOldResource,
 * generateAliases, collapseAliasToUrn, inheritedChildAlias).
 */
import { engineUrn } from "../engine/runner";
import { PlannedResource } from "./plan";

/** The parts of a URN: `urn:pulumi:<stack>::<project>::<qualified type>::<name>`. */
function parts(urn: string) {
  const [prefix, project, qualified, ...name] = urn.split("::");
  return {
    stack: prefix.slice("urn:pulumi:".length),
    project,
    qualified,
    type: qualified.slice(qualified.lastIndexOf("$") + 1),
    name: name.join("::"),
  };
}

/**
 * For each resource of `head` found in `base` under another URN, that URN. A resource found
 * under its own URN, or not at all, has no entry. Throws where the engine fails the update: an
 * old URN that two resources claim, or that one claims by alias while another has it as its own.
 */
export function moves(base: readonly PlannedResource[], head: readonly PlannedResource[]) {
  const old = new Set(base.map((r) => r.urn));
  const byId = new Map(head.map((r) => [r.id, r]));
  const byUrn = new Map(head.map((r) => [r.urn, r]));
  const moved = new Map<string, string>();
  const claimedBy = new Map<string, string>();
  const done = new Set<string>();
  const visit = (r: PlannedResource) => {
    if (done.has(r.id)) return;
    done.add(r.id);
    const parent = r.parent === undefined ? undefined : byId.get(r.parent);
    // The engine registers a parent before its children: its match is known first.
    if (parent) visit(parent);
    if (old.has(r.urn)) return;
    const found = aliasesOf(r, parent?.urn, moved).find((urn) => old.has(urn));
    if (!found) return;
    const other = byUrn.get(found)?.urn ?? claimedBy.get(found);
    if (other !== undefined)
      throw new Error(`${r.urn} and ${other} are both ${found}: the engine refuses the update`);
    claimedBy.set(found, r.urn);
    moved.set(r.urn, found);
  };
  head.forEach(visit);
  return moved;
}

/** Every URN the engine tries for `r` after its own, in the engine's order, without repeats. */
function aliasesOf(
  r: PlannedResource,
  parentUrn: string | undefined,
  moved: ReadonlyMap<string, string>,
): string[] {
  const own = parts(r.urn);
  const collapse = (alias: PlannedResource["aliases"][number]): string => {
    if ("urn" in alias) return alias.urn;
    const given = alias.parent === null ? "" : alias.parent || (parentUrn ?? "");
    // A parent that is the stack itself is no parent in a URN (see `engineUrn`).
    return engineUrn(
      alias.stack || own.stack,
      alias.project || own.project,
      moved.get(given) ?? given,
      alias.type || own.type,
      alias.name || own.name,
    );
  };
  const collapsed = r.aliases.map(collapse);
  const urns = [...collapsed];
  const parentWas = parentUrn && moved.get(parentUrn);
  if (parentWas) {
    // A child named after its parent takes the parent's old name in its own.
    const parentName = parts(parentUrn).name;
    const inherited = (type: string, name: string) =>
      engineUrn(
        own.stack,
        own.project,
        parentWas,
        type,
        name.startsWith(parentName) ? parts(parentWas).name + name.slice(parentName.length) : name,
      );
    urns.push(inherited(own.type, own.name));
    for (const urn of collapsed) urns.push(inherited(parts(urn).type, parts(urn).name));
  }
  return [...new Set(urns)];
}
