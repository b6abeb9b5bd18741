import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { containerOptions, labels, secretEnv, serviceContainerArgs } from "../lib/containers";
import { dataOptions, PlatformContext, secretOrGenerated } from "../lib/context";
import { clickhouseCheck } from "../lib/healthchecks";
import { dockerName } from "../lib/naming";
import { httpUrl } from "../lib/urls";
import { CLICKHOUSE_HTTP_PORT, SHARED_ALIASES } from "../stacks/dittofeed";

export interface ClickHouseArgs {
  /** The stack this instance belongs to. */
  context: PlatformContext;
  /** The image id to run, from a pulled `RemoteImage` (a pinned `clickhouse/clickhouse-server` alpine tag). */
  image: pulumi.Input<string>;
  /** Container memory limit in MB; ClickHouse sizes its caches from it. Default in config: 2048. */
  memoryMb: number;
  /** The admin user's password. Default: generated. */
  password?: string;
}

/**
 * ClickHouse on a named volume. Its admin user may manage access (SQL users and grants), which
 * each tenant's migration uses to give the tenant a user that sees only its own database.
 */
export class ClickHouse extends pulumi.ComponentResource {
  public readonly host = SHARED_ALIASES.clickhouse;
  /** `http://clickhouse:8123`, the form Dittofeed's `CLICKHOUSE_HOST` expects. */
  public readonly url = httpUrl(SHARED_ALIASES.clickhouse, CLICKHOUSE_HTTP_PORT);
  public readonly adminUser = "platform_admin";
  public readonly password: pulumi.Output<string>;
  public readonly container: docker.Container;

  constructor(name: string, args: ClickHouseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:data:ClickHouse", name, {}, opts);
    const { context } = args;
    const owner = { environment: context.environment, service: "clickhouse" };

    this.password = secretOrGenerated(`${name}-password`, args.password, this);
    const volume = new docker.Volume(
      `${name}-data`,
      { name: dockerName(context.stack, "clickhouse-data"), labels: labels(owner) },
      { parent: this, ...dataOptions(context, { protect: true }) },
    );
    this.container = new docker.Container(
      name,
      {
        ...serviceContainerArgs({
          name: dockerName(context.stack, "clickhouse"),
          image: args.image,
          owner,
          network: context.network,
          aliases: [this.host],
          memoryMb: args.memoryMb,
          env: secretEnv({
            CLICKHOUSE_USER: this.adminUser,
            CLICKHOUSE_PASSWORD: this.password,
            CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT: "1",
          }),
          healthcheck: clickhouseCheck(),
          waitTimeoutSeconds: 180,
          volumes: [{ volumeName: volume.name, containerPath: "/var/lib/clickhouse" }],
        }),
        // ClickHouse's documented minimum; the Docker default of 1024 open files is too few.
        ulimits: [{ name: "nofile", soft: 262144, hard: 262144 }],
      },
      { parent: this, ...containerOptions },
    );
    this.registerOutputs({ url: this.url, adminUser: this.adminUser, password: this.password });
  }
}
