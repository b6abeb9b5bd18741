/**
 * Reads a stack's `platform:*` config and validates it whole: schema, cross-field rules, and the
 * hostnames of the other committed stacks. Nothing is registered before this has passed.
 */
import * as fs from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import * as runtimeConfig from "@pulumi/pulumi/runtime/config";
import { devPortsOf, parsePool, slotCount, tenantSubnet } from "../../components/runtime/network";
import { Placement, placeSlots } from "./placement";
import { defaultTenantConnections } from "../../components/data/postgresServer";
import { configError, Problem } from "./errors";
import { ConfigSurroundings, connectionProblems, crossFieldProblems, OtherStack } from "./rules";
import { defaultTemporalImage, hostLabel, NAMESPACE, PlatformConfig, rawSchema } from "./schema";
import {
  namespaceValues,
  plainTextPaths,
  readStackFile,
  stackFilePath,
  stacksIn,
} from "./stackFile";

/**
 * Validates raw config values (as Pulumi hands them over: strings, or parsed JSON for
 * structured keys) and resolves every default. Throws a {@link ConfigError} listing every problem
 * of the values, or, once they pass, every problem between them.
 * `surroundings` are what the values are checked against besides themselves: the stack's name
 * and Docker host, and the project's other stacks.
 */
export function parsePlatformConfig(
  raw: Record<string, unknown>,
  surroundings: ConfigSurroundings = {},
): PlatformConfig {
  // Each value first; the rules between values then read what the schema guarantees.
  const result = rawSchema.safeParse(raw);
  if (!result.success) {
    const problems: Problem[] = result.error.issues.flatMap((issue) =>
      issue.code === "unrecognized_keys"
        ? issue.keys.map((key) => ({
            path: [...issue.path, key],
            message: "is not a known key",
            conceal: true,
          }))
        : [{ path: [...issue.path], message: issue.message }],
    );
    throw configError(raw, problems, surroundings.secretKeys);
  }
  const config = result.data;
  const problems = crossFieldProblems(config, raw, surroundings);
  if (problems.length > 0) throw configError(raw, problems, surroundings.secretKeys);
  const pool = parsePool(config.network.pool);
  const placed = placeSlots(config.tenants, slotCount(pool), surroundings.previous);
  const parsed: PlatformConfig = {
    ...config,
    temporal: {
      ...config.temporal,
      image: config.temporal.image ?? defaultTemporalImage(config.environment),
    },
    tenants: config.tenants.map((tenant, index) => {
      // Rules above have refused what could leave a tenant without a slot.
      const slot = placed.slots[index]!;
      return {
        ...tenant,
        hostname: hostLabel(tenant),
        slot,
        subnet: tenantSubnet(pool, slot),
        devPorts: tenant.devPorts ?? devPortsOf(slot),
        postgresConnectionLimit:
          tenant.postgresConnectionLimit ??
          defaultTenantConnections(config.runtime, tenant.workerReplicas),
        exposed: config.cloudflare !== undefined && !tenant.offboarded,
      };
    }),
  };
  // Rules on what the defaults resolved to.
  const resolvedProblems = connectionProblems(parsed);
  if (resolvedProblems.length > 0)
    throw configError(raw, resolvedProblems, surroundings.secretKeys);
  return parsed;
}

/**
 * Whether Pulumi holds a config key as a secret. @pulumi/pulumi 3.270.0 has it in
 * runtime/config.js (`isConfigSecret`, marked internal, so its typings omit it); it reads what
 * the CLI and `setAllConfig` record.
 */
function isConfigSecret(key: string): boolean {
  const internal = runtimeConfig as unknown as { isConfigSecret?: (key: string) => boolean };
  return internal.isConfigSecret?.(key) ?? false;
}

/** Pulumi passes structured config as JSON text; plain strings stay strings. */
function decode(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Picks the `platform:*` keys out of a stack's config map, as `pulumi config` holds it or as a
 * stack file has it: a structured key set without `--path` is a JSON string in both.
 */
export function rawPlatformConfig(all: Record<string, unknown>): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(namespaceValues(all, NAMESPACE)))
    raw[key] = typeof value === "string" ? decode(value) : value;
  return raw;
}

/**
 * The `platform:*` values of every committed `Pulumi.<stack>.yaml` in `directory` except
 * `stack`'s own, for the checks that span stacks.
 */
function otherStackConfigs(directory: string, stack: string): OtherStack[] {
  return stacksIn(directory)
    .filter((name) => name !== stack)
    .map((name) => {
      let config: Record<string, unknown>;
      try {
        config = readStackFile(stackFilePath(directory, name));
      } catch (error) {
        throw new Error(
          `Cannot read Pulumi.${name}.yaml to compare its hostnames with this stack's: ${String(error)}`,
        );
      }
      const dockerHost = config["docker:host"];
      return {
        stack: name,
        raw: rawPlatformConfig(config),
        dockerHost: typeof dockerHost === "string" ? dockerHost : undefined,
      };
    });
}

/**
 * Where `platform:secrets` holds plain text: its leaves that the stack file does not hold
 * `secure:` (a value set with `--path` but without `--secret` sits beside encrypted ones), or the
 * whole key where Pulumi does not hold it as a secret at all (no stack file, or config from
 * elsewhere).
 */
function plainTextSecrets(
  all: Record<string, unknown>,
  secretKeys: readonly string[],
  directory: string | null,
  stack: string,
): PropertyKey[][] {
  const key = `${NAMESPACE}:secrets`;
  const file = directory === null ? undefined : stackFilePath(directory, stack);
  const written = file !== undefined && fs.existsSync(file) ? readStackFile(file)[key] : undefined;
  if (written !== undefined) return plainTextPaths(written, ["secrets"]);
  return all[key] !== undefined && !secretKeys.includes("secrets") ? [["secrets"]] : [];
}

/**
 * Reads every `platform:*` key of the running stack and validates it, together with the other
 * committed stack files in `stackFilesDirectory` (the project directory; `null` to skip them). A
 * key this program does not know is an error too: a typo must not silently fall back to a default.
 */
export function loadPlatformConfig(
  // The Pulumi CLI runs programs from their project directory.
  stackFilesDirectory: string | null = process.cwd(),
  /** What the stack's last deploy held (stacks/previous.ts). @default none */
  previous?: Placement,
): PlatformConfig {
  const stack = pulumi.getStack();
  const all = pulumi.runtime.allConfig();
  const secretKeys = Object.keys(namespaceValues(all, NAMESPACE)).filter((key) =>
    isConfigSecret(`${NAMESPACE}:${key}`),
  );
  return parsePlatformConfig(rawPlatformConfig(all), {
    stack,
    secretKeys,
    plainTextSecrets: plainTextSecrets(all, secretKeys, stackFilesDirectory, stack),
    dockerHost: new pulumi.Config("docker").get("host"),
    otherStacks: stackFilesDirectory === null ? [] : otherStackConfigs(stackFilesDirectory, stack),
    previous,
  });
}
