/**
 * Dittofeed's releases as data: the upgrade steps each release ships in its admin-cli, and which
 * of them a tenant must run when it moves from one version to another. Read in
 * github.com/dittofeed/dittofeed at tag v0.23.0: packages/admin-cli/src/commandDefinitions.ts
 * (the commands) and packages/admin-cli/src/upgrades.ts (what each does).
 */

/** One release's upgrade step: run with that release's admin-cli image. */
export interface UpgradeStep {
  /** The release that ships it, without `v`. */
  version: string;
  /** `pre`: before the release's apps start. `post`: once they serve. */
  phase: "pre" | "post";
  /** The admin-cli command. */
  command: string;
}

export const UPGRADE_STEPS: readonly UpgradeStep[] = [
  // prisma migrations, user-events tables, compute-properties workflows stopped
  { version: "0.10.0", phase: "pre", command: "upgrade-0-10-0-pre" },
  // old computed-property periods dropped, workflows started again
  { version: "0.10.0", phase: "post", command: "upgrade-0-10-0-post" },
  // Resend/SendGrid secrets disentangled, prisma migrations
  { version: "0.12.1", phase: "pre", command: "upgrade-0-12-1-pre" },
  // drizzle migrations, group tables and views in ClickHouse
  { version: "0.21.0", phase: "pre", command: "upgrade-0-21-0-pre" },
  // new ClickHouse columns and tables, drizzle migrations, state moved from v2 to v3
  { version: "0.23.0", phase: "pre", command: "upgrade-0-23-0-pre" },
  // global cron reset, compute-properties workflow restarted
  { version: "0.23.0", phase: "post", command: "upgrade-0-23-0-post" },
];

/**
 * The oldest release this platform deploys: its environment contract (split images,
 * `DATABASE_URL`, anonymous auth) is the one `components/app/contract.ts` describes. Every tenant was
 * therefore installed at this release or later, and no step up to it ever needs to run.
 */
export const FIRST_SUPPORTED_VERSION = "0.23.0";

/**
 * Releases a tenant must have run before it moves past them. Dittofeed's upgrade guide for
 * v0.21.0 (docs.dittofeed.com, deployment/self-hosted/upgrade-guide/v0-21-0): "To upgrade to
 * v0.21.0, you'll need to make sure you've upgraded Dittofeed to v0.20.0 and run its postgres
 * migrations" (the move from Prisma to Drizzle); the guides of v0.22.0 and v0.23.0 repeat it.
 */
export const MANDATORY_STOPS: readonly string[] = ["0.20.0"];

/** `v0.23.0`, `0.24.0-alpha.5`: major, minor, patch, and whether it is a pre-release. */
function parse(version: string): { core: number[]; pre: string } {
  const match = /^v?(\d+)\.(\d+)\.(\d+)(?:[-.](.+))?$/.exec(version);
  if (!match)
    throw new Error(`${JSON.stringify(version)} is not a release version such as v0.23.0`);
  return { core: [match[1], match[2], match[3]].map(Number), pre: match[4] ?? "" };
}

/** Negative when `a` is older than `b`; a pre-release comes before its release. */
export function compareVersions(a: string, b: string): number {
  const [x, y] = [parse(a), parse(b)];
  for (let i = 0; i < 3; i++) if (x.core[i] !== y.core[i]) return x.core[i] - y.core[i];
  if (x.pre === y.pre) return 0;
  if (x.pre === "") return 1;
  if (y.pre === "") return -1;
  // Semantic versioning: dot-separated identifiers, numeric ones compared as numbers.
  const [p, q] = [x.pre.split("."), y.pre.split(".")];
  for (let i = 0; i < Math.min(p.length, q.length); i++) {
    if (p[i] === q[i]) continue;
    const numeric = /^\d+$/.test(p[i]) && /^\d+$/.test(q[i]);
    if (numeric) return Number(p[i]) - Number(q[i]);
    return p[i] < q[i] ? -1 : 1;
  }
  return p.length - q.length;
}

/**
 * Every step crossed when a tenant moves from `from` to `to`, in the order they must run:
 * release by release, each release's `pre` before its `post`. None when going back.
 */
export function stepsCrossed(
  from: string,
  to: string,
  steps: readonly UpgradeStep[] = UPGRADE_STEPS,
): UpgradeStep[] {
  return steps
    .filter((s) => compareVersions(s.version, from) > 0 && compareVersions(s.version, to) <= 0)
    .sort(
      (a, b) =>
        compareVersions(a.version, b.version) ||
        (a.phase === b.phase ? 0 : a.phase === "pre" ? -1 : 1),
    );
}

/** Where a tenant's data is, as the stack's last deploy recorded it (see stacks/config/placement.ts). */
export interface DataVersion {
  /** The release it ran. */
  version: string;
  /** The newest release whose upgrade steps have moved its data. @default none */
  floor?: string;
}

/** A record of the last deploy as a `DataVersion`: none where it holds no release. */
export function recorded(last?: Partial<DataVersion>): DataVersion | undefined {
  return last?.version === undefined ? undefined : { version: last.version, floor: last.floor };
}

/**
 * Why a tenant at `from` cannot move to `to`; undefined when it can. Going back is allowed above
 * its floor: drizzle migrations only add, and an earlier release runs on them (docs/upgrades.md,
 * "Rolling back"); an upgrade step moves data into a shape no earlier release reads.
 */
