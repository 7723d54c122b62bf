# The swarm routing mesh's stand-in for tests/swarm: HAProxy from Debian, in front of the router
# tasks (found through Docker's DNS), on machines where IPVS, and so the mesh, does not work.
# Test infrastructure: built by tests/images/standins/build.sh, never pushed; its configuration
# is mounted by the test.
FROM hydra-rs-standin/debian:bookworm
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends haproxy \
    && rm -rf /var/lib/apt/lists/*
CMD ["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]
