/**
 * Downtime of typical changes: how many long-running containers each one replaces delete-first,
 * so that they are down until their successors are healthy. Measured on the committed stacks
 * with this checkout's program and with the program as it was before blue/green releases, from
 * the same plan diff reviewers see (`Replacement.downtime`).
 */
import { randomBytes } from "node:crypto";
import { diffPlans } from "../plan/diff";
import { buildPlan } from "../plan/plan";
import {
  checkoutProgram,
  PROJECT_ROOT,
  runProgram,
  stackFileConfig,
  withCheckout,
} from "../engine/runner";
import { stackFilePath } from "../../stacks/config/stackFile";
import { BLAST_STACKS, nextPatchRelease } from "./blast";

/** The last commit before blue/green releases: what "before" measures. */
export const DOWNTIME_BASELINE = "799a7a8";

/** The tenant whose secret or hostname the changes edit. */
const CHANGED = "globex";

interface DowntimeChange {
  id: string;
  /** What the operator changes, in words. */
  change: string;
  /** The edit, on the stack's config as `pulumi config` holds it (JSON for structured keys). */
  edit(config: Record<string, string>): Record<string, string>;
}

const json = (config: Record<string, string>, key: string, fallback: unknown): unknown =>
  config[key] === undefined ? fallback : JSON.parse(config[key]);

export const DOWNTIME_CHANGES: DowntimeChange[] = [
  {
    id: "version-bump",
    change: "bump `dittofeed.version` one patch release",
    edit: (config) => {
      const dittofeed = json(config, "platform:dittofeed", {}) as { version?: string };
      return {
        ...config,
        "platform:dittofeed": JSON.stringify({
          ...dittofeed,
          version: nextPatchRelease(dittofeed.version),
        }),
      };
    },
  },
  {
    id: "secret-rotation",
    change: `rotate \`${CHANGED}\`'s admin password (\`platform:secrets\`)`,
    edit: (config) => ({
      ...config,
      "platform:secrets": JSON.stringify({
        tenants: { [CHANGED]: { adminPassword: "rotated-admin-password-0123" } },
      }),
    }),
  },
  {
    id: "hostname-change",
    change: `give \`${CHANGED}\` another hostname`,
    edit: (config) => {
      const tenants = json(config, "platform:tenants", []) as { id: string; hostname?: string }[];
      return {
        ...config,
        "platform:tenants": JSON.stringify(
          tenants.map((t) =>
            t.id === CHANGED ? { ...t, hostname: `${t.hostname ?? t.id}-renamed` } : t,
          ),
        ),
      };
    },
  },
];

export interface DowntimeResult {
  stack: string;
  change: string;
  /** `before`: the program at `DOWNTIME_BASELINE`; `after`: this checkout's. */
  program: "before" | "after";
  /** What is down while replaced, one entry per container (`tenant acme's api`). */
  down: string[];
}

async function downOf(
  stack: string,
  change: DowntimeChange,
  root: string,
  digestKey: string,
): Promise<string[]> {
  // Each program with its own checkout's stack file: a later release's keys are unknown to an
  // earlier one, which refuses them.
  const { config, secretKeys } = stackFileConfig(stackFilePath(root, stack));
  const program = checkoutProgram(root);
  const planOf = async (values: Record<string, string>) => {
    // A rotated secret is set with --secret: Pulumi holds its key as one.
    const secret = [...secretKeys, "platform:secrets"];
    const run = await runProgram({ config: values, secretKeys: secret, stack, program });
    if (run.error) throw new Error(`stack ${stack}, ${change.id}: ${run.error.message}`);
    return buildPlan(stack, run, digestKey);
  };
  const diff = diffPlans(await planOf(config), await planOf(change.edit(config)), stack);
  return diff.changed.flatMap((c) => (c.replacement?.downtime ? [c.replacement.downtime] : []));
}

/** Every change on every stack with a tunnel, for the program of the checkout at `root`. */
export async function downtime(root: string, side: DowntimeResult["program"]) {
  const digestKey = randomBytes(32).toString("hex");
  const results: DowntimeResult[] = [];
  for (const stack of BLAST_STACKS) {
    for (const change of DOWNTIME_CHANGES) {
      results.push({
        stack,
        change: change.id,
        program: side,
        down: await downOf(stack, change, root, digestKey),
      });
    }
  }
  return results;
}

/** Both sides: the baseline commit's program, checked out beside this one, and this checkout's. */
export async function downtimeBeforeAndAfter(): Promise<DowntimeResult[]> {
  const before = await withCheckout(DOWNTIME_BASELINE, (root) => downtime(root, "before"));
  return [...before, ...(await downtime(PROJECT_ROOT, "after"))];
}
