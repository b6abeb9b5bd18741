/**
 * The documentation stays true to the code: the configuration reference is what the schema and
 * rules generate, every key has a meaning, and every meaning names a key.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { MEANINGS } from "../stacks/config/schema";
import { ancestors, keyRows, meaningOf } from "../tools/docs/config";
import { generatedPages } from "../tools/docs/pages";

test("the configuration reference and the policy table are what `npm run docs` generates", async () => {
  const pages = await generatedPages();
  assert.equal(pages.length, 2);
  for (const [file, text] of pages) {
    assert.equal(fs.readFileSync(file, "utf8"), text, `${file} is stale: run npm run docs`);
  }
  // Every rule of the pack is in the table, the two Kubernetes ones included.
  const gitops = pages[1][1];
  for (const rule of ["kubernetes-tenants-isolated", "kubernetes-jobs-end", "images-pinned"])
    assert.match(gitops, new RegExp(`\\| \`${rule}\` +\\|`));
});

test("every key the schema accepts has a meaning, and every meaning names a key or group", () => {
  const rows = keyRows();
  assert.ok(rows.length > 80, `${rows.length} keys`);
  assert.deepEqual(
    rows.filter((r) => meaningOf(r.path) === undefined).map((r) => r.path),
    [],
  );
  const named = new Set(rows.flatMap((r) => ancestors(r.path)));
  assert.deepEqual(
    Object.keys(MEANINGS).filter((key) => !named.has(key)),
    [],
  );
  // The rules decide which runtime alone reads a key.
  const runtime = (path: string) => rows.find((r) => r.path === path)?.runtime;
  assert.equal(runtime("egress.guard"), "Docker");
  assert.equal(runtime("tenants[].slot"), "Docker");
  assert.equal(runtime("postgres.external.host"), "Kubernetes");
  assert.equal(runtime("postgres.image"), "");
});

/** GitHub's anchor for a heading. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\w\- ]/g, "")
    .replace(/ /g, "-");

test("every link between the README and docs/ reaches a file, and a heading where it names one", () => {
  const pages = ["README.md", ...fs.readdirSync("docs").map((f) => path.join("docs", f))].filter(
    (f) => f.endsWith(".md"),
  );
  const anchorsOf = (file: string) => {
    let fenced = false;
    return fs
      .readFileSync(file, "utf8")
      .split("\n")
      .flatMap((line) => {
        if (line.startsWith("```")) fenced = !fenced;
        const heading = /^#{1,6} (.*)$/.exec(line);
        return !fenced && heading ? [slug(heading[1])] : [];
      });
  };
  const broken: string[] = [];
  for (const page of pages) {
    const text = fs.readFileSync(page, "utf8");
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target)) continue;
      const [file, anchor] = target.split("#");
      const resolved = file === "" ? page : path.join(path.dirname(page), file);
      if (!fs.existsSync(resolved)) broken.push(`${page}: ${target}`);
      else if (anchor && resolved.endsWith(".md") && !anchorsOf(resolved).includes(anchor))
        broken.push(`${page}: ${target} (no such heading)`);
    }
  }
  assert.deepEqual(broken, []);
});

test("the README is a guide: at most 250 lines, and its first commands deploy dev and run the tests", () => {
  const readme = fs.readFileSync("README.md", "utf8");
  assert.ok(readme.split("\n").length <= 250, `${readme.split("\n").length} lines`);
  const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
  const commands = firstBlock.split("\n").map((line) => line.replace(/\s+#.*$/, "").trim());
  assert.deepEqual(commands.filter(Boolean), ["npm ci && npm run up:dev", "npm test"]);
  // Before it, nothing but what the project is.
  assert.ok(readme.indexOf("```") < 1200, "the quick start is on the first screen");
});

test("every `pulumi config set` of a nested key the docs give uses --path", () => {
  // Without it, `platform:backup.publicKey` is stored as a key of that name, which config refuses.
  const pages = ["README.md", ...fs.readdirSync("docs").map((f) => path.join("docs", f))];
  const flat = pages.flatMap((page) =>
    fs
      .readFileSync(page, "utf8")
      .split("\n")
      .filter(
        (line) => /pulumi config set\b.*'?platform:\w+[.[]/.test(line) && !line.includes("--path"),
      )
      .map((line) => `${page}: ${line.trim()}`),
  );
  assert.deepEqual(flat, []);
});
