/**
 * How the project's tools behave as commands: `--help` or `-h` prints usage and exits 0; a usage
 * error (an unknown option, a missing one) prints what is wrong and the usage and exits 2; any
 * other failure prints one line and exits 1, with the stack trace only under `DEBUG=1`.
 */
import { parseArgs, ParseArgsConfig } from "node:util";

/** A mistake in how the command was called. */
export class UsageError extends Error {}

/** `parseArgs` with its own errors (unknown option, missing value) turned into usage errors. */
export function parseOptions<const T extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: T,
) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/**
 * Runs `main` as the command `name`, with `usage` for `--help` and usage errors. A command that
 * hands its arguments on (`passesOn`) answers `--help` only before the first of them: after it,
 * the help is the other program's (`npm run dev -- up --help` is Pulumi's).
 */
export function runCommand(
  name: string,
  usage: string,
  main: (args: string[]) => Promise<void>,
  args: string[] = process.argv.slice(2),
  { passesOn = false }: { passesOn?: boolean } = {},
): void {
  const handedOn = passesOn ? args.findIndex((arg) => !arg.startsWith("-")) : -1;
  const own = handedOn < 0 ? args : args.slice(0, handedOn);
  if (own.includes("--help") || own.includes("-h")) {
    process.stdout.write(`${usage}\n`);
    return;
  }
  main(args).catch((error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof UsageError) {
      process.stderr.write(`${name}: ${message}\n\n${usage}\n`);
      process.exitCode = 2;
      return;
    }
    process.stderr.write(`${name}: ${message}\n`);
    if (process.env.DEBUG === "1" && error instanceof Error)
      process.stderr.write(`${error.stack}\n`);
    process.exitCode = 1;
  });
}
