#!/usr/bin/env python3
"""Offline checks of the Kubernetes deployment (deploy/kubernetes) and its image (deploy/Dockerfile).

tests/run.sh runs it before the Rust tests. It needs no cluster and no network: the Kubernetes
OpenAPI schemas ship inside the kubernetes-validate package (tests/setup.sh installs the pinned
version), and everything else is read from the files. It prints one line per check, "ok" or
"FAIL" with the reason, then a count, and exits 1 if any check failed.

    validate.py [--manifests DIR] [--dockerfile FILE]

What it checks, beyond each object's schema (strict: an unknown field fails):
- kustomization.yaml lists every manifest, and no Secret value is written in them;
- the Dockerfile builds the production binary (--no-default-features) and runs it as non-root;
- the Deployment agrees with the gateway.toml of its ConfigMap (parsed with tomllib): probes on
  the admin listener's port, Services on the portal's and metrics' ports, a termination grace
  period that covers the preStop sleep + server.grace_period + server.graceful_shutdown_timeout,
  every { env } secret filled from a Secret, the signing keys mounted, nothing written to a
  read-only place, the shared state several replicas need, and every service file mounted at
  services/<ministry>/<id>.toml;
- the pod's security context (non-root, read-only root, no capabilities, seccomp), resources,
  the NetworkPolicy, the HPA and the PodDisruptionBudget.
"""

from __future__ import annotations

import argparse
import json
import posixpath
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

# Validated against the oldest Kubernetes the manifests are for (1.30: the first release with the
# preStop `sleep` action on by default) and the newest the pinned kubernetes-validate ships.
K8S_VERSIONS = ("1.30.0", "1.37.0")

BINARY = "/usr/local/bin/egov-gateway"
APP_LABEL = {"app.kubernetes.io/name": "egov-gateway"}


class Fail(Exception):
    """A check's failure, with the precise reason."""


# --- reading -------------------------------------------------------------------------------


def load_manifests(directory: Path) -> dict[str, list[dict]]:
    """Every YAML file of `directory` (kustomization.yaml included) -> its documents."""
    out = {}
    for f in sorted(directory.glob("*.yaml")):
        with f.open(encoding="utf-8") as fh:
            out[f.name] = [d for d in yaml.safe_load_all(fh) if d]
    return out


def objects(manifests: dict[str, list[dict]]) -> list[dict]:
    return [d for name, docs in manifests.items() if name != "kustomization.yaml" for d in docs]


def one(objs: list[dict], kind: str, name: str | None = None) -> dict:
    found = [
        o
        for o in objs
        if o.get("kind") == kind and (name is None or o.get("metadata", {}).get("name") == name)
    ]
    what = f"{kind} {name}" if name else kind
    if len(found) != 1:
        raise Fail(f"expected exactly one {what} in the manifests, found {len(found)}")
    return found[0]


def gateway_toml(objs: list[dict]) -> dict:
    cm = one(objs, "ConfigMap", "egov-gateway-config")
    text = cm.get("data", {}).get("gateway.toml")
    if text is None:
        raise Fail("ConfigMap egov-gateway-config has no gateway.toml key")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise Fail(f"ConfigMap egov-gateway-config: gateway.toml does not parse: {e}") from e


def pod_spec(objs: list[dict]) -> dict:
    return one(objs, "Deployment", "egov-gateway")["spec"]["template"]["spec"]


def container(objs: list[dict]) -> dict:
    cs = pod_spec(objs)["containers"]
    named = [c for c in cs if c.get("name") == "egov-gateway"]
    if len(named) != 1:
        raise Fail("the Deployment has no container named egov-gateway")
    return named[0]


def duration_seconds(text: str, key: str) -> float:
    """A gateway duration ("5s", "500ms", "1m", "1h 30m") in seconds."""
    units = {"ms": 0.001, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}
    parts = re.findall(r"(\d+)\s*([a-z]+)", text.strip())
    if not parts or re.sub(r"(\d+)\s*([a-z]+)", "", text).strip():
        raise Fail(f"gateway.toml {key} = {text!r} is not a duration")
    total = 0.0
    for number, unit in parts:
        if unit not in units:
            raise Fail(f"gateway.toml {key} = {text!r}: unknown unit {unit!r}")
        total += int(number) * units[unit]
    return total


def listen_addr(value: str, key: str) -> tuple[str, int]:
    m = re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[0-9.]+):(\d+)", value)
    if not m:
        raise Fail(f"gateway.toml {key} = {value!r} is not an IP:port address")
    return m.group(1), int(m.group(2))


