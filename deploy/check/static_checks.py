"""Static checks of the deployment files, run by scripts/check-deploy.sh.

Where no Docker engine runs these are the only checks of the files (CI also builds and runs the
images: scripts/images.sh, tests/compose, tests/swarm); they check what the files must say: the services, images and build targets, replica counts, swarm placement,
restart and update policies, environment, health checks and networks, and that the Dockerfile,
the compose and stack files and the configs under deploy/config/ agree with each other (ports,
labels, health check URLs, workspace members).

Prints one line per check, "ok: …" or "FAIL: …"; exits 1 when any failed.

With --plan it checks nothing and prints, for each server image, how its container starts, as
`target|entrypoint and cmd|config file copied to /app/config/config.json|health check path|ENV
assignments`, for the runtime contract test of scripts/check-deploy.sh.

usage: python3 deploy/check/static_checks.py REPO_ROOT [--plan]
"""

import fnmatch
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
PLAN = "--plan" in sys.argv[2:]
SERVERS = ("hydra-router", "hello-service", "hpp-service")
TARGETS = SERVERS + ("hydra-cli",)
VERSION = "0.1.0"
BUILD_COMMAND = (
    "cargo build --release --locked -p hydra-router -p hello-service -p hpp-service -p hydra-cli"
)
HEALTH_PATHS = {"hydra-router": "/v1/router/health", "hello-service": "/_health", "hpp-service": "/_health"}
SWARM_SUBNET_PREFIX = "10.0.9."
# The servers on hydra-service, which serve /metrics on a port of their own (hydra.metricsPort).
METRICS_SERVERS = ("hydra-router", "hello-service", "hpp-service")

results = []


def check(what, ok, detail=""):
    results.append(bool(ok))
    line = ("ok: " if ok else "FAIL: ") + what
    if not ok and detail:
        line += f" ({detail})"
    print(line)
    return bool(ok)


def interpolate(value):
    """Compose/stack variable substitution with the defaults (`${X:-d}`, `${X-d}`, `${X}`)."""
    if not isinstance(value, str):
        return value
    value = value.replace("$$", "\0")
    value = re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", r"\1", value)
    value = re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}", "", value)
    return value.replace("\0", "$")


def seconds(duration):
    """`30s`, `1m30s`, `500ms` → seconds."""
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(duration)):
        total += float(number) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    return total


def env_of(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: interpolate(v) for k, v in env.items()}


def load_yaml(rel):
    path = ROOT / rel
    try:
        doc = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        check(f"{rel} is valid YAML", False, str(e))
        return None
    check(f"{rel} is valid YAML", isinstance(doc, dict))
    return doc if isinstance(doc, dict) else None


def load_json(rel):
    try:
        return json.loads((ROOT / rel).read_text())
    except (OSError, ValueError) as e:
        check(f"{rel} is valid JSON", False, str(e))
        return None


def default_metrics_port():
    """hydra-service's default metricsPort, from its source."""
    text = (ROOT / "hydra-service/src/settings.rs").read_text()
    m = re.search(r"pub const DEFAULT_METRICS_PORT: u16 = (\d+);", text)
    return int(m.group(1)) if m else None


def metrics_port(config, target=None):
    """The port a service (TARGET) with CONFIG serves /metrics on (None: none). The router serves
    none unless its config names one; services on hydra-service default to 9464."""
    default = 0 if target == "hydra-router" else default_metrics_port()
    port = int(((config or {}).get("hydra") or {}).get("metricsPort", default) or 0)
    return port or None


# ---- Dockerfile ------------------------------------------------------------------------------


