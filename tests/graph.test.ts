import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { parse as parsePgConnectionString } from "pg-connection-string";
import { PlatformConfig } from "../stacks/config";
import { bootstrapOnceScript } from "../components/app/bootstrap";
import { gatewayOf } from "../components/runtime/network";
import {
  namespaceScript,
  POSTGRES_SCHEMA_ROOT,
  temporalSchemaScript,
  workerCheckScript,
} from "../components/data/temporalServer";
import {
  GO_DURATION,
  byName,
  COMMITTED_STACKS,
  committedStack,
  CONTAINER,
  dependsOn,
  envOf,
  isSecret,
  labelMap,
  mockBytes,
  mockPassword,
  ofType,
  plainStrings,
  platformConfig,
  providerUrn,
  Registration,
  runProgram,
  RunResult,
  runCommitted,
} from "./harness";

const VOLUME = "docker:index/volume:Volume";
const NETWORK = "docker:index/network:Network";
const IMAGE = "docker:index/remoteImage:RemoteImage";
const ROLE = "postgresql:index/role:Role";
const DATABASE = "postgresql:index/database:Database";

/** The binary each service's health check may call: one its image really ships. */
const HEALTH_BINARY: Record<string, RegExp> = {
  postgres: /^pg_isready$/,
  redis: /^redis-cli /,
  clickhouse: /^wget /,
  temporal: /^tctl /,
  api: /^node$/,
  dashboard: /^node$/,
  worker: /^node$/,
  cloudflared: /^cloudflared$/,
  // The backup service's own script runs in bash, which the Postgres image has.
  backup: /^bash$/,
  // busybox's, in haproxy's alpine image (docker-library/haproxy 2.6/alpine/Dockerfile).
  gateway: /^wget$/,
  front: /^wget$/,
  "temporal-keys": /^wget$/,
  // busybox's, in the Prometheus project's images (prometheus/busybox).
  prometheus: /^wget$/,
  alertmanager: /^wget$/,
  "node-exporter": /^wget$/,
  // The backend the guard chose, asked whether its jump is in place.
  "egress-guard": /^\$\(cat \/tmp\/iptables\) -C DOCKER-USER -j PLATFORM-FWD-/,
};

const isJob = (r: Registration) => r.type === CONTAINER && r.inputs.attach === true;
const isService = (r: Registration) => r.type === CONTAINER && r.inputs.attach !== true;
/** A tenant's jobs that hold an admin's or the backup's credentials, by logical name. */
const ADMIN_JOBS =
  /-(database-owner-check|database-backup-grants|redis-job|namespace-job|migration-clickhouse|migration-snapshot|offboarding-.+)$/;

