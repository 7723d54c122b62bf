#!/usr/bin/env bash
# Faults under load, long form: wrk through hydra-router to 3 hello-service instances on this
# machine while something goes wrong; for each scenario it prints requests sent, failed (non-2xx
# answers plus socket errors), requests/s and p99, and what recovered.
#
#   kill     one instance SIGKILLed at 3 s
#   rolling  every instance replaced in turn (new one started and present, old one SIGTERMed)
#   redis    Redis killed at 3 s for 5 s, started again empty; time until every instance and
#            the router are registered again (presence, :service and :routes), processes alive
#   slow     a 4th instance whose hello answers take 3 s (router requestTimeout 1 s): 504s only
#            for that instance until it is ejected, the others unaffected
#   slow-rate  the same at a fixed rate (FAULT_RATE requests/s, default 2000) from an open-loop
#            load (hydra-router's `open_loop` bench) instead of wrk's fixed connections: how many
#            requests time out before the slow instance stops being chosen
#   failover  Redis as a master, a replica and 3 Sentinels (every process on a
#            redis+sentinel:// URL); the master SIGKILLed at 3 s: time until the Sentinels
#            promote the replica, then until every process writes to the new master; processes
#            alive
#
# Usage: scripts/bench-faults.sh [scenario ...]   (default: all six)
# Needs: redis-server, redis-cli, wrk (apt-get install redis-server redis-tools wrk).
# FAULT_SECONDS (default 10): wrk duration per scenario (the times above are for 10 s and scale
# with it); FAULT_CONNECTIONS (default 16).
# The Node hydra-router's figures for the same scenarios are in docs/robustness.md.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
root=$PWD
secs=${FAULT_SECONDS:-10}
# When the faults happen, in seconds after the load starts: at 30 % of the run, Redis for half of it.
fault_at=$(python3 -c "print($secs * 0.3)")
redis_back_at=$(python3 -c "print($secs * 0.8)")
conns=${FAULT_CONNECTIONS:-16}
scenarios=("$@")
[ ${#scenarios[@]} -eq 0 ] && scenarios=(kill rolling redis slow slow-rate failover)
rate=${FAULT_RATE:-2000}
for tool in redis-server redis-cli wrk python3 curl; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install redis-server redis-tools wrk"; exit 1; }
done
# The same packages as the images and the demo build, so their release build is reused.
cargo build --release -q --locked -p hydra-router -p hello-service -p hpp-service -p hydra-cli
case " ${scenarios[*]} " in
  *" slow-rate "*) LOAD_URL="" cargo bench -q -p hydra-router --bench open_loop >/dev/null ;;
esac

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ -n "${FAULT_KEEP:-}" ]; then echo "logs kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$(now)"; }

rport=""
db=15
rcli() { redis-cli -p "$rport" -n "$db" "$@"; }
start_redis() { # [extra redis-server arguments]
  redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
    --logfile "$work/redis-$rport.log" "$@" &
  redis_pid=$!
  pids+=("$redis_pid")
  for _ in $(seq 50); do rcli ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "redis-server did not start"; exit 1
}

