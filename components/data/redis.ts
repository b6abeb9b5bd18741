import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { HealthCheck, healthCheck } from "../../lib/healthchecks";
import { redisUrl } from "../../lib/urls";
import { secretOrGenerated, SharedServiceArgs } from "../shared/context";
import { dataVolume, secretEnv, serviceContainer, sharedServiceSpec } from "../shared/docker";

const REDIS_ALIAS = "redis";
const REDIS_PORT = 6379;

/**
 * `redis-cli` (on its default port, REDIS_PORT) reads the password from REDISCLI_AUTH; a NOAUTH
 * reply must not count as healthy.
 */
function redisCheck(): HealthCheck {
  return healthCheck(["CMD-SHELL", "redis-cli -h 127.0.0.1 ping | grep -q PONG"], 10);
}

/** Image: Redis 7; Redis's own `maxmemory` is three quarters of `memoryMb`. Password: the `default` user's. */
export type RedisArgs = SharedServiceArgs;

/** Redis 7 with a password and append-only persistence on a named volume. */
export class Redis extends pulumi.ComponentResource {
  public readonly host = REDIS_ALIAS;
  public readonly port = REDIS_PORT;
  public readonly password: pulumi.Output<string>;
  /** `redis://default:<password>@redis:6379`, percent-encoded; secret. */
  public readonly url: pulumi.Output<string>;
  public readonly container: docker.Container;

  constructor(name: string, args: RedisArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:data:Redis", name, {}, opts);
    const { context } = args;

    this.password = secretOrGenerated(`${name}-password`, args.password, this);
    this.url = pulumi.secret(
      this.password.apply((password) => redisUrl({ password, host: this.host, port: this.port })),
    );
    const volume = dataVolume(name, context, "redis", this);
    // The password reaches redis-server through the environment, not the command line, which
    // would put it in plain text in state and previews. At the memory limit Redis refuses writes
    // (noeviction) instead of being OOM-killed or silently dropping keys.
    const maxMemoryMb = Math.floor(args.memoryMb * 0.75);
    this.container = serviceContainer(
      name,
      {
        ...sharedServiceSpec("redis", this.host, args),
        entrypoint: ["sh", "-c"],
        command: [
          `exec redis-server --appendonly yes --maxmemory ${maxMemoryMb}mb --maxmemory-policy noeviction --requirepass "$REDIS_PASSWORD"`,
        ],
        env: secretEnv({ REDIS_PASSWORD: this.password, REDISCLI_AUTH: this.password }),
        healthcheck: redisCheck(),
        volumes: [{ volumeName: volume.name, containerPath: "/data" }],
      },
      { parent: this },
    );
    this.registerOutputs({ host: this.host, port: this.port, url: this.url });
  }
}
