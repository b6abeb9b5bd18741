/** A run's registrations as a plan: stable ids, references by id, every secret redacted. */
import { createHmac } from "node:crypto";
import { isSecret } from "../engine/mocks";
import { Alias, Registration, RunResult } from "../engine/runner";

/** JSON as the plan holds it: secrets already replaced by markers. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** One resource of the desired state, addressed by `<type>::<name>`. */
export interface PlannedResource {
  id: string;
  /** The engine's URN, which its state is keyed by. */
  urn: string;
  /** What it was known by before (see ./moves). */
  aliases: Alias[];
  type: string;
  name: string;
  /** A component groups resources; only custom resources are created by a provider. */
  custom: boolean;
  /** The parent's id; absent at the top of the stack. */
  parent?: string;
  /** The explicit provider's id, when one is set. */
  provider?: string;
  /** Explicit `dependsOn`: resources waited for that no input refers to. */
  dependsOn: string[];
  /** Implicit dependencies, by the input that carries them. */
  inputDependencies: Record<string, string[]>;
  protect: boolean;
  retainOnDelete: boolean;
  /** The program's choice, or null when the provider's default decides. */
  deleteBeforeReplace: boolean | null;
  additionalSecretOutputs: string[];
  /** Inputs whose changes the engine ignores once the resource exists. */
  ignoreChanges: string[];
  /** Input paths whose changes replace it, whatever its provider would do. */
  replaceOnChanges: string[];
  inputs: Json;
}

export interface Plan {
  stack: string;
  resources: PlannedResource[];
  outputs: Json;
}

/**
 * How a secret is written: `[secret]`, never its value. Given a key, also a keyed digest of it,
 * so that two plans made with the same key show whether a secret changed; the key is never
 * written anywhere, so the digest cannot be tested against guesses.
 */
export function secretMarker(digestKey?: string): (value: unknown) => string {
  return (value) =>
    digestKey === undefined
      ? "[secret]"
      : `[secret ${createHmac("sha256", digestKey).update(JSON.stringify(value)).digest("hex").slice(0, 16)}]`;
}

/** Plain JSON with secrets replaced and object keys sorted, so equal values print equal. */
export function redact(value: unknown, marker: (value: unknown) => string): Json {
  if (isSecret(value)) return marker(value.value);
  if (value === undefined || value === null) return null;
  if (typeof value === "boolean" || typeof value === "number" || typeof value === "string")
    return value;
  if (Array.isArray(value)) return value.map((v) => redact(v, marker));
  if (typeof value === "object") {
    const out: { [key: string]: Json } = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = redact(v, marker);
    }
    return out;
  }
  // Deserialized inputs hold nothing else; a function or symbol has no place in a plan.
  return null;
}

function resourceId(r: Pick<Registration, "type" | "name">): string {
  return `${r.type}::${r.name}`;
}

/** A provider reference is `<urn>::<id>`. */
function providerUrnOf(reference: string): string {
  return reference.slice(0, reference.lastIndexOf("::"));
}

/**
 * One registration as the plan holds it; `ids` maps the run's URNs to plan ids (a URN not in it
 * is left out of references).
 */
