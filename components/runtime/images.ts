/**
 * Why an image reference does not pin what it runs, or undefined when it does: a tag other than
 * `latest`, or a digest. A floating tag makes `pulumi preview` lie, because the image can change
 * without the program changing.
 */
export function imagePinProblem(ref: string): string | undefined {
  if (/\s/.test(ref) || ref.length === 0)
    return "must be an image reference such as postgres:15.13";
  if (/@sha256:[0-9a-f]{64}$/.test(ref)) return undefined;
  const lastSegment = ref.slice(ref.lastIndexOf("/") + 1);
  const tag = lastSegment.includes(":") ? lastSegment.slice(lastSegment.indexOf(":") + 1) : "";
  if (tag === "") return "must pin a tag or digest (e.g. :v0.23.0)";
  if (tag === "latest") return "must not use the floating tag 'latest': pin a version";
  // `postgres:16`, `redis:alpine`, `:head`: tags that move to every new minor release. A tag
  // must name at least major.minor, which official images move only for patch releases.
  if (!/^v?\d+\.\d+/.test(tag)) {
    return `must not use the floating tag '${tag}': pin at least major.minor (e.g. :15.13) or a digest`;
  }
  return undefined;
}

/** An image reference's repository and tag (`""` when it has none), digest aside. */
export function imageParts(ref: string): { repository: string; tag: string } {
  const withoutDigest = ref.split("@")[0];
  const slash = withoutDigest.lastIndexOf("/");
  const colon = withoutDigest.lastIndexOf(":");
  return colon > slash
    ? { repository: withoutDigest.slice(0, colon), tag: withoutDigest.slice(colon + 1) }
    : { repository: withoutDigest, tag: "" };
}
