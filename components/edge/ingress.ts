/**
 * The Cloudflare edge as plain data: the tunnel's ingress document, how cloudflared picks a rule
 * for a request, the connector token, and Access include lists. Nothing here talks to Cloudflare.
 */
import { retryScript } from "../runtime/retry";

/** The serving roles behind a tenant's hostname. */
export type ServingRole = "api" | "dashboard";

/** A path under a tenant's hostname that the internet reaches without signing in. */
export interface PublicPath {
  /** The path prefix, as Access destinations take it (`<host><prefix>`). */
  prefix: string;
  /** Who serves it. */
  role: ServingRole;
  /** The ingress rule's regular expression (RE2, as cloudflared compiles it). */
  pattern: string;
  /** A request a browser really makes there, which must reach this rule. */
  witness: string;
}

/**
 * One path segment that is not `.` or `..` (nor any dot-file): a public rule sends requests to
 * the origin without an Access check, so `/dashboard/_next/static/../../journeys` must not match
 * it even where nothing normalised the path first. RE2 has no lookahead: the first character
 * excludes the dot.
 */
const SEGMENT = "/[^/.][^/]*";

/**
 * What Dittofeed v0.23.0 serves to people who never sign in (github.com/dittofeed/dittofeed, tag
 * v0.23.0):
 * - `/api/public/*`: SDKs and websites send events with write keys; email providers' webhooks
 *   (packages/api/src/buildApp/router.ts). The unsubscribe page's browser code also PUTs
 *   `/api/public/subscription-management/user-subscriptions`
 *   (packages/dashboard/src/lib/useUpdateSubscriptionsMutation.ts).
 * - `/dashboard/public/subscription-management?...`: where every unsubscribe link in an email
 *   points (`DASHBOARD_URL` + `/dashboard` + the page, packages/backend-lib/src/subscriptionGroups.ts).
 *   The page renders on the server (getServerSideProps), so a direct load needs no
 *   `/dashboard/_next/data/*`, which carries admin pages' props and stays behind Access.
 * - `/dashboard/_next/static/*`: the page's scripts and styles (Next.js basePath `/dashboard`,
 *   packages/dashboard/next.config.js): build output, the same for every visitor.
 */
export const PUBLIC_PATHS: readonly PublicPath[] = [
  {
    prefix: "/api/public",
    role: "api",
    pattern: `^/api/public(?:${SEGMENT})*/?$`,
    witness: "/api/public/apps/track",
  },
  {
    prefix: "/dashboard/public/subscription-management",
    role: "dashboard",
    pattern: "^/dashboard/public/subscription-management/?$",
    witness: "/dashboard/public/subscription-management",
  },
  {
    prefix: "/dashboard/_next/static",
    role: "dashboard",
    pattern: `^/dashboard/_next/static(?:${SEGMENT})+$`,
    witness: "/dashboard/_next/static/chunks/main.js",
  },
];

/** Everything else under `/api` is the admin API the dashboard calls. */
export const API_PATH = "/api";
/** The rule that answers every request no tenant rule claims. */
export const CATCH_ALL_SERVICE = "http_status:404";

/** Cloudflared checks the Access JWT on requests for this rule and refuses those without one. */
export interface OriginAccess<Aud> {
  required: true;
  /** The Zero Trust team name, `<teamName>.cloudflareaccess.com`. */
  teamName: string;
  /** The audience tags of the Access applications allowed through this rule. */
  audTags: Aud[];
}

/** One rule of a tunnel's ingress document. Cloudflared takes the first rule that matches. */
export interface IngressRule<Aud = string, Service = string> {
  /** Exact hostname; absent on the catch-all. */
  hostname?: string;
  /** Regular expression matched against the decoded request path; absent means every path. */
  path?: string;
  /** `http://<network alias>:<port>`, or `http_status:<code>`. */
  service: Service;
  originRequest?: { access: OriginAccess<Aud> };
}