for (const stack of COMMITTED_STACKS) {
  describe(`committed stack ${stack}`, () => {
    let run: RunResult;
    let config: PlatformConfig;
    before(async () => {
      ({ run, config } = await runCommitted(stack));
    });
    /** The image whose tctl tenants' jobs run: admin-tools beside a server image, else auto-setup. */
    const toolsImage = () =>
      byName(run, stack === "dev" ? "temporal" : "temporal-schema").inputs.image;

    test("no container on a tenant's network holds an admin's or the backup's password", () => {
      const envValue = (name: string, key: string) => envOf(byName(run, name)).env[key];
      const secrets: Record<string, string | undefined> = {
        "the Postgres superuser's": envValue("postgres", "POSTGRES_PASSWORD"),
        "Redis's default user's": envValue("redis", "REDIS_PASSWORD"),
        "the ClickHouse admin's": envValue("clickhouse", "CLICKHOUSE_PASSWORD"),
        "the backup role's": run.registrations.some((r) => r.name === "backup")
          ? envValue("backup", "PGPASSWORD")
          : undefined,
      };
      const onTenantNetwork = ofType(run, CONTAINER).filter((r) =>
        ((r.inputs.networksAdvanced ?? []) as { name: string }[]).some((n) =>
          /_[a-z0-9-]+\.network$/.test(n.name),
        ),
      );
      assert.ok(onTenantNetwork.length > 0);
      for (const r of onTenantNetwork) {
        const values = Object.values(envOf(r).env);
        for (const [whose, secret] of Object.entries(secrets)) {
          if (secret === undefined) continue;
          assert.ok(!values.includes(secret), `${r.name} holds ${whose} password`);
        }
      }
    });

    test("every container, volume and network is labelled with environment, service and tenant", () => {
      const tenants = new Set(config.tenants.map((t) => t.id));
      const labelled = run.registrations.filter((r) =>
        [CONTAINER, VOLUME, NETWORK].includes(r.type),
      );
      assert.ok(labelled.length > 0);
      for (const r of labelled) {
        const labels = labelMap(r);
        assert.equal(labels["platform.environment"], config.environment, r.name);
        assert.match(
          labels["platform.service"] ?? "",
          /^(postgres|redis|clickhouse|temporal|api|dashboard|worker|migrate|namespace|worker-check|temporal-schema|temporal-keys|cloudflared|tunnel-check|network|gateway|front|front-check|redis-user|egress-guard|backup|backup-access|backup-grants|backup-clickhouse-copy|backup-rclone-copy|snapshot|export|offboard|prometheus|prometheus-targets|alertmanager|node-exporter|monitoring)$/,
          r.name,
        );
        const owner = r.name.split("-")[0];
        assert.equal(labels["platform.tenant"], tenants.has(owner) ? owner : undefined, r.name);
      }
    });

    test("every long-running container restarts, is memory-limited, health-checked without curl, waited for, and stopped gracefully", () => {
      const services = run.registrations.filter(isService);
      const routed = config.domain ? config.tenants.filter((t) => t.exposed).length : 0;
      assert.equal(
        services.length,
        // Postgres, Redis, ClickHouse, Temporal and the JWKS Temporal verifies tokens with.
        5 +
          (config.backup.publicKey ? 1 : 0) +
          (config.cloudflare ? 1 : 0) +
          (config.egress.guard ? 1 : 0) +
          (config.monitoring.enabled ? 3 : 0) +
          routed +
          config.tenants.reduce((n, t) => n + 3 + t.workerReplicas, 0),
      );
      for (const r of services) {
        assert.equal(r.inputs.restart, "unless-stopped", r.name);
        assert.ok(Number(r.inputs.memory) >= 64, `${r.name} has a memory limit`);
        assert.equal(r.inputs.wait, true, r.name);
        assert.ok(Number(r.inputs.waitTimeout) >= 60, r.name);
        const tests = (r.inputs.healthcheck as { tests: string[] }).tests;
        assert.ok(!tests.join(" ").includes("curl"), `${r.name} health check calls curl`);
        assert.match(tests[0], /^CMD(-SHELL)?$/);
        const service = labelMap(r)["platform.service"];
        assert.match(
          tests[1],
          HEALTH_BINARY[service],
          `${r.name} checks with a binary its image has`,
        );
        // Blue/green where nothing holds data and no fixed host port is published: a new
        // release under its own tagged name beside the old one. Delete-first, under a fixed
        // name, for the rest (components/runtime/release.ts, components/runtime/docker.ts).
        const blueGreen =
          ["gateway", "front", "cloudflared"].includes(service) ||
          (["api", "dashboard"].includes(service) && stack !== "dev");
        assert.equal(r.deleteBeforeReplace, !blueGreen, `${r.name}: replacement order`);
        // terraform-provider-docker v4.5.0 ignores a changed health check in place (#988).
        assert.deepEqual(r.replaceOnChanges, ["healthcheck"], `${r.name}: a new check replaces`);
        if (blueGreen) assert.match(String(r.inputs.name), /-[0-9a-f]{10}$/, r.name);
        else assert.doesNotMatch(String(r.inputs.name), /-[0-9a-f]{10}$/, r.name);
        // A stop without a grace period kills at once (terraform-provider-docker v4.5.0).
        assert.ok(Number(r.inputs.destroyGraceSeconds) >= 30, `${r.name} stops gracefully`);
      }
    });

    test("nothing Docker rewrites on read-back: swap equals memory, durations as Go prints them", () => {
      // terraform-provider-docker v4.5.x reads back HostConfig.MemorySwap (Docker's default is
      // twice the memory) and prints durations with Go's time.Duration.String().
      for (const r of ofType(run, CONTAINER)) {
        assert.equal(r.inputs.memorySwap, r.inputs.memory, `${r.name} memorySwap`);
        const check = r.inputs.healthcheck as Record<string, unknown> | undefined;
        for (const field of ["interval", "timeout", "startPeriod"]) {
          if (check === undefined) continue;
          assert.match(String(check[field]), GO_DURATION, `${r.name} healthcheck.${field}`);
        }
      }
    });

    test("postgres is probed over TCP, not the socket that answers during initdb", () => {
      const tests = (byName(run, "postgres").inputs.healthcheck as { tests: string[] }).tests;
      assert.deepEqual(tests.slice(1, 4), ["pg_isready", "-h", "127.0.0.1"]);
    });

    test("Docker names carry the stack and tenant, read back unambiguously, and are unique", () => {
      const named = run.registrations.filter((r) => [CONTAINER, VOLUME, NETWORK].includes(r.type));
      for (const r of named) {
        const name = String(r.inputs.name);
        const tenant = labelMap(r)["platform.tenant"];
        if (tenant === undefined) assert.ok(name.startsWith(`${stack}-`), name);
        else assert.match(name, new RegExp(`^${stack}_${tenant}\\.[a-z0-9-]+$`));
      }
      const names = named.map((r) => String(r.inputs.name));
      assert.equal(new Set(names).size, names.length);
    });

    test("no network joins two tenants: each tenant's containers are on its own network, its relays alone also on the data network", () => {
      const networks = ofType(run, NETWORK);
      const dataNetwork = networks.find((n) => n.inputs.name === `${stack}-platform`);
      assert.ok(dataNetwork);
      // Prometheus, Alertmanager and node_exporter, when monitored: no tenant's on it.
      const monitoring = `${stack}-monitoring`;
      assert.deepEqual(
        networks
          .filter((n) => labelMap(n)["platform.tenant"] === undefined)
          .map((n) => n.inputs.name),
        [dataNetwork.inputs.name, ...(config.monitoring.enabled ? [monitoring] : [])],
      );
      const tenantOwned = networks.filter((n) => labelMap(n)["platform.tenant"] !== undefined);
      const tenantNetworks = new Map(
        tenantOwned.map((n) => [String(n.inputs.name), labelMap(n)["platform.tenant"]]),
      );
      assert.equal(tenantNetworks.size, config.tenants.length);
      // Each tenant's subnet is explicit, its slot's, and no two overlap.
      const ipam = tenantOwned.map(
        (n) => (n.inputs.ipamConfigs as { subnet: string; gateway?: string }[])[0],
      );
      // The gateway set as Docker would choose it, so that reading it back changes nothing.
      for (const { subnet, gateway } of ipam) assert.equal(gateway, gatewayOf(subnet), subnet);
      const subnets = ipam.map((entry) => entry.subnet);
      assert.deepEqual(subnets.sort(), config.tenants.map((t) => t.subnet).sort());
      assert.equal(new Set(subnets).size, subnets.length);

      const members = new Map<string, Set<string>>();
      for (const r of ofType(run, CONTAINER)) {
        const tenant = labelMap(r)["platform.tenant"];
        const service = labelMap(r)["platform.service"];
        // Capabilities as Docker reads them back, or every refresh would replace the container;
        // a tenant's containers cannot forge packets on their network.
        const caps = (r.inputs.capabilities ?? {}) as { adds?: string[]; drops?: string[] };
        for (const cap of [...(caps.adds ?? []), ...(caps.drops ?? [])]) assert.match(cap, /^CAP_/);
        assert.equal(caps.drops?.includes("CAP_NET_RAW") ?? false, tenant !== undefined, r.name);
        if (service === "tunnel-check") {
          // In the connector's network namespace, to read its loopback-only metrics.
          assert.equal(
            r.inputs.networkMode,
            `container:${byName(run, "tunnel-connector").urn.split("::").at(-1)}-id`,
          );
          assert.equal(r.inputs.networksAdvanced, undefined);
          continue;
        }
        if (service === "egress-guard") {
          // The host's own network, which it must change: no Docker network at all.
          assert.equal(r.inputs.networkMode, "host");
          assert.equal(r.inputs.networksAdvanced, undefined);
          assert.deepEqual(caps.adds, ["CAP_NET_ADMIN", "CAP_NET_RAW"]);
          continue;
        }
        const joined = (r.inputs.networksAdvanced as { name: string; ipv4Address?: string }[]).map(
          (n) => {
            assert.equal(n.ipv4Address, undefined, `${r.name} has no fixed IP`);
            return n.name;
          },
        );
        const own = [...tenantNetworks].filter(([, t]) => t === tenant).map(([n]) => n);
        const relay = service === "gateway" || service === "front";
        // The platform's jobs for a tenant that hold an admin's or the backup's credentials:
        // on the data network, never the tenant's (they run none of the tenant's code).
        const adminJob = ADMIN_JOBS.test(r.name);
        const data = String(dataNetwork.inputs.name);
        const expected: string[] =
          service === "prometheus"
            ? [monitoring, data]
            : service === "alertmanager" || service === "node-exporter"
              ? [monitoring]
              : tenant === undefined || adminJob
                ? [data]
                : relay
                  ? [...own, data]
                  : own;
        assert.deepEqual(joined, expected, r.name);
        if (adminJob) assert.equal(r.inputs.restart, "no", r.name);
        for (const network of joined) {
          if (relay && network === dataNetwork.inputs.name) continue;
          const set = members.get(network) ?? new Set<string>();
          set.add(tenant === undefined || adminJob ? "(shared)" : tenant);
          members.set(network, set);
        }
      }
      for (const [network, owners] of members)
        assert.equal(owners.size, 1, `${network} joins ${[...owners].join(" and ")}`);
    });

    test("every host a tenant's container connects to is an alias on its own network", () => {
      const aliasesOn = new Map<string, Set<string>>();
      for (const r of ofType(run, CONTAINER)) {
        const attached = (r.inputs.networksAdvanced ?? []) as {
          name: string;
          aliases?: string[];
        }[];
        for (const n of attached) {
          const set = aliasesOn.get(n.name) ?? new Set<string>();
          (n.aliases ?? []).forEach((a) => set.add(a));
          aliasesOn.set(n.name, set);
        }
      }
      const dittofeed = ofType(run, CONTAINER).filter(
        (c) => envOf(c).env.DATABASE_URL !== undefined,
      );
      assert.equal(
        dittofeed.length,
        config.tenants.reduce((n, t) => n + 4 + t.workerReplicas, 0),
      );
      for (const r of dittofeed) {
        const { env } = envOf(r);
        const network = (r.inputs.networksAdvanced as { name: string }[])[0].name;
        const hosts = [
          new URL(env.DATABASE_URL).hostname,
          new URL(env.CLICKHOUSE_HOST).hostname,
          ...(env.REDIS_URL === undefined ? [] : [new URL(env.REDIS_URL).hostname]),
          ...(env.TEMPORAL_ADDRESS === undefined ? [] : [env.TEMPORAL_ADDRESS.split(":")[0]]),
        ];
        for (const host of hosts)
          assert.ok(aliasesOn.get(network)?.has(host), `${r.name} reaches ${host} on ${network}`);
        const values = Object.values(env)
          .join(" ")
          .replace(/0\.0\.0\.0/g, "");
        assert.ok(!/\b\d{1,3}(\.\d{1,3}){3}\b/.test(values), `${r.name} env has no IP`);
      }
    });

    test("each gateway relays to names that answer on the far side, and listens where its tenant's jobs connect", () => {
      const containers = ofType(run, CONTAINER);
      const aliasesOn = (network: string, tenant: string | undefined) =>
        new Set(
          containers
            .filter((c) => labelMap(c)["platform.tenant"] === tenant)
            .flatMap(
              (c) => (c.inputs.networksAdvanced ?? []) as { name: string; aliases?: string[] }[],
            )
            .filter((n) => n.name === network)
            .flatMap((n) => n.aliases ?? []),
        );
      for (const t of config.tenants) {
        const gateway = byName(run, `${t.id}-gateway-container`);
        const [own, data] = (gateway.inputs.networksAdvanced as { name: string }[]).map(
          (n) => n.name,
        );
        const script = (gateway.inputs.command as string[])[0];
        const listens = [...script.matchAll(/^ {4}bind :(\d+)$/gm)].map((m) => Number(m[1]));
        const servers = [...script.matchAll(/^ {4}server \S+ ([^:\s]+):(\d+)( proto h2)?$/gm)];
        assert.equal(servers.length, 5, script);
        for (const [, host] of servers) {
          // Toward a shared service: an alias on the data network, of a shared container only.
          assert.ok(
            aliasesOn(data, undefined).has(host),
            `${t.id}'s gateway relays to ${host}, which no shared container answers to`,
          );
        }
        assert.ok(aliasesOn(own, t.id).has("postgres"), `${t.id}'s gateway answers as postgres`);
        const access = byName(run, `${t.id}-migration-clickhouse`);
        const [, port] = /--port (\d+)/.exec((access.inputs.command as string[])[0]) ?? [];
        assert.ok(
          listens.includes(Number(port)),
          `the gateway listens on ClickHouse's port ${port}`,
        );
      }
    });

    test("every env list that carries a secret is a Pulumi secret, and no secret appears in plain inputs", () => {
      const marker = mockPassword("");
      const encoded = encodeURIComponent(marker);
      for (const r of run.registrations) {
        for (const s of plainStrings(r.inputs)) {
          assert.ok(
            !s.includes(marker) && !s.includes(encoded),
            `${r.type} ${r.name} exposes a secret in plain text`,
          );
        }
      }
      const withEnv = ofType(run, CONTAINER).filter((r) => r.inputs.envs !== undefined);
      assert.deepEqual(
        ofType(run, CONTAINER)
          .filter((r) => !withEnv.includes(r))
          .map((r) => r.name)
          .sort(),
        [
          "postgres-version-check",
          "egress-container",
          "temporal-keys",
          ...(config.backup.publicKey ? ["backup-clickhouse-copy"] : []),
          ...(config.backup.r2 ? ["backup-rclone-copy"] : []),
          ...(config.cloudflare ? ["tunnel-routes-check"] : []),
          ...(config.monitoring.enabled
            ? [
                "monitoring-prometheus",
                "monitoring-node-exporter",
                ...config.tenants.map((t) => `${t.id}-monitoring-job`),
              ]
            : []),
          ...config.tenants.flatMap((t) => [
            ...(config.domain && t.exposed
              ? [`${t.id}-front-container`, `${t.id}-front-check`, `${t.id}-front-release-check`]
              : []),
          ]),
        ].sort(),
        "only the fronts, the checks, the egress guard, the JWKS, Postgres's version check, the backup tools' copies, Prometheus, node_exporter and the target files, which are given no secret, have no environment",
      );
      assert.ok(
        withEnv.every((r) => envOf(r).secret),
        "every environment is a secret",
      );
    });

    test(`publishes ${stack === "dev" ? "api and dashboard and the postgres admin port" : "only the postgres admin port and, monitored, Prometheus's and Alertmanager's"} on loopback`, () => {
      const published = ofType(run, CONTAINER).flatMap((r) =>
        ((r.inputs.ports ?? []) as { internal: number; external: number; ip: string }[]).map(
          (p) => ({ name: r.name, ...p }),
        ),
      );
      assert.ok(
        published.every((p) => p.ip === "127.0.0.1"),
        JSON.stringify(published),
      );
      const expected = [
        { name: "postgres", internal: 5432, external: config.postgres.adminPort, ip: "127.0.0.1" },
      ];
      if (config.monitoring.enabled) {
        const { prometheus, alertmanager } = config.monitoring;
        expected.push(
          {
            name: "monitoring-prometheus",
            internal: 9090,
            external: prometheus.port,
            ip: "127.0.0.1",
          },
          {
            name: "monitoring-alertmanager",
            internal: 9093,
            external: alertmanager.port,
            ip: "127.0.0.1",
          },
        );
      }
      if (stack === "dev") {
        for (const t of config.tenants) {
          expected.push({
            name: `${t.id}-api`,
            internal: 3001,
            external: t.devPorts.api,
            ip: "127.0.0.1",
          });
          expected.push({
            name: `${t.id}-dashboard`,
            internal: 3000,
            external: t.devPorts.dashboard,
            ip: "127.0.0.1",
          });
        }
      }
      const key = (p: { name: string }) => p.name;
      assert.deepEqual(
        [...published].sort((a, b) => key(a).localeCompare(key(b))),
        expected.sort((a, b) => key(a).localeCompare(key(b))),
      );
    });

    test(
      stack === "production"
        ? "data is retained on delete, and volumes and databases are protected"
        : "data is not retained outside production",
      () => {
        const production = stack === "production";
        const dataBearing = [
          ...ofType(run, VOLUME),
          ...ofType(run, DATABASE),
          ...ofType(run, ROLE),
        ];
        // Volumes of Postgres, Redis, ClickHouse; Temporal's role and two databases; per tenant
        // a role and a database; with backups, their volume, their tools' volume and their role;
        // monitored, the volumes of Prometheus, its targets and Alertmanager.
        assert.equal(
          dataBearing.length,
          3 +
            3 +
            2 * config.tenants.length +
            (config.backup.publicKey ? 3 : 0) +
            (config.monitoring.enabled ? 3 : 0),
        );
        for (const r of dataBearing) assert.equal(r.retainOnDelete, production, r.name);
        for (const r of [...ofType(run, VOLUME), ...ofType(run, DATABASE)])
          assert.equal(r.protect, production, r.name);
        // A role holds no data; removing a tenant must be able to let go of it (it is retained).
        for (const r of ofType(run, ROLE)) assert.equal(r.protect, false, r.name);
      },
    );

    test("images are pinned, and each tenant's Dittofeed images run the configured version", () => {
      for (const r of ofType(run, IMAGE)) {
        const ref = String(r.inputs.name);
        assert.match(ref, /:[^/:]+$|@sha256:/, ref);
        assert.ok(!ref.endsWith(":latest"), ref);
      }
      for (const role of ["api", "dashboard", "worker", "adminCli"]) {
        assert.ok(
          String(byName(run, `image-${role}-${config.dittofeed.version}`).inputs.name).endsWith(
            `:${config.dittofeed.version}`,
          ),
        );
      }
    });

    test("shared services come up in order: Postgres before its provider, Temporal after its role and databases", () => {
      dependsOn(run, "postgres-admin", "postgres");
      dependsOn(run, "temporal", "postgres", "temporal-role", "temporal-db-main");
      dependsOn(run, "temporal", "temporal-db-visibility");
      const temporalRole = byName(run, "temporal-role");
      assert.equal(providerUrn(temporalRole), byName(run, "postgres-admin").urn);
      assert.deepEqual(
        [
          temporalRole.inputs.superuser,
          temporalRole.inputs.createRole,
          temporalRole.inputs.createDatabase,
        ],
        [false, false, false],
      );
      // auto-setup creates no database named like its role (docker/auto-setup.sh): the
      // provider creates both, owned by the role, closed to every other role.
      for (const [key, database] of [
        ["main", "temporal"],
        ["visibility", "temporal_visibility"],
      ]) {
        const db = byName(run, `temporal-db-${key}`);
        assert.deepEqual([db.inputs.name, db.inputs.owner], [database, "temporal"]);
        const revoke = byName(run, `temporal-db-${key}-revoke-public`);
        assert.deepEqual(
          [revoke.inputs.database, revoke.inputs.role, revoke.inputs.privileges],
          [database, "public", []],
        );
      }
      const { env } = envOf(byName(run, "temporal"));
      assert.deepEqual(
        [env.DB, env.DBNAME, env.VISIBILITY_DBNAME, env.POSTGRES_USER, env.SKIP_DB_CREATE],
        ["postgres12", "temporal", "temporal_visibility", "temporal", "true"],
      );
    });

    test(
      stack === "dev"
        ? "Temporal is auto-setup, which keeps its own schema"
        : "Temporal is the server image, after a job in admin-tools set up its schema",
      () => {
        const image = String(byName(run, "image-temporal").inputs.name);
        const schemaJobs = run.registrations.filter((r) => r.name === "temporal-schema");
        if (stack === "dev") {
          assert.equal(image, "temporalio/auto-setup:1.22.4");
          assert.deepEqual(schemaJobs, []);
          return;
        }
        assert.equal(image, "temporalio/server:1.22.4");
        const job = byName(run, "temporal-schema");
        assert.ok(isJob(job));
        assert.equal(
          String(byName(run, "image-temporalAdminTools").inputs.name),
          "temporalio/admin-tools:1.22.4",
        );
        assert.deepEqual(job.inputs.command, [temporalSchemaScript()]);
        const { env } = envOf(job);
        assert.deepEqual(
          [env.SQL_HOST, env.SQL_USER, env.DBNAME, env.VISIBILITY_DBNAME, env.SCHEMA_ROOT],
          ["postgres", "temporal", "temporal", "temporal_visibility", POSTGRES_SCHEMA_ROOT],
        );
        assert.equal(env.SQL_PASSWORD, envOf(byName(run, "temporal")).env.POSTGRES_PWD);
        assert.ok(!JSON.stringify(job.inputs.command).includes(env.SQL_PASSWORD));
        dependsOn(run, "temporal-schema", "temporal-role", "temporal-db-main", "postgres");
        dependsOn(run, "temporal", "temporal-schema");
      },
    );

    for (const tenantIndex of [0, 1]) {
      test(`tenant ${tenantIndex}: own role with a connection limit, database and revoked PUBLIC connect`, () => {
        const t = config.tenants[tenantIndex];
        const role = byName(run, `${t.id}-database-role`);
        assert.equal(role.inputs.name, `dittofeed_${t.id.replace(/-/g, "_")}`);
        assert.equal(role.inputs.superuser, false);
        assert.equal(role.inputs.createRole, false);
        assert.equal(role.inputs.login, true);
        // A full pool (node-postgres's 10) per api, dashboard, worker and one job at a time.
        assert.equal(role.inputs.connectionLimit, 10 * (3 + t.workerReplicas));
        const db = byName(run, `${t.id}-database-db`);
        assert.equal(db.inputs.owner, role.inputs.name);
        const grant = byName(run, `${t.id}-database-revoke-public`);
        assert.deepEqual(
          [
            grant.inputs.database,
            grant.inputs.role,
            grant.inputs.objectType,
            grant.inputs.privileges,
          ],
          [db.inputs.name, "public", "database", []],
        );
        for (const r of [role, db, grant]) {
          assert.equal(
            providerUrn(r),
            byName(run, "postgres-admin").urn,
            `${r.name} uses the admin provider`,
          );
        }
      });

      test(`tenant ${tenantIndex}: its Temporal namespace is registered with tctl once Temporal is healthy`, () => {
        const t = config.tenants[tenantIndex];
        const job = byName(run, `${t.id}-namespace-job`);
        assert.ok(isJob(job));
        assert.equal(job.inputs.image, toolsImage(), "an image with tctl");
        assert.deepEqual(job.inputs.entrypoints, ["sh", "-c"]);
        assert.deepEqual(job.inputs.command, [namespaceScript()]);
        const { env } = envOf(job);
        assert.deepEqual(
          [env.NAMESPACE, env.TEMPORAL_CLI_ADDRESS, env.RETENTION_DAYS, env.TASK_QUEUE],
          [t.id, "temporal:7233", String(config.temporal.namespaceRetentionDays), "default"],
        );
        assert.equal(envOf(byName(run, `${t.id}-worker-1`)).env.TEMPORAL_NAMESPACE, env.NAMESPACE);
        dependsOn(run, `${t.id}-namespace-job`, "temporal");
      });

      test(`tenant ${tenantIndex}: after its workers start, a check proves each one polls its task queue`, () => {
        const t = config.tenants[tenantIndex];
        const check = byName(run, `${t.id}-worker-check-job`);
        assert.ok(isJob(check));
        assert.equal(check.inputs.image, toolsImage());
        assert.deepEqual(check.inputs.command, [workerCheckScript()]);
        const workers = Array.from({ length: t.workerReplicas }, (_, i) =>
          byName(run, `${t.id}-worker-${i + 1}`),
        );
        // Temporal names a poll `<pid>@<hostname>`: each worker has a hostname of its own, short
        // enough for Linux's 64 bytes whatever the stack is called.
        const hostnames = workers.map((_, i) => `${t.id}-worker-${i + 1}`);
        assert.deepEqual(
          workers.map((w) => w.inputs.hostname),
          hostnames,
        );
        const { env } = envOf(check);
        assert.deepEqual(
          [env.NAMESPACE, env.TASK_QUEUE, env.WORKERS],
          [t.id, "default", hostnames.join(" ")],
        );
        dependsOn(run, `${t.id}-worker-check-job`, ...workers.map((w) => w.name));
        assert.equal(byName(run, `${t.id}-api`).inputs.hostname, undefined);
      });

      test(`tenant ${tenantIndex}: bootstrap runs once after its database, ClickHouse access, namespace, Temporal; then the schema job; apps after both`, () => {
        const t = config.tenants[tenantIndex];
        const bootstrap = byName(run, `${t.id}-migration-bootstrap`);
        assert.ok(isJob(bootstrap));
        assert.equal(bootstrap.inputs.mustRun, false);
        assert.equal(bootstrap.inputs.logs, true);
        assert.deepEqual(bootstrap.inputs.entrypoints, ["sh", "-c"]);
        assert.deepEqual(bootstrap.inputs.command, [bootstrapOnceScript()]);
        assert.equal(envOf(bootstrap).env.WORKSPACE_NAME, t.workspaceName);
        assert.equal(envOf(byName(run, `${t.id}-api`)).env.WORKSPACE_NAME, undefined);
        dependsOn(
          run,
          `${t.id}-migration-bootstrap`,
          `image-adminCli-${config.dittofeed.version}`,
          `${t.id}-database-db`,
          `${t.id}-database-revoke-public`,
          "postgres",
          "clickhouse",
          "temporal",
          `${t.id}-migration-clickhouse`,
          `${t.id}-namespace-job`,
        );
        dependsOn(run, `${t.id}-migration-clickhouse`, "clickhouse");
        // Once per workspace is the database's record (tests/bootstrap.test.ts); the label keeps
        // the release the tenant was installed at.
        assert.deepEqual(bootstrap.ignoreChanges, ["labels"]);
        const schema = byName(run, `${t.id}-migration-schema`);
        assert.ok(isJob(schema));
        assert.deepEqual(schema.inputs.command, [
          "set -e; ./admin.sh migrate; ./admin.sh bootstrap-clickhouse",
        ]);
        assert.equal(schema.inputs.image, bootstrap.inputs.image);
        assert.deepEqual(schema.ignoreChanges, []);
        dependsOn(run, `${t.id}-migration-schema`, `${t.id}-migration-bootstrap`, "postgres");
        const apps = [
          `${t.id}-api`,
          `${t.id}-dashboard`,
          ...Array.from({ length: t.workerReplicas }, (_, i) => `${t.id}-worker-${i + 1}`),
        ];
        for (const app of apps)
          dependsOn(
            run,
            app,
            `${t.id}-migration-schema`,
            `${t.id}-namespace-job`,
            "temporal",
            "redis",
          );
      });

      test(`tenant ${tenantIndex}: Dittofeed settings point at its own database, ClickHouse database and namespace`, () => {
        const t = config.tenants[tenantIndex];
        const sqlName = `dittofeed_${t.id.replace(/-/g, "_")}`;
        for (const name of [
          `${t.id}-migration-bootstrap`,
          `${t.id}-migration-schema`,
          `${t.id}-api`,
          `${t.id}-dashboard`,
          `${t.id}-worker-1`,
        ]) {
          const { env } = envOf(byName(run, name));
          // The schema job reads Postgres and ClickHouse only; the bootstrap also Temporal and
          // SECRET_KEY; neither reads where the tenant is reached (see STEP_KEYS).
          const step = name.includes("-migration-");
          const reads = (key: string) =>
            !step ||
            (name.endsWith("-bootstrap") &&
              ["TEMPORAL_NAMESPACE", "TEMPORAL_ADDRESS", "AUTH_MODE", "SECRET_KEY"].includes(key));
          const db = parsePgConnectionString(env.DATABASE_URL);
          assert.equal(db.user, sqlName, name);
          assert.equal(
            db.password,
            mockPassword(`${t.id}-db-password`),
            `${name}: the password survives URL parsing`,
          );
          assert.equal(db.host, "postgres");
          assert.equal(db.database, sqlName);
          assert.equal(env.CLICKHOUSE_DATABASE, sqlName);
          assert.equal(env.CLICKHOUSE_USER, sqlName);
          assert.equal(env.CLICKHOUSE_PASSWORD, mockPassword(`${t.id}-clickhouse-password`));
          assert.equal(env.NODE_ENV, "production");
          assert.equal(
            env.DATABASE_PASSWORD,
            undefined,
            "Dittofeed would build an unencoded URL from it",
          );
          const origin = t.exposed
            ? `https://${t.hostname}.${config.domain}`
            : `http://localhost:${t.devPorts.dashboard}`;
          const expected: Record<string, string> = {
            TEMPORAL_NAMESPACE: t.id,
            TEMPORAL_ADDRESS: "temporal:7233",
            AUTH_MODE: "anonymous",
            // Dittofeed v0.23.0 (packages/backend-lib/src/secrets.ts): an AES-256-GCM key, base64.
            SECRET_KEY: mockBytes(`${t.id}-secret-key`, 32).toString("base64"),
            PASSWORD: mockPassword(`${t.id}-admin-password`),
            DASHBOARD_URL: origin,
            DASHBOARD_API_BASE: t.exposed ? origin : `http://localhost:${t.devPorts.api}`,
          };
          for (const [key, value] of Object.entries(expected)) {
            assert.equal(env[key], reads(key) ? value : undefined, `${name} ${key}`);
          }
          if (reads("SECRET_KEY")) {
            assert.equal(Buffer.from(env.SECRET_KEY, "base64").length, 32, `${name} SECRET_KEY`);
          }
        }
        assert.equal(envOf(byName(run, `${t.id}-dashboard`)).env.HOSTNAME, "0.0.0.0");
        const other = config.tenants[1 - tenantIndex];
        assert.notEqual(
          envOf(byName(run, `${t.id}-api`)).env.SECRET_KEY,
          envOf(byName(run, `${other.id}-api`)).env.SECRET_KEY,
        );
      });

      test(`tenant ${tenantIndex}: ClickHouse access job creates only its own database and user, password via env`, () => {
        const t = config.tenants[tenantIndex];
        const job = byName(run, `${t.id}-migration-clickhouse`);
        const sqlName = `dittofeed_${t.id.replace(/-/g, "_")}`;
        const script = (job.inputs.command as string[]).join(" ");
        assert.ok(script.includes(`GRANT ALL ON ${sqlName}.* TO ${sqlName}`), script);
        assert.ok(script.includes(`CREATE DATABASE IF NOT EXISTS ${sqlName}`));
        assert.ok(script.includes("$TENANT_PASSWORD"));
        assert.equal(
          envOf(job).env.CLICKHOUSE_PASSWORD,
          envOf(byName(run, "clickhouse")).env.CLICKHOUSE_PASSWORD,
        );
        const other = config.tenants[1 - tenantIndex];
        assert.ok(!script.includes(`dittofeed_${other.id.replace(/-/g, "_")}`));
        assert.equal(envOf(job).env.TENANT_PASSWORD, mockPassword(`${t.id}-clickhouse-password`));
      });
    }

    test("stack outputs: per tenant its URL, workspace name and that its workers poll; connection details are secret", () => {
      const tenants = run.outputs?.tenants as Record<
        string,
        { url: string; workspaceName: string; dashboardUrl: string; deployed: boolean }
      >;
      for (const t of config.tenants) {
        assert.equal(tenants[t.id].workspaceName, t.workspaceName);
        assert.equal(tenants[t.id].deployed, true);
        assert.equal(tenants[t.id].dashboardUrl, `${tenants[t.id].url}/dashboard`);
      }
      const stackOutputs = plainStrings(run.outputs?.tenants);
      assert.ok(!stackOutputs.some((s) => s.includes(mockPassword(""))));
    });
  });
}

