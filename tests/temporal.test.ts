/**
 * The namespace job's script, run by a real POSIX shell against a stand-in `tctl` that answers as
 * tctl v1.18.0 does (temporalio/tctl, cli_curr/namespaceCommands.go and taskQueueCommands.go:
 * errors on stdout, exit code 1, "Namespace already exists." from the server).
 */
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { imageParts } from "../components/runtime/images";
import {
  deprecateNamespaceScript,
  isAutoSetupImage,
  namespaceScript,
  NamespaceJobEnv,
  POSTGRES_SCHEMA_ROOT,
  temporalSchemaScript,
  TemporalSchemaEnv,
  RESERVED_NAMESPACES,
  workerCheckScript,
  WorkerCheckEnv,
} from "../components/data/temporalServer";
import { ConfigError, parsePlatformConfig } from "../stacks/config";
import { BACKUP_PUBLIC_KEY } from "./harness";

/** How the stand-in behaves: which namespaces exist, and how many describes fail first. */
interface Server {
  existing: string[];
  /** Namespaces an offboarding deprecated. */
  deprecated?: string[];
  /** `register` fails as when the frontend is unreachable. */
  down?: boolean;
  /** How many `taskqueue describe` calls answer "not found" before the cache knows it. */
  cacheLag?: number;
  /** Pollers `taskqueue describe` lists: identity and last access (`NOW` for the call's time). */
  pollers?: [string, string][];
  /** Seconds each call takes, as a frontend under load does. @default 0 */
  slow?: number;
}

const FAKE_TCTL = `#!/bin/sh
# Records each call, then answers as tctl v1.18.0 would.
echo "$*" >> "$STATE/calls"
sleep "$(cat "$STATE/slow")"
ns=""; while [ "$1" != "" ]; do case "$1" in --namespace) ns="$2"; shift 2;; *) break;; esac; done
case "$1 $2" in
  "namespace register")
    if [ -f "$STATE/down" ]; then
      echo "Error: Register namespace operation failed."; echo "Error Details: context deadline exceeded"; exit 1
    fi
    if grep -qx "$ns" "$STATE/existing" 2>/dev/null; then
      echo "Error: Namespace $ns already registered."; echo "Error Details: Namespace already exists."; exit 1
    fi
    echo "$ns" >> "$STATE/existing"; echo "Namespace $ns successfully registered."; exit 0;;
  "namespace update")
    echo "Namespace $ns successfully updated."; exit 0;;
  "namespace describe")
    state=Registered; grep -qx "$ns" "$STATE/deprecated" 2>/dev/null && state=Deprecated
    printf 'Name: %s\nId: 0b7f5e0c-7c39-4d1c-9d4b-1f0e2a8d1c11\nDescription: \nOwnerEmail: \nNamespaceData: map[string]string(nil)\nState: %s\nRetention: 72h0m0s\n' "$ns" "$state"; exit 0;;
  "taskqueue describe")
    lag=$(cat "$STATE/lag" 2>/dev/null || echo 0)
    if [ "$lag" -gt 0 ]; then
      echo $((lag - 1)) > "$STATE/lag"
      echo "Error: Operation DescribeTaskQueue failed."; echo "Error Details: Namespace $ns is not found."; exit 1
    fi
    printf '  \\033[94mWORKFLOW POLLER IDENTITY\\033[0m | \\033[94mLAST ACCESS TIME\\033[0m  \\n'
    # Pollers: "<identity> <time>" per line; NOW stands for the moment of the call.
    while read -r identity at; do
      [ "$at" = NOW ] && at=$(date -u +%Y-%m-%dT%H:%M:%SZ)
      printf '  %s | %s  \n' "$identity" "$at"
    done < "$STATE/pollers" 2>/dev/null
    exit 0;;
esac
echo "unexpected call: $*"; exit 2
`;

