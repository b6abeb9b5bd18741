/**
 * docs/configuration.md, the configuration reference, generated from the config
 * schema (keys, types, bounds, defaults, which are required) and the rules (which runtime alone
 * reads a key); the meaning of each key is below. A test fails when the page is stale, when a key
 * has no meaning here, or when a meaning names no key.
 */
import { z } from "zod";
import { DOCKER_ONLY, DOCKER_ONLY_TENANT_KEYS, KUBERNETES_ONLY } from "../../stacks/config/rules";
import { rawSchema } from "../../stacks/config/schema";

/** What each key means, by its path (`tenants[].id`); a group's meaning covers its keys. */
export const MEANINGS: Record<string, string> = {
  environment:
    "dev publishes app ports on loopback; production retains and protects data. A stack whose name says an environment must be that one: a word of the name (split at `-`, `_`, `.`; trailing digits aside) among `dev`/`development`/`local`, `staging`/`stage`/`stg`/`preprod`/`uat`, `production`/`prod`/`prd`, as in `acme-production` or `prod2`",
  domain: "the Cloudflare zone tenants live under; required with `cloudflare`",
  cloudflare: "32-hex ids; absent means no tunnel, nothing of Cloudflare is registered",
  "cloudflare.teamName":
    "Zero Trust team name; set, cloudflared also checks each tenant's Access token",
  cloudflared: "the tunnel connector; runs only with `cloudflare`",
  "network.pool":
    "each tenant's network is a /27 of it (its slot). Refused: overlap with Docker's own default pools (172.17.0.0–172.31.255.255, 192.168.0.0/16) or with another committed stack's pool on the same `docker:host`",
  egress:
    "the egress guard: host firewall rules that keep tenants off private addresses (see Isolation); `guard: false` only where the host's firewall already does it",
  gateway:
    "each tenant's gateway and fronts (HAProxy relaying fixed ports between the tenant's own network and the data network), the JWKS Temporal verifies tokens with, and on Kubernetes each tenant's `temporal-proxy` (see Isolation)",
  hostMemoryMb:
    "the Docker host's memory; the policy pack warns when container limits add up to more, counting twice those a release runs beside their successors (api, dashboard, front, gateway, connector)",
  hostSwapLimit:
    "whether the Docker host's kernel accounts swap. With `true` each container's swap limit equals its memory: no swap. Set `false` only where `docker info` warns \"No swap limit support\": Docker then stores a swap limit of -1 whatever it is asked, so containers ask for -1 and refresh shows no change. On a host that does account swap, -1 means unlimited swap: `false` there lets a container over its memory limit swap instead of being stopped",
  "dittofeed.version": "tag of the api, dashboard, worker and admin-cli images; v0.23.0 or later",
  "dittofeed.images": "your own builds; must pin a tag of at least major.minor or a digest",
  "dittofeed.logLevel": "Dittofeed's `LOG_LEVEL`",
  "dittofeed.workerCheckSeconds":
    "how long each worker has, after it starts, to poll its task queue before `pulumi up` fails",
  "postgres.memoryMb": "container memory limit",
  "postgres.maxConnections":
    "the server's `max_connections`; every login role's limit must fit it (see `postgresConnectionLimit`). Changing it restarts Postgres. Not checked against a managed server (`external`)",
  "postgres.adminPort":
    "published on the Docker host's `127.0.0.1`; give each stack on a host its own",
  "postgres.adminHost":
    "where the machine running Pulumi reaches `adminPort`; anything but loopback needs `adminSslMode` `verify-ca`/`verify-full`",
  "postgres.adminSslMode":
    "TLS of the provider's admin connection; over loopback (an SSH forward) none is needed",
  "postgres.adminSslRootCert": "the CA that verifies a TLS admin endpoint",
  redis: "Redis's `maxmemory` is 3/4 of the limit, `noeviction`",
  temporal:
    "auto-setup (a development image: it changes its schema at every start) is refused outside dev",
  "temporal.adminToolsImage":
    "beside a server image: its job sets up and upgrades Temporal's schema; must be the server's version",
  "temporal.namespaceRetentionDays":
    "how long Temporal keeps each tenant's closed workflows (tctl's own default)",
  "backup.publicKey":
    "every backup file is encrypted to it on the host; set, the stack runs the backup service (see [Backups](backups.md#backups-and-recovery)). A private key is refused",
  backup:
    "the backup service: every `intervalHours` a set of every database, encrypted to `publicKey` on the host, kept `retentionDays` on the backup volume (the newest of each kind always stays); `rcloneImage`'s static binary uploads to R2; `memoryMb` limits the service and its one-shot sets (see [Backups](backups.md))",
  monitoring:
    "Prometheus, Alertmanager and node_exporter on the data network, with the platform's alert rules; their UIs on the host's loopback `port`s, reached through an SSH forward; `retentionDays` of metrics, a scrape and a rule evaluation every `scrapeSeconds` (see [Monitoring](monitoring.md))",
  "monitoring.errorRatio":
    "the share of a tenant's api or dashboard responses that may be 5xx (over 5 minutes, ten requests at least) before `TenantErrorRatio` fires",
  "monitoring.latencySeconds":
    "the average response time (of a front's last 1024 requests) over which `TenantLatencyHigh` fires",
  "monitoring.receivers":
    "where alerts go: `webhook`, `slack` (with `channel`) or `email` (`to`, `from`, `smarthost`, `username`); each gets every alert of `minSeverity` or above. The URL (webhook, Slack) or SMTP password of each is `platform:secrets.receivers.<name>`. None: alerts show in Alertmanager's UI only",
  "backup.r2":
    "copy every set to this R2 bucket (created, protected in production) with a token that can write only there; `retentionDays` (default `90`) is the bucket's lifecycle rule. Needs `cloudflare`",
  runtime:
    "where the stack runs: one Docker host (`docker:host`), or a Kubernetes cluster (`kubernetes:kubeconfig`, `kubernetes:context`; see [Kubernetes](kubernetes.md#kubernetes)). On `kubernetes`, the Docker-only keys are refused rather than ignored: `network`, `egress`, `monitoring`, `hostMemoryMb`, `hostSwapLimit`, `backup`, `secrets.registries`, `secrets.postgresPasswordPrevious`, `dittofeed.workerCheckSeconds`, a tenant's `slot`, `cpus` and `offboarded`; on `docker`, `platform:kubernetes` and the `external` keys are refused",
  "kubernetes.storageClass": "the class of the data services' volume claims",
  "kubernetes.storageGb":
    "each data service's volume claim, set when it is created (see [Kubernetes](kubernetes.md#kubernetes) to grow one)",
  "kubernetes.connectorReplicas": "cloudflared pods; one serves while another rolls or moves",
  "kubernetes.allowedCidrs":
    "private ranges tenants may reach besides the internet (a managed database on the cluster's VPC); every other private, link-local and metadata address stays closed",
  "kubernetes.blockedCidrs":
    "public ranges of the cluster itself that tenants and the connector must not reach: an IPv6 cluster's pod, Service and node ranges, which are global addresses",
  "postgres.external":
    "Kubernetes only: a managed Postgres 15+ instead of the platform's: `port` `5432`, `user` `postgres` (an admin that may create roles and databases). Always TLS with `verify-full` against public CAs (see [Kubernetes](kubernetes.md#kubernetes)). Its password is `platform:secrets.postgresPassword` (required). Required in production on Kubernetes",
  "clickhouse.external":
    "Kubernetes only: ClickHouse Cloud (or any ClickHouse over TLS) instead of the platform's: `8443`, `9440`, `default`. Its password is `platform:secrets.clickhousePassword` (required). Required in production on Kubernetes",
  retiredTenants:
    "ids of removed tenants, never given to a new one: their data may still exist (see [Offboarding](tenants.md#offboarding-a-tenant))",
  "tenants[].id":
    "slug: 1 to 40 lowercase letters, digits, hyphens; starts with a letter. Names everything of the tenant (`dittofeed_<id>` in Postgres and ClickHouse, Temporal namespace `<id>`). Never rename: it is the tenant's identity. Refused: `default`, `temporal-system` (Temporal's) and names a zone holds already (`www`, `mail`, ...: `RESERVED_HOSTNAMES` in `stacks/config/rules.ts`)",
  "tenants[].workspaceName": "the Dittofeed workspace the bootstrap creates or keeps",
  "tenants[].hostname":
    "ONE DNS label under `domain` (`acme` gives `acme.example.com`). `api.north` is refused: Cloudflare's Universal SSL covers one level of subdomain only, so use `api-north`",
  "tenants[].accessEmails":
    "who may sign in through Cloudflare Access; an exposed tenant needs this or `accessEmailDomains`",
  "tenants[].accessEmailDomains": "whole email domains that may sign in",
  "tenants[].allowPublicEmailDomains":
    "`accessEmailDomains` refuses public mail providers (`gmail.com`, `hotmail.co.uk`, ...: the email-providers package's list, country variants included, and the privacy providers it lacks, `MISSING_UPSTREAM` in `stacks/config/rules.ts`): anyone can open an address there. Set `true` only if you truly mean everyone",
  "tenants[].workerReplicas": "number of worker containers (1 to 16)",
  "tenants[].postgresConnectionLimit":
    "connections the tenant's Postgres role may hold at once (Dittofeed opens a pool of up to 10 per process: api, dashboard, each worker, and a job; on Kubernetes also the api and dashboard pods a rollout starts beside the old ones). Every tenant's, Temporal's (77), the backups' (8) and 39 for the superuser must fit `postgres.maxConnections`: config refuses the stack otherwise, with the numbers",
  "tenants[].cpus":
    "the most CPUs each of its api, dashboard and worker containers may use (0.25 to 8, in quarters), so that no tenant starves the host; Docker only (Kubernetes requests CPU and shares it)",
  "tenants[].memoryMb": "per-container memory limits",
  "tenants[].slot":
    "the tenant's place in `network.pool`: its network is the slot's /27, and in dev its ports follow from it. A deployed tenant keeps its slot (the stack reads its own last `placement` output), so adding, removing or reordering tenants moves no one; a new tenant whose hash is taken gets the next free slot, with no hand work. Set it only to choose one; one another tenant holds is refused",
  "tenants[].devPorts": "loopback ports in `dev`",
  "tenants[].offboarded":
    "`true`: the first step of removing the tenant (see [Offboarding](tenants.md#offboarding-a-tenant)): its apps stop, a final export is taken, its Postgres role and ClickHouse user are locked, its Temporal namespace is deprecated. `false` again brings it back",
  "tenants[].namespaceGeneration":
    "its Temporal namespace is `<id>`, then `<id>-gen<n>`: raise it when bringing back an offboarded tenant, since Temporal never takes a deprecated namespace back",
  "postgres.image":
    "the PostgreSQL 15 image; a new major over the old data directory is refused by a check before the server is replaced",
  clickhouse: "ClickHouse; its system logs keep 7 days (see [Upgrades](upgrades.md))",
  "tenants[]": "each tenant of the stack (at least one)",
  secrets:
    "secrets, each set with `pulumi config set --secret --path 'platform:secrets.<key>' <value>`; a plain-text value is refused. Anything not set is generated and kept in state (see [Secrets](secrets.md))",
  "secrets.postgresPassword":
    "the Postgres superuser's password (at least 16 characters); rotating it needs `postgresPasswordPrevious` (see [Secrets](secrets.md))",
  "secrets.postgresPasswordPrevious":
    "the superuser's old password, only while rotating `postgresPassword`",
  "secrets.temporalPassword": "Temporal's Postgres role's password",
  "secrets.redisPassword": "Redis's `default` user's password",
  "secrets.clickhousePassword":
    "ClickHouse's admin user's password; required with `clickhouse.external`",
  "secrets.receivers":
    "each alert receiver's webhook or Slack URL, or SMTP password, by the receiver's name; no single quote or control characters",
  "secrets.registries":
    "private registries, passed to the Docker provider's `registryAuth` (no `docker login` on the host); `address` and `username` may be plain text",
  "secrets.tenants":
    "per tenant id: `databasePassword` (its Postgres role), `secretKey` (Dittofeed's `SECRET_KEY`, base64 of 32 bytes), `adminPassword` (`PASSWORD`); useful when migrating an existing deployment",
};

