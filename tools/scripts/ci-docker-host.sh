#!/usr/bin/env bash
# Lets a pipeline reach a stack's Docker host as an operator's workstation does
# (docs/docker-host.md): the SSH key and host key from repository secrets, and a local forward to
# the Postgres admin port, which the host publishes on its own 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/../.."
stack="${1:?usage: tools/scripts/ci-docker-host.sh <stack>}"
stack_file="${STACK_FILE:-Pulumi.${stack}.yaml}"
: "${DOCKER_SSH_KEY:?the repository secret DOCKER_SSH_KEY is not set}"
: "${DOCKER_SSH_KNOWN_HOSTS:?the repository secret DOCKER_SSH_KNOWN_HOSTS is not set}"

install -d -m 700 ~/.ssh
printf '%s\n' "$DOCKER_SSH_KEY" > ~/.ssh/id_ed25519
chmod 600 ~/.ssh/id_ed25519
printf '%s\n' "$DOCKER_SSH_KNOWN_HOSTS" >> ~/.ssh/known_hosts

# docker:host and the admin port, as the stack file sets them.
read -r target port < <(node -e '
  const config = require("yaml").parse(require("fs").readFileSync(process.argv[1], "utf8")).config ?? {};
  const host = config["docker:host"] ?? "";
  if (!host.startsWith("ssh://")) {
    console.error(`${process.argv[1]} sets no docker:host ssh://user@host (pulumi config set docker:host ...)`);
    process.exit(1);
  }
  console.log(host.slice("ssh://".length), config["platform:postgres"]?.adminPort ?? 15432);
' "$stack_file")

# Later steps' docker CLI (the backup health check) reaches the same host over SSH.
[ -z "${GITHUB_ENV:-}" ] || echo "DOCKER_HOST=ssh://${target}" >> "$GITHUB_ENV"
ssh -fN -o ExitOnForwardFailure=yes -L "${port}:127.0.0.1:${port}" "$target"
echo "Docker host ${target}: SSH ready, Postgres admin port ${port} forwarded"
