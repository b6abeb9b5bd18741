import * as pulumi from "@pulumi/pulumi";
import { DEFAULT_TASK_QUEUE, namespaceScript, NamespaceJobEnv } from "../data/temporalServer";
import { RunScript } from "../runtime/context";

/** A Temporal frontend, whoever runs it, and an image whose `tctl` matches its version. */
export interface TemporalServer {
  /** `<host>:<port>` of its frontend. */
  address: string;
  toolsImage: pulumi.Input<string>;
}

export interface NamespaceArgs {
  /** Runs the job: with `auth`, where admin jobs run (its token administers the namespace). */
  run: RunScript;
  /**
   * The token its `tctl` sends (`Bearer <JWT>`, as `TEMPORAL_CLI_AUTH`: temporalio/tctl v1.18.0,
   * cli_curr/app.go, `--auth`). @default none: a Temporal that authorizes nothing
   */
  auth?: pulumi.Input<string>;
  /** The tenant whose namespace this is. */
  tenantId: string;
  /** The namespace's name (see `tenantNamespace`). */
  namespace: string;
  /** The shared Temporal; its tools image's `tctl` registers the namespace. */
  temporal: TemporalServer;
  /** Days Temporal keeps a closed workflow's history. */
  retentionDays: number;
  /** What must run first: Temporal, and the tenant's gateway to it. */
  dependsOn: pulumi.Resource[];
  /** How long the job waits for a frontend to know the new namespace. @default 60 */
  waitSeconds?: number;
}

/**
 * A tenant's Temporal namespace. Dittofeed v0.23.0 neither registers it (its bootstrap has no
 * namespace call: packages/backend-lib/src/bootstrap.ts) nor runs without it: api, worker and the
 * bootstrap itself (which starts the compute-properties workflows) talk to `TEMPORAL_NAMESPACE`
 * only. `temporalio/auto-setup` creates only `default`. A one-shot job registers the namespace
 * once Temporal is healthy ("already exists" counts as success, and brings the retention to the
 * configured value); it runs again only when its settings change.
 */
export class Namespace extends pulumi.ComponentResource {
  public readonly name: string;
  /** Resolves once the namespace is registered and a frontend answers for it. */
  public readonly succeeded: pulumi.Output<pulumi.Resource[]>;

  constructor(name: string, args: NamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:tenant:Namespace", name, {}, opts);
    const { tenantId, temporal } = args;
    this.name = args.namespace;
    const env: NamespaceJobEnv = {
      TEMPORAL_CLI_ADDRESS: temporal.address,
      NAMESPACE: this.name,
      RETENTION_DAYS: String(args.retentionDays),
      TASK_QUEUE: DEFAULT_TASK_QUEUE,
      WAIT_SECONDS: String(args.waitSeconds ?? 60),
    };
    const run = args.run(
      `${name}-job`,
      {
        job: "namespace",
        image: temporal.toolsImage,
        memoryMb: 128,
        script: namespaceScript(),
        env: {
          ...env,
          ...(args.auth === undefined
            ? {}
            : { TEMPORAL_CLI_AUTH: pulumi.concat("Bearer ", args.auth) }),
        },
        description: `Temporal namespace job of tenant ${tenantId}`,
        secrets: args.auth === undefined ? [] : [args.auth],
      },
      { parent: this, dependsOn: args.dependsOn },
    );
    this.succeeded = run.succeeded;
    this.registerOutputs({ name: this.name });
  }
}
