#!/usr/bin/env bash
# The hydra-rs cluster on one machine, without Docker.
#
# Builds the release binaries, starts a redis-server on a free port (unless HYDRA_REDIS_URL is
# set), stores the configs of deploy/config/demo/ with `hydra-cli cfg push`, starts hydra-router,
# two hello-service and three hpp-service instances with HYDRA_SERVICE=name:version (so they run
# on the stored configs), waits until the router routes both services, prints the URLs, plays one
# hot potato game through the router and runs until Ctrl-C. Then it stops everything it started,
# by pid: the router, then the services (each withdraws its presence and drains), Redis last.
#
# Every process runs through a link in the demo's own temporary directory, so
# `pgrep -f <run dir>` finds all of them.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/demo.sh [--port N] [--no-game] [--detach] [--log-dir DIR]
       scripts/demo.sh --stop

  --port N       router port (also DEMO_PORT); default 5353, or a free port when 5353 is taken
  --no-game      do not play the hot potato game at start
  --detach       start the cluster, print the URLs and exit, leaving it running
  --stop         stop a cluster started with --detach
  --log-dir DIR  write the process logs to DIR and keep them (default: inside the run
                 directory, removed when the demo stops)

environment:
  HYDRA_REDIS_URL  use this Redis instead of starting one (the demo stores its configs there)
  DEMO_PORT        router port, as --port
  DEMO_TIMEOUT     seconds to wait for each start-up step (default 60)
  RUST_LOG         log filter of the processes (default info)
EOF
}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
BIN_DIR=$TARGET_DIR/release
STATE_FILE=$TARGET_DIR/demo/detached.state
CONFIG_DIR=$ROOT/deploy/config/demo
VERSION=0.1.0
HELLO_INSTANCES=2
HPP_INSTANCES=3
TIMEOUT=${DEMO_TIMEOUT:-60}
BINARIES=(hydra-router hello-service hpp-service hydra-cli)

say() { printf 'demo: %s\n' "$*"; }
warn() { printf 'demo: warning: %s\n' "$*" >&2; }
fail() {
  printf 'demo: error: %s\n' "$*" >&2
  exit 1
}
have() { command -v "$1" >/dev/null 2>&1; }

# ---- arguments -------------------------------------------------------------------------------