async function runScript(
  server: Server,
  env: Partial<NamespaceJobEnv & WorkerCheckEnv> = {},
  script = namespaceScript(),
): Promise<{ code: number; output: string; calls: string[]; existing: string[] }> {
  const state = fs.mkdtempSync(path.join(os.tmpdir(), "tctl-"));
  const bin = path.join(state, "bin");
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, "tctl"), FAKE_TCTL, { mode: 0o755 });
  fs.writeFileSync(path.join(state, "existing"), server.existing.map((n) => `${n}\n`).join(""));
  fs.writeFileSync(path.join(state, "lag"), String(server.cacheLag ?? 0));
  fs.writeFileSync(path.join(state, "slow"), String(server.slow ?? 0));
  fs.writeFileSync(
    path.join(state, "deprecated"),
    (server.deprecated ?? []).map((n) => `${n}\n`).join(""),
  );
  if (server.down) fs.writeFileSync(path.join(state, "down"), "");
  fs.writeFileSync(
    path.join(state, "pollers"),
    (server.pollers ?? []).map((p) => `${p.join(" ")}\n`).join(""),
  );
  const jobEnv: NamespaceJobEnv & WorkerCheckEnv = {
    TEMPORAL_CLI_ADDRESS: "temporal:7233",
    NAMESPACE: "acme",
    RETENTION_DAYS: "3",
    TASK_QUEUE: "default",
    WAIT_SECONDS: "5",
    WORKERS: "acme-worker-1",
    ...env,
  };
  // `sh -c <script>`, as the job's entrypoint and command run it (busybox ash in the image).
  const { code, output } = await new Promise<{ code: number; output: string }>((resolve) => {
    execFile(
      "sh",
      ["-c", script],
      { env: { PATH: `${bin}:/usr/bin:/bin`, STATE: state, ...jobEnv }, timeout: 30_000 },
      (error, stdout, stderr) =>
        resolve({
          code: error ? Number((error as { code?: number }).code ?? 1) : 0,
          output: stdout + stderr,
        }),
    );
  });
  const read = (file: string) =>
    fs.existsSync(path.join(state, file))
      ? fs.readFileSync(path.join(state, file), "utf8").split("\n").filter(Boolean)
      : [];
  return { code, output, calls: read("calls"), existing: read("existing") };
}

describe("the namespace job, in a real shell", () => {
  test("registers a new namespace with the configured retention, global flags first", async () => {
    const result = await runScript({ existing: ["default"] }, { RETENTION_DAYS: "7" });
    assert.equal(result.code, 0, result.output);
    assert.deepEqual(result.existing, ["default", "acme"]);
    assert.equal(result.calls[0], "--namespace acme namespace register --retention 7");
    assert.match(result.output, /Namespace acme is ready/);
  });

  test("an existing namespace counts as success, and gets the configured retention", async () => {
    const result = await runScript({ existing: ["acme"] }, { RETENTION_DAYS: "14" });
    assert.equal(result.code, 0, result.output);
    assert.deepEqual(result.existing, ["acme"]);
    assert.equal(result.calls[2], "--namespace acme namespace update --retention 14");
  });

  test("refuses a namespace an offboarding deprecated, naming the way out", async () => {
    // Temporal v1.22.4 never takes DEPRECATED back to REGISTERED (namespace_handler.go,
    // validateStateUpdate): workers would poll a namespace where no workflow may start.
    const result = await runScript({ existing: ["acme"], deprecated: ["acme"] });
    assert.equal(result.code, 1, result.output);
    assert.match(result.output, /deprecated when its tenant was offboarded.*namespaceGeneration/);
    assert.ok(!result.calls.some((c) => c.includes("update") || c.includes("taskqueue")));
  });

  test("waits until a frontend knows the new namespace", async () => {
    const result = await runScript({ existing: [], cacheLag: 2 });
    assert.equal(result.code, 0, result.output);
    assert.equal(result.calls.filter((c) => c.includes("taskqueue describe")).length, 3);
  });

  test("fails, with tctl's output, when Temporal does not answer or never knows the namespace", async () => {
    const down = await runScript({ existing: [], down: true });
    assert.equal(down.code, 1);
    assert.match(down.output, /Register namespace operation failed/);
    assert.ok(!down.calls.some((c) => c.includes("taskqueue")), "no waiting after a failure");

    const unknown = await runScript({ existing: [], cacheLag: 100 }, { WAIT_SECONDS: "2" });
    assert.equal(unknown.code, 1);
    assert.match(unknown.output, /no Temporal frontend knows it after 2s/);
  });
});

describe("the worker check, in a real shell", () => {
  const check = (pollers: [string, string][], env: Partial<WorkerCheckEnv> = {}) =>
    runScript({ existing: ["acme"], pollers }, { WAIT_SECONDS: "0", ...env }, workerCheckScript());

  test("passes once every worker container has polled since the check began", async () => {
    const result = await check(
      [
        ["1@acme-worker-1", "NOW"],
        ["7@acme-worker-2", "NOW"],
      ],
      { WORKERS: "acme-worker-1 acme-worker-2" },
    );
    assert.equal(result.code, 0, result.output);
    assert.equal(result.calls[0], "--namespace acme taskqueue describe --taskqueue default");
  });

  test("fails naming each worker that never polled, or polled only before (a replaced container)", async () => {
    const result = await check(
      [
        ["1@acme-worker-1", "2020-01-01T00:00:00Z"],
        ["1@prod-globex-worker-2", "NOW"],
      ],
      { WORKERS: "acme-worker-1 acme-worker-2" },
    );
    assert.equal(result.code, 1);
    assert.match(result.output, /since \S+ from: acme-worker-1 acme-worker-2\./);
    assert.match(result.output, /WORKFLOW POLLER IDENTITY/, "Temporal's answer is shown");
  });

  test("gives up after WAIT_SECONDS of wall-clock time, however long each tctl call takes", async () => {
    // The job's wait (customTimeouts) is counted from WAIT_SECONDS: counted in loops, 3 seconds
    // with 2-second calls took 11; by the clock about 5, with room here for a loaded machine.
    const started = Date.now();
    const result = await runScript(
      { existing: ["acme"], pollers: [], slow: 2 },
      { WAIT_SECONDS: "3" },
      workerCheckScript(),
    );
    assert.equal(result.code, 1, result.output);
    assert.ok(Date.now() - started < 9000, `took ${Date.now() - started} ms`);
  });

  test("a hostname that merely ends like another's does not count", async () => {
    const result = await check([["1@x-acme-worker-1", "NOW"]]);
    assert.equal(result.code, 1);
  });
});

