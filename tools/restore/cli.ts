/** `npm run restore`: one database of a backup set back into a stack's Postgres (see ./restore). */
import * as fs from "node:fs";
import { parseOptions, runCommand, UsageError } from "../engine/cli";
import { DEFAULT_ADMIN_PORT } from "../../stacks/config/schema";
import { rawPlatformConfig } from "../../stacks/config";
import { readStackFile, stackFilePath } from "../../stacks/config/stackFile";
import { tenantSqlName } from "../../components/runtime/naming";
import { PROJECT_ROOT } from "../engine/runner";
import { restore } from "./restore";

const USAGE = `usage:
  PGPASSWORD=<superuser password> npm run restore -- --stack <name> --from <backup set directory>
      (--tenant <id> | --database <name>) [--into <database>] [--yes]

  --tenant     restore the tenant's database (dittofeed_<id>); --database names any other (temporal)
  --into       restore into this database instead, beside the original (for inspection)
  --yes        do it; without it, only say what would be replaced
  The superuser's password: pulumi stack output connections --show-secrets -s <stack>.
  The admin endpoint is the stack's platform:postgres.external (over TLS), or else its
  platform:postgres.adminHost/adminPort (PGHOST, PGPORT, PGUSER, PGSSLMODE override).`;

async function main(argv: string[]): Promise<void> {
  const { values } = parseOptions(argv, {
    stack: { type: "string" },
    from: { type: "string" },
    tenant: { type: "string" },
    database: { type: "string" },
    into: { type: "string" },
    yes: { type: "boolean", default: false },
  });
  if (!values.stack || !values.from) throw new UsageError("--stack and --from are required");
  if ((values.tenant === undefined) === (values.database === undefined)) {
    throw new UsageError("give one of --tenant and --database");
  }
  const file = stackFilePath(PROJECT_ROOT, values.stack);
  if (!fs.existsSync(file)) throw new UsageError(`no stack file ${file}`);
  const raw = rawPlatformConfig(readStackFile(file));
  if (values.tenant !== undefined) {
    // A removed tenant's database may still be restored beside the others.
    const ids = [
      ...(raw.tenants as { id: string }[]).map((t) => t.id),
      ...((raw.retiredTenants as string[] | undefined) ?? []),
    ];
    if (!ids.includes(values.tenant)) {
      throw new UsageError(
        `--tenant ${values.tenant} is not a tenant of stack ${values.stack} (${ids.join(", ")})`,
      );
    }
  }
  const password = process.env.PGPASSWORD;
  if (!password)
    throw new UsageError("PGPASSWORD must hold the stack's Postgres superuser password");
  const postgres = (raw.postgres ?? {}) as {
    adminHost?: string;
    adminPort?: number;
    external?: { host: string; port?: number; user?: string };
  };
  // A managed Postgres (Kubernetes stacks) is reached directly, over TLS that checks it, as the
  // provider reaches it; pg_restore and psql read libpq's variables from the environment.
  const { external } = postgres;
  if (external) process.env.PGSSLMODE ??= "verify-full";
  const database = values.database ?? tenantSqlName(values.tenant!);
  await restore({
    set: values.from,
    database,
    into: values.into ?? database,
    apply: values.yes,
    connection: {
      host: process.env.PGHOST ?? external?.host ?? postgres.adminHost ?? "127.0.0.1",
      port: Number(
        process.env.PGPORT ??
          (external ? (external.port ?? 5432) : (postgres.adminPort ?? DEFAULT_ADMIN_PORT)),
      ),
      user: process.env.PGUSER ?? external?.user ?? "postgres",
      password,
    },
    log: (line) => console.log(line),
  });
}

runCommand("restore", USAGE, main);
