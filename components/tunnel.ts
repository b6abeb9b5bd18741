import * as cloudflare from "@pulumi/cloudflare";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { containerOptions, secretEnv, serviceContainerArgs } from "../lib/containers";
import { PlatformContext } from "../lib/context";
import { ingressRules, TenantRoute, tunnelToken } from "../lib/edge";
import { cloudflaredCheck } from "../lib/healthchecks";
import { dockerName } from "../lib/naming";

/** Where cloudflared serves metrics and `/ready`: inside its container only. */
const METRICS_ADDRESS = "127.0.0.1:20241";

/** A tenant route together with what must exist before the hostname goes public. */
export interface TunnelRoute extends TenantRoute<pulumi.Input<string>> {
  /** The Access applications guarding the hostname; its DNS record and rules wait for them. */
  guardedBy: pulumi.Resource[];
}

export interface TunnelArgs {
  /** The stack this tunnel serves; names the tunnel `platform-<stack>`. */
  context: PlatformContext;
  /** The Cloudflare account that owns the tunnel and the Zero Trust organisation. */
  accountId: string;
  /** The zone (of `platform:domain`) that holds the tenants' DNS records. */
  zoneId: string;
  /** Every tenant's hostname and services; one DNS record and three ingress rules each. */
  routes: TunnelRoute[];
  /** Zero Trust team name: when set, cloudflared itself checks each tenant's Access token. Default: unset (Access at the edge only). */
  teamName?: string;
  /** Image id of cloudflared, from a pulled `RemoteImage`. */
  image: pulumi.Input<string>;
  /** Memory limit of the connector container in MB. */
  memoryMb: number;
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

  constructor(name: string, args: TunnelArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:edge:Tunnel", name, {}, opts);
    if (args.routes.length === 0) throw new Error(`Tunnel ${name}: no tenant routes to serve`);
    const unguarded = args.routes.filter((route) => route.guardedBy.length === 0);
    if (unguarded.length > 0) {
      throw new Error(
        `Tunnel ${name}: ${unguarded.map((r) => r.hostname).join(", ")} would be public without Access in front`,
      );
    }
    const ingresses = ingressRules(args.routes, args.teamName);
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
      { accountId, tunnelId: tunnel.id, source: "cloudflare", config: { ingresses } },
      // Routing a hostname before Access guards it would open the tenant, if only for a moment.
      { parent: this, dependsOn: args.routes.flatMap((route) => route.guardedBy) },
    );
    for (const route of args.routes) {
      new cloudflare.DnsRecord(
        `${name}-dns-${route.tenantId}`,
        {
          zoneId: args.zoneId,
          name: route.hostname,
          type: "CNAME",
          content: this.cname,
          proxied: true,
          ttl: 1,
          comment: `${context.stack}: tenant ${route.tenantId} (managed by Pulumi)`,
        },
        { parent: this, dependsOn: route.guardedBy },
      );
    }

    const token = pulumi
      .all([tunnel.id, secret.base64])
      .apply(([tunnelId, tunnelSecret]) => tunnelToken(accountId, tunnelId, tunnelSecret));
    this.connector = new docker.Container(
      `${name}-connector`,
      serviceContainerArgs({
        name: dockerName(context.stack, "cloudflared"),
        image: args.image,
        owner: { environment: context.environment, service: "cloudflared" },
        network: context.network,
        aliases: ["cloudflared"],
        memoryMb: args.memoryMb,
        command: ["tunnel", "--no-autoupdate", "--metrics", METRICS_ADDRESS, "run"],
        env: secretEnv({ TUNNEL_TOKEN: token }),
        healthcheck: cloudflaredCheck(METRICS_ADDRESS),
      }),
      // A remotely managed connector fetches its routes when it connects: they must exist by then.
      { parent: this, ...containerOptions, dependsOn: [this.config] },
    );
    this.registerOutputs({ tunnelId: this.tunnelId, cname: this.cname });
  }
}
