#!/usr/bin/env bash
# Builds, on this machine's Docker engine and from Debian packages only (no registry is reachable
# here), the images the program pulls, under the names it pulls them by. The base is a minbase
# bookworm from the apt mirror the machine is configured with (measured: 23 s, and 1 s to import).
# Work in progress for issue 27: PostgreSQL, Redis and HAProxy so far.
set -euo pipefail
cd "$(dirname "$0")"
if ! docker image inspect local/debian:bookworm >/dev/null 2>&1; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase bookworm "$root" "$mirror" >/dev/null
  tar -C "$root" -c . | docker import - local/debian:bookworm >/dev/null
fi
# The tag is the program's default (config/schema.ts), so its own specs run unchanged.
for image in postgres:15.13 redis:7.4.2-alpine haproxy:2.6-alpine; do
  docker build -q -t "$image" "${image%%:*}" >/dev/null
  echo "built: $image"
done