# Sentinels: a replica of the Redis on $rport and 3 Sentinels watching it as "hydra"; their
# ports in $sentinel_ports, the URL every process uses in $HYDRA_REDIS_URL.
start_sentinels() {
  local master=$rport master_pid=$redis_pid
  rport=$(free_port)
  start_redis --replicaof 127.0.0.1 "$master"
  for _ in $(seq 100); do rcli info replication | grep -q master_link_status:up && break; sleep 0.1; done
  sentinel_ports=()
  local n sp hosts=()
  for n in 1 2 3; do
    sp=$(free_port)
    mkdir -p "$work/sentinel$n"
    printf 'port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor hydra 127.0.0.1 %s 2\nsentinel down-after-milliseconds hydra 1000\nsentinel failover-timeout hydra 5000\n' \
      "$sp" "$work/sentinel$n" "$master" >"$work/sentinel$n/sentinel.conf"
    redis-server "$work/sentinel$n/sentinel.conf" --sentinel --logfile "$work/sentinel$n.log" &
    pids+=($!)
    sentinel_ports+=("$sp")
    hosts+=("127.0.0.1:$sp")
  done
  for sp in "${sentinel_ports[@]}"; do
    for _ in $(seq 200); do
      redis-cli -p "$sp" sentinel master hydra 2>/dev/null | tr '\n' ' ' | grep -q 'num-other-sentinels 2 .*' \
        && redis-cli -p "$sp" sentinel replicas hydra 2>/dev/null | grep -q "$rport" && break
      sleep 0.1
    done
  done
  rport=$master redis_pid=$master_pid
  HYDRA_REDIS_URL="redis+sentinel://$(IFS=,; echo "${hosts[*]}")/hydra/$db"
  export HYDRA_REDIS_URL
}
sentinel_master_port() { redis-cli -p "${sentinel_ports[0]}" sentinel get-master-addr-by-name hydra 2>/dev/null | tail -1; }

# start_hello NAME [config file]: starts an instance, its pid in $last_pid.
start_hello() {
  local port; port=$(free_port)
  local args=()
  [ -n "${2:-}" ] && args=(--config "$2")
  (cd "$work" && HYDRA_SERVICE="serviceIP=127.0.0.1|servicePort=$port" RUST_LOG=warn \
    exec "$root/target/release/hello-service" "${args[@]}" >>"$work/$1.log" 2>&1) &
  last_pid=$!
  pids+=("$last_pid")
}
presence_count() { rcli --scan --pattern "hydra:service:$1:*:presence" 2>/dev/null | wc -l; }
wait_presence() { # service count
  for _ in $(seq 100); do [ "$(presence_count "$1")" -ge "$2" ] && return 0; sleep 0.05; done
  echo "$1: $2 instances not present"; exit 1
}
# Waits until the router has answered from N distinct hello-service instances.
wait_routed() {
  local seen
  for _ in $(seq 200); do
    seen=$(for _ in $(seq 30); do curl -fsS "$router_url" 2>/dev/null | grep -o 'hello-service - [0-9a-f]*' || true; done | sort -u | wc -l)
    [ "$seen" -ge "$1" ] && return 0
    sleep 0.1
  done
  echo "the router does not reach $1 instances"; exit 1
}
alive() { kill -0 "$1" 2>/dev/null; }

