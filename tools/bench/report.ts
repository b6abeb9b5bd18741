/** The benchmark's targets, whether they are met, and the results page (tools/bench/results.md). */
import { BlastResult } from "./blast";
import { DOWNTIME_BASELINE, DowntimeResult } from "./downtime";
import { Measurement } from "./measure";

/** A measurement that did not complete, e.g. a process killed at the heap limit. */
export interface Failure {
  failed: string;
}

export type Outcome = Measurement | Failure;

export const completed = (o: Outcome | undefined): o is Measurement =>
  o !== undefined && !("failed" in o);

/** One tenant count: the median run of the platform and of the floor, and their ratio. */
export interface SizeResult {
  tenants: number;
  runs: number;
  platform: Outcome;
  floor: Outcome;
  /** platform / floor; absent when either did not complete. */
  ratio?: { wall: number; rss: number };
  /** Node flags both programs ran with at this size. @default none: Node's default heap */
  nodeArgs?: string[];
}

export interface Target {
  target: string;
  met: boolean;
  detail: string;
}

export interface BenchResults {
  command: string;
  measuredOn: string;
  machine: { cpus: number; cpuModel: string; memoryGb: number; node: string; nodeOptions: string };
  durationSeconds: number;
  sizes: SizeResult[];
  /** The Kubernetes runtime's sizes, each against its own floor. @default none measured */
  kubernetes?: SizeResult[];
  blast: BlastResult[];
  downtime: DowntimeResult[];
  targets: Target[];
}

/** The most the platform may cost over the floor, in wall time and in peak RSS. */
export const MAX_RATIO = 1.3;

/**
 * The share of the heap limit a size may keep in use and still count as fitting: past it, V8
 * spends the difference collecting garbage (at 500 tenants on a 4 GB heap, twice the floor's).
 */
export const HEAP_SHARE = 0.75;

const round2 = (x: number) => Math.round(x * 100) / 100;

export function ratioOf(platform: Outcome, floor: Outcome): SizeResult["ratio"] {
  if (!completed(platform) || !completed(floor)) return undefined;
  return {
    wall: round2(platform.wallMs / floor.wallMs),
    rss: round2(platform.peakRssMb / floor.peakRssMb),
  };
}

/** The cost of each added tenant between consecutive sizes that both completed. */
export function marginalCosts(
  sizes: readonly SizeResult[],
  program: "platform" | "floor",
): { from: number; to: number; msPerTenant: number; mbPerTenant: number }[] {
  const done = sizes.filter((s) => completed(s[program]));
  return done.slice(1).map((s, i) => {
    const [a, b] = [done[i][program] as Measurement, s[program] as Measurement];
    return {
      from: a.tenants,
      to: b.tenants,
      msPerTenant: round2((b.wallMs - a.wallMs) / (b.tenants - a.tenants)),
      mbPerTenant: round2((b.peakRssMb - a.peakRssMb) / (b.tenants - a.tenants)),
    };
  });
}

/** Whether each target of the benchmark is met by these results, and why. */
/** What is down that serves requests: everything but workers, which only poll Temporal. */
const servingDown = (r: DowntimeResult) => r.down.filter((d) => !d.endsWith("'s worker"));

/** Whether every size is within {@link MAX_RATIO} of its floor, and the ratios. */
function ratioTarget(target: string, sizes: readonly SizeResult[]): Target {
  const over = sizes.filter((s) => !s.ratio || s.ratio.wall > MAX_RATIO || s.ratio.rss > MAX_RATIO);
  return {
    target,
    met: sizes.length > 0 && over.length === 0,
    detail: sizes
      .map(
        (s) =>
          `${s.tenants}: ${s.ratio ? `${s.ratio.wall} time, ${s.ratio.rss} RSS` : "incomplete"}`,
      )
      .join("; "),
  };
}

