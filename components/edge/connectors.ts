/**
 * The tunnel's connector on each runtime, which `Tunnel` runs through `RunConnector`: cloudflared
 * beside the tenants it routes to, and what says it runs this update's routes.
 */
import * as pulumi from "@pulumi/pulumi";
import { APP_PORTS } from "../app/contract";
import { PlatformContext, RunConnector } from "../runtime/context";
import {
  blueGreenContainer,
  jobSucceeded,
  scriptJob,
  secretEnv,
  stackContainerSpec,
} from "../runtime/docker";
import { Environment } from "../runtime/environments";
import { HealthCheck, healthCheck } from "../runtime/healthchecks";
import {
  CONNECTOR_SERVICE,
  edgePolicies,
  httpProbe,
  kubeNamespace,
  namespaceLabels,
} from "../runtime/kubeSpecs";
import {
  deployment,
  envSecret,
  disruptionBudget,
  namespace,
  networkPolicies,
} from "../runtime/kubernetes";
import { METRICS_PORTS } from "../monitoring/prometheus";
import { routesAppliedScript } from "./ingress";

/** Where cloudflared serves metrics and `/ready`: inside its container only, unless scraped. */
const CLOUDFLARED_METRICS_ADDRESS = `127.0.0.1:${METRICS_PORTS.cloudflared}`;

/**
 * The cloudflared image has no shell (distroless): its own `tunnel ready` asks the metrics
 * server's `/ready`, which answers 200 once at least one connection to Cloudflare's edge is up
 * and 503 before. `--metrics` belongs to `tunnel`, before `ready`, which has no flags of its own
 * (cloudflare/cloudflared 2025.10.0: cmd/cloudflared/tunnel/subcommands.go, metrics/readiness.go).
 */
function cloudflaredCheck(): HealthCheck {
  return healthCheck(
    ["CMD", "cloudflared", "tunnel", "--metrics", CLOUDFLARED_METRICS_ADDRESS, "ready"],
    20,
  );
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
  /**
   * Serve metrics on the data network too, on the same port, for Prometheus (its `/config` shows
   * the ingress document, which holds no secret). @default false: on its own loopback only
   */
  scraped?: boolean;
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
        ...stackContainerSpec(context, { ...args, name: "cloudflared" }),
        aliases: ["cloudflared"],
        command: [
          "tunnel",
          "--no-autoupdate",
          "--metrics",
          args.scraped ? `0.0.0.0:${METRICS_PORTS.cloudflared}` : CLOUDFLARED_METRICS_ADDRESS,
          "run",
        ],
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
        ...stackContainerSpec(context, { ...args.routesCheck, name: "tunnel-check" }),
        namespaceOf: connector.id,
        script: services.apply((list) =>
          routesAppliedScript(`http://${CLOUDFLARED_METRICS_ADDRESS}/config`, list),
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

/**
 * Where cloudflared serves metrics and `/ready` in its pod: on every interface, since the kubelet
 * probes the pod's IP. `/ready` answers 200 once a connection to Cloudflare's edge is up, 503
 * before (cloudflare/cloudflared 2025.10.0, metrics/readiness.go); this is the form of
 * Cloudflare's own Kubernetes example (cloudflare-docs, deployment-guides/kubernetes.mdx).
 */
const CLOUDFLARED_METRICS_PORT = 2000;

/**
 * The Kubernetes runtime's connector: cloudflared as a Deployment of at least two pods in the
 * stack's edge namespace, which may reach only the tenants' serving ports, the cluster's DNS and
 * the internet. It rolls one pod at a time and never below its replicas (several connectors may
 * run one tunnel at once: cloudflare/cloudflared CHANGES.md 2021.5.0). Its routes name each
 * tenant's Services, whose addresses do not change from one release to the next, so unlike on
 * Docker no check of the routes it runs is needed: `routesApplied` resolves once it has rolled out.
 */
export function kubeConnector(args: {
  /** The stack's name, which prefixes the edge namespace. */
  stack: string;
  environment: Environment;
  /** The cloudflared image reference from config. */
  image: string;
  /** Memory limit of each pod in MB. Required: its default is config's. */
  memoryMb: number;
  /** Pods, each connected to Cloudflare's edge on its own. */
  replicas: number;
  /** Public ranges of the cluster itself, which the connector's internet rule excludes. @default none */
  blockedCidrs?: readonly string[];
  /** The stack's tenant namespaces, whose serving ports the connector reaches. */
  tenantNamespaces: readonly string[];
}): RunConnector {
  return ({ name, token, config, parent }) => {
    const edge = namespace(
      `${name}-ns`,
      {
        name: kubeNamespace(args.stack, "edge"),
        labels: namespaceLabels(args.stack, args.environment, "edge"),
      },
      { parent },
    );
    const policies = networkPolicies(
      `${name}-edge`,
      edge,
      edgePolicies(args.tenantNamespaces, Object.values(APP_PORTS), args.blockedCidrs),
      { parent },
    );
    const owner = { service: CONNECTOR_SERVICE };
    const secret = envSecret(
      `${name}-token`,
      { namespace: edge, owner, values: { TUNNEL_TOKEN: token } },
      { parent },
    );
    const workload = deployment(
      `${name}-connector`,
      {
        namespace: edge,
        owner,
        replicas: args.replicas,
        serving: true,
        container: {
          image: args.image,
          command: ["cloudflared"],
          args: [
            "tunnel",
            "--no-autoupdate",
            "--metrics",
            `0.0.0.0:${CLOUDFLARED_METRICS_PORT}`,
            "run",
          ],
          secret,
          memoryMb: args.memoryMb,
          ports: [{ name: "metrics", port: CLOUDFLARED_METRICS_PORT }],
          readinessProbe: httpProbe(CLOUDFLARED_METRICS_PORT, "/ready"),
        },
        // On SIGTERM cloudflared finishes requests in flight for `--grace-period` (30 s by
        // default, cmd/cloudflared/tunnel/cmd.go); the pod gets a little longer.
        terminationGraceSeconds: 40,
        spread: true,
      },
      // A remotely managed connector fetches its routes when it connects: they must exist by then.
      { parent, dependsOn: [config, ...policies] },
    );
    // A node drain takes one connector at a time.
    disruptionBudget(`${name}-connector-budget`, edge, CONNECTOR_SERVICE, { parent });
    return { workload, routesApplied: workload.metadata.apply(() => []) };
  };
}