/** One tenant's public hostname and the containers behind it. */
export interface TenantRoute<Aud = string> {
  tenantId: string;
  /** The full hostname, e.g. `acme.example.com`. */
  hostname: string;
  /** The tenant's api, by network alias, e.g. `http://acme-api:3001`. */
  apiService: string;
  /** The tenant's dashboard, by network alias, e.g. `http://acme-dashboard:3000`. */
  dashboardService: string;
  /** The audience tag of the tenant's host-wide Access application (needed with `teamName`). */
  audTag?: Aud;
}

/** `^/api(/.*)?$`: the prefix itself and everything under it, but not `/apix`. */
export function pathPattern(prefix: string): string {
  return `^${prefix.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}(/.*)?$`;
}

/** A request as cloudflared sees it when it picks a rule. */
export interface Request {
  hostname: string;
  /** Percent-decoded, as Go's `URL.Path`. */
  path: string;
}

export function requestOf(url: string): Request {
  const parsed = new URL(url);
  return { hostname: parsed.hostname, path: decodeURIComponent(parsed.pathname) };
}

/** The index of the rule cloudflared applies: the first whose hostname and path both match. */
export function matchRule(rules: readonly IngressRule<unknown>[], request: Request): number {
  return rules.findIndex(
    (rule) =>
      (rule.hostname === undefined || rule.hostname.toLowerCase() === request.hostname) &&
      (rule.path === undefined || new RegExp(rule.path).test(request.path)),
  );
}

interface PrefixRule<Aud> {
  rule: IngressRule<Aud>;
  /** The request every other rule must leave to this one. */
  witness: Request;
}

function describeRule(rule: IngressRule<unknown>): string {
  return `${rule.hostname ?? "*"}${rule.path === undefined ? "" : ` ${rule.path}`} -> ${rule.service}`;
}

/** Thrown when the ingress document would send some request to the wrong rule. */
export class IngressError extends Error {
  constructor(message: string) {
    super(`Tunnel ingress: ${message}`);
    this.name = "IngressError";
  }
}

/**
 * Per tenant, most specific first: the public paths (no Access check at the origin: Access lets
 * them through without a token), the rest of `/api`, then the whole host to the dashboard. With
 * `teamName`, cloudflared itself refuses requests without the tenant's Access token on the last
 * two, so a missing or mistyped Access application cannot open a tenant.
 */
function tenantRules<Aud>(route: TenantRoute<Aud>, teamName?: string): PrefixRule<Aud>[] {
  if (teamName !== undefined && route.audTag === undefined) {
    throw new IngressError(`tenant ${route.tenantId} has no Access audience tag to check`);
  }
  // Without a team name the rules carry no originRequest key at all, not an undefined one.
  const access: Pick<IngressRule<Aud>, "originRequest"> = teamName === undefined
    ? {}
    : { originRequest: { access: { required: true, teamName, audTags: [route.audTag as Aud] } } };
  const host = route.hostname;
  const serviceOf = (role: ServingRole) =>
    role === "api" ? route.apiService : route.dashboardService;
  return [
    ...PUBLIC_PATHS.map(({ pattern, role, witness }) => ({
      rule: { hostname: host, path: pattern, service: serviceOf(role) },
      witness: { hostname: host, path: witness },
    })),
    {
      rule: {
        hostname: host,
        path: pathPattern(API_PATH),
        service: route.apiService,
        ...access,
      },
      witness: { hostname: host, path: API_PATH },
    },
    {
      rule: { hostname: host, service: route.dashboardService, ...access },
      witness: { hostname: host, path: "/" },
    },
  ];
}

/**
 * The whole ingress document of the stack's tunnel, from every tenant: one document, because the
 * API replaces it whole. Tenants are ordered by hostname so that reordering the config changes
 * nothing. Refuses a document in which any rule is unreachable, i.e. an earlier rule claims the
 * very request it was written for (two tenants on one hostname, say): that tenant would be
 * served another tenant's containers.
 */
