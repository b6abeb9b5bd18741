import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  accessIncludes,
  CATCH_ALL_SERVICE,
  IngressError,
  ingressRules,
  matchRule,
  requestOf,
  routeRequest,
  TenantRoute,
  tunnelToken,
} from "../lib/edge";
import { tenantRoute } from "../platform/sites";

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
  const label = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/);
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

  test("every tenant rule but /api/public requires that tenant's own Access token", () => {
    for (const rule of rules.slice(0, -1)) {
      const tenant = rule.service.includes("acme") ? "acme" : "globex";
      if (rule.path?.includes("public")) {
        assert.equal(rule.originRequest, undefined, "events carry write keys, not Access tokens");
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
