"""The deployment files in ``deploy/`` are checked by the tools operators would use.

* Kubernetes manifests: ``kubernetes-validate --strict`` (the API's own OpenAPI schemas,
  unknown fields rejected), then the wiring between them: the Service reaches the
  collector's ports, the Host sFlow DaemonSet sends to that Service from the host's
  network, the ConfigMap holds properties FlowRT knows and is mounted where FlowRT reads
  ``conf.d``, probes ask ``/version``.
* The systemd unit: ``systemd-analyze verify`` (offline; it needs the ``ExecStart``
  binary to exist, so a copy of the unit points at this environment's ``flowrt``).
* The Dockerfile's contract with the rest (entrypoint, ports, volumes, healthcheck).
* The Grafana dashboard parses and its variables are defined; that every metric it
  queries is one FlowRT exports is checked against a real server in
  ``tests/integration/test_deploy_runtime.py``.

Each check is also shown failing on a broken copy, so a tool that accepts anything
cannot pass the test.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REPO_ROOT
from flowrt.config import KNOWN_PROPERTIES, Properties, environment_warnings, parse_property_lines

DEPLOY = REPO_ROOT / "deploy"
KUBERNETES = DEPLOY / "kubernetes"
UNIT = DEPLOY / "systemd" / "flowrt.service"
DOCKERFILE = DEPLOY / "Dockerfile"
DASHBOARD = DEPLOY / "grafana" / "flowrt.json"
UNIT_EXEC = "/opt/flowrt/bin/flowrt"
HTTP_PORT, SFLOW_PORT = 8008, 6343
CONF_DIR_IN_IMAGE = "/flowrt/conf.d"


def kubernetes_validate() -> str:
    """The ``kubernetes-validate`` command of this environment (a dev dependency)."""
    found = shutil.which("kubernetes-validate") or str(
        Path(sys.executable).with_name("kubernetes-validate"))
    if not Path(found).exists():
        raise FileNotFoundError("kubernetes-validate is missing: pip install -e '.[dev]'")
    return found


def manifests() -> dict[str, dict[str, Any]]:
    """Every object in deploy/kubernetes, by kind."""
    files = sorted(KUBERNETES.glob("*.yaml"))
    assert files, f"no manifests in {KUBERNETES}"
    out: dict[str, dict[str, Any]] = {}
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc["kind"] not in out, f"two {doc['kind']} objects"
            out[doc["kind"]] = doc
    return out


def run_validate(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([kubernetes_validate(), "--strict", *map(str, paths)],
                          capture_output=True, text=True, timeout=120)


# --- Kubernetes ---------------------------------------------------------------------------
def test_kubernetes_manifests_validate_strictly() -> None:
    files = sorted(KUBERNETES.glob("*.yaml"))
    result = run_validate(*files)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == len(files), result.stdout


def test_kubernetes_validate_rejects_an_unknown_field(tmp_path: Path) -> None:
    broken = yaml.safe_load((KUBERNETES / "flowrt-service.yaml").read_text())
    broken["spec"]["ports"][0]["hostPort"] = HTTP_PORT  # not a ServicePort field
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    result = run_validate(path)
    assert result.returncode != 0
    assert "hostPort" in result.stdout + result.stderr


def test_service_reaches_the_collector_ports() -> None:
    objects = manifests()
    service, collector = objects["Service"], objects["StatefulSet"]
    ports = {(p["port"], p["protocol"]): p["targetPort"] for p in service["spec"]["ports"]}
    assert ports == {(HTTP_PORT, "TCP"): "http", (SFLOW_PORT, "UDP"): "sflow"}
    pod = collector["spec"]["template"]
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    (container,) = pod["spec"]["containers"]
    named = {p["name"]: (p["containerPort"], p["protocol"]) for p in container["ports"]}
    assert named == {"http": (HTTP_PORT, "TCP"), "sflow": (SFLOW_PORT, "UDP")}
    assert collector["spec"]["serviceName"] == service["metadata"]["name"]
    assert collector["spec"]["replicas"] == 1


def test_collector_pod_probes_limits_and_volumes() -> None:
    objects = manifests()
    pod = objects["StatefulSet"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/version", "port": "http"}
    resources = container["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert set(resources["limits"]) == {"cpu", "memory"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["config"] == CONF_DIR_IN_IMAGE
    assert mounts["store"] == "/flowrt/store"  # script.store, relative to /flowrt
    claims = [c["metadata"]["name"] for c in objects["StatefulSet"]["spec"]["volumeClaimTemplates"]]
    assert claims == ["store"]
    config = next(v for v in pod["volumes"] if v["name"] == "config")
    assert config["configMap"]["name"] == objects["ConfigMap"]["metadata"]["name"]
    # arguments after the image name are properties, as in `docker run IMAGE -D...`
    assert all(arg.startswith("-D") for arg in container["args"])


def test_configmap_holds_known_properties() -> None:
    data = manifests()["ConfigMap"]["data"]
    assert list(data) == ["flowrt.conf"]  # conf.d reads *.conf only
    values = parse_property_lines(data["flowrt.conf"], "flowrt.conf")
    known = {spec.name for spec in KNOWN_PROPERTIES}
    assert values and set(values) <= known
    props = Properties(values)
    assert props.misspellings() == []
    assert props.get_int("sflow.rcvpktsbuffer") == 4000


def test_host_sflow_daemonset_sends_to_the_service_from_the_host_network() -> None:
    objects = manifests()
    daemonset, service = objects["DaemonSet"], objects["Service"]
    pod = daemonset["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"  # else the Service name won't resolve
    (agent,) = pod["containers"]
    env = {e["name"]: e["value"] for e in agent["env"]}
    assert env["COLLECTOR"] == service["metadata"]["name"]
    assert int(env["SAMPLING"]) > 0 and int(env["POLLING"]) > 0
    assert set(agent["resources"]["limits"]) == {"cpu", "memory"}


# --- systemd -------------------------------------------------------------------------------
def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        raise FileNotFoundError("systemd-analyze is missing: apt-get install systemd")
    return found


def flowrt_executable() -> str:
    """This environment's ``flowrt`` console script (the unit's ExecStart must exist)."""
    found = Path(sys.executable).with_name("flowrt")
    if not found.exists():
        raise FileNotFoundError(f"{found} is missing: pip install -e .")
    return str(found)


def unit_copy(tmp_path: Path, text: str | None = None) -> Path:
    original = UNIT.read_text()
    assert f"ExecStart={UNIT_EXEC} run" in original
    path = tmp_path / "flowrt.service"
    path.write_text((text or original).replace(UNIT_EXEC, flowrt_executable()))
    return path


def verify(path: Path) -> str:
    """``systemd-analyze verify``: its complaints, or "" when the unit is clean."""
    result = subprocess.run([systemd_analyze(), "verify", str(path)], capture_output=True,
                            text=True, timeout=60)
    complaints = (result.stdout + result.stderr).strip()
    return complaints or ("" if result.returncode == 0 else f"exit {result.returncode}")


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    assert verify(unit_copy(tmp_path)) == ""


def test_systemd_verify_catches_a_misspelt_directive(tmp_path: Path) -> None:
    broken = UNIT.read_text().replace("NoNewPrivileges=yes", "NoNewPrivilege=yes")
    assert "Unknown key" in verify(unit_copy(tmp_path, broken))


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_systemd_unit_is_confined() -> None:
    s = unit_settings()
    assert s["User"] == ["flowrt"] and s["WorkingDirectory"] == ["/etc/flowrt"]
    assert s["AmbientCapabilities"] == ["CAP_NET_BIND_SERVICE"]
    assert s["CapabilityBoundingSet"] == ["CAP_NET_BIND_SERVICE"]
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome"):
        assert s[key] == ["yes"], key
    assert s["ProtectSystem"] == ["strict"]
    assert s["StateDirectory"] == ["flowrt flowrt/store flowrt/app"]
    exec_start = s["ExecStart"][0]
    assert "-Dscript.store=/var/lib/flowrt/store" in exec_start
    assert "-Dflowrt.app.dir=/var/lib/flowrt/app" in exec_start


# --- the container image --------------------------------------------------------------------
def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_contract() -> None:
    steps = dockerfile_instructions()
    args = [rest for word, rest in steps if word == "ARG"]
    assert args[0].startswith("BASE=python:3.11")  # the base is replaceable
    froms = [rest for word, rest in steps if word == "FROM"]
    assert froms == ["${BASE} AS builder", "${BASE} AS runtime"]
    second_from = [i for i, (word, _) in enumerate(steps) if word == "FROM"][1]
    runtime = steps[second_from:]
    last = {word: rest for word, rest in runtime}
    assert json.loads(last["ENTRYPOINT"]) == ["flowrt", "run"]
    assert last["USER"] == "flowrt"
    assert set(last["EXPOSE"].split()) == {f"{HTTP_PORT}/tcp", f"{SFLOW_PORT}/udp"}
    assert set(json.loads(last["VOLUME"])) == {"/flowrt/store", "/flowrt/app"}
    assert last["WORKDIR"] == "/flowrt"
    assert "/version" in last["HEALTHCHECK"]
    # the compiler stays in the builder
    assert not any("gcc" in rest for word, rest in runtime if word == "RUN")
    assert any("gcc" in rest and "python3-dev" in rest
               for word, rest in steps[: len(steps) - len(runtime)] if word == "RUN")


def test_dockerignore_keeps_the_context_small() -> None:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    assert "*" in lines and "!src/" in lines and "!pyproject.toml" in lines


# --- RTMEM and friends ----------------------------------------------------------------------
def test_jvm_launcher_variables_are_reported_as_ignored() -> None:
    assert environment_warnings({}) == []
    assert environment_warnings({"RTMEM": "", "RTPROP": "-Dhttp.port=1"}) == []
    (warning,) = environment_warnings({"RTMEM": "2G"})
    assert warning.startswith("RTMEM=2G is ignored")
    assert len(environment_warnings({"RTMEM": "1G", "RTGC": "-XX:+UseG1GC"})) == 2


# --- Grafana --------------------------------------------------------------------------------
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def dashboard_queries(board: dict[str, Any]) -> list[str]:
    """Every PromQL expression: panel targets and query variables."""
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            exprs.append(var["query"]["query"] if isinstance(var["query"], dict)
                         else var["query"])
    return exprs


def test_dashboard_parses_and_its_variables_are_defined() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] == "FlowRT"
    names = {var["name"] for var in board["templating"]["list"]}
    used: set[str] = set()
    for text in [*dashboard_queries(board), json.dumps(board["panels"])]:
        used |= set(re.findall(r"\$\{?([a-z]\w*)", text))
    assert used - {"__rate_interval"} <= names, used - names
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    targets = [p for p in board["panels"] if p["type"] != "row"]
    assert targets and all(p.get("targets") for p in targets)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
