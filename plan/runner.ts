import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import * as YAML from "yaml";
import { loadPlatformConfig } from "../stacks/config";
import { createPlatform } from "../stacks/platform";

// Internal to the SDK (absent from its .d.ts), but it is the one way to know that every
// registration the program started has reached the monitor.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const settings = require("@pulumi/pulumi/runtime/settings") as {
  setMockOptions(monitor: unknown, project: string, stack: string, preview: boolean): void;
  waitForRPCs(): Promise<void>;
};

// eslint-disable-next-line @typescript-eslint/no-require-imports
const state = require("@pulumi/pulumi/runtime/state") as {
  getStore(): { settings: { options: { rootDirectory?: string } } };
};

/** How the engine marks a secret value on the wire. */
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const SIG_KEY = "4dabf18193072939515e22adb298388d";

export const PROJECT_ROOT = path.resolve(__dirname, "..");

/** One resource registration as the engine would receive it. */
export interface Registration {
  urn: string;
  type: string;
  name: string;
  parent: string;
  custom: boolean;
  provider: string;
  /** URNs this resource waits for: explicit `dependsOn` plus Outputs in its inputs. */
  dependencies: string[];
  protect: boolean;
  retainOnDelete: boolean;
  deleteBeforeReplace: boolean;
  /** The subset of `dependencies` that come from Outputs in inputs, by input property. */
  propertyDependencies: Record<string, string[]>;
  /** Outputs the engine stores as secrets whatever the inputs were. */
  additionalSecretOutputs: string[];
  /** Resolved inputs; secret values stay wrapped (see {@link isSecret}). */
  inputs: Record<string, unknown>;
}

/** The parts of the SDK's RegisterResourceRequest the recorder reads. */
interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getProvider(): string;
  getDependenciesList(): string[];
  getProtect(): boolean | undefined;
  getRetainondelete(): boolean | undefined;
  getDeletebeforereplace(): boolean;
  getPropertydependenciesMap(): {
    forEach(callback: (value: { getUrnsList(): string[] }, key: string) => void): void;
  };
  getAdditionalsecretoutputsList(): string[];
  getObject(): Parameters<typeof pulumi.runtime.deserializeProperties>[0];
}

function propertyDependencies(req: RegisterRequest): Record<string, string[]> {
  const byProperty: Record<string, string[]> = {};
  req.getPropertydependenciesMap().forEach((value, key) => {
    const urns = [...value.getUrnsList()].sort();
    if (urns.length > 0) byProperty[key] = urns;
  });
  return byProperty;
}

class RecordingMonitor extends MockMonitor {
  readonly registrations: Registration[] = [];
  /** The stack's outputs as the engine receives them: secrets still marked. */
  stackOutputs: Record<string, unknown> | undefined;

  registerResourceOutputs(
    req: {
      getUrn(): string;
      getOutputs(): Parameters<typeof pulumi.runtime.deserializeProperties>[0];
    },
    callback: (err: unknown, response: unknown) => void,
  ): void {
    if (req.getUrn().includes("::pulumi:pulumi:Stack::")) {
      this.stackOutputs = pulumi.runtime.deserializeProperties(req.getOutputs());
    }
    super.registerResourceOutputs(req, callback);
  }

  async registerResource(
    req: RegisterRequest,
    callback: (err: unknown, response: { getUrn(): string } | undefined) => void,
  ): Promise<void> {
    return super.registerResource(req, (err: unknown, response?: { getUrn(): string }) => {
      if (response) {
        this.registrations.push({
          urn: response.getUrn(),
          type: req.getType(),
          name: req.getName(),
          parent: req.getParent(),
          custom: req.getCustom(),
          provider: req.getProvider(),
          dependencies: [...req.getDependenciesList()].sort(),
          protect: req.getProtect() ?? false,
          retainOnDelete: req.getRetainondelete() ?? false,
          deleteBeforeReplace: req.getDeletebeforereplace(),
          propertyDependencies: propertyDependencies(req),
          additionalSecretOutputs: [...req.getAdditionalsecretoutputsList()].sort(),
          inputs: pulumi.runtime.deserializeProperties(req.getObject()),
        });
      }
      callback(err, response);
    });
  }
}

export function isSecret(value: unknown): value is { value: unknown } {
  return (
    typeof value === "object" &&
    value !== null &&
    (value as Record<string, unknown>)[SIG_KEY] === SECRET_SIG
  );
}

function secret(value: unknown) {
  return { [SIG_KEY]: SECRET_SIG, value };
}