export function plannedResource(
  r: Omit<Registration, "inputs"> & { inputs: unknown },
  ids: ReadonlyMap<string, string>,
  marker: (value: unknown) => string,
): PlannedResource {
  const idsOf = (urns: readonly string[]) =>
    [...new Set(urns.flatMap((urn) => (ids.has(urn) ? [ids.get(urn)!] : [])))].sort();
  const implicit = new Set(Object.values(r.propertyDependencies).flat());
  const inputDependencies: Record<string, string[]> = {};
  for (const key of Object.keys(r.propertyDependencies).sort()) {
    const deps = idsOf(r.propertyDependencies[key]);
    if (deps.length > 0) inputDependencies[key] = deps;
  }
  const provider = r.provider ? ids.get(providerUrnOf(r.provider)) : undefined;
  return {
    id: resourceId(r),
    urn: r.urn,
    aliases: r.aliases,
    type: r.type,
    name: r.name,
    custom: r.custom,
    ...(ids.has(r.parent) ? { parent: ids.get(r.parent) } : {}),
    ...(provider ? { provider } : {}),
    dependsOn: idsOf(r.dependencies.filter((urn) => !implicit.has(urn))),
    inputDependencies,
    protect: r.protect,
    retainOnDelete: r.retainOnDelete,
    deleteBeforeReplace: r.deleteBeforeReplace ?? null,
    additionalSecretOutputs: r.additionalSecretOutputs,
    ignoreChanges: r.ignoreChanges,
    replaceOnChanges: r.replaceOnChanges,
    inputs: redact(r.inputs, marker),
  };
}

/**
 * The desired state of one run: every resource but the stack itself, in a fixed order, with
 * references by id instead of URN and every secret redacted.
 */
export function buildPlan(stack: string, run: RunResult, digestKey?: string): Plan {
  const marker = secretMarker(digestKey);
  const registrations = run.registrations.filter((r) => r.type !== "pulumi:pulumi:Stack");
  const ids = new Map(registrations.map((r) => [r.urn, resourceId(r)]));
  const resources = registrations.map((r) => plannedResource(r, ids, marker));
  resources.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { stack, resources, outputs: redact(run.outputs ?? {}, marker) };
}

/** The plan as a file: the same plan always gives the same bytes. */
export function renderPlanJson(plan: Plan): string {
  return `${JSON.stringify(plan, null, 2)}\n`;
}

/** The component that is one tenant, on either runtime. */
const TENANT_TYPE = "platform:tenant:Tenant";
export const SHARED = "(shared)";
const ACCESS_APPLICATION = "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication";
const DNS_RECORD = "cloudflare:index/dnsRecord:DnsRecord";

const stringInput = (r: PlannedResource, key: string): string | undefined => {
  const value = (r.inputs as { [key: string]: Json } | null)?.[key];
  return typeof value === "string" ? value : undefined;
};

/**
 * The tenant of every resource: the `Tenant` component above it; for a DNS record, the tenant
 * whose Access application guards that hostname (the records live in the shared tunnel, but
 * each exists for one tenant); otherwise `(shared)`.
 */
export function tenantsOf(plan: Plan): Map<string, string> {
  const byId = new Map(plan.resources.map((r) => [r.id, r]));
  const tenants = new Map<string, string>();
  const tenantOf = (r: PlannedResource): string => {
    const known = tenants.get(r.id);
    if (known !== undefined) return known;
    const parent = r.parent ? byId.get(r.parent) : undefined;
    const tenant = r.type === TENANT_TYPE ? r.name : parent ? tenantOf(parent) : SHARED;
    tenants.set(r.id, tenant);
    return tenant;
  };
  plan.resources.forEach(tenantOf);
  const guardedHosts = new Map<string, string>();
  for (const r of plan.resources) {
    const domain = stringInput(r, "domain");
    if (r.type === ACCESS_APPLICATION && domain && tenants.get(r.id) !== SHARED)
      guardedHosts.set(domain, tenants.get(r.id)!);
  }
  for (const r of plan.resources) {
    const owner =
      r.type === DNS_RECORD ? guardedHosts.get(stringInput(r, "name") ?? "") : undefined;
    if (owner !== undefined && tenants.get(r.id) === SHARED) tenants.set(r.id, owner);
  }
  return tenants;
}

