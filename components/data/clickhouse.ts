import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { CLICKHOUSE_ADMIN_USER, clickhouseServerFiles } from "./clickhouseServer";
import { SERVICE_PORTS } from "../runtime/ports";
import { HealthCheck, healthCheck } from "../runtime/healthchecks";
import { httpUrl } from "../runtime/urls";
import { secretOrGenerated, SharedServiceArgs } from "../runtime/context";
import { dataVolume, secretEnv, serviceContainer, sharedServiceSpec } from "../runtime/docker";

const CLICKHOUSE_ALIAS = "clickhouse";
const CLICKHOUSE_HTTP_PORT = SERVICE_PORTS.clickhouseHttp;
/** clickhouse-client's native protocol, which only the platform's access jobs use. */
const CLICKHOUSE_NATIVE_PORT = SERVICE_PORTS.clickhouseNative;

/** The alpine image has no curl, but busybox's wget. */
function clickhouseCheck(): HealthCheck {
  return healthCheck(
    ["CMD-SHELL", `wget -q -O- http://127.0.0.1:${CLICKHOUSE_HTTP_PORT}/ping | grep -q Ok`],
    30,
  );
}

/** Image: a pinned `clickhouse/clickhouse-server` alpine tag (ClickHouse sizes its caches from `memoryMb`). Password: the admin user's. */
export interface ClickHouseArgs extends SharedServiceArgs {
  /** The port it serves Prometheus on, on the data network. @default none (not scraped) */
  metricsPort?: number;
}

/**
 * ClickHouse on a named volume. Its admin user may manage access (SQL users and grants), which
 * each tenant's migration uses to give the tenant a user that sees only its own database.
 */
export class ClickHouse extends pulumi.ComponentResource {
  public readonly host = CLICKHOUSE_ALIAS;
  public readonly port = CLICKHOUSE_HTTP_PORT;
  public readonly nativePort = CLICKHOUSE_NATIVE_PORT;
  /** `http://clickhouse:8123`, the form Dittofeed's `CLICKHOUSE_HOST` expects. */
  public readonly url = httpUrl(CLICKHOUSE_ALIAS, CLICKHOUSE_HTTP_PORT);
  public readonly adminUser = CLICKHOUSE_ADMIN_USER;
  public readonly password: pulumi.Output<string>;
  /** Its container's memory limit, which bounds each tenant's share (see `tenantProfile`). */
  public readonly memoryMb: number;
  public readonly container: docker.Container;

  constructor(name: string, args: ClickHouseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:data:ClickHouse", name, {}, opts);
    const { context } = args;

    this.password = secretOrGenerated(`${name}-password`, args.password, this);
    this.memoryMb = args.memoryMb;
    const volume = dataVolume(name, context, "clickhouse", this);
    this.container = serviceContainer(
      name,
      {
        ...sharedServiceSpec("clickhouse", this.host, args),
        env: secretEnv({
          CLICKHOUSE_USER: this.adminUser,
          CLICKHOUSE_PASSWORD: this.password,
          CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT: "1",
        }),
        files: clickhouseServerFiles(args.metricsPort),
        healthcheck: clickhouseCheck(),
        waitTimeoutSeconds: 180,
        volumes: [{ volumeName: volume.name, containerPath: "/var/lib/clickhouse" }],
        // ClickHouse's documented minimum; the Docker default of 1024 open files is too few.
        ulimits: [{ name: "nofile", soft: 262144, hard: 262144 }],
      },
      { parent: this },
    );
    this.registerOutputs({ url: this.url, adminUser: this.adminUser, password: this.password });
  }
}