PORT=${DEMO_PORT:-}
GAME=1
DETACH=0
STOP=0
LOG_DIR_ARG=
while [ $# -gt 0 ]; do
  case $1 in
    --port)
      [ $# -ge 2 ] || fail "--port needs a number"
      PORT=$2
      shift 2
      ;;
    --port=*)
      PORT=${1#--port=}
      shift
      ;;
    --no-game) GAME=0; shift ;;
    --detach) DETACH=1; shift ;;
    --stop) STOP=1; shift ;;
    --log-dir)
      [ $# -ge 2 ] || fail "--log-dir needs a directory"
      LOG_DIR_ARG=$2
      shift 2
      ;;
    --log-dir=*)
      LOG_DIR_ARG=${1#--log-dir=}
      shift
      ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; fail "unknown argument: $1" ;;
  esac
done
if [ -n "$PORT" ] && ! [[ $PORT =~ ^[0-9]+$ && $PORT -ge 1 && $PORT -le 65535 ]]; then
  fail "the router port must be a number from 1 to 65535, got '$PORT'"
fi
[[ $TIMEOUT =~ ^[0-9]+$ ]] || fail "DEMO_TIMEOUT must be a number of seconds, got '$TIMEOUT'"

# ---- processes -------------------------------------------------------------------------------

# What this run started, in start order: "name pid" lines, mirrored in $RUN_DIR/pids.
NAMES=()
PIDS=()
RUN_DIR=
LOG_DIR=
REDIS_PID=
READY=0
DETACHED=0

# Starts a process in its own session (so a Ctrl-C in the terminal reaches only this script,
# which then stops everything in order) with its working directory in the run dir (so no
# config/config.json of the caller's is picked up), logging to $LOG_DIR/NAME.log.
start() {
  local name=$1
  shift
  local dir=$RUN_DIR/work/$name
  mkdir -p "$dir"
  local session=()
  if have setsid; then session=(setsid); fi
  (cd "$dir" && exec "${session[@]}" "$@" </dev/null >>"$LOG_DIR/$name.log" 2>&1) &
  local pid=$!
  NAMES+=("$name")
  PIDS+=("$pid")
  echo "$name $pid" >>"$RUN_DIR/pids"
  say "started $name (pid $pid, log $LOG_DIR/$name.log)"
}

alive() { kill -0 "$1" 2>/dev/null; }

# Whether pid $1 still runs the program we started (guards against a reused pid in --stop).
ours() {
  local pid=$1 run_dir=$2 args
  if [ -r "/proc/$pid/cmdline" ]; then
    args=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  else
    args=$(ps -o args= -p "$pid" 2>/dev/null) || return 1
  fi
  [[ $args == *"$run_dir"* || $args == redis-server* ]]
}

show_log() {
  local name=$1
  [ -f "$LOG_DIR/$name.log" ] || return 0
  printf -- '--- last lines of %s ---\n' "$LOG_DIR/$name.log" >&2
  tail -n 20 "$LOG_DIR/$name.log" >&2 || true
}

# Fails when one of the started processes has exited.
check_alive() {
  local i
  for i in "${!PIDS[@]}"; do
    if ! alive "${PIDS[$i]}"; then
      show_log "${NAMES[$i]}"
      fail "${NAMES[$i]} (pid ${PIDS[$i]}) exited; its log is above"
    fi
  done
}

# wait_until DESCRIPTION COMMAND...: runs COMMAND every half second until it succeeds; fails
# after $TIMEOUT seconds or as soon as a started process dies.
wait_until() {
  local what=$1
  shift
  local deadline=$((SECONDS + TIMEOUT))
  until "$@"; do
    check_alive
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail "timed out after ${TIMEOUT}s waiting for $what (logs: $LOG_DIR)"
    fi
    sleep 0.5
  done
}

# stop_pids SECONDS PID...: SIGTERM, then SIGKILL for whatever still runs after SECONDS.
stop_pids() {
  local grace=$1
  shift
  local pid left
  [ $# -gt 0 ] || return 0
  for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
  local deadline=$((SECONDS + grace))
  while :; do
    left=()
    for pid in "$@"; do alive "$pid" && left+=("$pid"); done
    [ ${#left[@]} -gt 0 ] || return 0
    if [ "$SECONDS" -ge "$deadline" ]; then
      warn "still running after ${grace}s, killing: ${left[*]}"
      kill -KILL "${left[@]}" 2>/dev/null || true
      return 0
    fi
    sleep 0.2
  done
}

# stop_all RUN_DIR < "name pid" lines: the router first (no new requests), then the services
# (they withdraw their presence and drain), Redis last.
stop_all() {
  local run_dir=$1 name pid router=() services=() redis=()
  while read -r name pid; do
    [ -n "${pid:-}" ] || continue
    alive "$pid" || continue
    if ! ours "$pid" "$run_dir"; then
      warn "pid $pid no longer runs the demo's $name; leaving it alone"
      continue
    fi
    case $name in
      hydra-router) router+=("$pid") ;;
      redis-server) redis+=("$pid") ;;
      *) services+=("$pid") ;;
    esac
  done
  stop_pids 15 ${router[@]+"${router[@]}"}
  stop_pids 20 ${services[@]+"${services[@]}"}
  stop_pids 10 ${redis[@]+"${redis[@]}"}
}

remove_run_dir() {
  local dir=$1
  # Only ever a directory this script made.
  case $dir in
    */hydra-demo.*) [ -d "$dir" ] && rm -rf -- "$dir" ;;
  esac
  return 0
}