def all_addresses(host: str) -> bool:
    return host in ("0.0.0.0", "[::]")


def container_port(c: dict, port) -> int:
    """A probe's or Service's port (a number or a container port's name) as a number."""
    if isinstance(port, int):
        return port
    for p in c.get("ports", []):
        if p.get("name") == port:
            return p["containerPort"]
    raise Fail(f"port {port!r} is not a port name of the egov-gateway container")


def mounts_by_path(c: dict) -> dict[str, dict]:
    return {m["mountPath"].rstrip("/"): m for m in c.get("volumeMounts", [])}


def volume(spec: dict, name: str) -> dict:
    for v in spec.get("volumes", []):
        if v["name"] == name:
            return v
    raise Fail(f"the Deployment mounts volume {name!r} but does not define it")


def mount_for(c: dict, path: str) -> tuple[dict, str] | None:
    """The mount `path` lies under (the deepest), and the path inside that volume."""
    best = None
    for mount_path, m in mounts_by_path(c).items():
        if path == mount_path or path.startswith(mount_path + "/"):
            if best is None or len(mount_path) > len(best[0]):
                best = (mount_path, m)
    if best is None:
        return None
    return best[1], posixpath.relpath(path, best[0])


def env_refs(value, key: str = "") -> list[tuple[str, str]]:
    """Every { env = "NAME" } secret reference in gateway.toml: (key, NAME)."""
    out = []
    if isinstance(value, dict):
        if set(value) <= {"env", "file", "stored"} and "env" in value:
            out.append((key, value["env"]))
        for k, v in value.items():
            out.extend(env_refs(v, f"{key}.{k}" if key else k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(env_refs(v, f"{key}[{i}]"))
    return out


def selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# --- the Dockerfile ------------------------------------------------------------------------


def dockerfile_stages(path: Path) -> list[dict]:
    """[{"from": image, "name": alias, "instructions": [(INSTR, args)]}] in order."""
    lines, current = [], ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    if current:
        lines.append(current)
    stages: list[dict] = []
    for line in lines:
        instr, _, args = line.partition(" ")
        instr, args = instr.upper(), args.strip()
        if instr == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            stages.append({"from": words[0], "name": name, "instructions": []})
        elif not stages:
            if instr != "ARG":
                raise Fail(f"{path.name}: {instr} before the first FROM")
        else:
            stages[-1]["instructions"].append((instr, args))
    if not stages:
        raise Fail(f"{path.name} has no FROM")
    return stages


def final_stage(stages: list[dict]) -> dict:
    return stages[-1]


def entrypoint(stage: dict) -> list[str]:
    found = [a for i, a in stage["instructions"] if i == "ENTRYPOINT"]
    if not found:
        raise Fail("the final stage has no ENTRYPOINT")
    try:
        value = json.loads(found[-1])
    except json.JSONDecodeError as e:
        raise Fail(f"ENTRYPOINT is not in exec (JSON) form: {found[-1]}") from e
    return value


# --- the checks ----------------------------------------------------------------------------


def check_kustomization(manifests, directory: Path) -> str:
    docs = manifests.get("kustomization.yaml")
    if not docs:
        raise Fail(f"{directory}/kustomization.yaml is missing")
    listed = docs[0].get("resources", [])
    present = sorted(n for n in manifests if n != "kustomization.yaml")
    missing = [n for n in listed if not (directory / n).is_file()]
    unlisted = [n for n in present if n not in listed]
    if missing:
        raise Fail(f"kustomization.yaml lists files that do not exist: {', '.join(missing)}")
    if unlisted:
        raise Fail(f"kustomization.yaml does not list: {', '.join(unlisted)}")
    return f"{len(listed)} manifests"


def check_schema(directory: Path, name: str, docs: list[dict]) -> str:
    cmd = [sys.executable, "-m", "kubernetes_validate", "--strict"]
    for v in K8S_VERSIONS:
        cmd += ["-k", v]
    cmd.append(str(directory / name))
    run = subprocess.run(cmd, capture_output=True, text=True)
    lines = [l for l in (run.stdout + run.stderr).splitlines() if l.strip()]
    if "No module named kubernetes_validate" in run.stderr:
        raise Fail("kubernetes-validate is not installed (tests/setup.sh installs it)")
    # A kind without a schema is only a WARN to the tool: here it fails too.
    bad = [l for l in lines if not l.startswith("INFO ")]
    passed = [l for l in lines if l.startswith("INFO ") and " passed " in l]
    if run.returncode != 0 or bad:
        raise Fail("; ".join(bad) or f"kubernetes-validate exited {run.returncode}")
    expected = len(docs) * len(K8S_VERSIONS)
    if len(passed) != expected:
        raise Fail(f"{len(passed)} of {expected} object validations reported as passed: {lines}")
    kinds = ", ".join(f"{d['kind']}/{d['metadata']['name']}" for d in docs)
    return f"{kinds} (Kubernetes {' and '.join(K8S_VERSIONS)}, strict)"


def check_no_secret_values(objs, gw) -> str:
    secrets = [o["metadata"]["name"] for o in objs if o.get("kind") == "Secret"]
    if secrets:
        raise Fail(f"Secret objects (values) in the manifests: {', '.join(secrets)}; create them with kubectl instead")
    referenced = {name for _, name in env_refs(gw)}
    literal = [e["name"] for e in container(objs).get("env", []) if e["name"] in referenced and "value" in e]
    if literal:
        raise Fail(f"secret env vars with a literal value in the Deployment: {', '.join(literal)}")
    for cm in (o for o in objs if o.get("kind") == "ConfigMap"):
        for key, text in cm.get("data", {}).items():
            if re.search(r"redis(s)?://[^/\s\"']*:[^@/\s\"']+@", text):
                raise Fail(f"ConfigMap {cm['metadata']['name']} {key}: a Redis URL with a password")
    return "no Secret object, no literal secret, no password in a ConfigMap"


def check_dockerfile_binary(dockerfile: Path) -> str:
    stages = dockerfile_stages(dockerfile)
    final = final_stage(stages)
    copies = [a for i, a in final["instructions"] if i == "COPY" and "--from=" in a]
    source = None
    for a in copies:
        words = a.split()
        if words[-1] == BINARY:
            source = next(w.split("=", 1)[1] for w in words if w.startswith("--from="))
    if source is None:
        raise Fail(f"the final stage does not COPY --from=<build stage> ... {BINARY}")
    build = [s for s in stages[:-1] if s["name"] == source]
    if not build:
        raise Fail(f"COPY --from={source}: no earlier stage is named {source}")
    runs = [a for i, a in build[0]["instructions"] if i == "RUN" and "cargo build" in a]
    if not runs:
        raise Fail(f"stage {source} has no RUN cargo build")
    words = shlex.split(runs[-1])
    need = ["--release", "--locked", "--no-default-features"]
    missing = [w for w in need if w not in words]
    if missing:
        raise Fail(f"stage {source}'s cargo build lacks {' '.join(missing)}: {runs[-1]}")
    if not any(words[i] == "-p" and words[i + 1] == "egov-gateway" for i in range(len(words) - 1)):
        raise Fail(f"stage {source}'s cargo build does not select -p egov-gateway")
    if any(w in ("--features", "--all-features", "-F") or w.startswith("--features=") for w in words):
        raise Fail(f"stage {source}'s cargo build turns features back on: {runs[-1]}")
    return f"stage {source}: cargo build --release --locked -p egov-gateway --no-default-features -> {BINARY}"


def check_dockerfile_user(dockerfile: Path, objs) -> str:
    final = final_stage(dockerfile_stages(dockerfile))
    users = [a.split(":")[0].strip() for i, a in final["instructions"] if i == "USER"]
    if not users:
        raise Fail(f"the final stage ({final['from']}) sets no USER: name a non-root user explicitly")
    user = users[-1]
    if user in ("root", "0", ""):
        raise Fail(f"the final stage runs as USER {user}")
    if not user.isdigit():
        # runAsNonRoot cannot verify a user name: the kubelet refuses to start the container
        # unless the pod gives a numeric runAsUser.
        spec, c = pod_spec(objs), container(objs)
        uid = c.get("securityContext", {}).get("runAsUser", spec.get("securityContext", {}).get("runAsUser"))
        if not isinstance(uid, int) or uid == 0:
            raise Fail(f"USER {user} is a name: the Deployment must set a numeric non-zero runAsUser for runAsNonRoot")
        return f"USER {user} on {final['from']} (the Deployment runs it as uid {uid})"
    return f"USER {user} on {final['from']}"


def check_dockerfile_entrypoint(dockerfile: Path, gw, objs) -> str:
    final = final_stage(dockerfile_stages(dockerfile))
    ep = entrypoint(final)
    if ep[:3] != [BINARY, "serve", "--config"] or len(ep) != 4:
        raise Fail(f"ENTRYPOINT is {ep}, expected [{BINARY!r}, 'serve', '--config', <gateway.toml>]")
    c = container(objs)
    if c.get("command") or c.get("args"):
        raise Fail("the Deployment overrides the image's ENTRYPOINT (command/args)")
    exposed = {int(p.split("/")[0]) for i, a in final["instructions"] if i == "EXPOSE" for p in a.split()}
    ports = {
        "portal.listen": [listen_addr(a, "portal.listen")[1] for a in gw.get("portal", {}).get("listen", [])],
        "admin.listen": [listen_addr(gw["admin"]["listen"], "admin.listen")[1]] if gw.get("admin", {}).get("listen") else [],
        "metrics.listen": [listen_addr(gw["metrics"]["listen"], "metrics.listen")[1]] if gw.get("metrics", {}).get("listen") else [],
    }
    for key, ps in ports.items():
        for p in ps:
            if p not in exposed:
                raise Fail(f"gateway.toml {key} port {p} is not EXPOSEd (EXPOSE {sorted(exposed)})")
    return f"{' '.join(ep)}; EXPOSE {' '.join(map(str, sorted(exposed)))}"


def check_config_layout(dockerfile: Path, gw, objs) -> str:
    """The --config path, ministries_file and services_dir exist in the pod as gateway.toml says."""
    config_path = entrypoint(final_stage(dockerfile_stages(dockerfile)))[3]
    spec, c = pod_spec(objs), container(objs)
    found = mount_for(c, config_path)
    if not found:
        raise Fail(f"nothing is mounted at {posixpath.dirname(config_path)} (the ENTRYPOINT reads {config_path})")
    mount, inner = found
    if not mount.get("readOnly"):
        raise Fail(f"the configuration mount {mount['mountPath']} is not readOnly")
    vol = volume(spec, mount["name"])
    sources = vol.get("projected", {}).get("sources") or ([{"configMap": vol["configMap"]}] if "configMap" in vol else [])
    if not sources:
        raise Fail(f"volume {vol['name']} (mounted at {mount['mountPath']}) is neither a ConfigMap nor a projected volume")
    files: dict[str, tuple[str, str]] = {}  # path in the volume -> (ConfigMap, key)
    for s in sources:
        cm_ref = s.get("configMap")
        if not cm_ref:
            continue
        cm = one(objs, "ConfigMap", cm_ref["name"])
        data = cm.get("data", {})
        items = cm_ref.get("items") or [{"key": k, "path": k} for k in data]
        for it in items:
            if it["key"] not in data:
                raise Fail(f"volume {vol['name']} maps key {it['key']!r} that ConfigMap {cm_ref['name']} does not have")
            if it["path"] in files:
                raise Fail(f"volume {vol['name']}: two sources write {it['path']}")
            files[it["path"]] = (cm_ref["name"], it["key"])
        if cm_ref["name"] == "egov-services":
            mapped = {it["key"] for it in items}
            unmapped = sorted(set(data) - mapped)
            if unmapped:
                raise Fail(
                    f"ConfigMap egov-services keys not mounted by volume {vol['name']}'s items: "
                    f"{', '.join(unmapped)} (add a `key: ..., path: services/<ministry-id>/<service-id>.toml` line)"
                )
    if inner not in files or files[inner] != ("egov-gateway-config", "gateway.toml"):
        raise Fail(f"{config_path} is not ConfigMap egov-gateway-config's gateway.toml (volume {vol['name']} has {sorted(files)})")

    def inside(written: str) -> str:
        # Relative paths in gateway.toml are relative to its directory.
        full = written if written.startswith("/") else posixpath.normpath(posixpath.join(posixpath.dirname(config_path), written))
        where = mount_for(c, full)
        if not where or where[0] is not mount:
            raise Fail(f"{full} is not in the configuration volume mounted at {mount['mountPath']}")
        return where[1]

    ministries_path = inside(gw.get("ministries_file", "ministries.toml"))
    if ministries_path not in files:
        raise Fail(f"ministries file {ministries_path} is not in volume {vol['name']}")
    ministries = tomllib.loads(one(objs, "ConfigMap", files[ministries_path][0])["data"][files[ministries_path][1]])
    services_dir = inside(gw.get("services_dir", "services"))
    count = 0
    for path, (cm_name, key) in sorted(files.items()):
        if posixpath.dirname(posixpath.dirname(path)) != services_dir or not path.endswith(".toml"):
            if path.startswith(services_dir + "/"):
                raise Fail(f"{path} (ConfigMap {cm_name} key {key}): service files belong at {services_dir}/<ministry-id>/<service-id>.toml")
            continue
        svc = tomllib.loads(one(objs, "ConfigMap", cm_name)["data"][key])
        ministry, sid = posixpath.basename(posixpath.dirname(path)), posixpath.basename(path)[: -len(".toml")]
        if svc.get("id") != sid or svc.get("ministry") != ministry:
            raise Fail(f"{path} (key {key}) holds id={svc.get('id')!r} ministry={svc.get('ministry')!r}: the path must be {services_dir}/<ministry>/<id>.toml")
        if ministry not in ministries:
            raise Fail(f"{path}: ministry {ministry!r} is not in {ministries_path}")
        count += 1
    if count == 0:
        raise Fail(f"no service file is mounted under {mount['mountPath']}/{services_dir}")
    return f"{config_path}, {ministries_path} and {count} service file(s) under {services_dir}/ in volume {vol['name']}"


def check_probes(gw, objs) -> str:
    # The probes ask the metrics listener, which ministries do not reach: a flood of the
    # admin listener (its connection caps full) must not restart every pod at once.
    metrics = gw.get("metrics", {}).get("listen")
    if not metrics:
        raise Fail("gateway.toml has no [metrics] listen: the probes have nothing to ask")
    host, port = listen_addr(metrics, "metrics.listen")
    if not all_addresses(host):
        raise Fail(f"metrics.listen = {metrics!r}: the kubelet probes the pod IP, so it must bind 0.0.0.0 or [::]")
    c = container(objs)
    want = {"readinessProbe": ("/readyz",), "livenessProbe": ("/healthz",), "startupProbe": ("/healthz", "/readyz")}
    said = []
    for probe, paths in want.items():
        p = c.get(probe)
        if not p or "httpGet" not in p:
            raise Fail(f"the container has no HTTP {probe}")
        got_path, got_port = p["httpGet"].get("path"), container_port(c, p["httpGet"]["port"])
        if got_path not in paths:
            raise Fail(f"{probe} asks {got_path}, expected {' or '.join(paths)}")
        if got_port != port:
            raise Fail(f"{probe} asks port {got_port}, but metrics.listen is {metrics} (the admin listener is the ministries' to fill)")
        said.append(f"{probe.replace('Probe', '')} {got_path}")
    return f"{', '.join(said)} on {port} = metrics.listen {metrics}"


def check_services(gw, objs) -> str:
    c = container(objs)
    labels = one(objs, "Deployment", "egov-gateway")["spec"]["template"]["metadata"]["labels"]
    portal_ports = {listen_addr(a, "portal.listen")[1] for a in gw.get("portal", {}).get("listen", [])}
    for a in gw.get("portal", {}).get("listen", []):
        if not all_addresses(listen_addr(a, "portal.listen")[0]):
            raise Fail(f"portal.listen {a!r} is not reachable from the Service (bind 0.0.0.0 or [::])")
    web = one(objs, "Service", "egov-gateway")
    metrics_addr = gw.get("metrics", {}).get("listen")
    if not metrics_addr:
        raise Fail("gateway.toml has no [metrics] listen")
    mhost, mport = listen_addr(metrics_addr, "metrics.listen")
    if not all_addresses(mhost):
        raise Fail(f"metrics.listen = {metrics_addr!r}: Prometheus scrapes the pod IP, bind 0.0.0.0 or [::]")
    scrape = one(objs, "Service", "egov-gateway-metrics")
    for svc in (o for o in objs if o.get("kind") == "Service"):
        if not selects(svc["spec"].get("selector", {}), labels):
            raise Fail(f"Service {svc['metadata']['name']} does not select the Deployment's pods {labels}")
    if web["spec"].get("type", "ClusterIP") != "ClusterIP":
        raise Fail(f"Service egov-gateway is {web['spec']['type']}, expected ClusterIP")
    targets = [(p["port"], container_port(c, p.get("targetPort", p["port"]))) for p in web["spec"]["ports"]]
    if [t for _, t in targets if t not in portal_ports]:
        raise Fail(f"Service egov-gateway targets {[t for _, t in targets]}, portal.listen ports are {sorted(portal_ports)}")
    if 80 not in [p for p, _ in targets]:
        raise Fail("Service egov-gateway does not serve port 80")
    mtargets = [container_port(c, p.get("targetPort", p["port"])) for p in scrape["spec"]["ports"]]
    if mtargets != [mport]:
        raise Fail(f"Service egov-gateway-metrics targets {mtargets}, metrics.listen is {metrics_addr}")
    kind = "headless" if scrape["spec"].get("clusterIP") == "None" else "ClusterIP"
    return f"egov-gateway 80 -> {sorted(portal_ports)} (portal.listen); egov-gateway-metrics ({kind}) -> {mport} (metrics.listen)"


def check_network_policy(gw, objs) -> str:
    np = one(objs, "NetworkPolicy", "egov-gateway")
    labels = one(objs, "Deployment", "egov-gateway")["spec"]["template"]["metadata"]["labels"]
    if not selects(np["spec"].get("podSelector", {}).get("matchLabels", {}), labels):
        raise Fail("NetworkPolicy egov-gateway does not select the gateway's pods")
    if "Ingress" not in np["spec"].get("policyTypes", ["Ingress"]):
        raise Fail("NetworkPolicy egov-gateway does not restrict Ingress")
    side = {listen_addr(gw[k]["listen"], f"{k}.listen")[1] for k in ("admin", "metrics") if gw.get(k, {}).get("listen")}
    portal = {listen_addr(a, "portal.listen")[1] for a in gw["portal"]["listen"]}
    open_to_all, restricted = set(), set()
    for rule in np["spec"].get("ingress", []):
        ports = {p["port"] for p in rule.get("ports", [])}
        peers = rule.get("from")
        if not rule.get("ports"):
            if not peers:
                raise Fail("an ingress rule with no ports and no peers opens every port to everyone")
            raise Fail("an ingress rule with no ports opens every port (the side ports too) to its peers")
        if not peers:
            open_to_all |= ports
        else:
            if any("namespaceSelector" not in p or "ipBlock" in p for p in peers):
                raise Fail("the side ports' rule must admit namespaces by label only (namespaceSelector)")
            restricted |= ports
    if side & open_to_all:
        raise Fail(f"ports {sorted(side & open_to_all)} (admin/metrics) are open to everyone")
    if not side <= restricted:
        raise Fail(f"ports {sorted(side - restricted)} (admin/metrics) are not admitted from the monitoring namespace")
    if not portal <= open_to_all:
        raise Fail(f"the portal's ports {sorted(portal - open_to_all)} are not open to the load balancer")
    return f"{sorted(portal)} open; {sorted(side)} only from labelled namespaces"


def check_termination(gw, objs) -> str:
    spec, c = pod_spec(objs), container(objs)
    server = gw.get("server", {})
    grace = duration_seconds(server.get("grace_period", "5s"), "server.grace_period")
    drain = duration_seconds(server.get("graceful_shutdown_timeout", "10s"), "server.graceful_shutdown_timeout")
    pre = c.get("lifecycle", {}).get("preStop")
    if not pre or "sleep" not in pre:
        raise Fail("the container has no preStop sleep: load balancers would still send to a pod that got SIGTERM")
    sleep = pre["sleep"]["seconds"]
    tgps = spec.get("terminationGracePeriodSeconds", 30)
    need = sleep + grace + drain
    arithmetic = f"{sleep}s preStop + {grace:g}s grace_period + {drain:g}s graceful_shutdown_timeout = {need:g}s"
    if tgps < need:
        raise Fail(f"terminationGracePeriodSeconds {tgps}s < {arithmetic}: pods would be killed mid-drain")
    return f"terminationGracePeriodSeconds {tgps}s >= {arithmetic}"


def check_pod_security(objs) -> str:
    spec, c = pod_spec(objs), container(objs)
    psc, csc = spec.get("securityContext", {}), c.get("securityContext", {})
    problems = []
    if not (csc.get("runAsNonRoot", psc.get("runAsNonRoot"))):
        problems.append("runAsNonRoot is not true")
    if csc.get("runAsUser", psc.get("runAsUser")) == 0:
        problems.append("runAsUser is 0")
    if csc.get("readOnlyRootFilesystem") is not True:
        problems.append("readOnlyRootFilesystem is not true")
    if csc.get("allowPrivilegeEscalation") is not False:
        problems.append("allowPrivilegeEscalation is not false")
    caps = csc.get("capabilities", {})
    if "ALL" not in caps.get("drop", []):
        problems.append("capabilities do not drop ALL")
    if caps.get("add"):
        problems.append(f"capabilities add {caps['add']}")
    if csc.get("privileged"):
        problems.append("privileged")
    seccomp = csc.get("seccompProfile", psc.get("seccompProfile", {})).get("type")
    if seccomp != "RuntimeDefault":
        problems.append(f"seccompProfile is {seccomp}, not RuntimeDefault")
    res = c.get("resources", {})
    for side in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in res.get(side, {}):
                problems.append(f"no {side}.{r}")
    if problems:
        raise Fail("; ".join(problems))
    return "non-root, read-only root, no capabilities, no escalation, RuntimeDefault seccomp, requests and limits"


def check_writable(dockerfile: Path, gw, objs) -> str:
    """What the gateway writes must be on a writable volume (the root filesystem is read-only)."""
    spec, c = pod_spec(objs), container(objs)
    # Relative paths in gateway.toml are relative to its directory.
    config_dir = posixpath.dirname(entrypoint(final_stage(dockerfile_stages(dockerfile)))[3])
    redis = bool(gw.get("redis", {}).get("urls"))
    writes = [("server.upgrade_sock", posixpath.dirname(gw.get("server", {}).get("upgrade_sock", "/tmp/egov-gateway-upgrade.sock")))]
    targets = [("admin.audit_log", gw.get("admin", {}).get("audit_log", "file:admin-audit.jsonl")),
               ("telemetry.access_log", gw.get("telemetry", {}).get("access_log", "off"))]
    if not redis:
        targets.append(("portal.feedback_log", gw.get("portal", {}).get("feedback_log", "file:routing-feedback.jsonl")))
    if gw.get("registry", {}).get("store", "files") == "files":
        targets.append(("registry.history", "file:" + gw.get("registry", {}).get("history", "registry-history.jsonl")))
    for key, value in targets:
        if value.startswith("file:"):
            p = value[5:]
            writes.append((key, posixpath.dirname(p if p.startswith("/") else posixpath.join(config_dir, p))))
    for key, directory in writes:
        found = mount_for(c, directory)
        if not found:
            raise Fail(f"{key} writes in {directory}, on the read-only root filesystem")
        mount, _ = found
        vol = volume(spec, mount["name"])
        if mount.get("readOnly") or not ("emptyDir" in vol or "persistentVolumeClaim" in vol or "ephemeral" in vol):
            raise Fail(f"{key} writes in {directory}, on read-only volume {mount['name']} ({mount['mountPath']})")
    return ", ".join(f"{k} -> {d}" for k, d in writes) + " (writable emptyDir); the rest to stdout"


def check_shared_state(gw, objs) -> str:
    hpa = one(objs, "HorizontalPodAutoscaler", "egov-gateway")
    n = hpa["spec"].get("minReplicas", 1)
    if n <= 1:
        return "one instance: nothing to share"
    problems = []
    if not gw.get("redis", {}).get("urls"):
        problems.append("no [redis] urls (sessions, routing decisions, cache L2 stay per pod)")
    if gw.get("registry", {}).get("store", "files") != "redis":
        problems.append('registry.store is not "redis" (admin API changes would reach one pod only)')
    if gw.get("sessions", {}).get("store") == "memory":
        problems.append('sessions.store = "memory" (a citizen logged in on one pod only)')
    if gw.get("cache", {}).get("shared") is False:
        problems.append("cache.shared = false")
    identity = gw.get("identity", {})
    if not identity.get("signing_keys"):
        problems.append("no identity.signing_keys (each pod would publish its own JWKS)")
    if not identity.get("pairwise_secret"):
        problems.append("no identity.pairwise_secret (one citizen would get a different subject per pod)")
    if problems:
        raise Fail(f"{n} replicas but: " + "; ".join(problems))
    return f"{n}+ replicas share [redis] {gw['redis']['urls']}, the registry, and one identity"


def check_secrets_wired(gw, objs) -> str:
    spec, c = pod_spec(objs), container(objs)
    env = {e["name"]: e for e in c.get("env", [])}
    said = []
    for key, name in env_refs(gw):
        e = env.get(name)
        ref = (e or {}).get("valueFrom", {}).get("secretKeyRef")
        if not ref:
            raise Fail(f"gateway.toml {key} = {{ env = {name!r} }} but the container has no {name} from a secretKeyRef")
        said.append(f"{name} <- {ref['name']}/{ref['key']}")
    for i, path in enumerate(gw.get("identity", {}).get("signing_keys", [])):
        if not path.startswith("/"):
            raise Fail(f"identity.signing_keys[{i}] = {path!r}: give the absolute path of the mounted Secret file")
        found = mount_for(c, path)
        if not found:
            raise Fail(f"identity.signing_keys[{i}] = {path} is not on any mount")
        mount, inner = found
        secret = volume(spec, mount["name"]).get("secret")
        if not secret:
            raise Fail(f"identity.signing_keys[{i}] = {path} is on volume {mount['name']}, which is not a Secret")
        items = secret.get("items")
        if items is not None and inner not in [it["path"] for it in items]:
            raise Fail(f"identity.signing_keys[{i}]: Secret volume {mount['name']} does not project {inner}")
        said.append(f"{path} <- {secret['secretName']}")
    if not said:
        raise Fail("gateway.toml references no secret at all")
    return "; ".join(said)


def check_scaling(objs) -> str:
    dep = one(objs, "Deployment", "egov-gateway")
    hpa = one(objs, "HorizontalPodAutoscaler", "egov-gateway")
    pdb = one(objs, "PodDisruptionBudget", "egov-gateway")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    target = hpa["spec"]["scaleTargetRef"]
    if (target.get("kind"), target.get("name")) != ("Deployment", "egov-gateway"):
        raise Fail(f"the HPA scales {target}, not Deployment egov-gateway")
    lo, hi = hpa["spec"].get("minReplicas", 1), hpa["spec"]["maxReplicas"]
    if lo < 3 or hi < lo:
        raise Fail(f"HPA min {lo} / max {hi}: at least 3 instances, and max >= min")
    cpu = [m for m in hpa["spec"].get("metrics", []) if m.get("type") == "Resource" and m["resource"]["name"] == "cpu"]
    if not cpu:
        raise Fail("the HPA does not scale on CPU")
    if "replicas" in dep["spec"]:
        raise Fail(
            f"Deployment sets spec.replicas = {dep['spec']['replicas']} while the HPA owns the count: "
            "every kubectl apply would reset a scaled-up Deployment"
        )
    if not selects(pdb["spec"].get("selector", {}).get("matchLabels", {}), labels):
        raise Fail("the PodDisruptionBudget does not select the gateway's pods")
    available = pdb["spec"].get("minAvailable")
    if not isinstance(available, int) or available >= lo:
        raise Fail(f"PDB minAvailable {available!r} must be a number below the HPA's minReplicas {lo}, or no node could ever drain")
    util = cpu[0]["resource"]["target"].get("averageUtilization")
    return f"HPA {lo}..{hi} at {util}% CPU; PDB minAvailable {available} < {lo}"


# --- running -------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifests", type=Path, default=ROOT / "deploy" / "kubernetes")
    parser.add_argument("--dockerfile", type=Path, default=ROOT / "deploy" / "Dockerfile")
    args = parser.parse_args()
    directory, dockerfile = args.manifests, args.dockerfile

    results: list[bool] = []

    def check(name: str, fn, *a) -> None:
        try:
            detail = fn(*a)
            print(f"ok   {name}: {detail}")
            results.append(True)
        except Fail as e:
            print(f"FAIL {name}: {e}")
            results.append(False)
        except (KeyError, TypeError, IndexError, ValueError, StopIteration) as e:
            print(f"FAIL {name}: missing or malformed field ({type(e).__name__}: {e})")
            results.append(False)

    try:
        manifests = load_manifests(directory)
    except (OSError, yaml.YAMLError) as e:
        print(f"FAIL reading {directory}: {e}")
        print("deploy: 0 passed, 1 failed")
        return 1
    if not manifests:
        print(f"FAIL reading {directory}: no *.yaml file")
        print("deploy: 0 passed, 1 failed")
        return 1
    if not dockerfile.is_file():
        print(f"FAIL reading {dockerfile}: no such file")
        print("deploy: 0 passed, 1 failed")
        return 1
    objs = objects(manifests)

    check("kustomization", check_kustomization, manifests, directory)
    for name, docs in manifests.items():
        if name != "kustomization.yaml":
            check(f"schema {name}", check_schema, directory, name, docs)
    check("dockerfile binary", check_dockerfile_binary, dockerfile)
    check("dockerfile user", check_dockerfile_user, dockerfile, objs)

    try:
        gw = gateway_toml(objs)
        print(f"ok   gateway.toml: parsed from ConfigMap egov-gateway-config ({', '.join(sorted(gw))})")
        results.append(True)
    except Fail as e:
        print(f"FAIL gateway.toml: {e}")
        results.append(False)
        gw = None
    if gw is not None:
        check("dockerfile entrypoint", check_dockerfile_entrypoint, dockerfile, gw, objs)
        check("config volume", check_config_layout, dockerfile, gw, objs)
        check("probes", check_probes, gw, objs)
        check("services", check_services, gw, objs)
        check("network policy", check_network_policy, gw, objs)
        check("termination grace", check_termination, gw, objs)
        check("secrets wired", check_secrets_wired, gw, objs)
        check("no secret values", check_no_secret_values, objs, gw)
        check("writable paths", check_writable, dockerfile, gw, objs)
        check("shared state", check_shared_state, gw, objs)
    check("pod security", check_pod_security, objs)
    check("scaling", check_scaling, objs)

    passed, failed = results.count(True), results.count(False)
    print(f"deploy: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
