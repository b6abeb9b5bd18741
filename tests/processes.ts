/** What the suites that run real servers share: a scratch directory, and processes and listeners that end with the suite. */
import { ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after } from "node:test";

/**
 * A directory under the system's temporary one, and lists of the child processes and servers a
 * suite starts: all killed, closed and removed once the suite is done.
 */
export function scratch(prefix: string) {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const running: ChildProcess[] = [];
  const servers: net.Server[] = [];
  after(() => {
    for (const child of running) child.kill("SIGKILL");
    for (const server of servers) server.close();
    fs.rmSync(directory, { recursive: true, force: true });
  });
  /** Starts `server` on a free loopback port, closed with the suite; resolves to the port. */
  const listen = (server: net.Server): Promise<number> => {
    servers.push(server);
    return new Promise((resolve) =>
      server.listen(0, "127.0.0.1", () => resolve((server.address() as net.AddressInfo).port)),
    );
  };
  return { directory, running, listen };
}

/** A loopback port nothing listens on at the moment. */
export async function freePort(): Promise<number> {
  const probe = net.createServer();
  const port = await new Promise<number>((resolve) =>
    probe.listen(0, "127.0.0.1", () => resolve((probe.address() as net.AddressInfo).port)),
  );
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/**
 * Runs shell scripts as a job in HAProxy's alpine image would: busybox's `sh`, with its applets
 * first on the PATH (linked under `directory`). Resolves to the exit code and the output.
 */
export function busyboxRunner(directory: string) {
  const bin = path.join(directory, "busybox-bin");
  fs.mkdirSync(bin, { recursive: true });
  for (const applet of ["wget", "timeout", "grep", "sed", "tr", "date", "sleep"])
    if (!fs.existsSync(path.join(bin, applet)))
      fs.symlinkSync("/usr/bin/busybox", path.join(bin, applet));
  return (script: string): Promise<{ status: number | null; output: string }> =>
    new Promise((resolve) => {
      const child = spawn("/usr/bin/busybox", ["sh", "-c", script], {
        env: { PATH: `${bin}:${process.env.PATH ?? ""}` },
      });
      let output = "";
      child.stdout.on("data", (d) => (output += String(d)));
      child.stderr.on("data", (d) => (output += String(d)));
      child.on("close", (status) => resolve({ status, output }));
    });
}
