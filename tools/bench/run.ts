/** `npm run bench`: measures each size in fresh processes, runs the blast radius, writes the results. */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parseOptions, runCommand, UsageError } from "../engine/cli";
import { PROJECT_ROOT } from "../engine/runner";
import { BLAST_STACKS, blastRadius } from "./blast";
import { DOWNTIME_BASELINE, downtimeBeforeAndAfter } from "./downtime";
import { Measurement, MeasuredProgram } from "./measure";
import { Runtime } from "./synthetic";
import {
  BenchResults,
  completed,
  evaluateTargets,
  Outcome,
  ratioOf,
  renderResultsMarkdown,
  SizeResult,
} from "./report";

export const DEFAULT_SIZES = [1, 10, 100, 300, 500];
/** What `npm run bench` alone measures: a check that takes a minute or two, not half an hour. */
export const QUICK_SIZES = [1, 10];
/** The Kubernetes runtime's sizes: the issue's 1, 10 and 100 tenants. */
export const KUBERNETES_SIZES = [1, 10, 100];

/**
 * The most tenants one stack evaluates with at Node's default heap (4 GB on a 24 GB machine;
 * Node sizes it from the machine's memory). Larger sizes run, platform and floor alike, with the
 * heap docs/scale.md tells operators to give such a stack: at the default heap they measure the
 * garbage collector at the ceiling, not the program.
 */
export const DEFAULT_HEAP_TENANTS = 300;
export const RAISED_HEAP_MB = 8192;

export function nodeArgsFor(tenants: number): string[] {
  return tenants > DEFAULT_HEAP_TENANTS ? [`--max-old-space-size=${RAISED_HEAP_MB}`] : [];
}
const MEASURE = path.join(__dirname, "measure.ts");
const RESULTS = path.join(__dirname, "results");

/** Sizes up to 100 get the median of three runs (a run at 100 varies by a tenth), larger ones one. */
export const runsFor = (tenants: number) => (tenants <= 100 ? 3 : 1);

function measureOnce(
  program: MeasuredProgram,
  tenants: number,
  skeleton: string,
  runtime: Runtime,
): Outcome {
  // Node's defaults up to DEFAULT_HEAP_TENANTS: no flags beyond loading TypeScript.
  const child = spawnSync(
    process.execPath,
    [
      ...nodeArgsFor(tenants),
      "--import",
      "tsx",
      MEASURE,
      program,
      String(tenants),
      skeleton,
      runtime,
    ],
    {
      cwd: PROJECT_ROOT,
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  if (child.status === 0) return JSON.parse(child.stdout) as Measurement;
  const stderr = child.stderr.trim();
  const reason = /heap limit|out of memory/i.test(stderr)
    ? "out of memory at the default heap limit"
    : (stderr.split("\n").at(-1) ?? `exit ${child.status}`);
  return { failed: `${reason} (${child.signal ?? `exit ${child.status}`})` };
}

function median(outcomes: Outcome[]): Outcome {
  const done = outcomes.filter(completed).sort((a, b) => a.wallMs - b.wallMs);
  return done.length === outcomes.length
    ? done[Math.floor(done.length / 2)]
    : outcomes.find((o) => !completed(o))!;
}

function measureSize(tenants: number, runtime: Runtime, log: (line: string) => void): SizeResult {
  const skeleton = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "bench-")), "skeleton.json");
  const runs = runsFor(tenants);
  const platform: Outcome[] = [];
  const floor: Outcome[] = [];
  for (let run = 0; run < runs; run++) {
    // Alternating keeps a slow spell of the machine from landing on one side only.
    platform.push(measureOnce("platform", tenants, skeleton, runtime));
    if (!completed(platform[run])) break;
    floor.push(measureOnce("floor", tenants, skeleton, runtime));
    log(
      `${runtime}, ${tenants} tenants, run ${run + 1}/${runs}: platform ${show(platform[run])}, floor ${show(floor[run])}`,
    );
  }
  fs.rmSync(path.dirname(skeleton), { recursive: true, force: true });
  const result = {
    tenants,
    runs,
    platform: median(platform),
    floor: floor.length ? median(floor) : { failed: "not run: the platform did not complete" },
  };
  const nodeArgs = nodeArgsFor(tenants);
  return {
    ...result,
    ratio: ratioOf(result.platform, result.floor),
    ...(nodeArgs.length ? { nodeArgs } : {}),
  };
}

const show = (o: Outcome) => (completed(o) ? `${o.wallMs} ms, ${o.peakRssMb} MB` : o.failed);

