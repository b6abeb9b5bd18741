/**
 * Cross-field rules that a per-field schema cannot express, run once over the parsed config (its
 * defaults resolved) and what it is checked against: the stack's name, its last deploy and the
 * project's other stacks.
 */
import mailProviders from "email-providers/all.json";
import { stackEnvironmentProblem } from "../../components/runtime/environments";
import { imageParts } from "../../components/runtime/images";
import {
  DEV_PORT_LAST,
  devPortsOf,
  overlaps,
  parsePool,
  slotCount,
} from "../../components/runtime/network";
import {
  KUBE_TENANT_ID_MAX,
  RESERVED_SCOPES,
  stackNamespaceProblem,
  tenantNamespaceProblem,
} from "../../components/runtime/kubeSpecs";
import { isAutoSetupImage, tenantNamespace } from "../../components/data/temporalServer";
import { publicHostname } from "../../components/runtime/urls";
import {
  BACKUP_CONNECTION_LIMIT,
  connectionBudgetProblem,
} from "../../components/data/postgresServer";
import { TEMPORAL_CONNECTION_LIMIT } from "../../components/data/temporalServer";
import { moveProblem, recorded, unprovenReleases } from "../../components/app/releases";
import { continuityProblems, Placement, placeSlots, releasedTenants } from "./placement";
import { keyPath, Problem, valueAt } from "./errors";
import {
  DOCKER_ONLY,
  DOCKER_ONLY_TENANT_KEYS,
  KUBERNETES_ONLY,
  PlatformConfig,
  defaultTemporalImage,
  hostLabel,
  NAMESPACE,
  RawConfig,
  rawSchema,
  TEMPORAL_IMAGES,
} from "./schema";

/** Another stack of this project, as its committed `Pulumi.<stack>.yaml` declares it. */
export interface OtherStack {
  stack: string;
  /** Its `platform:*` values, keys without the namespace. */
  raw: Record<string, unknown>;
  /** Its `docker:host`; unset means the engine of the machine running Pulumi. */
  dockerHost?: string;
}

/** What config is checked against besides its own values. */
export interface ConfigSurroundings {
  /** The committed stack files of the project, except this stack's. @default none */
  otherStacks?: readonly OtherStack[];
  /** The stack's name, which binds its environment when it names one. @default not checked */
  stack?: string;
  /** The stack's `docker:host`. @default the local engine */
  dockerHost?: string;
  /** The top-level `platform:` keys Pulumi holds as secrets; errors never show their values. @default none */
  secretKeys?: readonly string[];
  /** What the stack's last deploy held (see stacks/config/placement.ts). @default none: a first deploy */
  previous?: Placement;
  /**
   * Paths of the values under `platform:secrets` the stack holds in plain text: in its stack
   * file, not `secure:`; or the whole key, where Pulumi does not hold it as a secret. @default none
   */
  plainTextSecrets?: readonly PropertyKey[][];
}

/** What of a stack the checks across stacks read: all but its secrets. */
type StackShape = Omit<RawConfig, "secrets">;

/**
 * Another stack's config, where it parses (its own checks report it where it does not). Its
 * secrets are left out: its file holds them encrypted, and no check across stacks reads them.
 */
interface ParsedStack extends OtherStack {
  config: StackShape;
}

const shapeSchema = rawSchema.omit({ secrets: true });

/** A receiver and its secret: each needs the other, so no alert goes nowhere unnoticed. */
function receiverProblems({ monitoring, secrets }: RawConfig): Problem[] {
  const problems: Problem[] = monitoring.receivers.flatMap((receiver, index) => {
    const needs = receiver.type !== "email" || receiver.username !== undefined;
    if (!needs || secrets.receivers[receiver.name] !== undefined) return [];
    return [
      {
        path: ["secrets", "receivers", receiver.name],
        message: `is required by platform:monitoring.receivers[${index}] (${receiver.type === "email" ? "its SMTP password" : "its URL"}): pulumi config set --secret --path 'platform:secrets.receivers.${receiver.name}' ...`,
      },
    ];
  });
  for (const name of Object.keys(secrets.receivers)) {
    if (!monitoring.receivers.some((r) => r.name === name))
      problems.push({
        path: ["secrets", "receivers", name],
        message: "names no receiver of platform:monitoring.receivers",
      });
  }
  return problems;
}