def dockerfile_stages():
    """{stage: {"from": base, "lines": [(instruction, args)]}} from the Dockerfile."""
    text = (ROOT / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    stages, current = {}, None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", args.strip(), re.I)
            current = m.group(2) or f"stage{len(stages)}"
            stages[current] = {"from": m.group(1), "lines": []}
        elif current:
            stages[current]["lines"].append((instr, args.strip()))
    return stages


def stage_value(stages, name, instr):
    """The last value of INSTR in stage NAME or the stages it is built on."""
    seen = set()
    while name in stages and name not in seen:
        seen.add(name)
        values = [a for i, a in stages[name]["lines"] if i == instr]
        if values:
            return values[-1]
        name = stages[name]["from"]
    return None


def check_dockerfile():
    stages = dockerfile_stages()
    for target in TARGETS:
        check(f"Dockerfile has build target {target}", target in stages)
    check("Dockerfile has a builder stage", "builder" in stages)
    builder = stages.get("builder", {"lines": []})
    runs = [a for i, a in builder["lines"] if i == "RUN"]
    check(
        "the builder runs the native release build (stubbed dependencies, then the sources)",
        sum(BUILD_COMMAND in r for r in runs) == 2,
        f"expected `{BUILD_COMMAND}` in two RUN steps",
    )
    demo = (ROOT / "scripts/demo.sh").read_text()
    check(
        "scripts/demo.sh builds the same packages as the Dockerfile",
        all(f"{t}" in demo for t in TARGETS) and "cargo build --release --locked" in demo,
    )
    planner = stages.get("planner", {"lines": []})
    planner_runs = " ".join(a for i, a in planner["lines"] if i == "RUN")
    check(
        "the planner stage makes the dependency skeleton from cargo metadata",
        "cargo metadata --no-deps" in planner_runs and "/skeleton" in planner_runs,
    )
    copies = [a for i, a in builder["lines"] if i == "COPY"]
    check(
        "the dependency layer is built from the skeleton alone, then the sources are copied",
        len(copies) == 2 and copies[0].startswith("--from=planner /skeleton") and copies[1] == ". .",
        f"{copies}",
    )

    for target in TARGETS:
        if target not in stages:
            continue
        entry = stage_value(stages, target, "ENTRYPOINT")
        try:
            entry_list = json.loads(entry or "")
        except ValueError:
            entry_list = None
        check(
            f"{target}: exec-form ENTRYPOINT running /usr/local/bin/{target}",
            isinstance(entry_list, list) and entry_list[:1] == [f"/usr/local/bin/{target}"],
            entry or "none",
        )
        check(f"{target}: WORKDIR /app", stage_value(stages, target, "WORKDIR") == "/app")
        user = stage_value(stages, target, "USER") or ""
        check(f"{target}: runs as a non-root user", user and user.split(":")[0] not in ("root", "0"))
        base = stages[target]["from"]
        while base in stages:
            base = stages[base]["from"]
        check(
            f"{target}: slim runtime base ({base})",
            "distroless" in base or "slim" in base,
        )
        copied = [a for i, a in stages[target]["lines"] if i == "COPY"]
        check(
            f"{target}: binary copied from the builder",
            any(a.startswith("--from=builder") and f"/{target} " in a + " " for a in copied),
        )
    configs = {}
    for target in SERVERS:
        if target not in stages:
            continue
        copied = [a for i, a in stages[target]["lines"] if i == "COPY"]
        cfg = [a.split()[0] for a in copied if a.endswith(" /app/config/config.json")]
        ok = check(
            f"{target}: default config at /app/config/config.json",
            len(cfg) == 1 and (ROOT / cfg[0]).is_file(),
        )
        doc = load_json(cfg[0]) if ok else None
        port = (doc or {}).get("hydra", {}).get("servicePort")
        configs[target] = port
        expose = (stage_value(stages, target, "EXPOSE") or "").split()
        check(f"{target}: EXPOSE {port} (the config's servicePort)", expose[:1] == [str(port)], f"EXPOSE {expose}")
        if target in METRICS_SERVERS:
            metrics = metrics_port(doc, target)
            check(f"{target}: EXPOSE {metrics} (the config's metricsPort)", str(metrics) in expose[1:], f"EXPOSE {expose}")
        hc = stage_value(stages, target, "HEALTHCHECK") or ""
        cmd = re.search(r"CMD\s+(\[.*\])", hc)
        try:
            cmd = json.loads(cmd.group(1)) if cmd else None
        except ValueError:
            cmd = None
        check(
            f"{target}: HEALTHCHECK runs the image's own binary (--healthcheck: the port served)",
            cmd == [f"/usr/local/bin/{target}", "--healthcheck"],
            hc or "none",
        )
        if target == "hydra-router":
            check("hydra-router: the image's router listens on 80", port == 80)
    env = " ".join(a for i, a in stages.get("runtime", {"lines": []})["lines"] if i == "ENV")
    check(
        "runtime: HYDRA_HEALTH_FILE names an abstract socket (@…: nothing written, a read-only root will do)",
        re.search(r"HYDRA_HEALTH_FILE=@\S", env),
        env,
    )
    return configs


def dockerignore_excludes(patterns, path):
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.strip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pat) or fnmatch.fnmatch(p, pat.replace("**/", "")) for p in prefixes):
            excluded = not negate
    return excluded


