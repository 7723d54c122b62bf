#!/usr/bin/env bash
# Runs the demo on one machine: a local redis-server on a free port (unless HYDRA_REDIS_URL is
# set) and the echo service. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${workdir:-}" ] && rm -rf "$workdir"
}
trap cleanup EXIT INT TERM

cargo build --release -p example-echo-service

if [ -z "${HYDRA_REDIS_URL:-}" ]; then
  command -v redis-server >/dev/null || { echo "redis-server is missing: apt-get install redis-server"; exit 1; }
  workdir=$(mktemp -d)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$workdir" >/dev/null &
  pids+=($!)
  export HYDRA_REDIS_URL="redis://127.0.0.1:$port/15"
  for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
echo "Redis: $HYDRA_REDIS_URL"
target/release/example-echo-service &
pids+=($!)
wait
