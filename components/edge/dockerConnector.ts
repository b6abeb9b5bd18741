import * as pulumi from "@pulumi/pulumi";
import { routesAppliedScript } from "../../lib/edge";
import { HealthCheck, healthCheck } from "../../lib/healthchecks";
import { dockerName } from "../../lib/naming";
import { PlatformContext } from "../shared/context";
import { blueGreenContainer, jobSucceeded, scriptJob, secretEnv } from "../shared/docker";
import { RunConnector } from "./tunnel";

/** Where cloudflared serves metrics and `/ready`: inside its container only. */
const METRICS_ADDRESS = "127.0.0.1:20241";

/**
 * The cloudflared image has no shell (distroless): its own `tunnel ready` asks the metrics
 * server's `/ready`, which answers 200 once at least one connection to Cloudflare's edge is up
 * and 503 before. `--metrics` belongs to `tunnel`, before `ready`, which has no flags of its own
 * (cloudflare/cloudflared 2025.10.0: cmd/cloudflared/tunnel/subcommands.go, metrics/readiness.go).
 */
function cloudflaredCheck(): HealthCheck {
  return healthCheck(["CMD", "cloudflared", "tunnel", "--metrics", METRICS_ADDRESS, "ready"], 20);
}

/**
 * The Docker runtime's connector: cloudflared on the platform network, which reaches tenant
 * containers by their network aliases, and a check that it runs this update's routes.
 */
export function dockerConnector(args: {
  /** The stack's context: the connector is on its platform network. */
  context: PlatformContext;
  /** Image id of cloudflared, from a pulled `RemoteImage`. */
  image: pulumi.Input<string>;
  /** Memory limit of the connector container in MB. Required: its default is config's. */
  memoryMb: number;
  /** What the routes check runs on: an image with busybox (the relays' HAProxy) and its memory limit. */
  routesCheck: { image: pulumi.Input<string>; memoryMb: number };
}): RunConnector {
  const { context } = args;
  return ({ name, token, config, services, parent }) => {
    // Blue/green: several connectors may run one tunnel at once (cloudflare/cloudflared
    // CHANGES.md 2021.5.0), so a new connector joins before the old one leaves. On SIGTERM
    // cloudflared stops taking requests and finishes those in flight for `--grace-period`
    // (30 s by default, cmd/cloudflared/tunnel/cmd.go); the provider waits a little longer.
    const connector = blueGreenContainer(
      `${name}-connector`,
      {
        name: dockerName(context.stack, "cloudflared"),
        image: args.image,
        owner: { environment: context.environment, service: "cloudflared" },
        network: context.network,
        aliases: ["cloudflared"],
        memoryMb: args.memoryMb,
        command: ["tunnel", "--no-autoupdate", "--metrics", METRICS_ADDRESS, "run"],
        env: secretEnv({ TUNNEL_TOKEN: token }),
        healthcheck: cloudflaredCheck(),
        stopGraceSeconds: 40,
      },
      { key: context.releaseKey },
      // A remotely managed connector fetches its routes when it connects: they must exist by then.
      { parent, dependsOn: [config] },
    ).container;

    // The API returns before the edge has pushed the document to the connector; the connector's
    // metrics server, on its own loopback, serves the document it runs with.
    const check = scriptJob(
      `${name}-routes-check`,
      {
        name: dockerName(context.stack, "tunnel-check"),
        image: args.routesCheck.image,
        owner: { environment: context.environment, service: "tunnel-check" },
        network: context.network,
        namespaceOf: connector.id,
        memoryMb: args.routesCheck.memoryMb,
        script: services.apply((list) =>
          routesAppliedScript(`http://${METRICS_ADDRESS}/config`, list),
        ),
      },
      { parent, dependsOn: [config, connector] },
    );
    return {
      workload: connector,
      routesApplied: jobSucceeded(check, "The check that cloudflared runs the new routes"),
    };
  };
}
