/**
 * Runs a Pulumi program offline, under the SDK's mocks, and records every registration exactly
 * as the engine would receive it: what the tests, plans and benchmarks read.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { RegisterResourceRequest } from "@pulumi/pulumi/proto/resource_pb";
import { MockMonitor } from "@pulumi/pulumi/runtime/mocks";
import { loadPlatformConfig } from "../../stacks/config";
import { readStackFile, stackFilePath } from "../../stacks/config/stackFile";
import { createPlatform, previousPlacement, stackExports } from "../../stacks";
import { JobOutcome, mocks } from "./mocks";

// Internal to the SDK (absent from its .d.ts), but it is the one way to know that every
// registration the program started has reached the monitor.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const settings = require("@pulumi/pulumi/runtime/settings") as {
  setMockOptions(
    monitor: unknown,
    project: string,
    stack: string,
    preview: boolean,
    organization: string,
  ): void;
  waitForRPCs(): Promise<void>;
};

// eslint-disable-next-line @typescript-eslint/no-require-imports
const state = require("@pulumi/pulumi/runtime/state") as {
  getStore(): { settings: { options: { rootDirectory?: string } } };
};

export const PROJECT_ROOT = path.resolve(__dirname, "../..");

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
  /**
   * The program's `deleteBeforeReplace`; undefined when it set none, and the provider decides
   * (the engine lets an explicit value, `false` included, override the provider's: pulumi/pulumi
   * pkg/resource/deploy/step_generator.go).
   */
  deleteBeforeReplace?: boolean;
  /** The subset of `dependencies` that come from Outputs in inputs, by input property. */
  propertyDependencies: Record<string, string[]>;
  /** Outputs the engine stores as secrets whatever the inputs were. */
  additionalSecretOutputs: string[];
  /** Top-level inputs whose changes the engine ignores once the resource exists. */
  ignoreChanges: string[];
  /** Input paths whose changes replace the resource, whatever the provider says. */
  replaceOnChanges: string[];
  /** How long the provider may take to create, update or delete it; unset: the provider's default. */
  customTimeouts: { create?: string; update?: string; delete?: string };
  /**
   * What this resource was known by before (its `aliases`), as the SDK sends them to the engine;
   * the engine resolves them against the last state (see tools/plan/moves.ts).
   */
  aliases: Alias[];
  /** Resolved inputs; secret values stay wrapped (see `isSecret` in ./mocks). */
  inputs: Record<string, unknown>;
}

/**
 * One alias: an old URN, or what differed, each field empty where it is the resource's own;
 * `parent` null where the resource had no parent (`pulumi/alias.proto`).
 */
export type Alias =
  | { urn: string }
  | { name: string; type: string; stack: string; project: string; parent: string | null };

/** The root of every stack, which the engine leaves out of its children's URNs. */
const ROOT_STACK_TYPE = "pulumi:pulumi:Stack";

/** The qualified type in a URN: `parent$child` types, from the stack's child down. */
const qualifiedType = (urn: string) => urn.split("::")[2];

/**
 * A resource's URN as the engine makes it: the parent's whole qualified type, then the
 * resource's type, unless the parent is the stack (pulumi/pulumi, read at 1b5949891b3c,
 * sdk/go/common/resource/urn.go, NewURN; pkg/resource/deploy/deployment.go, generateURN).
 * The SDK's MockMonitor keeps only the parent's last type, which would hide a component's new
 * type from its grandchildren's URNs.
 */
export function engineUrn(
  stack: string,
  project: string,
  parent: string,
  type: string,
  name: string,
): string {
  const parentType = parent ? qualifiedType(parent) : "";
  const qualified = parentType && parentType !== ROOT_STACK_TYPE ? `${parentType}$${type}` : type;
  return `urn:pulumi:${stack}::${project}::${qualified}::${name}`;
}

/** The aliases of a request as the plan records them. */
function aliasesOf(req: RegisterResourceRequest): Alias[] {
  return req.getAliasesList().map((alias) => {
    const spec = alias.getSpec();
    if (!spec) return { urn: alias.getUrn() };
    return {
      name: spec.getName(),
      type: spec.getType(),
      stack: spec.getStack(),
      project: spec.getProject(),
      parent: spec.getNoparent() ? null : spec.getParenturn(),
    };
  });
}

/** The request's custom timeouts, without those it leaves to the provider (empty strings). */
function customTimeouts(req: RegisterResourceRequest): Registration["customTimeouts"] {
  const timeouts = req.getCustomtimeouts();
  if (timeouts === undefined) return {};
  const given = {
    create: timeouts.getCreate(),
    update: timeouts.getUpdate(),
    delete: timeouts.getDelete(),
  };
  return Object.fromEntries(Object.entries(given).filter(([, value]) => value !== ""));
}

