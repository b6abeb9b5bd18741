import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  accessIncludes,
  CATCH_ALL_SERVICE,
  IngressError,
  ingressRules,
  matchRule,
  PUBLIC_PATHS,
  requestOf,
  TenantRoute,
  tunnelToken,
} from "../components/edge/ingress";
import { tenantRoute } from "../stacks/sites";
import { accessDestinationFor, routeRequest } from "./harness";

const acme = tenantRoute("example.com", { id: "acme", hostname: "acme" });
const globex = tenantRoute("example.com", { id: "globex", hostname: "globex-staging" });

describe("ingress rules under first-match semantics", () => {
  const rules = ingressRules([acme, globex]);

  test("each request reaches exactly the service it should", () => {
    const expectations: [string, string][] = [
      ["https://acme.example.com/", "http://acme-dashboard:3000"],
      ["https://acme.example.com/dashboard/journeys", "http://acme-dashboard:3000"],
      ["https://acme.example.com/api", "http://acme-api:3001"],
      ["https://acme.example.com/api/", "http://acme-api:3001"],
      ["https://acme.example.com/api/admin/segments", "http://acme-api:3001"],
      ["https://acme.example.com/api/public/apps/track", "http://acme-api:3001"],
      // A prefix is a path segment, not a string prefix.
      ["https://acme.example.com/apiary", "http://acme-dashboard:3000"],
      // cloudflared matches the decoded path, as Go's URL.Path holds it.
      ["https://acme.example.com/%61pi/admin", "http://acme-api:3001"],
      ["https://ACME.example.com:443/api", "http://acme-api:3001"],
      ["https://globex-staging.example.com/api/public/identify", "http://globex-api:3001"],
      ["https://globex-staging.example.com/dashboard", "http://globex-dashboard:3000"],
      ["https://globex.example.com/dashboard", CATCH_ALL_SERVICE],
      ["https://example.com/", CATCH_ALL_SERVICE],
      ["https://acme.example.com.evil.test/api", CATCH_ALL_SERVICE],
    ];
    for (const [url, service] of expectations) {
      assert.equal(routeRequest(rules, url), service, url);
    }
  });

  test("the public ingestion path has its own rule ahead of the rest of /api", () => {
    const publicRule = matchRule(rules, requestOf("https://acme.example.com/api/public/track"));
    const adminRule = matchRule(rules, requestOf("https://acme.example.com/api/admin"));
    assert.ok(publicRule < adminRule);
    assert.notEqual(publicRule, adminRule);
  });

  test("the document ends with the only catch-all, and every rule targets an alias, never an IP", () => {
    assert.deepEqual(rules.at(-1), { service: CATCH_ALL_SERVICE });
    assert.equal(rules.filter((r) => r.hostname === undefined).length, 1);
    for (const rule of rules.slice(0, -1)) {
      assert.match(rule.service, /^http:\/\/[a-z][a-z0-9-]*-(api|dashboard):300[01]$/);
    }
  });

  test("the order of tenants in config does not change the document", () => {
    assert.deepEqual(ingressRules([globex, acme]), rules);
  });
});

describe("tenant isolation", () => {
  // As config admits them: labels a URL parser takes (config refuses invalid punycode, xn--a).
  const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/).filter((l) => {
    try {
      return new URL(`https://${l}.example.com/`).hostname.length > 0;
    } catch {
      return false;
    }
  });
  const pathSegment = fc.oneof(
    fc.constantFrom("api", "public", "dashboard", "apiary", "API", "..", "%2e", ""),
    fc.stringMatching(/^[a-z0-9._~-]{0,8}$/),
  );

  test("no request for one tenant's hostname reaches another tenant's container", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(label, { minLength: 1, maxLength: 6 }),
        fc.nat(),
        fc.array(pathSegment, { maxLength: 5 }),
        (hostnames, pick, segments) => {
          const routes = hostnames.map((hostname, i) =>
            tenantRoute("example.com", { id: `t${i}`, hostname }),
          );
          const rules = ingressRules(routes);
          const target = routes[pick % routes.length];
          const service = routeRequest(rules, `https://${target.hostname}/${segments.join("/")}`);
          assert.ok(
            service === target.apiService || service === target.dashboardService,
            `${target.hostname} reached ${service}`,
          );
        },
      ),
      { numRuns: 1000 },
    );
  });

  test("refuses two tenants on one hostname, naming the unreachable rule", () => {
    const twin: TenantRoute = { ...globex, hostname: acme.hostname };
    assert.throws(
      () => ingressRules([acme, twin]),
      (error: unknown) =>
        error instanceof IngressError &&
        /unreachable/.test(error.message) &&
        error.message.includes("acme.example.com"),
    );
  });
});

describe("origin-side Access checks (platform:cloudflare.teamName)", () => {
  const rules = ingressRules(
    [
      { ...acme, audTag: "aud-acme" },
      { ...globex, audTag: "aud-globex" },
    ],
    "example-team",
  );

  test("every tenant rule but its public paths requires that tenant's own Access token", () => {
    const publicPatterns = new Set(PUBLIC_PATHS.map((p) => p.pattern));
    for (const rule of rules.slice(0, -1)) {
      const tenant = rule.service.includes("acme") ? "acme" : "globex";
      if (rule.path !== undefined && publicPatterns.has(rule.path)) {
        assert.equal(rule.originRequest, undefined, "recipients and SDKs carry no Access token");
      } else {
        assert.deepEqual(rule.originRequest, {
          access: { required: true, teamName: "example-team", audTags: [`aud-${tenant}`] },
        });
      }
    }
  });

  test("refuses a tenant without an audience tag to check", () => {
    assert.throws(() => ingressRules([acme], "example-team"), /acme has no Access audience tag/);
  });
});

