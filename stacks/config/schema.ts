/**
 * The shape of a stack's `platform:*` config: every operator-facing key, its validation and its
 * default. Defaults an operator may want to change live here and nowhere else.
 */
import { z } from "zod";
import { ENVIRONMENTS } from "../../components/runtime/environments";
import { imagePinProblem } from "../../components/runtime/images";
import { METRICS_PORTS } from "../../components/monitoring/prometheus";
import { DEFAULT_NETWORK_POOL, poolProblem } from "../../components/runtime/network";
import { DEFAULT_MAX_CONNECTIONS } from "../../components/data/postgresServer";
import { RESERVED_NAMESPACES } from "../../components/data/temporalServer";
import { cidrProblem } from "../../components/runtime/kubeSpecs";

/** The config namespace of this project: every key below is `platform:<key>`. */
export const NAMESPACE = "platform";

/** Dittofeed's current stable release; operators bump it through `platform:dittofeed.version`. */
export const DEFAULT_DITTOFEED_VERSION = "v0.23.0";

export const DEFAULT_ADMIN_PORT = 15432;
/** Where Prometheus and Alertmanager are published on the host's loopback by default: their own ports. */
export const DEFAULT_MONITORING_PORTS = {
  prometheus: METRICS_PORTS.prometheus,
  alertmanager: METRICS_PORTS.alertmanager,
} as const;

/**
 * rclone's official image: only its static binary is used, copied beside the backup service's
 * tools (rclone/rclone, Dockerfile: built with CGO_ENABLED=0 into /usr/local/bin/rclone).
 */
export const RCLONE_IMAGE = "rclone/rclone:1.71.2";

/**
 * An official image with `sh` and both iptables backends, for the egress guard
 * (docker-library/docker, dind/Dockerfile; only its shell and iptables are used).
 */
export const EGRESS_GUARD_IMAGE = "docker:29.7.2-dind";

/**
 * Temporal's images, one version. `auto-setup` creates or updates its schema at every start and
 * is documented upstream as a development image; staging and production run `server`, with the
 * schema kept by a job in `admin-tools` (which ships temporal-sql-tool and the schema files).
 */
export const TEMPORAL_IMAGES = {
  autoSetup: "temporalio/auto-setup:1.22.4",
  server: "temporalio/server:1.22.4",
  adminTools: "temporalio/admin-tools:1.22.4",
} as const;

/** The Temporal image of an environment when config names none. */
export function defaultTemporalImage(environment: string): string {
  return environment === "dev" ? TEMPORAL_IMAGES.autoSetup : TEMPORAL_IMAGES.server;
}
const SLUG = /^[a-z](?:[a-z0-9-]{0,38}[a-z0-9])?$/;
/** A Dittofeed release tag, as its images are tagged. */
const releaseVersion = z
  .string()
  .regex(/^v?\d+\.\d+\.\d+(?:[-.][0-9A-Za-z.-]+)?$/, "must be a release tag such as v0.23.0");
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const DOMAIN = /^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const CLOUDFLARE_ID = /^[0-9a-f]{32}$/;

/**
 * An `xn--` label must be valid punycode, or no URL parser takes a hostname made of it (WHATWG
 * URL, which browsers and Node share, refuses `xn--a`).
 */
function urlRefusesLabel(label: string): boolean {
  try {
    new URL(`https://${label}.example.com/`);
    return false;
  } catch {
    return true;
  }
}
const INVALID_IDN_MESSAGE =
  "is not a valid internationalised label (xn--...): no browser or URL parser accepts a hostname made of it";

const slug = z
  .string()
  .regex(
    SLUG,
    "must be a slug: 1 to 40 lowercase letters, digits and hyphens, starting with a letter and not ending with a hyphen",
  )
  .refine((value) => !urlRefusesLabel(value), INVALID_IDN_MESSAGE);

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
  } else if (urlRefusesLabel(value)) {
    ctx.addIssue({ code: "custom", message: INVALID_IDN_MESSAGE });
  }
});

