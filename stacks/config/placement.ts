/**
 * What the last deploy of a stack held, and what follows from it: which network slot each tenant
 * has, and which tenants were there. A stack reads it from its own previous outputs (see
 * stacks/previous.ts) and writes it anew as its `placement` output, so that
 * - a tenant keeps its slot whatever other tenants are added, removed or reordered, and a new
 *   tenant takes a free one, with no hand work below the pool's capacity;
 * - a tenant that was deployed is not dropped from a production stack without being offboarded
 *   first, and an id that was removed is not taken again by a new tenant, which would inherit
 *   what the old one left (its ClickHouse database and user, its Temporal namespace);
 * - each tenant's Dittofeed release and the newest whose upgrade steps moved its data, which
 *   tell a release from any other change and bound where a tenant may go next.
 */
import { DataVersion, ReleasedTenant } from "../../components/app/releases";
import { defaultSlot } from "../../components/runtime/network";

/** The stack output that carries it. */
export const PLACEMENT_OUTPUT = "placement";

export interface Placement {
  /** Each tenant's network slot (Docker; none on Kubernetes). */
  slots: Record<string, number>;
  /**
   * Each tenant of the deploy, whether it was offboarded, and its release once deployed (none
   * where the deploy's program did not record it).
   */
  tenants: Record<string, { offboarded: boolean } & Partial<DataVersion>>;
  /** Every id ever removed from the stack, sorted. */
  removed: string[];
}

/**
 * A previous output read back as it is stored: anything not of the expected shape counts as no
 * previous deploy, except what each part says on its own.
 */
export function parsePlacement(value: unknown): Placement | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const record = value as Record<string, unknown>;
  const entries = (v: unknown) =>
    v !== null && typeof v === "object" ? Object.entries(v as Record<string, unknown>) : [];
  return {
    slots: Object.fromEntries(
      entries(record.slots).filter(([, slot]) => Number.isInteger(slot) && (slot as number) >= 0),
    ) as Record<string, number>,
    tenants: Object.fromEntries(
      entries(record.tenants).map(([id, t]) => {
        const { offboarded, version, floor } = (t ?? {}) as Record<string, unknown>;
        const text = (v: unknown) => (typeof v === "string" ? v : undefined);
        return [
          id,
          {
            offboarded: offboarded === true,
            ...(text(version) && { version: text(version) }),
            ...(text(floor) && { floor: text(floor) }),
          },
        ];
      }),
    ),
    removed: Array.isArray(record.removed)
      ? record.removed.filter((id): id is string => typeof id === "string")
      : [],
  };
}

/** The Dittofeed release a tenant runs: its pin, or the stack's. */
export function tenantVersion(
  config: { dittofeed: { version: string } },
  tenant: { dittofeed: { version?: string } },
): string {
  return tenant.dittofeed.version ?? config.dittofeed.version;
}

/**
 * Each tenant as a release sees it: the release it is to run (its pin, or the stack's) and what
 * the last deploy recorded of it.
 */
export function releasedTenants(
  config: {
    dittofeed: { version: string };
    tenants: readonly { id: string; offboarded: boolean; dittofeed: { version?: string } }[];
  },
  previous: Placement | undefined,
): ReleasedTenant[] {
  return config.tenants.map((t) => ({
    id: t.id,
    version: tenantVersion(config, t),
    offboarded: t.offboarded,
    last: previous?.tenants[t.id],
  }));
}

/** Why a tenant's slot cannot be given: at its `slot` key, or at its `id`. */
export interface SlotProblem {
  index: number;
  key: "slot" | "id";
  message: string;
}

/**
 * Every tenant's slot in a pool of `count`: its own `slot` from config, else the one it held at
 * the last deploy, else the first free one from its hash on (probing upwards), given to new
 * tenants in the order of their hashes and ids, so that the list's order decides nothing.
 * Without a previous deploy, tenants whose hashes differ keep exactly their hash slots.
 */