/** A generated password as awkward as a real one can be, to prove it is always encoded. */
export function mockPassword(name: string): string {
  return `p+/=@:#?%&${name}`;
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
function mocks(jobs: Record<string, JobOutcome>): pulumi.runtime.Mocks {
  return {
    newResource(args) {
      const inputs = args.inputs as Record<string, unknown>;
      const state: Record<string, unknown> = { ...inputs };
      switch (args.type) {
        case "random:index/randomPassword:RandomPassword":
          // The engine marks `result` secret (additionalSecretOutputs); the mock monitor does not.
          state.result = secret(mockPassword(args.name));
          break;
        case "docker:index/remoteImage:RemoteImage":
          // Like a real image id, it changes whenever the reference does.
          state.imageId = `sha256:${createHash("sha256").update(String(inputs.name)).digest("hex")}`;
          break;
        case "random:index/randomBytes:RandomBytes":
          state.base64 = secret(
            Buffer.from(`bytes-of-${args.name}`.padEnd(32, ".")).toString("base64"),
          );
          break;
        case "cloudflare:index/zeroTrustTunnelCloudflared:ZeroTrustTunnelCloudflared":
          // Tunnel ids are UUIDs; derived from the name so that two runs agree.
          return { id: uuidOf(args.name), state };
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
      throw new Error(`unexpected invoke ${args.token}: add a mock for it in tests/harness.ts`);
    },
  };
}

export interface RunOptions {
  /** Config as `pulumi config` holds it: `platform:key` to string (JSON for structured keys). */
  config: Record<string, string>;
  secretKeys?: string[];
  stack?: string;
  /** Outcomes of one-shot jobs by logical name; unnamed jobs exit 0. */
  jobs?: Record<string, JobOutcome>;
  /** Where the other stacks' files are, for the cross-stack checks. Default: none. */
  stackFilesDirectory?: string;
  /** What registers the resources and returns the stack outputs. Default: this checkout's platform. */
  program?: Program;
}

/** A Pulumi program: registers resources synchronously, returns its stack outputs. */
export type Program = () => Record<string, unknown>;

export interface RunResult {
  registrations: Registration[];
  /** The stack outputs, secrets still marked (see {@link isSecret}). */
  outputs: Record<string, unknown> | undefined;
  /** The first error the program raised, if any. */
  error: Error | undefined;
}

/**
 * Runs the program once under mocks, offline, exactly as `index.ts` does (load config, build
 * the stack), and returns every registration. Runs are independent: each has its own monitor.
 */
export async function runProgram(options: RunOptions): Promise<RunResult> {
  const stack = options.stack ?? "test";
  const theMocks = mocks(options.jobs ?? {});
  await pulumi.runtime.setMocks(theMocks, "platform", stack, false);
  const monitor = new RecordingMonitor(theMocks);
  settings.setMockOptions(monitor, "platform", stack, false);
  pulumi.runtime.setAllConfig(options.config, options.secretKeys ?? []);

  // Pulumi's language host fails the update on an error the program raises, including inside
  // an apply; here the harness plays that part for the duration of the run.
  const errors: Error[] = [];
  const record = (reason: unknown) =>
    errors.push(reason instanceof Error ? reason : new Error(String(reason)));
  const previous = process.listeners("unhandledRejection");
  process.removeAllListeners("unhandledRejection");
  process.on("unhandledRejection", record);
  try {
    await pulumi.runtime.runInPulumiStack(() => {
      try {
        const program =
          options.program ??
          (() => {
            const platform = createPlatform(
              loadPlatformConfig(options.stackFilesDirectory ?? null),
              stack,
            );
            return { tenants: platform.tenants, connections: platform.connections };
          });
        return Promise.resolve(program());
      } catch (error) {
        record(error);
        return Promise.resolve({});
      }
    });
    await settings.waitForRPCs();
  } catch (error) {
    record(error);
  } finally {
    // Let rejections of registrations that failed late surface before the handler goes.
    await new Promise((resolve) => setImmediate(resolve));
    process.removeAllListeners("unhandledRejection");
    for (const listener of previous) process.on("unhandledRejection", listener);
  }
  return { registrations: monitor.registrations, outputs: monitor.stackOutputs, error: errors[0] };
}

/** Placeholder for an encrypted value: long enough to pass the secrets' length rule. */
export const SECURE_PLACEHOLDER = "secure-placeholder-0123456789";

/**
 * Reads a committed `Pulumi.<stack>.yaml` into the form `pulumi config` hands the program.
 * Encrypted (`secure:`) values, top-level or nested, become placeholders and their keys secret.
 */
export function stackFileConfig(file: string): {
  config: Record<string, string>;
  secretKeys: string[];
} {
  const document = YAML.parse(fs.readFileSync(file, "utf8")) as {
    config?: Record<string, unknown>;
  };
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, value] of Object.entries(document.config ?? {})) {
    let hasSecret = false;
    const replace = (node: unknown): unknown => {
      if (Array.isArray(node)) return node.map(replace);
      if (node !== null && typeof node === "object") {
        const entries = Object.entries(node as Record<string, unknown>);
        if (entries.length === 1 && entries[0][0] === "secure") {
          hasSecret = true;
          return SECURE_PLACEHOLDER;
        }
        return Object.fromEntries(entries.map(([k, v]) => [k, replace(v)]));
      }
      return node;
    };
    const plain = replace(value);
    config[key] = typeof plain === "string" ? plain : JSON.stringify(plain);
    if (hasSecret) secretKeys.push(key);
  }
  return { config, secretKeys };
}

/**
 * The program of a checkout, run the way the Pulumi CLI runs it: `index.ts` evaluated afresh with
 * the checkout as working directory, so it reads that checkout's stack files. Its modules resolve
 * `@pulumi/*` to the same installed copies as this process (the checkout's `node_modules` must
 * be this project's, or a link to it), which is what lets the mocks see its registrations.
 */
export function checkoutProgram(root: string): Program {
  return () => {
    const absolute = path.resolve(root);
    for (const key of Object.keys(require.cache)) {
      if (
        key.startsWith(absolute + path.sep) &&
        !key.includes(`${path.sep}node_modules${path.sep}`)
      )
        delete require.cache[key];
    }
    // As the Pulumi CLI does: the project directory is both the working and the root directory.
    state.getStore().settings.options.rootDirectory = absolute;
    const previous = process.cwd();
    process.chdir(absolute);
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      return require(path.join(absolute, "index.ts")) as Record<string, unknown>;
    } finally {
      process.chdir(previous);
    }
  };
}
