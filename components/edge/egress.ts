/**
 * What a tenant's containers may reach beyond their own network: the internet (email and SMS
 * providers, the webhooks its users define), and nothing private. A tenant's worker calls URLs
 * its users choose, so without this any of them could reach the Docker host, the cloud metadata
 * address (169.254.169.254) or the host's LAN. A proxy cannot do it: Dittofeed's SMTP, Amazon
 * SES and Resend clients ignore HTTP proxy settings (dittofeed v0.23.0,
 * packages/backend-lib/src/destinations/*). So the host's own firewall does, in the chain Docker
 * keeps for its users (DOCKER-USER, which it jumps to before its own forwarding rules and never
 * flushes), for every address of the stack's pool: every tenant network, present or future.
 */
import { createHash } from "node:crypto";
import { BLOCKED_RANGES } from "../runtime/network";

/** How often the rules are checked again: a reboot or a restarted firewall service drops them. */
export const REAPPLY_SECONDS = 30;

/**
 * The stack's chains: forwarded traffic, traffic to the host itself, and the DNS resolvers the
 * guard finds on the host.
 */
export function egressChains(stack: string): { forward: string; input: string; dns: string } {
  // iptables chain names have at most 28 characters; the hash keeps two stacks' chains apart.
  const id = createHash("sha256").update(stack).digest("hex").slice(0, 10);
  return { forward: `PLATFORM-FWD-${id}`, input: `PLATFORM-IN-${id}`, dns: `PLATFORM-DNS-${id}` };
}

/**
 * The stack's rules in iptables-restore form, for `iptables-restore --noflush`: declaring the
 * chains empties them, so loading again replaces them whole and touches nothing else. The first
 * rule counts nothing and says which rules these are, so the guard can tell whether they are
 * loaded.
 * - Forwarded from the pool: to the pool itself (a tenant's own network: with br_netfilter,
 *   traffic between two containers of one bridge passes FORWARD too; Docker's isolation rules,
 *   after DOCKER-USER, drop one tenant's traffic to another's) passes; DNS to the host's own
 *   resolvers passes (the DNS chain, which the guard fills: see `dnsRulesScript`); to any
 *   blocked range, dropped, port 53 included.
 * - To the host itself from the pool: answers to connections the host opened (its published dev
 *   ports) pass, the rest is dropped.
 */
