/** What the suites share: running committed stacks under the recording mocks, and reading registrations. */
import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { isSecret } from "../tools/engine/mocks";
import { committedStack, runProgram, Registration, RunResult } from "../tools/engine/runner";
import { parsePlatformConfig, PlatformConfig, rawPlatformConfig } from "../stacks/config";
import { IngressRule, matchRule, requestOf } from "../components/edge/ingress";

export {
  isSecret,
  mockBytes,
  mockPassword,
  mocks,
  unwrapSecrets,
  uuidOf,
} from "../tools/engine/mocks";
export {
  committedStack,
  PROJECT_ROOT,
  Registration,
  runProgram,
  RunOptions,
  RunResult,
  SECURE_PLACEHOLDER,
  stackFileConfig,
} from "../tools/engine/runner";

/**
 * Runs a committed stack, failing the test if the program raises; with its parsed config.
 * `changes` replace whole top-level keys of its file (`{ "platform:hostMemoryMb": 1024 }`).
 */
export async function runCommitted(
  stack: string,
  changes: Record<string, unknown> = {},
): Promise<{ run: RunResult; config: PlatformConfig }> {
  const options = committedStack(stack, changes);
  const run = await runProgram(options);
  assert.equal(run.error, undefined, String(run.error));
  return { run, config: parsePlatformConfig(rawPlatformConfig(options.config)) };
}

export const COMMITTED_STACKS = ["dev", "staging", "production"] as const;

/**
 * The committed examples' OpenPGP public key, which staging and production encrypt backups to
 * (its private half was discarded when it was made): for configs written in tests.
 */
export const BACKUP_PUBLIC_KEY = (
  rawPlatformConfig(committedStack("production").config).backup as { publicKey: string }
).publicKey;

/** Resolves an Output's value in tests (never used by the program itself). */
export function promiseOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply(resolve));
}

export function ofType(run: RunResult, type: string): Registration[] {
  return run.registrations.filter((r) => r.type === type);
}

export const CONTAINER = "docker:index/container:Container";

/** A container's labels as a plain map. */
export function labelMap(r: Registration): Record<string, string> {
  const list = (r.inputs.labels ?? []) as { label: string; value: string }[];
  return Object.fromEntries(list.map((l) => [l.label, l.value]));
}

/** The env list of a container, unwrapped, with whether it was a secret. */
export function envOf(r: Registration): { secret: boolean; env: Record<string, string> } {
  const raw = r.inputs.envs;
  const list = (isSecret(raw) ? raw.value : (raw ?? [])) as string[];
  const env = Object.fromEntries(
    list.map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]),
  );
  return { secret: isSecret(raw), env };
}

/** Config for a run built in a test: keys without the `platform:` prefix, values as objects. */
export function platformConfig(values: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).map(([key, value]) => [
      `platform:${key}`,
      typeof value === "string" ? value : JSON.stringify(value),
    ]),
  );
}

/** The custom resource of that logical name (a component may share it, e.g. `postgres`). */
export const byName = (run: RunResult, name: string) => {
  const found = run.registrations.find((r) => r.name === name && r.custom);
  assert.ok(found, `no resource named ${name}`);
  return found;
};
export const dependsOn = (run: RunResult, dependent: string, ...names: string[]) => {
  const deps = byName(run, dependent).dependencies;
  for (const name of names) {
    assert.ok(deps.includes(byName(run, name).urn), `${dependent} must wait for ${name}`);
  }
};

/** A provider reference is `<urn>::<id>`. */
export const providerUrn = (r: Registration) => r.provider.slice(0, r.provider.lastIndexOf("::"));

/** Every string anywhere in a value that is not under a secret. */
export function plainStrings(value: unknown, out: string[] = []): string[] {
  if (isSecret(value)) return out;
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => plainStrings(v, out));
  else if (value !== null && typeof value === "object")
    Object.values(value).forEach((v) => plainStrings(v, out));
  return out;
}

