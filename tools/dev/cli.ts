/** `npm run up:dev` and `npm run dev`: the local dev stack (see ./dev). */
import { PulumiCommand } from "@pulumi/pulumi/automation";
import { runCommand, UsageError } from "../engine/cli";
import { PROJECT_ROOT } from "../engine/runner";
import { devArguments, pulumiCli, runPulumi, upDev } from "./dev";

const USAGE = `usage:
  npm run up:dev [-- <pulumi up options>]   deploy the dev stack to this machine's Docker engine
  npm run dev -- <pulumi arguments>          run the same Pulumi CLI on the dev stack's local
                                             backend, e.g. npm run dev -- stack output tenants

  The CLI is the one on PATH, or else fetched into .pulumi-cli/; the state and a generated
  passphrase are in .pulumi-state/ (both git-ignored). For the dev stack only.`;

const [command, ...args] = process.argv.slice(2);
runCommand(
  command === "up" ? "up:dev" : "dev",
  USAGE,
  async () => {
    const install = (opts: Parameters<typeof PulumiCommand.install>[0]) =>
      PulumiCommand.install(opts);
    if (command === "up") {
      await upDev(PROJECT_ROOT, args, install, (line) => console.log(line));
    } else {
      if (args.length === 0) throw new UsageError("give the pulumi arguments to run");
      const checked = devArguments(args);
      runPulumi(await pulumiCli(PROJECT_ROOT, install), PROJECT_ROOT, checked);
    }
  },
  args,
  { passesOn: true },
);
