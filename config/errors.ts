/** How invalid config is reported: every problem at once, each naming its key and value (never a secret). */
import { redactSecrets } from "../lib/redact";
import { NAMESPACE } from "./schema";

/**
 * Keys whose value is a secret, wherever they are: `platform:secrets` and anything named like a
 * secret, so that a secret under a mistyped key (`platform:secret`, a password put under a
 * tenant) is as hidden as under the right one.
 */
function isSecretKey(segment: PropertyKey, depth: number): boolean {
  const key = String(segment);
  return (
    (depth === 0 && key === "secrets") ||
    /secret|passw|token|credential|private|apikey|api_key/i.test(key)
  );
}

/** Every value held under a secret key of `raw`, at any depth, as text. */
function secretValues(
  raw: unknown,
  secretKeys: ReadonlySet<string>,
  depth = 0,
  underSecret = false,
): string[] {
  if (typeof raw === "string" || typeof raw === "number") return underSecret ? [String(raw)] : [];
  if (raw === null || typeof raw !== "object") return [];
  return Object.entries(raw as Record<string, unknown>).flatMap(([key, value]) =>
    secretValues(
      value,
      secretKeys,
      depth + 1,
      underSecret || isSecretKey(key, depth) || (depth === 0 && secretKeys.has(key)),
    ),
  );
}

export interface ConfigProblem {
  /** The full key path, e.g. `platform:tenants[1].hostname`. */
  key: string;
  /** The offending value as JSON, or `[secret]`. */
  value: string;
  message: string;
}

/** A problem found in raw config, before its key and value are written out. */
export interface Problem {
  path: PropertyKey[];
  message: string;
}

/** Thrown for an invalid stack config; lists every problem at once. */
export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(
      `Invalid stack configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  - ${p.key} = ${p.value}: ${p.message}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

/** A key path within the namespace, e.g. `tenants[1].hostname`. */
export function keyPath(path: readonly PropertyKey[]): string {
  return path
    .map((segment) => (typeof segment === "number" ? `[${segment}]` : `.${String(segment)}`))
    .join("")
    .slice(1);
}

function formatPath(path: readonly PropertyKey[]): string {
  return `${NAMESPACE}:${keyPath(path)}`;
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = raw;
  for (const segment of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return current;
}

function describeValue(
  raw: unknown,
  path: readonly PropertyKey[],
  secretKeys: ReadonlySet<string>,
): string {
  if (secretKeys.has(String(path[0]))) return "[secret]";
  if (path.some((segment, depth) => isSecretKey(segment, depth))) return "[secret]";
  const value = valueAt(raw, path);
  return value === undefined ? "(not set)" : JSON.stringify(value);
}

/**
 * The error for `problems` found in `raw`: each names its full key and the value found there.
 * No secret appears in it, in any form, even where it sits inside a value shown whole: values
 * under secret-named keys, and under `secretKeys` (the top-level keys Pulumi holds as secrets,
 * `pulumi config set --secret`), whatever their name.
 */
export function configError(
  raw: unknown,
  problems: readonly Problem[],
  secretKeys: readonly string[] = [],
): ConfigError {
  const secretKeySet = new Set(secretKeys);
  const secrets = secretValues(raw, secretKeySet);
  const hide = (text: string) => redactSecrets(text, secrets);
  return new ConfigError(
    problems.map(({ path, message }) => ({
      key: formatPath(path),
      value: hide(describeValue(raw, path, secretKeySet)),
      message: hide(message),
    })),
  );
}
