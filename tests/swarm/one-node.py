"""The override that puts deploy/swarm/stack.yml (or redis.yml) on a one-node test swarm.

Reads the stack file (after `docker stack config`, so anchors and variables are resolved) and
prints it with only what a single machine without IPVS needs changed:

- placement: `node.role == worker` is dropped (the one node is a manager, never a worker); every
  other constraint is kept;
- endpoint_mode: dnsrr for every service (a service's virtual IP is IPVS, which does not work
  here; tasks are found by DNS instead, as `tasks.NAME` always is);
- the router's ingress port 80 is not published: the routing mesh is IPVS too, so tests/swarm
  puts a stand-in for it (HAProxy on 127.0.0.1) in front of the router tasks' port 80.

Everything else (images, replicas, environment, update, rollback and restart policies, grace
periods, networks, the images' health checks) is deployed as the file says.
(`docker stack deploy -c a.yml -c b.yml` appends lists, so an override file cannot remove a
constraint or a port; hence a transformation.)

usage: docker stack config -c deploy/swarm/stack.yml | python3 tests/swarm/one-node.py
"""

import sys

import yaml

doc = yaml.safe_load(sys.stdin)
for name, svc in (doc.get("services") or {}).items():
    deploy = svc.setdefault("deploy", {})
    deploy["endpoint_mode"] = "dnsrr"
    placement = deploy.get("placement") or {}
    constraints = [c for c in placement.get("constraints") or [] if c.replace(" ", "") != "node.role==worker"]
    if placement:
        placement["constraints"] = constraints
    svc.pop("ports", None)
yaml.safe_dump(doc, sys.stdout, sort_keys=False)
