#!/usr/bin/env bash
# Deploys the `dev` stack to the local Docker engine with state kept in this checkout
# (.pulumi-state/, git-ignored): no Pulumi Cloud account needed. An empty passphrase is fine for a
# local dev stack; set PULUMI_CONFIG_PASSPHRASE to use your own.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v pulumi >/dev/null || { echo "The Pulumi CLI is required: https://www.pulumi.com/docs/install/" >&2; exit 1; }
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$PWD/.pulumi-state}"
export PULUMI_CONFIG_PASSPHRASE="${PULUMI_CONFIG_PASSPHRASE-}"
mkdir -p .pulumi-state
pulumi stack select dev 2>/dev/null || pulumi stack init dev
pulumi up --stack dev "$@"
