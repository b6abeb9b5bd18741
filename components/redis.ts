import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { containerOptions, labels, secretEnv, serviceContainerArgs } from "../lib/containers";
import { dataOptions, PlatformContext, secretOrGenerated } from "../lib/context";
import { redisCheck } from "../lib/healthchecks";
import { dockerName } from "../lib/naming";
import { redisUrl } from "../lib/urls";
import { REDIS_PORT, SHARED_ALIASES } from "../stacks/dittofeed";

export interface RedisArgs {
  /** The stack this instance belongs to. */
  context: PlatformContext;
  /** The image id to run, from a pulled `RemoteImage` (Redis 7). */
  image: pulumi.Input<string>;
  /** Container memory limit in MB; Redis's own `maxmemory` is set to three quarters of it. Default in config: 256. */
  memoryMb: number;
  /** The `default` user's password. Default: generated. */
  password?: string;
}

/** Redis 7 with a password and append-only persistence on a named volume. */
export class Redis extends pulumi.ComponentResource {
  public readonly host = SHARED_ALIASES.redis;
  public readonly port = REDIS_PORT;
  public readonly password: pulumi.Output<string>;
  /** `redis://default:<password>@redis:6379`, percent-encoded; secret. */
  public readonly url: pulumi.Output<string>;
  public readonly container: docker.Container;

  constructor(name: string, args: RedisArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:data:Redis", name, {}, opts);
    const { context } = args;
    const owner = { environment: context.environment, service: "redis" };

    this.password = secretOrGenerated(`${name}-password`, args.password, this);
    this.url = pulumi.secret(
      this.password.apply((password) => redisUrl({ password, host: this.host, port: this.port })),
    );
    const volume = new docker.Volume(
      `${name}-data`,
      { name: dockerName(context.stack, "redis-data"), labels: labels(owner) },
      { parent: this, ...dataOptions(context, { protect: false }) },
    );
    // The password reaches redis-server through the environment, not the command line, which
    // would put it in plain text in state and previews. At the memory limit Redis refuses writes
    // (noeviction) instead of being OOM-killed or silently dropping keys.
    const maxMemoryMb = Math.floor(args.memoryMb * 0.75);
    this.container = new docker.Container(
      name,
      serviceContainerArgs({
        name: dockerName(context.stack, "redis"),
        image: args.image,
        owner,
        network: context.network,
        aliases: [this.host],
        memoryMb: args.memoryMb,
        entrypoint: ["sh", "-c"],
        command: [
          `exec redis-server --appendonly yes --maxmemory ${maxMemoryMb}mb --maxmemory-policy noeviction --requirepass "$REDIS_PASSWORD"`,
        ],
        env: secretEnv({ REDIS_PASSWORD: this.password, REDISCLI_AUTH: this.password }),
        healthcheck: redisCheck(),
        volumes: [{ volumeName: volume.name, containerPath: "/data" }],
      }),
      { parent: this, ...containerOptions },
    );
    this.registerOutputs({ host: this.host, port: this.port, url: this.url });
  }
}
