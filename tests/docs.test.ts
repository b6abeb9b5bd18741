/**
 * The documentation stays true to the code: the configuration reference is what the schema and
 * rules generate, every key has a meaning, and every meaning names a key.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import { test } from "node:test";
import {
  configReference,
  keyRows,
  meaningOf,
  MEANINGS,
  REFERENCE_PATH,
} from "../tools/docs/config";

test("docs/configuration.md is what `npm run docs` generates from the schema and rules", async () => {
  assert.equal(
    fs.readFileSync(REFERENCE_PATH, "utf8"),
    await configReference(),
    "docs/configuration.md is stale: run npm run docs",
  );
});

test("every key the schema accepts has a meaning, and every meaning names a key or group", () => {
  const rows = keyRows();
  assert.ok(rows.length > 80, `${rows.length} keys`);
  assert.deepEqual(
    rows.filter((r) => meaningOf(r.path) === undefined).map((r) => r.path),
    [],
  );
  const named = new Set(
    rows.flatMap((r) => {
      const parts = r.path.split(".");
      return parts.flatMap((_, i) => {
        const at = parts.slice(0, i + 1).join(".");
        return at.endsWith("[]") ? [at, at.slice(0, -2)] : [at];
      });
    }),
  );
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