def check_dockerignore():
    try:
        lines = (ROOT / ".dockerignore").read_text().splitlines()
    except OSError:
        check(".dockerignore exists", False)
        return
    patterns = [l.strip() for l in lines if l.strip() and not l.strip().startswith("#")]
    for path in ("target/release/hydra-router", ".git/HEAD", "tests/interop/node_modules/x"):
        check(f".dockerignore leaves out {path.split('/')[0]}/…", dockerignore_excludes(patterns, path))
    # Test files: changing one rebuilds no image.
    tests = ["hydra-router/tests/routing.rs", "services/hello-service/tests/x.rs",
             "examples/echo-service/tests/x.rs", "examples/starter-service/tests/x.rs"]
    left_in = [p for p in tests if not dockerignore_excludes(patterns, p)]
    check(".dockerignore leaves out test files", not left_in, f"left in: {left_in}")
    needed = [
        "Cargo.toml", "Cargo.lock", "hydra-core/src/lib.rs", "hydra-router/assets/dashboard.html",
        "services/hello-service/assets/hello.png", "services/hpp-service/src/main.rs",
        "hydra-cli/src/main.rs", "deploy/config/docker/hydra-router.json",
        "examples/echo-service/src/main.rs", "examples/starter-service/Cargo.toml",
        "deploy/config/swarm/hpp-service.json", "hydra-core/benches/roundtrip.rs",
    ]
    kept = [p for p in needed if dockerignore_excludes(patterns, p)]
    check(".dockerignore keeps what the build needs", not kept, f"excluded: {kept}")


# ---- configs ---------------------------------------------------------------------------------


def check_configs(image_ports):
    for kind in ("demo", "docker", "swarm"):
        for name in SERVERS:
            rel = f"deploy/config/{kind}/{name}.json"
            doc = load_json(rel)
            if doc is None:
                continue
            hydra = doc.get("hydra", {})
            check(f"{rel}: serviceName {name}", hydra.get("serviceName") == name)
            check(f"{rel}: serviceVersion {VERSION}", hydra.get("serviceVersion") == VERSION)
            check(
                f"{rel}: no hydra.redis (an instance uses the Redis it was started with)",
                "redis" not in hydra,
            )
            ip = hydra.get("serviceIP")
            if kind == "demo":
                check(f"{rel}: advertises 127.0.0.1", ip == "127.0.0.1")
            elif kind == "swarm":
                check(f"{rel}: advertises its servicenet address", ip == SWARM_SUBNET_PREFIX + "*")
                check(
                    f"{rel}: servicePort {image_ports.get(name)} as the image exposes",
                    hydra.get("servicePort") == image_ports.get(name),
                )
            if name == "hydra-router":
                check(f"{rel}: requestTimeout covers a game (>= 20 s)", doc.get("requestTimeout", 5) >= 20)


# ---- hardening -------------------------------------------------------------------------------


