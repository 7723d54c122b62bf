#!/usr/bin/env bash
# Builds the guide's service as a user would: a crate made with `cargo new` outside this
# workspace, depending on hydra-rs-core, hydra-service and (for its tests) hydra-testkit by
# version, with a [patch.crates-io] section pointing those names at this checkout (nothing is
# on a registry here). Its files are the ones docs/guide.md shows (Cargo.toml, src/lib.rs,
# src/main.rs, tests/service.rs); it is built and its tests run against real redis-servers, and
# against a Node hydra peer as a user runs one: the peer script shipped in hydra-testkit, the npm
# packages named by HYDRA_NODE_DIR (this checkout's tests/interop when `npm ci` ran there).
#
# The workspace's Cargo.lock is copied in first, so the dependencies resolve to the versions the
# workspace builds and tests with, from the registry cache the workspace filled. The build goes to
# $CARGO_TARGET_DIR when set, else to the temporary folder (about 3 minutes cold on 2 cores).
# Sharing the workspace's target dir saves little the first time (the workspace's builds unify
# features across all its members, so most of the user's graph hashes differently), but makes a
# second run take seconds. The folder is removed on exit; KEEP_OUTSIDE=1 keeps it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
guide=docs/guide.md

tmp=$(mktemp -d "${TMPDIR:-/tmp}/hydra-outside.XXXXXX")
cleanup() {
  if [ "${KEEP_OUTSIDE:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

# The guide's code blocks for one file: every fenced block right after a
# `<!-- file: PATH -->` line, in order, a blank line between two blocks.
guide_file() {
  awk -v want="$1" '
    /^<!-- file: .* -->$/ { f = $3; next }
    /^```/ {
      if (inside) { inside = 0; next }
      if (f == want) { if (parts++) print ""; inside = 1 }
      f = ""
      next
    }
    inside { print }
  ' "$guide"
}

cd "$tmp"
cargo new --quiet --vcs none starter-service
crate=$tmp/starter-service
for file in Cargo.toml src/lib.rs src/main.rs tests/service.rs; do
  mkdir -p "$crate/$(dirname "$file")"
  (cd "$root" && guide_file "$file") >"$crate/$file"
  if [ ! -s "$crate/$file" ]; then
    echo "check-outside: $guide has no block for $file" >&2
    exit 1
  fi
done
cat >>"$crate/Cargo.toml" <<TOML

# Added by scripts/check-outside.sh: the crates come from this checkout, not a registry.
[patch.crates-io]
hydra-rs-core = { path = "$root/hydra-core" }
hydra-protocol = { path = "$root/hydra-protocol" }
hydra-service = { path = "$root/hydra-service" }
hydra-testkit = { path = "$root/hydra-testkit" }
TOML
cp "$root/Cargo.lock" "$crate/Cargo.lock"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$tmp/target}
cd "$crate"
start=$SECONDS
cargo build --quiet --jobs 2 --all-targets
echo "check-outside: built in $((SECONDS - start)) s (target dir $CARGO_TARGET_DIR)"
if [ -z "${HYDRA_NODE_DIR:-}" ] && [ -d "$root/tests/interop/node_modules/hydra" ]; then
  export HYDRA_NODE_DIR=$root/tests/interop
fi
cargo test --quiet --jobs 2
echo "check-outside: the guide's service builds and passes its tests outside the workspace"