/** What a custom resource waits for: its dependencies and provider, components expanded to their custom resources. */
export function prerequisites(plan: Plan): Map<string, string[]> {
  const byId = new Map(plan.resources.map((r) => [r.id, r]));
  const children = new Map<string, PlannedResource[]>();
  for (const r of plan.resources) {
    if (r.parent) children.set(r.parent, [...(children.get(r.parent) ?? []), r]);
  }
  const customUnder = (id: string): string[] => {
    const r = byId.get(id);
    if (!r) return [];
    if (r.custom) return [id];
    return (children.get(id) ?? []).flatMap((c) => customUnder(c.id));
  };
  const result = new Map<string, string[]>();
  for (const r of plan.resources.filter((x) => x.custom)) {
    const direct = [...r.dependsOn, ...Object.values(r.inputDependencies).flat()];
    if (r.provider) direct.push(r.provider);
    result.set(r.id, [...new Set(direct.flatMap(customUnder))].filter((id) => id !== r.id).sort());
  }
  return result;
}

/**
 * The order in which a fresh stack comes up: wave n holds what can be created once waves before
 * it exist, and the critical path is the longest chain of resources created one after another.
 */
export function bringUpOrder(plan: Plan): { waves: string[][]; criticalPath: string[] } {
  const prereqs = prerequisites(plan);
  const level = new Map<string, number>();
  const via = new Map<string, string | undefined>();
  const depth = (id: string): number => {
    const known = level.get(id);
    if (known !== undefined) return known;
    let best = 0;
    let from: string | undefined;
    for (const dep of prereqs.get(id) ?? []) {
      const d = depth(dep);
      // Prerequisites come sorted, so ties go to the first in order: the path is stable.
      if (d > best) {
        best = d;
        from = dep;
      }
    }
    level.set(id, best + 1);
    via.set(id, from);
    return best + 1;
  };
  const ids = [...prereqs.keys()].sort();
  ids.forEach(depth);
  const waves: string[][] = [];
  for (const id of ids) (waves[level.get(id)! - 1] ??= []).push(id);
  let last = ids.reduce<string | undefined>(
    (best, id) => (best === undefined || level.get(id)! > level.get(best)! ? id : best),
    undefined,
  );
  const criticalPath: string[] = [];
  for (; last !== undefined; last = via.get(last)) criticalPath.unshift(last);
  return { waves, criticalPath };
}

function countBy<T>(items: readonly T[], key: (item: T) => string): [string, number][] {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1);
  return [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The logical name in a resource id (`<type>::<name>`). */
export const nameOf = (id: string) => id.slice(id.lastIndexOf("::") + 2);

/** The last part of a type token: `Container` of `docker:index/container:Container`. */
export const shortType = (type: string) => type.slice(type.lastIndexOf(":") + 1);

/** The human side of a plan: what gets created, per type and per tenant, and in which order. */
export function renderPlanMarkdown(plan: Plan): string {
  const custom = plan.resources.filter((r) => r.custom);
  const tenants = tenantsOf(plan);
  const lines = [
    `## Plan of stack \`${plan.stack}\``,
    "",
    `${custom.length} resources (plus ${plan.resources.length - custom.length} components), computed offline under mocks.`,
    "",
    "| type | count |",
    "| --- | ---: |",
    ...countBy(custom, (r) => r.type).map(([type, n]) => `| \`${type}\` | ${n} |`),
    "",
    "| tenant | resources | by type |",
    "| --- | ---: | --- |",
    ...countBy(custom, (r) => tenants.get(r.id)!).map(([tenant, n]) => {
      const types = countBy(
        custom.filter((r) => tenants.get(r.id) === tenant),
        (r) => shortType(r.type),
      );
      return `| ${tenant} | ${n} | ${types.map(([t, k]) => `${t} ${k}`).join(", ")} |`;
    }),
    "",
    "Bring-up order on a fresh stack (each wave waits for the ones before it):",
    "",
  ];
  const { waves, criticalPath } = bringUpOrder(plan);
  waves.forEach((wave, i) => lines.push(`${i + 1}. ${wave.map(nameOf).join(", ")}`));
  lines.push(
    "",
    `Critical path, ${criticalPath.length} steps: ${criticalPath.map(nameOf).join(" → ")}`,
    "",
  );
  return lines.join("\n");
}