function propertyDependencies(req: RegisterResourceRequest): Record<string, string[]> {
  const byProperty: Record<string, string[]> = {};
  req.getPropertydependenciesMap().forEach((value, key) => {
    const urns = [...value.getUrnsList()].sort();
    if (urns.length > 0) byProperty[key] = urns;
  });
  return byProperty;
}

/**
 * What runs a registration for real instead of answering for it (tools/e2e creates Docker
 * resources on an engine): called for every custom resource in the order the engine would start
 * them, with what the engine knows of it, and answering as its provider would.
 */
export type Provision = (
  args: pulumi.runtime.MockResourceArgs,
  registration: Omit<Registration, "inputs">,
) => Promise<pulumi.runtime.MockResourceResult>;

interface UrnMaker {
  newUrn(parent: string, type: string, name: string): string;
}

class RecordingMonitor extends MockMonitor {
  readonly registrations: Registration[] = [];
  /** The stack's outputs as the engine receives them: secrets still marked. */
  stackOutputs: Record<string, unknown> | undefined;
  /** The inputs MockMonitor deserialized for the mocks of the registration in progress. */
  private readonly handedToMocks: { inputs?: Record<string, unknown> };

  /** The request being registered, for `provision` (MockMonitor calls the mocks synchronously). */
  private registering: RegisterResourceRequest | undefined;

  constructor(mocks: pulumi.runtime.Mocks, stack: string, project: string, provision?: Provision) {
    const handedToMocks: { inputs?: Record<string, unknown> } = {};
    super({
      ...mocks,
      newResource: (args) => {
        handedToMocks.inputs = args.inputs as Record<string, unknown>;
        const req = this.registering;
        // A read (a StackReference, with its id) is the mocks' to answer; only registrations
        // are provisioned.
        if (!provision || !args.custom || (!req && args.id)) return mocks.newResource(args);
        // Should MockMonitor ever await before calling the mocks, the request would be lost.
        if (!req) throw new Error(`no request in progress for ${args.type} ${args.name}`);
        return provision(args, this.describe(req, this.urnOf(req)));
      },
    });
    this.handedToMocks = handedToMocks;
    // MockMonitor (SDK 3.270 runtime/mocks.js) makes every URN with its private `newUrn`, which
    // keeps only the parent's last type: the engine's replace it, so the program sees them too.
    (this as unknown as UrnMaker).newUrn = (parent, type, name) =>
      engineUrn(stack, project, parent, type, name);
  }

  /** The URN MockMonitor gives the request: the engine's (see the constructor). */
  private urnOf(req: RegisterResourceRequest): string {
    return (this as unknown as UrnMaker).newUrn(req.getParent(), req.getType(), req.getName());
  }

  private describe(req: RegisterResourceRequest, urn: string): Omit<Registration, "inputs"> {
    return {
      urn,
      type: req.getType(),
      name: req.getName(),
      parent: req.getParent(),
      custom: req.getCustom(),
      provider: req.getProvider(),
      dependencies: [...req.getDependenciesList()].sort(),
      protect: req.getProtect() ?? false,
      retainOnDelete: req.getRetainondelete() ?? false,
      deleteBeforeReplace: req.getDeletebeforereplacedefined()
        ? req.getDeletebeforereplace()
        : undefined,
      propertyDependencies: propertyDependencies(req),
      additionalSecretOutputs: [...req.getAdditionalsecretoutputsList()].sort(),
      ignoreChanges: [...req.getIgnorechangesList()].sort(),
      replaceOnChanges: [...req.getReplaceonchangesList()].sort(),
      customTimeouts: customTimeouts(req),
      aliases: aliasesOf(req),
    };
  }

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
    req: RegisterResourceRequest,
    callback: (err: unknown, response: { getUrn(): string } | undefined) => void,
  ): Promise<void> {
    this.handedToMocks.inputs = undefined;
    this.registering = req;
    const registered = super.registerResource(
      req,
      (err: unknown, response?: { getUrn(): string }) => {
        if (response) {
          this.registrations.push({
            ...this.describe(req, response.getUrn()),
            // Deserializing every request a second time cost the bigger programs' runs seconds.
            inputs: inputs ?? pulumi.runtime.deserializeProperties(req.getObject()!),
          });
        }
        callback(err, response);
      },
    );
    // MockMonitor (SDK 3.270) hands the mocks the deserialized request before its first await,
    // so the inputs are known by now; should that change, the callback deserializes them itself.
    const inputs = this.handedToMocks.inputs;
    this.handedToMocks.inputs = undefined;
    this.registering = undefined;
    return registered;
  }
}