/**
 * A whole-second duration as Go prints it: hours only with minutes, minutes and seconds below 60
 * once a larger unit is present (`1h0m0s`, `1m30s`, `20s`).
 */
export const GO_DURATION =
  /^(?:[1-9]\d*h(?:[0-9]|[1-5][0-9])m|(?:[1-9]|[1-5][0-9])m)?(?:[0-9]|[1-5][0-9])s$/;

/** The containers that answer `alias` on `network`. */
export function answering(run: RunResult, network: string, alias: string): Registration[] {
  return ofType(run, CONTAINER).filter((c) =>
    ((c.inputs.networksAdvanced ?? []) as { name: string; aliases?: string[] }[]).some(
      (n) => n.name === network && (n.aliases ?? []).includes(alias),
    ),
  );
}

/** Where a request the tunnel sends to `service` (`http://<alias>:<port>`) really lands. */
export interface Hop {
  /** The one container that answers the service's alias on the connector's network. */
  front: Registration;
  /** The one container the front relays that port to, on its other network. */
  upstream: Registration;
}

/**
 * Follows `service` as Docker's DNS and the front's own HAProxy config would: from the
 * connector's network to the container answering the alias there, then through that container's
 * listener on the port to the one container answering its upstream on its other network. Throws
 * where a hop has no container, or more than one.
 */
export function followService(run: RunResult, service: string): Hop {
  const connector = ofType(run, CONTAINER).find(
    (c) => labelMap(c)["platform.service"] === "cloudflared",
  );
  if (!connector) throw new Error("no connector");
  const networksOf = (c: Registration) =>
    ((c.inputs.networksAdvanced ?? []) as { name: string }[]).map((n) => n.name);
  const [data] = networksOf(connector);
  const url = new URL(service);
  const one = (found: Registration[], what: string) => {
    if (found.length !== 1) throw new Error(`${found.length} containers answer ${what}`);
    return found[0];
  };
  const front = one(answering(run, data, url.hostname), `${url.hostname} on ${data}`);
  const config = (front.inputs.command as string[])[0];
  const listener = new RegExp(
    `^ {4}bind :${url.port}\\n(?: {4}.*\\n)*? {4}server \\S+ ([^:\\s]+):(\\d+)`,
    "m",
  );
  const match = listener.exec(config);
  if (!match) throw new Error(`${front.name} does not relay port ${url.port}`);
  const other = networksOf(front).filter((n) => n !== data);
  const upstream = one(
    other.flatMap((n) => answering(run, n, match[1])),
    `${match[1]} behind ${front.name}`,
  );
  return { front, upstream };
}

// Cloudflare's side, as the tests model it: which rule of the ingress document a request takes,
// and which Access application guards it.

/** The service a request URL reaches under first-match semantics. */
export function routeRequest(rules: readonly IngressRule<unknown>[], url: string): string {
  const index = matchRule(rules, requestOf(url));
  return index === -1 ? "(no rule)" : rules[index].service;
}

/** An Access application's destination: `<hostname><path prefix>`, and whether it lets anyone by. */
export interface AccessDestination {
  uri: string;
  bypass: boolean;
}

/**
 * Which destination's application Cloudflare Access applies to a request: among those on its
 * hostname whose path covers the request's (a path covers itself and everything below it), the
 * most specific one. Cloudflare's docs: "When multiple rules are set for a common root path, the
 * more specific rule takes precedence" (cloudflare-one, policies/app-paths).
 */
export function accessDestinationFor(
  destinations: readonly AccessDestination[],
  url: string,
): AccessDestination | undefined {
  const request = requestOf(url);
  const covering = destinations.filter((d) => {
    const slash = d.uri.indexOf("/");
    const [host, prefix] = slash === -1 ? [d.uri, ""] : [d.uri.slice(0, slash), d.uri.slice(slash)];
    return (
      host.toLowerCase() === request.hostname &&
      (prefix === "" || request.path === prefix || request.path.startsWith(`${prefix}/`))
    );
  });
  return covering.sort((a, b) => b.uri.length - a.uri.length)[0];
}
