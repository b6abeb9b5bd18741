import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { IngressRule, tunnelToken } from "./ingress";
import { RunConnector, waitFor } from "../runtime/context";

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
  /** The stack this tunnel serves; names the tunnel `<project>-<stack>`. */
  stack: string;
  /** The Cloudflare account that owns the tunnel and the Zero Trust organisation. */
  accountId: string;
  /** The zone (of `platform:domain`) that holds the tenants' DNS records. */
  zoneId: string;
  /** The stack's whole ingress document, as `ingressRules` builds and checks it. */
  ingress: IngressRule<pulumi.Input<string>, pulumi.Input<string>>[];
  /** Every hostname the document routes: one DNS record each. */
  hosts: TunnelHost[];
  /** Runs the connector. */
  connector: RunConnector;
}

/**
 * The stack's way in from the internet: a remotely managed Cloudflare tunnel with one ingress
 * document for every tenant, a proxied CNAME per tenant hostname, and the cloudflared connector,
 * which the runtime runs where it reaches the tenants' services.
 */
export class Tunnel extends pulumi.ComponentResource {
  public readonly tunnelId: pulumi.Output<string>;
  public readonly config: cloudflare.ZeroTrustTunnelCloudflaredConfig;
  /** See `Connector.routesApplied`. */
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
    const { accountId } = args;

    // Generating the secret here lets the connector token be derived from it, without reading
    // the token back from the API (getZeroTrustTunnelCloudflaredToken) on every preview.
    const secret = new random.RandomBytes(`${name}-secret`, { length: 32 }, { parent: this });
    const tunnel = new cloudflare.ZeroTrustTunnelCloudflared(
      name,
      {
        accountId,
        name: `${pulumi.getProject()}-${args.stack}`,
        configSrc: "cloudflare",
        tunnelSecret: pulumi.secret(secret.base64),
      },
      { parent: this },
    );
    this.tunnelId = tunnel.id;
    const cname = pulumi.interpolate`${tunnel.id}.cfargotunnel.com`;

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
          content: cname,
          proxied: true,
          ttl: 1,
          comment: `${args.stack}: tenant ${host.tenantId} (managed by Pulumi)`,
        },
        { parent: this, dependsOn: host.guardedBy },
      );
    }

    const token = pulumi
      .all([tunnel.id, secret.base64])
      .apply(([tunnelId, tunnelSecret]) => tunnelToken(accountId, tunnelId, tunnelSecret));
    const connector = args.connector({
      name,
      token,
      config: this.config,
      services: pulumi
        .all(args.ingress.map((rule) => rule.service))
        .apply((all) => all.filter((service) => service.startsWith("http://"))),
      parent: this,
    });
    this.routesApplied = connector.routesApplied;
    this.registerOutputs({ tunnelId: this.tunnelId, cname });
  }
}
