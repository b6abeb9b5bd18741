/**
 * Releases without downtime, under the recording mocks: what the engine would do with the graph
 * the program registers. The engine's own part is cited, not run (no Pulumi CLI here): a program's
 * `deleteBeforeReplace: false` overrides pulumi-docker's delete-first default, and in a
 * create-first replacement the old resource is deleted only after every create and update of the
 * update succeeded (pulumi/pulumi pkg/resource/deploy/step_generator.go, `GenerateDeletes` run from
 * deployment_executor.go's post-steps). The real HAProxy side of a front is in gateway.test.ts.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { before, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import fc from "fast-check";
import { IngressRule } from "../components/edge/ingress";
import { RELEASE_TAG_LENGTH, releaseTag } from "../components/runtime/release";
import {
  byName,
  committedStack,
  CONTAINER,
  followService,
  labelMap,
  mocks,
  ofType,
  Registration,
  runProgram,
  RunOptions,
  RunResult,
} from "./harness";

const TUNNEL_CONFIG =
  "cloudflare:index/zeroTrustTunnelCloudflaredConfig:ZeroTrustTunnelCloudflaredConfig";
const TENANTS = ["acme", "globex"];

function withConfig(options: RunOptions, changes: Record<string, unknown>): RunOptions {
  const config = { ...options.config };
  for (const [key, value] of Object.entries(changes)) config[key] = JSON.stringify(value);
  // Secrets are set with --secret, so Pulumi holds their key as one.
  const secretKeys = [...(options.secretKeys ?? []), "platform:secrets"];
  return { ...options, config, secretKeys };
}

async function run(options: RunOptions): Promise<RunResult> {
  const result = await runProgram(options);
  assert.equal(result.error, undefined, String(result.error));
  return result;
}

const dockerName = (r: Registration) => String(r.inputs.name);
const ingressOf = (result: RunResult) =>
  (ofType(result, TUNNEL_CONFIG)[0].inputs.config as { ingresses: IngressRule[] }).ingresses;
const servicesOf = (result: RunResult, tenant: string) =>
  ingressOf(result)
    .filter((rule) => rule.hostname?.split(".")[0].startsWith(tenant))
    .map((rule) => rule.service);

/** Whether `dependent` waits for `prerequisite`, directly or through what it waits for. */
function waitsFor(result: RunResult, dependent: Registration, prerequisite: Registration): boolean {
  const byUrn = new Map(result.registrations.map((r) => [r.urn, r]));
  const seen = new Set<string>();
  const pending = [...dependent.dependencies];
  while (pending.length > 0) {
    const urn = pending.pop()!;
    if (urn === prerequisite.urn) return true;
    if (seen.has(urn)) continue;
    seen.add(urn);
    pending.push(...(byUrn.get(urn)?.dependencies ?? []));
  }
  return false;
}

/** What each tenant's routing reaches: the Docker names of its front and of its upstreams. */
function routedNames(result: RunResult, tenant: string): string[] {
  return [
    ...new Set(
      servicesOf(result, tenant).flatMap((service) => {
        const { front, upstream } = followService(result, service);
        return [dockerName(front), dockerName(upstream)];
      }),
    ),
  ].sort();
}