/**
 * Waves name each tenant once, and only tenants that run a release; each tenant's version is one
 * its data can take from where the last deploy left it (see `moveProblem`), and a pin chooses
 * among Dittofeed's images, not the operator's own builds.
 */
function releaseProblems(config: RawConfig, previous: Placement | undefined): Problem[] {
  const problems: Problem[] = [];
  const byId = new Map(config.tenants.map((t) => [t.id, t]));
  const waveOf = new Map<string, number>();
  config.release.waves.forEach((wave, w) =>
    wave.forEach((id, at) => {
      const path = ["release", "waves", w, at];
      const tenant = byId.get(id);
      const earlier = waveOf.get(id);
      if (tenant === undefined)
        problems.push({ path, message: `names no tenant of platform:tenants` });
      else if (earlier !== undefined)
        problems.push({ path, message: `repeats ${id}, already in wave ${earlier + 1}` });
      else if (tenant.offboarded)
        problems.push({ path, message: `names ${id}, which is offboarded: it runs no release` });
      waveOf.set(id, earlier ?? w);
    }),
  );
  const released = releasedTenants(config, previous);
  for (const u of unprovenReleases(released, config.release.waves)) {
    const listed = u.wave < config.release.waves.length;
    problems.push({
      path: listed ? ["release", "waves", u.wave] : ["release", "waves"],
      message: `${listed ? `wave ${u.wave + 1}` : "the last wave (the tenants no wave lists)"} moves ${u.tenants.join(", ")} up to ${u.release}, which no earlier wave runs or moves up to: it would move first, with no gate. Hold ${u.tenants.length === 1 ? "it" : "them"} too (a pin), or let an earlier wave move to ${u.release}`,
    });
  }
  if (config.release.waves.length > 0 && config.cloudflare === undefined) {
    problems.push({
      path: ["release", "waves"],
      message:
        "needs platform:cloudflare: a wave's gate watches each tenant's front, which only a stack behind the tunnel runs",
    });
  }
  const customImages = Object.values(config.dittofeed.images).some((ref) => ref !== undefined);
  // What the stack's version does to the tenants that follow it: one problem per reason.
  const followers = new Map<string, string[]>();
  released.forEach(({ id, version, offboarded, last }, index) => {
    const pinned = config.tenants[index].dittofeed.version !== undefined;
    const path = ["tenants", index, "dittofeed", "version"];
    if (pinned && customImages) {
      problems.push({
        path,
        message:
          "cannot choose a release while platform:dittofeed.images names your own builds: every tenant runs those",
      });
    }
    if (offboarded) return;
    const problem = moveProblem(recorded(last), version);
    if (problem === undefined) return;
    if (pinned) problems.push({ path, message: problem });
    else followers.set(problem, [...(followers.get(problem) ?? []), id]);
  });
  for (const [problem, ids] of followers) {
    problems.push({
      path: ["dittofeed", "version"],
      message: `for ${ids.length === 1 ? "tenant" : "tenants"} ${ids.join(", ")}: ${problem}`,
    });
  }
  return problems;
}

/** The public hostnames a config routes through a tunnel, to the tenant index that owns each. */
function routedHostnames(config: StackShape): Map<string, number> {
  const hosts = new Map<string, number>();
  const { domain } = config;
  if (config.cloudflare === undefined || domain === undefined) return hosts;
  config.tenants.forEach((tenant, index) =>
    hosts.set(publicHostname(hostLabel(tenant), domain), index),
  );
  return hosts;
}

/** Where a tenant's hostname comes from: its `hostname`, or its id. */
const hostKey = (tenant: { hostname?: string }) =>
  tenant.hostname === undefined ? "id" : "hostname";

/**
 * Two stacks routing one hostname would fight over its DNS record and Access application: each
 * `pulumi up` would take them from the other. Only committed stacks can be checked.
 */