/** An image reference that pins what it runs (see `imagePinProblem`). */
const imageRef = z.string().superRefine((value, ctx) => {
  const problem = imagePinProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

const port = z.number().int().min(1).max(65535);
const pool = z.string().superRefine((value, ctx) => {
  const problem = poolProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});
const memoryMb = (defaultMb: number) => z.number().int().min(64).max(262144).default(defaultMb);
/**
 * A secret an operator types. Each one must reach every consumer exactly as typed, so each kind
 * refuses what one of its consumers would change or cut (the value never appears in the error).
 */
const secretString = z
  .string()
  .min(16, "must be at least 16 characters")
  .regex(
    /^[^\p{Cc}]*$/u,
    "must not contain control characters: a NUL cannot be passed in a Docker environment variable, and Postgres's initdb reads its password up to the first newline",
  );

/**
 * The password of a role the postgresql provider creates: it writes `PASSWORD '<value>'` with `\`
 * doubled (terraform-provider-postgresql v1.27.0, `pqQuoteLiteral` in postgresql/helpers.go),
 * while the server reads standard strings, so a backslash would be stored twice and the password
 * as given would never authenticate.
 */
const rolePassword = secretString.refine(
  (value) => !value.includes("\\"),
  "must not contain a backslash: the postgresql provider doubles it in CREATE/ALTER ROLE, so the role would get a different password",
);

/**
 * Temporal's role password also goes into Temporal's YAML config inside double quotes, unescaped
 * (temporalio/temporal v1.22.4, docker/config_template.yaml: `password: "{{ default .Env.POSTGRES_PWD "" }}"`).
 */
const temporalPassword = rolePassword.refine(
  (value) => !value.includes('"'),
  'must not contain a double quote ("): Temporal writes it unescaped inside double quotes in its YAML config',
);

/** ClickHouse's entrypoint writes the password inside a CDATA section of users.d XML. */
const clickhousePassword = secretString.refine(
  (value) => !value.includes("]]>"),
  "must not contain ]]>: ClickHouse's entrypoint writes the password inside an XML CDATA section, which ]]> would end",
);

/**
 * Dittofeed's `SECRET_KEY`: base64 of exactly 32 bytes, an AES-256-GCM key (dittofeed v0.23.0,
 * packages/backend-lib/src/secrets.ts throws "Invalid secret key length" otherwise). Canonical
 * base64 only: Node decodes sloppy base64 without complaint, into some other key.
 */
const secretKey = z.string().refine((value) => {
  const bytes = Buffer.from(value, "base64");
  return bytes.length === 32 && bytes.toString("base64") === value;
}, "must be base64 of exactly 32 random bytes (44 characters ending in =, e.g. from `openssl rand -base64 32`): Dittofeed uses it as an AES-256-GCM key");

/**
 * An OpenPGP public key, ASCII-armored (`gpg --export --armor <key>`): backups are encrypted to
 * it on the host, and only whoever holds its private half can read them. A private key here would
 * put that half on the host and in the stack's config, so it is refused.
 */
const openPgpPublicKey = z.string().superRefine((value, ctx) => {
  if (/-----BEGIN PGP PRIVATE KEY BLOCK-----/.test(value)) {
    ctx.addIssue({
      code: "custom",
      message:
        "is a PRIVATE key: only the public half belongs in config and on the host (gpg --export --armor <key>); keep the private half off the host, with the people who restore",
    });
  } else if (
    !/^\s*-----BEGIN PGP PUBLIC KEY BLOCK-----\r?\n[\s\S]+\r?\n-----END PGP PUBLIC KEY BLOCK-----\s*$/.test(
      value,
    )
  ) {
    ctx.addIssue({
      code: "custom",
      message:
        "must be an ASCII-armored OpenPGP public key (-----BEGIN PGP PUBLIC KEY BLOCK----- ... -----END PGP PUBLIC KEY BLOCK-----), as gpg --export --armor <key> prints it",
    });
  }
});

/** An R2 bucket name (Cloudflare: 3 to 63 lowercase letters, digits and hyphens). */
const bucketName = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/,
    "must be an R2 bucket name: 3 to 63 lowercase letters, digits and hyphens, not starting or ending with a hyphen",
  );

const days = (defaultDays: number) => z.number().int().min(1).max(3650).default(defaultDays);

/** A hostname a client connects to: a DNS name, or an IPv4 address. */
const hostName = z
  .string()
  .regex(
    /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/,
    "must be a lowercase hostname such as db.example.com",
  );

/** An IPv4 or IPv6 CIDR block. */
const cidr = z.string().superRefine((value, ctx) => {
  const problem = cidrProblem(value);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/**
 * The monitoring stack's images, at the versions Debian bookworm ships, which the suite checks
 * the rendered configs and rules with (prometheus 2.42, prometheus-alertmanager 0.25,
 * prometheus-node-exporter 1.5).
 */
export const MONITORING_IMAGES = {
  prometheus: "prom/prometheus:v2.42.0",
  alertmanager: "prom/alertmanager:v0.25.0",
  nodeExporter: "prom/node-exporter:v1.5.0",
} as const;

/**
 * A value Alertmanager's config holds inside single quotes, on one line: a receiver's secret, an
 * SMTP username (see components/monitoring/prometheus.ts `alertmanagerConfig`).
 */
const quotable = z
  .string()
  .min(1)
  .regex(/^[^'\p{Cc}]+$/u, "must not contain a single quote or control characters");

const receiverName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,39}$/, "must be a slug: lowercase letters, digits and hyphens")
  .refine((name) => name !== "none", "must not be none: Alertmanager's catch-all has that name");
const minSeverity = z.enum(["warning", "critical"]).default("warning");

/** Where alerts go; each one's URL or password is in `secrets.receivers.<name>`. */
const receiverSchema = z.discriminatedUnion("type", [
  z.object({ name: receiverName, type: z.literal("webhook"), minSeverity }).strict(),
  z
    .object({
      name: receiverName,
      type: z.literal("slack"),
      channel: z.string().regex(/^[#@]?[a-z0-9._-]{1,80}$/, "must be a Slack channel such as #ops"),
      minSeverity,
    })
    .strict(),
  z
    .object({
      name: receiverName,
      type: z.literal("email"),
      to: z.email("must be an email address"),
      from: z.email("must be an email address"),
      smarthost: z
        .string()
        .regex(
          /^[a-z0-9.-]+:\d{1,5}$/,
          "must be host:port of an SMTP server, such as smtp.example.com:587",
        ),
      username: quotable.optional(),
      minSeverity,
    })
    .strict(),
]);

/** The runtimes a stack can run on: one Docker host, or a Kubernetes cluster. */
export const RUNTIMES = ["docker", "kubernetes"] as const;

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
    id: slug.refine(
      (id) => !(RESERVED_NAMESPACES as readonly string[]).includes(id),
      `must not be ${RESERVED_NAMESPACES.join(" or ")}: a tenant's id names its Temporal namespace, and Temporal keeps those for itself`,
    ),
    workspaceName: z
      .string()
      .trim()
      .min(1, "must not be empty")
      .max(100)
      .regex(/^[^\p{Cc}]+$/u, "must not contain control characters"),
    hostname: hostnameLabel.optional(),
    accessEmails: z.array(z.email("must be an email address")).default([]),
    accessEmailDomains: z.array(domain).default([]),
    allowPublicEmailDomains: z.boolean().default(false),
    workerReplicas: z.number().int().min(1).max(16).default(1),
    cpus: z.number().min(0.25).max(8).multipleOf(0.25, "must be a multiple of 0.25").default(1),
    postgresConnectionLimit: z.number().int().min(1).max(10000).optional(),
    slot: z.number().int().min(0).optional(),
    memoryMb: z
      .object({ api: memoryMb(512), dashboard: memoryMb(384), worker: memoryMb(768) })
      .strict()
      .prefault({}),
    devPorts: z.object({ api: port, dashboard: port }).strict().optional(),
    offboarded: z.boolean().default(false),
    namespaceGeneration: z.number().int().min(1).max(99).default(1),
    dittofeed: z.object({ version: releaseVersion.optional() }).strict().prefault({}),
  })
  .strict();

const tenantSecretsSchema = z
  .object({
    databasePassword: rolePassword.optional(),
    secretKey: secretKey.optional(),
    adminPassword: secretString.optional(),
  })
  .strict();

const secretsSchema = z
  .object({
    postgresPassword: secretString.optional(),
    postgresPasswordPrevious: secretString.optional(),
    temporalPassword: temporalPassword.optional(),
    redisPassword: secretString.optional(),
    clickhousePassword: clickhousePassword.optional(),
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
    /** Each alert receiver's webhook URL, or its SMTP password: `monitoring.receivers`. */
    receivers: z.record(z.string(), quotable).default({}),
  })
  .strict()
  .prefault({});

export const rawSchema = z
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
        version: releaseVersion.default(DEFAULT_DITTOFEED_VERSION),
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
        workerCheckSeconds: z.number().int().min(30).max(3600).default(300),
      })
      .strict()
      .prefault({}),
    tenants: z.array(tenantSchema).min(1, "must list at least one tenant"),
    release: z
      .object({
        waves: z.array(z.array(slug).min(1, "must list at least one tenant")).default([]),
        soakMinutes: z.number().int().min(1).max(1440).default(10),
      })
      .strict()
      .prefault({}),
    runtime: z
      .enum(RUNTIMES, { message: `must be one of ${RUNTIMES.join(", ")}` })
      .default("docker"),
    kubernetes: z
      .object({
        storageClass: z.string().min(1).optional(),
        storageGb: z
          .object({
            postgres: z.number().int().min(1).default(20),
            clickhouse: z.number().int().min(1).default(50),
            redis: z.number().int().min(1).default(2),
          })
          .strict()
          .prefault({}),
        connectorReplicas: z
          .number()
          .int()
          .min(2, "must be at least 2: one connector pod must serve while another rolls or moves")
          .max(10)
          .default(2),
        allowedCidrs: z.array(cidr).default([]),
        blockedCidrs: z.array(cidr).default([]),
      })
      .strict()
      .prefault({}),
    postgres: z
      .object({
        image: imageRef.default("postgres:15.13"),
        memoryMb: memoryMb(1024),
        adminPort: port.default(DEFAULT_ADMIN_PORT),
        adminHost: z.string().min(1).default("127.0.0.1"),
        adminSslMode: z.enum(["disable", "verify-ca", "verify-full"]).default("disable"),
        adminSslRootCert: z.string().min(1).optional(),
        maxConnections: z.number().int().min(50).max(10000).default(DEFAULT_MAX_CONNECTIONS),
        external: z
          .object({
            host: hostName,
            port: port.default(5432),
            user: z.string().min(1).default("postgres"),
          })
          .strict()
          .optional(),
      })
      .strict()
      .prefault({}),
    redis: serviceSchema("redis:7.4.2-alpine", 256).prefault({}),
    clickhouse: z
      .object({
        image: imageRef.default("clickhouse/clickhouse-server:24.12.6.70-alpine"),
        memoryMb: memoryMb(2048),
        external: z
          .object({
            host: hostName,
            httpsPort: port.default(8443),
            nativePort: port.default(9440),
            user: z.string().min(1).default("default"),
          })
          .strict()
          .optional(),
      })
      .strict()
      .prefault({}),
    temporal: z
      .object({
        // The default depends on the environment: see `temporalImage`.
        image: imageRef.optional(),
        adminToolsImage: imageRef.default(TEMPORAL_IMAGES.adminTools),
        memoryMb: memoryMb(768),
        namespaceRetentionDays: z.number().int().min(1).max(3650).default(3),
      })
      .strict()
      .prefault({}),
    cloudflared: serviceSchema("cloudflare/cloudflared:2025.10.0", 128).prefault({}),
    // HAProxy 2.6, the version Debian bookworm ships, which the tests run the gateway's config on.
    gateway: serviceSchema("haproxy:2.6-alpine", 64).prefault({}),
    egress: z
      .object({
        guard: z.boolean().default(true),
        image: imageRef.default(EGRESS_GUARD_IMAGE),
        memoryMb: memoryMb(64),
      })
      .strict()
      .prefault({}),
    network: z
      .object({ pool: pool.default(DEFAULT_NETWORK_POOL) })
      .strict()
      .prefault({}),
    backup: z
      .object({
        intervalHours: z.number().int().min(1).max(168).default(24),
        retentionDays: days(14),
        publicKey: openPgpPublicKey.optional(),
        r2: z
          .object({ bucket: bucketName, retentionDays: days(90) })
          .strict()
          .optional(),
        rcloneImage: imageRef.default(RCLONE_IMAGE),
        memoryMb: memoryMb(512),
      })
      .strict()
      .prefault({}),
    monitoring: z
      .object({
        enabled: z.boolean().default(false),
        prometheus: z
          .object({
            image: imageRef.default(MONITORING_IMAGES.prometheus),
            memoryMb: memoryMb(512),
            retentionDays: days(15),
            port: port.default(DEFAULT_MONITORING_PORTS.prometheus),
          })
          .strict()
          .prefault({}),
        alertmanager: z
          .object({
            image: imageRef.default(MONITORING_IMAGES.alertmanager),
            memoryMb: memoryMb(64),
            port: port.default(DEFAULT_MONITORING_PORTS.alertmanager),
          })
          .strict()
          .prefault({}),
        nodeExporter: serviceSchema(MONITORING_IMAGES.nodeExporter, 64).prefault({}),
        scrapeSeconds: z.number().int().min(5).max(300).default(30),
        errorRatio: z.number().gt(0).lt(1).default(0.05),
        latencySeconds: z.number().gt(0).max(600).default(2),
        receivers: z
          .array(receiverSchema)
          .default([])
          .superRefine((receivers, ctx) => {
            const seen = new Set<string>();
            receivers.forEach(({ name }, index) => {
              if (seen.has(name))
                ctx.addIssue({ code: "custom", path: [index, "name"], message: "is used twice" });
              seen.add(name);
            });
          }),
      })
      .strict()
      .prefault({}),
    retiredTenants: z.array(slug).default([]),
    hostMemoryMb: z.number().int().min(512).optional(),
    hostSwapLimit: z.boolean().default(true),
    secrets: secretsSchema,
  })
  .strict();

