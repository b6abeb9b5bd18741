#!/usr/bin/env bash
# Forwards the in-cluster Postgres of a Kubernetes stack to 127.0.0.1, where the postgresql
# provider reaches it (platform:postgres.adminPort), for as long as it runs: it waits for the pod
# to be ready, forwards, and forwards again when the pod restarts or moves. Start it before
# `pulumi up`, in a second terminal:  tools/scripts/postgres-forward.sh <stack> [port]
set -euo pipefail
stack=${1:?usage: tools/scripts/postgres-forward.sh <stack> [local port, default 15432]}
port=${2:-15432}
namespace="$stack-data"
while true; do
  if kubectl -n "$namespace" wait --for=condition=Ready pod/postgres-0 --timeout=30s >/dev/null 2>&1; then
    kubectl -n "$namespace" port-forward --address 127.0.0.1 svc/postgres "$port:5432" || true
  fi
  sleep "${FORWARD_RETRY_SECONDS:-2}"
done