export interface RunOptions {
  /** Config as `pulumi config` holds it: `platform:key` to string (JSON for structured keys). */
  config: Record<string, string>;
  secretKeys?: string[];
  stack?: string;
  /** Outcomes of one-shot jobs by logical name; unnamed jobs exit 0. */
  jobs?: Record<string, JobOutcome>;
  /** Where the other stacks' files are, for the cross-stack checks. @default none */
  stackFilesDirectory?: string;
  /** What registers the resources and returns the stack outputs. @default this checkout's platform */
  program?: Program;
  /** Run as `pulumi preview` does (`pulumi.runtime.isDryRun()`). @default false: as `pulumi up` */
  preview?: boolean;
  /** Other mocks than the providers' stand-ins (`jobs` is then ignored). @default ./mocks */
  mocks?: pulumi.runtime.Mocks;
  /** The stack outputs of its last deploy, which the program reads back. @default none: a first deploy */
  previousOutputs?: Record<string, unknown>;
  /** Creates custom resources for real (see `Provision`). @default none: the mocks answer */
  provision?: Provision;
}

/**
 * A Pulumi program as the CLI runs it: the module's exports are the stack outputs, or a function
 * whose (awaited) result they are.
 */
export type Program = () => Record<string, unknown> | (() => Promise<Record<string, unknown>>);

export interface RunResult {
  registrations: Registration[];
  /** The stack outputs, secrets still marked (see `isSecret` in ./mocks). */
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
  const theMocks = options.mocks ?? mocks(options.jobs ?? {}, options.previousOutputs);
  const preview = options.preview ?? false;
  // A DIY backend's organization (the project's stacks are `organization/platform/<stack>`).
  await pulumi.runtime.setMocks(theMocks, "platform", stack, preview, "organization");
  const monitor = new RecordingMonitor(theMocks, stack, "platform", options.provision);
  settings.setMockOptions(monitor, "platform", stack, preview, "organization");
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
    await pulumi.runtime.runInPulumiStack(async () => {
      try {
        const program: Program =
          options.program ??
          (() => async () => {
            const previous = await previousPlacement();
            const platform = createPlatform(
              loadPlatformConfig(options.stackFilesDirectory ?? null, previous),
              stack,
              previous,
            );
            return stackExports(platform);
          });
        // As the CLI does (@pulumi/pulumi 3.270.0, cmd/run/run.js): an exported function is run.
        const exported = program();
        return typeof exported === "function" ? await exported() : exported;
      } catch (error) {
        record(error);
        return {};
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
 * Encrypted (`secure:`) values, top-level or nested, become what `decrypt` makes of them and
 * their keys secret. Offline there is no secrets provider: by default each becomes a placeholder.
 */
export function stackFileConfig(
  file: string,
  decrypt: (ciphertext: string) => string = () => SECURE_PLACEHOLDER,
): {
  config: Record<string, string>;
  secretKeys: string[];
} {
  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, value] of Object.entries(readStackFile(file))) {
    let hasSecret = false;
    const replace = (node: unknown): unknown => {
      if (Array.isArray(node)) return node.map(replace);
      if (node !== null && typeof node === "object") {
        const entries = Object.entries(node as Record<string, unknown>);
        if (entries.length === 1 && entries[0][0] === "secure") {
          hasSecret = true;
          return decrypt(String(entries[0][1]));
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
 * A committed stack's run options as `pulumi config` would hand them to the program, with
 * `changes` replacing whole top-level keys of its file (`{ "platform:hostMemoryMb": 1024 }`).
 */
export function committedStack(stack: string, changes: Record<string, unknown> = {}): RunOptions {
  const { config, secretKeys } = stackFileConfig(stackFilePath(PROJECT_ROOT, stack));
  for (const [key, value] of Object.entries(changes)) config[key] = JSON.stringify(value);
  return { config, secretKeys, stack, stackFilesDirectory: PROJECT_ROOT };
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

/** Thrown by `withCheckout` for a ref that names no commit. */
export class UnknownRefError extends Error {}

/** Runs `work` on a throwaway checkout of `ref` that shares this project's node_modules. */
export async function withCheckout<T>(ref: string, work: (root: string) => Promise<T>): Promise<T> {
  const git = (...args: string[]) =>
    execFileSync("git", args, { cwd: PROJECT_ROOT, stdio: ["ignore", "pipe", "pipe"] });
  try {
    git("rev-parse", "--verify", "--quiet", `${ref}^{commit}`);
  } catch {
    throw new UnknownRefError(`${ref} is not a commit in this repository`);
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "platform-base-"));
  git("worktree", "add", "--detach", "--force", root, ref);
  try {
    fs.symlinkSync(path.join(PROJECT_ROOT, "node_modules"), path.join(root, "node_modules"), "dir");
    return await work(root);
  } finally {
    git("worktree", "remove", "--force", root);
  }
}