export function placeSlots(
  tenants: readonly { id: string; slot?: number }[],
  count: number,
  previous?: Placement,
): { slots: (number | undefined)[]; problems: SlotProblem[] } {
  const slots: (number | undefined)[] = tenants.map(() => undefined);
  const problems: SlotProblem[] = [];
  const holder = new Map<number, number>();
  const firstOf = new Map<string, number>();
  tenants.forEach((t, index) => {
    if (!firstOf.has(t.id)) firstOf.set(t.id, index);
  });
  // A repeated id is reported as such elsewhere; it shares its first's slot.
  const unique = tenants.map((t, index) => firstOf.get(t.id) === index);
  const held = (t: { id: string }) => {
    const slot = previous?.slots[t.id];
    return slot !== undefined && slot < count ? slot : undefined;
  };
  const claim = (index: number, slot: number) => {
    slots[index] = slot;
    holder.set(slot, index);
  };
  const free = (from: number) => {
    for (let step = 0; step < count; step += 1) {
      const slot = (from + step) % count;
      if (!holder.has(slot)) return slot;
    }
    return undefined;
  };
  // What the last deploy made stays where it is (a slot two ids claim, as a damaged record
  // might say, goes to the first).
  tenants.forEach((t, index) => {
    const slot = held(t);
    if (
      unique[index] &&
      slot !== undefined &&
      !holder.has(slot) &&
      (t.slot === undefined || t.slot === slot)
    ) {
      claim(index, slot);
    }
  });
  // A slot whose tenant this deploy removes is still its network's until the update ends (the
  // engine deletes last): Docker would refuse a new network on its subnet meanwhile.
  const present = new Set(tenants.map((t) => t.id));
  for (const [id, slot] of Object.entries(previous?.slots ?? {})) {
    if (!present.has(id) && slot < count && !holder.has(slot)) holder.set(slot, -1);
  }
  tenants.forEach((t, index) => {
    if (!unique[index] || t.slot === undefined || slots[index] !== undefined) return;
    if (t.slot >= count) {
      problems.push({
        index,
        key: "slot",
        message: `must be below ${count}: platform:network.pool has ${count} slots of a /27`,
      });
      return;
    }
    const other = holder.get(t.slot);
    if (other === undefined) {
      claim(index, t.slot);
      return;
    }
    const suggestion = free(t.slot);
    const whose =
      other < 0
        ? "a tenant this deploy removes holds until the update ends"
        : `tenants[${other}] (${tenants[other].id}) has${held(tenants[other]) === t.slot ? " since its last deploy" : ""}`;
    problems.push({
      index,
      key: "slot",
      message: `takes network slot ${t.slot}, which ${whose}: a slot gives a subnet and, in dev, ports; leave it unset to be given a free one${suggestion === undefined ? "" : `, or set ${suggestion}`}`,
    });
  });
  const newcomers = tenants
    .map((t, index) => ({ t, index, hash: defaultSlot(t.id, count) }))
    .filter(({ t, index }) => unique[index] && t.slot === undefined && slots[index] === undefined)
    .sort((a, b) => a.hash - b.hash || (a.t.id < b.t.id ? -1 : 1));
  for (const { index, hash } of newcomers) {
    const slot = free(hash);
    if (slot === undefined) {
      problems.push({
        index,
        key: "id",
        message: `finds no free network slot: platform:network.pool has ${count}, all taken; use a larger pool`,
      });
      continue;
    }
    claim(index, slot);
  }
  tenants.forEach((t, index) => {
    if (!unique[index]) slots[index] = slots[firstOf.get(t.id)!];
  });
  return { slots, problems };
}

/** Why the tenants listed now cannot follow the last deploy's, with the index of each. */
export function continuityProblems(
  tenants: readonly { id: string }[],
  previous: Placement | undefined,
  /** Whether a tenant may go only once offboarded (production on Docker). */
  production: boolean,
): { index?: number; message: string }[] {
  if (previous === undefined) return [];
  const now = new Set(tenants.map((t) => t.id));
  const problems: { index?: number; message: string }[] = [];
  for (const [id, { offboarded }] of Object.entries(previous.tenants)) {
    if (production && !now.has(id) && !offboarded) {
      problems.push({
        message: `drops tenant ${id}, which the last deploy ran and which is not offboarded: its database is protected, so the update would fail at its end with its apps, DNS and Access already gone. Set offboarded: true on it and run pulumi up (its final export), then remove it`,
      });
    }
  }
  tenants.forEach((t, index) => {
    if (previous.removed.includes(t.id)) {
      problems.push({
        index,
        message: `was removed from this stack before: what that tenant left (its ClickHouse database and user, its Temporal namespace, a retained Postgres database) would become this one's; choose another id`,
      });
    }
  });
  return problems;
}

/** The placement this deploy writes: its slots, its tenants, and every id removed so far. */
export function nextPlacement(
  tenants: readonly ({ id: string; offboarded: boolean; slot?: number } & Partial<DataVersion>)[],
  previous: Placement | undefined,
): Placement {
  const now = new Set(tenants.map((t) => t.id));
  const removed = new Set(previous?.removed ?? []);
  for (const id of Object.keys(previous?.tenants ?? {})) if (!now.has(id)) removed.add(id);
  return {
    slots: Object.fromEntries(
      tenants.flatMap((t) => (t.slot === undefined ? [] : [[t.id, t.slot] as const])),
    ),
    tenants: Object.fromEntries(
      tenants.map(({ id, offboarded, version, floor }) => [
        id,
        { offboarded, ...(version && { version }), ...(floor && { floor }) },
      ]),
    ),
    removed: [...removed].sort(),
  };
}
