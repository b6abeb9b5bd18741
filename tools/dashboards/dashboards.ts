/** A stack's Grafana dashboards (tools/dashboards/panels.ts), by file name: the platform's and each serving tenant's. */
import { parsePlatformConfig, rawPlatformConfig } from "../../stacks/config";
import { stackFilePath } from "../../stacks/config/stackFile";
import { Dashboard, platformDashboard, tenantDashboard } from "./panels";
import { tenantNamespace } from "../../components/data/temporalServer";
import { PROJECT_ROOT, stackFileConfig } from "../engine/runner";

export function stackDashboards(stack: string, root = PROJECT_ROOT): Record<string, Dashboard> {
  const config = parsePlatformConfig(
    rawPlatformConfig(stackFileConfig(stackFilePath(root, stack)).config),
  );
  return {
    "platform.json": platformDashboard(),
    ...Object.fromEntries(
      config.tenants
        .filter((tenant) => !tenant.offboarded)
        .map((tenant) => [
          `tenant-${tenant.id}.json`,
          tenantDashboard(tenant.id, tenantNamespace(tenant.id, tenant.namespaceGeneration)),
        ]),
    ),
  };
}
