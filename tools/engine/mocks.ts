/**
 * What the mocked providers answer: the outputs the program reads (ids, generated secrets, image
 * ids, exit codes of one-shot jobs), shaped like the real providers' answers.
 */
import { createHash, generateKeyPairSync } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";

/** How the engine marks a secret value on the wire. */
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const SIG_KEY = "4dabf18193072939515e22adb298388d";

export function isSecret(value: unknown): value is { value: unknown } {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<string, unknown>)[SIG_KEY] === SECRET_SIG
  );
}

/** Secrets unwrapped, as a provider (and CrossGuard's policies) see values. */
export function unwrapSecrets(value: unknown): unknown {
  if (isSecret(value)) return unwrapSecrets(value.value);
  if (Array.isArray(value)) return value.map(unwrapSecrets);
  if (value !== null && typeof value === "object")
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v)]));
  return value;
}

function secret(value: unknown) {
  return { [SIG_KEY]: SECRET_SIG, value };
}

/** A generated password as awkward as a real one can be, to prove it is always encoded. */
export function mockPassword(name: string): string {
  return `p+/=@:#?%&${name}`;
}

/** The mocked `RandomBytes` of a resource: `length` bytes derived from its name. */
export function mockBytes(name: string, length: number): Buffer {
  const digest = createHash("sha512").update(`bytes-of-${name}`).digest();
  return Buffer.concat(
    Array.from({ length: Math.ceil(length / digest.length) }, () => digest),
  ).subarray(0, length);
}

export interface JobOutcome {
  exitCode: number;
  logs: string;
}

/** The UUID the mocked Cloudflare API gives a tunnel of that logical name. */
export function uuidOf(name: string): string {
  const hex = createHash("sha256").update(name).digest("hex");
  return [
    hex.slice(0, 8),
    hex.slice(8, 12),
    hex.slice(12, 16),
    hex.slice(16, 20),
    hex.slice(20, 32),
  ].join("-");
}

/** Mocks that answer like the providers do for the outputs the program reads. */
interface KeyPair {
  privateKey: string;
  publicKey: string;
}
const keyPairs = new Map<string, KeyPair>();

/**
 * A stand-in for a `tls.PrivateKey`: a real RSA key, the same for one name on this machine in
 * every process (plans of two runs, or of two processes, must agree). Node cannot seed its key
 * generation, so the first process to need one keeps it in the temp directory; a process that
 * lost the race takes the winner's.
 */
function keyPairOf(name: string, bits: number): KeyPair {
  const id = createHash("sha256").update(`${name}/${bits}`).digest("hex").slice(0, 16);
  const cached = keyPairs.get(id);
  if (cached) return cached;
  const file = path.join(os.tmpdir(), "platform-mock-keys", `${id}.json`);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  if (!fs.existsSync(file)) {
    const pair = generateKeyPairSync("rsa", {
      modulusLength: bits,
      publicKeyEncoding: { type: "spki", format: "pem" },
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
    });
    // Written whole, then linked into place: a reader never sees half a file, and a link fails
    // where another process's key is already.
    const written = `${file}.${process.pid}`;
    fs.writeFileSync(written, JSON.stringify(pair));
    try {
      fs.linkSync(written, file);
    } catch {
      // Another process was first: its key is the one.
    }
    fs.rmSync(written, { force: true });
  }
  const pair = JSON.parse(fs.readFileSync(file, "utf8")) as KeyPair;
  keyPairs.set(id, pair);
  return pair;
}

/**
 * The providers' stand-ins. `previousOutputs` are what a stack reading its own last deploy
 * (stacks/previous.ts) finds there: the outputs of a simulated previous run.
 */
