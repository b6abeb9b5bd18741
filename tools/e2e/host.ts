/**
 * What the e2e run sets up on the Docker host around the program's containers, and removes again:
 * a safety chain that keeps every packet of the run on this machine, the test hosts that stand for
 * "the internet" and "a private service", and a throwaway OpenPGP key for the backups.
 */
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

/** The chain of the run's own rules, jumped to from DOCKER-USER. */
export const SAFETY_CHAIN = "E2E-SAFETY";

/** A test host in a network namespace of its own, behind a veth pair, listening on `port`. */
export interface TestHost {
  namespace: string;
  address: string;
  port: number;
}

/** TEST-NET-3 (RFC 5737): "the internet", which tenants may reach. */
export const PUBLIC_HOST: TestHost = { namespace: "e2e-public", address: "203.0.113.10", port: 80 };
/** A private range (RFC 1918), which the egress guard must keep tenants from. */
export const PRIVATE_HOST: TestHost = { namespace: "e2e-private", address: "10.99.0.2", port: 80 };
/** An address of the private host's range where nothing runs: only the safety chain sees it. */
export const PRIVATE_RANGE_PROBE = "10.99.0.99";
export const METADATA = "169.254.169.254";
/** The safety chain's answer: "administratively prohibited", which a probe tells from a refusal. */
const REJECT = ["-j", "REJECT", "--reject-with", "icmp-admin-prohibited"];

/** Where the host itself listens for probes of its own addresses. */
export const HOST_PORT = 18999;

function run(command: string, args: string[]): string {
  return execFileSync(command, args, { stdio: ["ignore", "pipe", "pipe"] }).toString();
}

/**
 * The iptables the engine manages its chains with, found as the egress guard finds it: legacy
 * where DOCKER-USER is there, nft otherwise.
 */
function iptables(): string {
  try {
    if (/^:DOCKER-USER /m.test(run("iptables-legacy-save", []))) return "iptables-legacy";
  } catch {
    // no legacy tables
  }
  return "iptables";
}

export class Host {
  private readonly ipt = iptables();
  private readonly listeners: ChildProcess[] = [];
  private hostListener: net.Server | undefined;
  private readonly namespaces: string[] = [];
  /** The filter table's chains before the run: the program's guard adds its own, removed at the end. */
  private chainsBefore: Set<string> | undefined;

  private chains(): Set<string> {
    return new Set(
      run(this.ipt, ["-S"])
        .split("\n")
        .flatMap((line) => (line.startsWith("-N ") ? [line.slice(3)] : [])),
    );
  }

  /**
   * The safety chain, before any container of the run starts: the test hosts are let through,
   * the metadata address and the private range are rejected by rules of their own (their
   * counters show a packet the program let by), and each network of the run gets its rules as it
   * is made (`allowNetwork`). Rules of the program inserted at the top of DOCKER-USER come first.
   */
  install(): void {
    const ipt = this.ipt;
    // A run that was killed, or kept its containers, left its chain: it is made again.
    if (this.chains().has(SAFETY_CHAIN)) this.removeChains([SAFETY_CHAIN]);
    this.chainsBefore = this.chains();
    run(ipt, ["-N", SAFETY_CHAIN]);
    for (const host of [PUBLIC_HOST, PRIVATE_HOST]) {
      run(ipt, ["-A", SAFETY_CHAIN, "-d", `${host.address}/32`, "-j", "RETURN"]);
    }
    run(ipt, ["-A", SAFETY_CHAIN, "-d", `${METADATA}/32`, ...REJECT]);
    run(ipt, ["-A", SAFETY_CHAIN, "-d", `${PRIVATE_RANGE_PROBE}/32`, ...REJECT]);
    run(ipt, ["-I", "DOCKER-USER", "1", "-j", SAFETY_CHAIN]);
  }

  /**
   * A network of the run: traffic within the run's networks goes on to Docker's own rules, and
   * anything else from it is rejected before it can leave the machine.
   */
  allowNetwork(subnets: string[]): void {
    for (const subnet of subnets) {
      run(this.ipt, ["-I", SAFETY_CHAIN, "1", "-d", subnet, "-j", "RETURN"]);
      run(this.ipt, ["-A", SAFETY_CHAIN, "-s", subnet, ...REJECT]);
    }
  }

  /** Packets that reached the safety chain's rule for a destination, so far. */
  leaked(destination: string): number {
    const listing = run(this.ipt, ["-L", SAFETY_CHAIN, "-v", "-x", "-n"]);
    const row = listing
      .split("\n")
      .find((line) => line.includes("REJECT") && line.trim().split(/\s+/).includes(destination));
    return row ? Number(row.trim().split(/\s+/)[0]) : 0;
  }

  /** The rules of a chain, as `iptables -S` prints them (empty when it does not exist). */
  rules(chain: string): string[] {
    try {
      return run(this.ipt, ["-S", chain]).trim().split("\n");
    } catch {
      return [];
    }
  }

