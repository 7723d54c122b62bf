# Stand-in for rust:${RUST_VERSION}-slim-bookworm, for machines that reach no image registry.
# Test infrastructure: built by tests/images/standins/build.sh, never pushed.
# Like the original: Debian bookworm with gcc, libc6-dev and ca-certificates, the toolchain under
# /usr/local/rustup with cargo, rustc and rustdoc on PATH from /usr/local/cargo/bin (the original
# has rustup's proxies there; the stand-in links the toolchain's binaries).
FROM hydra-rs-standin/debian:bookworm
ARG RUST_VERSION
ENV RUSTUP_HOME=/usr/local/rustup \
    CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    RUST_VERSION=${RUST_VERSION}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY toolchain/ /usr/local/rustup/toolchains/${RUST_VERSION}-x86_64-unknown-linux-gnu/
# The authority this machine's registries are reached through (see build.sh).
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
RUN mkdir -p /usr/local/cargo/bin \
    && for b in cargo rustc rustdoc; do \
         ln -s "/usr/local/rustup/toolchains/${RUST_VERSION}-x86_64-unknown-linux-gnu/bin/$b" /usr/local/cargo/bin/; \
       done \
    && cargo --version && rustc --version
