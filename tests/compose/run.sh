#!/usr/bin/env bash
# The README's compose deployment, for real: `up --build -d` with docker-compose.yml as it is
# (with `docker compose`, and with Debian's docker-compose 1.29 where that is what the machine
# has), then through the published router port: hello-service answers, a hot potato game ends in
# "Game over"; every container turns healthy (the images' own health checks), the hydra-rs ones
# hardened as the file says (a read-only root with nothing writable mounted, no capabilities,
# no-new-privileges) and with nothing written (`docker diff`), as is a plain hardened `docker run`
# of hello-service on another port; `down` leaves no container, network or volume of the project
# behind.
#
# Needs a Docker engine and the images' base images (scripts/images.sh builds both, stand-ins
# where no registry answers). Prints "N passed, N failed"; exits 1 when anything failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

WAIT_INTERVAL=1

if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  COMPOSE=(docker-compose)
else
  echo "neither 'docker compose' nor docker-compose is installed" >&2
  exit 1
fi
PROJECT=hydra-rs-composetest
PORT=$(free_port)
export ROUTER_PORT=$PORT
dc() { "${COMPOSE[@]}" -p "$PROJECT" "$@"; }
dc_quiet() { dc "$@" >"$LOG" 2>&1 || { cat "$LOG"; return 1; }; }
LOG=$(mktemp "${TMPDIR:-/tmp}/hydra-compose.XXXXXX")
cleanup() {
  local rc=$?
  docker rm -f "$PROJECT-hello-5123" >/dev/null 2>&1 || true
  dc down --remove-orphans --volumes >/dev/null 2>&1 || true
  rm -f -- "$LOG"
  exit "$rc"
}
trap cleanup EXIT
echo "using: ${COMPOSE[*]} ($("${COMPOSE[@]}" version --short 2>/dev/null || echo '?')), router on 127.0.0.1:$PORT"

started=$SECONDS
if dc up --build -d >"$LOG" 2>&1; then
  pass "${COMPOSE[*]} up --build -d ($((SECONDS - started)) s)"
else
  tail -n 30 "$LOG"
  fail "${COMPOSE[*]} up --build -d"
  summary
fi

hello() { curl -fsS --max-time 5 "http://127.0.0.1:$PORT/v1/hello/test" 2>/dev/null | grep -q 'hello from hello-service'; }
check "GET /v1/hello/test through the published port answers hello" wait_for 60 hello

# Both hello instances answer (the router spreads over them).
declare -A seen=()
for _ in $(seq 20); do
  id=$(curl -fsS --max-time 5 "http://127.0.0.1:$PORT/v1/hello/test" 2>/dev/null |
    sed -n 's/.*hello from hello-service - \([0-9a-f]*\).*/\1/p')
  [ -z "$id" ] || seen[$id]=1
done
check "20 GETs reach both hello-service instances (${#seen[@]} seen)" [ "${#seen[@]}" -eq 2 ]

game=$(curl -fsS --max-time 60 "http://127.0.0.1:$PORT/v1/hpp/startgame" 2>&1 || true)
check "a hot potato game through the router ends in \"Game over\"" grep -q 'Game over' <<<"$game"

containers() { docker ps -a -q --filter "label=com.docker.compose.project=$PROJECT"; }
all_healthy() {
  local c n=0
  for c in $(containers); do
    [ "$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$c")" = healthy ] || return 1
    n=$((n + 1))
  done
  [ "$n" -eq 7 ]
}
check "all 7 containers healthy (redis, router, 2 hello, 3 hpp)" wait_for 60 all_healthy
docker ps --filter "label=com.docker.compose.project=$PROJECT" --format '  {{.Names}}: {{.Status}}'

# hardened CONTAINER: a read-only root, every capability dropped, no-new-privileges, no tmpfs and
# no writable mount, and nothing written to its filesystem since it started.
hardened() {
  local got want='^true \["ALL"\] null \["no-new-privileges(:true)?"\] tmpfs=0 rw=$'
  got=$(docker inspect -f '{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.CapDrop}} {{json .HostConfig.CapAdd}} {{json .HostConfig.SecurityOpt}} tmpfs={{len .HostConfig.Tmpfs}} rw={{range .Mounts}}{{if .RW}}{{.Destination}},{{end}}{{end}}' "$1")
  [[ $got =~ $want ]] ||
    { echo "  $1: $got"; return 1; }
  [ -z "$(docker diff "$1")" ] || { echo "  $1 wrote: $(docker diff "$1" | tr '\n' ' ')"; return 1; }
}
for c in $(docker ps -q --filter "label=com.docker.compose.project=$PROJECT"); do
  name=$(docker inspect -f '{{.Name}}' "$c")
  [ "$(docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}}' "$c")" != redis ] || continue
  check "${name#/}: read-only root, cap_drop ALL, no-new-privileges, nothing writable, nothing written" hardened "$c"
done

# An instance on another port than the image's (5000): its health check follows it. Started as
# ops harden a container by hand (no tmpfs: nothing is writable).
moved=$PROJECT-hello-5123
docker run -d --name "$moved" --network "${PROJECT}_servicenet" -e HYDRA_REDIS_URL=redis://redis:6379/15 \
  --read-only --cap-drop ALL --security-opt no-new-privileges \
  -e HYDRA_SERVICE='servicePort=5123' "hydra-rs/hello-service:${TAG:-$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)}" >/dev/null
moved_healthy() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$moved" 2>/dev/null)" = healthy ]; }
check "docker run --read-only --cap-drop ALL --security-opt no-new-privileges of hello-service on port 5123 (HYDRA_SERVICE=servicePort=5123) turns healthy" \
  wait_for 60 moved_healthy
check "… and is hardened so, with nothing written" hardened "$moved"
docker rm -f "$moved" >/dev/null

dc run --rm hydra-cli nodes >"$LOG" 2>&1 || true
check "hydra-cli (compose run) lists the instances" grep -q 'hpp-service' "$LOG"

started=$SECONDS
check "${COMPOSE[*]} down" dc_quiet down --remove-orphans --volumes
echo "  down took $((SECONDS - started)) s"
check "no container of the project left" [ -z "$(containers)" ]
check "no network of the project left" \
  [ -z "$(docker network ls -q --filter "label=com.docker.compose.project=$PROJECT")" ]
check "no volume of the project left" \
  [ -z "$(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT")" ]

summary
