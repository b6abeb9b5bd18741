/**
 * The providers of a stack, configured from the namespaces operators already know (`docker:`,
 * `kubernetes:`, `cloudflare:`). This is the only place that reads provider config.
 */
import * as cloudflare from "@pulumi/cloudflare";
import * as docker from "@pulumi/docker";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { PlatformConfig } from "./config";

/** The Docker engine: `docker:host` (e.g. `ssh://deploy@host`) and `docker:sshOpts`, or local. */
export function dockerProvider(
  registries: PlatformConfig["secrets"]["registries"],
): docker.Provider {
  const standard = new pulumi.Config("docker");
  return new docker.Provider("docker", {
    host: standard.get("host"),
    sshOpts: standard.getObject<string[]>("sshOpts"),
    registryAuth: registries.map((registry) => ({
      address: registry.address,
      username: registry.username,
      password: pulumi.secret(registry.password),
    })),
  });
}

export function cloudflareProvider(): cloudflare.Provider {
  // Unset, the provider falls back to CLOUDFLARE_API_TOKEN, as pipelines set it.
  const apiToken = new pulumi.Config("cloudflare").getSecret("apiToken");
  return new cloudflare.Provider("cloudflare", { apiToken });
}

/**
 * The cluster: `kubernetes:kubeconfig` and `kubernetes:context`, or the provider's own defaults
 * (`KUBECONFIG`, then ~/.kube/config, and its current context). Production names its context:
 * whichever cluster a workstation's kubectl last pointed at must not receive production.
 */
export function kubernetesProvider(environment: string): k8s.Provider {
  const standard = new pulumi.Config("kubernetes");
  const context = standard.get("context");
  if (environment === "production" && context === undefined) {
    throw new Error(
      "kubernetes:context must be set in production (pulumi config set kubernetes:context <context>): otherwise the update goes to kubectl's current context, whichever cluster that is",
    );
  }
  return new k8s.Provider("kubernetes", { kubeconfig: standard.get("kubeconfig"), context });
}
