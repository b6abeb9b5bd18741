/**
 * Release tags: what lets a new container run beside the one it replaces. A container replaced
 * create-first needs a Docker name (and, when something routes to it, an alias) that differs
 * from its predecessor's, and from every earlier release still waiting to be deleted. The tag is
 * the digest here of everything the container is together with a random id drawn anew whenever
 * that spec changes (see `blueGreenContainer`).
 */
import { createHmac } from "node:crypto";
import { stringify } from "safe-stable-stringify";

/** Hex characters in a spec's digest. */
export const RELEASE_TAG_LENGTH = 10;

/**
 * The digest of a container spec: a keyed digest of its canonical JSON (object keys sorted, so equal
 * specs give equal tags whatever order their fields were written in). Any change to the spec,
 * secrets in its environment included, gives another tag. Keyed with a secret that state keeps:
 * names are plain text in state, in previews and on the host, and an unkeyed digest of a spec
 * that holds an operator's password would let anyone test guesses of that password against it.
 */
export function releaseTag(key: string, spec: unknown): string {
  const canonical = stringify(spec);
  if (canonical === undefined) throw new Error("releaseTag: the spec has no JSON form");
  return createHmac("sha256", key).update(canonical).digest("hex").slice(0, RELEASE_TAG_LENGTH);
}

/** `<base>-<tag>`: a Docker name or alias of one release of a container. */
export function tagged(base: string, tag: string): string {
  return `${base}-${tag}`;
}