export function mocks(
  jobs: Record<string, JobOutcome>,
  previousOutputs: Record<string, unknown> = {},
): pulumi.runtime.Mocks {
  return {
    newResource(args) {
      const inputs = args.inputs as Record<string, unknown>;
      const state: Record<string, unknown> = { ...inputs };
      const metadata = inputs.metadata as Record<string, unknown> | undefined;
      if (args.type.startsWith("kubernetes:") && metadata && metadata.name === undefined) {
        // The provider names an object that has no name `<resource name>-<8 hex>`
        // (pulumi-kubernetes v4.32.0, provider/pkg/metadata/naming.go); derived from the name and
        // the inputs here, so that two runs agree and changed inputs give another name.
        const suffix = createHash("sha256")
          .update(`${args.name}-${JSON.stringify(inputs)}`)
          .digest("hex")
          .slice(0, 8);
        state.metadata = { ...metadata, name: `${args.name}-${suffix}` };
      }
      if (args.type === "kubernetes:batch/v1:Job" && (jobs[args.name]?.exitCode ?? 0) !== 0) {
        // The provider fails a Job's registration once it has failed
        // (pulumi-kubernetes v4.32.0, provider/pkg/await/checker/job/check.go).
        throw new Error(`Job ${args.name} failed: BackoffLimitExceeded\n${jobs[args.name].logs}`);
      }
      switch (args.type) {
        case "pulumi:pulumi:StackReference":
          // What the engine reads from the referenced stack's last checkpoint.
          return {
            id: String(inputs.name),
            state: { name: inputs.name, outputs: previousOutputs, secretOutputNames: [] },
          };
        case "tls:index/privateKey:PrivateKey": {
          // A real key, one per name for the whole process, so that two runs agree (and the
          // tokens it signs with it); the engine marks the private half secret.
          const pair = keyPairOf(args.name, Number(inputs.rsaBits ?? 2048));
          state.privateKeyPem = secret(pair.privateKey);
          state.publicKeyPem = pair.publicKey;
          break;
        }
        case "random:index/randomPassword:RandomPassword":
          // The engine marks `result` secret (additionalSecretOutputs); the mock monitor does not.
          state.result = secret(mockPassword(args.name));
          break;
        case "docker:index/remoteImage:RemoteImage":
          // Like a real image id, it changes whenever the reference does.
          state.imageId = `sha256:${createHash("sha256").update(String(inputs.name)).digest("hex")}`;
          break;
        case "random:index/randomBytes:RandomBytes":
          // As many bytes as asked for, derived from the name so that two runs agree.
          state.base64 = secret(mockBytes(args.name, Number(inputs.length)).toString("base64"));
          break;
        case "random:index/randomId:RandomId": {
          // A stand-in for a random id: derived from the name and the keepers, so that two runs
          // agree and new keepers (a replacement) give another id. The real provider draws a new
          // one on every replacement, even back to keepers it had before.
          const digest = createHash("sha256")
            .update(`id-of-${args.name}-${JSON.stringify(inputs.keepers ?? {})}`)
            .digest();
          state.hex = digest.subarray(0, Number(inputs.byteLength)).toString("hex");
          break;
        }
        case "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared":
          // Tunnel ids are UUIDs; derived from the name so that two runs agree.
          return { id: uuidOf(args.name), state };
        case "cloudflare:index/accountToken:AccountToken":
          // The token's value, which the API returns once, at creation (secret).
          state.value = secret(`mock-token-${mockPassword(args.name)}`);
          return { id: createHash("md5").update(args.name).digest("hex"), state };
        case "cloudflare:index/zeroTrustAccessApplication:ZeroTrustAccessApplication":
          state.aud = `mock-aud:${args.name}`;
          break;
        case "docker:index/container:Container":
          if (inputs.attach) {
            const outcome = jobs[args.name] ?? { exitCode: 0, logs: "done\n" };
            state.exitCode = outcome.exitCode;
            state.containerLogs = outcome.logs;
          }
          break;
      }
      return { id: `${args.name}-id`, state };
    },
    call(args) {
      if (
        args.token ===
        "cloudflare:index/getAccountApiTokenPermissionGroupsList:getAccountApiTokenPermissionGroupsList"
      ) {
        // The groups the program looks up by name, with ids derived from the names.
        const names = [
          "Workers R2 Storage Bucket Item Read",
          "Workers R2 Storage Bucket Item Write",
        ];
        return {
          accountId: (args.inputs as { accountId?: string }).accountId,
          results: names.map((name) => ({
            id: uuidOf(name).replace(/-/g, ""),
            name,
            category: "developer_platform",
            isSelectable: true,
            scopes: ["com.cloudflare.edge.r2.bucket"],
          })),
        };
      }
      throw new Error(
        `unexpected invoke ${args.token}: add a mock for it in tools/engine/mocks.ts`,
      );
    },
  };
}
