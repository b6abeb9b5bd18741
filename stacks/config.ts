import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as YAML from "yaml";
import { z } from "zod";
import { imagePinProblem } from "../lib/images";

/** The config namespace of this project: every key below is `platform:<key>`. */
export const NAMESPACE = "platform";

/** Keys whose whole value is a secret: their values never appear in errors. */
const SECRET_KEYS = new Set(["secrets"]);

export const ENVIRONMENTS = ["dev", "staging", "production"] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

/** Dittofeed's current stable release; operators bump it through `platform:dittofeed.version`. */
export const DEFAULT_DITTOFEED_VERSION = "v0.23.0";

const DEFAULT_ADMIN_PORT = 15432;
const SLUG = /^[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const CLOUDFLARE_ID = /^[0-9a-f]{32}$/;

const slug = z
  .string()
  .regex(
    SLUG,
    "must be a slug: 1 to 40 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen",
  );

const domain = z.string().regex(DOMAIN, "must be a lowercase DNS name such as example.com");

const hostnameLabel = z.string().superRefine((value, ctx) => {
  if (value.includes(".")) {
    ctx.addIssue({
      code: "custom",
      message:
        "must be ONE DNS label under platform:domain (e.g. north, not api.north): Cloudflare's Universal SSL certificate covers only one level of subdomain, so a deeper name fails TLS; use a hyphen instead (api-north)",
    });
  } else if (!DNS_LABEL.test(value)) {
    ctx.addIssue({
      code: "custom",
      message: "must be a DNS label: lowercase letters, digits and hyphens, at most 63 characters",
    });
  }
});

/** An image reference that pins what it runs (see `imagePinProblem`). */
const imageRef = z.string().superRefine((value, ctx) => {
  const problem = imagePinProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

const port = z.number().int().min(1).max(65535);
const memoryMb = (defaultMb: number) => z.number().int().min(64).max(262144).default(defaultMb);
const secretString = z.string().min(16, "must be at least 16 characters");

/** A shared service: which image runs it and how much memory it may use. */
const serviceSchema = (image: string, defaultMemoryMb: number) =>
  z
    .object({
      image: imageRef.default(image),
      memoryMb: memoryMb(defaultMemoryMb),
    })
    .strict();

const tenantSchema = z
  .object({
    id: slug,
    workspaceName: z
      .string()
      .trim()
      .min(1, "must not be empty")
      .max(100)
      .regex(/^[^\p{Cc}]+$/u, "must not contain control characters"),
    hostname: hostnameLabel.optional(),
    accessEmails: z.array(z.email("must be an email address")).default([]),
    accessEmailDomains: z.array(domain).default([]),
    workerReplicas: z.number().int().min(1).max(16).default(1),
    memoryMb: z
      .object({ api: memoryMb(512), dashboard: memoryMb(384), worker: memoryMb(768) })
      .strict()
      .prefault({}),
    devPorts: z.object({ api: port, dashboard: port }).strict().optional(),
  })
  .strict();

const tenantSecretsSchema = z
  .object({
    databasePassword: secretString.optional(),
    secretKey: secretString.optional(),
    adminPassword: secretString.optional(),
  })
  .strict();

const secretsSchema = z
  .object({
    postgresPassword: secretString.optional(),
    temporalPassword: secretString.optional(),
    redisPassword: secretString.optional(),
    clickhousePassword: secretString.optional(),
    registries: z
      .array(
        z
          .object({
            address: z.string().min(1),
            username: z.string().min(1),
            password: z.string().min(1),
          })
          .strict(),
      )
      .default([]),
    tenants: z.record(z.string(), tenantSecretsSchema).default({}),
  })
  .strict()
  .prefault({});

const rawSchema = z
  .object({
    environment: z.enum(ENVIRONMENTS, { message: `must be one of ${ENVIRONMENTS.join(", ")}` }),
    domain: domain.optional(),
    cloudflare: z
      .object({
        accountId: z
          .string()
          .regex(CLOUDFLARE_ID, "must be a 32-character hex Cloudflare account id"),
        zoneId: z.string().regex(CLOUDFLARE_ID, "must be a 32-character hex Cloudflare zone id"),
        teamName: z
          .string()
          .regex(
            DNS_LABEL,
            "must be the Zero Trust team name: the <team> of <team>.cloudflareaccess.com",
          )
          .optional(),
      })
      .strict()
      .optional(),
    dittofeed: z
      .object({
        version: z
          .string()
          .regex(
            /^v?\d+\.\d+\.\d+(?:[-.][0-9A-Za-z.-]+)?$/,
            "must be a release tag such as v0.23.0",
          )
          .default(DEFAULT_DITTOFEED_VERSION),
        images: z
          .object({
            api: imageRef.optional(),
            dashboard: imageRef.optional(),
            worker: imageRef.optional(),
            adminCli: imageRef.optional(),
          })
          .strict()
          .prefault({}),
        logLevel: z.enum(["trace", "debug", "info", "warn", "error"]).default("info"),
      })
      .strict()
      .prefault({}),
    tenants: z.array(tenantSchema).min(1, "must list at least one tenant"),
    postgres: z
      .object({
        image: imageRef.default("postgres:15.13"),
        memoryMb: memoryMb(1024),
        adminPort: port.default(DEFAULT_ADMIN_PORT),
        adminHost: z.string().min(1).default("127.0.0.1"),
      })
      .strict()
      .prefault({}),
    redis: serviceSchema("redis:7.4.2-alpine", 256).prefault({}),
    clickhouse: serviceSchema("clickhouse/clickhouse-server:24.12.6.70-alpine", 2048).prefault({}),
    temporal: serviceSchema("temporalio/auto-setup:1.22.4", 768).prefault({}),
    cloudflared: serviceSchema("cloudflare/cloudflared:2025.10.0", 128).prefault({}),
    hostMemoryMb: z.number().int().min(512).optional(),
    secrets: secretsSchema,
  })
  .strict();

type RawConfig = z.infer<typeof rawSchema>;
type RawTenant = z.infer<typeof tenantSchema>;

/** One tenant after validation, with every default resolved. */
export interface TenantConfig extends Omit<RawTenant, "hostname" | "devPorts"> {
  /** The DNS label of the tenant under `domain`; defaults to its id. */
  hostname: string;
  /** Loopback ports of api and dashboard; used only in `dev`. */
  devPorts: { api: number; dashboard: number };
  /** Whether the tenant is reached through the Cloudflare tunnel (every tenant, when it is set). */
  exposed: boolean;
}

export interface PlatformConfig extends Omit<RawConfig, "tenants"> {
  tenants: TenantConfig[];
}

export interface ConfigProblem {
  /** The full key path, e.g. `platform:tenants[1].hostname`. */
  key: string;
  /** The offending value as JSON, or `[secret]`. */
  value: string;
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

/** The keys this program reads, in the order the README documents them. */
export const CONFIG_KEYS = Object.keys(rawSchema.shape) as (keyof RawConfig)[];

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

type Problem = { path: PropertyKey[]; message: string };

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** Another stack of this project, as its committed `Pulumi.<stack>.yaml` declares it. */
export interface OtherStack {
  stack: string;
  /** Its `platform:*` values, keys without the namespace. */
  raw: Record<string, unknown>;
}

/** The public hostnames a raw config routes through a tunnel, to the tenant index that owns each. */
function routedHostnames(raw: Record<string, unknown>): Map<string, number> {
  const hosts = new Map<string, number>();
  const domain = raw.domain;
  if (raw.cloudflare === undefined || typeof domain !== "string") return hosts;
  list(raw.tenants)
    .map(record)
    .forEach((tenant, index) =>
      hosts.set(`${String(tenant.hostname ?? tenant.id)}.${domain}`, index),
    );
  return hosts;
}

/**
 * Two stacks routing one hostname would fight over its DNS record and Access application: each
 * `pulumi up` would take them from the other. Only committed stacks can be checked.
 */
function collisionProblems(raw: Record<string, unknown>, others: readonly OtherStack[]): Problem[] {
  const tenants = list(raw.tenants).map(record);
  const ours = routedHostnames(raw);
  return others.flatMap((other) => {
    const theirs = routedHostnames(other.raw);
    return [...ours]
      .filter(([host]) => theirs.has(host))
      .map(([host, index]) => ({
        path: ["tenants", index, tenants[index].hostname === undefined ? "id" : "hostname"],
        message: `${host} is also routed by stack ${other.stack} (Pulumi.${other.stack}.yaml): both would claim its DNS record and Access application; give one of them another hostname`,
      }));
  });
}

/**
 * Cross-field rules that a per-field schema cannot express. They read the raw input defensively,
 * so they are reported together with per-field problems rather than after those are fixed.
 */
function crossFieldProblems(
  raw: Record<string, unknown>,
  otherStacks: readonly OtherStack[],
): Problem[] {
  const problems: Problem[] = [...collisionProblems(raw, otherStacks)];
  const cloudflare = raw.cloudflare !== undefined;
  if (cloudflare && raw.domain === undefined) {
    problems.push({
      path: ["domain"],
      message: "is required when platform:cloudflare is set: tenant hostnames live under it",
    });
  }
  const tenants = list(raw.tenants).map(record);
  const seenIds = new Map<unknown, number>();
  const seenHosts = new Map<unknown, number>();
  tenants.forEach((tenant, index) => {
    const firstId = seenIds.get(tenant.id);
    if (firstId !== undefined) {
      problems.push({
        path: ["tenants", index, "id"],
        message: `duplicates tenants[${firstId}].id`,
      });
    } else seenIds.set(tenant.id, index);
    const host = tenant.hostname ?? tenant.id;
    const firstHost = seenHosts.get(host);
    if (firstHost !== undefined) {
      problems.push({
        path: ["tenants", index, tenant.hostname === undefined ? "id" : "hostname"],
        message: `hostname ${JSON.stringify(host)} is already used by tenants[${firstHost}]`,
      });
    } else seenHosts.set(host, index);
    if (
      cloudflare &&
      list(tenant.accessEmails).length + list(tenant.accessEmailDomains).length === 0
    ) {
      problems.push({
        path: ["tenants", index, "accessEmails"],
        message:
          "must list who may sign in (accessEmails or accessEmailDomains): the tenant is exposed through the tunnel and Dittofeed's open-source images have no login of their own",
      });
    }
  });
  if (raw.environment === "dev") {
    const adminPort = record(raw.postgres).adminPort ?? DEFAULT_ADMIN_PORT;
    const seenPorts = new Map<unknown, string>([[adminPort, "postgres.adminPort"]]);
    tenants.forEach((tenant, index) => {
      const ports = { ...defaultDevPorts(index), ...record(tenant.devPorts) };
      for (const service of ["api", "dashboard"] as const) {
        const owner = seenPorts.get(ports[service]);
        if (owner !== undefined) {
          problems.push({
            path: ["tenants", index, "devPorts", service],
            message: `port ${String(ports[service])} is already taken by ${owner}`,
          });
        } else seenPorts.set(ports[service], `tenants[${index}].devPorts.${service}`);
      }
    });
  }
  for (const id of Object.keys(record(record(raw.secrets).tenants))) {
    if (!seenIds.has(id)) {
      problems.push({
        path: ["secrets", "tenants", id],
        message: "names no tenant in platform:tenants",
      });
    }
  }
  return problems;
}

/** Dev ports default to 3000+10i (dashboard) and 3001+10i (api) for the i-th tenant. */
function defaultDevPorts(index: number): { api: number; dashboard: number } {
  return { dashboard: 3000 + 10 * index, api: 3001 + 10 * index };
}

/**
 * Validates raw config values (as Pulumi hands them over: strings, or parsed JSON for
 * structured keys) and resolves every default. Throws a {@link ConfigError} listing every problem.
 */
export function parsePlatformConfig(
  raw: Record<string, unknown>,
  otherStacks: readonly OtherStack[] = [],
): PlatformConfig {
  const result = rawSchema.safeParse(raw);
  const fieldProblems: Problem[] = result.success
    ? []
    : result.error.issues.flatMap((issue) =>
        issue.code === "unrecognized_keys"
          ? issue.keys.map((key) => ({ path: [...issue.path, key], message: "is not a known key" }))
          : [{ path: [...issue.path], message: issue.message }],
      );
  const problems = [...fieldProblems, ...crossFieldProblems(raw, otherStacks)];
  if (problems.length > 0 || !result.success) {
    throw new ConfigError(
      problems.map(({ path, message }) => ({
        key: formatPath(path),
        value: describeValue(raw, path),
        message,
      })),
    );
  }
  const config = result.data;
  return {
    ...config,
    tenants: config.tenants.map((tenant, index) => ({
      ...tenant,
      hostname: tenant.hostname ?? tenant.id,
      devPorts: tenant.devPorts ?? defaultDevPorts(index),
      exposed: config.cloudflare !== undefined,
    })),
  };
}

/** Pulumi passes structured config as JSON text; plain strings stay strings. */
function decode(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Picks the `platform:*` keys out of a stack's config map (as `pulumi config` holds it). */
export function rawPlatformConfig(all: Record<string, string>): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const [key, text] of Object.entries(all)) {
    if (key.startsWith(`${NAMESPACE}:`)) raw[key.slice(NAMESPACE.length + 1)] = decode(text);
  }
  return raw;
}

/**
 * The `platform:*` values of every committed `Pulumi.<stack>.yaml` in `directory` except
 * `stack`'s own, for the checks that span stacks.
 */
export function otherStackConfigs(directory: string, stack: string): OtherStack[] {
  return fs
    .readdirSync(directory)
    .sort()
    .flatMap((file) => {
      const name = /^Pulumi\.(.+)\.yaml$/.exec(file)?.[1];
      if (name === undefined || name === stack) return [];
      let document: { config?: Record<string, unknown> } | null;
      try {
        document = YAML.parse(fs.readFileSync(path.join(directory, file), "utf8")) as {
          config?: Record<string, unknown>;
        } | null;
      } catch (error) {
        throw new Error(
          `Cannot read ${file} to compare its hostnames with this stack's: ${String(error)}`,
        );
      }
      const raw: Record<string, unknown> = {};
      for (const [key, value] of Object.entries(document?.config ?? {})) {
        if (key.startsWith(`${NAMESPACE}:`)) raw[key.slice(NAMESPACE.length + 1)] = value;
      }
      return [{ stack: name, raw }];
    });
}

/**
 * Reads every `platform:*` key of the running stack and validates it, together with the other
 * committed stack files in `stackFilesDirectory` (the project directory; `null` to skip them). A
 * key this program does not know is an error too: a typo must not silently fall back to a default.
 */
export function loadPlatformConfig(
  // The Pulumi CLI runs programs from their project directory.
  stackFilesDirectory: string | null = process.cwd(),
): PlatformConfig {
  const others =
    stackFilesDirectory === null ? [] : otherStackConfigs(stackFilesDirectory, pulumi.getStack());
  return parsePlatformConfig(rawPlatformConfig(pulumi.runtime.allConfig()), others);
}
