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
 * dependencies), with `DATABASE_URL` and `WORKSPACE_NAME` from the environment. Each bootstrap is
 * recorded as started before it runs and completed after:
 * - `check` exits 0 when this workspace's bootstrap completed; 10 when it must run (never
 *   started, or started and failed: a failed first bootstrap left nothing a tenant could have
 *   edited, as no app of it had started); 3 when another workspace was started or completed (a
 *   renamed `workspaceName`, which would become a second workspace); 1 on any other error;
 * - `start` and `mark` record this workspace's bootstrap as started, then completed.
 * No single quote in it: the shell script carries it inside single quotes.
 */
export const BOOTSTRAP_MARKER_JS = [
  `const { Client } = require(require.resolve("pg", { paths: ["./packages/backend-lib", "."] }));`,
  `const [mode] = process.argv.slice(1);`,
  `const name = process.env.WORKSPACE_NAME;`,
  `const client = new Client({ connectionString: process.env.DATABASE_URL });`,
  `const done = (code, message) => { if (message) console.log(message); client.end().finally(() => process.exit(code)); };`,
  `const setup = "CREATE SCHEMA IF NOT EXISTS platform; CREATE TABLE IF NOT EXISTS platform.bootstrapped (workspace text PRIMARY KEY, completed boolean NOT NULL DEFAULT false, at timestamptz NOT NULL DEFAULT now())";`,
  `const record = (completed) => client.query("INSERT INTO platform.bootstrapped (workspace, completed) VALUES ($1, $2) ON CONFLICT (workspace) DO UPDATE SET completed = EXCLUDED.completed, at = now()", [name, completed]);`,
  `const check = () => client.query("SELECT workspace, completed FROM platform.bootstrapped").then(({ rows }) => {`,
  `  if (rows.some((row) => row.workspace === name && row.completed)) return done(0, "Workspace " + JSON.stringify(name) + " was bootstrapped before: not running bootstrap again, which would reset its default templates");`,
  `  const others = rows.filter((row) => row.workspace !== name).map((row) => JSON.stringify(row.workspace));`,
  `  if (others.length > 0) return done(3, "This tenant bootstrapped workspace " + others.join(", ") + ", not " + JSON.stringify(name) + ": bootstrap would create a second workspace. Rename the workspace in Dittofeed instead, and set workspaceName back to " + others[0]);`,
  `  return done(10);`,
  `});`,
  `client.connect()`,
  `  .then(() => client.query(setup))`,
  `  .then(() => mode === "check" ? check() : record(mode === "mark").then(() => done(0, "Bootstrap of workspace " + JSON.stringify(name) + (mode === "mark" ? " completed" : " started"))))`,
  `  .catch((error) => done(1, "Bootstrap check failed: " + error.message));`,
].join("\n");

/** The bootstrap job's script: check, record the start, bootstrap, record the completion. */
export function bootstrapOnceScript(): string {
  return [
    "set -u",
    `node -e '${BOOTSTRAP_MARKER_JS}' check`,
    "status=$?",
    '[ "$status" -eq 0 ] && exit 0',
    '[ "$status" -eq 10 ] || exit "$status"',
    `node -e '${BOOTSTRAP_MARKER_JS}' start || exit 1`,
    './admin.sh bootstrap --workspace-name="$WORKSPACE_NAME" || exit $?',
    `exec node -e '${BOOTSTRAP_MARKER_JS}' mark`,
  ].join("\n");
}
