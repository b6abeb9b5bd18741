/**
 * The local `dev` stack, as `npm run up:dev` and `npm run dev` reach it: the pinned Pulumi CLI
 * (fetched into the project where none is installed), state in a file backend inside the project
 * and a generated passphrase beside it, both git-ignored and for `dev` alone. Staging and
 * production use a backend and secrets provider the team shares (README, "From dev to a real
 * stack"): nothing here binds them.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { PulumiCommand, PulumiCommandOptions } from "@pulumi/pulumi/automation";
import { SemVer } from "semver";
import { UsageError } from "../engine/cli";

export const DEV_STACK = "dev";

/** Where the dev stack's CLI, state and passphrase live, under the project. */
export function devPaths(root: string) {
  const state = path.join(root, ".pulumi-state");
  return {
    cli: path.join(root, ".pulumi-cli"),
    state,
    passphrase: path.join(state, "dev-passphrase"),
  };
}

/** Fetches a CLI where none is: PulumiCommand.install, or a stand-in in tests. */
export type Installer = (opts: PulumiCommandOptions) => Promise<PulumiCommand>;

/**
 * The CLI to run: one on PATH that the Automation API accepts, else the project's own in
 * `.pulumi-cli/`, fetched there by `install` where it is missing. `PulumiCommand.install` (in
 * @pulumi/pulumi 3.270.0, automation/cmd.js) runs get.pulumi.com's install script into that root
 * for the CLI release matching the SDK, i.e. the version this project pins.
 */
export async function pulumiCli(root: string, install: Installer): Promise<string> {
  // A CLI older than the SDK is refused (`get` checks the version), so the project's is used.
  const version = new SemVer(SDK_VERSION);
  try {
    return (await PulumiCommand.get({ version })).command;
  } catch {
    return (await install({ root: devPaths(root).cli, version })).command;
  }
}

/** The version of @pulumi/pulumi this project pins, which the CLI it fetches matches. */
const SDK_VERSION = (
  JSON.parse(fs.readFileSync(require.resolve("@pulumi/pulumi/package.json"), "utf8")) as {
    version: string;
  }
).version;

/**
 * The environment the CLI gets for the dev stack: the file backend, and a passphrase generated
 * once (mode 0600) and read from its file, never from git.
 */
export function devEnvironment(root: string): NodeJS.ProcessEnv {
  const { state, passphrase } = devPaths(root);
  fs.mkdirSync(state, { recursive: true });
  if (!fs.existsSync(passphrase)) {
    fs.writeFileSync(passphrase, randomBytes(24).toString("base64url"), {
      mode: 0o600,
      flag: "wx",
    });
  }
  // Whatever made it readable to others, it is the dev stack's key: only its owner reads it.
  fs.chmodSync(passphrase, 0o600);
  if (fs.readFileSync(passphrase, "utf8").trim() === "") {
    throw new Error(
      `${passphrase} is empty: remove it to have a new one generated (the dev stack's secrets then need setting again)`,
    );
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PULUMI_BACKEND_URL: `file://${state}`,
    PULUMI_CONFIG_PASSPHRASE_FILE: passphrase,
    PULUMI_SKIP_UPDATE_CHECK: "true",
  };
  // Pulumi prefers PULUMI_CONFIG_PASSPHRASE to the file: another stack's must not be used here.
  delete env.PULUMI_CONFIG_PASSPHRASE;
  return env;
}

/**
 * Refuses arguments that would point the dev backend at another stack, or at another stack's
 * config: `--stack`/`-s` in any form, a stack named by `stack init|select|rm|rename`, and
 * `--config-file`.
 */
export function devArguments(args: string[]): string[] {
  const refuse = (what: string) => {
    throw new UsageError(
      `${what}: this is the ${DEV_STACK} stack's local backend; other stacks live in your team's (README: "From dev to a real stack")`,
    );
  };
  args.forEach((arg, i) => {
    const stack = /^(?:--stack(?:=(.*))?|-s(.*))$/.exec(arg);
    const named = stack && (stack[1] ?? (stack[2] || args[i + 1]));
    if (stack && named !== DEV_STACK)
      refuse(`${arg} ${stack[1] ?? stack[2] ?? args[i + 1] ?? ""}`.trim());
    if (/^--config-file(=|$)/.test(arg)) refuse(arg);
  });
  const [command, sub, name] = args;
  if (
    command === "stack" &&
    ["init", "select", "rm", "rename"].includes(sub) &&
    name !== undefined &&
    !name.startsWith("-") &&
    name !== DEV_STACK
  ) {
    refuse(`stack ${sub} ${name}`);
  }
  return args;
}

