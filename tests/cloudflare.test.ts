import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import {
  CATCH_ALL_SERVICE,
  IngressRule,
  ingressRules,
  PUBLIC_PATHS,
} from "../components/edge/ingress";
import * as pulumi from "@pulumi/pulumi";
import { Tunnel } from "../components/edge/tunnel";
import { dockerConnector } from "../components/edge/connectors";
import { PlatformConfig } from "../stacks/config";
import { tenantRoute } from "../stacks/sites";
import {
  byName,
  committedStack,
  CONTAINER,
  dependsOn,
  envOf,
  followService,
  isSecret,
  labelMap,
  ofType,
  plainStrings,
  providerUrn,
  Registration,
  runProgram,
  RunResult,
  uuidOf,
  runCommitted,
  routeRequest,
} from "./harness";

const TUNNEL = "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared";
const TUNNEL_CONFIG =
  "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig";
const DNS = "cloudflare:index/dnsRecord:DnsRecord";
const APP = "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication";
const POLICY = "cloudflare:index/zeroTrustAccessPolicy:ZeroTrustAccessPolicy";

/** The id the mocked Cloudflare API gives the tunnel named `tunnel`. */
const TUNNEL_ID = uuidOf("tunnel");

const cloudflareResources = (run: RunResult) =>
  run.registrations.filter(
    (r) => r.type.startsWith("cloudflare:") || r.type === "pulumi:providers:cloudflare",
  );

