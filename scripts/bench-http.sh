#!/usr/bin/env bash
# HTTP benchmark on one machine, printed side by side in one run:
#   - GET /v1/hello/test on hello-service directly, through hydra-router, and through nginx
#     proxy_pass to the same instance (wrk, fixed duration);
#   - the added latency at a fixed rate, half of the router's maximum, for the router and for
#     nginx (an open-loop load: hydra-router's `open_loop` bench, each request timed from when it
#     was due, so queueing shows);
#   - idle RSS of hello-service and hydra-router, next to a Node hydra-express service's.
# Needs: redis-server, wrk, nginx (apt-get install redis-server wrk nginx-light), Node for the
# Node column (npm ci in tests/interop). BENCH_SECONDS (default 5), BENCH_CONNECTIONS (default 32),
# BENCH_HTML=1 adds a non-JSON route (no envelope rewrite) through nginx and the router;
# BENCH_CALLGRIND=1 counts the router's instructions per request under valgrind;
# BENCH_RUST_LOG (default warn) is the services' and routers' RUST_LOG;
# BENCH_WARMUP (default 2) is the seconds of uncounted open-loop load before each measured one;
# BENCH_PIN=1 gives the proxies a core of their own: hydra-router and nginx (one worker) on the
# last CPU, Redis, hello-service and the load generators on the others (taskset), so what a
# proxy adds is not the wait for a core it shares with the load.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh
secs=${BENCH_SECONDS:-5}
# The log filter of the services and routers: `info` lets their spans through when
# OTEL_EXPORTER_OTLP_ENDPOINT is set (the cost of trace export).
log=${BENCH_RUST_LOG:-warn}
conns=${BENCH_CONNECTIONS:-32}
# Where each part runs: everywhere, or (BENCH_PIN=1) the proxies on the last CPU and the rest on
# the others.
load_cpu=() proxy_cpu=() nginx_workers=2
if [ -n "${BENCH_PIN:-}" ]; then
  last=$(( $(nproc) - 1 ))
  [ "$last" -ge 1 ] || { echo "BENCH_PIN needs two CPUs"; exit 1; }
  command -v taskset >/dev/null || { echo "BENCH_PIN needs taskset (util-linux)"; exit 1; }
  load_cpu=(taskset -c "0-$(( last - 1 ))") proxy_cpu=(taskset -c "$last") nginx_workers=1
fi
for tool in redis-server wrk nginx; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install redis-server wrk nginx-light"; exit 1; }
done
# The same packages as the images and the demo build, so their release build is reused.
cargo build --release -q --locked -p hydra-router -p hello-service -p hpp-service -p hydra-cli
# The open-loop load generator (built once here, so the runs below start at once, and pinned
# like the rest of the load).
open_loop=$(LOAD_URL="" cargo bench -q -p hydra-router --bench open_loop --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "open_loop" and m.get("executable"):
        print(m["executable"])')
[ -x "$open_loop" ] || { echo "the open_loop bench did not build"; exit 1; }

work=$(mktemp -d)
pids=() redis_pid=""
# Redis stops last: the services and routers stop while it answers, so a "subscription connection
# lost" in their logs is a drop during the run, not the teardown.
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -z "$redis_pid" ] || kill "$redis_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

rport=$(free_port)
${load_cpu[@]+"${load_cpu[@]}"} redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >/dev/null &
redis_pid=$!
export HYDRA_REDIS_URL="redis://127.0.0.1:$rport/15"
sleep 0.3

