#!/usr/bin/env bash
# Fails unless the stack's backup service runs and Docker reports it healthy. Its health check
# (components/data/backupScripts.ts) fails once the last complete backup set is older than its interval and grace, so
# a backup that stopped succeeding shows here, with the service's last lines of its own.
set -euo pipefail
stack="${1:?usage: tools/scripts/backup-health.sh <stack>}"
name="${stack}-backup"
if ! status=$(docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}no health check{{end}}' "$name" 2>&1); then
  echo "No backup service ${name} on the Docker host: ${status}" >&2
  exit 1
fi
echo "${name}: ${status}"
docker logs --tail 20 "$name" 2>&1 | grep '^backup:' | tail -n 3 || true
if [ "$status" != healthy ]; then
  # The health check's own words: the databases without a dump, if that is why.
  docker inspect --format '{{with .State.Health}}{{range .Log}}{{.Output}}{{end}}{{end}}' "$name" 2>/dev/null | tail -n 1 >&2 || true
  echo "The backup service of stack ${stack} is ${status}: a database without a dump in its latest try, or no complete set within its interval. Read docker logs ${name}." >&2
  exit 1
fi