/** Config as the schema parses it: every value checked, every plain default resolved. */
export type RawConfig = z.infer<typeof rawSchema>;
type RawTenant = z.infer<typeof tenantSchema>;

/** One tenant after validation, with every default resolved. */
export interface TenantConfig extends Omit<
  RawTenant,
  "hostname" | "devPorts" | "slot" | "postgresConnectionLimit"
> {
  /** Connections its Postgres role may hold at once; defaults to a full pool per process. */
  postgresConnectionLimit: number;
  /** The DNS label of the tenant under `domain`; defaults to its id. */
  hostname: string;
  /** Its place in `network.pool` (see stacks/config/placement.ts): its own, the last deploy's, or a free one. */
  slot: number;
  /** Its network's subnet, the slot's /27 of `network.pool`. */
  subnet: string;
  /** Loopback ports of api and dashboard; used only in `dev`. */
  devPorts: { api: number; dashboard: number };
  /** Whether the tenant is reached through the Cloudflare tunnel (every tenant not offboarded, when it is set). */
  exposed: boolean;
}

export interface PlatformConfig extends Omit<RawConfig, "tenants" | "temporal"> {
  tenants: TenantConfig[];
  temporal: RawConfig["temporal"] & { image: string };
}

/** The keys this program reads, in the order docs/configuration.md documents them. */
export const CONFIG_KEYS = Object.keys(rawSchema.shape) as (keyof RawConfig)[];