# setup [sentinel]: Redis (with a replica and Sentinels), the router, 3 instances, all routed.
setup() {
  rm -f "$work"/*.log
  rport=$(free_port)
  export HYDRA_REDIS_URL="redis://127.0.0.1:$rport/$db"
  start_redis
  [ "${1:-}" = sentinel ] && start_sentinels
  local gport; gport=$(free_port)
  cat >"$work/router.json" <<JSON
{ "requestTimeout": 1, "ejectSeconds": 10,
  "hydra": { "serviceName": "hydra-router", "serviceIP": "127.0.0.1", "servicePort": $gport } }
JSON
  (cd "$work" && RUST_LOG=warn exec "$root/target/release/hydra-router" --config router.json \
    >>"$work/router.log" 2>&1) &
  router_pid=$!
  pids+=("$router_pid")
  router_url="http://127.0.0.1:$gport/v1/hello/test"
  instances=()
  for _ in 1 2 3; do start_hello hello; instances+=("$last_pid"); done
  wait_presence hello-service 3
  wait_routed 3
}

teardown() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}

start_wrk() {
  wrk -t2 -c"$conns" -d"${secs}s" --timeout 5s --latency "$router_url" >"$work/wrk.out" 2>&1 &
  wrk_pid=$!
  wrk_start=$(now)
}
at() { # seconds after wrk started
  local wait; wait=$(python3 -c "import sys; print(max(0.0, float(sys.argv[1]) - (float(sys.argv[3]) - float(sys.argv[2]))))" "$1" "$wrk_start" "$(now)")
  sleep "$wait"
}

results=()
report() { # scenario note
  wait "$wrk_pid" || true
  local out; out=$(cat "$work/wrk.out")
  local sent non2xx sock rps p99
  sent=$(awk '/requests in/ {print $1}' <<<"$out")
  non2xx=$(awk -F': ' '/Non-2xx/ {print $2}' <<<"$out")
  sock=$(awk '/Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  local failed=$(( ${non2xx:-0} + ${sock:-0} ))
  results+=("$(printf '%-8s %9s %7s %10s %9s  %s' "$1" "$sent" "$failed" "$rps" "$p99" "$2")")
  printf '%-8s sent %s, failed %s (non-2xx %s, socket errors %s), %s req/s, p99 %s; %s\n' \
    "$1" "$sent" "$failed" "${non2xx:-0}" "${sock:-0}" "$rps" "$p99" "$2"
}

scenario_kill() {
  setup
  start_wrk
  at "$fault_at"
  kill -9 "${instances[0]}"
  wait "${instances[0]}" 2>/dev/null || true
  local killed gone=""
  killed=$(now)
  for _ in $(seq 100); do
    [ "$(presence_count hello-service)" -le 2 ] && { gone=$(since "$killed"); break; }
    sleep 0.1
  done
  report kill "presence of the killed instance gone after ${gone:-?} s"
  teardown
}

scenario_rolling() {
  setup
  start_wrk
  local n=0 old
  for old in "${instances[@]}"; do
    n=$(( n + 1 ))
    at "$(python3 -c "print($secs * $n / 4)")"
    start_hello hello
    # The new instance is present before the old one leaves.
    for _ in $(seq 100); do [ "$(presence_count hello-service)" -ge 4 ] && break; sleep 0.05; done
    kill -TERM "$old"
    wait "$old" 2>/dev/null || true
  done
  report rolling "3 instances replaced, $(presence_count hello-service) present at the end"
  teardown
}

scenario_redis() {
  setup
  start_wrk
  at "$fault_at"
  kill -9 "$redis_pid"
  wait "$redis_pid" 2>/dev/null || true
  at "$redis_back_at"
  start_redis
  local back recovered=""
  back=$(now)
  for _ in $(seq 200); do
    if [ "$(presence_count hello-service)" -ge 3 ] && [ "$(presence_count hydra-router)" -ge 1 ] \
      && [ "$(rcli exists hydra:service:hello-service:service hydra:service:hello-service:service:routes \
        hydra:service:hydra-router:service)" = 3 ]; then
      recovered=$(since "$back")
      break
    fi
    sleep 0.05
  done
  local dead=0 p
  for p in "$router_pid" "${instances[@]}"; do alive "$p" || dead=$(( dead + 1 )); done
  report redis "registered again after ${recovered:-(not within 10 s)} s; processes exited: $dead"
  teardown
}

# A 4th instance whose hello answers take 3 s, in the router's pool.
add_slow_instance() {
  echo '{ "hydra": { "serviceName": "hello-service" }, "responseDelayMs": 3000 }' >"$work/slow.json"
  start_hello slow "$work/slow.json"
  wait_presence hello-service 4
  sleep 1.5 # the router's pool refresh picks it up
}

scenario_slow() {
  setup
  add_slow_instance
  start_wrk
  while alive "$wrk_pid"; do sleep 0.2; done
  local timeouts ejections
  timeouts=$(grep -c "did not answer in time" "$work/router.log" || true)
  ejections=$(grep -c "ejected" "$work/router.log" || true)
  report slow "router log: $timeouts timeouts, $ejections ejections (ejectSeconds 10)"
  teardown
}

scenario_slow-rate() {
  setup
  add_slow_instance
  local out
  out=$(LOAD_URL="$router_url" LOAD_RATE=$rate LOAD_SECONDS=$secs LOAD_TIMEOUT_MS=5000 \
    cargo bench -q -p hydra-router --bench open_loop 2>/dev/null | tail -1)
  field() { grep -o "$1=[^ ]*" <<<"$out" | cut -d= -f2; }
  local sent non2xx errors timeouts p99 rps statuses failed
  sent=$(field sent); non2xx=$(field non2xx); errors=$(field errors); timeouts=$(field timeouts)
  p99=$(field p99_ms); rps=$(field achieved_rps); statuses=$(field other_statuses)
  failed=$(( non2xx + errors + timeouts ))
  local note
  note="open loop at $rate req/s; answers other than 2xx: $statuses; router log: $(grep -c "did not answer in time" "$work/router.log" || true) timeouts, $(grep -c "ejected" "$work/router.log" || true) ejections"
  results+=("$(printf '%-8s %9s %7s %10s %9s  %s' slow-rate "$sent" "$failed" "$rps" "${p99}ms" "$note")")
  printf 'slow-rate sent %s, failed %s (non-2xx %s, errors %s, timeouts %s), p99 %s ms; %s\n' \
    "$sent" "$failed" "$non2xx" "$errors" "$timeouts" "$p99" "$note"
  teardown
}

scenario_failover() {
  setup sentinel
  start_wrk
  at "$fault_at"
  local old=$rport killed promoted="" written="" keys
  # Every process's presence key, as the master had them before it died.
  keys=$(rcli --scan --pattern 'hydra:service:*:presence')
  # What asynchronous replication can lose: 2,000 writes (config versions) sent just before the
  # kill, with no WAIT; counted on the new master afterwards.
  local burst=2000 kept
  for i in $(seq "$burst"); do echo "HSET hydra:service:fault-drill:configs v$i n$i"; done | rcli >/dev/null
  kill -9 "$redis_pid"
  wait "$redis_pid" 2>/dev/null || true
  killed=$(now)
  for _ in $(seq 300); do
    [ "$(sentinel_master_port)" != "$old" ] && { promoted=$(since "$killed"); break; }
    sleep 0.05
  done
  rport=$(sentinel_master_port)
  # Every process beats its presence key once a second: with the keys removed on the new master
  # (some may have expired already, their last beat older than the 3 s TTL), each one is back
  # when its process writes there.
  local start k
  # shellcheck disable=SC2086 # one word per key
  rcli del $keys >/dev/null
  start=$(now)
  for _ in $(seq 200); do
    local missing=0
    for k in $keys; do [ "$(rcli exists "$k")" = 1 ] || missing=$(( missing + 1 )); done
    [ "$missing" = 0 ] && { written=$(since "$start"); break; }
    sleep 0.05
  done
  kept=$(rcli hlen hydra:service:fault-drill:configs)
  local dead=0 p
  for p in "$router_pid" "${instances[@]}"; do alive "$p" || dead=$(( dead + 1 )); done
  report failover "writes just before the kill kept: $kept of $burst; promoted ${promoted:-(not within 15 s)} s after the kill; all $(wc -w <<<"$keys") processes on the new master ${written:-(not within 10 s)} s later; processes exited: $dead"
  teardown
}

echo "hydra-router + 3 hello-service instances, wrk -t2 -c$conns -d${secs}s, $(nproc) cores, all on this machine"
for s in "${scenarios[@]}"; do
  case "$s" in
    kill | rolling | redis | slow | slow-rate | failover) "scenario_$s" ;;
    *) echo "unknown scenario $s (kill, rolling, redis, slow, slow-rate, failover)"; exit 2 ;;
  esac
done
echo
printf '%-8s %9s %7s %10s %9s  %s\n' scenario sent failed "req/s" p99 recovery
printf '%s\n' "${results[@]}"
