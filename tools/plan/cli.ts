/** `npm run plan` and `npm run plan:diff`: a stack's desired state, or its diff against a git ref, offline. */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import { parseOptions, runCommand, UsageError } from "../engine/cli";
import { checkPolicies, mandatoryViolations, renderPolicyMarkdown } from "./policies";
import { stackFilePath } from "../../stacks/config/stackFile";
import { diffPlans, renderDiffJson, renderDiffMarkdown } from "./diff";
import { buildPlan, Plan, renderPlanJson, renderPlanMarkdown } from "./plan";
import {
  checkoutProgram,
  PROJECT_ROOT,
  runProgram,
  RunResult,
  stackFileConfig,
  UnknownRefError,
  withCheckout,
} from "../engine/runner";

const USAGE = `usage:
  npm run plan -- --stack <name> [--config <stack file>] [--out <file.json>]
  npm run plan:diff -- --stack <name> --base <git ref> [--out <file.json>]

  plan       the stack's resources, inputs and policy results, offline (no Pulumi CLI, no state);
             exits 1 on a mandatory policy violation
  plan:diff  what the checkout changes against --base (a branch, tag or commit): creates,
             replacements (and what is down meanwhile), updates, deletes
  --stack    a stack with a Pulumi.<name>.yaml in the project
  --config   read this stack file instead of Pulumi.<name>.yaml
  --out      write JSON there and Markdown beside it (.md) instead of Markdown to stdout`;

/**
 * Runs the program of the checkout at `root` for `stack` offline: no Pulumi CLI, state,
 * credentials or Docker. Undefined when the checkout has no file for the stack (it is new there).
 */
async function runCheckout(
  root: string,
  stack: string,
  configFile?: string,
  previousOutputs?: Record<string, unknown>,
  decrypt?: (ciphertext: string) => string,
): Promise<RunResult | undefined> {
  const file = configFile ?? stackFilePath(root, stack);
  if (!fs.existsSync(file)) {
    if (configFile) throw new UsageError(`no such config file: ${file}`);
    return undefined;
  }
  const run = await runProgram({
    ...stackFileConfig(file, decrypt),
    stack,
    program: checkoutProgram(root),
    previousOutputs,
  });
  if (run.error) throw new Error(`the program fails for stack ${stack}:\n${run.error.message}`);
  return run;
}

/** The plan of `stack` as the checkout at `root` declares it; empty for a stack it lacks. */
export async function planCheckout(
  root: string,
  stack: string,
  options: {
    configFile?: string;
    digestKey?: string;
    /** The stack's outputs at its last deploy (see stacks/config/placement.ts). @default none */
    previousOutputs?: Record<string, unknown>;
    /** What a `secure:` value of the config file holds. @default a placeholder */
    decrypt?: (ciphertext: string) => string;
  } = {},
): Promise<Plan> {
  const run = await runCheckout(
    root,
    stack,
    options.configFile,
    options.previousOutputs,
    options.decrypt,
  );
  return run ? buildPlan(stack, run, options.digestKey) : { stack, resources: [], outputs: {} };
}

function write(out: string | undefined, json: string, markdown: string): void {
  if (out === undefined) {
    process.stdout.write(markdown);
    return;
  }
  fs.writeFileSync(out, json);
  fs.writeFileSync(out.replace(/\.json$/, "") + ".md", markdown);
}

export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command !== "plan" && command !== "diff") {
    throw new UsageError(`unknown command ${String(command)}`);
  }
  const { values } = parseOptions(rest, {
    stack: { type: "string" },
    config: { type: "string" },
    base: { type: "string" },
    out: { type: "string" },
  });
  if (!values.stack) throw new UsageError("--stack is required");
  const other = command === "plan" ? "base" : "config";
  if (values[other] !== undefined) {
    throw new UsageError(`--${other} is for ${command === "plan" ? "plan:diff" : "plan"} only`);
  }
  const stack = values.stack;
  if (command === "plan") {
    const run = await runCheckout(PROJECT_ROOT, stack, values.config);
    if (!run) throw new UsageError(`no Pulumi.${stack}.yaml in ${PROJECT_ROOT}`);
    const plan = buildPlan(stack, run);
    const policies = checkPolicies(run.registrations);
    write(
      values.out,
      renderPlanJson(plan),
      `${renderPlanMarkdown(plan)}\n${renderPolicyMarkdown(policies)}`,
    );
    const violations = mandatoryViolations(policies);
    if (violations > 0)
      throw new Error(`${violations} mandatory policy violation(s), listed above`);
  } else {
    if (!values.base) throw new UsageError("--base is required");
    const base = values.base;
    // One key for both plans, never written: equal digests mean an unchanged secret.
    const digestKey = randomBytes(32).toString("hex");
    const before = await withCheckout(base, (root) =>
      planCheckout(root, stack, { digestKey }),
    ).catch((error: unknown) => {
      throw error instanceof UnknownRefError ? new UsageError(`--base ${error.message}`) : error;
    });
    // The base as the stack's last deploy: what it placed, the head keeps.
    const after = await planCheckout(PROJECT_ROOT, stack, {
      digestKey,
      previousOutputs: before.outputs as Record<string, unknown>,
    });
    if (before.resources.length + after.resources.length === 0) {
      throw new UsageError(`no Pulumi.${stack}.yaml here or at ${base}`);
    }
    const diff = diffPlans(before, after, base);
    write(values.out, renderDiffJson(diff), renderDiffMarkdown(diff));
  }
}

if (require.main === module) {
  const [command, ...args] = process.argv.slice(2);
  runCommand(
    command === "diff" ? "plan:diff" : "plan",
    USAGE,
    () => main([command, ...args]),
    args,
  );
}