/** A tenant's DNS label under the domain: its `hostname`, or its id when that is not set. */
export function hostLabel(tenant: { id: string; hostname?: string }): string {
  return tenant.hostname ?? tenant.id;
}

/** Keys that configure what only the Docker runtime has, with what says so. */
export const DOCKER_ONLY: readonly { path: (string | number)[]; why: string }[] = [
  {
    path: ["egress"],
    why: "the egress guard is Docker's host firewall; on Kubernetes each tenant's NetworkPolicy keeps it off private ranges",
  },
  {
    path: ["network"],
    why: "the address pool is Docker's; Kubernetes gives pods its own addresses",
  },
  {
    path: ["monitoring"],
    why: "the platform runs Prometheus and Alertmanager on Docker only so far; on Kubernetes point the cluster's Prometheus at the rules of docs/monitoring.md",
  },
  {
    path: ["hostMemoryMb"],
    why: "it sizes one Docker host; on Kubernetes the scheduler places pods and ResourceQuota bounds each tenant",
  },
  {
    path: ["hostSwapLimit"],
    why: "it says what one Docker host's kernel accounts; on Kubernetes the kubelet manages swap",
  },
  {
    path: ["backup"],
    why: "the backup service runs on Docker only so far; on Kubernetes keep data in managed services (platform:postgres.external, platform:clickhouse.external) with their own backups",
  },
  {
    path: ["secrets", "registries"],
    why: "registry credentials configure the Docker provider; on Kubernetes give the cluster's nodes or service accounts access to private registries",
  },
  {
    path: ["secrets", "postgresPasswordPrevious"],
    why: "the superuser rotation job runs on Docker only so far",
  },
  {
    path: ["dittofeed", "workerCheckSeconds"],
    why: "the worker check runs on Docker only so far; on Kubernetes a worker is ready once it reaches Temporal",
  },
  {
    path: ["release"],
    why: "a wave's gate reads the front and worker checks of a Docker release; a Kubernetes Deployment rolls in place with neither",
  },
];

