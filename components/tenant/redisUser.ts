import * as pulumi from "@pulumi/pulumi";
import { redisUserOf, RedisUserJobEnv, redisUserScript } from "../data/redisServer";
import { redisUrl } from "../runtime/urls";
import { RunScript, secretOrGenerated } from "../runtime/context";

/** A Redis server with ACLs, whoever runs it. */
export interface RedisServer {
  host: string;
  port: number;
  /** The `default` user's password, which the job adds users with. */
  password: pulumi.Input<string>;
}

export interface RedisUserArgs {
  /** Runs the user job, which holds the `default` user's password: where admin jobs run (the data network, the data namespace). */
  run: RunScript;
  tenantId: string;
  /** The shared Redis; the image's `redis-cli` adds the user. */
  redis: RedisServer;
  /** Image id of the Redis image. */
  image: pulumi.Input<string>;
  /** What must run first: Redis, and the tenant's gateway to it. */
  dependsOn: pulumi.Resource[];
}

/**
 * A tenant's own Redis user, `<tenant>`, confined to keys and channels under `<tenant>:` (see
 * components/data/redisServer.ts), set and saved to Redis's aclfile by a one-shot job, so that adding a tenant
 * leaves the Redis container as it was. Dittofeed v0.23.0 does not use Redis; the user is for
 * what later releases or extensions put there, and no tenant ever holds the `default` password.
 */
export class RedisUser extends pulumi.ComponentResource {
  /** `redis://<tenant>:<password>@redis:6379`, percent-encoded; secret. */
  public readonly url: pulumi.Output<string>;
  /** Resolves once the user is set and saved. */
  public readonly succeeded: pulumi.Output<pulumi.Resource[]>;

  constructor(name: string, args: RedisUserArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:tenant:RedisUser", name, {}, opts);
    const { tenantId, redis } = args;
    const user = redisUserOf(tenantId);
    const password = secretOrGenerated(`${name}-password`, undefined, this);
    this.url = pulumi.secret(
      password.apply((value) =>
        redisUrl({ user, password: value, host: redis.host, port: redis.port }),
      ),
    );
    const env: Record<keyof RedisUserJobEnv, pulumi.Input<string>> = {
      REDISCLI_AUTH: redis.password,
      REDIS_USER: user,
      TENANT_PASSWORD: password,
    };
    const run = args.run(
      `${name}-job`,
      {
        job: "redis-user",
        image: args.image,
        memoryMb: 64,
        script: redisUserScript({ host: redis.host, port: redis.port }),
        env,
        description: `Redis user job of tenant ${tenantId}`,
        secrets: [redis.password, password],
      },
      { parent: this, dependsOn: args.dependsOn },
    );
    this.succeeded = run.succeeded;
    this.registerOutputs({ url: this.url });
  }
}