for (const stack of ["staging", "production"] as const) {
  describe(`releases of committed stack ${stack}`, () => {
    let base: RunResult;
    before(async () => {
      base = await run(committedStack(stack));
    });

    test("the routing document waits for every container it routes to, and for the proof that each front serves", () => {
      const document = ofType(base, TUNNEL_CONFIG)[0];
      for (const tenant of TENANTS) {
        for (const name of [
          `${tenant}-api`,
          `${tenant}-dashboard`,
          `${tenant}-front-container`,
          `${tenant}-front-check`,
        ])
          assert.ok(
            document.dependencies.includes(byName(base, name).urn),
            `the document waits for ${name}`,
          );
        // The front waits for the release's containers, which are waited for until healthy.
        const front = byName(base, `${tenant}-front-container`);
        for (const role of ["api", "dashboard"]) {
          const app = byName(base, `${tenant}-${role}`);
          assert.ok(
            front.dependencies.includes(app.urn),
            `${tenant}'s front waits for its ${role}`,
          );
          assert.equal(app.inputs.wait, true);
        }
        assert.equal(front.inputs.wait, true);
        assert.ok(byName(base, `${tenant}-front-check`).dependencies.includes(front.urn));
      }
    });

    test("the routes check waits for the document and the connector, and tenants count as deployed only after it", () => {
      const check = byName(base, "tunnel-routes-check");
      for (const name of ["tunnel-config", "tunnel-connector"])
        assert.ok(check.dependencies.includes(byName(base, name).urn), `waits for ${name}`);
      // A failed check fails every tenant's `deployed` output, and so the update.
      return runProgram({
        ...committedStack(stack),
        jobs: { "tunnel-routes-check": { exitCode: 1, logs: "did not route\n" } },
      }).then((failed) => {
        assert.match(String(failed.error), /cloudflared runs the new routes exited with code 1/);
      });
    });

    test("a new release id alone (a spec gone back to, or --replace) gives new Docker names", async () => {
      // The real provider draws a new id on every replacement; here each run draws another.
      const withIds = (suffix: string): pulumi.runtime.Mocks => {
        const base = mocks({});
        return {
          ...base,
          newResource: async (args) => {
            const created = await base.newResource(args);
            return args.type === "random:index/randomId:RandomId"
              ? { ...created, state: { ...created.state, hex: `00000000${suffix}` } }
              : created;
          },
        };
      };
      const names: string[][] = [];
      for (const suffix of ["01", "02"]) {
        const result = await run({ ...committedStack(stack), mocks: withIds(suffix) });
        names.push(
          ["acme-api", "acme-dashboard", "acme-front-container"].map((n) =>
            dockerName(byName(result, n)),
          ),
        );
      }
      for (let i = 0; i < names[0].length; i++) assert.notEqual(names[0][i], names[1][i]);
    });

    test("no api, dashboard, front or connector is replaced delete-first", () => {
      for (const r of ofType(base, CONTAINER)) {
        const service = labelMap(r)["platform.service"];
        if (!["api", "dashboard", "front", "cloudflared", "gateway"].includes(service)) continue;
        assert.equal(r.deleteBeforeReplace, false, r.name);
      }
    });

    for (const change of [
      {
        what: "a version bump",
        changes: { "platform:dittofeed": { version: "v0.23.1" } },
        moved: TENANTS,
      },
      {
        what: "a rotated secret of one tenant",
        changes: {
          "platform:secrets": { tenants: { globex: { adminPassword: "rotated-admin-0123456" } } },
        },
        moved: ["globex"],
      },
    ]) {
      describe(`after ${change.what}`, () => {
        let head: RunResult;
        before(async () => {
          head = await run(withConfig(committedStack(stack), change.changes));
        });

        test("every changed tenant's api and dashboard get new Docker names, and its routing moves to them in the same update", () => {
          for (const tenant of TENANTS) {
            const moved = change.moved.includes(tenant);
            for (const role of ["api", "dashboard", "front-container"]) {
              const [before, after] = [base, head].map((r) =>
                dockerName(byName(r, `${tenant}-${role}`)),
              );
              assert.equal(before !== after, moved, `${tenant}-${role}: ${before} -> ${after}`);
            }
            const routed = routedNames(head, tenant);
            // The routing reaches exactly this update's containers: its front, api and dashboard.
            assert.deepEqual(
              routed,
              ["api", "dashboard", "front-container"]
                .map((role) => dockerName(byName(head, `${tenant}-${role}`)))
                .sort(),
            );
            assert.equal(
              servicesOf(base, tenant).join() !== servicesOf(head, tenant).join(),
              moved,
              `${tenant}'s routing moves only when its release does`,
            );
          }
        });

        test("each new api and dashboard waits for its tenant's migrations", () => {
          for (const tenant of change.moved) {
            for (const role of ["api", "dashboard"]) {
              const app = byName(head, `${tenant}-${role}`);
              // The schema job directly; the bootstrap (and the release's pre steps) before it.
              assert.ok(app.dependencies.includes(byName(head, `${tenant}-migration-schema`).urn));
              assert.ok(waitsFor(head, app, byName(head, `${tenant}-migration-bootstrap`)));
            }
          }
        });
      });
    }
  });
}

