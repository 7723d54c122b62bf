#!/usr/bin/env bash
# Stand-ins for the public base images the Dockerfile and the compose and stack files name, for
# machines that reach no image registry (this project's CI among them). Test infrastructure:
# tagged with the public names so the Dockerfile is built unchanged, labelled
# org.hydra-rs.standin=true, never pushed. Each is made of Debian bookworm packages and kept as
# close to its original as they allow:
#
#   rust:R-slim-bookworm                  Debian + gcc, libc6-dev, ca-certificates; this machine's
#                                         Rust toolchain (R is the Dockerfile's RUST_VERSION)
#   gcr.io/distroless/cc-debian12:nonroot the packages distroless cc is made of (libc6, libgcc-s1,
#                                         libstdc++6, libgomp1, libssl3, ca-certificates,
#                                         base-files, netbase, tzdata), unpacked with dpkg-deb -x,
#                                         no shell; users root, nonroot (65532) and nobody
#   redis:7.2-alpine                      Debian's redis-server (7.0)
#   hydra-rs-test/mesh:local              HAProxy: stands in for the swarm routing mesh in
#                                         tests/swarm (IPVS does not work on such machines)
#
# Usage: build.sh [--force] [rust|distroless|redis|mesh ...]   (default: all four)
# An image already present is kept unless --force. Needs root (debootstrap), debootstrap and a
# Docker engine. Work files go to target/standins/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
HERE=$ROOT/tests/images/standins
WORK=${CARGO_TARGET_DIR:-$ROOT/target}/standins
case $WORK in /*) ;; *) WORK=$ROOT/$WORK ;; esac
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
LABEL=org.hydra-rs.standin=true

FORCE=0
WANT=()
for a in "$@"; do
  case $a in
    --force) FORCE=1 ;;
    rust | distroless | redis | mesh) WANT+=("$a") ;;
    *) echo "usage: $0 [--force] [rust|distroless|redis|mesh ...]" >&2; exit 2 ;;
  esac
done
[ ${#WANT[@]} -gt 0 ] || WANT=(rust distroless redis mesh)

dockerfile_arg() { sed -n "s/^ARG $1=\(.*\)$/\1/p" "$ROOT/Dockerfile" | head -n 1; }
RUST_VERSION=$(dockerfile_arg RUST_VERSION)
DEBIAN_RELEASE=$(dockerfile_arg DEBIAN_RELEASE)
[ "$DEBIAN_RELEASE" = bookworm ] || { echo "stand-ins are made for bookworm, the Dockerfile says $DEBIAN_RELEASE" >&2; exit 1; }

declare -A IMAGE=(
  [rust]="rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE}"
  [distroless]="gcr.io/distroless/cc-debian12:nonroot"
  [redis]="redis:7.2-alpine"
  [mesh]="hydra-rs-test/mesh:local"
)
DEBIAN_IMAGE=hydra-rs-standin/debian:bookworm

have_image() { docker image inspect "$1" >/dev/null 2>&1; }
log() { printf '[standins] %s\n' "$*"; }
mkdir -p "$WORK"

# The Debian base the rust, redis and mesh stand-ins start from: debootstrap minbase.
debian_base() {
  if have_image "$DEBIAN_IMAGE" && [ "$FORCE" = 0 ]; then return; fi
  command -v debootstrap >/dev/null || { echo "debootstrap is missing (apt-get install debootstrap)" >&2; exit 1; }
  local rootfs=$WORK/debian-rootfs
  rm -rf "$rootfs"
  log "debootstrap --variant=minbase bookworm"
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -n 20 "$WORK/debootstrap.log" >&2; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' --change "LABEL $LABEL" - "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$rootfs"
}

build_rust() {
  debian_base
  local ctx=$WORK/rust-context sysroot have
  sysroot=$(rustc --print sysroot)
  have=$(rustc --version | awk '{print $2}')
  case $have in
    "$RUST_VERSION" | "$RUST_VERSION".*) ;;
    *) log "note: this machine's rustc is $have, the Dockerfile asks for $RUST_VERSION" ;;
  esac
  rm -rf "$ctx"
  mkdir -p "$ctx/toolchain"
  # The toolchain without its documentation (share/doc is most of its size).
  (cd "$sysroot" && tar -c --exclude=./share/doc --exclude=./share/man .) | tar -C "$ctx/toolchain" -x
  cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
  cp "$HERE/rust.Dockerfile" "$ctx/Dockerfile"
  docker build -q --label "$LABEL" --build-arg "RUST_VERSION=$RUST_VERSION" -t "${IMAGE[rust]}" "$ctx" >/dev/null
  rm -rf "$ctx"
}

build_distroless() {
  local rootfs=$WORK/distroless-rootfs debs=$WORK/distroless-debs
  rm -rf "$rootfs" "$debs"
  mkdir -p "$rootfs" "$debs"
  local pkgs=(base-files netbase tzdata ca-certificates libc6 libgcc-s1 libstdc++6 libgomp1 libssl3)
  (cd "$debs" && apt-get download "${pkgs[@]}" >/dev/null 2>&1) ||
    { apt-get update -qq && (cd "$debs" && apt-get download "${pkgs[@]}" >/dev/null); }
  local deb
  for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$rootfs"; done
  # What distroless adds: the CA bundle, the users, /tmp and the home directories.
  mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/tmp" "$rootfs/home/nonroot" "$rootfs/root"
  cat "$rootfs"/usr/share/ca-certificates/mozilla/*.crt >"$rootfs/etc/ssl/certs/ca-certificates.crt"
  cat >"$rootfs/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
  cat >"$rootfs/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
GROUP
  chmod 1777 "$rootfs/tmp"
  chown 65532:65532 "$rootfs/home/nonroot"
  chmod 700 "$rootfs/root"
  # Nothing distroless leaves out: documentation, package scripts, the maintainer tools.
  rm -rf "${rootfs:?}"/usr/share/doc "${rootfs:?}"/usr/share/man "${rootfs:?}"/usr/share/lintian \
    "${rootfs:?}"/usr/share/info "${rootfs:?}"/usr/sbin "${rootfs:?}"/usr/bin "${rootfs:?}"/etc/init.d
  tar -C "$rootfs" --numeric-owner -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'USER 65532' --change 'WORKDIR /home/nonroot' \
    --change "LABEL $LABEL" - "${IMAGE[distroless]}" >/dev/null
  rm -rf "$rootfs" "$debs"
}

build_from_debian() {
  # build_from_debian NAME: a stand-in built from its Dockerfile here on the Debian base.
  debian_base
  local ctx=$WORK/$1-context
  rm -rf "$ctx"
  mkdir -p "$ctx"
  cp "$HERE/$1.Dockerfile" "$ctx/Dockerfile"
  docker build -q --label "$LABEL" -t "${IMAGE[$1]}" "$ctx" >/dev/null
  rm -rf "$ctx"
}

for name in "${WANT[@]}"; do
  image=${IMAGE[$name]}
  if have_image "$image" && [ "$FORCE" = 0 ]; then
    log "$image: present"
    continue
  fi
  started=$SECONDS
  case $name in
    rust) build_rust ;;
    distroless) build_distroless ;;
    redis | mesh) build_from_debian "$name" ;;
  esac
  size=$(docker image inspect -f '{{.Size}}' "$image")
  log "$image: built in $((SECONDS - started)) s, $((size / 1000000)) MB (stand-in)"
done
