/**
 * The egress guard's command runs in a real `sh` against stand-ins for the iptables binaries that
 * record what they are asked; the rules it loads then go through Debian's real iptables parser
 * (iptables-restore-translate, which needs no privilege; `.ci/run` installs the package).
 */
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { egressChains, egressGuardScript, egressRules } from "../components/edge/egress";
import { BLOCKED_RANGES } from "../components/runtime/network";

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
        `  "-S PLATFORM-"*) cat ${restored}.* 2>/dev/null; exit 0;;`,
        `  "-C "*) exit ${options.jumps ? 0 : 1};;`,
        "esac",
      ].join("\n"),
    );
    // Each load kept apart: the stack's rules first, then its DNS chain.
    write(
      `${binary}-restore`,
      `echo "${binary}-restore $*" >> ${log}; n=$(ls ${restored}.* 2>/dev/null | wc -l); cat > ${restored}.$((n + 1))`,
    );
  }
  // Lets the guard's loop go round `rounds` times.
  const rounds = path.join(bin, "rounds");
  fs.writeFileSync(rounds, "");
  write("sleep", `echo x >> ${rounds}; [ "$(wc -l < ${rounds})" -le ${options.rounds} ]`);
  return { bin, log, restored };
}

function runGuard(stand: ReturnType<typeof standIns>) {
  const resolvConf = path.join(stand.bin, "resolv.conf");
  fs.writeFileSync(resolvConf, "nameserver 10.0.0.2\nnameserver 127.0.0.53\n");
  const script = egressGuardScript("production", POOL).replace("/etc/resolv.conf", resolvConf);
  return spawnSync("sh", ["-c", script], {
    encoding: "utf8",
    env: { PATH: `${stand.bin}:/usr/bin:/bin` },
  });
}

test("the rules the guard loads parse, and say what they mean once iptables translates them", () => {
  const { forward, input, dns } = egressChains("production");
  const stand = standIns({ legacy: false, dockerUser: true, jumps: false, rounds: 0 });
  const result = runGuard(stand);
  assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
  assert.equal(fs.readFileSync(`${stand.restored}.1`, "utf8"), egressRules("production", POOL));
  assert.ok(fs.existsSync(TRANSLATE), `${TRANSLATE} is missing: install Debian's iptables`);
  const rules = [1, 2].flatMap((n) => {
    const translated = spawnSync(TRANSLATE, ["-f", `${stand.restored}.${n}`], { encoding: "utf8" });
    assert.equal(translated.status, 0, translated.stderr);
    return translated.stdout
      .split("\n")
      .filter((l) => l.startsWith("add rule") || l.startsWith("insert rule"));
  });
  const at = (text: string) => {
    const index = rules.findIndex((line) => line.includes(text));
    assert.ok(index >= 0, `${text}\n${rules.join("\n")}`);
    return index;
  };
  // In order: the marker, the pool to itself, DNS to its own chain, then every blocked range.
  const marker = at(`${forward} counter comment "platform-egress-`);
  const own = at(`${forward} ip saddr ${POOL} ip daddr ${POOL} counter return`);
  const toDns = at(`${forward} ip saddr ${POOL} udp dport 53 counter goto ${dns}`);
  at(`${forward} ip saddr ${POOL} tcp dport 53 counter goto ${dns}`);
  assert.ok(marker < own && own < toDns);
  // The DNS chain, as the guard fills it from resolv.conf: the host's resolver, no loopback
  // one, then the blocked ranges, as in the stack's own chain.
  const resolver = at(`${dns} ip saddr ${POOL} ip daddr 10.0.0.2 counter return`);
  assert.ok(!rules.some((l) => l.includes("127.0.0.53")));
  for (const range of BLOCKED_RANGES) {
    assert.ok(at(`${forward} ip saddr ${POOL} ip daddr ${range} counter drop`) > toDns);
    const drop = `${dns} ip saddr ${POOL} ip daddr ${range} counter drop`;
    assert.ok(
      rules.slice(resolver).some((l) => l.includes(drop)),
      drop,
    );
  }
  assert.ok(
    at(`${input} ip saddr ${POOL} ct state related,established counter return`) <
      at(`${input} ip saddr ${POOL} counter drop`),
  );
  // Nothing outside the stack's pool is touched.
  assert.ok(rules.filter((l) => !l.includes("comment")).every((l) => l.includes(`saddr ${POOL}`)));
  assert.notEqual(egressChains("staging").forward, forward, "each stack has its own chains");
  assert.ok(
    [forward, input, dns].every((c) => c.length <= 28),
    "iptables chain names are short",
  );
});

test("the guard uses the backend that holds Docker's rules, puts its jumps first, and reloads only on change", () => {
  const { forward, input } = egressChains("production");
  const nft = standIns({ legacy: false, dockerUser: true, jumps: false, rounds: 2 });
  const result = runGuard(nft);
  assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
  const calls = fs.readFileSync(nft.log, "utf8");
  // Once the rules, once the DNS chain; later rounds find both loaded.
  assert.equal(calls.match(/^iptables-restore --noflush$/gm)?.length, 2, calls);
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
  assert.ok(!fs.existsSync(`${none.restored}.1`));
});

/**
 * The guard's rules on real packets: a router namespace with Docker's DOCKER-USER hook in its
 * FORWARD chain runs the guard itself (real `sh`, real iptables); a tenant host in the pool sends
 * to hosts of test ranges standing for a private resolver, a private service, the metadata
 * address and the internet, in a namespace of their own. The host's resolv.conf is the router's
 * (`ip netns exec` mounts /etc/netns/<ns>/resolv.conf over /etc/resolv.conf).
 */