def check_hardened(where, name, svc, no_new_privileges):
    """A read-only root with nothing writable mounted, no capabilities, and (where the tool sets
    it) no-new-privileges."""
    check(f"{where}: {name} runs on a read-only root filesystem (read_only)", svc.get("read_only") is True)
    check(f"{where}: {name} drops every capability (cap_drop: [ALL])", svc.get("cap_drop") == ["ALL"], f"{svc.get('cap_drop')}")
    check(f"{where}: {name} adds no capability", not svc.get("cap_add"), f"{svc.get('cap_add')}")
    writable = [v for v in svc.get("volumes") or [] if not (isinstance(v, str) and interpolate(v).endswith(":ro"))]
    check(
        f"{where}: {name} has nothing writable mounted (no tmpfs, every volume :ro)",
        not svc.get("tmpfs") and not writable,
        f"tmpfs {svc.get('tmpfs')}, volumes {writable}",
    )
    opts = svc.get("security_opt") or []
    if no_new_privileges:
        check(f"{where}: {name} security_opt no-new-privileges:true", "no-new-privileges:true" in opts, f"{opts}")
    else:
        # docker stack deploy ignores security_opt (with a warning): a line that does nothing.
        check(f"{where}: {name} has no security_opt (docker stack deploy ignores it)", not opts, f"{opts}")


# ---- compose ---------------------------------------------------------------------------------


def check_compose(image_ports):
    doc = load_yaml("docker-compose.yml")
    if not doc:
        return
    services = doc.get("services") or {}
    networks = doc.get("networks") or {}
    for name in ("redis",) + SERVERS:
        check(f"compose: service {name}", name in services)
    replicas = {"hydra-router": 1, "hello-service": 2, "hpp-service": 3}
    for name, svc in services.items():
        for net in svc.get("networks") or []:
            check(f"compose: {name}'s network {net} is declared", net in networks)
    for name in SERVERS + ("hydra-cli",):
        svc = services.get(name) or {}
        if not svc:
            continue
        check(f"compose: {name} image", f"/{name}:" in interpolate(svc.get("image", "")))
        check(f"compose: {name} built from target {name}", (svc.get("build") or {}).get("target") == name)
        env = env_of(svc)
        check(f"compose: {name} gets HYDRA_REDIS_URL", env.get("HYDRA_REDIS_URL", "").startswith("redis://redis:"))
        check_hardened("compose", name, svc, no_new_privileges=True)
        if name == "hydra-cli":
            continue
        got = ((svc.get("deploy") or {}).get("replicas")) or 1
        check(f"compose: {replicas[name]} {name} instance(s)", got == replicas[name], f"got {got}")
        check(
            f"compose: {name} keeps the image's health check (no fixed port of its own)",
            "healthcheck" not in svc,
        )
        dep = (svc.get("depends_on") or {}).get("redis", {}) if isinstance(svc.get("depends_on"), dict) else {}
        check(f"compose: {name} waits for a healthy redis", dep.get("condition") == "service_healthy")
        hs = env.get("HYDRA_SERVICE", "")
        if name != "hydra-router":
            check(
                f"compose: {name} configured by HYDRA_SERVICE k=v (servicePort {image_ports.get(name)})",
                f"servicePort={image_ports.get(name)}" in hs,
                hs,
            )
    router = services.get("hydra-router") or {}
    ports = [interpolate(p) for p in router.get("ports") or []]
    check("compose: the router publishes container port 80", any(str(p).endswith(":80") for p in ports), f"{ports}")
    mounts = [interpolate(v) for v in router.get("volumes") or []]
    mount = [m for m in mounts if ":/app/config/config.json" in m]
    check(
        "compose: the router's config is mounted at /app/config/config.json from a file in the repo",
        mount and (ROOT / mount[0].split(":")[0]).is_file(),
        f"{mounts}",
    )
    check("compose: redis has a health check", "healthcheck" in (services.get("redis") or {}))
    grace = {"hydra-router": 10, "hello-service": 10, "hpp-service": 20}
    for name, drain in grace.items():
        got = seconds((services.get(name) or {}).get("stop_grace_period", "10s"))
        check(f"compose: {name} stop_grace_period ({got:.0f} s) covers its drain ({drain} s)", got > drain)


# ---- swarm -----------------------------------------------------------------------------------


