/**
 * Dittofeed's upgrade steps as data, and how a stack runs the ones a release crosses: before the
 * release's migrations and apps (`pre`), after its apps (`post`), each once, and not at all for a
 * tenant installed at that release or later.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { upgradeCommand } from "../components/tenant/upgrade";
import { loadPlatformConfig } from "../stacks/config";
import {
  compareVersions,
  stepsCrossed,
  UPGRADE_STEPS,
  UpgradeStep,
} from "../components/app/releases";
import { createPlatform } from "../stacks";
import { byName, dependsOn, labelMap, platformConfig, runProgram } from "./harness";

describe("release steps", () => {
  test("versions order as releases do, pre-releases before their release", () => {
    const ordered = [
      "v0.9.9",
      "0.10.0",
      "v0.23.0",
      "v0.24.0-alpha.5",
      "v0.24.0-alpha.9",
      "v0.24.0-alpha.10",
      "0.24.0",
      "1.0.0",
    ];
    for (let i = 1; i < ordered.length; i++) {
      assert.ok(
        compareVersions(ordered[i - 1], ordered[i]) < 0,
        `${ordered[i - 1]} < ${ordered[i]}`,
      );
      assert.ok(compareVersions(ordered[i], ordered[i - 1]) > 0);
    }
    assert.equal(compareVersions("v0.23.0", "0.23.0"), 0);
    assert.throws(() => compareVersions("latest", "0.23.0"), /not a release version/);
  });

  test("a move crosses every step after where it starts, up to where it ends, pre before post", () => {
    const commands = (from: string, to: string) => stepsCrossed(from, to).map((s) => s.command);
    assert.deepEqual(commands("v0.21.0", "v0.23.0"), ["upgrade-0-23-0-pre", "upgrade-0-23-0-post"]);
    assert.deepEqual(
      commands("v0.9.0", "v0.23.0"),
      UPGRADE_STEPS.map((s) => s.command),
    );
    assert.deepEqual(commands("v0.12.1", "v0.21.0"), ["upgrade-0-21-0-pre"]);
    assert.deepEqual(commands("v0.23.0", "v0.23.0"), [], "nothing to do in place");
    assert.deepEqual(commands("v0.23.0", "v0.21.0"), [], "going back runs no step");
  });

  test("a step runs only for a tenant installed before its release", () => {
    const step: UpgradeStep = { version: "0.24.0", phase: "pre", command: "upgrade-0-24-0-pre" };
    assert.equal(upgradeCommand(step, "v0.23.0"), "exec ./admin.sh upgrade-0-24-0-pre");
    assert.match(
      upgradeCommand(step, "v0.24.0"),
      /^echo "upgrade-0-24-0-pre is not needed: the tenant was installed at v0.24.0"$/,
    );
    assert.match(upgradeCommand(step, "v0.25.0"), /^echo /);
  });
});

describe("a release with upgrade steps, deployed", () => {
  const steps: UpgradeStep[] = [
    { version: "0.24.0", phase: "pre", command: "upgrade-0-24-0-pre" },
    { version: "0.24.0", phase: "post", command: "upgrade-0-24-0-post" },
    { version: "0.25.0", phase: "pre", command: "upgrade-0-25-0-pre" },
  ];
  const run = (jobs = {}) =>
    runProgram({
      config: platformConfig({
        environment: "dev",
        dittofeed: { version: "v0.24.0" },
        tenants: [{ id: "acme", workspaceName: "Acme" }],
      }),
      jobs,
      program: () => {
        const platform = createPlatform(loadPlatformConfig(null), "test", undefined, steps);
        return { tenants: platform.tenants };
      },
    });

  test("pre steps run after the bootstrap and before the migrations; post steps after the apps; each once", async () => {
    const result = await run();
    assert.equal(result.error, undefined, String(result.error));
    const pre = byName(result, "acme-migration-pre-upgrade-0.24.0");
    const post = byName(result, "acme-post-upgrade-0.24.0");
    assert.ok(!result.registrations.some((r) => r.name.includes("0-25-0")), "not yet released");
    dependsOn(result, "acme-migration-pre-upgrade-0.24.0", "acme-migration-bootstrap");
    dependsOn(result, "acme-migration-schema", "acme-migration-pre-upgrade-0.24.0");
    dependsOn(result, "acme-post-upgrade-0.24.0", "acme-api", "acme-dashboard", "acme-worker-1");
    for (const job of [pre, post]) {
      assert.deepEqual(job.ignoreChanges, ["command", "envs", "image"]);
      assert.equal(job.inputs.image, byName(result, "acme-migration-schema").inputs.image);
    }
    // The bootstrap records the release the tenant was installed at, and keeps that record.
    const bootstrap = byName(result, "acme-migration-bootstrap");
    assert.equal(labelMap(bootstrap)["platform.dittofeed-version"], "v0.24.0");
    assert.deepEqual(bootstrap.ignoreChanges, ["labels"]);
    // Under mocks the bootstrap reads back what it was given: this tenant is new at v0.24.0.
    assert.deepEqual(pre.inputs.command, [upgradeCommand(steps[0], "v0.24.0")]);
    assert.deepEqual(result.outputs?.tenants, {
      acme: { ...(result.outputs?.tenants as Record<string, object>).acme, deployed: true },
    });
  });

  test("a failed post step fails the update, naming the step and the re-run command", async () => {
    const result = await run({
      "acme-post-upgrade-0.24.0": { exitCode: 2, logs: "state transfer failed\n" },
    });
    assert.match(
      String(result.error?.message),
      /upgrade-0-24-0-post of tenant acme exited with code 2/,
    );
    assert.match(String(result.error?.message), /--replace '[^']*acme-post-upgrade-0.24.0'/);
  });

  test("a failed pre step holds back the migrations and every app", async () => {
    const result = await run({
      "acme-migration-pre-upgrade-0.24.0": { exitCode: 1, logs: "boom\n" },
    });
    assert.match(
      String(result.error?.message),
      /upgrade-0-24-0-pre of tenant acme exited with code 1/,
    );
    const names = result.registrations.filter((r) => r.custom).map((r) => r.name);
    assert.ok(names.includes("acme-migration-pre-upgrade-0.24.0"));
    for (const held of ["acme-migration-schema", "acme-api", "acme-worker-1"]) {
      assert.ok(!names.includes(held), `${held} was created`);
    }
  });
});