test("on real packets: DNS reaches the host's resolver and the internet, not a private service or the metadata address", async (t) => {
  const id = `eg${process.pid}`;
  const [router, tenant, far] = ["r", "t", "d"].map((n) => `${id}${n}`);
  const sh = (cmd: string) => {
    const r = spawnSync("sh", ["-c", cmd], { encoding: "utf8" });
    assert.equal(r.status, 0, `${cmd}\n${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  const inNs = (ns: string, cmd: string) => sh(`ip netns exec ${ns} sh -c '${cmd}'`);
  const targets = {
    resolver: "10.99.0.53",
    privateService: "10.99.0.10",
    metadata: "169.254.169.254",
    internet: "203.0.113.10",
  };
  const netnsDir = `/etc/netns/${router}`;
  const listener = { kill: () => {} };
  t.after(() => {
    listener.kill();
    for (const ns of [router, tenant, far]) spawnSync("ip", ["netns", "del", ns]);
    fs.rmSync(netnsDir, { recursive: true, force: true });
  });
  for (const ns of [router, tenant, far]) sh(`ip netns add ${ns}`);
  sh(`ip link add ${id}a netns ${tenant} type veth peer name ${id}b netns ${router}`);
  sh(`ip link add ${id}c netns ${far} type veth peer name ${id}e netns ${router}`);
  inNs(
    tenant,
    `ip addr add 10.213.0.2/27 dev ${id}a && ip link set ${id}a up && ip link set lo up && ip route add default via 10.213.0.1`,
  );
  inNs(
    router,
    `ip addr add 10.213.0.1/27 dev ${id}b && ip addr add 198.51.100.1/30 dev ${id}e && ip link set ${id}b up && ip link set ${id}e up && sysctl -qw net.ipv4.ip_forward=1`,
  );
  inNs(
    far,
    `ip addr add 198.51.100.2/30 dev ${id}c && ip link set ${id}c up && ip link set lo up && ip route add default via 198.51.100.1`,
  );
  for (const address of Object.values(targets)) {
    inNs(far, `ip addr add ${address}/32 dev lo`);
    inNs(router, `ip route add ${address}/32 via 198.51.100.2`);
  }
  // What Docker sets up: its users' chain, jumped to first from FORWARD.
  inNs(router, "iptables -N DOCKER-USER && iptables -A FORWARD -j DOCKER-USER");
  fs.mkdirSync(netnsDir, { recursive: true });
  fs.writeFileSync(
    path.join(netnsDir, "resolv.conf"),
    `nameserver ${targets.resolver}\nnameserver 127.0.0.53\nnameserver fd00::53\n`,
  );
  // The guard, once round its loop.
  const bin = fs.mkdtempSync(path.join(os.tmpdir(), "guard-bin-"));
  fs.writeFileSync(path.join(bin, "sleep"), "#!/bin/sh\nexit 1\n", { mode: 0o755 });
  const guard = spawnSync(
    "ip",
    ["netns", "exec", router, "sh", "-c", egressGuardScript("production", POOL)],
    { encoding: "utf8", env: { PATH: `${bin}:/usr/sbin:/usr/bin:/sbin:/bin` } },
  );
  assert.equal(guard.status, 0, `${guard.stdout}${guard.stderr}`);
  assert.match(
    guard.stdout,
    new RegExp(`allowed to the host's resolvers only: ${targets.resolver}$`, "m"),
  );

  // Every far host answers TCP on 53 and 80, and echoes UDP on 53.
  const serve = `const net = require("net"), dgram = require("dgram");
for (const port of [53, 80]) net.createServer((s) => { s.on("error", () => {}); s.end("hi"); }).listen(port, "0.0.0.0");
const u = dgram.createSocket("udp4"); u.on("message", (m, r) => u.send(m, r.port, r.address)); u.bind(53, "0.0.0.0");
setTimeout(() => process.exit(0), 60000);`;
  const server = spawn("ip", ["netns", "exec", far, process.execPath, "-e", serve], {
    stdio: "ignore",
  });
  listener.kill = () => server.kill();
  await new Promise((resolve) => setTimeout(resolve, 500));
  const probe = `const net = require("net"), dgram = require("dgram");
const targets = ${JSON.stringify(targets)};
const tcp = (host, port) => new Promise((ok) => { const s = net.connect({ host, port, timeout: 1000 });
  s.on("connect", () => { s.destroy(); ok("open"); }); s.on("timeout", () => { s.destroy(); ok("blocked"); }); s.on("error", () => ok("blocked")); });
const udp = (host) => new Promise((ok) => { const s = dgram.createSocket("udp4"); const t = setTimeout(() => { s.close(); ok("blocked"); }, 1000);
  s.on("message", () => { clearTimeout(t); s.close(); ok("open"); }); s.send("q", 53, host); });
(async () => { const out = {}; for (const [name, host] of Object.entries(targets))
  out[name] = { tcp53: await tcp(host, 53), udp53: await udp(host), tcp80: await tcp(host, 80) };
  console.log(JSON.stringify(out)); })();`;
  const seen = JSON.parse(
    spawnSync("ip", ["netns", "exec", tenant, process.execPath, "-e", probe], { encoding: "utf8" })
      .stdout,
  ) as Record<string, Record<string, string>>;
  const open = { tcp53: "open", udp53: "open", tcp80: "open" };
  const shut = { tcp53: "blocked", udp53: "blocked", tcp80: "blocked" };
  assert.deepEqual(seen, {
    resolver: { tcp53: "open", udp53: "open", tcp80: "blocked" },
    privateService: shut,
    metadata: shut,
    internet: open,
  });
});