export function ingressRules<Aud>(
  routes: readonly TenantRoute<Aud>[],
  teamName?: string,
): IngressRule<Aud>[] {
  const ordered = [...routes].sort((a, b) => a.hostname.localeCompare(b.hostname));
  const prefixRules: PrefixRule<Aud>[] = [
    ...ordered.flatMap((route) => tenantRules(route, teamName)),
    {
      rule: { service: CATCH_ALL_SERVICE },
      witness: { hostname: "unrouted.invalid", path: "/" },
    },
  ];
  const rules = prefixRules.map((p) => p.rule);
  prefixRules.forEach(({ rule, witness }, index) => {
    const taken = matchRule(rules, witness);
    if (taken !== index) {
      throw new IngressError(
        `rule ${index} (${describeRule(rule)}) is unreachable: rule ${taken} (${describeRule(rules[taken])}) matches ${witness.hostname}${witness.path} first`,
      );
    }
  });
  return rules;
}

/**
 * The same document with each audience tag replaced, e.g. a tenant id by that tenant's Access
 * application's tag once it exists: the document is built and checked once, before any resource.
 */
export function withAudiences<From, To, Service>(
  rules: readonly IngressRule<From, Service>[],
  audience: (tag: From) => To,
): IngressRule<To, Service>[] {
  return rules.map(({ originRequest, ...rule }) =>
    originRequest === undefined
      ? rule
      : {
          ...rule,
          originRequest: {
            access: {
              ...originRequest.access,
              audTags: originRequest.access.audTags.map(audience),
            },
          },
        },
  );
}

/**
 * The same document with each tenant service replaced, e.g. the placeholder `appUrl` of a
 * tenant's role by the address of the front of the release being deployed; the catch-all's
 * status service stays as it is.
 */
export function withServices<Aud, To>(
  rules: readonly IngressRule<Aud>[],
  service: (placeholder: string) => To,
): IngressRule<Aud, To | string>[] {
  return rules.map((rule) =>
    rule.service === CATCH_ALL_SERVICE ? rule : { ...rule, service: service(rule.service) },
  );
}

/**
 * The connector token cloudflared runs with: base64 of `{"a": account, "t": tunnel, "s": secret}`.
 * Deriving it from the secret the program generated needs no API call that hands the token back.
 */
export function tunnelToken(accountId: string, tunnelId: string, tunnelSecret: string): string {
  return Buffer.from(JSON.stringify({ a: accountId, t: tunnelId, s: tunnelSecret })).toString(
    "base64",
  );
}

export type AccessInclude = { email: { email: string } } | { emailDomain: { domain: string } };

/**
 * Who may pass a tenant's Access application: its listed people and email domains. Sorted and
 * without repeats, so reordering the config does not change the policy.
 */
export function accessIncludes(emails: readonly string[], domains: readonly string[]) {
  const unique = (values: readonly string[]) => [...new Set(values)].sort();
  return [
    ...unique(emails).map((email): AccessInclude => ({ email: { email } })),
    ...unique(domains).map((domain): AccessInclude => ({ emailDomain: { domain } })),
  ];
}

/**
 * A shell script (busybox `sh`, `timeout`, `wget` and `grep`) that succeeds once the connector's
 * current configuration, as its metrics server serves it at `/config`
 * (`{"version": n, "config": {"ingress": [{"service": "http://..."}, ...]}}`, cloudflare/cloudflared
 * 2025.10.0 orchestration/orchestrator.go `GetVersionedConfigJSON`), routes to every one of
 * `services`: the API took the new document, and the edge has pushed it to this connector.
 */
export function routesAppliedScript(
  configUrl: string,
  services: readonly string[],
  attempts = 60,
  intervalSeconds = 2,
): string {
  for (const value of [configUrl, ...services]) {
    if (!/^http:\/\/[A-Za-z0-9.-]+:\d+(\/[A-Za-z0-9/_-]*)?$/.test(value)) {
      throw new Error(`Routes check: ${JSON.stringify(value)} is not a plain http URL`);
    }
  }
  const routed = [...new Set(services)].map(
    (service) => `echo "$body" | grep -qF '"service":"${service}"'`,
  );
  return retryScript({
    condition: [`body=$(timeout 5 wget -q -O - ${configUrl})`, ...routed].join(" && "),
    success: "cloudflared routes to the new services",
    failure: `cloudflared did not route to every new service within ${attempts * intervalSeconds} s: $body`,
    attempts,
    intervalSeconds,
  });
}
