/**
 * The one reader of committed stack files (`Pulumi.<stack>.yaml`), for the checks that span
 * stacks and for the offline tools, which run a stack from its file.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as YAML from "yaml";

/** The stack file of `stack` in `directory`. */
export function stackFilePath(directory: string, stack: string): string {
  return path.join(directory, `Pulumi.${stack}.yaml`);
}

/** The stacks that have a file in `directory`, sorted by name. */
export function stacksIn(directory: string): string[] {
  return fs
    .readdirSync(directory)
    .sort()
    .flatMap((file) => /^Pulumi\.(.+)\.yaml$/.exec(file)?.[1] ?? []);
}

/** The `config:` map of a stack file, values as YAML gives them (`secure:` ones still wrapped). */
export function readStackFile(file: string): Record<string, unknown> {
  const document = YAML.parse(fs.readFileSync(file, "utf8")) as {
    config?: Record<string, unknown>;
  } | null;
  return document?.config ?? {};
}

/** The values of one namespace of a config map, keys without the namespace. */
export function namespaceValues<T>(
  config: Record<string, T>,
  namespace: string,
): Record<string, T> {
  const prefix = `${namespace}:`;
  return Object.fromEntries(
    Object.entries(config)
      .filter(([key]) => key.startsWith(prefix))
      .map(([key, value]) => [key.slice(prefix.length), value]),
  );
}

/**
 * The paths of the values in `value`, a stack file's config value, that are in plain text: every
 * leaf that is not a `secure:` one.
 */
export function plainTextPaths(value: unknown, path: PropertyKey[] = []): PropertyKey[][] {
  if (Array.isArray(value)) return value.flatMap((item, i) => plainTextPaths(item, [...path, i]));
  if (value === null || typeof value !== "object") return [path];
  const entries = Object.entries(value);
  if (entries.length === 1 && entries[0][0] === "secure") return [];
  return entries.flatMap(([key, item]) => plainTextPaths(item, [...path, key]));
}
