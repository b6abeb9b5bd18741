/**
 * The project's tools behave as commands: `--help` answers with usage and exit 0, a usage error
 * prints the usage and exits 2, a failure prints one line and exits 1, and errors name only
 * options that were given. Each runs as `npm run <script>` runs it.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { PROJECT_ROOT } from "./harness";

const { scripts: SCRIPTS } = JSON.parse(
  fs.readFileSync(path.join(PROJECT_ROOT, "package.json"), "utf8"),
) as { scripts: Record<string, string> };

/** `npm run <script> -- <args>`, without npm's own lines around it. */
function npmRun(script: string, args: string[], env: Record<string, string> = {}) {
  const [command, ...base] = SCRIPTS[script].split(" ");
  const result = spawnSync(command === "node" ? process.execPath : command, [...base, ...args], {
    cwd: PROJECT_ROOT,
    encoding: "utf8",
    env: { ...process.env, DEBUG: "", ...env },
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

const TOOLS = ["plan", "plan:diff", "restore", "bench", "test:e2e"];

test("every tool answers --help and -h with its usage, and exits 0", () => {
  // Wherever it stands among the options.
  const late = npmRun("restore", ["--stack", "staging", "--help"]);
  assert.equal(late.code, 0, late.stderr);
  assert.match(late.stdout, /^usage:\n/);
  for (const script of TOOLS) {
    for (const flag of ["--help", "-h"]) {
      const result = npmRun(script, [flag]);
      assert.equal(result.code, 0, `${script} ${flag}: ${result.stderr}`);
      assert.match(result.stdout, /^usage:\n/, script);
      assert.ok(result.stdout.includes(`npm run ${script}`), `${script}'s usage names it`);
      assert.equal(result.stderr, "", script);
    }
  }
});

test("a mistake in the call names what was given, prints the usage and exits 2", () => {
  for (const script of TOOLS) {
    const result = npmRun(script, ["--no-such-option"]);
    assert.equal(result.code, 2, `${script}: ${result.stderr}`);
    assert.match(result.stderr, /--no-such-option/, script);
    assert.match(result.stderr, /\n\nusage:\n/, script);
    assert.doesNotMatch(result.stderr, /^\s+at /m, `${script} prints no stack trace`);
  }
  const missing = npmRun("plan", []);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /^plan: --stack is required\n/);
  const wrongTool = npmRun("plan", ["--stack", "dev", "--base", "main"]);
  assert.equal(wrongTool.code, 2);
  assert.match(wrongTool.stderr, /--base is for plan:diff only/);
  assert.equal(npmRun("bench", ["--write", "--sizes", "1"]).code, 2);
  assert.equal(npmRun("bench", ["--sizes", "1,ten"]).code, 2);
  const noStack = npmRun("plan:diff", ["--stack", "nosuch", "--base", "HEAD"]);
  assert.equal(noStack.code, 2, noStack.stderr);
  assert.match(noStack.stderr, /no Pulumi\.nosuch\.yaml here or at HEAD/);

  // A tenant the stack does not have is named as such; no option that was not given is.
  const noSuch = npmRun("restore", [
    "--stack",
    "staging",
    "--from",
    os.tmpdir(),
    "--tenant",
    "nosuch",
  ]);
  assert.equal(noSuch.code, 2, noSuch.stderr);
  assert.match(noSuch.stderr, /--tenant nosuch is not a tenant of stack staging \(acme, globex/);
  assert.doesNotMatch(noSuch.stderr.split("usage:")[0], /--database|--into/);
});

test("a failure is one line and exit 1; the stack trace only under DEBUG=1", () => {
  const set = fs.mkdtempSync(path.join(os.tmpdir(), "empty-set-"));
  const args = ["--stack", "staging", "--from", set, "--tenant", "acme"];
  const failed = npmRun("restore", args, { PGPASSWORD: "x" });
  assert.equal(failed.code, 1, failed.stderr);
  assert.equal(failed.stderr.trim().split("\n").length, 1, failed.stderr);
  assert.match(failed.stderr, /^restore: /);
  const traced = npmRun("restore", args, { PGPASSWORD: "x", DEBUG: "1" });
  assert.equal(traced.code, 1);
  assert.match(traced.stderr, /^\s+at /m);
});

/** Every `npm run <script> [-- <args>]` the README and docs/ tell a reader to type. */
function documentedCommands(): { where: string; script: string; args: string[] }[] {
  const pages = [
    "README.md",
    ...fs.readdirSync(path.join(PROJECT_ROOT, "docs")).map((f) => `docs/${f}`),
  ];
  return pages.flatMap((page) =>
    [
      ...fs
        .readFileSync(path.join(PROJECT_ROOT, page), "utf8")
        .matchAll(/npm run ([a-z0-9:]+)((?: -- [^`|#)\n]*)?)/g),
    ].map(([, script, rest]) => ({
      where: page,
      script: script.replace(/:$/, ""),
      args: rest.replace(/^ -- /, "").trim().split(/\s+/).filter(Boolean),
    })),
  );
}

test("every command the docs give names a script and options its tool knows; the offline ones run", () => {
  const commands = documentedCommands();
  assert.ok(commands.length > 20, `${commands.length} commands found`);
  for (const { where, script } of commands)
    assert.ok(SCRIPTS[script] !== undefined, `${where}: npm run ${script} is no script`);
  const usage = new Map(
    [...TOOLS, "docs"].map((script) => [script, npmRun(script, ["--help"]).stdout]),
  );
  for (const { where, script, args } of commands) {
    // `--help` every tool answers (above); the rest must be in its usage.
    for (const option of args.filter((a) => a.startsWith("--") && a !== "--help"))
      assert.ok(
        !usage.has(script) || usage.get(script)!.includes(option.replace(/[^\w-].*$/, "")),
        `${where}: npm run ${script} has no option ${option}`,
      );
  }
  // Those that need no Pulumi CLI, Docker or credentials, with no placeholder left to fill.
  const runnable = commands.filter(
    ({ script, args }) =>
      ["plan", "plan:diff", "restore", "bench", "docs"].includes(script) &&
      args.length > 0 &&
      !args.some((a) => a.includes("<")) &&
      (args.includes("--help") || script === "plan"),
  );
  assert.ok(runnable.length >= 6, runnable.map((c) => c.args.join(" ")).join("; "));
  for (const { where, script, args } of runnable) {
    const result = npmRun(script, args);
    assert.equal(
      result.code,
      0,
      `${where}: npm run ${script} -- ${args.join(" ")}: ${result.stderr}`,
    );
  }
});
