/**
 * Running Dittofeed's `bootstrap` once per workspace, decided by the tenant's own database rather
 * than by whether a job container survived. Dittofeed v0.23.0's bootstrap upserts the workspace's
 * default message templates and subscription groups on every run
 * (packages/backend-lib/src/bootstrap.ts), so a second run would reset what the tenant edited,
 * and a new workspace name would create a second workspace (the `Workspace` table is unique on
 * `parentWorkspaceId, name`: packages/backend-lib/src/db/schema.ts).
 *
 * A completed bootstrap is recorded in `platform.bootstrapped` in the tenant's database, in a
 * schema of the platform's own, which Dittofeed's migrations never touch.
 */

/**
 * Node, run in the admin-cli image (WORKDIR /service, node 20, `pg` from backend-lib's
 * dependencies), with `DATABASE_URL` and `WORKSPACE_NAME` from the environment:
 * - `check` exits 0 when this workspace's bootstrap completed, 10 when it must run, 3 when another
 *   workspace was bootstrapped (a renamed `workspaceName`), 1 on any other error;
 * - `mark` records this workspace's bootstrap as completed.
 * No single quote in it: the shell script carries it inside single quotes.
 */
export const BOOTSTRAP_MARKER_JS = [
  `const { Client } = require(require.resolve("pg", { paths: ["./packages/backend-lib", "."] }));`,
  `const [mode] = process.argv.slice(1);`,
  `const name = process.env.WORKSPACE_NAME;`,
  `const client = new Client({ connectionString: process.env.DATABASE_URL });`,
  `const done = (code, message) => { if (message) console.log(message); client.end().finally(() => process.exit(code)); };`,
  `const setup = "CREATE SCHEMA IF NOT EXISTS platform; CREATE TABLE IF NOT EXISTS platform.bootstrapped (workspace text PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())";`,
  `client.connect()`,
  `  .then(() => client.query(setup))`,
  `  .then(() => mode === "mark"`,
  `    ? client.query("INSERT INTO platform.bootstrapped (workspace) VALUES ($1) ON CONFLICT DO NOTHING", [name]).then(() => done(0, "Bootstrap of workspace " + JSON.stringify(name) + " recorded"))`,
  `    : client.query("SELECT workspace FROM platform.bootstrapped").then(({ rows }) => {`,
  `        const names = rows.map((row) => row.workspace);`,
  `        if (names.includes(name)) return done(0, "Workspace " + JSON.stringify(name) + " was bootstrapped before: not running bootstrap again, which would reset its default templates");`,
  `        if (names.length > 0) return done(3, "This tenant bootstrapped workspace " + names.map((n) => JSON.stringify(n)).join(", ") + ", not " + JSON.stringify(name) + ": bootstrap would create a second workspace. Rename the workspace in Dittofeed instead, and set workspaceName back to " + JSON.stringify(names[0]));`,
  `        return done(10);`,
  `      }))`,
  `  .catch((error) => done(1, "Bootstrap check failed: " + error.message));`,
].join("\n");

/** The bootstrap job's script: check, bootstrap when needed, record. */
export function bootstrapOnceScript(): string {
  return [
    "set -u",
    `node -e '${BOOTSTRAP_MARKER_JS}' check`,
    "status=$?",
    '[ "$status" -eq 0 ] && exit 0',
    '[ "$status" -eq 10 ] || exit "$status"',
    './admin.sh bootstrap --workspace-name="$WORKSPACE_NAME" || exit $?',
    `exec node -e '${BOOTSTRAP_MARKER_JS}' mark`,
  ].join("\n");
}
