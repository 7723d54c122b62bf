# shellcheck shell=bash
# Shell helpers shared by the scripts in this folder and tests/demo (sourced, not run).

# Whether something accepts connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port on 127.0.0.1 that was free a moment ago.
free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    return
  fi
  local p
  for _ in $(seq 200); do
    p=$((RANDOM % 20000 + 40000))
    if ! port_open "$p"; then
      echo "$p"
      return
    fi
  done
  return 1
}

# Whether a Redis on 127.0.0.1:$1 answers PING (over bash's /dev/tcp: no redis-cli needed).
redis_ping() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'PING\r\n' >&3
    IFS= read -r -t 2 reply <&3 || exit 1
    [[ $reply == +PONG* ]]
  ) 2>/dev/null
}

# Waits up to 10 s for $1 to answer 2xx; exits the script when it does not.
wait_http() { # url [seconds, default 10]
  for _ in $(seq $(( ${2:-10} * 10 ))); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "no answer from $1"
  exit 1
}

# ---- for the test scripts that end with "N passed, N failed" ----------------------------------

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); printf 'ok: %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL: %s\n' "$*"; }
# check DESCRIPTION COMMAND...: runs the command; passes when it succeeds.
check() {
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
# wait_for SECONDS COMMAND...: until the command succeeds, every $WAIT_INTERVAL s (default 0.3).
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep "${WAIT_INTERVAL:-0.3}"
  done
}
# summary: the closing line; the script's status (1 when anything failed).
summary() {
  echo
  echo "$PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ]
}