function collisionProblems(config: RawConfig, others: readonly ParsedStack[]): Problem[] {
  const ours = routedHostnames(config);
  return others.flatMap((other) => {
    const theirs = routedHostnames(other.config);
    return [...ours]
      .filter(([host]) => theirs.has(host))
      .map(([host, index]) => ({
        path: ["tenants", index, hostKey(config.tenants[index])],
        message: `${host} is also routed by stack ${other.stack} (Pulumi.${other.stack}.yaml): both would claim its DNS record and Access application; give one of them another hostname`,
      }));
  });
}

/**
 * Public mail providers that email-providers 2.27.0 lacks: Fastmail, Tuta, DuckDuckGo's
 * forwarding, GMX Switzerland, Posteo, Zoho Mail, StartMail, Disroot, Riseup. A test fails once
 * the package lists one of them, so this stays what the maintained list does not cover.
 */
export const MISSING_UPSTREAM = [
  "disroot.org",
  "gmx.ch",
  "duck.com",
  "fastmail.com",
  "keemail.me",
  "posteo.de",
  "posteo.net",
  "riseup.net",
  "startmail.com",
  "tuta.com",
  "tuta.io",
  "tutamail.com",
  "tutanota.com",
  "tutanota.de",
  "zohomail.com",
  "zohomail.eu",
] as const;

/**
 * Mail providers where anyone can open an address: allowing such a domain through Access lets
 * everyone in, and an exposed tenant's every request is an admin's (anonymous auth). The list is
 * derhuerst/email-providers' `all.json` (8,760 domains, country variants included, republished
 * monthly), with {@link MISSING_UPSTREAM}.
 */
const PUBLIC_EMAIL_DOMAINS: ReadonlySet<string> = new Set([...mailProviders, ...MISSING_UPSTREAM]);

type Tenant = RawConfig["tenants"][number];

function publicDomainProblems(tenant: Tenant, index: number): Problem[] {
  if (tenant.allowPublicEmailDomains) return [];
  return tenant.accessEmailDomains.flatMap((domain, at) =>
    PUBLIC_EMAIL_DOMAINS.has(domain)
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

function tenantProblems(config: RawConfig): Problem[] {
  const problems: Problem[] = [];
  const seenIds = new Map<string, number>();
  const seenHosts = new Map<string, number>();
  config.tenants.forEach((tenant, index) => {
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
        path: ["tenants", index, hostKey(tenant)],
        message: `hostname ${JSON.stringify(host)} is already used by tenants[${firstHost}]`,
      });
    } else seenHosts.set(host, index);
    if (
      config.cloudflare !== undefined &&
      !tenant.offboarded &&
      tenant.accessEmails.length + tenant.accessEmailDomains.length === 0
    ) {
      problems.push({
        path: ["tenants", index, "accessEmails"],
        message:
          "must list who may sign in (accessEmails or accessEmailDomains): the tenant is exposed through the tunnel and Dittofeed's open-source images have no login of their own",
      });
    }
  });
  return problems;
}

/** The tenants' slots, by index, and why any cannot be given (see `placeSlots`). */
function slotsOf(config: StackShape, previous: Placement | undefined) {
  const placed = placeSlots(config.tenants, slotCount(parsePool(config.network.pool)), previous);
  const problems: Problem[] = placed.problems.map((p) => ({
    path: ["tenants", p.index, p.key],
    message: p.message,
  }));
  return { slots: placed.slots, problems };
}

/**
 * What the last deploy held binds this one: a production tenant is not dropped without being
 * offboarded, and a removed id is not given to a new tenant (see `continuityProblems`).
 */
function previousProblems(config: RawConfig, previous: Placement | undefined): Problem[] {
  // Offboarding is Docker's: on Kubernetes a tenant is removed after its data is exported by hand.
  const keepsUnlessOffboarded =
    config.environment === "production" && config.runtime !== "kubernetes";
  return continuityProblems(config.tenants, previous, keepsUnlessOffboarded).map((p) => ({
    path: p.index === undefined ? ["tenants"] : ["tenants", p.index, "id"],
    message: p.message,
  }));
}

/** A loopback port the stack publishes on its Docker host, and the key that decides it. */
interface PublishedPort {
  port: number;
  path: PropertyKey[];
  /** Derived from a tenant's slot, not set in config. */
  derived: boolean;
}

