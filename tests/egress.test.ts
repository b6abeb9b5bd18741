/**
 * The egress guard: its rules go through Debian's real iptables parser (iptables-restore-
 * translate, which needs no privilege; `.ci/run` installs the package), and its command runs in a
 * real `sh` against stand-ins for the iptables binaries that record what they are asked.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { BLOCKED_RANGES, egressChains, egressGuardScript, egressRules } from "../lib/egress";

const TRANSLATE = "/usr/sbin/iptables-restore-translate";

function translate(rules: string): string {
  assert.ok(
    fs.existsSync(TRANSLATE),
    `${TRANSLATE} is missing: install Debian's iptables (.ci/run does)`,
  );
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "egress-")), "rules");
  fs.writeFileSync(file, rules);
  const result = spawnSync(TRANSLATE, ["-f", file], { encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}

test("the rules parse, and say what they mean once translated by iptables itself", () => {
  const { forward, input } = egressChains("production");
  const nft = translate(egressRules("production", "10.213.0.0/16"));
  for (const range of BLOCKED_RANGES) {
    assert.ok(
      nft.includes(
        `add rule ip filter ${forward} oifname != "br*" ip saddr 10.213.0.0/16 ip daddr ${range} counter drop`,
      ),
      `${range}:\n${nft}`,
    );
  }
  // DNS first, in both chains; then the host itself is closed except for answers.
  const lines = nft.split("\n");
  const at = (text: string) => lines.findIndex((line) => line.includes(text));
  assert.ok(at(`${forward} ip saddr 10.213.0.0/16 udp dport 53 counter return`) < at("drop"));
  assert.ok(
    at(`${input} ip saddr 10.213.0.0/16 ct state related,established counter return`) <
      at(`${input} ip saddr 10.213.0.0/16 counter drop`),
  );
  // Nothing outside the stack's pool is touched.
  assert.ok(
    lines.filter((l) => l.startsWith("add rule")).every((l) => l.includes("saddr 10.213.0.0/16")),
  );
  assert.notEqual(egressChains("staging").forward, forward, "each stack has its own chains");
  assert.ok(forward.length <= 28 && input.length <= 28, "iptables chain names are short");
});

/** Stand-ins for iptables in a directory put first on PATH; each records its arguments and stdin. */
function standIns(options: { legacy: boolean; dockerUser: boolean; jumps: boolean }) {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), "iptables-"));
  const log = path.join(bin, "log");
  const write = (name: string, body: string) =>
    fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  // Docker's chains are in the legacy tables only when dockerd runs iptables-legacy.
  write("iptables-legacy-save", options.legacy ? "echo ':DOCKER-USER - [0:0]'" : "exit 0");
  for (const binary of ["iptables", "iptables-legacy"]) {
    write(
      binary,
      [
        `echo "${binary} $*" >> ${log}`,
        `case "$1" in -S) exit ${options.dockerUser ? 0 : 1};; -C) exit ${options.jumps ? 0 : 1};; esac`,
      ].join("\n"),
    );
    write(`${binary}-restore`, `echo "${binary}-restore $*" >> ${log}; cat > ${bin}/restored`);
  }
  // Ends the guard's loop after its first application.
  write("sleep", "exit 1");
  return { bin, log, restored: path.join(bin, "restored") };
}

function runGuard(bin: string) {
  return spawnSync("sh", ["-c", egressGuardScript("production", "10.213.0.0/16")], {
    encoding: "utf8",
    env: { PATH: `${bin}:/usr/bin:/bin` },
  });
}

test("the guard uses the backend that holds Docker's rules and puts its jumps first", () => {
  const { forward, input } = egressChains("production");
  const nft = standIns({ legacy: false, dockerUser: true, jumps: false });
  const result = runGuard(nft.bin);
  assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
  assert.equal(fs.readFileSync(nft.restored, "utf8"), egressRules("production", "10.213.0.0/16"));
  const calls = fs.readFileSync(nft.log, "utf8");
  assert.match(calls, /^iptables-restore --noflush/m);
  assert.match(calls, new RegExp(`^iptables -I DOCKER-USER 1 -j ${forward}`, "m"));
  assert.match(calls, new RegExp(`^iptables -I INPUT 1 -j ${input}`, "m"));
  assert.doesNotMatch(calls, /iptables-legacy/);

  const legacy = standIns({ legacy: true, dockerUser: true, jumps: true });
  assert.equal(runGuard(legacy.bin).status, 0);
  const again = fs.readFileSync(legacy.log, "utf8");
  assert.match(again, /iptables-legacy-restore --noflush/);
  assert.doesNotMatch(again, /-I DOCKER-USER/, "a jump already in place is not added twice");
});

test("without Docker's DOCKER-USER chain the guard fails, saying why", () => {
  const none = standIns({ legacy: false, dockerUser: false, jumps: false });
  const result = runGuard(none.bin);
  assert.equal(result.status, 1);
  assert.match(result.stdout, /No DOCKER-USER chain in iptables:/);
  assert.ok(!fs.existsSync(none.restored), "nothing is loaded");
});
