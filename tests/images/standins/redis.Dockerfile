# Stand-in for redis:7.2-alpine, for machines that reach no image registry (Debian's Redis 7.0).
# Test infrastructure: built by tests/images/standins/build.sh, never pushed.
# As the original: redis-server and redis-cli on PATH, /data as the working directory, port 6379,
# and protected mode off (the original image builds Redis that way) so other containers connect.
FROM hydra-rs-standin/debian:bookworm
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data \
    && printf '#!/bin/sh\nexec /usr/bin/redis-server "$@" --protected-mode no\n' > /usr/local/bin/redis-server \
    && chmod 755 /usr/local/bin/redis-server
WORKDIR /data
EXPOSE 6379
CMD ["redis-server"]
