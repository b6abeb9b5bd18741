/**
 * The few calls of the Docker Engine API (v1.41, Docker 20.10) the e2e run needs, over the
 * engine's unix socket: what terraform-provider-docker's Go client sends, without the Go.
 */
import * as http from "node:http";
import { pack } from "tar-stream";

export const SOCKET = process.env.DOCKER_SOCKET ?? "/var/run/docker.sock";
const API = "/v1.41";

export class DockerError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function call(
  method: string,
  path: string,
  body?: unknown,
  timeoutMs = 120_000,
): Promise<{ status: number; data: Buffer }> {
  return new Promise((resolve, reject) => {
    const payload =
      body === undefined ? undefined : Buffer.isBuffer(body) ? body : JSON.stringify(body);
    const req = http.request(
      {
        socketPath: SOCKET,
        // A connection per call: one kept alive would outlive an engine restart.
        agent: false,
        method,
        path: API + path,
        timeout: timeoutMs,
        headers: payload
          ? {
              "Content-Type": Buffer.isBuffer(body) ? "application/x-tar" : "application/json",
              "Content-Length": Buffer.byteLength(payload),
            }
          : {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, data: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("timeout", () =>
      req.destroy(new Error(`${method} ${path}: no answer in ${timeoutMs} ms`)),
    );
    req.on("error", reject);
    req.end(payload);
  });
}

/** Calls the API and parses its JSON answer; a status of 400 or more throws with the engine's message. */
export async function api<T = unknown>(
  method: string,
  path: string,
  body?: unknown,
  timeoutMs?: number,
): Promise<T> {
  const { status, data } = await call(method, path, body, timeoutMs);
  const text = data.toString("utf8");
  if (status >= 400) {
    let message = text;
    try {
      message = (JSON.parse(text) as { message: string }).message;
    } catch {
      // not JSON: the text is the message
    }
    throw new DockerError(status, `${method} ${path}: ${status} ${message}`);
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

/** What the e2e run reads of a container (GET /containers/{id}/json). */
export interface Inspect {
  Id: string;
  Config: { Labels: Record<string, string> };
  State: {
    Running: boolean;
    ExitCode: number;
    /** RFC 3339, as the Engine API reports them. */
    StartedAt: string;
    FinishedAt: string;
    Health?: { Status: string; Log?: { Output: string }[] };
  };
  NetworkSettings: {
    Networks: Record<string, { IPAddress: string; Gateway: string; Aliases?: string[] | null }>;
  };
}

export const inspect = (id: string) => api<Inspect>("GET", `/containers/${id}/json`);

/** True when an engine answers on the socket. */
export async function engineVersion(): Promise<string | undefined> {
  try {
    return (await api<{ Version: string }>("GET", "/version", undefined, 3000)).Version;
  } catch {
    return undefined;
  }
}

/**
 * A container's output: the API multiplexes stdout and stderr in frames of an 8-byte header
 * (stream, 3 zero bytes, big-endian length) and the payload (Engine API, "Attach to a container").
 */
export async function logs(id: string): Promise<string> {
  return demux((await call("GET", `/containers/${id}/logs?stdout=1&stderr=1`)).data);
}

function demux(data: Buffer): string {
  const parts: Buffer[] = [];
  for (let at = 0; at + 8 <= data.length;) {
    const length = data.readUInt32BE(at + 4);
    parts.push(data.subarray(at + 8, at + 8 + length));
    at += 8 + length;
  }
  return Buffer.concat(parts).toString("utf8");
}

export interface ArchiveFile {
  /** Absolute path in the container. */
  path: string;
  content: Buffer;
  mode: number;
}

/** Copies files into a container as one tar archive extracted at `/` (PUT /containers/{id}/archive). */
export async function putFiles(id: string, files: ArchiveFile[]): Promise<void> {
  const tar = pack();
  for (const file of files) {
    tar.entry({ name: file.path.replace(/^\//, ""), mode: file.mode }, file.content);
  }
  tar.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of tar) chunks.push(chunk as Buffer);
  await api("PUT", `/containers/${id}/archive?path=/`, Buffer.concat(chunks));
}

/** Runs a command in a running container and returns its exit code and output. */
export async function exec(
  id: string,
  cmd: string[],
  { timeoutMs = 60_000, env = [] }: { timeoutMs?: number; env?: string[] } = {},
): Promise<{ exitCode: number; output: string }> {
  const { Id } = await api<{ Id: string }>("POST", `/containers/${id}/exec`, {
    Cmd: cmd,
    Env: env,
    AttachStdout: true,
    AttachStderr: true,
  });
  const { data } = await call(
    "POST",
    `/exec/${Id}/start`,
    { Detach: false, Tty: false },
    timeoutMs,
  );
  const { ExitCode } = await api<{ ExitCode: number }>("GET", `/exec/${Id}/json`);
  return { exitCode: ExitCode, output: demux(data) };
}