  /** The test hosts, each answering `ok` on its port, and the host's own listener. */
  async startTestHosts(): Promise<void> {
    const hostSide = { "e2e-public": "203.0.113.1/24", "e2e-private": "10.99.0.1/24" };
    for (const host of [PUBLIC_HOST, PRIVATE_HOST]) {
      const ns = host.namespace;
      // What a killed run left goes first: the namespace, and the veth pair (its listener may
      // still hold the namespace's end).
      const namespaces = run("ip", ["netns", "list"]).split("\n");
      if (namespaces.some((line) => line.split(" ")[0] === ns)) run("ip", ["netns", "delete", ns]);
      if (run("ip", ["-o", "link", "show"]).includes(` ${ns}-h@`)) {
        run("ip", ["link", "delete", `${ns}-h`]);
      }
      run("ip", ["netns", "add", ns]);
      this.namespaces.push(ns);
      run("ip", ["link", "add", `${ns}-h`, "type", "veth", "peer", "name", `${ns}-n`]);
      run("ip", ["link", "set", `${ns}-n`, "netns", ns]);
      run("ip", ["addr", "add", hostSide[ns as keyof typeof hostSide], "dev", `${ns}-h`]);
      run("ip", ["link", "set", `${ns}-h`, "up"]);
      run("ip", ["-n", ns, "addr", "add", `${host.address}/24`, "dev", `${ns}-n`]);
      run("ip", ["-n", ns, "link", "set", `${ns}-n`, "up"]);
      run("ip", ["-n", ns, "link", "set", "lo", "up"]);
      const listener = spawn(
        "ip",
        [
          "netns",
          "exec",
          ns,
          process.execPath,
          "-e",
          `require("net").createServer((s) => s.on("error", () => {}).end("ok\\n")).listen(${host.port}, "0.0.0.0")`,
        ],
        { stdio: "ignore" },
      );
      this.listeners.push(listener);
    }
    this.hostListener = net.createServer((socket) =>
      socket.on("error", () => undefined).end("host\n"),
    );
    await new Promise<void>((resolve) => this.hostListener!.listen(HOST_PORT, "0.0.0.0", resolve));
    await new Promise((resolve) => setTimeout(resolve, 500));
  }

  /**
   * Everything `install` and `startTestHosts` made, also after a failure; with `keepSafety`
   * (containers of the run are left) the safety chain stays, until the next run makes it again.
   */
  cleanup({ keepSafety = false }: { keepSafety?: boolean } = {}): void {
    for (const listener of this.listeners) listener.kill();
    this.hostListener?.close();
    for (const ns of this.namespaces) {
      // Deleting the namespace removes its end of the veth pair, and with it the host's end.
      try {
        run("ip", ["netns", "delete", ns]);
      } catch {
        // already gone
      }
    }
    if (this.chainsBefore === undefined) return;
    // The safety chain and the chains the egress guard made (its rules outlive its container, by
    // design).
    this.removeChains(
      [...this.chains()].filter(
        (chain) => !this.chainsBefore!.has(chain) && !(keepSafety && chain === SAFETY_CHAIN),
      ),
    );
  }

  /** The filter table's rules (`iptables -S`) that mention `pattern`, in order. */
  rulesMatching(pattern: RegExp): string[] {
    return run(this.ipt, ["-S"])
      .split("\n")
      .filter((rule) => pattern.test(rule));
  }

  /** The filter table's chains whose names match. */
  chainsNamed(pattern: RegExp): string[] {
    return [...this.chains()].filter((chain) => pattern.test(chain));
  }

  /** Chains, each with every jump or goto to it. */
  removeChains(chains: string[]): void {
    const jumps = run(this.ipt, ["-S"])
      .split("\n")
      .filter(
        (rule) => rule.startsWith("-A ") && chains.includes(/ -[jg] (\S+)$/.exec(rule)?.[1] ?? ""),
      );
    for (const rule of jumps) run(this.ipt, ["-D", ...rule.slice(3).split(" ")]);
    for (const chain of chains) run(this.ipt, ["-F", chain]);
    for (const chain of chains) run(this.ipt, ["-X", chain]);
  }
}

/** A throwaway OpenPGP key pair in its own keyring: the public half as config holds it. */
export function gpgKeyPair(): { home: string; publicKey: string } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), "platform-gpg-"));
  const gpg = (...args: string[]) =>
    execFileSync(
      "gpg",
      ["--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "", ...args],
      { env: { ...process.env, GNUPGHOME: home }, stdio: ["ignore", "pipe", "pipe"] },
    ).toString();
  gpg("--quick-generate-key", "Backups test <ops@example.com>", "ed25519", "cert", "never");
  const fpr = /^fpr:+([0-9A-F]+):/m.exec(gpg("--list-keys", "--with-colons"))![1];
  gpg("--quick-add-key", fpr, "cv25519", "encr", "never");
  return { home, publicKey: gpg("--export", "--armor", fpr) };
}
