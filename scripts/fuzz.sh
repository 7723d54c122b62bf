#!/usr/bin/env bash
# Fuzzes UMF parsing, route parsing, config parsing, the router's request path handling and its
# HTTP/1 parsers (request heads, answer heads, chunked bodies), each
# for a bounded time, and prints what each run did. Goal: 0 panics, 0 hangs.
#
# Usage: scripts/fuzz.sh [target ...]   (targets: umf route config router_path h1_request h1_answer
# h1_chunked; default all)
# FUZZ_SECONDS (default 60) per target. With cargo-fuzz and a nightly toolchain
# (rustup toolchain install nightly; cargo install cargo-fuzz) it runs libFuzzer with
# AddressSanitizer, seeded from fuzz/seeds and ../shared/vectors when present; the corpus grows
# in fuzz/corpus and a failing input lands in fuzz/artifacts. Without them it runs the property
# tests of the same code with many more cases instead (FUZZ_CASES, default 20000; FUZZ_PROPTEST=1
# chooses this mode even when cargo-fuzz is there).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(umf route config router_path h1_request h1_answer h1_chunked)

if [ -n "${FUZZ_PROPTEST:-}" ] || ! { cargo +nightly --version && cargo fuzz --version; } >/dev/null 2>&1; then
  cases=${FUZZ_CASES:-20000}
  echo "cargo-fuzz or nightly missing (or FUZZ_PROPTEST set): running the property tests with $cases cases each instead"
  PROPTEST_CASES=$cases cargo test -q -p hydra-protocol --lib properties
  PROPTEST_CASES=$cases cargo test -q -p hydra-router --lib any_path
  PROPTEST_CASES=$cases cargo test -q -p hydra-router --lib h1::
  exit 0
fi

# Extra seeds from the recorded Node vectors.
extra_seeds() {
  local dir=fuzz/corpus/.seeds-$1
  rm -rf "$dir"
  mkdir -p "$dir"
  local vectors=../shared/vectors/examples
  if [ -d "$vectors" ]; then
    case "$1" in
      umf) cp "$vectors"/umf-*.json "$dir"/ ;;
      config) cp "$vectors"/config-value.json "$vectors"/nodes-entry-*.json "$dir"/ ;;
      route) python3 -c 'import json,sys; [print(r) for r in json.load(open(sys.argv[1]))]' \
        "$vectors"/routes-set-hello-service.json | split -l 1 - "$dir/route-" ;;
    esac
  fi
  echo "$dir"
}

cd fuzz
cargo +nightly fuzz build -O
cd ..
failed=0
summary=()
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  seeds=$(extra_seeds "$t")
  log=$(mktemp)
  status=ok
  (cd fuzz && cargo +nightly fuzz run -O "$t" "corpus/$t" "seeds/$t" "../$seeds" -- \
    -max_total_time="$secs" -timeout=5 -rss_limit_mb=2048 -print_final_stats=1) >"$log" 2>&1 \
    || status=FAILED
  runs=$(awk '/stat::number_of_executed_units/ {print $NF}' "$log" | tail -1)
  rss=$(awk '/stat::peak_rss_mb/ {print $NF}' "$log" | tail -1)
  corpus=$(find "fuzz/corpus/$t" -type f | wc -l)
  if [ "$status" != ok ]; then
    failed=$((failed + 1))
    echo "== $t failed; the end of its log:"
    grep -E "panicked|ERROR|SUMMARY|Test unit written|timeout" "$log" | head -20
  fi
  summary+=("$(printf '%-12s %8s %14s %12s %10s' "$t" "$status" "${runs:-?}" "$corpus" "${rss:-?} MB")")
  rm -f "$log"
done
echo
echo "libFuzzer, ${secs} s per target, $(nproc) cores"
printf '%-12s %8s %14s %12s %10s\n' target result executions "corpus files" "peak RSS"
printf '%s\n' "${summary[@]}"
[ "$failed" -eq 0 ]