describe("a failing migration", () => {
  const config = {
    "platform:environment": "dev",
    "platform:tenants": JSON.stringify([
      { id: "acme", workspaceName: "Acme" },
      { id: "globex", workspaceName: "Globex" },
    ]),
  };

  test("fails the update with the job's logs and creates none of that tenant's app containers", async () => {
    const run = await runProgram({
      config,
      jobs: {
        "acme-migration-bootstrap": {
          exitCode: 3,
          logs:
            "error: migration 0042_add_index failed\n" +
            `at postgresql://dittofeed_acme:${encodeURIComponent(mockPassword("acme-db-password"))}@postgres:5432\n`,
        },
      },
    });
    assert.ok(run.error, "the update fails");
    assert.match(run.error.message, /tenant acme exited with code 3/);
    assert.match(run.error.message, /migration 0042_add_index failed/);
    assert.match(run.error.message, /dittofeed_acme:\[secret\]@postgres/);
    assert.ok(!run.error.message.includes(encodeURIComponent(mockPassword("acme-db-password"))));
    assert.match(
      run.error.message,
      /run it again with: pulumi up --replace 'urn:pulumi:[^']*::acme-migration-bootstrap'/,
    );
    const containers = ofType(run, CONTAINER).map((r) => r.name);
    assert.ok(
      !containers.some((n) => /^acme-(api|dashboard|worker)/.test(n)),
      containers.join(", "),
    );
    assert.ok(containers.includes("globex-api"), "other tenants are not held back");
  });

  test("a worker check that sees no poll fails the update, naming the tenant and what Temporal reports", async () => {
    const run = await runProgram({
      config,
      jobs: {
        "acme-worker-check-job": {
          exitCode: 1,
          logs: "No poll of task queue default in namespace acme since T from: acme-worker-1.\n",
        },
      },
    });
    assert.match(String(run.error?.message), /Worker check of tenant acme exited with code 1/);
    assert.match(String(run.error?.message), /from: acme-worker-1/);
    assert.match(String(run.error?.message), /pulumi up --replace '[^']*acme-worker-check-job'/);
  });

  test("in a preview, a failure stored in state warns instead of failing, so reviews still see the plan", async () => {
    const run = await runProgram({
      config,
      preview: true,
      jobs: { "acme-migration-bootstrap": { exitCode: 3, logs: "boom\n" } },
    });
    assert.equal(run.error, undefined, String(run.error));
    assert.ok(ofType(run, CONTAINER).some((r) => r.name === "acme-api"));
  });

  test("a failing ClickHouse access job stops the bootstrap too", async () => {
    const run = await runProgram({
      config,
      jobs: {
        "globex-migration-clickhouse": { exitCode: 1, logs: "Code: 516. Authentication failed" },
      },
    });
    assert.match(
      String(run.error?.message),
      /ClickHouse access job of tenant globex exited with code 1[\s\S]*Authentication failed/,
    );
    const containers = ofType(run, CONTAINER).map((r) => r.name);
    assert.ok(!containers.includes("globex-migration-bootstrap"));
    assert.ok(containers.includes("acme-migration-bootstrap"));
  });
});

