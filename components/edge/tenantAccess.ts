import * as cloudflare from "@pulumi/cloudflare";
import * as pulumi from "@pulumi/pulumi";
import { accessIncludes, PUBLIC_PATHS } from "./ingress";

export interface TenantAccessArgs {
  /** The Cloudflare account that holds the Zero Trust organisation. */
  accountId: string;
  /** The stack, so that two stacks' applications and policies are told apart in the dashboard. */
  stack: string;
  /** The tenant the application guards; it names the application and its policies. */
  tenantId: string;
  /** The tenant's full public hostname, e.g. `acme.example.com`. */
  hostname: string;
  /** People allowed in, by email; with `emailDomains`, at least one entry. @default none */
  emails?: string[];
  /** Email domains whose every address is allowed in. @default none */
  emailDomains?: string[];
  /** How long a sign-in lasts. @default "24h" */
  sessionDuration?: string;
}

/** A self-hosted application for its destinations (`<host>[/path]`), governed by exactly one policy. */
function accessApplication(
  parent: pulumi.Resource,
  resourceName: string,
  args: TenantAccessArgs,
  app: {
    name: string;
    destinations: string[];
    policy: cloudflare.ZeroTrustAccessPolicy;
    appLauncherVisible: boolean;
  },
): cloudflare.ZeroTrustAccessApplication {
  return new cloudflare.ZeroTrustAccessApplication(
    resourceName,
    {
      accountId: args.accountId,
      name: app.name,
      type: "self_hosted",
      // With several destinations the API derives `domain` from them; setting it too would
      // contradict them (terraform-provider-cloudflare v5, zero_trust_access_application
      // plan_modifiers.go: domain, self_hosted_domains and destinations change together).
      ...(app.destinations.length === 1 ? { domain: app.destinations[0] } : {}),
      destinations: app.destinations.map((uri) => ({ type: "public", uri })),
      policies: [{ id: app.policy.id, precedence: 1 }],
      appLauncherVisible: app.appLauncherVisible,
      sessionDuration: args.sessionDuration ?? "24h",
      httpOnlyCookieAttribute: true,
      sameSiteCookieAttribute: "lax",
    },
    { parent },
  );
}

/**
 * Cloudflare Access in front of one tenant: the whole hostname admits only the tenant's people,
 * except its public paths (`PUBLIC_PATHS`: event ingestion, the unsubscribe page and its static
 * files), which one bypass application covers: the account's Access application limit is shared
 * by every stack. Cloudflare applies the most specific application's policies to a path, so the
 * bypass does not leak to the rest of the host.
 */
export class TenantAccess extends pulumi.ComponentResource {
  /** The host-wide application's audience tag, which cloudflared checks on tenant requests. */
  public readonly aud: pulumi.Output<string>;
  /** Both applications: the tenant's hostname must not be routed before they exist. */
  public readonly applications: cloudflare.ZeroTrustAccessApplication[];

  constructor(name: string, args: TenantAccessArgs, opts?: pulumi.ComponentResourceOptions) {
    super("platform:edge:TenantAccess", name, {}, opts);
    // Config refuses an exposed tenant that lists nobody (stacks/config/rules.ts).
    const includes = accessIncludes(args.emails ?? [], args.emailDomains ?? []);
    const label = `${args.stack} ${args.tenantId}`;

    const members = new cloudflare.ZeroTrustAccessPolicy(
      `${name}-members`,
      { accountId: args.accountId, name: `${label} members`, decision: "allow", includes },
      { parent: this },
    );
    const application = accessApplication(this, `${name}-app`, args, {
      name: label,
      destinations: [args.hostname],
      policy: members,
      appLauncherVisible: true,
    });

    const everyone = new cloudflare.ZeroTrustAccessPolicy(
      `${name}-public`,
      {
        accountId: args.accountId,
        name: `${label} public paths`,
        decision: "bypass",
        includes: [{ everyone: {} }],
      },
      { parent: this },
    );
    const publicApplication = accessApplication(this, `${name}-public-app`, args, {
      name: `${label} public paths`,
      destinations: PUBLIC_PATHS.map((p) => `${args.hostname}${p.prefix}`),
      policy: everyone,
      appLauncherVisible: false,
    });

    this.applications = [application, publicApplication];
    this.aud = application.aud;
    this.registerOutputs({ aud: this.aud });
  }
}