test("the connector token is the base64 JSON cloudflared expects", () => {
  const token = tunnelToken("acct", "5f2c-uuid", "c2VjcmV0+/=");
  assert.deepEqual(JSON.parse(Buffer.from(token, "base64").toString("utf8")), {
    a: "acct",
    t: "5f2c-uuid",
    s: "c2VjcmV0+/=",
  });
});

test("access includes are sorted and without repeats, so reordering config changes nothing", () => {
  assert.deepEqual(accessIncludes(["b@x.example", "a@x.example", "b@x.example"], ["x.example"]), [
    { email: { email: "a@x.example" } },
    { email: { email: "b@x.example" } },
    { emailDomain: { domain: "x.example" } },
  ]);
});

describe("a recipient who never signed in, and everyone else", () => {
  const host = acme.hostname;
  const rules = ingressRules([{ ...acme, audTag: "aud-acme" }], "example-team");
  // The tenant's two Access applications, as TenantAccess declares them.
  const destinations = [
    { uri: host, bypass: false },
    ...PUBLIC_PATHS.map((p) => ({ uri: `${host}${p.prefix}`, bypass: true })),
  ];
  const at = (path: string) => `https://${host}${path}`;
  const originRule = (url: string) => rules[matchRule(rules, requestOf(url))];

  // What a mail client's browser requests when a recipient clicks "unsubscribe" (Dittofeed
  // v0.23.0: the link from subscriptionGroups.ts, the page's assets under Next.js's basePath, and
  // the PUT from useUpdateSubscriptionsMutation.ts).
  const recipient: [string, "api" | "dashboard"][] = [
    [
      "/dashboard/public/subscription-management?w=ws-1&i=user-1&ik=id&h=4f2a&s=sg-1&sub=0",
      "dashboard",
    ],
    ["/dashboard/public/subscription-management/", "dashboard"],
    ["/dashboard/_next/static/chunks/pages/public/subscription-management-0c1d7a.js", "dashboard"],
    ["/dashboard/_next/static/chunks/framework-2c79e2a6.js", "dashboard"],
    ["/dashboard/_next/static/css/5e1fb2.css", "dashboard"],
    ["/dashboard/_next/static/k3Jd9-buildid/_buildManifest.js", "dashboard"],
    ["/dashboard/_next/static/chunks/pages/journeys/%5Bid%5D-77aa.js", "dashboard"],
    ["/api/public/subscription-management/user-subscriptions", "api"],
    ["/api/public/apps/track", "api"],
  ];

  test("reaches the unsubscribe page, its scripts and its API: Access lets it by, cloudflared asks for no token", () => {
    for (const [path, role] of recipient) {
      const url = at(path);
      assert.equal(accessDestinationFor(destinations, url)?.bypass, true, `${path}: edge bypass`);
      const rule = originRule(url);
      assert.equal(rule.originRequest, undefined, `${path}: no token asked at the origin`);
      assert.equal(rule.service, role === "api" ? acme.apiService : acme.dashboardService, path);
    }
  });

  const admin = [
    "/",
    "/dashboard",
    "/dashboard/journeys",
    "/dashboard/_next/data/k3Jd9-buildid/journeys.json",
    "/dashboard/_next/image?url=%2Fx.png",
    "/dashboard/public",
    "/dashboard/public/other-page",
    "/dashboard/public/subscription-managementx",
    "/dashboard/api",
    "/api",
    "/api/admin/segments",
    "/api/publicity",
  ];

  test("everything else needs a sign-in at the edge and the tenant's token at the origin", () => {
    for (const path of admin) {
      const url = at(path);
      assert.equal(accessDestinationFor(destinations, url)?.bypass, false, `${path}: edge`);
      assert.deepEqual(
        originRule(url).originRequest?.access.audTags,
        ["aud-acme"],
        `${path}: cloudflared demands the token`,
      );
    }
  });

  test("a dot segment never turns a public rule into a way around the origin's check", () => {
    const attempts = [
      "/dashboard/_next/static/../../journeys",
      "/dashboard/_next/static/chunks/../../../api/admin",
      "/dashboard/public/subscription-management/../../journeys",
      "/api/public/../admin/segments",
      "/api/public/./admin",
      "/dashboard/_next/static/%2e%2e/%2e%2e/journeys",
    ];
    // As cloudflared receives them: a URL parser would resolve the dot segments first.
    const raw = (path: string) => rules[matchRule(rules, { hostname: host, path })];
    for (const path of attempts) {
      assert.ok(raw(decodeURIComponent(path)).originRequest, `${path}: the token is demanded`);
    }
    const segment = fc
      .array(fc.constantFrom("a", "0", "-", "_", ".", "%2e", "%2E"), { maxLength: 4 })
      .map((parts) => parts.join(""));
    fc.assert(
      fc.property(
        fc.constantFrom(...PUBLIC_PATHS.map((p) => p.prefix)),
        fc.array(segment, { maxLength: 4 }),
        (prefix, segments) => {
          const decoded = decodeURIComponent(`${prefix}/${segments.join("/")}`);
          if (decoded.split("/").some((part) => part === ".." || part === ".")) {
            assert.ok(raw(decoded).originRequest, `${decoded} passes unchecked`);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  test("every public pattern compiles as RE2 would and matches its own witness only through its rule", () => {
    for (const p of PUBLIC_PATHS) {
      // RE2 (Go's regexp) has no lookaround or backreferences.
      assert.doesNotMatch(p.pattern, /\(\?[=!<]|\\[1-9]/, p.prefix);
      assert.match(p.witness, new RegExp(p.pattern), p.prefix);
    }
  });
});