# On failure: the end of every log, since the run dir (and with it the logs) goes away.
dump_logs() {
  local f
  [ -n "$LOG_DIR" ] && [ -d "$LOG_DIR" ] || return 0
  for f in "$LOG_DIR"/*.log; do
    [ -s "$f" ] || continue
    printf -- '--- %s (last 10 lines) ---\n' "${f##*/}" >&2
    tail -n 10 "$f" >&2 || true
  done
}

cleanup() {
  local rc=$?
  trap - EXIT
  # Stopping has its own time limits; a second Ctrl-C must not leave half the cluster running.
  trap '' INT TERM
  if [ "$DETACHED" = 1 ]; then
    exit "$rc"
  fi
  case $rc in
    0 | 130 | 143) ;;
    *) dump_logs ;;
  esac
  if [ -n "$RUN_DIR" ] && [ -f "$RUN_DIR/pids" ]; then
    [ ${#PIDS[@]} -eq 0 ] || say "stopping (pids: ${PIDS[*]})"
    stop_all "$RUN_DIR" <"$RUN_DIR/pids"
  fi
  if [ -n "$RUN_DIR" ]; then
    remove_run_dir "$RUN_DIR"
    [ "$rc" = 0 ] && say "stopped; nothing left running"
  fi
  exit "$rc"
}

on_signal() {
  # Ctrl-C is how the demo is meant to end: 0 once it runs, 128+signal before.
  if [ "$READY" = 1 ]; then exit 0; fi
  exit "$1"
}

# ---- --stop ----------------------------------------------------------------------------------

if [ "$STOP" = 1 ]; then
  [ -f "$STATE_FILE" ] || fail "no detached demo is recorded ($STATE_FILE does not exist)"
  run_dir=$(sed -n 's/^run_dir=//p' "$STATE_FILE")
  log_dir=$(sed -n 's/^log_dir=//p' "$STATE_FILE")
  [ -n "$run_dir" ] || fail "$STATE_FILE names no run directory"
  say "stopping the detached demo in $run_dir"
  sed -n 's/^pid=//p' "$STATE_FILE" | stop_all "$run_dir"
  remove_run_dir "$run_dir"
  rm -f -- "$STATE_FILE"
  rmdir -- "$(dirname "$STATE_FILE")" 2>/dev/null || true
  say "stopped; nothing left running"
  case $log_dir in "$run_dir"/*) ;; *) [ -n "$log_dir" ] && say "logs kept in $log_dir" ;; esac
  exit 0
fi

# ---- start -----------------------------------------------------------------------------------

trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

have cargo || fail "cargo is missing: install Rust from https://rustup.rs, then run this again"
have curl || fail "curl is missing: sudo apt-get install curl"
if [ -z "${HYDRA_REDIS_URL:-}" ] && ! have redis-server; then
  fail "redis-server is missing: sudo apt-get install redis-server (Debian/Ubuntu) or brew install redis (macOS); or set HYDRA_REDIS_URL to a Redis you run"
fi
if [ -f "$STATE_FILE" ]; then
  while read -r name pid; do
    if alive "$pid"; then
      fail "a detached demo is running (pid $pid, $name): stop it first with scripts/demo.sh --stop"
    fi
  done < <(sed -n 's/^pid=//p' "$STATE_FILE")
  warn "removing the record of a detached demo that no longer runs"
  remove_run_dir "$(sed -n 's/^run_dir=//p' "$STATE_FILE")"
  rm -f -- "$STATE_FILE"
fi

say "building the release binaries (${BINARIES[*]}); the first build takes a few minutes"
build=(cargo build --release --locked)
for b in "${BINARIES[@]}"; do build+=(-p "$b"); done
"${build[@]}"
for b in "${BINARIES[@]}"; do
  [ -x "$BIN_DIR/$b" ] || fail "the build made no $BIN_DIR/$b"
done

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/hydra-demo.XXXXXX")
if [ -n "$LOG_DIR_ARG" ]; then
  mkdir -p "$LOG_DIR_ARG"
  LOG_DIR=$(cd "$LOG_DIR_ARG" && pwd)
else
  LOG_DIR=$RUN_DIR/logs
  mkdir -p "$LOG_DIR"
fi
: >"$RUN_DIR/pids"
mkdir -p "$RUN_DIR/bin" "$RUN_DIR/config"
for b in "${BINARIES[@]}"; do ln -s "$BIN_DIR/$b" "$RUN_DIR/bin/$b"; done
CLI=$RUN_DIR/bin/hydra-cli
say "run dir $RUN_DIR"
say "logs in $LOG_DIR"

# Router port: as asked, else 5353, else a free one.
if [ -n "$PORT" ]; then
  if port_open "$PORT"; then fail "port $PORT is in use: choose another with --port N"; fi
else
  PORT=5353
  if port_open "$PORT"; then
    PORT=$(free_port) || fail "found no free port for the router"
    say "port 5353 is in use; the router takes $PORT"
  fi
fi

export RUST_LOG=${RUST_LOG:-info}
export NO_COLOR=1

# Redis.
if [ -n "${HYDRA_REDIS_URL:-}" ]; then
  say "using the Redis at $HYDRA_REDIS_URL (configs ${VERSION} of the demo's services are stored there)"
else
  mkdir -p "$RUN_DIR/redis"
  for attempt in 1 2 3 4 5; do
    redis_port=$(free_port) || fail "found no free port for redis-server"
    start redis-server redis-server --port "$redis_port" --bind 127.0.0.1 --save "" \
      --appendonly no --dir "$RUN_DIR/redis"
    REDIS_PID=${PIDS[-1]}
    deadline=$((SECONDS + 10))
    until redis_ping "$redis_port" || ! alive "$REDIS_PID" || [ "$SECONDS" -ge "$deadline" ]; do
      sleep 0.1
    done
    redis_ping "$redis_port" && break
    show_log redis-server
    stop_pids 2 "$REDIS_PID"
    unset 'NAMES[-1]' 'PIDS[-1]'
    [ "$attempt" -lt 5 ] || fail "redis-server did not start (log above)"
    warn "redis-server did not start on port $redis_port; trying another port"
  done
  export HYDRA_REDIS_URL=redis://127.0.0.1:$redis_port/15
  say "redis-server is up at $HYDRA_REDIS_URL"
fi

# Configs: the router's with its port, all without hydra.redis, so each instance uses the Redis
# it pulled its config from.
sed -E "s/(\"servicePort\"[[:space:]]*:[[:space:]]*)[0-9]+/\1$PORT/" \
  "$CONFIG_DIR/hydra-router.json" >"$RUN_DIR/config/hydra-router.json"
grep -Eq "\"servicePort\"[[:space:]]*:[[:space:]]*$PORT\b" "$RUN_DIR/config/hydra-router.json" ||
  fail "could not set the router port in $RUN_DIR/config/hydra-router.json"
cp "$CONFIG_DIR/hello-service.json" "$CONFIG_DIR/hpp-service.json" "$RUN_DIR/config/"
for svc in hydra-router hello-service hpp-service; do
  if ! "$CLI" --redis-url "$HYDRA_REDIS_URL" cfg push "$svc:$VERSION" \
    "$RUN_DIR/config/$svc.json" >>"$LOG_DIR/cfg-push.log" 2>&1; then
    cat "$LOG_DIR/cfg-push.log" >&2
    fail "hydra-cli cfg push $svc:$VERSION failed (output above)"
  fi
  say "stored config $svc:$VERSION (deploy/config/demo/$svc.json)"
done

# The cluster.
start hydra-router env HYDRA_SERVICE="hydra-router:$VERSION" "$RUN_DIR/bin/hydra-router"
for i in $(seq "$HELLO_INSTANCES"); do
  start "hello-service-$i" env HYDRA_SERVICE="hello-service:$VERSION" "$RUN_DIR/bin/hello-service"
done
for i in $(seq "$HPP_INSTANCES"); do
  start "hpp-service-$i" env HYDRA_SERVICE="hpp-service:$VERSION" "$RUN_DIR/bin/hpp-service"
done

URL=http://127.0.0.1:$PORT
router_up() { curl -fsS -o /dev/null --max-time 2 "$URL/v1/router/health"; }
present() {
  local n
  n=$("$CLI" --redis-url "$HYDRA_REDIS_URL" nodes "$1" --json 2>/dev/null | grep -c '"instanceID"') || true
  [ "${n:-0}" -ge "$2" ]
}
routes_known() {
  local routes
  routes=$(curl -fsS --max-time 2 "$URL/v1/router/list/routes") || return 1
  [[ $routes == *'/v1/hello/'* && $routes == *'/v1/hpp/'* ]]
}
hello_routed() { curl -fsS -o /dev/null --max-time 5 "$URL/v1/hello/test"; }

wait_until "the router to answer on $URL" router_up
wait_until "$HELLO_INSTANCES hello-service instances" present hello-service "$HELLO_INSTANCES"
wait_until "$HPP_INSTANCES hpp-service instances" present hpp-service "$HPP_INSTANCES"
wait_until "the router to know the routes of both services" routes_known
wait_until "the router to route /v1/hello/test" hello_routed
READY=1

cat <<EOF

hydra-rs demo: hydra-router, $HELLO_INSTANCES hello-service and $HPP_INSTANCES hpp-service instances on $HYDRA_REDIS_URL

  router      $URL
  dashboard   $URL/
  health      curl $URL/v1/router/health
  hello       curl $URL/v1/hello/test
  hot potato  curl $URL/v1/hpp/startgame
  instances   ${BIN_DIR#"$ROOT"/}/hydra-cli --redis-url $HYDRA_REDIS_URL nodes
  logs        $LOG_DIR

EOF

print_game_log() {
  if have jq; then
    jq -r '.result.gameLog[]? | "  " + tostring' <<<"$1" 2>/dev/null && return
  fi
  if have python3; then
    python3 -c 'import json, sys
for line in json.load(sys.stdin).get("result", {}).get("gameLog", []):
    print("  " + str(line))' <<<"$1" 2>/dev/null && return
  fi
  printf '%s\n' "$1"
}

if [ "$GAME" = 1 ]; then
  say "playing one hot potato game through the router (takes about 10 s)"
  game=$(curl -sS --max-time 90 "$URL/v1/hpp/startgame") ||
    fail "GET $URL/v1/hpp/startgame failed (logs: $LOG_DIR)"
  print_game_log "$game"
  if [[ $game != *"Game over"* ]]; then
    printf '%s\n' "$game" >&2
    fail "the game did not end with 'Game over' (answer above, logs: $LOG_DIR)"
  fi
fi

if [ "$DETACH" = 1 ]; then
  mkdir -p "$(dirname "$STATE_FILE")"
  {
    echo "run_dir=$RUN_DIR"
    echo "log_dir=$LOG_DIR"
    echo "url=$URL"
    echo "redis=$HYDRA_REDIS_URL"
    for i in "${!PIDS[@]}"; do echo "pid=${NAMES[$i]} ${PIDS[$i]}"; done
  } >"$STATE_FILE"
  DETACHED=1
  say "running in the background (pids: ${PIDS[*]}); stop it with: scripts/demo.sh --stop"
  exit 0
fi

say "running; press Ctrl-C to stop"
while :; do
  # A short sleep in the background and `wait`, so Ctrl-C is handled at once.
  sleep 1 &
  wait $! || true
  check_alive
done