def check_stack(image_ports):
    doc = load_yaml("deploy/swarm/stack.yml")
    if not doc:
        return
    check("stack: compose file format 3.x", str(doc.get("version", "")).startswith("3"))
    services = doc.get("services") or {}
    networks = doc.get("networks") or {}
    net = networks.get("servicenet") or {}
    check("stack: network servicenet (created beforehand as an attachable overlay)", net.get("external") is True)
    expect = {
        "hydra-router": (3, "node.role == manager"),
        "hello-service": (5, "node.role == worker"),
        "hpp-service": (5, "node.role == worker"),
    }
    for name, (count, constraint) in expect.items():
        svc = services.get(name)
        if not check(f"stack: service {name}", svc):
            continue
        deploy = svc.get("deploy") or {}
        check(f"stack: {name} image", f"/{name}:" in interpolate(svc.get("image", "")))
        check(f"stack: {count} {name} replicas", deploy.get("replicas") == count, f"got {deploy.get('replicas')}")
        constraints = [re.sub(r"\s+", " ", c) for c in (deploy.get("placement") or {}).get("constraints") or []]
        check(f"stack: {name} placed by {constraint}", constraint in constraints, f"{constraints}")
        restart = deploy.get("restart_policy") or {}
        check(
            f"stack: {name} restarted whenever it stops, never given up on (no max_attempts)",
            restart.get("condition") == "any" and "max_attempts" not in restart,
        )
        update = deploy.get("update_config") or {}
        check(
            f"stack: {name} rolling update, 10 s apart, order start-first or stop-first",
            seconds(update.get("delay")) == 10
            and update.get("order") in ("start-first", "stop-first")
            and (update.get("parallelism") or 0) >= 1,
        )
        check(f"stack: {name} on servicenet", "servicenet" in (svc.get("networks") or []))
        check_hardened("stack", name, svc, no_new_privileges=False)
        env = env_of(svc)
        check(f"stack: {name} HYDRA_REDIS_URL", env.get("HYDRA_REDIS_URL", "").startswith("redis"))
        label = env.get("HYDRA_SERVICE", "")
        ok = check(f"stack: {name} HYDRA_SERVICE={name}:{VERSION}", label == f"{name}:{VERSION}", label)
        cfg = load_json(f"deploy/config/swarm/{name}.json") if ok else None
        if cfg:
            hydra = cfg["hydra"]
            check(
                f"stack: {name} keeps the image's health check (no fixed port of its own)",
                "healthcheck" not in svc,
            )
            check(
                f"stack: {name} servicePort {hydra.get('servicePort')} as the image exposes",
                hydra.get("servicePort") == image_ports.get(name),
            )
            if name == "hydra-router":
                # No hydra.service label: the router's series carry the service they count as
                # `service`, which a target label of that name would overwrite.
                labels = deploy.get("labels") or {}
                check(
                    f"stack: {name} labelled for the Prometheus scrape (hydra.metrics.port = its metricsPort, no hydra.service)",
                    "hydra.service" not in labels
                    and metrics_port(cfg, name) is not None
                    and str(labels.get("hydra.metrics.port")) == str(metrics_port(cfg, name)),
                    f"{labels}",
                )
            elif name in METRICS_SERVERS:
                labels = deploy.get("labels") or {}
                check(
                    f"stack: {name} labelled for the Prometheus scrape (hydra.service, hydra.metrics.port = its metricsPort)",
                    labels.get("hydra.service") == name
                    and str(labels.get("hydra.metrics.port")) == str(metrics_port(cfg, name)),
                    f"{labels}",
                )
            drain = hydra.get("drainTimeout", 10)
            grace = seconds(svc.get("stop_grace_period", "10s"))
            check(f"stack: {name} stop_grace_period ({grace:.0f} s) covers its drain ({drain} s)", grace > drain)
    router = services.get("hydra-router") or {}
    ports = router.get("ports") or []
    check(
        "stack: the router publishes 80 through the ingress load balancer",
        any(isinstance(p, dict) and p.get("published") == 80 and p.get("target") == 80 for p in ports),
    )
    url = env_of(services.get("hello-service") or {}).get("HYDRA_REDIS_URL", "")
    redis_doc = load_yaml("deploy/swarm/redis.yml")
    if redis_doc:
        redis = (redis_doc.get("services") or {}).get("redis") or {}
        nets = redis.get("networks") or {}
        aliases = (nets.get("servicenet") or {}).get("aliases", []) if isinstance(nets, dict) else []
        host = re.match(r"redis://(?:[^@/]*@)?([^:/]+)", url)
        check(
            "stack: the default HYDRA_REDIS_URL names the redis of deploy/swarm/redis.yml",
            host and host.group(1) in aliases,
            url,
        )
        check(
            "redis.yml: on servicenet (external), with a volume and a health check",
            (redis_doc.get("networks") or {}).get("servicenet", {}).get("external") is True
            and redis.get("volumes") and redis.get("healthcheck"),
        )