/**
 * Every loopback port the stack publishes: Postgres's admin port, Prometheus's and
 * Alertmanager's with monitoring, and, in dev, the tenants'.
 */
function publishedPorts(config: StackShape, previous: Placement | undefined): PublishedPort[] {
  const ports: PublishedPort[] = [
    { port: config.postgres.adminPort, path: ["postgres", "adminPort"], derived: false },
  ];
  if (config.monitoring.enabled) {
    for (const service of ["prometheus", "alertmanager"] as const) {
      const { port } = config.monitoring[service];
      ports.push({ port, path: ["monitoring", service, "port"], derived: false });
    }
  }
  if (config.environment !== "dev") return ports;
  const { slots } = slotsOf(config, previous);
  config.tenants.forEach((tenant, index) => {
    const slot = slots[index];
    for (const service of ["api", "dashboard"] as const) {
      if (tenant.devPorts !== undefined) {
        ports.push({
          port: tenant.devPorts[service],
          path: ["tenants", index, "devPorts", service],
          derived: false,
        });
      } else if (slot !== undefined) {
        ports.push({
          port: devPortsOf(slot)[service],
          path: ["tenants", index, tenant.slot === undefined ? "id" : "slot"],
          derived: true,
        });
      }
    }
  });
  return ports;
}

/** In dev, every published loopback port (tenants' and Postgres's admin port) is taken once. */
function devPortProblems(config: RawConfig, previous: Placement | undefined): Problem[] {
  const problems: Problem[] = [];
  const seen = new Map<number, PublishedPort>();
  for (const entry of publishedPorts(config, previous)) {
    if (entry.derived && entry.port > DEV_PORT_LAST) {
      problems.push({
        path: entry.path,
        message: `derives dev port ${entry.port} from its slot, beyond ${DEV_PORT_LAST} (Linux's ephemeral ports start above it): set its devPorts, or use a smaller platform:network.pool`,
      });
      continue;
    }
    const first = seen.get(entry.port);
    if (first === undefined) {
      seen.set(entry.port, entry);
    } else if (!(first.derived && entry.derived)) {
      // Two derived ports meet only where two slots do, which slotProblems reports.
      problems.push({
        path: entry.path,
        message: `port ${entry.port} is already taken by ${keyPath(first.path)}`,
      });
    }
  }
  return problems;
}

/** Whether two stacks' containers run on one Docker engine: the same `docker:host`, or none. */
function sameHost(ours: string | undefined, theirs: string | undefined): boolean {
  return (ours ?? "local") === (theirs ?? "local");
}

/**
 * Stacks on one Docker host share its loopback ports and its address space: a second stack
 * publishing the same port fails to start its container, or worse, takes over the first's once it
 * stops; overlapping subnets make Docker refuse the network.
 */
function hostProblems(
  config: RawConfig,
  others: readonly ParsedStack[],
  surroundings: ConfigSurroundings,
): Problem[] {
  // A Kubernetes stack publishes nothing on a Docker host.
  if (config.runtime === "kubernetes") return [];
  const where = surroundings.dockerHost ?? "this machine's Docker engine";
  const problems: Problem[] = [];
  const ours = publishedPorts(config, surroundings.previous);
  const ourPool = parsePool(config.network.pool);
  for (const other of others) {
    if (
      other.config.runtime === "kubernetes" ||
      !sameHost(surroundings.dockerHost, other.dockerHost)
    )
      continue;
    const theirs = publishedPorts(other.config, undefined);
    for (const { port, path } of ours) {
      const their = theirs.find((entry) => entry.port === port);
      if (their === undefined) continue;
      problems.push({
        path,
        message: `port ${port} on ${where} is also published by stack ${other.stack} (Pulumi.${other.stack}.yaml, ${keyPath(their.path)}): choose another`,
      });
    }
    if (overlaps(ourPool, parsePool(other.config.network.pool))) {
      problems.push({
        path: ["network", "pool"],
        message: `overlaps ${other.config.network.pool}, the pool of stack ${other.stack} on ${where} (Pulumi.${other.stack}.yaml): Docker refuses overlapping subnets; give each stack on a host its own pool`,
      });
    }
  }
  return problems;
}