export function evaluateTargets(
  sizes: readonly SizeResult[],
  blast: readonly BlastResult[],
  nodeOptions = "",
  downtime: readonly DowntimeResult[] = [],
  kubernetes: readonly SizeResult[] = [],
): Target[] {
  // Each runtime's target only where its sizes were measured (`--runtimes`).
  const targets: Target[] =
    sizes.length > 0 || kubernetes.length === 0
      ? [
          ratioTarget(
            `platform/floor at most ${MAX_RATIO} in wall time and peak RSS, at every size`,
            sizes,
          ),
        ]
      : [];
  if (kubernetes.length > 0) {
    targets.push(
      ratioTarget(
        `Kubernetes runtime: platform/floor at most ${MAX_RATIO} in wall time and peak RSS, at ${kubernetes.map((s) => s.tenants).join(", ")} tenants`,
        kubernetes,
      ),
    );
  }

  // Linear: an added tenant costs no more at the largest sizes than at the smaller ones.
  const steps = marginalCosts(sizes, "platform").filter((m) => m.from >= 10);
  if (steps.length >= 2) {
    const [first, last] = [steps[0], steps[steps.length - 1]];
    const growth = {
      time: round2(last.msPerTenant / first.msPerTenant),
      rss: round2(last.mbPerTenant / first.mbPerTenant),
    };
    targets.push({
      target: `growth linear in tenants: cost per added tenant ${last.from}→${last.to} at most ${MAX_RATIO}× that of ${first.from}→${first.to}`,
      met: growth.time <= MAX_RATIO && growth.rss <= MAX_RATIO,
      detail: `${growth.time}× the time, ${growth.rss}× the memory per tenant`,
    });
  }

  // The largest size run at Node's default heap must fit it with room for the collector.
  const atDefault = sizes.filter(
    (s) => !s.nodeArgs?.length && !/--max-old-space-size/.test(nodeOptions),
  );
  const largest = atDefault[atDefault.length - 1];
  if (largest) {
    const p = largest.platform;
    const share = completed(p) ? round2(p.heapUsedMb / p.heapLimitMb) : undefined;
    targets.push({
      target: `${largest.tenants} tenants complete under Node's default heap limit, using at most ${HEAP_SHARE * 100}% of it`,
      met: share !== undefined && share <= HEAP_SHARE,
      detail: completed(p)
        ? `heap in use ${p.heapUsedMb} MB of ${p.heapLimitMb} MB (${Math.round((share ?? 0) * 100)}%); peak RSS ${p.peakRssMb} MB`
        : p.failed,
    });
  }

  const shapes = sizes.flatMap((s) => (completed(s.platform) && s.platform.shape ? [s] : []));
  if (shapes.length > 0) {
    const lengths = shapes.map((s) => (s.platform as Measurement).shape!.criticalPath.length);
    const waits = shapes.flatMap((s) => (s.platform as Measurement).shape!.crossTenantWaits);
    targets.push({
      target: "critical path independent of tenant count; no tenant waits for another",
      met: lengths.every((l) => l === lengths[0]) && waits.length === 0,
      detail: `${shapes.map((s, i) => `${s.tenants}: ${lengths[i]} steps`).join("; ")}; ${waits.length} cross-tenant waits${waits.length ? ` (${waits.slice(0, 3).join(", ")})` : ""}`,
    });
  }

  for (const r of blast) {
    targets.push({
      target: `${r.stack}, ${r.change}: ${r.target}`,
      met: r.violations.length === 0,
      detail:
        r.violations.length === 0
          ? `${r.added.length} added, ${r.changed.length} changed, ${r.removed.length} removed`
          : `outside the target: ${r.violations.join(", ")}`,
    });
  }
  const after = downtime.filter((r) => r.program === "after");
  if (after.length > 0) {
    const serving = after.flatMap((r) => servingDown(r).map((d) => `${r.stack} ${r.change}: ${d}`));
    targets.push({
      target:
        "no container that serves requests (api, dashboard, front, gateway, connector, shared service) is down during a version bump, a secret rotation or a hostname change",
      met: serving.length === 0,
      detail:
        serving.length === 0
          ? `${after.length} changes; down only: ${[...new Set(after.flatMap((r) => r.down))].join(", ") || "nothing"}`
          : serving.join(", "),
    });
  }
  return targets;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
const cell = (o: Outcome, show: (m: Measurement) => string) =>
  completed(o) ? show(o) : `failed: ${o.failed}`;
const check = (met: boolean) => (met ? "yes" : "**no**");

function perTypeTable(title: string, counts: Record<string, number>): string[] {
  return [
    `| ${title} | count |`,
    "| --- | ---: |",
    ...Object.entries(counts).map(([type, n]) => `| ${type} | ${n} |`),
  ];
}

/** The shape of the largest size whose platform run completed. */
function largestShape(sizes: readonly SizeResult[]) {
  for (const s of [...sizes].reverse()) {
    if (completed(s.platform) && s.platform.shape)
      return { tenants: s.tenants, shape: s.platform.shape };
  }
  return undefined;
}

function scaleSection(sizes: readonly SizeResult[]): string[] {
  const lines = [
    "## 1. Evaluating the program under mocks",
    "",
    "Each figure is the median of `runs` fresh processes. The floor registers the same resources",
    "(same types, names and parents) with only the inputs each SDK class requires, under the same",
    "mocks, in a process of its own: what the Pulumi SDK costs before any logic of ours. Both run",
    "with the same Node flags: none (Node's default heap) unless the last column names them.",
    "",
    "| tenants | resources (+ components) | runs | platform | floor | ratio | platform peak RSS | floor peak RSS | ratio | platform heap in use / limit | node flags |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const s of sizes) {
    const shape = completed(s.platform) ? s.platform.shape : undefined;
    lines.push(
      `| ${s.tenants} | ${shape ? `${shape.resources} (+ ${shape.components})` : "?"} | ${s.runs} | ${cell(s.platform, (m) => seconds(m.wallMs))} | ${cell(s.floor, (m) => seconds(m.wallMs))} | ${s.ratio?.wall ?? "–"} | ${cell(s.platform, (m) => `${m.peakRssMb} MB`)} | ${cell(s.floor, (m) => `${m.peakRssMb} MB`)} | ${s.ratio?.rss ?? "–"} | ${cell(s.platform, (m) => `${m.heapUsedMb} / ${m.heapLimitMb} MB`)} | ${s.nodeArgs?.length ? `\`${s.nodeArgs.join(" ")}\`` : "–"} |`,
    );
  }
  lines.push("", "Cost of each added tenant between sizes:", "");
  lines.push("| sizes | platform | floor |", "| --- | ---: | ---: |");
  const [platform, floor] = [marginalCosts(sizes, "platform"), marginalCosts(sizes, "floor")];
  for (const p of platform) {
    const f = floor.find((x) => x.from === p.from && x.to === p.to);
    lines.push(
      `| ${p.from} → ${p.to} | ${p.msPerTenant} ms, ${p.mbPerTenant} MB | ${f ? `${f.msPerTenant} ms, ${f.mbPerTenant} MB` : "–"} |`,
    );
  }
  const largest = largestShape(sizes);
  if (largest) {
    const { tenants, shape } = largest;
    lines.push(
      "",
      `Resources by type at ${tenants} tenants: what every tenant adds, and what the stack shares whatever its size.`,
      "",
      ...perTypeTable("per tenant", shape.perTenant ?? {}),
      "",
      ...perTypeTable("shared", shape.shared),
    );
  }
  return lines;
}

function criticalPathSection(sizes: readonly SizeResult[]): string[] {
  const lines = [
    "## 2. Critical path of a fresh stack",
    "",
    "From the recorded dependency graph (explicit `dependsOn`, Outputs passed as inputs, and",
    "providers): the longest chain of resources that must be created one after another.",
    "",
    "| tenants | steps | widest wave | tenant resources waiting for another tenant |",
    "| ---: | ---: | ---: | ---: |",
  ];
  for (const s of sizes) {
    if (!completed(s.platform) || !s.platform.shape) continue;
    const shape = s.platform.shape;
    lines.push(
      `| ${s.tenants} | ${shape.criticalPath.length} | ${shape.widestWave} | ${shape.crossTenantWaits.length} |`,
    );
  }
  const largest = largestShape(sizes);
  if (largest) {
    const path = largest.shape.criticalPath.map((n) => `\`${n}\``);
    lines.push("", `At ${largest.tenants} tenants: ${path.join(" → ")}`);
  }
  return lines;
}

