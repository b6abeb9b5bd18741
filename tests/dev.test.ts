/**
 * `npm run up:dev` on a machine without the Pulumi CLI: the Automation API's installer is stood
 * in for (it downloads from get.pulumi.com, which this machine cannot reach) by one that writes a
 * stand-in CLI where the real one would go; the stand-in records how it is called. The Docker
 * engine is a real HTTP server on a unix socket, answering `/_ping` as dockerd does.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { PulumiCommand } from "@pulumi/pulumi/automation";
import { devArguments, devPaths, dockerAnswers, upDev } from "../tools/dev/dev";
import { PROJECT_ROOT } from "./harness";

const STAND_IN = `#!/bin/sh
printf '%s|%s|%s|%s\\n' "$*" "$PULUMI_BACKEND_URL" "$PULUMI_CONFIG_PASSPHRASE_FILE" "$PULUMI_CONFIG_PASSPHRASE" >> "$STAND_IN_LOG"
case "$1" in
  version) echo v3.270.0;;
  stack) [ "$2" = output ] && echo '{"acme":{"workspaceName":"Acme","dashboardUrl":"http://localhost:21882/dashboard","apiUrl":"http://localhost:21883/api"}}';;
esac
exit 0
`;

describe("npm run up:dev", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "up-dev-"));
  const socket = path.join(tmp, "docker.sock");
  const saved = { ...process.env };
  let docker: http.Server;
  before(async () => {
    docker = http.createServer((req, res) =>
      res.writeHead(req.url === "/_ping" ? 200 : 404).end("OK"),
    );
    await new Promise<void>((resolve) => docker.listen(socket, resolve));
    // No Pulumi CLI on PATH, whatever this machine has.
    process.env.PATH = path.join(tmp, "empty");
    process.env.STAND_IN_LOG = path.join(tmp, "calls");
  });
  after(() => {
    docker.close();
    process.env = saved;
  });

  test("without a CLI, fetches it into the project, then deploys dev on a local backend and says where tenants are", async () => {
    const root = path.join(tmp, "project");
    fs.mkdirSync(root);
    const installs: string[] = [];
    const install = async (opts: { root?: string }) => {
      installs.push(opts.root!);
      fs.mkdirSync(path.join(opts.root!, "bin"), { recursive: true });
      fs.writeFileSync(path.join(opts.root!, "bin", "pulumi"), STAND_IN, { mode: 0o755 });
      return PulumiCommand.get({ root: opts.root });
    };
    const lines: string[] = [];
    process.env.DOCKER_HOST = `unix://${socket}`;
    // Another stack's passphrase in the shell must not reach the dev stack.
    process.env.PULUMI_CONFIG_PASSPHRASE = "production-passphrase";
    await upDev(root, ["--yes"], install, (line) => lines.push(line));

    const { cli, state, passphrase } = devPaths(root);
    assert.deepEqual(installs, [cli]);
    const calls = fs
      .readFileSync(process.env.STAND_IN_LOG!, "utf8")
      .trim()
      .split("\n")
      .map((line) => line.split("|"));
    assert.deepEqual(
      calls.map(([args]) => args),
      [
        "version",
        "stack select --create dev",
        "up --stack dev --yes",
        "stack output tenants --json --stack dev",
      ],
    );
    for (const [, backend, file, other] of calls.slice(1)) {
      assert.equal(backend, `file://${state}`);
      assert.equal(file, passphrase);
      assert.equal(other, "");
    }
    assert.equal(fs.statSync(passphrase).mode & 0o777, 0o600);
    const generated = fs.readFileSync(passphrase, "utf8");
    assert.ok(generated.length >= 32);

    // A second run keeps the passphrase, and takes its file back to its owner alone.
    fs.chmodSync(passphrase, 0o644);
    await upDev(root, ["--yes"], install, () => {});
    assert.equal(fs.readFileSync(passphrase, "utf8"), generated);
    assert.equal(fs.statSync(passphrase).mode & 0o777, 0o600);
    assert.match(lines.join("\n"), /acme \(Acme\): http:\/\/localhost:21882\/dashboard/);
  });

  test("without a Docker engine, says so before anything is fetched or created", async () => {
    const root = path.join(tmp, "no-docker");
    fs.mkdirSync(root);
    process.env.DOCKER_HOST = `unix://${path.join(tmp, "absent.sock")}`;
    let installed = false;
    await assert.rejects(
      upDev(
        root,
        [],
        async () => ((installed = true), PulumiCommand.get()),
        () => {},
      ),
      /no Docker engine answers at unix:\/\/.*absent\.sock: up:dev deploys the dev stack to this machine's Docker\. Start it/,
    );
    assert.equal(installed, false);
    assert.deepEqual(fs.readdirSync(root), []);
  });
});

test("the dev backend serves the dev stack only", () => {
  assert.deepEqual(devArguments(["stack", "output", "tenants"]), ["stack", "output", "tenants"]);
  assert.deepEqual(devArguments(["preview", "--stack", "dev"]), ["preview", "--stack", "dev"]);
  assert.deepEqual(devArguments(["stack", "select", "dev"]), ["stack", "select", "dev"]);
  for (const args of [
    ["up", "--stack", "production"],
    ["preview", "-s", "staging"],
    ["up", "-sproduction"],
    ["up", "--stack=prod"],
    ["stack", "init", "production"],
    ["stack", "select", "staging"],
    ["up", "--config-file", "Pulumi.production.yaml"],
  ])
    assert.throws(
      () => devArguments(args),
      /this is the dev stack's local backend/,
      args.join(" "),
    );
});

test("the engine check: a socket or tcp:// address is asked, ssh:// and TLS are left to the provider", async () => {
  const server = http.createServer((_req, res) => res.writeHead(200).end("OK"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  try {
    assert.equal(await dockerAnswers({ DOCKER_HOST: `tcp://127.0.0.1:${port}` }), true);
    assert.equal(await dockerAnswers({ DOCKER_HOST: "unix:///nonexistent/docker.sock" }), false);
    assert.equal(await dockerAnswers({ DOCKER_HOST: "ssh://deploy@host" }), "unchecked");
    assert.equal(
      await dockerAnswers({ DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: "1" }),
      "unchecked",
    );
    await assert.rejects(
      dockerAnswers({ DOCKER_HOST: "not a host" }),
      /is not a unix:\/\/, tcp:\/\/ or ssh:\/\/ address/,
    );
  } finally {
    server.close();
  }
});

test("what up:dev keeps in the project stays out of git", () => {
  for (const kept of [".pulumi-cli/bin/pulumi", ".pulumi-state/dev-passphrase"]) {
    execFileSync("git", ["check-ignore", "-q", kept], { cwd: PROJECT_ROOT });
  }
});