export function egressRules(stack: string, pool: string): string {
  const { forward, input, dns } = egressChains(stack);
  const body = [
    `-A ${forward} -s ${pool} -d ${pool} -j RETURN`,
    // A goto: where the DNS chain ends or returns, the packet goes back to DOCKER-USER.
    ...["udp", "tcp"].map((p) => `-A ${forward} -s ${pool} -p ${p} --dport 53 -g ${dns}`),
    ...blockedDrops(forward, pool),
    `-A ${input} -s ${pool} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
    `-A ${input} -s ${pool} -j DROP`,
  ];
  return [
    "*filter",
    `:${forward} - [0:0]`,
    `:${input} - [0:0]`,
    `:${dns} - [0:0]`,
    `-A ${forward} -m comment --comment ${egressMarker(body)}`,
    ...body,
    // Until the guard has read the host's resolvers, DNS is held to the rest's rules.
    ...blockedDrops(dns, pool),
    "COMMIT",
    "",
  ].join("\n");
}

/** Drops, in `chain`, whatever the pool sends to a blocked range. */
function blockedDrops(chain: string, pool: string): string[] {
  return BLOCKED_RANGES.map((range) => `-A ${chain} -s ${pool} -d ${range} -j DROP`);
}

/**
 * Where tenants' DNS goes: a container on a user-defined network asks Docker's resolver at
 * 127.0.0.11 (NAT inside its own namespace), which asks the nameservers of the host's
 * /etc/resolv.conf, never systemd-resolved's upstream file (moby v28.5.2,
 * daemon/container_operations_unix.go: `originResolvConfPath = "/etc/resolv.conf"` for
 * user-defined networks). Before Docker 28 it asks a non-loopback nameserver from the
 * container's namespace, so through DOCKER-USER; a loopback one (a local stub such as
 * 127.0.0.53), and from 28.0 every one read from the host's file, from the host's namespace
 * (libnetwork/internal/resolvconf/resolvconf.go: `HostLoopback: !rc.md.NSOverride`; v27.5.1:
 * loopback addresses only). A container on the host's network, as the guard is, gets a copy of
 * the host's /etc/resolv.conf (v28.5.2 `loadResolvConf`, v20.10.24 `copyFile`). So the guard
 * lets port 53 through to the IPv4 nameservers of its own /etc/resolv.conf, loopback ones aside,
 * and to nothing else: the metadata address or a private service on port 53 stay closed.
 * Prints the DNS chain in iptables-restore form, its first rule a marker of what follows.
 */
export function dnsRulesScript(
  stack: string,
  pool: string,
  resolvConf = "/etc/resolv.conf",
): string {
  const { dns } = egressChains(stack);
  return [
    `resolvers=$(sed -n 's/^[[:space:]]*nameserver[[:space:]]\\{1,\\}\\([0-9][0-9.]*\\)[[:space:]]*$/\\1/p' ${resolvConf} | grep -Ev '^127\\.' | grep -E '^[0-9]{1,3}(\\.[0-9]{1,3}){3}$' | sort -u)`,
    `body=$(for ns in $resolvers; do echo "-A ${dns} -s ${pool} -d $ns/32 -j RETURN"; done)`,
    `printf '*filter\\n:${dns} - [0:0]\\n-A ${dns} -m comment --comment platform-dns-%s\\n%s\\n${blockedDrops(dns, pool).join("\\n")}\\nCOMMIT\\n' "$(printf '%s' "$body" | sha256sum | cut -c1-16)" "$body"`,
  ].join("\n");
}

/** What the first rule of the stack's chain says: a hash of the rules that follow it. */
function egressMarker(body: readonly string[]): string {
  return `platform-egress-${createHash("sha256").update(body.join("\n")).digest("hex").slice(0, 16)}`;
}

/**
 * The guard's command, for `sh -c` on the host's network with NET_ADMIN, in `docker:*-dind`
 * (docker-library/docker, dind/Dockerfile: Alpine's `iptables`, which is nf_tables, and
 * `iptables-legacy`). dockerd uses whichever `iptables` its host has; the guard uses legacy when
 * the legacy tables hold Docker's DOCKER-USER chain, nf_tables otherwise. It loads the stack's
 * rules when the loaded ones are not these (a reload, which in legacy iptables rewrites the whole
 * table, happens only on change), puts a jump to each chain first in DOCKER-USER and INPUT, and
 * checks again every `REAPPLY_SECONDS`. It stops with an error when DOCKER-USER does not exist
 * (Docker's own nftables backend has none): nothing here would hold.
 */
export function egressGuardScript(stack: string, pool: string): string {
  const { forward, input, dns } = egressChains(stack);
  const rules = egressRules(stack, pool);
  const marker = /--comment (\S+)/.exec(rules)?.[1] ?? "";
  return [
    "set -u",
    "if iptables-legacy-save 2>/dev/null | grep -q '^:DOCKER-USER '; then ipt=iptables-legacy; else ipt=iptables; fi",
    'echo "$ipt" > /tmp/iptables',
    "dns_rules() {",
    dnsRulesScript(stack, pool),
    "}",
    "apply() {",
    '  if ! "$ipt" -S DOCKER-USER >/dev/null 2>&1; then',
    '    echo "No DOCKER-USER chain in $ipt: Docker manages no firewall here, so tenant egress cannot be restricted"; return 1',
    "  fi",
    `  if ! "$ipt" -S ${forward} 2>/dev/null | grep -q -- '${marker}'; then`,
    `    "$ipt-restore" --noflush <<'EGRESS_RULES_END' || return 1`,
    rules.trimEnd(),
    "EGRESS_RULES_END",
    `    echo "Egress rules for ${pool} loaded with $ipt"`,
    "  fi",
    // Loading the rules above empties the DNS chain; the host's resolvers may change too.
    "  dns=$(dns_rules) || return 1",
    `  dns_marker=$(printf '%s\\n' "$dns" | sed -n 's/.*--comment \\(platform-dns-[0-9a-f]*\\).*/\\1/p')`,
    `  if ! "$ipt" -S ${dns} 2>/dev/null | grep -q -- "$dns_marker"; then`,
    `    printf '%s\\n' "$dns" | "$ipt-restore" --noflush || return 1`,
    `    echo "DNS from ${pool} allowed to the host's resolvers only:" $(printf '%s\\n' "$dns" | sed -n 's/.* -d \\([0-9.]*\\)\\/32 -j RETURN$/\\1/p')`,
    "  fi",
    `  "$ipt" -C DOCKER-USER -j ${forward} 2>/dev/null || "$ipt" -I DOCKER-USER 1 -j ${forward} || return 1`,
    `  "$ipt" -C INPUT -j ${input} 2>/dev/null || "$ipt" -I INPUT 1 -j ${input} || return 1`,
    "}",
    "apply || exit 1",
    `while sleep ${REAPPLY_SECONDS}; do apply || exit 1; done`,
  ].join("\n");
}

/** The guard's health check: the jump into the stack's chain is in place. */
export function egressGuardCheck(stack: string): string {
  return `$(cat /tmp/iptables) -C DOCKER-USER -j ${egressChains(stack).forward}`;
}