function blastSection(blast: readonly BlastResult[]): string[] {
  const lines = [
    "## 3. Blast radius",
    "",
    "Each change is applied to a committed stack file and both programs are run; every",
    "resource's inputs and options (protect, retainOnDelete, deleteBeforeReplace, secret",
    "outputs, parent, provider, dependencies) are compared. Secrets are compared by a keyed",
    "digest whose key lives only for the run.",
    "",
    "| stack | change | added | changed | removed | target met |",
    "| --- | --- | ---: | ---: | ---: | --- |",
    ...blast.map(
      (r) =>
        `| ${r.stack} | ${r.change} | ${r.added.length} | ${r.changed.length} | ${r.removed.length} | ${check(r.violations.length === 0)} |`,
    ),
  ];
  for (const r of blast) {
    lines.push("", `### ${r.stack}: ${r.change}`, "", `Target: ${r.target}.`, "");
    const rows = [
      ...r.added.map((a) => `| + | \`${a.name}\` | ${a.kind} | ${a.owner} | create |`),
      ...r.changed.map(
        (c) =>
          `| ~ | \`${c.name}\` | ${c.kind} | ${c.owner} | ${c.action}: ${c.paths.length > 4 ? `${c.paths.slice(0, 4).join(", ")} and ${c.paths.length - 4} more` : c.paths.join(", ")} |`,
      ),
      ...r.removed.map(
        (d) =>
          `| - | \`${d.name}\` | ${d.kind} | ${d.owner} | delete${d.retained ? " from state; kept on the host (retainOnDelete)" : ""} |`,
      ),
    ];
    lines.push(
      "| | resource | class | tenant | what happens |",
      "| --- | --- | --- | --- | --- |",
      ...rows,
    );
    if (r.violations.length > 0) lines.push("", `Outside the target: ${r.violations.join(", ")}.`);
  }
  return lines;
}

