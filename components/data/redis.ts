import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { SERVICE_PORTS } from "../runtime/ports";
import { HealthCheck, healthCheck } from "../runtime/healthchecks";
import { redisHealthCommand, redisServerScript } from "./redisServer";
import { secretOrGenerated, SharedServiceArgs } from "../runtime/context";
import { dataVolume, secretEnv, serviceContainer, sharedServiceSpec } from "../runtime/docker";

const REDIS_ALIAS = "redis";
const REDIS_PORT = SERVICE_PORTS.redis;

/**
 * `redis-cli` (on its default port, REDIS_PORT) reads the password from REDISCLI_AUTH; a NOAUTH
 * reply must not count as healthy.
 */
function redisCheck(): HealthCheck {
  return healthCheck(["CMD-SHELL", redisHealthCommand()], 10);
}

/** Image: Redis 7; Redis's own `maxmemory` is three quarters of `memoryMb`. Password: the `default` user's. */
export type RedisArgs = SharedServiceArgs;

/**
 * Redis 7 with append-only persistence on a named volume, and its users in an aclfile beside the
 * data (see components/data/redisServer.ts): the `default` user is the platform's, behind its password; each
 * tenant gets its own user (components/tenant/redisUser.ts), so adding one changes nothing here.
 */
export class Redis extends pulumi.ComponentResource {
  public readonly host = REDIS_ALIAS;
  public readonly port = REDIS_PORT;
  /** The `default` user's password (secret), for the platform's jobs only. */
  public readonly password: pulumi.Output<string>;
  public readonly container: docker.Container;

  constructor(name: string, args: RedisArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:data:Redis", name, {}, opts);
    const { context } = args;

    this.password = secretOrGenerated(`${name}-password`, args.password, this);
    const volume = dataVolume(name, context, "redis", this);
    // The password reaches redis-server through the environment, not the command line, which
    // would put it in plain text in state and previews.
    this.container = serviceContainer(
      name,
      {
        ...sharedServiceSpec("redis", this.host, args),
        entrypoint: ["sh", "-c"],
        command: [redisServerScript({ memoryMb: args.memoryMb })],
        env: secretEnv({ REDIS_PASSWORD: this.password, REDISCLI_AUTH: this.password }),
        healthcheck: redisCheck(),
        volumes: [{ volumeName: volume.name, containerPath: "/data" }],
      },
      { parent: this },
    );
    this.registerOutputs({ host: this.host, port: this.port });
  }
}
