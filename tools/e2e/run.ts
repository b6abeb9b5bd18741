/**
 * `npm run test:e2e`: the Docker half of the program on a real Docker engine. The staging stack
 * is applied from scratch (tools/e2e/apply.ts), then measured: health, isolation by packets,
 * releases and a secret rotation under a stream of requests, a backup restored, and the egress
 * guard after an engine restart. Writes `.e2e/report.json`; removes everything it made, also when
 * it fails or is interrupted; fails when anything falls short (`shortfalls`).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { parseOptions, runCommand, UsageError } from "../engine/cli";
import { PROJECT_ROOT, RunResult, runProgram } from "../engine/runner";
import { Applier } from "./apply";
import { api, engineVersion } from "./docker";
import { gpgKeyPair, Host } from "./host";
import {
  backupScenario,
  egressGuardScenario,
  isolationScenario,
  monitoringScenario,
  releaseScenario,
  NEXT_VERSION,
  Report,
  shortfalls,
  SOAK_MINUTES,
  STACK,
  stackConfig,
  upScenario,
} from "./scenarios";

const USAGE = `usage:
  npm run test:e2e [-- --keep]

  Applies the staging stack to the Docker engine at $DOCKER_SOCKET (/var/run/docker.sock),
  builds the images it needs from Debian packages (tools/e2e/images), runs the scenarios and
  writes .e2e/report.json. Needs root (iptables, network namespaces).
  --keep   leave the containers running at the end, behind the run's safety chain
           (the test hosts go; the next run makes the chain again)`;

export const REPORT = path.join(PROJECT_ROOT, ".e2e", "report.json");

/** The image names a run pulls (its `RemoteImage`s). */
function imagesOf(run: RunResult): string[] {
  return run.registrations.flatMap((r) =>
    r.type === "docker:index/remoteImage:RemoteImage" ? [String(r.inputs.name)] : [],
  );
}

/**
 * What the engine already has under a name the run would create: a kept or interrupted run's,
 * or a real staging's. The run refuses to start on it rather than take it over.
 */
async function taken(run: RunResult): Promise<string[]> {
  const paths: Record<string, string> = {
    "docker:index/container:Container": "containers",
    "docker:index/network:Network": "networks",
    "docker:index/volume:Volume": "volumes",
  };
  const names = run.registrations.flatMap((r) =>
    paths[r.type] ? [`/${paths[r.type]}/${encodeURIComponent(String(r.inputs.name))}`] : [],
  );
  const found = await Promise.all(
    names.map((path) =>
      api("GET", path.startsWith("/containers/") ? `${path}/json` : path).then(
        () => decodeURIComponent(path),
        () => undefined,
      ),
    ),
  );
  return found.filter((path): path is string => path !== undefined);
}

/** The engine's hard limit of open files, where its process can be read (same machine). */
function engineNofile(): number | undefined {
  try {
    const pid = execFileSync("pidof", ["dockerd"]).toString().trim().split(" ")[0];
    const line = fs
      .readFileSync(`/proc/${pid}/limits`, "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    return line ? Number(line.trim().split(/\s+/)[4]) : undefined;
  } catch {
    return undefined;
  }
}

async function main(args: string[]): Promise<void> {
  const { values } = parseOptions(args, { keep: { type: "boolean", default: false } });
  const engine = await engineVersion();
  if (!engine) throw new UsageError("no Docker engine answers at the socket: start dockerd first");
  if (process.getuid?.() !== 0)
    throw new UsageError("run as root: the run sets iptables rules and namespaces");
  const started = Date.now();
  // After a failed `pulumi up`, the registrations waiting on the failed one reject too, late;
  // runProgram reports the first error, which is the one that counts.
  process.on("unhandledRejection", (reason) => {
    console.log(`(late) ${String(reason).split("\n")[0].slice(0, 200)}`);
  });
  const key = gpgKeyPair();
  const raw = JSON.parse(stackConfig().config["platform:backup"]) as Record<string, unknown>;
  const base = {
    "platform:backup": { ...raw, publicKey: key.publicKey },
    // The version bump moves acme first and globex once a gate watched acme for a minute.
    "platform:release": { waves: [["acme"]], soakMinutes: SOAK_MINUTES },
  };
  const bumped = { ...base, "platform:dittofeed": { version: NEXT_VERSION } };

  // Every image of both releases, before any rule of the run exists (the build reaches the apt
  // mirror and the npm registry).
  const names = new Set<string>();
  const existing = new Set<string>();
  for (const changes of [base, bumped]) {
    const dry = await runProgram({
      ...stackConfig(changes),
    });
    if (dry.error) throw dry.error;
    imagesOf(dry).forEach((name) => names.add(name));
    (await taken(dry)).forEach((name) => existing.add(name));
  }
  if (existing.size > 0) {
    throw new Error(
      `the engine already has what the run would create (a kept or interrupted run's, or a real staging's): ${[...existing].join(", ")}`,
    );
  }
  const build = Date.now();
  execFileSync("bash", [path.join(__dirname, "images", "build.sh"), ...names], {
    stdio: "inherit",
  });
  const report: Report = { engine: `docker ${engine}`, stack: STACK, seconds: {} } as Report;
  report.seconds.images = Math.round((Date.now() - build) / 1000);

  const host = new Host();
  const applier = new Applier((subnets) => host.allowNetwork(subnets), engineNofile());
  // Once, after the scenarios or on Ctrl-C: the report first, then what the run made. The
  // safety chain stays while containers of the run are left (--keep, or a failed delete).
  let cleaning: Promise<void> | undefined;
  const cleanup = () =>
    (cleaning ??= (async () => {
      report.seconds.total = Math.round((Date.now() - started) / 1000);
      report.adjustments = applier.adjustments;
      fs.mkdirSync(path.dirname(REPORT), { recursive: true });
      fs.writeFileSync(REPORT, `${JSON.stringify(report, null, 2)}\n`);
      console.log(`report: ${path.relative(process.cwd(), REPORT)}`);
      const failed = values.keep ? undefined : await applier.destroy();
      for (const failure of failed ?? []) console.log(`cleanup: ${failure}`);
      host.cleanup({ keepSafety: failed === undefined || failed.length > 0 });
      fs.rmSync(key.home, { recursive: true, force: true });
    })());
  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGTERM", 143],
  ] as const) {
    process.once(signal, () => void cleanup().finally(() => process.exit(code)));
  }
  try {
    host.install();
    await host.startTestHosts();
    const context = { host, applier, base, bumped, key, report };
    const first = await upScenario(context);
    await isolationScenario(context);
    await releaseScenario(context, first);
    await monitoringScenario(context);
    await backupScenario(context);
    await egressGuardScenario(context);
  } finally {
    await cleanup();
  }
  const short = shortfalls(report);
  if (short.length > 0) throw new Error(`the run fell short:\n  ${short.join("\n  ")}`);
}

if (require.main === module) runCommand("test:e2e", USAGE, main);
