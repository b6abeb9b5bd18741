#!/usr/bin/env bash
# The e2e run's Docker engine: `start` starts dockerd where none answers (with the bridge MTU of
# the host's default route, as CI needs) and waits for it; `stop` stops only an engine it started
# and removes what a stopped dockerd leaves behind (its iptables chains and docker0); `restart`
# restarts the engine for the egress-guard scenario: one it started, or else docker.service
# through systemctl (on a developer's machine, that engine and all its containers restart).
set -euo pipefail
pidfile=/run/platform-e2e-dockerd.pid
log=${TMPDIR:-/tmp}/platform-e2e-dockerd.log
answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
wait_for() {
  for _ in $(seq 1 60); do answers && return 0; sleep 0.5; done
  echo "dockerd did not answer within 30 s; its log:" >&2; tail -n 30 "$log" >&2; return 1
}
start() {
  answers && return 0
  local dev mtu
  dev=$(ip route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") {print $(i + 1); exit}}')
  mtu=$(cat "/sys/class/net/${dev:-lo}/mtu")
  # Started in a session of its own, so that a signal to the caller's group does not reach it.
  setsid dockerd --mtu "$mtu" >"$log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
  wait_for
  echo "dockerd $(docker version --format '{{.Server.Version}}') started, bridge MTU $mtu"
}
# The dockerd this script started and that still runs; a pid from an old file may be another
# process now (or another engine), which is left alone.
started() {
  [ -f "$pidfile" ] && [ "$(cat "/proc/$(cat "$pidfile")/comm" 2>/dev/null)" = dockerd ] ||
    { rm -f "$pidfile"; return 1; }
}
stop_started() {
  local pid
  pid=$(cat "$pidfile")
  rm -f "$pidfile"
  kill "$pid" 2>/dev/null || true
  # dockerd stops the containerd it started, and its containers, before it exits.
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
}
stop() {
  started || return 0
  stop_started
  # What dockerd leaves: its chains in filter and nat, the jumps to them, its rules for its
  # bridges (forwarding, masquerading), and docker0.
  for table in filter nat; do
    iptables -t "$table" -S | grep -E -- '-j DOCKER|docker0|br-[0-9a-f]{12}' | sed 's/^-A /-D /' | while read -r rule; do
      eval "iptables -t $table $rule" 2>/dev/null || true
    done
    for chain in DOCKER DOCKER-USER DOCKER-ISOLATION-STAGE-1 DOCKER-ISOLATION-STAGE-2; do
      iptables -t "$table" -F "$chain" 2>/dev/null || true
      iptables -t "$table" -X "$chain" 2>/dev/null || true
    done
  done
  ip link delete docker0 2>/dev/null || true
  echo "dockerd stopped; its chains and docker0 removed"
}
restart() {
  if started; then
    stop_started
    start
  else
    systemctl restart docker
    wait_for
  fi
}
"${1:?usage: engine.sh start|stop|restart}"