hport=$(free_port)
(cd "$work" && HYDRA_SERVICE="serviceIP=127.0.0.1|servicePort=$hport" RUST_LOG="$log" exec ${load_cpu[@]+"${load_cpu[@]}"} "$OLDPWD/target/release/hello-service") &
hello_pid=$!; pids+=("$hello_pid")
gport=$(free_port)
(cd "$work" && HYDRA_SERVICE="serviceIP=127.0.0.1|servicePort=$gport" RUST_LOG="$log" exec ${proxy_cpu[@]+"${proxy_cpu[@]}"} "$OLDPWD/target/release/hydra-router") &
router_pid=$!; pids+=("$router_pid")
nport=$(free_port)
cat > "$work/nginx.conf" <<NGINX
worker_processes $nginx_workers;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events { worker_connections 1024; }
http {
  access_log off;
  upstream hello { server 127.0.0.1:$hport; keepalive 256; }
  server {
    listen 127.0.0.1:$nport;
    location / { proxy_pass http://hello; proxy_http_version 1.1; proxy_set_header Connection ""; }
  }
}
NGINX
${proxy_cpu[@]+"${proxy_cpu[@]}"} nginx -c "$work/nginx.conf" -g 'daemon off;' &
nginx_pid=$!; pids+=("$nginx_pid")
wait_http "http://127.0.0.1:$hport/v1/hello/test"
wait_http "http://127.0.0.1:$nport/v1/hello/test"
wait_http "http://127.0.0.1:$gport/v1/hello/test"

node_rss=""
if [ -d tests/interop/node_modules/hydra-express ]; then
  # The Node service stops when its stdin closes: hold it open with a sleeper.
  exec 3< <(sleep 3600)
  pids+=($!)
  (cd tests/interop && PEER_NAME=node-hello exec node express-service.js >/dev/null 2>&1 <&3) &
  node_pid=$!; pids+=("$node_pid")
fi
sleep 3  # idle: registered, heartbeating, no traffic yet
hello_rss=$(rss_kb $hello_pid); router_rss=$(rss_kb $router_pid)
[ -n "${node_pid:-}" ] && node_rss=$(rss_kb "$node_pid" 2>/dev/null || true)

# CPU time (user + system, clock ticks) of a process and its children threads; nginx's workers
# are children of its master, so they are summed.
ticks() { # pid...
  local t=0 p
  for p in "$@"; do
    [ -r "/proc/$p/stat" ] || continue
    t=$(( t + $(awk '{print $14 + $15}' "/proc/$p/stat") ))
  done
  echo "$t"
}
nginx_pids() { echo "$nginx_pid"; pgrep -P "$nginx_pid" || true; }
hz=$(getconf CLK_TCK)
perf_ok=""
command -v perf >/dev/null && perf stat -x, -e instructions -- true 2>&1 | grep -q '^[0-9]' && perf_ok=1

last_rps=0
run() { # name url connections [pids whose CPU per request to report...]
  local name=$1 url=$2 c=$3; shift 3
  local before=0; [ $# -gt 0 ] && before=$(ticks "$@")
  local perf_out="$work/perf.out" perf_pid=""
  rm -f "$perf_out"
  if [ -n "$perf_ok" ] && [ $# -gt 0 ]; then
    perf stat -e instructions -x, -o "$perf_out" -p "$(echo "$@" | tr ' ' ',')" -- sleep "$secs" >/dev/null 2>&1 &
    perf_pid=$!
  fi
  local out; out=$(${load_cpu[@]+"${load_cpu[@]}"} wrk -t2 -c"$c" -d"${secs}s" --latency "$url" 2>&1)
  [ -n "$perf_pid" ] && { wait "$perf_pid" 2>/dev/null || true; }
  local rps p50 p99 reqs cpu="" instr=""
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  last_rps=${rps%.*}
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  if [ $# -gt 0 ] && [ "${reqs:-0}" -gt 0 ]; then
    cpu=$(python3 -c "import sys; t, hz, n = map(float, sys.argv[1:]); print(f'{t / hz / n * 1e6:.1f} µs')" "$(( $(ticks "$@") - before ))" "$hz" "$reqs")
    if [ -n "$perf_ok" ] && [ -s "$perf_out" ]; then
      instr=$(awk -F, -v n="$reqs" '/instructions/ && $1 ~ /^[0-9]+$/ {printf "%.0f", $1 / n}' "$perf_out")
    fi
  fi
  printf '%-34s %12s %10s %10s %12s %14s\n' "$name" "$rps" "$p50" "$p99" "$cpu" "$instr"
}
where="all on this $(nproc)-core machine"
[ -n "${BENCH_PIN:-}" ] && where="the proxies pinned to CPU $last, the load, Redis and the service to the other CPUs"
echo "GET /v1/hello/test, wrk -t2, ${secs}s each, $where"
echo "(CPU and instructions per request: of the proxy itself, nginx's workers or hydra-router${perf_ok:+; instructions from perf stat})"
printf '%-34s %12s %10s %10s %12s %14s\n' "" "requests/s" "p50" "p99" "CPU/request" "instr/request"
run "hello-service direct (c=$conns)" "http://127.0.0.1:$hport/v1/hello/test" "$conns"
# shellcheck disable=SC2046 # one word per pid
run "through nginx (c=$conns)" "http://127.0.0.1:$nport/v1/hello/test" "$conns" $(nginx_pids)
run "through hydra-router (c=$conns)" "http://127.0.0.1:$gport/v1/hello/test" "$conns" "$router_pid"
router_max=$last_rps
run "hello-service direct (c=2)" "http://127.0.0.1:$hport/v1/hello/test" 2
# shellcheck disable=SC2046
run "through nginx (c=2)" "http://127.0.0.1:$nport/v1/hello/test" 2 $(nginx_pids)
run "through hydra-router (c=2)" "http://127.0.0.1:$gport/v1/hello/test" 2 "$router_pid"
[ -n "${BENCH_HTML:-}" ] && run "nginx, html (c=$conns)" "http://127.0.0.1:$nport/v1/hello/html" "$conns" && run "hydra-router, html (c=$conns)" "http://127.0.0.1:$gport/v1/hello/html" "$conns"

# Open loop: the same fixed rate through each path, at half the router's maximum (on a machine
# that also runs the service and the load generator, that saturates it) and at a rate that does
# not (BENCH_OPEN_RATE, default 10000).
direct_p99=0 nginx_p99=0 router_p99=0
open_loop() { # name url variable-for-its-p99
  local out
  # A first pass, not counted: the load's connections (and those they make to the service) are
  # opened and the pools filled, so the figures are of the steady state, not of a cold start.
  LOAD_URL="$2" LOAD_RATE=$rate LOAD_SECONDS=${BENCH_WARMUP:-2} ${load_cpu[@]+"${load_cpu[@]}"} "$open_loop" >/dev/null 2>&1 || true
  out=$(LOAD_URL="$2" LOAD_RATE=$rate LOAD_SECONDS=$secs ${load_cpu[@]+"${load_cpu[@]}"} "$open_loop" 2>/dev/null | tail -1)
  local p50 p99 p999 bad
  p50=$(grep -o 'p50_ms=[0-9.]*' <<<"$out" | cut -d= -f2)
  p99=$(grep -o 'p99_ms=[0-9.]*' <<<"$out" | cut -d= -f2)
  p999=$(grep -o 'p999_ms=[0-9.]*' <<<"$out" | cut -d= -f2)
  bad=$(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^(non2xx|errors|timeouts)=/) { split($i, kv, "="); n += kv[2] } } END { print n + 0 }' <<<"$out")
  printf '%-34s %10s %10s %10s %8s\n' "$1" "$p50" "$p99" "$p999" "$bad"
  printf -v "$3" '%s' "$p99"
}
for rate in $(( router_max / 2 )) "${BENCH_OPEN_RATE:-10000}"; do
  echo
  echo "open loop at $rate requests/s, ${secs}s each, each request timed from when it was due"
  printf '%-34s %10s %10s %10s %8s\n' "" "p50 ms" "p99 ms" "p99.9 ms" "failed"
  open_loop "hello-service direct" "http://127.0.0.1:$hport/v1/hello/test" direct_p99
  open_loop "through nginx" "http://127.0.0.1:$nport/v1/hello/test" nginx_p99
  open_loop "through hydra-router" "http://127.0.0.1:$gport/v1/hello/test" router_p99
  python3 -c "import sys; d, n, r = map(float, sys.argv[1:]); print(f'added p99: hydra-router {(r - d) * 1000:.0f} µs, nginx {(n - d) * 1000:.0f} µs (goal for the router: under 1 ms)')" "$direct_p99" "$nginx_p99" "$router_p99"
done

# Instructions per request, counted by callgrind (the same for the same binary and load, however
# busy the machine): a second router, one server thread, under valgrind, 4 connections.
if [ -n "${BENCH_CALLGRIND:-}" ] && command -v valgrind >/dev/null; then
  cport=$(free_port)
  (cd "$work" && HYDRA_SERVICE="serviceIP=127.0.0.1|servicePort=$cport" RUST_LOG="$log" exec valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$OLDPWD/target/release/hydra-router" >/dev/null 2>&1) &
  cg_pid=$!; pids+=("$cg_pid")
  wait_http "http://127.0.0.1:$cport/v1/hello/test" 60
  callgrind_control -z "$cg_pid" >/dev/null 2>&1
  cg_reqs=$(wrk -t1 -c4 -d"${secs}s" "http://127.0.0.1:$cport/v1/hello/test" | awk '/requests in/ {print $1}')
  callgrind_control -d "$cg_pid" >/dev/null 2>&1
  cg_total=$(awk '/^(summary|totals):/ {print $2; exit}' "$work"/cg.out.*)
  echo
  echo "hydra-router under callgrind: $((cg_total / cg_reqs)) instructions per request ($cg_reqs requests, 4 connections)"
fi
echo
echo "idle RSS: hello-service $((hello_rss / 1024)) MB (${hello_rss} kB), hydra-router $((router_rss / 1024)) MB${node_rss:+, Node hydra-express service $((node_rss / 1024)) MB (${node_rss} kB)}"
