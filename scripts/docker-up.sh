#!/usr/bin/env bash
# Makes sure a Docker engine answers: starts dockerd in the background when none does (as root,
# logging to target/dockerd.log) and waits for it. `scripts/docker-up.sh --stop` stops the one it
# started, and nothing else, so a machine is left as it was found.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${CARGO_TARGET_DIR:-$ROOT/target}
case $STATE in /*) ;; *) STATE=$ROOT/$STATE ;; esac
PIDFILE=$STATE/dockerd.pid

if [ "${1:-}" = --stop ]; then
  [ -f "$PIDFILE" ] || exit 0
  pid=$(cat "$PIDFILE")
  rm -f "$PIDFILE"
  if kill -TERM "$pid" 2>/dev/null; then
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    echo "stopped the dockerd this script started (pid $pid)"
  fi
  exit 0
fi

if docker info >/dev/null 2>&1; then
  echo "a Docker engine answers: $(docker version -f '{{.Server.Version}}' 2>/dev/null)"
  exit 0
fi
command -v dockerd >/dev/null || { echo "dockerd is not installed (apt-get install docker.io)" >&2; exit 1; }
mkdir -p "$STATE"
# Its own session, so it outlives the shell that started it (and CI's job control).
setsid dockerd >"$STATE/dockerd.log" 2>&1 </dev/null &
echo $! >"$PIDFILE"
for _ in $(seq 60); do
  if docker info >/dev/null 2>&1; then
    echo "started dockerd (pid $(cat "$PIDFILE")): $(docker version -f '{{.Server.Version}}' 2>/dev/null)"
    exit 0
  fi
  sleep 0.5
done
echo "dockerd did not answer within 30 s:" >&2
tail -n 20 "$STATE/dockerd.log" >&2
exit 1
