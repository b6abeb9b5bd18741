import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import * as YAML from "yaml";
import { PROJECT_ROOT } from "./harness";

interface Step {
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
  if?: string;
}
interface Workflow {
  on: Record<string, unknown>;
  jobs: Record<
    string,
    {
      steps?: Step[];
      environment?: string;
      uses?: string;
      needs?: string;
      with?: Record<string, unknown>;
    }
  >;
}

const workflow = (name: string) =>
  YAML.parse(
    fs.readFileSync(path.join(PROJECT_ROOT, ".github/workflows", name), "utf8"),
  ) as Workflow;
/** The policy pack's folder, which holds its PulumiPolicy.yaml. */
const POLICY_PACK = "tools/policy";
assert.ok(fs.existsSync(path.join(PROJECT_ROOT, POLICY_PACK, "PulumiPolicy.yaml")));

const steps = (w: Workflow) => Object.values(w.jobs).flatMap((j) => j.steps ?? []);
const pulumiSteps = (w: Workflow) => steps(w).filter((s) => s.uses?.startsWith("pulumi/actions@"));

describe("workflows", () => {
  test("pull requests: tests, the offline plan diff of staging and production, and a guarded preview", () => {
    const pr = workflow("pull-request.yml");
    const script = steps(pr)
      .map((s) => s.run ?? "")
      .join("\n");
    assert.match(script, /bash \.ci\/run/);
    assert.match(
      script,
      /for stack in staging production[\s\S]*plan:diff -- --stack "\$stack" --base "origin\/\$\{\{ github\.base_ref \}\}"/,
    );
    const [preview] = pulumiSteps(pr);
    assert.deepEqual(
      [preview.with?.command, preview.with?.diff, preview.with?.policyPacks],
      ["preview", true, POLICY_PACK],
    );
    assert.equal(
      preview.if,
      "steps.secrets.outputs.available == 'true'",
      "skipped cleanly without secrets",
    );
  });

  test("merges: staging, then production behind its environment, both with the policy pack", () => {
    const deploy = workflow("deploy.yml");
    assert.deepEqual(Object.keys(deploy.on), ["push"]);
    assert.equal(deploy.jobs.production.needs, "staging");
    assert.deepEqual(
      [deploy.jobs.staging.with?.stack, deploy.jobs.production.with?.stack],
      ["staging", "production"],
    );
    const up = workflow("up.yml");
    assert.equal(up.jobs.up.environment, "${{ inputs.stack }}");
    const [step] = pulumiSteps(up);
    assert.deepEqual([step.with?.command, step.with?.policyPacks], ["up", POLICY_PACK]);
  });

  test("drift: a scheduled refresh preview that expects no changes, per stack", () => {
    const drift = workflow("drift.yml");
    assert.ok("schedule" in drift.on);
    const [step] = pulumiSteps(drift);
    assert.deepEqual(
      [step.with?.command, step.with?.refresh, step.with?.["expect-no-changes"]],
      ["preview", true, true],
    );
  });

  test("drift: then the backup service's health, also after a drift", () => {
    const drift = workflow("drift.yml");
    const list = drift.jobs.drift.steps ?? [];
    const health = list.find((s) => s.run?.includes("tools/scripts/backup-health.sh"));
    assert.ok(health, "a step runs tools/scripts/backup-health.sh");
    assert.equal(health.if, "${{ !cancelled() }}");
    assert.ok(list.indexOf(health) > list.findIndex((s) => s.uses?.startsWith("pulumi/actions")));
  });

  test("the backup health check passes only on a healthy service, naming what it found", () => {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "docker-"));
    // A stand-in docker CLI: `inspect` prints $HEALTH (or fails without a container), `logs` two lines.
    fs.writeFileSync(
      path.join(bin, "docker"),
      `#!/bin/sh
case "$1" in
  inspect) [ -n "$HEALTH" ] || { echo "Error: No such object: $3" >&2; exit 1; }
    case "$3" in *.Log*) echo "no dump of: postgres:dittofeed_acme";; *) echo "$HEALTH";; esac;;
  logs) echo "backup: ok scheduled/20261127T061700Z: 6 databases"; echo "other line";;
esac
`,
      { mode: 0o755 },
    );
    const check = (health: string) =>
      spawnSync("bash", ["tools/scripts/backup-health.sh", "production"], {
        cwd: PROJECT_ROOT,
        encoding: "utf8",
        env: { PATH: `${bin}:/usr/bin:/bin`, HEALTH: health },
      });
    const healthy = check("healthy");
    assert.equal(healthy.status, 0, healthy.stderr);
    assert.match(healthy.stdout, /production-backup: healthy\nbackup: ok scheduled/);
    const unhealthy = check("unhealthy");
    assert.equal(unhealthy.status, 1);
    assert.match(unhealthy.stderr, /stack production is unhealthy: a database without a dump/);
    // The health check's own words, naming the database, are in the failure.
    assert.match(unhealthy.stderr, /no dump of: postgres:dittofeed_acme/);
    assert.match(check("starting").stderr, /is starting/);
    const missing = check("");
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /No backup service production-backup on the Docker host/);
  });

  test("the policy pack the workflows name exists", () => {
    assert.ok(fs.existsSync(path.join(PROJECT_ROOT, "tools/policy/PulumiPolicy.yaml")));
  });
});

describe("tools/scripts/ci-docker-host.sh", () => {
  function run(stackFile: string) {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "ci-host-"));
    const bin = path.join(home, "bin");
    fs.mkdirSync(bin);
    // An ssh that records how it was called instead of connecting.
    fs.writeFileSync(path.join(bin, "ssh"), `#!/bin/sh\necho "$@" > "${home}/ssh-args"\n`, {
      mode: 0o755,
    });
    const result = spawnSync("bash", ["tools/scripts/ci-docker-host.sh", "staging"], {
      cwd: PROJECT_ROOT,
      encoding: "utf8",
      env: {
        ...process.env,
        HOME: home,
        PATH: `${bin}:${process.env.PATH ?? ""}`,
        STACK_FILE: stackFile,
        DOCKER_SSH_KEY:
          "-----BEGIN OPENSSH PRIVATE KEY-----\nkey\n-----END OPENSSH PRIVATE KEY-----",
        DOCKER_SSH_KNOWN_HOSTS: "docker-host.example.com ssh-ed25519 AAAA",
      },
    });
    return { result, home };
  }

  test("installs the key and forwards the stack's admin port to the host's loopback", () => {
    const file = path.join(os.tmpdir(), `stack-${process.pid}.yaml`);
    fs.writeFileSync(
      file,
      YAML.stringify({
        config: {
          "docker:host": "ssh://deploy@docker-host.example.com",
          "platform:postgres": { adminPort: 15433 },
        },
      }),
    );
    const { result, home } = run(file);
    assert.equal(result.status, 0, result.stderr);
    assert.equal(
      fs.readFileSync(path.join(home, "ssh-args"), "utf8").trim(),
      "-fN -o ExitOnForwardFailure=yes -L 15433:127.0.0.1:15433 deploy@docker-host.example.com",
    );
    assert.equal(fs.statSync(path.join(home, ".ssh/id_ed25519")).mode & 0o777, 0o600);
  });

  test("refuses a stack file without docker:host, naming it", () => {
    const { result } = run("Pulumi.staging.yaml");
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /Pulumi\.staging\.yaml sets no docker:host/);
  });
});
