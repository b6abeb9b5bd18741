/** `npm run dashboards`: a stack's Grafana dashboards as JSON files (see docs/monitoring.md). */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseOptions, runCommand, UsageError } from "../engine/cli";
import { stackDashboards } from "./dashboards";

const USAGE = `usage:
  npm run dashboards -- --stack <name> [--out <directory>]

  Writes platform.json and tenant-<id>.json for each tenant that is not offboarded into
  <directory> (default: dashboards/<stack>), for Grafana's file provisioning or its import.
  Their queries ask the Prometheus data source with uid platform-prometheus.`;

async function main(argv: string[]): Promise<void> {
  const { values } = parseOptions(argv, {
    stack: { type: "string" },
    out: { type: "string" },
  });
  if (!values.stack) throw new UsageError("--stack is required");
  const out = values.out ?? path.join("dashboards", values.stack);
  const dashboards = stackDashboards(values.stack);
  fs.mkdirSync(out, { recursive: true });
  for (const [file, dashboard] of Object.entries(dashboards)) {
    await fs.promises.writeFile(path.join(out, file), `${JSON.stringify(dashboard, null, 2)}\n`);
    console.log(`dashboards: wrote ${path.join(out, file)}`);
  }
}

runCommand("dashboards", USAGE, main);
