/**
 * Where each tenant sits on the Docker host: its network's subnet, cut from the stack's address
 * pool, and (in dev) its loopback ports. Both follow from one number per tenant, its slot (see
 * stacks/config/placement.ts): set in config, or kept from the last deploy, or the first free one from a
 * hash of its id, so adding, removing or reordering other tenants moves nothing.
 */
import { createHash } from "node:crypto";
import * as ipaddr from "ipaddr.js";

/**
 * The stack's default address pool. Explicit subnets keep tenant networks out of Docker's
 * default pools, which run out after a few dozen networks, and away from another stack's.
 */
export const DEFAULT_NETWORK_POOL = "10.213.0.0/16";

/**
 * A tenant network is a /27: 29 addresses for api, dashboard, up to 16 workers, its gateway and
 * a running job, with room to spare.
 */
export const TENANT_PREFIX = 27;

/** Docker's default address pools (moby, `daemon/libnetwork/ipamutils`): docker0 and the rest. */
const DOCKER_DEFAULT_POOLS = [
  "172.17.0.0/16",
  "172.18.0.0/15",
  "172.20.0.0/14",
  "172.24.0.0/13",
  "192.168.0.0/16",
];

/** The address ranges a pool may be cut from: private ones, never routed on the internet. */
const PRIVATE_RANGES: readonly [string, number][] = [
  ["10.0.0.0", 8],
  ["172.16.0.0", 12],
  ["192.168.0.0", 16],
];

/** An IPv4 CIDR as its network address (an integer) and prefix length. */
export interface Cidr {
  base: number;
  prefix: number;
}

function toInt(address: ipaddr.IPv4): number {
  return address.toByteArray().reduce((value, byte) => value * 256 + byte, 0);
}

function toAddress(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join(".");
}

/** Why `text` cannot be a stack's address pool, or undefined when it can. */
export function poolProblem(text: string): string | undefined {
  let parsed: [ipaddr.IPv4 | ipaddr.IPv6, number];
  try {
    parsed = ipaddr.parseCIDR(text);
  } catch {
    return "must be an IPv4 CIDR such as 10.213.0.0/16";
  }
  const [address, prefix] = parsed;
  if (!(address instanceof ipaddr.IPv4)) return "must be an IPv4 CIDR such as 10.213.0.0/16";
  if (prefix > TENANT_PREFIX)
    return `must be /${TENANT_PREFIX} or larger: each tenant takes a /${TENANT_PREFIX}`;
  if (toAddress(toInt(address)) !== ipaddr.IPv4.networkAddressFromCIDR(text).toString()) {
    return `must start at its network address (${ipaddr.IPv4.networkAddressFromCIDR(text).toString()}/${prefix})`;
  }
  const inside = ([base, bits]: [string, number]) =>
    prefix >= bits && address.match(ipaddr.IPv4.parse(base), bits);
  if (!PRIVATE_RANGES.some(inside)) {
    return "must lie in a private range (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16)";
  }
  const own = parsePool(text);
  const taken = DOCKER_DEFAULT_POOLS.find((range) => overlaps(own, parsePool(range)));
  if (taken !== undefined) {
    return `must not overlap ${taken}, where Docker takes subnets for networks without one (the stack's data network among them), or creating a tenant network can fail`;
  }
  return undefined;
}

/** A pool that passed {@link poolProblem}. */
export function parsePool(text: string): Cidr {
  const [address, prefix] = ipaddr.IPv4.parseCIDR(text);
  return { base: toInt(address), prefix };
}

/** How many tenant networks fit in `pool`. */
export function slotCount(pool: Cidr): number {
  return 2 ** (TENANT_PREFIX - pool.prefix);
}

/**
 * A tenant's first choice of slot when config sets none: a hash of its id, whatever the other
 * tenants are. Two ids can share one: stacks/config/placement.ts gives the later one the next free slot.
 */
export function defaultSlot(tenantId: string, slots: number): number {
  return createHash("sha256").update(tenantId).digest().readUInt32BE(0) % slots;
}

/** The subnet of the tenant network in `slot` of `pool`. */
export function tenantSubnet(pool: Cidr, slot: number): string {
  if (!Number.isInteger(slot) || slot < 0 || slot >= slotCount(pool)) {
    throw new RangeError(`Slot ${slot} is outside a pool of ${slotCount(pool)} slots`);
  }
  return `${toAddress(pool.base + slot * 2 ** (32 - TENANT_PREFIX))}/${TENANT_PREFIX}`;
}

/**
 * The gateway address Docker gives a subnet's network when none is set: its first host address.
 * Set explicitly, because the docker provider reads the gateway back into `ipamConfigs` (not a
 * computed field), and a subnet without one would differ from state and replace the network
 * (terraform-provider-docker v4.5.0, resource_docker_network_structures.go).
 */
export function gatewayOf(subnet: string): string {
  const [address] = ipaddr.IPv4.parseCIDR(subnet);
  return toAddress(toInt(address) + 1);
}

/** Whether two CIDRs share an address. */
export function overlaps(a: Cidr, b: Cidr): boolean {
  const end = (c: Cidr) => c.base + 2 ** (32 - c.prefix);
  return a.base < end(b) && b.base < end(a);
}

/** The first port of the dev range: above the ports development tools usually take. */
export const DEV_PORT_BASE = 20000;
/** The last port a slot may derive: below Linux's ephemeral ports (32768 on). */
export const DEV_PORT_LAST = 32767;

/** A tenant's loopback ports in dev: dashboard `20000 + 2 × slot`, api one above. */
export function devPortsOf(slot: number): { dashboard: number; api: number } {
  const dashboard = DEV_PORT_BASE + 2 * slot;
  return { dashboard, api: dashboard + 1 };
}

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
