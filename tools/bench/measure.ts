/**
 * One measurement in a fresh process, so that its peak RSS is its own:
 *   node --import tsx tools/bench/measure.ts platform <tenants> <skeleton file to write> [runtime]
 *   node --import tsx tools/bench/measure.ts floor <tenants> <skeleton file to read> [runtime]
 * The runtime is `docker` (the default) or `kubernetes`. Prints one JSON `Measurement` on stdout.
 */
import * as fs from "node:fs";
import { getHeapStatistics } from "node:v8";
import { buildPlan } from "../plan/plan";
import { runProgram } from "../engine/runner";
import { count, shapeOf, ShapeFigures } from "./analysis";
import { floorProgram, skeletonOf, SkeletonEntry } from "./floor";
import { Runtime, syntheticStack } from "./synthetic";

export type MeasuredProgram = "platform" | "floor";

export interface Measurement {
  program: MeasuredProgram;
  tenants: number;
  /** Evaluation under mocks, from the first registration to the last RPC. */
  wallMs: number;
  /** Peak resident set of the whole process by the end of the evaluation. */
  peakRssMb: number;
  /** V8 heap in use at the end of the evaluation, when everything registered is still held. */
  heapUsedMb: number;
  /** The heap limit in force: Node's default for this machine. */
  heapLimitMb: number;
  /** Every registration by type, components and the stack included. */
  registered: Record<string, number>;
  /** The platform's shape (the floor has none of its own). */
  shape?: ShapeFigures;
}

const MB = 1024 * 1024;

async function measure(
  program: MeasuredProgram,
  tenants: number,
  skeletonFile: string,
  runtime: Runtime,
) {
  const options = syntheticStack(tenants, runtime);
  const floor =
    program === "floor"
      ? floorProgram(JSON.parse(fs.readFileSync(skeletonFile, "utf8")) as SkeletonEntry[])
      : undefined;
  const started = performance.now();
  const run = await runProgram({ ...options, program: floor });
  const wallMs = performance.now() - started;
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  const heap = getHeapStatistics();
  if (run.error) throw run.error;
  const measurement: Measurement = {
    program,
    tenants,
    wallMs: Math.round(wallMs),
    peakRssMb: Math.round(peakRssMb),
    heapUsedMb: Math.round(heap.used_heap_size / MB),
    heapLimitMb: Math.round(heap.heap_size_limit / MB),
    registered: count(run.registrations.map((r) => r.type)),
  };
  if (program === "platform") {
    fs.writeFileSync(skeletonFile, JSON.stringify(skeletonOf(run.registrations)));
    measurement.shape = shapeOf(buildPlan(options.stack!, run));
  }
  return measurement;
}

if (require.main === module) {
  const [program, tenants, skeletonFile, runtime = "docker"] = process.argv.slice(2);
  if (
    (program !== "platform" && program !== "floor") ||
    !/^\d+$/.test(tenants ?? "") ||
    !skeletonFile ||
    (runtime !== "docker" && runtime !== "kubernetes")
  ) {
    process.stderr.write(
      "usage: measure.ts platform|floor <tenants> <skeleton file> [docker|kubernetes]\n",
    );
    process.exit(2);
  }
  measure(program, Number(tenants), skeletonFile, runtime).then(
    (m) => process.stdout.write(`${JSON.stringify(m)}\n`),
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