test("a Dittofeed version bump re-runs the schema job and leaves the data services alone", async () => {
  const base = committedStack("production");
  const bumped = {
    ...base,
    config: { ...base.config, "platform:dittofeed": JSON.stringify({ version: "v0.24.0" }) },
  };
  const [before, after] = [await runProgram(base), await runProgram(bumped)];
  const inputs = (run: RunResult, name: string) => JSON.stringify(byName(run, name).inputs);
  assert.notEqual(inputs(before, "acme-migration-schema"), inputs(after, "acme-migration-schema"));
  assert.notEqual(inputs(before, "acme-api"), inputs(after, "acme-api"));
  for (const name of [
    "postgres",
    "redis",
    "clickhouse",
    "temporal",
    "postgres-data",
    "acme-database-db",
    "acme-migration-clickhouse",
  ]) {
    assert.equal(
      inputs(before, name),
      inputs(after, name),
      `${name} is untouched by a version bump`,
    );
  }
});

test("a host without swap accounting is stated in config, and no container then reports a swap change on every refresh", async () => {
  // moby v28.5.2 daemon/daemon_unix.go (verifyPlatformContainerResources): without swap
  // accounting, Docker stores MemorySwap -1 whatever it is asked, and the provider reads it back.
  const { run: noSwap } = await runCommitted("production", { "platform:hostSwapLimit": false });
  const containers = ofType(noSwap, CONTAINER);
  assert.ok(containers.length > 20);
  for (const r of containers) assert.equal(r.inputs.memorySwap, -1, r.name);
});

