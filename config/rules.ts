/**
 * Cross-field rules that a per-field schema cannot express. They read the raw input
 * defensively, so they are reported together with per-field problems rather than after those
 * are fixed.
 */
import { imageParts } from "../lib/images";
import { isAutoSetupImage } from "../lib/temporal";
import { publicHostname } from "../lib/urls";
import { Problem } from "./errors";
import {
  DEFAULT_ADMIN_PORT,
  defaultDevPorts,
  defaultTemporalImage,
  hostLabel,
  TEMPORAL_IMAGES,
} from "./schema";

/** Another stack of this project, as its committed `Pulumi.<stack>.yaml` declares it. */
export interface OtherStack {
  stack: string;
  /** Its `platform:*` values, keys without the namespace. */
  raw: Record<string, unknown>;
}

function record(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : {};
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

/** The public hostnames a raw config routes through a tunnel, to the tenant index that owns each. */
function routedHostnames(raw: Record<string, unknown>): Map<string, number> {
  const hosts = new Map<string, number>();
  const domain = raw.domain;
  if (raw.cloudflare === undefined || typeof domain !== "string") return hosts;
  list(raw.tenants)
    .map(record)
    .forEach((tenant, index) =>
      hosts.set(publicHostname(String(hostLabel(tenant)), domain), index),
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
 * Mail providers where anyone can open an address: allowing such a domain through Access lets
 * everyone in, and an exposed tenant's every request is an admin's (anonymous auth).
 */
export const PUBLIC_EMAIL_DOMAINS = [
  "aol.com",
  "gmail.com",
  "googlemail.com",
  "gmx.com",
  "gmx.de",
  "gmx.net",
  "hotmail.com",
  "icloud.com",
  "live.com",
  "mail.com",
  "mail.ru",
  "me.com",
  "msn.com",
  "outlook.com",
  "pm.me",
  "proton.me",
  "protonmail.com",
  "qq.com",
  "web.de",
  "yahoo.com",
  "yandex.com",
  "yandex.ru",
  "zoho.com",
] as const;

function publicDomainProblems(tenant: Record<string, unknown>, index: number): Problem[] {
  if (tenant.allowPublicEmailDomains === true) return [];
  return list(tenant.accessEmailDomains).flatMap((domain, at) =>
    (PUBLIC_EMAIL_DOMAINS as readonly unknown[]).includes(domain)
      ? [
          {
            path: ["tenants", index, "accessEmailDomains", at],
            message:
              "is a public mail provider: anyone can open an address there and would administer this tenant; list people in accessEmails, or set allowPublicEmailDomains: true if you truly mean everyone",
          },
        ]
      : [],
  );
}

function tenantProblems(raw: Record<string, unknown>): {
  problems: Problem[];
  ids: Set<unknown>;
} {
  const problems: Problem[] = [];
  const cloudflare = raw.cloudflare !== undefined;
  const seenIds = new Map<unknown, number>();
  const seenHosts = new Map<unknown, number>();
  list(raw.tenants)
    .map(record)
    .forEach((tenant, index) => {
      problems.push(...publicDomainProblems(tenant, index));
      const firstId = seenIds.get(tenant.id);
      if (firstId !== undefined) {
        problems.push({
          path: ["tenants", index, "id"],
          message: `duplicates tenants[${firstId}].id`,
        });
      } else seenIds.set(tenant.id, index);
      const host = hostLabel(tenant);
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
  return { problems, ids: new Set(seenIds.keys()) };
}

/** In dev, every published loopback port (tenants' and Postgres's admin port) is taken once. */
function devPortProblems(raw: Record<string, unknown>): Problem[] {
  if (raw.environment !== "dev") return [];
  const problems: Problem[] = [];
  const adminPort = record(raw.postgres).adminPort ?? DEFAULT_ADMIN_PORT;
  const seenPorts = new Map<unknown, string>([[adminPort, "postgres.adminPort"]]);
  list(raw.tenants)
    .map(record)
    .forEach((tenant, index) => {
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
  return problems;
}

/**
 * Temporal's images: staging and production do not run auto-setup, which changes its schema at
 * every start; and the admin-tools image, whose schema files the schema job applies, is the
 * server's version (the server refuses to start on an older schema: temporal v1.22.4,
 * common/persistence/schema/version.go).
 */
function temporalProblems(raw: Record<string, unknown>): Problem[] {
  const temporal = record(raw.temporal);
  const image = typeof temporal.image === "string" ? temporal.image : undefined;
  const problems: Problem[] = [];
  const environment = typeof raw.environment === "string" ? raw.environment : "dev";
  if (image !== undefined && environment !== "dev" && isAutoSetupImage(image)) {
    problems.push({
      path: ["temporal", "image"],
      message: `must not be auto-setup in ${environment}: it creates or updates its schema at every start and is a development image; use ${TEMPORAL_IMAGES.server} (a job keeps the schema)`,
    });
  }
  const serverImage = image ?? defaultTemporalImage(environment);
  const server = imageParts(serverImage);
  const tools = imageParts(
    typeof temporal.adminToolsImage === "string"
      ? temporal.adminToolsImage
      : TEMPORAL_IMAGES.adminTools,
  );
  // The release at the head of the tag: admin-tools also publishes longer tags of one release.
  const release = (tag: string) => /^\d+\.\d+\.\d+/.exec(tag)?.[0] ?? tag;
  if (!isAutoSetupImage(serverImage) && release(server.tag) !== release(tools.tag)) {
    problems.push({
      path: ["temporal", "adminToolsImage"],
      message: `must be the server's Temporal version (${server.tag || "untagged"}), not ${tools.tag || "untagged"}: the schema job applies its schema files, and the server refuses a schema older than its own`,
    });
  }
  return problems;
}

export function crossFieldProblems(
  raw: Record<string, unknown>,
  otherStacks: readonly OtherStack[],
): Problem[] {
  const problems: Problem[] = [...collisionProblems(raw, otherStacks)];
  if (raw.cloudflare !== undefined && raw.domain === undefined) {
    problems.push({
      path: ["domain"],
      message: "is required when platform:cloudflare is set: tenant hostnames live under it",
    });
  }
  const tenants = tenantProblems(raw);
  problems.push(...tenants.problems, ...devPortProblems(raw), ...temporalProblems(raw));
  const secrets = record(raw.secrets);
  if (secrets.postgresPasswordPrevious !== undefined && secrets.postgresPassword === undefined) {
    problems.push({
      path: ["secrets", "postgresPasswordPrevious"],
      message:
        "rotates the superuser's password to platform:secrets.postgresPassword, which is not set: set it to the new password",
    });
  }
  for (const id of Object.keys(record(secrets.tenants))) {
    if (!tenants.ids.has(id)) {
      problems.push({
        path: ["secrets", "tenants", id],
        message: "names no tenant in platform:tenants",
      });
    }
  }
  return problems;
}
