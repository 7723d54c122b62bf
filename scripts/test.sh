#!/usr/bin/env bash
# Runs every test: unit, integration against real redis-server instances, and interop against
# real Node hydra peers (tests/interop; `npm ci` there first).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d tests/interop/node_modules/hydra ]; then
  (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error)
fi
# Two cores: keep the build and the test processes from starving each other.
cargo test --workspace --no-fail-fast --jobs 2 -- --test-threads 4