test("a job that moves a tenant's data may run for hours, on both runtimes; every other Docker job says its 20 minutes", async () => {
  const minutes = (r: Registration) => Number(/^(\d+)m$/.exec(r.customTimeouts.create ?? "")?.[1]);
  const dataJob = /-(snapshot|export|bootstrap|schema)$|-upgrade-/;
  // Docker: terraform-provider-docker v4.5.0 waits for an attached container within its create
  // timeout, 20 minutes by default (resource_docker_container.go).
  const { run: docker } = await runCommitted("production", {
    "platform:dittofeed": { workerCheckSeconds: 3600 },
  });
  const jobs = docker.registrations.filter((r) => r.type === CONTAINER && r.inputs.attach);
  assert.ok(jobs.filter((j) => dataJob.test(j.name)).length >= 6);
  for (const job of jobs) {
    assert.equal(job.customTimeouts.update, job.customTimeouts.create, job.name);
    const expected = dataJob.test(job.name) ? 240 : /worker-check/.test(job.name) ? 65 : 20;
    assert.equal(minutes(job), expected, job.name);
  }
  // Kubernetes: the provider waits 10 minutes for a Job unless told otherwise; the Job's own
  // deadline ends it a minute before the wait does, so it fails as a Job.
  const kube = (await runCommitted("production-k8s")).run;
  const kubeJobs = ofType(kube, "kubernetes:batch/v1:Job");
  assert.ok(kubeJobs.filter((j) => dataJob.test(j.name)).length >= 2);
  for (const job of kubeJobs) {
    const deadline = (job.inputs.spec as { activeDeadlineSeconds: number }).activeDeadlineSeconds;
    const wait = dataJob.test(job.name) ? minutes(job) : 10;
    assert.equal(wait, dataJob.test(job.name) ? 240 : 10, job.name);
    assert.equal(deadline, (wait - 1) * 60, job.name);
  }
});

