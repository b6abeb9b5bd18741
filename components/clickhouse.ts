import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { containerOptions, secretEnv, serviceContainerArgs } from "../lib/containers";
import { dataVolume, secretOrGenerated, SharedServiceArgs } from "../lib/context";
import { clickhouseCheck } from "../lib/healthchecks";
import { dockerName } from "../lib/naming";
import { httpUrl } from "../lib/urls";
import { CLICKHOUSE_HTTP_PORT, SHARED_ALIASES } from "../stacks/dittofeed";

/** Image: a pinned `clickhouse/clickhouse-server` alpine tag. Memory default: 2048 MB (ClickHouse sizes its caches from it). Password: the admin user's. */
export type ClickHouseArgs = SharedServiceArgs;

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
    const volume = dataVolume(name, context, "clickhouse", this);
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