/**
 * Temporal's images: staging and production do not run auto-setup, which changes its schema at
 * every start; and the admin-tools image, whose schema files the schema job applies, is the
 * server's version (the server refuses to start on an older schema: temporal v1.22.4,
 * common/persistence/schema/version.go).
 */
function temporalProblems(config: RawConfig): Problem[] {
  const { image, adminToolsImage } = config.temporal;
  const { environment } = config;
  const problems: Problem[] = [];
  if (image !== undefined && environment !== "dev" && isAutoSetupImage(image)) {
    problems.push({
      path: ["temporal", "image"],
      message: `must not be auto-setup in ${environment}: it creates or updates its schema at every start and is a development image; use ${TEMPORAL_IMAGES.server} (a job keeps the schema)`,
    });
  }
  const serverImage = image ?? defaultTemporalImage(environment);
  const server = imageParts(serverImage);
  const tools = imageParts(adminToolsImage);
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

/**
 * The Postgres admin endpoint carries the superuser's password. Over loopback (an SSH forward to
 * a remote host) nobody else sees it; anywhere else it must be TLS that checks the server's
 * certificate, or anyone on the path takes the password.
 */
function adminEndpointProblems({ postgres }: RawConfig): Problem[] {
  if (isLoopback(postgres.adminHost)) return [];
  if (postgres.adminSslMode === "verify-ca" || postgres.adminSslMode === "verify-full") return [];
  return [
    {
      path: ["postgres", "adminHost"],
      message:
        "is not loopback, so the superuser's password would cross a network: reach the admin port through an SSH forward (ssh -L 15432:127.0.0.1:15432 host) and keep 127.0.0.1, or declare a TLS endpoint with platform:postgres.adminSslMode verify-full (and adminSslRootCert)",
    },
  ];
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127(?:\.\d{1,3}){3}$/.test(host);
}

/**
 * Names that are not a tenant's to take: DNS labels a zone usually holds already (a tenant `www`
 * would take over the site's record), and words the platform uses for itself.
 */
export const RESERVED_HOSTNAMES = [
  "autoconfig",
  "autodiscover",
  "ftp",
  "imap",
  "localhost",
  "mail",
  "mx",
  "ns1",
  "ns2",
  "pop",
  "pop3",
  "smtp",
  "webmail",
  "www",
] as const;

function reservedProblems(config: RawConfig): Problem[] {
  return config.tenants.flatMap((tenant, index) =>
    (["id", "hostname"] as const)
      .filter((key) =>
        (RESERVED_HOSTNAMES as readonly (string | undefined)[]).includes(tenant[key]),
      )
      .map((key) => ({
        path: ["tenants", index, key],
        message: `is reserved: a zone usually holds ${tenant[key]}.<domain> already, and a tenant there would take over its DNS record`,
      })),
  );
}

/**
 * Backups leave the host only encrypted, to a key whose private half is not on the host, and
 * staging and production always back up: there they need that key. R2 is Cloudflare's.
 */
function backupProblems({ backup, runtime, environment, cloudflare }: RawConfig): Problem[] {
  const problems: Problem[] = [];
  if (runtime !== "kubernetes" && environment !== "dev" && backup.publicKey === undefined) {
    problems.push({
      path: ["backup", "publicKey"],
      message: `is required in ${environment}: every backup is encrypted to this OpenPGP public key before it is written. Create a key pair where restores happen (gpg --quick-generate-key 'Backups <ops@example.com>' ed25519 cert never, then gpg --quick-add-key <fingerprint> cv25519 encr never) and set the output of gpg --export --armor <fingerprint> here; the private half never goes on the host`,
    });
  }
  if (backup.r2 !== undefined && cloudflare === undefined) {
    problems.push({
      path: ["backup", "r2"],
      message: "needs platform:cloudflare: the bucket and its token are created in that account",
    });
  }
  return problems;
}

/**
 * A retired id stays retired: its ClickHouse database, Temporal namespace and (in production) its
 * Postgres database may still exist, and a new tenant under that id would inherit them. Every
 * tenant's Temporal namespace must be its own.
 */
function retiredProblems(config: RawConfig): Problem[] {
  const retired = new Set(config.retiredTenants);
  // Each namespace with the tenant that has it first (a duplicate id is reported as such).
  const namespaces = new Map<string, { index: number; id: string }>();
  const problems: Problem[] = [];
  config.tenants.forEach((tenant, index) => {
    if (retired.has(tenant.id)) {
      problems.push({
        path: ["tenants", index, "id"],
        message: `is retired (platform:retiredTenants): a tenant removed under this id may have left its ClickHouse database, Temporal namespace and Postgres database behind, which a new tenant would inherit; choose another id`,
      });
    }
    const namespace = tenantNamespace(tenant.id, tenant.namespaceGeneration);
    const first = namespaces.get(namespace);
    if (first === undefined) namespaces.set(namespace, { index, id: tenant.id });
    else if (first.id !== tenant.id) {
      problems.push({
        path: ["tenants", index, "namespaceGeneration"],
        message: `gives Temporal namespace ${JSON.stringify(namespace)}, which is tenants[${first.index}]'s`,
      });
    }
  });
  return problems;
}

/**
 * A secret in plain text sits in the stack file, and so in git. Registry addresses and user names
 * are the only values under `platform:secrets` that are not secret.
 */
function plainTextSecretProblems({ plainTextSecrets = [] }: ConfigSurroundings): Problem[] {
  return plainTextSecrets
    .filter(([, group, , field]) => group !== "registries" || field === "password")
    .map((path) => ({
      path,
      message: `is in plain text: set it with pulumi config set --secret --path '${NAMESPACE}:${keyPath(path)}' <value> (a plain value in a stack file goes to git: rotate it if it was ever committed)`,
    }));
}

/**
 * A stack runs on one runtime: keys the other runtime reads are refused rather than ignored, and
 * what the Kubernetes runtime needs (names that fit a namespace, data kept where it is backed
 * up in production) is checked before anything is registered.
 */
function runtimeProblems(
  config: RawConfig,
  raw: Record<string, unknown>,
  stack: string | undefined,
): Problem[] {
  const problems: Problem[] = [];
  // Presence, not value: a key set to its default is refused all the same.
  const isSet = (path: readonly PropertyKey[]) => valueAt(raw, path) !== undefined;
  if (config.runtime !== "kubernetes") {
    for (const path of KUBERNETES_ONLY.filter(isSet)) {
      problems.push({
        path,
        message:
          path.length === 1
            ? "is for platform:runtime kubernetes; this stack runs on docker"
            : "is supported on platform:runtime kubernetes only so far: on Docker the platform runs the service, and its gateways and egress guard would not let tenants reach another",
      });
    }
    return problems;
  }
  for (const { path, why } of DOCKER_ONLY) {
    if (isSet(path))
      problems.push({
        path,
        message: `is Docker's and is refused on platform:runtime kubernetes: ${why}`,
      });
  }
  config.tenants.forEach((tenant, index) => {
    for (const [key, message] of Object.entries(DOCKER_ONLY_TENANT_KEYS)) {
      if (isSet(["tenants", index, key])) problems.push({ path: ["tenants", index, key], message });
    }
    if (tenant.id.length > KUBE_TENANT_ID_MAX) {
      problems.push({
        path: ["tenants", index, "id"],
        message: `must be at most ${KUBE_TENANT_ID_MAX} characters on Kubernetes: a Job's name, <id>-database-owner-check with the provider's 9-character suffix, becomes a label of its pods, which holds at most 63`,
      });
    } else if ((RESERVED_SCOPES as readonly string[]).includes(tenant.id)) {
      problems.push({
        path: ["tenants", index, "id"],
        message: `must not be ${RESERVED_SCOPES.join(" or ")} on Kubernetes: the stack's own namespaces are <stack>-data and <stack>-edge`,
      });
    } else if (stack !== undefined) {
      const problem = tenantNamespaceProblem(stack, tenant.id);
      if (problem) problems.push({ path: ["tenants", index, "id"], message: problem });
    }
  });
  const stackProblem = stack === undefined ? undefined : stackNamespaceProblem(stack);
  if (stackProblem) problems.push({ path: ["runtime"], message: stackProblem });
  for (const [service, secret] of [
    ["postgres", "postgresPassword"],
    ["clickhouse", "clickhousePassword"],
  ] as const) {
    const external = config[service].external;
    if (config.environment === "production" && external === undefined) {
      problems.push({
        path: [service, "external"],
        message:
          "is required in production on Kubernetes: the platform's backups run on Docker only so far, so production data lives in a managed service that backs it up (a managed Postgres with point-in-time recovery, ClickHouse Cloud)",
      });
    }
    if (external !== undefined && config.secrets[secret] === undefined) {
      problems.push({
        path: ["secrets", secret],
        message: `is required with platform:${service}.external: it is the password of the managed service's admin user (pulumi config set --secret --path platform:secrets.${secret} ...)`,
      });
    }
  }
  return problems;
}

/**
 * Every problem of a config that its schema accepted, checked against its surroundings; `raw`
 * only says which keys were set at all (a key another runtime reads is refused even at its
 * default).
 */
export function crossFieldProblems(
  config: RawConfig,
  raw: Record<string, unknown>,
  surroundings: ConfigSurroundings = {},
): Problem[] {
  const others: ParsedStack[] = (surroundings.otherStacks ?? []).flatMap((other) => {
    const shape = Object.fromEntries(
      Object.entries(other.raw).filter(([key]) => key !== "secrets"),
    );
    const parsed = shapeSchema.safeParse(shape);
    return parsed.success ? [{ ...other, config: parsed.data }] : [];
  });
  const problems: Problem[] = [...collisionProblems(config, others)];
  const environmentProblem =
    surroundings.stack === undefined
      ? undefined
      : stackEnvironmentProblem(surroundings.stack, config.environment);
  if (environmentProblem) problems.push({ path: ["environment"], message: environmentProblem });
  problems.push(
    ...reservedProblems(config),
    ...slotsOf(config, surroundings.previous).problems,
    ...previousProblems(config, surroundings.previous),
    ...releaseProblems(config, surroundings.previous),
    ...hostProblems(config, others, surroundings),
    ...adminEndpointProblems(config),
    ...backupProblems(config),
    ...retiredProblems(config),
    ...runtimeProblems(config, raw, surroundings.stack),
    ...plainTextSecretProblems(surroundings),
    ...receiverProblems(config),
  );
  if (config.cloudflare !== undefined && config.domain === undefined) {
    problems.push({
      path: ["domain"],
      message: "is required when platform:cloudflare is set: tenant hostnames live under it",
    });
  }
  problems.push(
    ...tenantProblems(config),
    ...devPortProblems(config, surroundings.previous),
    ...temporalProblems(config),
  );
  const { secrets } = config;
  if (secrets.postgresPasswordPrevious !== undefined && secrets.postgresPassword === undefined) {
    problems.push({
      path: ["secrets", "postgresPasswordPrevious"],
      message:
        "rotates the superuser's password to platform:secrets.postgresPassword, which is not set: set it to the new password",
    });
  }
  const ids = new Set(config.tenants.map((tenant) => tenant.id));
  for (const id of Object.keys(secrets.tenants)) {
    if (!ids.has(id)) {
      problems.push({
        path: ["secrets", "tenants", id],
        message: "names no tenant in platform:tenants",
      });
    }
  }
  return problems;
}

/**
 * The platform's own Postgres must hold every login role's limit at once: tenants that may log
 * in, Temporal's pools and the backups, with room for the superuser. A managed server's
 * `max_connections` is its provider's: not checked.
 */
export function connectionProblems(config: PlatformConfig): Problem[] {
  if (config.postgres.external) return [];
  const problem = connectionBudgetProblem(
    {
      tenants: config.tenants
        .filter((tenant) => !tenant.offboarded)
        .map((tenant) => ({ id: tenant.id, limit: tenant.postgresConnectionLimit })),
      temporal: TEMPORAL_CONNECTION_LIMIT,
      backup: config.backup.publicKey === undefined ? 0 : BACKUP_CONNECTION_LIMIT,
    },
    config.postgres.maxConnections,
  );
  return problem ? [{ path: ["postgres", "maxConnections"], message: problem }] : [];
}
