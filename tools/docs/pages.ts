/** The generated documentation: each page's path and what it must hold. */
import * as fs from "node:fs";
import * as path from "node:path";
import * as prettier from "prettier";
import { PROJECT_ROOT } from "../engine/runner";
import { configReference } from "./config";
import { withPolicyTable } from "./policies";

const CONFIGURATION = path.join(PROJECT_ROOT, "docs", "configuration.md");
const GITOPS = path.join(PROJECT_ROOT, "docs", "gitops.md");

async function formatted(file: string, markdown: string): Promise<string> {
  const options = await prettier.resolveConfig(file);
  return prettier.format(markdown, { ...options, filepath: file });
}

/** Each generated page, by path, as `npm run docs` writes it. */
export async function generatedPages(): Promise<[string, string][]> {
  return [
    [CONFIGURATION, await formatted(CONFIGURATION, configReference())],
    [GITOPS, await formatted(GITOPS, withPolicyTable(fs.readFileSync(GITOPS, "utf8")))],
  ];
}