test("operator-supplied secrets replace generated ones and stay secret; provider settings pass through", async () => {
  const OPERATOR_KEY = Buffer.alloc(32, 0xa7).toString("base64");
  const run = await runProgram({
    config: {
      "docker:host": "ssh://deploy@docker-host.example.com",
      "platform:environment": "dev",
      "platform:tenants": JSON.stringify([{ id: "acme", workspaceName: "Acme" }]),
      "platform:secrets": JSON.stringify({
        postgresPassword: "operator+chosen/pass=word",
        registries: [
          {
            address: "registry.example.com",
            username: "ci",
            password: "registry-token-0123456789",
          },
        ],
        tenants: { acme: { secretKey: OPERATOR_KEY } },
      }),
    },
    secretKeys: ["platform:secrets"],
  });
  assert.equal(run.error, undefined);
  assert.equal(envOf(byName(run, "postgres")).env.POSTGRES_PASSWORD, "operator+chosen/pass=word");
  assert.equal(envOf(byName(run, "acme-api")).env.SECRET_KEY, OPERATOR_KEY);
  assert.ok(
    !run.registrations.some((r) => r.name === "postgres-password" || r.name === "acme-secret-key"),
  );
  assert.ok(isSecret(byName(run, "postgres-admin").inputs.password));
  const docker = byName(run, "docker").inputs;
  assert.equal(docker.host, "ssh://deploy@docker-host.example.com");
  // The SDK JSON-encodes a provider's structured inputs; holding a password, the whole value is secret.
  const registryAuth = docker.registryAuth;
  assert.ok(isSecret(registryAuth), "registryAuth is secret");
  assert.deepEqual(JSON.parse(String(registryAuth.value)), [
    { address: "registry.example.com", username: "ci", password: "registry-token-0123456789" },
  ]);
});

