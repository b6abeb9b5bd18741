/**
 * The tree's architecture as a rule the suite enforces: every folder is one layer, and a file
 * imports only from its own folder or from a layer below. CONTRIBUTING.md explains the layers.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import * as ts from "typescript";
import { PROJECT_ROOT } from "./harness";

/**
 * Lowest first. A file may import from its own folder or from a lower rank; siblings of one rank
 * stay independent. The most specific folder decides (`stacks/config/` before `stacks/`).
 */
const LAYERS: { folder: string; rank: number }[] = [
  { folder: "components/runtime/", rank: 0 },
  { folder: "components/data/", rank: 1 },
  { folder: "components/app/", rank: 1 },
  { folder: "components/monitoring/", rank: 2 },
  { folder: "components/edge/", rank: 3 },
  { folder: "components/tenant/", rank: 4 },
  { folder: "stacks/config/", rank: 5 },
  { folder: "stacks/", rank: 6 },
  { folder: "index.ts", rank: 7 },
  { folder: "tools/engine/", rank: 8 },
  { folder: "tools/policy/", rank: 8 },
  { folder: "tools/plan/", rank: 9 },
  { folder: "tools/restore/", rank: 9 },
  { folder: "tools/docs/", rank: 9 },
  { folder: "tools/dev/", rank: 9 },
  { folder: "tools/dashboards/", rank: 9 },
  { folder: "tools/bench/", rank: 10 },
  { folder: "tools/e2e/", rank: 10 },
];

/**
 * The files of components/ that make resources without being a component: each runtime's
 * factories (the seam), and the tunnel's connectors and a tenant's halves on each runtime. Every other file there is a component or
 * plain logic beside one, which imports no Pulumi package.
 */
const FACTORIES = [
  "components/runtime/context.ts",
  "components/runtime/docker.ts",
  "components/runtime/kubernetes.ts",
  "components/edge/connectors.ts",
  "components/tenant/docker.ts",
  "components/tenant/kubernetes.ts",
];

const isComponent = (file: string) =>
  /class \w+ extends pulumi\.ComponentResource/.test(
    fs.readFileSync(path.join(PROJECT_ROOT, file), "utf8"),
  );

type Graph = Map<string, string[]>;

function layerOf(file: string) {
  return [...LAYERS]
    .sort((a, b) => b.folder.length - a.folder.length)
    .find((layer) => file === layer.folder || file.startsWith(layer.folder));
}

function sourceFiles(directory = PROJECT_ROOT): string[] {
  return fs.readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(directory, entry.name);
    if (entry.isDirectory()) {
      return ["node_modules", "tests", ".git"].includes(entry.name) ? [] : sourceFiles(full);
    }
    return entry.name.endsWith(".ts") ? [path.relative(PROJECT_ROOT, full)] : [];
  });
}

/** Every module a file names in an import, export or require, as written. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(PROJECT_ROOT, file), "utf8");
  return ts.preProcessFile(text, true, true).importedFiles.map((f) => f.fileName);
}

function resolveLocal(from: string, specifier: string): string {
  const base = path.join(path.dirname(from), specifier);
  const candidates = [`${base}.ts`, path.join(base, "index.ts")];
  const found = candidates.find((c) => fs.existsSync(path.join(PROJECT_ROOT, c)));
  assert.ok(found, `${from} imports ${specifier}, which resolves to no file`);
  return found;
}

function importGraph(): Graph {
  return new Map(
    sourceFiles().map((file) => [
      file,
      importsOf(file)
        .filter((s) => s.startsWith("."))
        .map((s) => resolveLocal(file, s)),
    ]),
  );
}

/** Imports that run sideways or back up a layer, as `from -> to`. */
export function layerViolations(graph: Graph): string[] {
  const violations: string[] = [];
  for (const [from, targets] of graph) {
    const own = layerOf(from);
    for (const to of targets) {
      const theirs = layerOf(to);
      const allowed =
        own !== undefined && theirs !== undefined && (own === theirs || theirs.rank < own.rank);
      if (!allowed) violations.push(`${from} -> ${to}`);
    }
  }
  return violations;
}

/** One file path of every circle of imports, or none. */
export function circles(graph: Graph): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const visit = (file: string, trail: string[]) => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "open") {
      found.push([...trail.slice(trail.indexOf(file)), file]);
      return;
    }
    state.set(file, "open");
    for (const next of graph.get(file) ?? []) visit(next, [...trail, file]);
    state.set(file, "done");
  };
  for (const file of graph.keys()) visit(file, []);
  return found;
}

describe("the layers", () => {
  const graph = importGraph();

  test("every source file belongs to a layer", () => {
    assert.deepEqual(
      [...graph.keys()].filter((file) => layerOf(file) === undefined),
      [],
      "a new folder needs its place in LAYERS and in CONTRIBUTING.md",
    );
  });

  test("imports point only down, or within a folder", () => {
    assert.deepEqual(layerViolations(graph), []);
  });

  test("no file imports itself through others", () => {
    assert.deepEqual(circles(graph), []);
  });

  test("the logic beside components is plain: it imports no Pulumi package", () => {
    const plain = [...graph.keys()].filter(
      (file) => file.startsWith("components/") && !FACTORIES.includes(file) && !isComponent(file),
    );
    assert.ok(plain.length >= 20, `found only ${plain.length} plain files`);
    for (const file of plain) {
      const pulumi = importsOf(file).filter((s) => s.startsWith("@pulumi/"));
      assert.deepEqual(pulumi, [], `${file} imports ${pulumi.join(", ")}`);
    }
  });

  test("the checks see a back-edge, a sideways import and a circle when there is one", () => {
    const bad: Graph = new Map([
      ["components/runtime/urls.ts", ["stacks/config/schema.ts"]],
      ["components/data/redis.ts", ["components/app/contract.ts"]],
      ["stacks/config/schema.ts", ["components/runtime/urls.ts", "stacks/index.ts"]],
      ["stacks/index.ts", ["components/data/redis.ts"]],
    ]);
    assert.deepEqual(layerViolations(bad), [
      "components/runtime/urls.ts -> stacks/config/schema.ts",
      "components/data/redis.ts -> components/app/contract.ts",
      "stacks/config/schema.ts -> stacks/index.ts",
    ]);
    assert.deepEqual(circles(bad), [
      ["components/runtime/urls.ts", "stacks/config/schema.ts", "components/runtime/urls.ts"],
    ]);
  });
});

describe("component type tokens", () => {
  const components = [...importGraph().keys()].filter(
    (file) => file.startsWith("components/") && isComponent(file),
  );

  test("each component file holds one ComponentResource, typed platform:<its folder>:<its class>", () => {
    assert.ok(components.length >= 10, `found only ${components.length} component files`);
    for (const file of components) {
      const text = fs.readFileSync(path.join(PROJECT_ROOT, file), "utf8");
      const classes = [...text.matchAll(/class (\w+) extends pulumi\.ComponentResource/g)];
      assert.equal(classes.length, 1, `${file} holds ${classes.length} components`);
      const token = /super\(\s*"(platform:[^"]+)"/.exec(text)?.[1];
      const folder = file.split("/")[1];
      assert.equal(token, `platform:${folder}:${classes[0][1]}`, file);
    }
  });
});
