#!/usr/bin/env bash
# The seed's swarm, for real, on a one-node Docker swarm: servicenet created as the seed does,
# Redis from deploy/swarm/redis.yml, the configs pushed with the hydra-cli image (`cfg push` run
# inside it, as on a manager), then deploy/swarm/stack.yml with the one-node override of
# tests/swarm/one-node.py (placement, dnsrr, no ingress port; a stand-in for the routing mesh on
# 127.0.0.1 in front of the router tasks' port 80). It checks and prints:
#
#   3 + 5 + 5 replicas healthy, every task on a read-only root with no capabilities and nothing
#   written (the stack's read_only and cap_drop); 50 GETs of /v1/hello/test through port 80 spread over all 5 hello
#   instances; hot potato games with 5 players end in "Game over"; under steady load (wrk),
#   rolling updates (`docker service update --image`) of hello-service to the rebuilt tag, then of
#   hydra-router, with 0 failed requests; `docker service scale hello-service=8` and how soon the
#   router uses the new instances (within 3 s of their registration); `docker kill` of one hello
#   container under load with 0 failed requests; `docker stack rm`: every task exits 0 on SIGTERM
#   and no presence key is left 5 s later.
#
# The machine is left as it was found: a swarm, servicenet, the node label and the stacks this
# script made are removed again. Needs a Docker engine, wrk, python3 with PyYAML, and the images
# (scripts/images.sh, which also builds hydra-rs/hello-service:TAG-rebuild).
# Env: MESH_PORT (default 80), SWARM_LOAD_CONNECTIONS (default 8).
# Prints "N passed, N failed"; exits 1 when anything failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

TAG=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
VERSION=$TAG
STACK=hydra
REDIS_STACK=hydra-redis
MESH=hydra-swarmtest-mesh
MESH_PORT=${MESH_PORT:-80}
CONNS=${SWARM_LOAD_CONNECTIONS:-8}
REDIS_URL=redis://redis:6379/15
BASE=http://127.0.0.1:$MESH_PORT

section() { printf '\n== %s\n' "$*"; }
WAIT_INTERVAL=1
for tool in docker wrk python3 curl; do
  command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done
docker info >/dev/null 2>&1 || { echo "no Docker engine answers (scripts/docker-up.sh starts one)" >&2; exit 1; }
PYTHON=python3
if ! python3 -c 'import yaml' 2>/dev/null; then
  PYTHON=$ROOT/target/deploy-check/venv/bin/python
  if ! "$PYTHON" -c 'import yaml' 2>/dev/null; then
    python3 -m venv "$ROOT/target/deploy-check/venv" && "$PYTHON" -m pip install -q pyyaml
  fi
fi
for image in hydra-router hello-service hpp-service hydra-cli; do
  docker image inspect "hydra-rs/$image:$TAG" >/dev/null 2>&1 ||
    { echo "image hydra-rs/$image:$TAG missing: run scripts/images.sh first" >&2; exit 1; }
done
docker image inspect "hydra-rs/hello-service:$TAG-rebuild" >/dev/null 2>&1 ||
  { echo "image hydra-rs/hello-service:$TAG-rebuild missing: run scripts/images.sh first" >&2; exit 1; }
docker image inspect hydra-rs-test/mesh:local >/dev/null 2>&1 || tests/images/standins/build.sh mesh
docker image inspect redis:7.2-alpine >/dev/null 2>&1 || tests/images/standins/build.sh redis
if port_open "$MESH_PORT"; then
  echo "port $MESH_PORT is taken on 127.0.0.1; set MESH_PORT" >&2
  exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hydra-swarm.XXXXXX")
