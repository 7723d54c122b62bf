# syntax=docker/dockerfile:1
#
# Runtime images of the four hydra-rs binaries, one build target each:
#
#   docker build --target hydra-router  -t hydra-rs/hydra-router:0.1.0  .
#   docker build --target hello-service -t hydra-rs/hello-service:0.1.0 .
#   docker build --target hpp-service   -t hydra-rs/hpp-service:0.1.0   .
#   docker build --target hydra-cli     -t hydra-rs/hydra-cli:0.1.0     .
#
# All four share one builder stage: the dependencies are compiled in a layer of their own (from
# the manifests and stub sources), so a change to the sources rebuilds only the workspace crates.
# The build command is the one CI and scripts/demo.sh run natively.
#
# Runtime: distroless cc (glibc, libgcc, CA certificates; no shell, no package manager) as the
# non-root user 65532 (distroless "nonroot"), WORKDIR /app, so a config mounted at
# /app/config/config.json is found.
# Configure with HYDRA_REDIS_URL and HYDRA_SERVICE (name:version, JSON, or k=v|k=v), or mount a
# config file. The binaries drain on SIGTERM; the exec-form ENTRYPOINT makes them PID 1 so they
# receive it. HEALTHCHECK uses a static busybox wget, since distroless has no curl.

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm
ARG BUSYBOX_VERSION=1.36.1

# ---- build -----------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
WORKDIR /src
ENV CARGO_TERM_COLOR=never

# 1. Manifests and stub sources: this layer (the compiled dependencies) is reused until
#    Cargo.toml, Cargo.lock or a member's manifest changes.
COPY Cargo.toml Cargo.lock ./
COPY hydra-core/Cargo.toml hydra-core/
COPY hydra-testkit/Cargo.toml hydra-testkit/
COPY hydra-service/Cargo.toml hydra-service/
COPY services/hello-service/Cargo.toml services/hello-service/
COPY services/hpp-service/Cargo.toml services/hpp-service/
COPY tests/Cargo.toml tests/
COPY examples/echo-service/Cargo.toml examples/echo-service/
COPY hydra-cli/Cargo.toml hydra-cli/
COPY hydra-router/Cargo.toml hydra-router/
RUN set -eu; \
    for lib in hydra-core hydra-testkit hydra-service services/hello-service \
               services/hpp-service hydra-router; do \
        mkdir -p "$lib/src" && : > "$lib/src/lib.rs"; \
    done; \
    for bin in services/hello-service services/hpp-service hydra-router hydra-cli \
               examples/echo-service; do \
        mkdir -p "$bin/src" && echo 'fn main() {}' > "$bin/src/main.rs"; \
    done; \
    : > tests/lib.rs; \
    mkdir -p hydra-core/benches hydra-cli/tests/cli; \
    echo 'fn main() {}' > hydra-core/benches/roundtrip.rs; \
    echo 'fn main() {}' > hydra-cli/tests/cli/main.rs; \
    cargo build --release --locked -p hydra-router -p hello-service -p hpp-service -p hydra-cli

# 2. The real sources. Their files may be older than the stub build's outputs, so they are
#    touched to make cargo rebuild the workspace crates.
COPY . .
RUN set -eu; \
    find hydra-core hydra-testkit hydra-service services hydra-cli hydra-router tests examples \
        -name '*.rs' -exec touch {} +; \
    cargo build --release --locked -p hydra-router -p hello-service -p hpp-service -p hydra-cli; \
    mkdir -p /out; \
    for b in hydra-router hello-service hpp-service hydra-cli; do \
        strip -o "/out/$b" "target/release/$b"; \
    done

# A statically linked busybox: its wget is the health check client.
FROM busybox:${BUSYBOX_VERSION}-musl AS busybox

# ---- runtime bases ---------------------------------------------------------------------------
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
WORKDIR /app
ENV RUST_LOG=info \
    NO_COLOR=1
USER 65532:65532
STOPSIGNAL SIGTERM

# The servers' base: with the health check client.
FROM runtime AS server
COPY --from=busybox /bin/busybox /usr/local/bin/busybox

# ---- hydra-router ----------------------------------------------------------------------------
# Port 80 as a non-root user: Docker lets unprivileged processes bind low ports in a container
# (net.ipv4.ip_unprivileged_port_start=0, the default since Docker 20.10).
FROM server AS hydra-router
LABEL org.opencontainers.image.title="hydra-router" \
      org.opencontainers.image.description="Service-aware HTTP and WebSocket gateway for Hydra services" \
      org.opencontainers.image.licenses="MIT"
COPY --from=builder /out/hydra-router /usr/local/bin/hydra-router
COPY deploy/config/docker/hydra-router.json /app/config/config.json
EXPOSE 80
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:80/v1/router/health"]
ENTRYPOINT ["/usr/local/bin/hydra-router"]

# ---- hello-service ---------------------------------------------------------------------------
FROM server AS hello-service
LABEL org.opencontainers.image.title="hello-service" \
      org.opencontainers.image.description="The Hydra hello-service" \
      org.opencontainers.image.licenses="MIT"
COPY --from=builder /out/hello-service /usr/local/bin/hello-service
COPY deploy/config/docker/hello-service.json /app/config/config.json
EXPOSE 5000
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:5000/_health"]
ENTRYPOINT ["/usr/local/bin/hello-service"]

# ---- hpp-service -----------------------------------------------------------------------------
FROM server AS hpp-service
LABEL org.opencontainers.image.title="hpp-service" \
      org.opencontainers.image.description="The Hydra hot potato game" \
      org.opencontainers.image.licenses="MIT"
COPY --from=builder /out/hpp-service /usr/local/bin/hpp-service
COPY deploy/config/docker/hpp-service.json /app/config/config.json
EXPOSE 5001
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:5001/_health"]
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
