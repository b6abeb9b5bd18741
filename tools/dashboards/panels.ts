/**
 * Grafana dashboards as code (@grafana/grafana-foundation-sdk): one per tenant, on its own
 * series alone, and one for the platform. `npm run dashboards` writes them as JSON for a
 * Grafana the operator runs (docs/monitoring.md); each query reads the series the alert rules
 * read (components/monitoring/alerts.ts), and the suite checks every one with promtool.
 */
import {
  LegendDisplayMode,
  LegendPlacement,
  VizLegendOptionsBuilder,
} from "@grafana/grafana-foundation-sdk/common";
import { DashboardBuilder, RowBuilder } from "@grafana/grafana-foundation-sdk/dashboard";
import { DataqueryBuilder } from "@grafana/grafana-foundation-sdk/prometheus";
import { PanelBuilder } from "@grafana/grafana-foundation-sdk/timeseries";
import { HOST_FILESYSTEMS } from "../../components/monitoring/alerts";
import { FRONTS_JOB } from "../../components/monitoring/prometheus";

/** A Grafana dashboard, as the JSON its API and file provisioning take. */
export type Dashboard = ReturnType<DashboardBuilder["build"]>;

/** Which Prometheus a dashboard asks: the one provisioned with this uid. */
export const DATASOURCE = { type: "prometheus", uid: "platform-prometheus" };

interface Chart {
  title: string;
  unit: string;
  queries: { expr: string; legend: string }[];
}

/** A chart of `queries`, each a PromQL expression with its legend. */
const chart = (title: string, unit: string, ...queries: [string, string][]): Chart => ({
  title,
  unit,
  queries: queries.map(([expr, legend]) => ({ expr, legend })),
});

function panel({ title, unit, queries }: Chart) {
  const built = new PanelBuilder()
    .title(title)
    .unit(unit)
    .datasource(DATASOURCE)
    .height(8)
    .span(12)
    .legend(
      new VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(LegendDisplayMode.List)
        .placement(LegendPlacement.Bottom),
    );
  for (const { expr, legend } of queries) {
    built.withTarget(new DataqueryBuilder().expr(expr).legendFormat(legend).datasource(DATASOURCE));
  }
  return built;
}

function dashboard(uid: string, title: string, rows: [string, Chart[]][]): Dashboard {
  const built = new DashboardBuilder(title)
    .uid(uid)
    .tags(["platform", "generated"])
    .refresh("1m")
    .time({ from: "now-6h", to: "now" })
    .readonly();
  for (const [row, charts] of rows) {
    built.withRow(new RowBuilder(row));
    for (const chart of charts) built.withPanel(panel(chart));
  }
  return built.build();
}

/** One tenant's dashboard: its front's traffic, errors and latency, and its workers' polls. */
export function tenantDashboard(tenant: string, namespace: string): Dashboard {
  const front = `job="${FRONTS_JOB}",tenant="${tenant}"`;
  const rate = (series: string) => `sum by (proxy) (rate(${series}[$__rate_interval]))`;
  const responses = `haproxy_backend_http_responses_total{${front}`;
  return dashboard(`platform-tenant-${tenant}`, `Tenant ${tenant}`, [
    [
      "Requests",
      [
        chart("Requests per second", "reqps", [
          rate(`haproxy_backend_http_requests_total{${front}}`),
          "{{proxy}}",
        ]),
        chart("Share of 5xx responses", "percentunit", [
          `${rate(`${responses},code="5xx"}`)} / ${rate(`${responses}}`)}`,
          "{{proxy}}",
        ]),
        chart("Average response time (last 1024 requests)", "s", [
          `max by (proxy) (haproxy_backend_response_time_average_seconds{${front}})`,
          "{{proxy}}",
        ]),
        chart("Containers serving", "short", [
          `max by (proxy) (haproxy_backend_active_servers{${front}})`,
          "{{proxy}}",
        ]),
      ],
    ],
    [
      "Workers",
      [
        chart("Polls of its task queues per second", "short", [
          `sum by (__name__, taskqueue) (rate({__name__=~"poll_success|poll_timeouts",job="temporal",namespace="${namespace}"}[$__rate_interval]))`,
          "{{__name__}} {{taskqueue}}",
        ]),
      ],
    ],
  ]);
}

/** The platform's dashboard: what is up, the host, the stores, the tunnel, backups, alerts. */
export function platformDashboard(): Dashboard {
  return dashboard("platform-overview", "Platform", [
    [
      "Services",
      [
        chart("Targets up", "short", ["sum by (job) (up)", "{{job}}"]),
        chart("Alerts firing", "short", [
          'count by (alertname) (ALERTS{alertstate="firing"})',
          "{{alertname}}",
        ]),
        chart("Tunnel connections to Cloudflare", "short", [
          "sum(cloudflared_tunnel_ha_connections)",
          "connections",
        ]),
        chart("Age of the newest backup", "s", [
          "time() - platform_backup_last_success_timestamp_seconds",
          "age",
        ]),
      ],
    ],
    [
      "Host",
      [
        chart("Memory available", "percentunit", [
          "node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
          "available",
        ]),
        chart(
          "Disk available",
          "bytes",
          [`node_filesystem_avail_bytes{${HOST_FILESYSTEMS}}`, "{{mountpoint}}"],
          ["ClickHouseAsyncMetrics_FilesystemMainPathAvailableBytes", "ClickHouse"],
        ),
      ],
    ],
  ]);
}