describe("rotating postgresPassword", () => {
  const secrets = {
    postgresPassword: "new-superuser-password-0123",
    postgresPasswordPrevious: "old-superuser-password-0123",
  };
  const run = (values: Record<string, unknown>) =>
    runProgram({
      config: platformConfig({
        environment: "dev",
        tenants: [{ id: "acme", workspaceName: "Acme" }],
        secrets: values,
      }),
      secretKeys: ["platform:secrets"],
    });

  test("a job sets the new password on the running server before the provider logs in with it", async () => {
    const result = await run(secrets);
    assert.equal(result.error, undefined, String(result.error));
    const job = byName(result, "postgres-rotate-password");
    assert.ok(isJob(job));
    assert.equal(job.inputs.image, byName(result, "postgres").inputs.image, "its psql");
    const { env, secret } = envOf(job);
    assert.ok(secret);
    assert.deepEqual(
      [env.PGHOST, env.PGUSER, env.OLD_PASSWORD, env.NEW_PASSWORD],
      ["postgres", "postgres", secrets.postgresPasswordPrevious, secrets.postgresPassword],
    );
    dependsOn(result, "postgres-rotate-password", "postgres");
    dependsOn(result, "postgres-admin", "postgres-rotate-password");
    for (const s of plainStrings(job.inputs)) {
      assert.ok(
        !s.includes(secrets.postgresPasswordPrevious) && !s.includes(secrets.postgresPassword),
      );
    }
  });

  test("without a previous password there is nothing to rotate and no job", async () => {
    const result = await run({ postgresPassword: secrets.postgresPassword });
    assert.ok(!result.registrations.some((r) => r.name === "postgres-rotate-password"));
  });

  test("a previous password without a new one is refused naming the key", async () => {
    const result = await run({ postgresPasswordPrevious: secrets.postgresPasswordPrevious });
    assert.match(
      String(result.error?.message),
      /platform:secrets\.postgresPasswordPrevious = \[secret\]: .*postgresPassword, which is not set/,
    );
    assert.ok(!String(result.error?.message).includes(secrets.postgresPasswordPrevious));
  });
});