for (const stack of ["staging", "production"] as const) {
  describe(`the edge of committed stack ${stack}`, () => {
    let run: RunResult;
    let config: PlatformConfig;
    let tunnel: Registration;
    before(async () => {
      ({ run, config } = await runCommitted(stack));
      tunnel = byName(run, "tunnel");
    });
    const fqdn = (t: PlatformConfig["tenants"][number]) => `${t.hostname}.${config.domain}`;

    test("one remotely managed tunnel, with a generated secret that stays secret", () => {
      assert.equal(ofType(run, TUNNEL).length, 1);
      assert.equal(tunnel.inputs.configSrc, "cloudflare");
      assert.equal(tunnel.inputs.accountId, config.cloudflare?.accountId);
      assert.equal(tunnel.inputs.name, `platform-${stack}`);
      assert.ok(isSecret(tunnel.inputs.tunnelSecret), "the tunnel secret is a Pulumi secret");
      const bytes = Buffer.from(String(tunnel.inputs.tunnelSecret.value), "base64");
      assert.ok(bytes.length >= 32, "at least 32 bytes");
      dependsOn(run, "tunnel", "tunnel-secret");
    });

    test("exactly one ingress document, for that tunnel, routing every tenant to its own release through its front", () => {
      const configs = ofType(run, TUNNEL_CONFIG);
      assert.equal(configs.length, 1, "two documents on one tunnel would overwrite each other");
      const document = configs[0];
      assert.equal(document.inputs.tunnelId, TUNNEL_ID);
      const ingresses = (document.inputs.config as { ingresses: IngressRule[] }).ingresses;
      // The document as checked before anything was registered, each service then moved to the
      // front of the release being deployed.
      const planned = ingressRules(config.tenants.map((t) => tenantRoute(config.domain!, t)));
      assert.deepEqual(
        ingresses.map(({ service, ...rule }) => ({ ...rule, front: /-front-/.test(service) })),
        planned.map(({ service, ...rule }) => ({ ...rule, front: service !== CATCH_ALL_SERVICE })),
      );
      assert.deepEqual(ingresses.at(-1), { service: CATCH_ALL_SERVICE });

      for (const rule of ingresses.slice(0, -1)) {
        // Docker's DNS and the front's config, followed: one front, then one container.
        const { front, upstream } = followService(run, rule.service);
        const tenant = config.tenants.find((t) => fqdn(t) === rule.hostname);
        assert.equal(labelMap(front)["platform.tenant"], tenant?.id, `${rule.hostname}'s front`);
        assert.equal(
          labelMap(upstream)["platform.tenant"],
          tenant?.id,
          `${rule.hostname} reaches its own tenant only`,
        );
      }
      const roleAt = (url: string) =>
        labelMap(followService(run, routeRequest(ingresses, url)).upstream)["platform.service"];
      for (const t of config.tenants) {
        assert.equal(roleAt(`https://${fqdn(t)}/api/public/track`), "api");
        assert.equal(roleAt(`https://${fqdn(t)}/api/admin`), "api");
        assert.equal(roleAt(`https://${fqdn(t)}/dashboard`), "dashboard");
      }
    });

    test("each tenant hostname is a proxied CNAME to the tunnel, created only after its Access applications", () => {
      const records = ofType(run, DNS);
      assert.equal(records.length, config.tenants.length);
      for (const t of config.tenants) {
        const record = byName(run, `tunnel-dns-${t.id}`);
        assert.deepEqual(
          [
            record.inputs.name,
            record.inputs.type,
            record.inputs.content,
            record.inputs.proxied,
            record.inputs.ttl,
          ],
          [fqdn(t), "CNAME", `${TUNNEL_ID}.cfargotunnel.com`, true, 1],
        );
        assert.equal(record.inputs.zoneId, config.cloudflare?.zoneId);
        dependsOn(run, `tunnel-dns-${t.id}`, `${t.id}-access-app`, `${t.id}-access-public-app`);
      }
      dependsOn(
        run,
        "tunnel-config",
        ...config.tenants.flatMap((t) => [`${t.id}-access-app`, `${t.id}-access-public-app`]),
      );
    });

    test("Access: the whole hostname admits only the tenant's list; its public paths bypass", () => {
      assert.equal(ofType(run, APP).length, 2 * config.tenants.length);
      assert.equal(ofType(run, POLICY).length, 2 * config.tenants.length);
      for (const t of config.tenants) {
        const app = byName(run, `${t.id}-access-app`);
        const members = byName(run, `${t.id}-access-members`);
        assert.deepEqual(
          [app.inputs.type, app.inputs.domain, app.inputs.destinations],
          ["self_hosted", fqdn(t), [{ type: "public", uri: fqdn(t) }]],
        );
        assert.deepEqual(app.inputs.policies, [{ id: `${t.id}-access-members-id`, precedence: 1 }]);
        assert.equal(members.inputs.decision, "allow");
        assert.deepEqual(members.inputs.includes, [
          ...[...new Set(t.accessEmails)].sort().map((email) => ({ email: { email } })),
          ...[...new Set(t.accessEmailDomains)]
            .sort()
            .map((domain) => ({ emailDomain: { domain } })),
        ]);

        const publicApp = byName(run, `${t.id}-access-public-app`);
        const bypass = byName(run, `${t.id}-access-public`);
        // One bypass application per tenant for all its public paths: event ingestion, and the
        // unsubscribe page with its scripts and API (Dittofeed v0.23.0, see components/edge/ingress.ts).
        assert.deepEqual(
          [publicApp.inputs.domain, publicApp.inputs.destinations],
          [
            undefined,
            [
              { type: "public", uri: `${fqdn(t)}/api/public` },
              { type: "public", uri: `${fqdn(t)}/dashboard/public/subscription-management` },
              { type: "public", uri: `${fqdn(t)}/dashboard/_next/static` },
            ],
          ],
        );
        assert.deepEqual(publicApp.inputs.policies, [
          { id: `${t.id}-access-public-id`, precedence: 1 },
        ]);
        assert.deepEqual(
          [bypass.inputs.decision, bypass.inputs.includes],
          ["bypass", [{ everyone: {} }]],
        );
      }
      // No other application or policy lets anyone in.
      const bypasses = ofType(run, POLICY).filter((p) => p.inputs.decision !== "allow");
      assert.deepEqual(
        bypasses.map((p) => p.name).sort(),
        config.tenants.map((t) => `${t.id}-access-public`).sort(),
      );
    });

    test("the cloudflared connector: pinned, secret token derived from the tunnel, health-checked, after the routes", () => {
      const connector = byName(run, "tunnel-connector");
      assert.equal(connector.type, CONTAINER);
      // A monitored stack's Prometheus scrapes it on the data network; otherwise its metrics
      // stay on its own loopback.
      assert.deepEqual(connector.inputs.command, [
        "tunnel",
        "--no-autoupdate",
        "--metrics",
        config.monitoring.enabled ? "0.0.0.0:20241" : "127.0.0.1:20241",
        "run",
      ]);
      assert.equal(byName(run, "image-cloudflared").inputs.name, config.cloudflared.image);
      assert.match(config.cloudflared.image, /^cloudflare\/cloudflared:\d{4}\.\d+\.\d+$/);
      assert.equal(connector.inputs.restart, "unless-stopped");
      assert.equal(connector.inputs.ports, undefined, "nothing is published for the tunnel");
      assert.deepEqual((connector.inputs.healthcheck as { tests: string[] }).tests, [
        "CMD",
        "cloudflared",
        "tunnel",
        "--metrics",
        "127.0.0.1:20241",
        "ready",
      ]);
      assert.equal(labelMap(connector)["platform.service"], "cloudflared");
      const networks = connector.inputs.networksAdvanced as { name: string }[];
      assert.equal(networks[0].name, `${stack}-platform`);

      const { secret, env } = envOf(connector);
      assert.ok(secret, "TUNNEL_TOKEN travels as a Pulumi secret");
      const token = JSON.parse(Buffer.from(env.TUNNEL_TOKEN, "base64").toString("utf8")) as {
        s: string;
      };
      assert.deepEqual(token, {
        a: config.cloudflare?.accountId,
        t: TUNNEL_ID,
        s: (tunnel.inputs.tunnelSecret as { value: string }).value,
      });
      for (const r of run.registrations) {
        for (const s of plainStrings(r.inputs)) {
          assert.ok(
            !s.includes(env.TUNNEL_TOKEN) && !s.includes(token.s),
            `${r.name} leaks the tunnel secret`,
          );
        }
      }
      dependsOn(run, "tunnel-connector", "tunnel-config", "image-cloudflared");
    });

    test("Cloudflare resources use the stack's explicit provider, which reads cloudflare:apiToken", () => {
      const provider = byName(run, "cloudflare");
      for (const r of cloudflareResources(run).filter((r) => r.custom && r !== provider)) {
        assert.equal(providerUrn(r), provider.urn, r.name);
      }
    });

    test("stack outputs: each tenant's public URL", () => {
      const tenants = run.outputs?.tenants as Record<
        string,
        { url: string; apiUrl: string; reachable: boolean }
      >;
      for (const t of config.tenants) {
        assert.deepEqual(
          [tenants[t.id].url, tenants[t.id].apiUrl, tenants[t.id].reachable],
          [`https://${fqdn(t)}`, `https://${fqdn(t)}/api`, true],
        );
      }
    });
  });
}

