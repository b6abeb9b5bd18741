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

/**
 * Destinations no tenant may open a connection to, other than its own network (where its
 * gateway is): private, shared, link-local (cloud metadata), loopback, benchmark, multicast and
 * reserved ranges.
 */
export const BLOCKED_RANGES = [
  "0.0.0.0/8",
  "10.0.0.0/8",
  "100.64.0.0/10",
  "127.0.0.0/8",
  "169.254.0.0/16",
  "172.16.0.0/12",
  "192.0.0.0/24",
  "192.168.0.0/16",
  "198.18.0.0/15",
  "224.0.0.0/4",
  "240.0.0.0/4",
] as const;

/** How often the rules are checked again: a reboot or a restarted firewall service drops them. */
export const REAPPLY_SECONDS = 30;

/** The stack's two chains: one for forwarded traffic, one for traffic to the host itself. */
export function egressChains(stack: string): { forward: string; input: string } {
  // iptables chain names have at most 28 characters; the hash keeps two stacks' chains apart.
  const id = createHash("sha256").update(stack).digest("hex").slice(0, 10);
  return { forward: `PLATFORM-FWD-${id}`, input: `PLATFORM-IN-${id}` };
}

/**
 * The stack's rules in iptables-restore form, for `iptables-restore --noflush`: declaring the two
 * chains empties them, so loading again replaces them whole and touches nothing else. The first
 * rule counts nothing and says which rules these are, so the guard can tell whether they are
 * loaded.
 * - Forwarded from the pool: to the pool itself (a tenant's own network: with br_netfilter,
 *   traffic between two containers of one bridge passes FORWARD too; Docker's isolation rules,
 *   after DOCKER-USER, drop one tenant's traffic to another's), and DNS anywhere, pass; to any
 *   blocked range, dropped. DNS is let through to any address because a container's resolver
 *   may be private and the guard cannot see which: Docker gives containers the host's resolvers,
 *   from systemd-resolved's own file where the host's /etc/resolv.conf names only its stub, and
 *   before Docker 28 asks them from the container's namespace (moby v28.5.2,
 *   libnetwork/resolvconf.go: HostLoopback since 28.0).
 * - To the host itself from the pool: answers to connections the host opened (its published dev
 *   ports) pass, the rest is dropped.
 */
export function egressRules(stack: string, pool: string): string {
  const { forward, input } = egressChains(stack);
  const body = [
    `-A ${forward} -s ${pool} -d ${pool} -j RETURN`,
    ...["udp", "tcp"].map(
      (protocol) => `-A ${forward} -s ${pool} -p ${protocol} --dport 53 -j RETURN`,
    ),
    ...BLOCKED_RANGES.map((range) => `-A ${forward} -s ${pool} -d ${range} -j DROP`),
    `-A ${input} -s ${pool} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
    `-A ${input} -s ${pool} -j DROP`,
  ];
  return [
    "*filter",
    `:${forward} - [0:0]`,
    `:${input} - [0:0]`,
    `-A ${forward} -m comment --comment ${egressMarker(body)}`,
    ...body,
    "COMMIT",
    "",
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
  const { forward, input } = egressChains(stack);
  const rules = egressRules(stack, pool);
  const marker = /--comment (\S+)/.exec(rules)?.[1] ?? "";
  return [
    "set -u",
    "if iptables-legacy-save 2>/dev/null | grep -q '^:DOCKER-USER '; then ipt=iptables-legacy; else ipt=iptables; fi",
    'echo "$ipt" > /tmp/iptables',
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