interface JsonSchema {
  type?: string;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  required?: string[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
}

/** One key of the reference. */
export interface KeyRow {
  path: string;
  type: string;
  default: string;
  required: boolean;
  runtime: "" | "Docker" | "Kubernetes";
}

function typeOf(s: JsonSchema): string {
  if (s.enum) return s.enum.map((v) => `\`${String(v)}\``).join(" | ");
  if (s.type === "array") return `list of ${s.items ? typeOf(s.items) : "values"}`;
  const bounds =
    s.minimum !== undefined && s.maximum !== undefined
      ? ` ${s.minimum}–${s.maximum}`
      : s.minimum !== undefined
        ? ` ≥ ${s.minimum}`
        : "";
  return `${s.type ?? "value"}${bounds}`;
}

const RUNTIME_ONLY: Record<string, KeyRow["runtime"]> = Object.fromEntries([
  ...DOCKER_ONLY.map((d) => [d.path.join("."), "Docker"] as const),
  ...Object.keys(DOCKER_ONLY_TENANT_KEYS).map((key) => [`tenants[].${key}`, "Docker"] as const),
  ...KUBERNETES_ONLY.map((p) => [p.join("."), "Kubernetes"] as const),
]);

/** Every key the schema accepts, leaves only, in the schema's order. */
export function keyRows(): KeyRow[] {
  const root = z.toJSONSchema(rawSchema, { io: "input", unrepresentable: "any" }) as JsonSchema;
  const rows: KeyRow[] = [];
  const runtimeOf = (p: string) =>
    ancestors(p)
      .map((at) => RUNTIME_ONLY[at])
      .find(Boolean) ?? "";
  const walk = (s: JsonSchema, p: string, required: boolean) => {
    const nested = s.type === "array" && s.items?.properties ? s.items : undefined;
    if (s.type === "object" && s.properties) {
      for (const [key, child] of Object.entries(s.properties))
        walk(child, p ? `${p}.${key}` : key, required && (s.required ?? []).includes(key));
      return;
    }
    if (s.type === "object" && typeof s.additionalProperties === "object") {
      walk(s.additionalProperties, `${p}.<id>`, false);
      return;
    }
    if (nested) {
      walk(nested, `${p}[]`, required);
      return;
    }
    rows.push({
      path: p,
      type: typeOf(s),
      default: s.default === undefined ? "" : `\`${JSON.stringify(s.default)}\``,
      required,
      runtime: runtimeOf(p),
    });
  };
  walk(root, "", true);
  return rows;
}

/** `key` and the groups above it, nearest first: `tenants[].memoryMb.api`, `tenants[].memoryMb`, `tenants[]`, `tenants`. */
export function ancestors(key: string): string[] {
  const parts = key.split(".");
  return parts.flatMap((_, i) => {
    const at = parts.slice(0, parts.length - i).join(".");
    return at.endsWith("[]") ? [at, at.slice(0, -2)] : [at];
  });
}

/** The meaning of `key`: its own, else the nearest group's above it. */
export function meaningOf(key: string): string | undefined {
  return ancestors(key)
    .map((at) => MEANINGS[at])
    .find((meaning) => meaning !== undefined);
}

const cell = (text: string) => text.replace(/\|/g, "\\|").replace(/\n/g, " ");

/** docs/configuration.md, before formatting. */
export function configReference(): string {
  const rows = keyRows();
  const sections = [...new Set(rows.map((r) => r.path.split(/[.[]/)[0]))];
  return [
    "# Configuration reference",
    "",
    "<!-- Generated by `npm run docs` from stacks/config/schema.ts and stacks/config/rules.ts; edit those, or the",
    "meanings in tools/docs/config.ts, then run it again. A test fails when this page is stale. -->",
    "",
    "Every key lives in the `platform:` namespace of a stack's config and is validated before",
    "anything is registered; every problem is reported at once with its key. A value is shown only",
    "when it is a short lowercase name; anything else, which may be a secret typed under the wrong",
    "key, is described by its length, a secret's as `[secret]` and an unknown key's as `(not shown)`.",
    "Unknown keys are errors, so a typo never falls back to a default. A key one runtime alone reads",
    "is refused on the other. Besides these, the providers' own keys: `docker:host` (and",
    "`docker:sshOpts`), `kubernetes:kubeconfig` and `kubernetes:context`, `cloudflare:apiToken`.",
    "",
    ...sections.flatMap((section) => [
      `## \`platform:${section}\``,
      "",
      "| key | type | default | runtime | meaning |",
      "| --- | --- | --- | --- | --- |",
      ...rows
        .filter((r) => r.path.split(/[.[]/)[0] === section)
        .map(
          (r) =>
            `| \`${r.path}\` | ${cell(r.type)} | ${r.required ? "required" : cell(r.default)} | ${r.runtime} | ${cell(meaningOf(r.path) ?? "")} |`,
        ),
      "",
    ]),
  ].join("\n");
}
