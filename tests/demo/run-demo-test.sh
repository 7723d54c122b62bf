#!/usr/bin/env bash
# End-to-end test of scripts/demo.sh: runs the demo on a free router port, waits for the hot
# potato game's "Game over", sends SIGINT as a Ctrl-C would, and checks that the demo exits 0
# and leaves nothing behind: none of the processes it started (by the pids it printed, and by
# `pgrep -f` on its run directory), no redis-server, no run directory.
#
# The release build runs first, outside the time limit; DEMO_TEST_TIMEOUT (default 120 s) is
# the limit from starting the demo to "Game over".
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
TIMEOUT=${DEMO_TEST_TIMEOUT:-120}
STOP_TIMEOUT=60

# Job control: the demo runs in its own process group and, unlike a background job of a
# non-interactive shell, does not start with SIGINT ignored, so its Ctrl-C trap can run.
set -m

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hydra-demo-test.XXXXXX")
OUT=$WORK/demo.out
DEMO_PID=
FAILURES=()

note() { printf 'demo-test: %s\n' "$*"; }
check() {
  # check DESCRIPTION COMMAND...: records a failure when COMMAND fails.
  local what=$1
  shift
  if "$@"; then
    note "ok: $what"
  else
    note "FAILED: $what"
    FAILURES+=("$what")
  fi
}

finish() {
  local rc=$?
  trap - EXIT
  if [ -n "$DEMO_PID" ] && kill -0 "$DEMO_PID" 2>/dev/null; then
    kill -INT "$DEMO_PID" 2>/dev/null || true
    sleep 20 &
    wait $! || true
    kill -TERM "$DEMO_PID" 2>/dev/null || true
  fi
  rm -rf -- "$WORK"
  exit "$rc"
}
trap finish EXIT

no_process_matches() { ! pgrep -f -- "$1" >/dev/null; }
redis_gone() { ! redis_ping "$1"; }

note "building the release binaries"
cargo build --release --locked -p hydra-router -p hello-service -p hpp-service -p hydra-cli

PORT=$(free_port)
note "starting scripts/demo.sh --port $PORT (output in $OUT)"
scripts/demo.sh --port "$PORT" >"$OUT" 2>&1 &
DEMO_PID=$!

deadline=$((SECONDS + TIMEOUT))
game_over=0
while [ "$SECONDS" -lt "$deadline" ]; do
  if grep -q 'Game over' "$OUT"; then
    game_over=1
    break
  fi
  kill -0 "$DEMO_PID" 2>/dev/null || break
  sleep 1
done

RUN_DIR=$(sed -n 's/^demo: run dir //p' "$OUT" | head -n 1)
PIDS=$(sed -n 's/^demo: started \([^ ]*\) (pid \([0-9]*\),.*/\2/p' "$OUT" | tr '\n' ' ')
REDIS_PORT=$(sed -n 's|^demo: redis-server is up at redis://127.0.0.1:\([0-9]*\)/.*|\1|p' "$OUT" | head -n 1)
note "run dir: ${RUN_DIR:-?}; pids: ${PIDS:-?}; redis port: ${REDIS_PORT:-?}"

status=
if kill -0 "$DEMO_PID" 2>/dev/null; then
  note "sending SIGINT to the demo (pid $DEMO_PID)"
  kill -INT "$DEMO_PID"
  stop_deadline=$((SECONDS + STOP_TIMEOUT))
  while kill -0 "$DEMO_PID" 2>/dev/null && [ "$SECONDS" -lt "$stop_deadline" ]; do sleep 0.5; done
fi
if kill -0 "$DEMO_PID" 2>/dev/null; then
  note "the demo did not exit within ${STOP_TIMEOUT}s of SIGINT"
else
  set +e
  wait "$DEMO_PID"
  status=$?
  set -e
  DEMO_PID=
fi

check "\"Game over\" within ${TIMEOUT}s" [ "$game_over" = 1 ]
check "the demo exited with status 0 (got ${status:-none})" [ "$status" = 0 ]
check "the demo printed its run dir" [ -n "$RUN_DIR" ]
check "the demo printed the pids of 7 processes (router, 2 hello, 3 hpp, redis)" \
  [ "$(wc -w <<<"$PIDS")" -eq 7 ]
still=()
for pid in $PIDS; do kill -0 "$pid" 2>/dev/null && still+=("$pid"); done
check "none of the printed pids still runs${still[*]:+ (running: ${still[*]})}" [ ${#still[@]} -eq 0 ]
if [ -n "$RUN_DIR" ]; then
  check "no process mentions the run dir (pgrep -f $RUN_DIR)" no_process_matches "$RUN_DIR"
  check "the run dir is removed" [ ! -e "$RUN_DIR" ]
fi
check "the demo started its own redis-server" [ -n "$REDIS_PORT" ]
if [ -n "$REDIS_PORT" ]; then
  check "no redis-server on port $REDIS_PORT runs" no_process_matches "redis-server.*:$REDIS_PORT\b"
  check "nothing answers on the redis port $REDIS_PORT" redis_gone "$REDIS_PORT"
fi

if [ ${#FAILURES[@]} -gt 0 ]; then
  note "demo output:"
  sed 's/^/  | /' "$OUT"
  echo "demo: 0 passed, 1 failed"
  exit 1
fi
echo "demo: 1 passed, 0 failed"