/** A tenant's keys that only the Docker runtime reads, with what the Kubernetes runtime says. */
export const DOCKER_ONLY_TENANT_KEYS = {
  slot: "is Docker's (a place in the address pool) and is refused on platform:runtime kubernetes",
  cpus: "is Docker's (a cap on each container) and is refused on platform:runtime kubernetes, where each pod requests CPU and the scheduler shares it",
  offboarded:
    "is refused on platform:runtime kubernetes: offboarding runs on Docker only so far; remove the tenant from the stack instead, after exporting what you keep",
} as const;

/** Keys that only the Kubernetes runtime reads: a Docker stack refuses them. */
export const KUBERNETES_ONLY = [
  ["kubernetes"],
  ["postgres", "external"],
  ["clickhouse", "external"],
];

/**
 * What each key means, by its path (`tenants[].id`); a group's meaning covers its keys. The
 * configuration reference is generated from these and the schema above (`npm run docs`); a test
 * fails when a key has no meaning here, or a meaning names no key.
 */
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
  "dittofeed.version":
    "tag of the api, dashboard, worker and admin-cli images of every tenant not pinned (`tenants[].dittofeed.version`); v0.23.0 or later. Refused where it would take a tenant below a release whose upgrade steps already moved its data, or past a mandatory stop",
  "dittofeed.images": "your own builds; must pin a tag of at least major.minor or a digest",
  "dittofeed.logLevel": "Dittofeed's `LOG_LEVEL`",
  "dittofeed.workerCheckSeconds":
    "how long each worker has, after it starts, to poll its task queue before `pulumi up` fails",
  release:
    "how a version bump moves the stack's tenants (see [Releases in waves](upgrades.md#releases-in-waves))",
  "release.waves":
    "lists of tenant ids, moved in that order, each wave only once the one before it is deployed and has stayed healthy for `soakMinutes`; tenants no wave lists move last. A change that moves no tenant's version waits for nothing. Needs `platform:cloudflare`: the gate watches each tenant's front",
  "release.soakMinutes":
    "how long every tenant of a wave must stay healthy (its front serving its new release and, with monitoring, its workers polling and no alert of its own firing or pending) before the next wave starts",
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
  runtime: `where the stack runs: one Docker host (\`docker:host\`), or a Kubernetes cluster (\`kubernetes:kubeconfig\`, \`kubernetes:context\`; see [Kubernetes](kubernetes.md#kubernetes)). On \`kubernetes\`, the Docker-only keys are refused rather than ignored: ${DOCKER_ONLY.map((key) => `\`${key.path.join(".")}\``).join(", ")}, and a tenant's ${Object.keys(
    DOCKER_ONLY_TENANT_KEYS,
  )
    .map((key) => `\`${key}\``)
    .join(", ")}; on \`docker\`, \`platform:kubernetes\` and the \`external\` keys are refused`,
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
  "tenants[].dittofeed": "the tenant's own Dittofeed release, when it must not follow the stack's",
  "tenants[].dittofeed.version":
    "holds the tenant at this release while `dittofeed.version` moves on (a tenant that must wait, or a canary that goes first). Refused with `dittofeed.images`, below v0.23.0, below a release whose upgrade steps already moved its data, and past a mandatory stop it has not run (v0.20.0)",
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
