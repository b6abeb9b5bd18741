/** How invalid config is reported: every problem of a kind at once (values, then the rules between them), each naming its key and showing its value, or only its shape where the value may be a secret. */
import { redactSecrets } from "../../components/runtime/redact";
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
    /secret|pass|pwd|token|credential|private|api_?key|dsn|auth/i.test(key)
  );
}

/**
 * Every string or number `raw` holds that an error must not show: those under a secret key, at
 * any depth, and every other string that {@link showable} refuses (a password typed under the
 * wrong key is as secret as under the right one).
 */
function hiddenValues(
  raw: unknown,
  secretKeys: ReadonlySet<string>,
  depth = 0,
  underSecret = false,
): string[] {
  if (typeof raw === "number" || typeof raw === "string") {
    const text = String(raw);
    const hidden = underSecret || (typeof raw === "string" && !showable(text));
    return hidden && text.length >= MIN_HIDDEN ? [text] : [];
  }
  if (raw === null || typeof raw !== "object") return [];
  return Object.entries(raw as Record<string, unknown>).flatMap(([key, value]) =>
    hiddenValues(
      value,
      secretKeys,
      depth + 1,
      underSecret || isSecretKey(key, depth) || (depth === 0 && secretKeys.has(key)),
    ),
  );
}

/**
 * Shorter text is not hidden inside messages, which are fixed text: blanking a short secret where
 * it happens to occur in them would reveal it. Their key's value is hidden all the same.
 */
const MIN_HIDDEN = 8;

/**
 * Whether a config string may be shown in an error: a short lowercase name (a host, an id, an
 * image, a domain, an email address). Anything else (a key block, mixed case, symbols, free text,
 * a long run of letters and digits) is described by its length instead: it may be a secret
 * typed under the wrong key.
 */
function showable(value: string): boolean {
  return (
    value.length <= 100 &&
    /^[a-z0-9][a-z0-9._:/@-]*$/.test(value) &&
    // No user and password before a host (`postgresql://admin:pw@db`).
    !/:[^/@]*@/.test(value) &&
    !value.split(/[._:/@-]/).some((part) => part.length >= 16 && /\d/.test(part))
  );
}

/** Whether every string inside `value` is {@link showable}. */
function allShowable(value: unknown): boolean {
  if (typeof value === "string") return showable(value);
  if (value === null || typeof value !== "object") return true;
  return Object.values(value).every(allShowable);
}

/** A value as an error shows it: in full only when {@link allShowable}, otherwise its shape. */
function describe(value: unknown): string {
  if (value === undefined) return "(not set)";
  const json = JSON.stringify(value);
  if (allShowable(value) && json.length <= 200) return json;
  if (Array.isArray(value)) return `(a list of ${value.length}, not shown)`;
  if (typeof value !== "string") return "(an object, not shown)";
  const armor = /-----BEGIN ([A-Z0-9 ]{1,40})-----/.exec(value);
  return `(${armor ? `a ${armor[1]}, ` : ""}${value.length} characters, not shown)`;
}

export interface ConfigProblem {
  /** The full key path, e.g. `platform:tenants[1].hostname`. */
  key: string;
  /** The offending value as JSON, its shape where it may be secret, or `[secret]`. */
  value: string;
  message: string;
}

/** A problem found in raw config, before its key and value are written out. */
export interface Problem {
  path: PropertyKey[];
  message: string;
  /** Show nothing of its value: a key this program does not know may hold anything. */
  conceal?: boolean;
}

/** Thrown for an invalid stack config; lists every problem found at once. */
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

/** The value at `path` in raw config; undefined where any step of it is missing. */
export function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
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
  return describe(valueAt(raw, path));
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
  const secrets = [
    ...hiddenValues(raw, secretKeySet),
    ...problems.flatMap((p) =>
      p.conceal ? hiddenValues(valueAt(raw, p.path), secretKeySet, 0, true) : [],
    ),
  ];
  const hide = (text: string) => redactSecrets(text, secrets);
  return new ConfigError(
    problems.map(({ path, message, conceal }) => ({
      key: formatPath(path),
      value: conceal ? "(not shown)" : hide(describeValue(raw, path, secretKeySet)),
      message: hide(message),
    })),
  );
}