export function moveProblem(
  from: DataVersion | undefined,
  to: string,
  stops: readonly string[] = MANDATORY_STOPS,
): string | undefined {
  if (compareVersions(to, FIRST_SUPPORTED_VERSION) < 0)
    return `is below v${FIRST_SUPPORTED_VERSION}, the oldest release whose environment this platform describes`;
  if (from?.floor !== undefined && compareVersions(to, from.floor) < 0)
    return `goes below v${from.floor}, whose upgrade steps have already moved the tenant's data: no earlier release reads it; restore its data from before the upgrade instead (docs/upgrades.md#rolling-back)`;
  if (from === undefined) return undefined;
  const skipped = stops.find(
    (stop) => compareVersions(stop, from.version) > 0 && compareVersions(stop, to) < 0,
  );
  return skipped === undefined
    ? undefined
    : `skips v${skipped}, a mandatory stop on the way from ${from.version}: deploy the tenant at v${skipped} first`;
}

/**
 * Where a tenant's data is once it moved from `from` to `to`. A tenant new to the stack (or
 * recorded before releases were) is installed at `to`: its data has the shape of every step up to
 * it, as a tenant that ran them would.
 */
export function dataAfter(
  from: DataVersion | undefined,
  to: string,
  steps: readonly UpgradeStep[] = UPGRADE_STEPS,
): DataVersion {
  const ran = stepsCrossed(from?.version ?? "0.0.0", to, steps);
  const floor = [from?.floor, ...ran.map((s) => s.version)]
    .filter((v): v is string => v !== undefined)
    .sort(compareVersions)
    .pop();
  return floor === undefined ? { version: to } : { version: to, floor };
}

/** A tenant as a release sees it: the version config gives it, and where its data was. */
export interface ReleasedTenant {
  id: string;
  version: string;
  /** Offboarded tenants run no release. */
  offboarded: boolean;
  /**
   * The last deploy's record of it: undefined for a tenant new to the stack; without `version`
   * for one the last deploy ran without recording it (a program before waves), which counts as
   * moving.
   */
  last?: Partial<DataVersion> & { offboarded?: boolean };
}

/**
 * Whether a release moves the tenant up from a release it runs. A tenant new to the stack, or
 * coming back from offboarding, runs nothing to keep serving; a move down is a rollback, to a
 * release the tenant ran before, and waits for no wave.
 */
export function movesUp({ offboarded, last, version }: ReleasedTenant): boolean {
  if (offboarded || last === undefined || last.offboarded) return false;
  return last.version === undefined || compareVersions(version, last.version) > 0;
}

/** One wave of a release: the tenants it moves, and the config wave it is (1-based; unlisted last). */
export interface Wave {
  number: number;
  tenants: string[];
}

/**
 * The waves this deploy moves, in order: each config wave's tenants that move up, then those no
 * wave lists; waves that move nobody left out. Each wave after the first waits for the one before
 * it (and only for it); a deploy that moves no tenant up has no wave, and nothing waits.
 */
export function movingWaves(
  tenants: readonly ReleasedTenant[],
  waves: readonly string[][],
): Wave[] {
  const moving = new Set(tenants.filter(movesUp).map((t) => t.id));
  const listed = new Set(waves.flat());
  return [...waves, [...moving].filter((id) => !listed.has(id))]
    .map((ids, index) => ({ number: index + 1, tenants: ids.filter((id) => moving.has(id)) }))
    .filter((wave) => wave.tenants.length > 0);
}

/**
 * The moves of later waves to a release that no earlier wave proves: none of its tenants runs
 * that release and stays on it, or moves up to it now (and is then watched by a gate). Such a
 * wave would move first, with no gate: a canary held back after its gate failed would let the
 * next wave go. One entry per wave and release, with the wave's 0-based place in `waves`
 * (`waves.length` for the tenants no wave lists) and the tenants it would move. None without waves.
 */
export function unprovenReleases(
  tenants: readonly ReleasedTenant[],
  waves: readonly string[][],
): { wave: number; release: string; tenants: string[] }[] {
  if (waves.length === 0) return [];
  const listed = new Set(waves.flat());
  const all = [...waves, tenants.map((t) => t.id).filter((id) => !listed.has(id))];
  const byId = new Map(tenants.map((t) => [t.id, t]));
  const proves = (t: ReleasedTenant, release: string) =>
    compareVersions(t.version, release) === 0 &&
    (movesUp(t) ||
      (!t.offboarded &&
        !t.last?.offboarded &&
        t.last?.version !== undefined &&
        compareVersions(t.last.version, release) === 0));
  return all.slice(1).flatMap((ids, index) => {
    const earlier = all
      .slice(0, index + 1)
      .flat()
      .flatMap((id) => byId.get(id) ?? []);
    const unproven = new Map<string, string[]>();
    for (const t of ids.flatMap((id) => byId.get(id) ?? []).filter(movesUp)) {
      if (earlier.some((u) => proves(u, t.version))) continue;
      unproven.set(t.version, [...(unproven.get(t.version) ?? []), t.id]);
    }
    return [...unproven].map(([release, moved]) => ({ wave: index + 1, release, tenants: moved }));
  });
}
