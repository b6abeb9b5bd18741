/**
 * `npm run docs`: writes what the documentation generates from the code, the configuration
 * reference and the policy table, formatted as Prettier formats the repository. The docs test
 * fails when either is stale.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { runCommand, UsageError } from "../engine/cli";
import { PROJECT_ROOT } from "../engine/runner";
import { generatedPages } from "./pages";

const USAGE = `usage:
  npm run docs            write docs/configuration.md and the policy table of docs/gitops.md
                          from the config schema, its rules and the policy pack`;

runCommand("docs", USAGE, async (args) => {
  if (args.length > 0) throw new UsageError(`unexpected ${args.join(" ")}`);
  for (const [file, text] of await generatedPages()) {
    fs.writeFileSync(file, text);
    process.stderr.write(`docs: wrote ${path.relative(PROJECT_ROOT, file)}\n`);
  }
});
