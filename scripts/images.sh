#!/usr/bin/env bash
# Builds the four images from the Dockerfile, as a user builds them:
#
#   docker build --target T -t hydra-rs/T:TAG .     (T: hydra-router, hello-service, hpp-service, hydra-cli)
#
# and prints each one's build time and size, and checks what the images promise: under 40 MB, a
# non-root user, a HEALTHCHECK. Then, unless --no-rebuild, the rebuild a developer makes: a copy
# of the sources with one line of hello-service changed, built as hydra-rs/hello-service:TAG-rebuild
# (tests/swarm rolls it out), with its time and whether the dependency layer was reused.
#
# The base images are pulled when a registry answers. Where none does (CI, and the machines this
# project is built on), stand-ins are built from Debian packages first, under the same names
# (tests/images/standins/build.sh: test infrastructure, never pushed), so the Dockerfile is built
# unchanged. Stand-ins already on the machine are reused.
#
# Usage: scripts/images.sh [--tag TAG] [--no-rebuild]
# Needs a Docker engine (scripts/docker-up.sh starts one where none answers).
# Prints "N passed, N failed" at the end; exits 1 when anything failed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TAG=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
REBUILD=1
while [ $# -gt 0 ]; do
  case $1 in
    --tag) TAG=$2; shift ;;
    --no-rebuild) REBUILD=0 ;;
    *) echo "usage: $0 [--tag TAG] [--no-rebuild]" >&2; exit 2 ;;
  esac
  shift
done
TARGETS=(hydra-router hello-service hpp-service hydra-cli)
MAX_MB=40

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); printf 'ok: %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL: %s\n' "$*"; }

docker info >/dev/null 2>&1 || { echo "no Docker engine answers (scripts/docker-up.sh starts one)" >&2; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/hydra-images.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT

# ---- base images -----------------------------------------------------------------------------

arg() { sed -n "s/^ARG $1=\(.*\)$/\1/p" Dockerfile | head -n 1; }
declare -A BASES=(
  [rust]="rust:$(arg RUST_VERSION)-slim-$(arg DEBIAN_RELEASE)"
  [distroless]="$(sed -n 's/^FROM \(gcr.io\/distroless\/[^ ]*\) AS runtime$/\1/p' Dockerfile)"
  [redis]="$(sed -n 's/^ *image: \(redis:[^ ]*\)$/\1/p' docker-compose.yml | head -n 1)"
)
standins=()
for kind in rust distroless redis; do
  image=${BASES[$kind]}
  if docker image inspect "$image" >/dev/null 2>&1; then
    continue
  elif timeout 60 docker pull -q "$image" >/dev/null 2>&1; then
    echo "pulled $image"
  else
    standins+=("$kind")
  fi
done
if [ ${#standins[@]} -gt 0 ]; then
  echo "no registry has the base images; building stand-ins: ${standins[*]}"
  tests/images/standins/build.sh "${standins[@]}"
fi
for kind in rust distroless redis; do
  image=${BASES[$kind]}
  if [ "$(docker image inspect -f '{{index .Config.Labels "org.hydra-rs.standin"}}' "$image" 2>/dev/null)" = true ]; then
    echo "base $image: stand-in (tests/images/standins)"
  else
    echo "base $image"
  fi
done

# ---- the four images -------------------------------------------------------------------------

# build LOG CONTEXT ARGS...: docker build, output to LOG; prints the seconds it took.
build() {
  local log=$1 context=$2 started=$SECONDS
  shift 2
  if ! docker build "$@" "$context" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    return 1
  fi
  echo $((SECONDS - started))
}

# Whether the build log shows the dependency layer (the first cargo build) taken from the cache.
deps_cached() {
  grep -a -A1 'RUN cargo build --release --locked' "$1" | head -n 2 | grep -aqE 'Using cache|CACHED'
}

declare -A TIME SIZE
total=0
for target in "${TARGETS[@]}"; do
  log=$WORK/$target.log
  if t=$(build "$log" . --target "$target" -t "hydra-rs/$target:$TAG"); then
    TIME[$target]=$t
    total=$((total + t))
    pass "docker build --target $target -t hydra-rs/$target:$TAG . (${t} s)"
  else
    fail "docker build --target $target"
    continue
  fi
  if [ "$target" = "${TARGETS[0]}" ]; then
    if deps_cached "$log"; then deps_note="dependency layer from the cache"; else deps_note="dependencies compiled"; fi
  fi
  image=hydra-rs/$target:$TAG
  bytes=$(docker image inspect -f '{{.Size}}' "$image")
  SIZE[$target]=$bytes
  mb=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')
  if [ "$bytes" -lt $((MAX_MB * 1000000)) ]; then pass "$image: $mb MB (< $MAX_MB MB)"; else fail "$image: $mb MB (limit $MAX_MB MB)"; fi
  user=$(docker image inspect -f '{{.Config.User}}' "$image")
  case ${user%%:*} in
    "" | 0 | root) fail "$image: runs as root (User '$user')" ;;
    *) pass "$image: runs as user $user" ;;
  esac
  if [ "$target" != hydra-cli ]; then
    hc=$(docker image inspect -f '{{if .Config.Healthcheck}}{{join .Config.Healthcheck.Test " "}}{{end}}' "$image")
    if [ "$hc" = "CMD /usr/local/bin/$target --healthcheck" ]; then pass "$image: HEALTHCHECK $hc"; else fail "$image: HEALTHCHECK '$hc'"; fi
  fi
done

# ---- a rebuild after a one-line change -------------------------------------------------------

if [ "$REBUILD" = 1 ]; then
  ctx=$WORK/context
  mkdir -p "$ctx"
  # The build context as docker sends it (.dockerignore applies there too), without the big
  # folders it leaves out anyway.
  tar -c --exclude=./target --exclude=./.git --exclude=node_modules --exclude=./fuzz . | tar -C "$ctx" -x
  echo '// rebuilt: one line changed' >>"$ctx/services/hello-service/src/main.rs"
  log=$WORK/rebuild.log
  if t=$(build "$log" "$ctx" --target hello-service -t "hydra-rs/hello-service:$TAG-rebuild"); then
    TIME[rebuild]=$t
    pass "rebuild after a one-line change: hydra-rs/hello-service:$TAG-rebuild (${t} s)"
    if deps_cached "$log"; then
      pass "the rebuild reused the dependency layer"
    else
      fail "the rebuild compiled the dependencies again"
    fi
  else
    fail "rebuild of hello-service after a one-line change"
  fi
fi

# ---- summary ---------------------------------------------------------------------------------

echo
printf '%-16s %10s %10s\n' image "size MB" "build s"
for target in "${TARGETS[@]}"; do
  [ -n "${SIZE[$target]:-}" ] || continue
  printf '%-16s %10s %10s\n' "$target" "$(awk -v b="${SIZE[$target]}" 'BEGIN { printf "%.1f", b / 1e6 }')" "${TIME[$target]}"
done
echo "all four built in ${total} s (${deps_note:-})"
[ -z "${TIME[rebuild]:-}" ] || echo "hello-service rebuilt after a one-line change in ${TIME[rebuild]} s"
echo
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