/** `--runtimes docker,kubernetes`: which runtimes' sizes to measure. @default both */
export function parseRuntimes(value: string | undefined): Runtime[] {
  if (value === undefined) return ["docker", "kubernetes"];
  const runtimes = value.split(",").map((s) => s.trim());
  const unknown = runtimes.filter((r) => r !== "docker" && r !== "kubernetes");
  if (unknown.length > 0) {
    throw new UsageError(
      `--runtimes must be docker, kubernetes or both, got ${JSON.stringify(value)}`,
    );
  }
  return runtimes as Runtime[];
}

export function parseSizes(value: string | undefined): number[] {
  if (value === undefined) return QUICK_SIZES;
  if (value === "none") return [];
  const sizes = value.split(",").map((s) => Number(s.trim()));
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new UsageError(
      `--sizes must be tenant counts like 1,10,100 (or none), got ${JSON.stringify(value)}`,
    );
  }
  return [...new Set(sizes)].sort((a, b) => a - b);
}

const USAGE = `usage:
  npm run bench                         a quick run: ${QUICK_SIZES.join(" and ")} tenants on each runtime, the blast radius
                                        and the downtime of changes; printed, nothing written
  npm run bench -- --sizes <n,n,...> [--runtimes docker|kubernetes|docker,kubernetes]
                                        those sizes, printed (--sizes none: the blast radius
                                        and the downtime of changes alone)
  npm run bench -- --write              the full benchmark (${DEFAULT_SIZES.join(", ")} tenants on Docker, ${KUBERNETES_SIZES.join(", ")} on
                                        Kubernetes; about 26 minutes on two cores), written to tools/bench/results.{json,md}`;

async function main(args: string[]): Promise<void> {
  const { values } = parseOptions(args, {
    sizes: { type: "string" },
    runtimes: { type: "string" },
    write: { type: "boolean", default: false },
  });
  if (values.write && (values.sizes !== undefined || values.runtimes !== undefined)) {
    throw new UsageError("--write records the full benchmark: give it alone");
  }
  const sizes = values.write ? DEFAULT_SIZES : parseSizes(values.sizes);
  const runtimes = parseRuntimes(values.runtimes);
  const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
  const started = Date.now();

  const sizeResults = runtimes.includes("docker")
    ? sizes.map((n) => measureSize(n, "docker", log))
    : [];
  // The Kubernetes runtime at its own sizes in the full benchmark.
  const kubernetesSizes = values.write ? KUBERNETES_SIZES : sizes;
  const kubernetes = runtimes.includes("kubernetes")
    ? kubernetesSizes.map((n) => measureSize(n, "kubernetes", log))
    : [];
  const blast = [];
  for (const stack of BLAST_STACKS) {
    log(`blast radius on ${stack}`);
    blast.push(...(await blastRadius(stack)));
  }
  log(`downtime of changes, before (${DOWNTIME_BASELINE}) and after`);
  const downtime = await downtimeBeforeAndAfter();
  const cpus = os.cpus();
  const results: BenchResults = {
    command: `npm run bench${[
      values.write ? " --write" : "",
      values.sizes === undefined ? "" : ` --sizes ${values.sizes}`,
      values.runtimes === undefined ? "" : ` --runtimes ${values.runtimes}`,
    ]
      .join("")
      .replace(/^ /, " -- ")}`,
    measuredOn: new Date().toISOString().slice(0, 10),
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model.trim() ?? "unknown",
      memoryGb: Math.round(os.totalmem() / 1024 ** 3),
      node: process.version,
      nodeOptions: process.env.NODE_OPTIONS ?? "",
    },
    durationSeconds: Math.round((Date.now() - started) / 1000),
    sizes: sizeResults,
    kubernetes,
    blast,
    downtime,
    targets: evaluateTargets(sizeResults, blast, process.env.NODE_OPTIONS, downtime, kubernetes),
  };
  const markdown = renderResultsMarkdown(results);
  // Only the full benchmark, and only when asked, replaces the kept results.
  if (values.write) {
    fs.writeFileSync(`${RESULTS}.json`, `${JSON.stringify(results, null, 2)}\n`);
    fs.writeFileSync(`${RESULTS}.md`, markdown);
    log(
      `wrote tools/bench/results.md and tools/bench/results.json in ${results.durationSeconds} s`,
    );
  } else {
    process.stdout.write(markdown);
  }
}

if (require.main === module) runCommand("bench", USAGE, main);