describe("a front that does not serve", () => {
  test("holds the routing back: the update fails naming the check, and the document is not registered", async () => {
    const result = await runProgram({
      ...committedStack("staging"),
      jobs: {
        "acme-front-check": {
          exitCode: 1,
          logs: "acme-front-0123456789 did not serve http://acme-front-0123456789:3001/api\n",
        },
      },
    });
    assert.ok(result.error, "the update fails");
    assert.match(result.error.message, /tenant acme's new front serves exited with code 1/);
    assert.match(result.error.message, /did not serve/);
    assert.equal(ofType(result, TUNNEL_CONFIG).length, 0, "no ingress document names it");
    // The other tenant's release is not held back.
    assert.ok(ofType(result, CONTAINER).some((c) => c.name === "globex-front-check"));
  });
});

describe("release tags", () => {
  const leaf = fc.oneof(fc.string(), fc.integer(), fc.boolean());
  const spec = fc.dictionary(
    fc.string({ minLength: 1 }),
    fc.oneof(leaf, fc.array(leaf), fc.dictionary(fc.string({ minLength: 1 }), leaf)),
  );

  test("equal specs give equal tags whatever the order of their keys; the tag is 10 hex", () => {
    fc.assert(
      fc.property(spec, (value) => {
        const reversed = Object.fromEntries(Object.entries(value).reverse());
        assert.equal(releaseTag("key", value), releaseTag("key", reversed));
        assert.match(releaseTag("key", value), new RegExp(`^[0-9a-f]{${RELEASE_TAG_LENGTH}}$`));
      }),
    );
  });

  test("any change to a spec, however deep, gives another tag; so does another key", () => {
    fc.assert(
      fc.property(spec, fc.string(), (value, secret) => {
        const changed = { ...value, envs: [`ADMIN_PASSWORD=${secret}x`] };
        const original = { ...value, envs: [`ADMIN_PASSWORD=${secret}`] };
        assert.notEqual(releaseTag("key", original), releaseTag("key", changed));
        assert.notEqual(releaseTag("key", original), releaseTag("other key", original));
      }),
    );
  });
});

describe("under mocks that echo their inputs (Pulumi's testing guide), and let jobs exit 0", () => {
  // No RandomBytes.base64, no RandomId.hex, no image ids: names must still be built, and move.
  // Two answers no program can do without are given as the engine and the tls provider give
  // them: the stack's own last deploy (stacks/previous.ts: none) and a generated key.
  const key = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  const echo: pulumi.runtime.Mocks = {
    newResource: (args) => {
      const inputs = args.inputs as Record<string, unknown>;
      if (args.type === "pulumi:pulumi:StackReference") {
        return { id: String(inputs.name), state: { ...inputs, outputs: {} } };
      }
      if (args.type === "tls:index/privateKey:PrivateKey") {
        const state = { ...inputs, privateKeyPem: key.privateKey, publicKeyPem: key.publicKey };
        return { id: `${args.name}-id`, state };
      }
      return { id: `${args.name}-id`, state: inputs.attach ? { ...inputs, exitCode: 0 } : inputs };
    },
    call: (args) => {
      throw new Error(`unexpected invoke ${args.token}`);
    },
  };

  test("a version bump still gives api, dashboard and front new Docker names", async () => {
    // One after the other: the SDK's mocks are global to the process.
    const results: RunResult[] = [];
    for (const changes of [{}, { "platform:dittofeed": { version: "v0.23.1" } }]) {
      const result = await runProgram({
        ...withConfig(committedStack("staging"), changes),
        mocks: echo,
      });
      assert.equal(result.error, undefined, String(result.error));
      results.push(result);
    }
    const [before, after] = results;
    for (const name of ["acme-api", "acme-dashboard", "acme-front-container"]) {
      const [was, is] = [before, after].map((r) => dockerName(byName(r, name)));
      assert.match(is, /-[0-9a-f]{10}$/, is);
      assert.notEqual(was, is, name);
    }
  });
});
