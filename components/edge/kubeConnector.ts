import { APP_PORTS } from "../../dittofeed/contract";
import { Environment } from "../../lib/environments";
import {
  CONNECTOR_SERVICE,
  edgePolicies,
  httpProbe,
  kubeNamespace,
  namespaceLabels,
} from "../../lib/kubernetes";
import { deployment, envSecret, namespace, networkPolicies } from "../shared/kubernetes";
import { RunConnector } from "./tunnel";

/**
 * Where cloudflared serves metrics and `/ready` in its pod: on every interface, since the kubelet
 * probes the pod's IP. `/ready` answers 200 once a connection to Cloudflare's edge is up, 503
 * before (cloudflare/cloudflared 2025.10.0, metrics/readiness.go); this is the form of
 * Cloudflare's own Kubernetes example (cloudflare-docs, deployment-guides/kubernetes.mdx).
 */
const METRICS_PORT = 2000;

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
      edgePolicies(args.stack, Object.values(APP_PORTS)),
      { parent },
    );
    const owner = { environment: args.environment, service: CONNECTOR_SERVICE };
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
          args: ["tunnel", "--no-autoupdate", "--metrics", `0.0.0.0:${METRICS_PORT}`, "run"],
          secret,
          memoryMb: args.memoryMb,
          ports: [{ name: "metrics", port: METRICS_PORT }],
          readinessProbe: httpProbe(METRICS_PORT, "/ready"),
        },
        // On SIGTERM cloudflared finishes requests in flight for `--grace-period` (30 s by
        // default, cmd/cloudflared/tunnel/cmd.go); the pod gets a little longer.
        terminationGraceSeconds: 40,
      },
      // A remotely managed connector fetches its routes when it connects: they must exist by then.
      { parent, dependsOn: [config, ...policies] },
    );
    return { workload, routesApplied: workload.metadata.apply(() => []) };
  };
}
