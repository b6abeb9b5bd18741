/**
 * The bootstrap job's script (components/app/bootstrap.ts), run by a real shell and node against the
 * real PostgreSQL 15 of the suite, with a stand-in `./admin.sh` that records what it was asked:
 * the bootstrap runs once per workspace, whatever happens to the job's container, and a renamed
 * workspace is refused instead of becoming a second one.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { bootstrapOnceScript } from "../components/app/bootstrap";
import { PROJECT_ROOT } from "./harness";
import { createDatabaseSql, createRoleSql, Server, startServer } from "./postgresServer";

describe("the bootstrap job, once per workspace, on a real PostgreSQL", () => {
  let server: Server;
  let databaseUrl: string;
  // What the admin-cli image has: ./admin.sh in the working directory, pg among node_modules.
  const workdir = fs.mkdtempSync(path.join(os.tmpdir(), "admin-cli-"));
  const calls = path.join(workdir, "calls");

  before(async () => {
    server = await startServer("superuser-password-0123456789");
    const admin = await server.admin();
    const password = "tenant p@ss/w+rd=0123";
    await admin.query(
      createRoleSql({ name: "dittofeed_acme", password, login: true, createDatabase: true }),
    );
    await admin.query(createDatabaseSql("dittofeed_acme", "dittofeed_acme"));
    await admin.end();
    databaseUrl = `postgresql://dittofeed_acme:${encodeURIComponent(password)}@127.0.0.1:${server.port}/dittofeed_acme`;
    fs.symlinkSync(path.join(PROJECT_ROOT, "node_modules"), path.join(workdir, "node_modules"));
    fs.writeFileSync(
      path.join(workdir, "admin.sh"),
      `#!/bin/sh\necho "$*" >> "${calls}"\nexit "\${ADMIN_EXIT:-0}"\n`,
      { mode: 0o755 },
    );
  });

  after(async () => {
    await server?.stop();
  });

  const run = (workspaceName: string, adminExit = 0) => {
    fs.rmSync(calls, { force: true });
    const result = spawnSync("sh", ["-c", bootstrapOnceScript()], {
      cwd: workdir,
      env: {
        PATH: process.env.PATH,
        DATABASE_URL: databaseUrl,
        WORKSPACE_NAME: workspaceName,
        ADMIN_EXIT: String(adminExit),
      },
      encoding: "utf8",
      timeout: 30_000,
    });
    const asked = fs.existsSync(calls) ? fs.readFileSync(calls, "utf8").trim().split("\n") : [];
    return { status: result.status, output: result.stdout + result.stderr, asked };
  };

  test("a failed bootstrap is only started, so the retry runs it again; renamed meanwhile, it is refused", () => {
    const failed = run("Acme Corp", 4);
    assert.equal(failed.status, 4, failed.output);
    assert.deepEqual(failed.asked, ["bootstrap --workspace-name=Acme Corp"]);
    // The failed run may have created its workspace: another name now would be a second one.
    const renamed = run("Acme Renamed");
    assert.equal(renamed.status, 3, renamed.output);
    assert.deepEqual(renamed.asked, []);
    const retried = run("Acme Corp");
    assert.equal(retried.status, 0, retried.output);
    assert.deepEqual(retried.asked, ["bootstrap --workspace-name=Acme Corp"]);
    assert.match(retried.output, /Bootstrap of workspace "Acme Corp" completed/);
  });

  test("once it completed, every later run (a new version, a lost container) skips it", () => {
    const again = run("Acme Corp");
    assert.equal(again.status, 0, again.output);
    assert.deepEqual(again.asked, [], "admin.sh was not run");
    assert.match(again.output, /was bootstrapped before/);
  });

  test("a renamed workspace is refused, naming both names, instead of becoming a second workspace", () => {
    const renamed = run("Acme Inc");
    assert.equal(renamed.status, 3);
    assert.deepEqual(renamed.asked, []);
    assert.match(renamed.output, /bootstrapped workspace "Acme Corp", not "Acme Inc"/);
  });

  test("a database it cannot reach fails the job with the reason, not a bootstrap", () => {
    const saved = databaseUrl;
    databaseUrl = saved.replace(encodeURIComponent("tenant p@ss/w+rd=0123"), "wrong");
    try {
      const result = run("Acme Corp");
      assert.equal(result.status, 1);
      assert.deepEqual(result.asked, []);
      assert.match(result.output, /Bootstrap check failed: password authentication failed/);
    } finally {
      databaseUrl = saved;
    }
  });
});