/** The engine the docker provider uses for the dev stack: `DOCKER_HOST`, else the local socket. */
const dockerHost = (env: NodeJS.ProcessEnv) => env.DOCKER_HOST ?? "unix:///var/run/docker.sock";

/**
 * Whether the Docker engine the docker provider will use answers `/_ping`: `true` or `false`, or
 * `unchecked` where the check would need what only the provider has (SSH keys, TLS
 * certificates).
 */
export async function dockerAnswers(
  env: NodeJS.ProcessEnv = process.env,
): Promise<boolean | "unchecked"> {
  const host = dockerHost(env);
  if (host.startsWith("ssh://") || env.DOCKER_TLS_VERIFY) return "unchecked";
  let url: URL;
  try {
    url = new URL(host.replace(/^tcp:/, "http:"));
  } catch {
    throw new UsageError(
      `DOCKER_HOST ${JSON.stringify(host)} is not a unix://, tcp:// or ssh:// address`,
    );
  }
  const target = host.startsWith("unix://")
    ? { socketPath: url.pathname }
    : { host: url.hostname, port: Number(url.port || 2375) };
  return new Promise((resolve) => {
    const request = http.get({ ...target, path: "/_ping", timeout: 3000 }, (response) => {
      response.resume();
      resolve(response.statusCode === 200);
    });
    request.on("error", () => resolve(false));
    request.on("timeout", () => request.destroy());
  });
}

/** Runs the CLI on the dev stack, its output to the terminal; throws unless it exits 0. */
export function runPulumi(cli: string, root: string, args: string[]): void {
  const result = spawnSync(cli, args, { cwd: root, stdio: "inherit", env: devEnvironment(root) });
  if (result.status !== 0) {
    throw new Error(`pulumi ${args.join(" ")} exited ${result.status ?? result.signal}`);
  }
}

/** The dev stack's tenants, as `pulumi stack output tenants` has them. */
export function tenantUrls(cli: string, root: string): string[] {
  const result = spawnSync(cli, ["stack", "output", "tenants", "--json", "--stack", DEV_STACK], {
    cwd: root,
    encoding: "utf8",
    env: devEnvironment(root),
  });
  if (result.status !== 0) throw new Error(`pulumi stack output failed: ${result.stderr.trim()}`);
  const tenants = JSON.parse(result.stdout) as Record<
    string,
    { workspaceName: string; dashboardUrl: string; apiUrl: string }
  >;
  return Object.entries(tenants).map(
    ([id, t]) => `${id} (${t.workspaceName}): ${t.dashboardUrl}  api ${t.apiUrl}`,
  );
}

/**
 * `npm run up:dev`: checks that the Docker engine answers (before anything is fetched or
 * created), finds or fetches the CLI, selects or creates the dev stack in its local backend,
 * deploys it, and says where each tenant is reached.
 */
export async function upDev(
  root: string,
  args: string[],
  install: Installer,
  log: (line: string) => void,
): Promise<void> {
  const upArguments = devArguments(args);
  const answers = await dockerAnswers();
  if (answers === false) {
    throw new Error(
      `no Docker engine answers at ${dockerHost(process.env)}: up:dev deploys the dev stack to this machine's Docker. Start it (sudo systemctl start docker, or Docker Desktop), or set DOCKER_HOST; nothing was created`,
    );
  }
  if (answers === "unchecked")
    log(
      `The Docker engine at ${dockerHost(process.env)} is not checked here: the provider reaches it.`,
    );
  const cli = await pulumiCli(root, install);
  runPulumi(cli, root, ["stack", "select", "--create", DEV_STACK]);
  runPulumi(cli, root, ["up", "--stack", DEV_STACK, ...upArguments]);
  log("The dev stack's tenants:");
  for (const line of tenantUrls(cli, root)) log(`  ${line}`);
  log("More: npm run dev -- stack output (the same CLI and local backend).");
}