def check_prometheus():
    """The scrape config finds the stack's tasks as the stack labels them."""
    doc = load_yaml("deploy/prometheus/prometheus.yml")
    if not doc:
        return
    jobs = [j for j in doc.get("scrape_configs") or [] if j.get("dockerswarm_sd_configs")]
    if not check("prometheus.yml: a scrape job with Docker Swarm service discovery", len(jobs) == 1):
        return
    job = jobs[0]
    sd = job["dockerswarm_sd_configs"]
    check(
        "prometheus.yml: swarm tasks found through the Docker socket",
        all(c.get("role") == "tasks" and str(c.get("host", "")).startswith("unix://") for c in sd),
    )
    check("prometheus.yml: scrapes /metrics", job.get("metrics_path", "/metrics") == "/metrics")
    relabel = job.get("relabel_configs") or []

    def rule(source, action=None, target=None):
        return [
            r for r in relabel
            if source in (r.get("source_labels") or [])
            and (action is None or r.get("action", "replace") == action)
            and (target is None or r.get("target_label") == target)
        ]

    check(
        "prometheus.yml: keeps the tasks of services labelled hydra.metrics.port",
        rule("__meta_dockerswarm_service_label_hydra_metrics_port", "keep"),
    )
    address = rule("__meta_dockerswarm_service_label_hydra_metrics_port", target="__address__")
    check("prometheus.yml: scrapes the port the label names", address)
    for r in address:
        got = re.sub(r"^" + r.get("regex", "(.*)") + "$", r.get("replacement", "$1").replace("$", "\\"), "10.0.9.7:80;9464")
        check("prometheus.yml: the address rewrite gives task-ip:metrics-port", got == "10.0.9.7:9464", got)
    network = rule("__meta_dockerswarm_network_name", "keep")
    check(
        "prometheus.yml: one target per task, its address on servicenet",
        network and all(re.fullmatch(r.get("regex", ""), "servicenet") for r in network),
    )
    check(
        "prometheus.yml: the Hydra service name (label hydra.service) as `service`",
        rule("__meta_dockerswarm_service_label_hydra_service", target="service"),
    )
    dash = load_json("deploy/grafana/hydra-services.json")
    if dash:
        check("grafana: the dashboard has a uid and panels", dash.get("uid") and dash.get("panels"))


def dashboard_queries(dash):
    """(panel title, query) of every panel target, with Grafana's variables as "All" gives them."""
    out = []
    for panel in dash.get("panels", []):
        for target in panel.get("targets", []):
            expr = target.get("expr", "")
            expr = expr.replace("$__rate_interval", "1m").replace("$service", ".*")
            out.append((panel.get("title", "?"), expr))
    return out


# `up` of the scrape job as prometheus.yml labels it: services carry `service`, routers none.
SCRAPED = {
    'up{job="hydra-services", service="hello-service", instance="10.0.9.7:9464"}': "1 1 1",
    'up{job="hydra-services", service="hello-service", instance="10.0.9.8:9464"}': "1 1 1",
    'up{job="hydra-services", service="hpp-service", instance="10.0.9.9:9464"}': "1 1 1",
    'up{job="hydra-services", instance="10.0.9.10:9464"}': "1 1 1",
    'up{job="hydra-services", instance="10.0.9.11:9464"}': "0 0 0",
}


