/**
 * The egress guard's command runs in a real `sh` against stand-ins for the iptables binaries that
 * record what they are asked; the rules it loads then go through Debian's real iptables parser
 * (iptables-restore-translate, which needs no privilege; `.ci/run` installs the package).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { BLOCKED_RANGES, egressChains, egressGuardScript, egressRules } from "../lib/egress";

const TRANSLATE = "/usr/sbin/iptables-restore-translate";
const POOL = "10.213.0.0/16";

/** Stand-ins for iptables in a directory put first on PATH; each records what it is asked. */
function standIns(options: {
  legacy: boolean;
  dockerUser: boolean;
  jumps: boolean;
  rounds: number;
}) {
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), "iptables-"));
  const log = path.join(bin, "log");
  const restored = path.join(bin, "restored");
  const write = (name: string, body: string) =>
    fs.writeFileSync(path.join(bin, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  // Docker's chains are in the legacy tables only when dockerd runs iptables-legacy.
  write("iptables-legacy-save", options.legacy ? "echo ':DOCKER-USER - [0:0]'" : "exit 0");
  for (const binary of ["iptables", "iptables-legacy"]) {
    write(
      binary,
      [
        `echo "${binary} $*" >> ${log}`,
        `case "$1 $2" in`,
        `  "-S DOCKER-USER") exit ${options.dockerUser ? 0 : 1};;`,
        // What is loaded in the stack's chain: what the last restore loaded.
        `  "-S PLATFORM-"*) cat ${restored} 2>/dev/null; exit 0;;`,
        `  "-C "*) exit ${options.jumps ? 0 : 1};;`,
        "esac",
      ].join("\n"),
    );
    write(`${binary}-restore`, `echo "${binary}-restore $*" >> ${log}; cat > ${restored}`);
  }
  // Lets the guard's loop go round `rounds` times.
  const rounds = path.join(bin, "rounds");
  fs.writeFileSync(rounds, "");
  write("sleep", `echo x >> ${rounds}; [ "$(wc -l < ${rounds})" -le ${options.rounds} ]`);
  return { bin, log, restored };
}

function runGuard(stand: ReturnType<typeof standIns>) {
  return spawnSync("sh", ["-c", egressGuardScript("production", POOL)], {
    encoding: "utf8",
    env: { PATH: `${stand.bin}:/usr/bin:/bin` },
  });
}

test("the rules the guard loads parse, and say what they mean once iptables translates them", () => {
  const { forward, input } = egressChains("production");
  const stand = standIns({ legacy: false, dockerUser: true, jumps: false, rounds: 0 });
  const result = runGuard(stand);
  assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
  assert.equal(fs.readFileSync(stand.restored, "utf8"), egressRules("production", POOL));
  assert.ok(fs.existsSync(TRANSLATE), `${TRANSLATE} is missing: install Debian's iptables`);
  const translated = spawnSync(TRANSLATE, ["-f", stand.restored], { encoding: "utf8" });
  assert.equal(translated.status, 0, translated.stderr);
  const rules = translated.stdout
    .split("\n")
    .filter((l) => l.startsWith("add rule") || l.startsWith("insert rule"));
  const at = (text: string) => {
    const index = rules.findIndex((line) => line.includes(text));
    assert.ok(index >= 0, `${text}\n${rules.join("\n")}`);
    return index;
  };
  // In order: the marker, the pool to itself, DNS, then every blocked range.
  const marker = at(`${forward} counter comment "platform-egress-`);
  const own = at(`${forward} ip saddr ${POOL} ip daddr ${POOL} counter return`);
  const dns = at(`${forward} ip saddr ${POOL} udp dport 53 counter return`);
  at(`${forward} ip saddr ${POOL} tcp dport 53 counter return`);
  assert.ok(marker < own);
  for (const range of BLOCKED_RANGES) {
    assert.ok(
      at(`${forward} ip saddr ${POOL} ip daddr ${range} counter drop`) > Math.max(own, dns),
    );
  }
  assert.ok(
    at(`${input} ip saddr ${POOL} ct state related,established counter return`) <
      at(`${input} ip saddr ${POOL} counter drop`),
  );
  // Nothing outside the stack's pool is touched.
  assert.ok(rules.filter((l) => !l.includes("comment")).every((l) => l.includes(`saddr ${POOL}`)));
  assert.notEqual(egressChains("staging").forward, forward, "each stack has its own chains");
  assert.ok(forward.length <= 28 && input.length <= 28, "iptables chain names are short");
});

test("the guard uses the backend that holds Docker's rules, puts its jumps first, and reloads only on change", () => {
  const { forward, input } = egressChains("production");
  const nft = standIns({ legacy: false, dockerUser: true, jumps: false, rounds: 2 });
  const result = runGuard(nft);
  assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
  const calls = fs.readFileSync(nft.log, "utf8");
  assert.equal(calls.match(/^iptables-restore --noflush$/gm)?.length, 1, calls);
  assert.match(calls, new RegExp(`^iptables -I DOCKER-USER 1 -j ${forward}$`, "m"));
  assert.match(calls, new RegExp(`^iptables -I INPUT 1 -j ${input}$`, "m"));
  assert.doesNotMatch(calls, /iptables-legacy /);

  const legacy = standIns({ legacy: true, dockerUser: true, jumps: true, rounds: 0 });
  assert.equal(runGuard(legacy).status, 0);
  const again = fs.readFileSync(legacy.log, "utf8");
  assert.match(again, /^iptables-legacy-restore --noflush$/m);
  assert.doesNotMatch(again, /-I DOCKER-USER/, "a jump already in place is not added twice");
});

test("without Docker's DOCKER-USER chain the guard fails, saying why, and loads nothing", () => {
  const none = standIns({ legacy: false, dockerUser: false, jumps: false, rounds: 0 });
  const result = runGuard(none);
  assert.equal(result.status, 1);
  assert.match(result.stdout, /No DOCKER-USER chain in iptables:/);
  assert.ok(!fs.existsSync(none.restored));
});
