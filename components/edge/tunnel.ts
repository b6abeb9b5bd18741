import * as cloudflare from "@pulumi/cloudflare";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { IngressRule, routesAppliedScript, tunnelToken } from "../../lib/edge";
import { HealthCheck, healthCheck } from "../../lib/healthchecks";
import { dockerName } from "../../lib/naming";
import { PlatformContext, waitFor } from "../shared/context";
import { blueGreenContainer, jobSucceeded, scriptJob, secretEnv } from "../shared/docker";

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

/** A public hostname the tunnel routes, with what must exist before it goes public. */
export interface TunnelHost {
  tenantId: string;
  /** The full hostname, e.g. `acme.example.com`. */
  hostname: string;
  /** The Access applications guarding the hostname; its DNS record and the document wait for them. */
  guardedBy: pulumi.Resource[];
  /**
   * The containers the document routes the hostname to, and the gates (see `jobSucceeded`) that
   * prove they serve: the document waits for both, so it never names a release before it serves.
   */
  servedBy: { containers: pulumi.Resource[]; gates: pulumi.Output<pulumi.Resource[]>[] };
}

export interface TunnelArgs {
  /** The stack this tunnel serves; names the tunnel `platform-<stack>`. */
  context: PlatformContext;
  /** The Cloudflare account that owns the tunnel and the Zero Trust organisation. */
  accountId: string;
  /** The zone (of `platform:domain`) that holds the tenants' DNS records. */
  zoneId: string;
  /** The stack's whole ingress document, as `ingressRules` builds and checks it. */
  ingress: IngressRule<pulumi.Input<string>, pulumi.Input<string>>[];
  /** Every hostname the document routes: one DNS record each. */
  hosts: TunnelHost[];
  /** Image id of cloudflared, from a pulled `RemoteImage`. */
  image: pulumi.Input<string>;
  /** Memory limit of the connector container in MB. Required: its default is config's. */
  memoryMb: number;
  /** What the routes check runs on: an image with busybox (the relays' HAProxy) and its memory limit. */
  routesCheck: { image: pulumi.Input<string>; memoryMb: number };
}

/**
 * The stack's way in from the internet: a remotely managed Cloudflare tunnel with one ingress
 * document for every tenant, a proxied CNAME per tenant hostname, and the cloudflared connector
 * on the platform network, which reaches tenant containers by their network aliases.
 */
export class Tunnel extends pulumi.ComponentResource {
  public readonly tunnelId: pulumi.Output<string>;
  /** `<tunnel id>.cfargotunnel.com`, the target of every tenant's CNAME. */
  public readonly cname: pulumi.Output<string>;
  public readonly config: cloudflare.ZeroTrustTunnelCloudflaredConfig;
  public readonly connector: docker.Container;
  /**
   * Resolves once the connector routes to every service of this update's ingress document; fails
   * otherwise. Until it resolves the update is not over, so the engine deletes no release that
   * the connector might still route to (replaced resources are deleted after the program ends).
   */
  public readonly routesApplied: pulumi.Output<pulumi.Resource[]>;

  constructor(name: string, args: TunnelArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:edge:Tunnel", name, {}, opts);
    if (args.hosts.length === 0) throw new Error(`Tunnel ${name}: no tenant hostnames to serve`);
    const unguarded = args.hosts.filter((host) => host.guardedBy.length === 0);
    if (unguarded.length > 0) {
      throw new Error(
        `Tunnel ${name}: ${unguarded.map((h) => h.hostname).join(", ")} would be public without Access in front`,
      );
    }
    const routed = new Set(args.ingress.flatMap((rule) => rule.hostname ?? []));
    const hosted = new Set(args.hosts.map((host) => host.hostname));
    const mismatched = [...routed, ...hosted].filter((h) => !routed.has(h) || !hosted.has(h));
    if (mismatched.length > 0) {
      throw new Error(
        `Tunnel ${name}: ${[...new Set(mismatched)].join(", ")} must be both routed by the ingress document and given a DNS record behind Access`,
      );
    }
    const { context, accountId } = args;

    // Generating the secret here lets the connector token be derived from it, without reading
    // the token back from the API (getZeroTrustTunnelCloudflaredToken) on every preview.
    const secret = new random.RandomBytes(`${name}-secret`, { length: 32 }, { parent: this });
    const tunnel = new cloudflare.ZeroTrustTunnelCloudflared(
      name,
      {
        accountId,
        name: `${pulumi.getProject()}-${context.stack}`,
        configSrc: "cloudflare",
        tunnelSecret: pulumi.secret(secret.base64),
      },
      { parent: this },
    );
    this.tunnelId = tunnel.id;
    this.cname = pulumi.interpolate`${tunnel.id}.cfargotunnel.com`;

    this.config = new cloudflare.ZeroTrustTunnelCloudflaredConfig(
      `${name}-config`,
      { accountId, tunnelId: tunnel.id, source: "cloudflare", config: { ingresses: args.ingress } },
      {
        parent: this,
        dependsOn: waitFor(
          // Routing a hostname before Access guards it would open the tenant, if only for a
          // moment; routing it to a release before that release serves would take it down.
          args.hosts.flatMap((host) => [...host.guardedBy, ...host.servedBy.containers]),
          args.hosts.flatMap((host) => host.servedBy.gates),
        ),
      },
    );
    for (const host of args.hosts) {
      new cloudflare.DnsRecord(
        `${name}-dns-${host.tenantId}`,
        {
          zoneId: args.zoneId,
          name: host.hostname,
          type: "CNAME",
          content: this.cname,
          proxied: true,
          ttl: 1,
          comment: `${context.stack}: tenant ${host.tenantId} (managed by Pulumi)`,
        },
        { parent: this, dependsOn: host.guardedBy },
      );
    }

    const token = pulumi
      .all([tunnel.id, secret.base64])
      .apply(([tunnelId, tunnelSecret]) => tunnelToken(accountId, tunnelId, tunnelSecret));
    // Blue/green: several connectors may run one tunnel at once (cloudflare/cloudflared
    // CHANGES.md 2021.5.0), so a new connector joins before the old one leaves. On SIGTERM
    // cloudflared stops taking requests and finishes those in flight for `--grace-period`
    // (30 s by default, cmd/cloudflared/tunnel/cmd.go); the provider waits a little longer.
    this.connector = blueGreenContainer(
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
      { parent: this, dependsOn: [this.config] },
    ).container;

    // The API returns before the edge has pushed the document to the connector; the connector's
    // metrics server, on its own loopback, serves the document it runs with.
    const services = pulumi
      .all(args.ingress.map((rule) => rule.service))
      .apply((all) => all.filter((service) => service.startsWith("http://")));
    const check = scriptJob(
      `${name}-routes-check`,
      {
        name: dockerName(context.stack, "tunnel-check"),
        image: args.routesCheck.image,
        owner: { environment: context.environment, service: "tunnel-check" },
        network: context.network,
        namespaceOf: this.connector.id,
        memoryMb: args.routesCheck.memoryMb,
        script: services.apply((list) =>
          routesAppliedScript(`http://${METRICS_ADDRESS}/config`, list),
        ),
      },
      { parent: this, dependsOn: [this.config, this.connector] },
    );
    this.routesApplied = jobSucceeded(check, "The check that cloudflared runs the new routes");
    this.registerOutputs({ tunnelId: this.tunnelId, cname: this.cname });
  }
}