MADE_SWARM=0
MADE_NET=0
NODE=
cleanup() {
  local rc=$?
  trap - EXIT
  section "cleanup"
  docker rm -f "$MESH" >/dev/null 2>&1 || true
  docker stack rm "$STACK" >/dev/null 2>&1 || true
  docker stack rm "$REDIS_STACK" >/dev/null 2>&1 || true
  # Stacks go away asynchronously; their tasks must be gone before the network can be.
  local deadline=$((SECONDS + 60))
  while [ -n "$(docker ps -aq --filter "label=com.docker.stack.namespace=$STACK")$(docker ps -aq --filter "label=com.docker.stack.namespace=$REDIS_STACK")" ] &&
    [ "$SECONDS" -lt "$deadline" ]; do sleep 1; done
  docker volume rm "${REDIS_STACK}_redis-data" >/dev/null 2>&1 || true
  [ -z "$NODE" ] || docker node update --label-rm hydra.redis "$NODE" >/dev/null 2>&1 || true
  if [ "$MADE_NET" = 1 ]; then
    deadline=$((SECONDS + 30))
    until docker network rm servicenet >/dev/null 2>&1 || [ "$SECONDS" -ge "$deadline" ]; do sleep 1; done
  fi
  if [ "$MADE_SWARM" = 1 ]; then docker swarm leave --force >/dev/null 2>&1 || true; fi
  rm -rf -- "$WORK"
  echo "left the machine as it was (swarm made here: $MADE_SWARM, servicenet made here: $MADE_NET)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- the swarm, servicenet, Redis --------------------------------------------------------------

section "swarm"
if [ "$(docker info -f '{{.Swarm.LocalNodeState}}')" != active ]; then
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
  MADE_SWARM=1
  pass "docker swarm init --advertise-addr 127.0.0.1"
else
  echo "using the swarm this machine is in"
fi
NODE=$(docker info -f '{{.Swarm.NodeID}}')
if docker network inspect servicenet >/dev/null 2>&1; then
  echo "using the existing servicenet"
else
  make_net() { docker network create --driver overlay --attachable --subnet 10.0.9.0/24 servicenet >/dev/null; }
  check "docker network create --driver overlay --attachable --subnet 10.0.9.0/24 servicenet" make_net
  MADE_NET=1
fi

# deploy NAME FILE: the stack file with the one-node override, deployed with local images.
deploy() {
  local name=$1 file=$2
  REGISTRY=hydra-rs TAG=$TAG docker stack config -c "$file" | "$PYTHON" tests/swarm/one-node.py >"$WORK/$name.yml"
  docker stack deploy --resolve-image never -c "$WORK/$name.yml" "$name" >"$WORK/$name.deploy.log" 2>&1 ||
    { cat "$WORK/$name.deploy.log"; return 1; }
}

docker node update --label-add hydra.redis=true "$NODE" >/dev/null
check "Redis: docker stack deploy -c deploy/swarm/redis.yml $REDIS_STACK" deploy "$REDIS_STACK" deploy/swarm/redis.yml
redis_container() { docker ps -q --filter "label=com.docker.swarm.service.name=${REDIS_STACK}_redis" | head -n 1; }
rcli() { docker exec "$(redis_container)" redis-cli -n 15 "$@"; }
redis_up() { [ -n "$(redis_container)" ] && [ "$(rcli ping 2>/dev/null)" = PONG ]; }
check "Redis answers" wait_for 60 redis_up

# ---- the configs, pushed from the hydra-cli image -------------------------------------------

section "configs: hydra-cli cfg push, inside the image"
cli() {
  docker run --rm --network servicenet --read-only --cap-drop ALL --security-opt no-new-privileges \
    -e "HYDRA_REDIS_URL=$REDIS_URL" "hydra-rs/hydra-cli:$TAG" "$@"
}
push() {
  local tries
  for tries in 1 2 3 4 5 6 7 8 9 10; do
    cli cfg push "$1:$VERSION" "configs/swarm/$1.json" >"$WORK/push.log" 2>&1 && return 0
    sleep "$tries"
  done
  cat "$WORK/push.log"
  return 1
}
for name in hydra-router hello-service hpp-service; do
  check "docker run hydra-rs/hydra-cli:$TAG cfg push $name:$VERSION configs/swarm/$name.json" push "$name"
done
cli cfg list hello-service >"$WORK/list.log" 2>&1 || true
check "hydra-cli cfg list shows hello-service:$VERSION" grep -q "$VERSION" "$WORK/list.log"

# ---- the stack ---------------------------------------------------------------------------------

section "the stack: deploy/swarm/stack.yml"
started=$SECONDS
check "docker stack deploy -c deploy/swarm/stack.yml $STACK (one-node override)" deploy "$STACK" deploy/swarm/stack.yml
cat >"$WORK/mesh.cfg" <tests/swarm/mesh.cfg
docker run -d --name "$MESH" --network servicenet -p "127.0.0.1:$MESH_PORT:80" \
  -v "$WORK/mesh.cfg:/etc/haproxy/haproxy.cfg:ro" hydra-rs-test/mesh:local >/dev/null

# healthy SERVICE N: N containers of the service, all healthy.
healthy() {
  local n
  n=$(docker ps --filter "label=com.docker.swarm.service.name=${STACK}_$1" --format '{{.Status}}' | grep -c '(healthy)' || true)
  [ "$n" -eq "$2" ]
}
all_healthy() { healthy hydra-router 3 && healthy hello-service 5 && healthy hpp-service 5; }
check "3 hydra-router + 5 hello-service + 5 hpp-service replicas healthy" wait_for 180 all_healthy
echo "  healthy $((SECONDS - started)) s after the deploy"
docker service ls --filter "label=com.docker.stack.namespace=$STACK" --format '  {{.Name}} {{.Replicas}} {{.Image}}'
users=$(docker ps --filter "label=com.docker.stack.namespace=$STACK" -q | xargs docker inspect -f '{{.Config.User}}' | sort -u | tr '\n' ' ')
check "every task runs as the non-root user ($users)" [ "$users" = "65532:65532 " ]
# The stack's read_only and cap_drop, as the engine applied them: one line per distinct setting,
# counted. (Its tasks get no no-new-privileges: docker stack deploy ignores security_opt.)
tasks=$(docker ps --filter "label=com.docker.stack.namespace=$STACK" -q)
# shellcheck disable=SC2086 # one argument per container id
hardening=$(docker inspect -f '{{.HostConfig.ReadonlyRootfs}} {{json .HostConfig.CapDrop}} {{json .HostConfig.CapAdd}} tmpfs={{len .HostConfig.Tmpfs}} rw={{range .Mounts}}{{if .RW}}{{.Destination}},{{end}}{{end}}' $tasks |
  sort | uniq -c | sed 's/^ *//')
check "every task on a read-only root, cap_drop ALL, nothing writable mounted ($hardening)" \
  [ "$hardening" = '13 true ["ALL"] null tmpfs=0 rw=' ]
written=$(for c in $tasks; do docker diff "$c"; done | sort -u | tr '\n' ' ')
check "no task wrote to its filesystem (docker diff: ${written:-nothing})" [ -z "$written" ]

hello_ids() {
  # hello_ids N: the instance ids of N GETs of /v1/hello/test through port 80, one a line.
  local _
  for _ in $(seq "$1"); do
    # (The body ends without a newline; echo gives sed a whole line.)
    { curl -fsS --max-time 5 "$BASE/v1/hello/test" 2>/dev/null; echo; } |
      sed -n 's/.*hello from hello-service - \([0-9a-f]*\).*/\1/p'
  done
}
routed() { curl -fsS --max-time 5 "$BASE/v1/hello/test" 2>/dev/null | grep -q 'hello from hello-service'; }
check "port 80 (the mesh stand-in) routes /v1/hello/test" wait_for 60 routed
hello_ids 50 >"$WORK/ids"
answered=$(grep -c . "$WORK/ids" || true)
distinct=$(sort -u "$WORK/ids" | grep -c . || true)
check "50 GETs of /v1/hello/test through port 80: $answered answered" [ "$answered" -eq 50 ]
check "… spread over all 5 hello instances ($distinct seen: $(sort "$WORK/ids" | uniq -c | awk '{print $1}' | tr '\n' ' '))" [ "$distinct" -eq 5 ]

presence_count() { rcli --scan --pattern "hydra:service:$1:*:presence" | grep -c . || true; }
check "5 hpp-service players present" [ "$(presence_count hpp-service)" -eq 5 ]
for game in 1 2; do
  out=$(curl -fsS --max-time 60 "$BASE/v1/hpp/startgame" 2>&1 || true)
  holders=$(grep -o '\[[0-9a-f]*\]: received hot potato' <<<"$out" | sort -u | grep -c . || true)
  check "hot potato game $game with 5 players ends in \"Game over\" ($holders players held the potato)" \
    grep -q 'Game over' <<<"$out"
done

# ---- rolling updates under load --------------------------------------------------------------

# load_start SECONDS: wrk through port 80 in the background, its report in $WORK/wrk.txt.
load_start() {
  wrk -t2 -c"$CONNS" -d"$1s" --timeout 10s "$BASE/v1/hello/test" >"$WORK/wrk.txt" 2>&1 &
  LOAD_PID=$!
}
# load_stop WHAT: ends the load (SIGINT: wrk prints its report), prints it, checks 0 failed.
load_stop() {
  kill -INT "$LOAD_PID" 2>/dev/null || true
  wait "$LOAD_PID" 2>/dev/null || true
  local sent non2xx errors
  sent=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$WORK/wrk.txt")
  non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$WORK/wrk.txt")
  errors=$(sed -n 's/^ *Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' "$WORK/wrk.txt" |
    awk '{print $1 + $2 + $3 + $4}')
  local rps p
  rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$WORK/wrk.txt")
  p=$(awk '/Latency/ {print $2; exit}' "$WORK/wrk.txt")
  local failed=$(( ${non2xx:-0} + ${errors:-0} ))
  echo "  load: ${sent:-?} requests, ${rps:-?} req/s, mean latency ${p:-?}, ${non2xx:-0} non-2xx, ${errors:-0} socket errors"
  check "$1: 0 failed requests of ${sent:-?}" test "${sent:-0}" -gt 0 -a "$failed" -eq 0
}

# rolling_update SERVICE IMAGE REPLICAS: `docker service update --image` under steady load; no
# request may fail, and the service must end on the new image with every replica healthy.
rolling_update() {
  local service=$1 image=$2 replicas=$3 started
  section "rolling update of $service under load"
  load_start 900
  sleep 3
  started=$SECONDS
  if docker service update --quiet --image "$image" "${STACK}_$service" >"$WORK/update.log" 2>&1; then
    pass "docker service update --image $image ($((SECONDS - started)) s, rolling, start-first)"
  else
    cat "$WORK/update.log"
    fail "docker service update of $service"
  fi
  sleep 2
  load_stop "rolling update of $service"
  local now
  now=$(docker service inspect -f '{{.Spec.TaskTemplate.ContainerSpec.Image}}' "${STACK}_$service")
  check "$service now runs ${now%%@*}" [ "${now%%@*}" = "$image" ]
  check "$replicas $service replicas healthy after the update" wait_for 60 healthy "$service" "$replicas"
}

rolling_update hello-service "hydra-rs/hello-service:$TAG-rebuild" 5
# The router's new image: the same binary under a new tag (a release with no router change),
# which makes swarm replace every task all the same.
docker tag "hydra-rs/hydra-router:$TAG" "hydra-rs/hydra-router:$TAG-rollout"
rolling_update hydra-router "hydra-rs/hydra-router:$TAG-rollout" 3
docker rmi "hydra-rs/hydra-router:$TAG-rollout" >/dev/null 2>&1 || true

# ---- scaling -----------------------------------------------------------------------------------

section "docker service scale hello-service=8"
presence_ids() { rcli --scan --pattern 'hydra:service:hello-service:*:presence' | sed 's/^hydra:service:hello-service:\(.*\):presence$/\1/' | sort -u; }
presence_ids >"$WORK/before"
docker service scale --detach "${STACK}_hello-service=8" >/dev/null 2>&1
# For each new instance: when its presence key was first seen, and when a request was first
# routed to it (batches of 24 GETs: 8 through each router). The lag is the largest difference.
declare -A REG=() ROUTED=()
deadline=$((SECONDS + 120))
complete=0
while [ "$SECONDS" -lt "$deadline" ]; do
  now=$(date +%s.%N)
  while read -r id; do
    [ -n "${REG[$id]:-}" ] || REG[$id]=$now
  done < <(presence_ids | comm -13 "$WORK/before" -)
  hello_ids 24 >"$WORK/batch"
  now=$(date +%s.%N)
  while read -r id; do
    if [ -n "${REG[$id]:-}" ] && [ -z "${ROUTED[$id]:-}" ]; then ROUTED[$id]=$now; fi
  done < <(sort -u "$WORK/batch")
  if [ "${#REG[@]}" -ge 3 ] && [ "${#ROUTED[@]}" -eq "${#REG[@]}" ]; then
    complete=1
    break
  fi
done
lags=
for id in "${!REG[@]}"; do
  [ -z "${ROUTED[$id]:-}" ] || lags+="$(awk -v a="${REG[$id]}" -v b="${ROUTED[$id]}" 'BEGIN { printf "%.1f", b - a }') "
done
worst=$(tr ' ' '\n' <<<"$lags" | sort -n | tail -n 1)
if [ "$complete" = 1 ]; then
  check "the router used each of the 3 new instances within 3 s of its registration (${lags% }; worst ${worst} s)" \
    awk -v l="$worst" 'BEGIN { exit !(l <= 3) }'
else
  fail "3 new hello-service instances registered and routed within 120 s (${#REG[@]} registered, ${#ROUTED[@]} routed)"
fi
check "8 hello-service replicas healthy" wait_for 90 healthy hello-service 8

# ---- a task killed under load ------------------------------------------------------------------

section "docker kill of one hello-service container under load"
load_start 900
sleep 3
victim=$(docker ps -q --filter "label=com.docker.swarm.service.name=${STACK}_hello-service" | head -n 1)
kill_it() { docker kill "$1" >/dev/null; }
check "docker kill $victim" kill_it "$victim"
sleep 10
load_stop "one hello-service container killed"
check "swarm replaced it: 8 hello-service replicas healthy" wait_for 90 healthy hello-service 8

# ---- docker stack rm ---------------------------------------------------------------------------

section "docker stack rm"
since=$(date +%s)
docker stack rm "$STACK" >/dev/null
stack_gone() { [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$STACK")" ]; }
check "every task of the stack gone within 60 s" wait_for 60 stack_gone
sleep 5
left=$(rcli --scan --pattern 'hydra:service:*:presence' | grep -c . || true)
check "no presence key left 5 s later ($left)" [ "$left" -eq 0 ]
docker events --since "$since" --until "$(date +%s)" --filter type=container --filter event=die \
  --filter "label=com.docker.stack.namespace=$STACK" --format '{{.Actor.Attributes.exitCode}}' >"$WORK/exits"
stopped=$(grep -c . "$WORK/exits" || true)
clean=$(grep -cx 0 "$WORK/exits" || true)
check "every task stopped by SIGTERM exited 0 ($clean of $stopped)" test "$stopped" -gt 0 -a "$clean" -eq "$stopped"

summary