test("the tunnel refuses a routed hostname that has no DNS record behind Access, and the reverse", async () => {
  const tunnel = (ingress: IngressRule[], hostnames: string[]) => () => {
    const guard = new pulumi.ComponentResource("test:index:Guard", "guard");
    new Tunnel("tunnel", {
      stack: "test",
      accountId: "0123456789abcdef0123456789abcdef",
      zoneId: "0123456789abcdef0123456789abcdef",
      ingress,
      hosts: hostnames.map((hostname) => ({
        tenantId: "acme",
        hostname,
        guardedBy: [guard],
        servedBy: { containers: [], gates: [] },
      })),
      connector: dockerConnector({
        context: {
          stack: "test",
          environment: "staging",
          network: "test-platform",
          swapLimit: true,
          releaseKey: "key",
        },
        image: "sha256:cloudflared",
        memoryMb: 128,
        routesCheck: { image: "sha256:haproxy", memoryMb: 64 },
      }),
    });
    return {};
  };
  const rules = ingressRules([tenantRoute("example.com", { id: "acme", hostname: "acme" })]);
  const run = (ingress: IngressRule[], hostnames: string[]) =>
    runProgram({ config: {}, program: tunnel(ingress, hostnames) });
  assert.equal((await run(rules, ["acme.example.com"])).error, undefined);
  assert.match(String((await run(rules, [])).error), /no tenant hostnames/);
  assert.match(
    String((await run(rules, ["other.example.com"])).error),
    /acme\.example\.com, other\.example\.com must be both routed .* and given a DNS record behind Access/,
  );
});

describe("without platform:cloudflare", () => {
  test("nothing of Cloudflare is registered and no cloudflared runs (committed dev stack)", async () => {
    const run = await runProgram(committedStack("dev"));
    assert.equal(run.error, undefined, String(run.error));
    assert.deepEqual(
      cloudflareResources(run).map((r) => r.name),
      [],
    );
    assert.ok(!run.registrations.some((r) => r.name === "tunnel-secret"));
    assert.ok(
      !ofType(run, CONTAINER).some((c) => labelMap(c)["platform.service"] === "cloudflared"),
    );
    assert.ok(!run.registrations.some((r) => r.name === "image-cloudflared"));
  });
});

describe("with platform:cloudflare.teamName", () => {
  test("cloudflared itself refuses tenant requests without that tenant's Access token", async () => {
    const base = committedStack("staging");
    const cloudflare = JSON.parse(base.config["platform:cloudflare"]) as Record<string, string>;
    const run = await runProgram({
      ...base,
      config: {
        ...base.config,
        "platform:cloudflare": JSON.stringify({ ...cloudflare, teamName: "example-team" }),
      },
    });
    assert.equal(run.error, undefined, String(run.error));
    const ingresses = (byName(run, "tunnel-config").inputs.config as { ingresses: IngressRule[] })
      .ingresses;
    for (const rule of ingresses.slice(0, -1)) {
      const tenant = rule.hostname?.split("-")[0] ?? "";
      const aud = byName(run, `${tenant}-access-app`);
      const expected = PUBLIC_PATHS.some((p) => p.pattern === rule.path)
        ? undefined
        : {
            access: {
              required: true,
              teamName: "example-team",
              audTags: [`mock-aud:${aud.name}`],
            },
          };
      assert.deepEqual(rule.originRequest, expected, `${rule.hostname} ${rule.path ?? ""}`);
    }
  });
});

test("cloudflare:apiToken reaches the explicit provider as a secret", async () => {
  const base = committedStack("staging");
  const run = await runProgram({
    ...base,
    config: { ...base.config, "cloudflare:apiToken": "cf-token-0123456789abcdef" },
    secretKeys: [...(base.secretKeys ?? []), "cloudflare:apiToken"],
  });
  assert.equal(run.error, undefined, String(run.error));
  const token = byName(run, "cloudflare").inputs.apiToken;
  assert.ok(isSecret(token), "the API token is encrypted in state");
  assert.equal(token.value, "cf-token-0123456789abcdef");
});