test("a tenant id that is one of Temporal's own namespaces is refused, naming the key", () => {
  for (const id of RESERVED_NAMESPACES) {
    assert.throws(
      () => parsePlatformConfig({ environment: "dev", tenants: [{ id, workspaceName: "X" }] }),
      (error: ConfigError) =>
        error.problems.some(
          (p) =>
            p.key === "platform:tenants[0].id" &&
            p.value === JSON.stringify(id) &&
            /names its Temporal namespace/.test(p.message),
        ),
    );
  }
});

describe("Temporal's images in config", () => {
  const base = (environment: string, temporal?: Record<string, unknown>) => ({
    environment,
    tenants: [{ id: "acme", workspaceName: "A" }],
    backup: { publicKey: BACKUP_PUBLIC_KEY },
    ...(temporal ? { temporal } : {}),
  });

  test("dev runs auto-setup, staging and production the server image beside admin-tools", () => {
    assert.equal(parsePlatformConfig(base("dev")).temporal.image, "temporalio/auto-setup:1.22.4");
    for (const environment of ["staging", "production"]) {
      const { temporal } = parsePlatformConfig(base(environment));
      assert.deepEqual(
        [temporal.image, temporal.adminToolsImage],
        ["temporalio/server:1.22.4", "temporalio/admin-tools:1.22.4"],
      );
    }
  });

  test("auto-setup outside dev, or admin-tools of another version, is refused naming the key", () => {
    const problems = (config: Record<string, unknown>) => {
      try {
        parsePlatformConfig(config);
        return [];
      } catch (error) {
        return (error as ConfigError).problems;
      }
    };
    const autoSetup = problems(base("production", { image: "temporalio/auto-setup:1.22.4" }));
    assert.equal(autoSetup[0]?.key, "platform:temporal.image");
    assert.match(autoSetup[0]?.message ?? "", /development image/);
    const mismatch = problems(
      base("staging", {
        image: "temporalio/server:1.23.1",
        adminToolsImage: "temporalio/admin-tools:1.22.4",
      }),
    );
    assert.equal(mismatch[0]?.key, "platform:temporal.adminToolsImage");
    assert.match(
      mismatch[0]?.message ?? "",
      /server's Temporal version \(1\.23\.1\), not 1\.22\.4/,
    );
    assert.deepEqual(problems(base("dev", { image: "temporalio/auto-setup:1.23.1" })), []);
  });

  test("an image reference splits into repository and tag, registry ports and digests aside", () => {
    assert.deepEqual(imageParts("temporalio/server:1.22.4"), {
      repository: "temporalio/server",
      tag: "1.22.4",
    });
    assert.deepEqual(imageParts("registry.example:5000/temporalio/auto-setup"), {
      repository: "registry.example:5000/temporalio/auto-setup",
      tag: "",
    });
    assert.deepEqual(imageParts("temporalio/server:1.22.4@sha256:" + "a".repeat(64)), {
      repository: "temporalio/server",
      tag: "1.22.4",
    });
    assert.ok(isAutoSetupImage("registry.example:5000/temporalio/auto-setup:1.22.4"));
    assert.ok(!isAutoSetupImage("temporalio/server:1.22.4"));
  });
});