function downtimeSection(downtime: readonly DowntimeResult[]): string[] {
  const of = (r: DowntimeResult | undefined) =>
    r === undefined ? "not measured" : `${r.down.length} (${servingDown(r).length} serving)`;
  const keys = [
    ...new Set(downtime.filter((r) => r.program === "after").map((r) => `${r.stack}\t${r.change}`)),
  ];
  const find = (key: string, program: DowntimeResult["program"]) =>
    downtime.find((r) => `${r.stack}\t${r.change}` === key && r.program === program);
  return [
    "## 4. Downtime of a change",
    "",
    "Tenant and shared containers a change replaces delete-first, each down until its successor",
    "is healthy: from the same plan diff reviewers see (`npm run plan:diff`, the **Downtime**",
    `line). "Before" runs the program at \`${DOWNTIME_BASELINE}\`, the last commit before blue/green`,
    'releases; "after" this checkout\'s. Workers serve no requests: while one is replaced, work',
    "waits in Temporal's task queue.",
    "",
    "| stack | change | down before | down after | down after, by name |",
    "| --- | --- | --- | --- | --- |",
    ...keys.map((key) => {
      const [stack, change] = key.split("\t");
      const after = find(key, "after")!;
      return `| ${stack} | ${change} | ${of(find(key, "before"))} | ${of(after)} | ${after.down.join("; ") || "nothing"} |`;
    }),
  ];
}

/** The Kubernetes runtime's sizes against its own floor, when they were measured. */
function kubernetesSection(sizes: readonly SizeResult[]): string[] {
  if (sizes.length === 0) return [];
  const largest = largestShape(sizes);
  return [
    "### The Kubernetes runtime",
    "",
    "The committed `production-k8s` stack's settings with generated tenants, against a floor of the",
    "same Kubernetes resources with only their required inputs (`npm run bench -- --runtimes",
    "kubernetes --sizes 1,10,100` prints these alone).",
    "",
    "| tenants | runs | platform | floor | ratio (time, RSS) |",
    "| ---: | ---: | --- | --- | --- |",
    ...sizes.map(
      (s) =>
        `| ${s.tenants} | ${s.runs} | ${cell(s.platform, (m) => `${seconds(m.wallMs)}, ${m.peakRssMb} MB`)} | ${cell(s.floor, (m) => `${seconds(m.wallMs)}, ${m.peakRssMb} MB`)} | ${s.ratio ? `${s.ratio.wall}, ${s.ratio.rss}` : "incomplete"} |`,
    ),
    ...(largest?.shape.perTenant
      ? ["", ...perTypeTable("resources per tenant (Kubernetes)", largest.shape.perTenant)]
      : []),
    "",
  ];
}

/** The results as a page: targets first, then each part with the command that reproduces it. */
export function renderResultsMarkdown(results: BenchResults): string {
  const m = results.machine;
  return [
    "# Benchmark results",
    "",
    `Measured ${results.measuredOn} by \`${results.command}\` (${Math.round(results.durationSeconds)} s in all) on ${m.cpus} × ${m.cpuModel}, ${m.memoryGb} GB, Node ${m.node}${m.nodeOptions ? ` with NODE_OPTIONS=${m.nodeOptions}` : ""}. Offline, under \`pulumi.runtime.setMocks\`: no Pulumi CLI, engine, Docker or Cloudflare.`,
    "",
    "Reproduce: `npm run bench -- --write` (everything, rewrites this file); `npm run bench` (a quick run, printed only);",
    "`npm run bench -- --sizes 1,100` (those sizes, printed only); `npm run bench -- --sizes none` (blast radius only).",
    "",
    "| target | met | measured |",
    "| --- | --- | --- |",
    ...results.targets.map((t) => `| ${t.target} | ${check(t.met)} | ${t.detail} |`),
    "",
    ...scaleSection(results.sizes),
    "",
    ...kubernetesSection(results.kubernetes ?? []),
    ...criticalPathSection(results.sizes),
    "",
    ...blastSection(results.blast),
    "",
    ...downtimeSection(results.downtime),
    "",
  ].join("\n");
}
