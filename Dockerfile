# Runtime images of the four hydra-rs binaries, one build target each:
#
#   docker build --target hydra-router  -t hydra-rs/hydra-router:0.1.0  .
#   docker build --target hello-service -t hydra-rs/hello-service:0.1.0 .
#   docker build --target hpp-service   -t hydra-rs/hpp-service:0.1.0   .
#   docker build --target hydra-cli     -t hydra-rs/hydra-cli:0.1.0     .
#
# (scripts/images.sh builds all four and prints their sizes.) Plain Dockerfile syntax: the
# classic builder and BuildKit build it alike.
#
# All four share one builder stage. The dependencies are compiled in a layer of their own, from a
# skeleton of the workspace (the manifests, Cargo.lock and an empty file for every target) made by
# the planner stage, so a change to the sources rebuilds only the workspace crates; adding,
# removing or renaming a target file, or changing a manifest, rebuilds the dependencies too.
#
# Runtime: distroless cc (glibc, libgcc, CA certificates; no shell, no package manager) as the
# non-root user 65532 (distroless "nonroot"), WORKDIR /app, so a config mounted at
# /app/config/config.json is found.
# Configure with HYDRA_REDIS_URL and HYDRA_SERVICE (name:version, JSON, or k=v|k=v), or mount a
# config file. The binaries drain on SIGTERM; the exec-form ENTRYPOINT makes them PID 1 so they
# receive it. HEALTHCHECK runs the binary itself (`--healthcheck`): a serving instance announces
# the URL of its health endpoint, so the port checked is the port served, whatever config or
# HYDRA_SERVICE chose it. HYDRA_HEALTH_FILE=@hydra-health announces it on an abstract Unix socket
# (the container's network namespace has its own), not in a file, so nothing is written: the
# images run and turn healthy on a read-only root filesystem with no capabilities
# (`docker run --read-only --cap-drop ALL --security-opt no-new-privileges`), no tmpfs needed.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# ---- build -----------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS planner
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src
COPY . .
# The skeleton: the manifests and Cargo.lock as they are, and for each target cargo knows of an
# empty lib or `fn main() {}` at its path. Its content changes only with the manifests and the
# set of targets, so the dependency layer below is reused across source changes.
RUN set -eu; \
    mkdir -p /skeleton; \
    find . -name Cargo.toml -not -path './target/*' -not -path './fuzz/*' \
        -exec cp --parents {} /skeleton/ \; ; \
    cp Cargo.lock /skeleton/; \
    cargo metadata --no-deps --offline --locked --format-version 1 | tr '{' '\n' \
      | sed -n 's|.*"kind":\["\([^"]*\)"\].*"src_path":"/src/\([^"]*\)".*|\1 \2|p' \
      | while read -r kind path; do \
          mkdir -p "/skeleton/$(dirname "$path")"; \
          case $kind in \
            lib|rlib|proc-macro) printf '//! (dependency build)\n' > "/skeleton/$path" ;; \
            *) printf '//! (dependency build)\nfn main() {}\n' > "/skeleton/$path" ;; \
          esac; \
        done

FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
WORKDIR /src
ENV CARGO_TERM_COLOR=never

# 1. The dependencies, compiled from the skeleton: this layer is reused until the skeleton changes.
COPY --from=planner /skeleton/ ./
RUN cargo build --release --locked -p hydra-router -p hello-service -p hpp-service -p hydra-cli

# 2. The real sources. Their files may be older than the stub build's outputs, so they are
#    touched to make cargo rebuild the workspace crates.
COPY . .
RUN set -eu; \
    find hydra-protocol hydra-core hydra-testkit hydra-service services hydra-cli hydra-router tests examples \
        -name '*.rs' -exec touch {} +; \
    cargo build --release --locked -p hydra-router -p hello-service -p hpp-service -p hydra-cli; \
    mkdir -p /out; \
    for b in hydra-router hello-service hpp-service hydra-cli; do \
        strip -o "/out/$b" "target/release/$b"; \
    done

# ---- runtime bases ---------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
WORKDIR /app
ENV RUST_LOG=info \
    NO_COLOR=1 \
    HYDRA_HEALTH_FILE=@hydra-health
USER 65532:65532
STOPSIGNAL SIGTERM

# ---- hydra-router ----------------------------------------------------------------------------
# Port 80 as a non-root user: Docker lets unprivileged processes bind low ports in a container
# (net.ipv4.ip_unprivileged_port_start=0, the default since Docker 20.10).
FROM runtime AS hydra-router
LABEL org.opencontainers.image.title="hydra-router" \
      org.opencontainers.image.description="Service-aware HTTP and WebSocket gateway for Hydra services" \
      org.opencontainers.image.licenses="MIT"
COPY --from=builder /out/hydra-router /usr/local/bin/hydra-router
COPY deploy/config/docker/hydra-router.json /app/config/config.json
# The public port, and /metrics without the token (hydra.metricsPort; publish it nowhere).
EXPOSE 80 9464
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/hydra-router", "--healthcheck"]
ENTRYPOINT ["/usr/local/bin/hydra-router"]

# ---- hello-service ---------------------------------------------------------------------------
FROM runtime AS hello-service
LABEL org.opencontainers.image.title="hello-service" \
      org.opencontainers.image.description="The Hydra hello-service" \
      org.opencontainers.image.licenses="MIT"
COPY --from=builder /out/hello-service /usr/local/bin/hello-service
COPY deploy/config/docker/hello-service.json /app/config/config.json
# The service port, and /metrics (hydra.metricsPort).
EXPOSE 5000 9464
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/hello-service", "--healthcheck"]
ENTRYPOINT ["/usr/local/bin/hello-service"]

# ---- hpp-service -----------------------------------------------------------------------------
FROM runtime AS hpp-service
LABEL org.opencontainers.image.title="hpp-service" \
      org.opencontainers.image.description="The Hydra hot potato game" \
      org.opencontainers.image.licenses="MIT"
COPY --from=builder /out/hpp-service /usr/local/bin/hpp-service
COPY deploy/config/docker/hpp-service.json /app/config/config.json
# The service port, and /metrics (hydra.metricsPort).
EXPOSE 5001 9464
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/hpp-service", "--healthcheck"]
ENTRYPOINT ["/usr/local/bin/hpp-service"]

# ---- hydra-cli -------------------------------------------------------------------------------
# The configs to push are baked in, so `cfg push` works on a swarm manager without a checkout:
#   docker run --rm --network servicenet -e HYDRA_REDIS_URL=redis://redis:6379/15 \
#     hydra-rs/hydra-cli:0.1.0 cfg push hello-service:0.1.0 configs/swarm/hello-service.json
FROM runtime AS hydra-cli
LABEL org.opencontainers.image.title="hydra-cli" \
      org.opencontainers.image.description="Command line tool for Hydra" \
      org.opencontainers.image.licenses="MIT"
COPY --from=builder /out/hydra-cli /usr/local/bin/hydra-cli
COPY deploy/config/ /app/configs/
HEALTHCHECK NONE
ENTRYPOINT ["/usr/local/bin/hydra-cli"]
CMD ["--help"]