test("Temporal's schema job sets up, then upgrades, both databases, in a real shell; the password stays in the environment", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sql-tool-"));
  // Records its arguments and the password it found; fails when told to.
  fs.writeFileSync(
    path.join(dir, "temporal-sql-tool"),
    `#!/bin/sh\necho "$* | pw=$SQL_PASSWORD" >> "${dir}/calls"\n[ -f "${dir}/fail" ] && exit 3\nexit 0\n`,
    { mode: 0o755 },
  );
  const env: TemporalSchemaEnv = {
    SQL_HOST: "postgres",
    SQL_PORT: "5432",
    SQL_USER: "temporal",
    SQL_PASSWORD: "s3cret'\"$x",
    DBNAME: "temporal",
    VISIBILITY_DBNAME: "temporal_visibility",
    SCHEMA_ROOT: POSTGRES_SCHEMA_ROOT,
  };
  const run = () =>
    spawnSync("sh", ["-c", temporalSchemaScript()], {
      env: { PATH: `${dir}:/usr/bin:/bin`, ...env },
      encoding: "utf8",
    });
  assert.equal(run().status, 0);
  const common = "--plugin postgres --ep postgres -p 5432 -u temporal";
  assert.deepEqual(fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n"), [
    `${common} --db temporal setup-schema -v 0.0 | pw=${env.SQL_PASSWORD}`,
    `${common} --db temporal update-schema -d ${POSTGRES_SCHEMA_ROOT}/temporal/versioned | pw=${env.SQL_PASSWORD}`,
    `${common} --db temporal_visibility setup-schema -v 0.0 | pw=${env.SQL_PASSWORD}`,
    `${common} --db temporal_visibility update-schema -d ${POSTGRES_SCHEMA_ROOT}/visibility/versioned | pw=${env.SQL_PASSWORD}`,
  ]);
  fs.writeFileSync(path.join(dir, "fail"), "");
  fs.rmSync(path.join(dir, "calls"));
  assert.equal(run().status, 3, "the first failure stops the job with its code");
  assert.equal(fs.readFileSync(path.join(dir, "calls"), "utf8").trim().split("\n").length, 1);
});

describe("the namespace deprecation of an offboarding, in real node", () => {
  /**
   * A stand-in for @temporalio/client 1.11.6 (what dittofeed v0.23.0's admin-cli image ships):
   * `Connection.connect({ address })`, and `workflowService.updateNamespace` and
   * `describeNamespace` answering as Temporal v1.22.4 does (NOT_FOUND is gRPC code 5).
   */
  const STAND_IN = `
const fs = require("fs");
const log = (call) => fs.appendFileSync(process.env.CALLS, JSON.stringify(call) + "\\n");
const scenario = process.env.SCENARIO;
let state = scenario === "deprecated" ? 2 : 1;
exports.Connection = {
  connect: async ({ address }) => {
    log({ connect: address });
    return {
      workflowService: {
        updateNamespace: async (request) => {
          log({ update: request });
          if (scenario === "missing") throw Object.assign(new Error("Namespace acme is not found."), { code: 5 });
          if (scenario === "unavailable") throw Object.assign(new Error("connect ECONNREFUSED"), { code: 14 });
          if (scenario !== "ignored") state = request.updateInfo.state;
          return {};
        },
        describeNamespace: async ({ namespace }) => ({ namespaceInfo: { name: namespace, state } }),
      },
      close: async () => log({ close: true }),
    };
  },
};`;

  function deprecate(scenario: string) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "admin-cli-"));
    const module = path.join(dir, "node_modules", "@temporalio", "client");
    fs.mkdirSync(module, { recursive: true });
    fs.writeFileSync(path.join(module, "index.js"), STAND_IN);
    const calls = path.join(dir, "calls");
    const result = spawnSync("sh", ["-c", deprecateNamespaceScript()], {
      cwd: dir,
      env: {
        PATH: process.env.PATH,
        CALLS: calls,
        SCENARIO: scenario,
        TEMPORAL_ADDRESS: "temporal:7233",
        NAMESPACE: "acme",
      },
    });
    return {
      code: result.status,
      output: result.stdout.toString() + result.stderr.toString(),
      calls: fs.existsSync(calls)
        ? fs
            .readFileSync(calls, "utf8")
            .trim()
            .split("\n")
            .map((l) => JSON.parse(l) as Record<string, unknown>)
        : [],
    };
  }

  test("sets the namespace DEPRECATED through the frontend, and checks that it is", () => {
    const result = deprecate("registered");
    assert.equal(result.code, 0, result.output);
    assert.deepEqual(result.calls.slice(0, 2), [
      { connect: "temporal:7233" },
      { update: { namespace: "acme", updateInfo: { state: 2 } } },
    ]);
    assert.match(result.output, /Namespace acme is deprecated/);
  });

  test("an already deprecated or missing namespace is done; anything else fails the job", () => {
    assert.equal(deprecate("deprecated").code, 0);
    const missing = deprecate("missing");
    assert.equal(missing.code, 0, missing.output);
    assert.match(missing.output, /does not exist: nothing to deprecate/);
    const down = deprecate("unavailable");
    assert.equal(down.code, 1);
    assert.match(down.output, /Deprecating namespace acme failed: connect ECONNREFUSED/);
    const ignored = deprecate("ignored");
    assert.equal(ignored.code, 1);
    assert.match(ignored.output, /is in state 1 after the update, not deprecated/);
  });
});
