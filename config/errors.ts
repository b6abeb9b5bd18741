/** How invalid config is reported: every problem at once, each naming its key and value (never a secret). */
import { NAMESPACE } from "./schema";

/** Keys whose whole value is a secret: their values never appear in errors. */
const SECRET_KEYS = new Set(["secrets"]);

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

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .reduce<string>(
      (acc, segment) =>
        typeof segment === "number" ? `${acc}[${segment}]` : `${acc}.${String(segment)}`,
      NAMESPACE,
    )
    .replace(`${NAMESPACE}.`, `${NAMESPACE}:`);
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = raw;
  for (const segment of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return current;
}

function describeValue(raw: unknown, path: readonly PropertyKey[]): string {
  if (SECRET_KEYS.has(String(path[0]))) return "[secret]";
  const value = valueAt(raw, path);
  return value === undefined ? "(not set)" : JSON.stringify(value);
}

/** The error for `problems` found in `raw`: each names its full key and the value found there. */
export function configError(raw: unknown, problems: readonly Problem[]): ConfigError {
  return new ConfigError(
    problems.map(({ path, message }) => ({
      key: formatPath(path),
      value: describeValue(raw, path),
      message,
    })),
  );
}
