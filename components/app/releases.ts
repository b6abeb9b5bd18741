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
