import assert from "node:assert/strict";
import { test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { tenantAccessScript } from "../lib/clickhouse";
import {
  assertJobSucceeded,
  JobFailedError,
  secretEnv,
  serviceContainerArgs,
} from "../components/shared/docker";
import { httpGetCheck } from "../lib/healthchecks";
import { promiseOf } from "./harness";

test("secretEnv is a Pulumi secret with a stable, sorted KEY=value list", async () => {
  const env = secretEnv({ ZED: "1", ALPHA: pulumi.output("a=b") });
  assert.equal(await pulumi.isSecret(env), true);
  assert.deepEqual(await promiseOf(env), ["ALPHA=a=b", "ZED=1"]);
});

test("published ports are bound to loopback whatever the caller asks", () => {
  const args = serviceContainerArgs({
    name: "s-x",
    image: "img",
    owner: { environment: "dev", service: "api" },
    network: "n",
    aliases: ["x"],
    memoryMb: 128,
    healthcheck: httpGetCheck(1, "/"),
    ports: [{ internal: 3000, external: 3000 }],
  });
  assert.deepEqual(args.ports, [{ internal: 3000, external: 3000, ip: "127.0.0.1" }]);
});

test("a job fails with its exit code and output unless it exited 0", () => {
  assert.doesNotThrow(() => assertJobSucceeded("job", 0, ""));
  assert.throws(
    () => assertJobSucceeded("Bootstrap of acme", 2, "boom\n"),
    (e: JobFailedError) => {
      assert.equal(e.message, "Bootstrap of acme exited with code 2. Its output:\nboom");
      return true;
    },
  );
  assert.throws(() => assertJobSucceeded("job", undefined, ""), /code -1[\s\S]*\(no output\)/);
});

test("the ClickHouse access script refuses identifiers that could inject SQL", () => {
  assert.throws(
    () => tenantAccessScript({ server: "clickhouse", database: "x; DROP DATABASE y", user: "u" }),
    /database name .* is not a plain identifier/,
  );
  const script = tenantAccessScript({
    server: "clickhouse",
    database: "dittofeed_a",
    user: "dittofeed_a",
  });
  assert.match(script, /--host clickhouse /);
  assert.match(script, /GRANT ALL ON dittofeed_a\.\* TO dittofeed_a/);
});