def check_dashboard_queries():
    """Every query of the dashboard parses (promtool check rules), and the instance count
    evaluates as it should on the series prometheus.yml makes (promtool test rules)."""
    dash = load_json("deploy/grafana/hydra-services.json")
    promtool = shutil.which("promtool")
    if not dash:
        return
    if not promtool:
        print("skipped: the dashboard's queries (no promtool: apt-get install prometheus)")
        return
    queries = dashboard_queries(dash)
    check("grafana: the dashboard has queries", queries)
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": expr} for i, (_, expr) in enumerate(queries)
    ]}]}
    scraped = [expr for title, expr in queries if title == "Instances scraped"]
    check("grafana: an `Instances scraped` panel", len(scraped) == 1)
    tests = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": [{
        "interval": "1m",
        "input_series": [{"series": k, "values": v} for k, v in SCRAPED.items()],
        "promql_expr_test": [{"expr": expr, "eval_time": "2m", "exp_samples": [
            {"labels": '{service="hello-service"}', "value": 2},
            {"labels": '{service="hpp-service"}', "value": 1},
            {"labels": '{service="hydra-router"}', "value": 1},
        ]} for expr in scraped[:1]],
    }]}
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "rules.yml").write_text(yaml.safe_dump(rules))
        Path(tmp, "tests.yml").write_text(yaml.safe_dump(tests))
        parsed = subprocess.run([promtool, "check", "rules", "rules.yml"], cwd=tmp,
                                capture_output=True, text=True)
        check(f"grafana: each of the {len(queries)} queries parses (promtool check rules)",
              parsed.returncode == 0, (parsed.stdout + parsed.stderr).strip()[-800:])
        tested = subprocess.run([promtool, "test", "rules", "tests.yml"], cwd=tmp,
                                capture_output=True, text=True)
        check("grafana: `Instances scraped` counts the instances up, by service, routers as "
              "hydra-router", tested.returncode == 0, (tested.stdout + tested.stderr).strip()[-800:])


def check_readme():
    try:
        text = (ROOT / "deploy/README.md").read_text()
    except OSError:
        check("deploy/README.md exists", False)
        return
    for needle in (
        "2377/tcp", "7946/tcp", "7946/udp", "4789/udp", "swarm init --advertise-addr", "swarm join --token",
        "--subnet 10.0.9.0/24", "cfg push", "docker stack deploy", "docker service scale",
        "docker service update", "docker service rm", "dockersamples/visualizer", "/v1/hpp/startgame",
        "deploy/scripts/create-node", "deploy/scripts/remove-node", "docker compose up",
        "scripts/demo.sh", "deploy/prometheus/prometheus.yml", "deploy/grafana/hydra-services.json",
    ):
        check(f"deploy/README.md covers `{needle}`", needle in text)


def plan():
    """How each server image starts, from the Dockerfile."""
    stages = dockerfile_stages()
    for target in SERVERS:
        entry = json.loads(stage_value(stages, target, "ENTRYPOINT") or "[]")
        cmd = json.loads(stage_value(stages, target, "CMD") or "[]")
        copied = [a for i, a in stages[target]["lines"] if i == "COPY"]
        cfg = [a.split()[0] for a in copied if a.endswith(" /app/config/config.json")]
        env = []
        name = target
        chain = []
        while name in stages:
            chain.append(name)
            name = stages[name]["from"]
        for name in reversed(chain):
            for instr, args in stages[name]["lines"]:
                if instr == "ENV":
                    env += re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", args)
        print("|".join([
            target,
            " ".join(entry + cmd),
            cfg[0] if cfg else "",
            HEALTH_PATHS[target],
            " ".join(f"{k}={v}" for k, v in env),
        ]))
    return 0


def main():
    if PLAN:
        return plan()
    ports = check_dockerfile()
    check_dockerignore()
    check_configs(ports)
    check_compose(ports)
    check_stack(ports)
    check_prometheus()
    check_dashboard_queries()
    check_readme()
    return 1 if False in results else 0


if __name__ == "__main__":
    sys.exit(main())
