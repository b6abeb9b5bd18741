#!/usr/bin/env bash
# Builds, on this machine's Docker engine and from Debian packages only (no registry is reachable
# here), each image named on the command line under that very name, so that the program's own
# specs run unchanged: `build.sh postgres:15.13 dittofeed/dittofeed-api:v0.23.0 ...` (the e2e run
# passes the names the program pulls). The same software where Debian has it; elsewhere a
# stand-in (standins/, docs/testing.md says what each does not prove). An image already built
# under the name from these very recipes (a digest of this directory, in a label) is kept.
# The base is a minbase bookworm from the apt mirror the machine is configured with (measured:
# 23 s, and 1 s to import).
set -euo pipefail
cd "$(dirname "$0")"
have() { docker image inspect "$1" >/dev/null 2>&1; }
recipes=$(find . -type f | sort | xargs sha256sum | sha256sum | cut -c1-16)
current() {
  [ "$(docker image inspect -f '{{index .Config.Labels "platform.e2e.recipes"}}' "$1" 2>/dev/null)" = "$recipes" ]
}
if ! have local/debian:bookworm; then
  # The machine's own mirror: deb822 (bookworm's default), else a one-line sources.list.
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null ||
    awk '/^deb / {for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' /etc/apt/sources.list)
  [ -n "$mirror" ] || { echo "no Debian mirror in the machine's apt sources" >&2; exit 1; }
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
  tar -C "$root" -c . | docker import - local/debian:bookworm >/dev/null
fi
# The build's own output only when it fails (the legacy builder warns at every build).
build() {
  local out
  out=$(docker build -q --label "platform.e2e.recipes=$recipes" -t "$1" "${@:2}" 2>&1) ||
    { printf '%s\n' "$out" >&2; return 1; }
}
# The stand-ins' base carries the `pg` client of the project's lockfile.
if ! current local/standin:bookworm; then
  context=$(mktemp -d)
  cp standins/* "$context/"
  pg=$(node -p 'require("pg/package.json").version')
  npm install --prefix "$context" --no-save --no-package-lock --no-audit --no-fund --prefer-offline \
    "pg@$pg" >/dev/null
  build local/standin:bookworm "$context"
  rm -rf "$context"
fi
# A stand-in image: the base with a version, an entrypoint and the programs its tag provides.
standin() {
  local name=$1 IFS=$'\n'
  shift
  printf 'FROM local/standin:bookworm\nENV STANDIN_VERSION=%s\n%s\n' "${name##*:}" "$*" |
    build "$name" -
}
for image in "$@"; do
  if current "$image"; then echo "kept: $image"; continue; fi
  case "${image%:*}" in
    postgres | redis | haproxy) build "$image" "${image%:*}" ;;
    docker) build "$image" egress ;;
    prom/prometheus | prom/alertmanager | prom/node-exporter)
      target=${image%:*}
      build "$image" --target "${target#prom/}" prom ;;
    dittofeed/dittofeed-api) standin "$image" 'CMD ["node", "/standin/dittofeed.js", "api"]' ;;
    dittofeed/dittofeed-dashboard) standin "$image" 'CMD ["node", "/standin/dittofeed.js", "dashboard"]' ;;
    dittofeed/dittofeed-worker) standin "$image" 'CMD ["node", "/standin/dittofeed.js", "worker"]' ;;
    dittofeed/dittofeed-admin-cli)
      standin "$image" 'RUN ln -s /standin/admin.sh /service/admin.sh' 'CMD ["sh"]' ;;
    temporalio/server)
      standin "$image" 'RUN mkdir -p /etc/temporal && printf "#!/bin/sh\nexec node /standin/temporal.js\n" > /etc/temporal/entrypoint.sh && chmod +x /etc/temporal/entrypoint.sh && printf "#!/bin/sh\nexec node /standin/tctl.js \"\$@\"\n" > /usr/local/bin/tctl && chmod +x /usr/local/bin/tctl' \
        'ENTRYPOINT ["/etc/temporal/entrypoint.sh"]' ;;
    temporalio/admin-tools)
      standin "$image" 'RUN mkdir -p /etc/temporal/schema/postgresql/v12/temporal/versioned /etc/temporal/schema/postgresql/v12/visibility/versioned && printf "#!/bin/sh\nexec node /standin/tctl.js \"\$@\"\n" > /usr/local/bin/tctl && printf "#!/bin/sh\nexec node /standin/temporal-sql-tool.js \"\$@\"\n" > /usr/local/bin/temporal-sql-tool && chmod +x /usr/local/bin/tctl /usr/local/bin/temporal-sql-tool' ;;
    clickhouse/clickhouse-server)
      standin "$image" 'RUN ln -s /usr/bin/clickhouse /usr/bin/clickhouse-client && mkdir -p /etc/clickhouse-server/config.d /var/lib/clickhouse' \
        'ENTRYPOINT ["node", "/standin/clickhouse-server.js"]' ;;
    cloudflare/cloudflared)
      # The real image is distroless, runs as nonroot and has `cloudflared --no-autoupdate` as
      # its entrypoint; the program passes `tunnel ... run` as the command.
      standin "$image" 'RUN printf "#!/bin/sh\nexec node /standin/cloudflared.js \"\$@\"\n" > /usr/local/bin/cloudflared && chmod +x /usr/local/bin/cloudflared && mkdir -p /etc/cloudflared && chmod 777 /etc/cloudflared' \
        'USER 65532' 'ENTRYPOINT ["cloudflared", "--no-autoupdate"]' ;;
    *) echo "no recipe for $image: add one to tools/e2e/images/build.sh" >&2; exit 1 ;;
  esac
  echo "built: $image"
done
