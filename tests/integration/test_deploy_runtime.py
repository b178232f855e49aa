"""The deployment files against a real ``flowrt run``: what they expect is what it does.

* Every metric the Grafana dashboard (``deploy/grafana/flowrt.json``) queries is one a
  real server exports, fed a real capture, with the flows the dashboard documents
  (``DASHBOARD_FLOWS``, also in docs/deploy.md) defined over REST: a renamed metric
  would leave a panel silently empty.
* ``RTMEM`` (sFlow-RT's JVM heap) in the environment of a real server is reported as
  ignored, once, and the server runs.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from flowrt_process import FlowrtProcess

from conftest import REPO_ROOT, testdata

pytest_plugins = ["flowrt_process"]
DASHBOARD = REPO_ROOT / "deploy" / "grafana" / "flowrt.json"
DASHBOARD_FLOWS: dict[str, dict[str, str]] = {
    "top_pairs": {"keys": "ipsource,ipdestination", "value": "bytes"},
    "top_protocols": {"keys": "ipprotocol", "value": "bytes"},
    "total_bytes": {"value": "bytes"},
}
CAPTURE = "ovs-netns"
CAPTURE_DATAGRAMS = 153
METRIC_NAME = re.compile(r"\b(sflow_[A-Za-z0-9_:]+)")
SAMPLE_LINE = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]")


def dashboard_metric_names() -> set[str]:
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    exprs += [v["query"]["query"] for v in board["templating"]["list"] if v["type"] == "query"]
    names = {name for expr in exprs for name in METRIC_NAME.findall(expr)}
    assert names, "the dashboard queries no sflow_ metric"
    return names


def exported_names(text: str) -> set[str]:
    """Series names in a text exposition (what Prometheus stores), from sample lines."""
    return {m[1] for line in text.splitlines() if (m := SAMPLE_LINE.match(line))}


@pytest.fixture
def fed(flowrt: Callable[..., FlowrtProcess]) -> FlowrtProcess:
    """A server that replayed the capture with the dashboard's flows defined first."""
    process = flowrt(f"-Dsflow.file={testdata(CAPTURE + '.pcap')}", "-Dflowrt.replay.speed=0",
                     "-Dflowrt.replay.delay=2")
    for name, spec in DASHBOARD_FLOWS.items():
        assert process.put(f"/flow/{name}/json", spec).status_code in (200, 204)
    process.wait_for("/analyzer/json",
                     lambda a: a["sFlowDatagramsReceived"] == CAPTURE_DATAGRAMS, 30)
    return process


def test_every_dashboard_metric_is_exported(fed: FlowrtProcess) -> None:
    flows = ",".join(DASHBOARD_FLOWS)
    bodies: dict[str, Any] = {}
    for path in ("/prometheus/metrics/ALL/ALL/txt", f"/prometheus/metrics/ALL/{flows}/txt",
                 "/prometheus/analyzer/txt"):
        response = fed.get(path)
        assert response.status_code == 200, response.text
        bodies[path] = response.text
    exported = set().union(*(exported_names(text) for text in bodies.values()))
    used = dashboard_metric_names()
    assert used - exported == set(), f"queried but not exported: {sorted(used - exported)}"
    # each part of the dashboard is fed: flows, interfaces, collector and per-agent health
    assert {"sflow_top_pairs", "sflow_top_protocols", "sflow_total_bytes"} <= used
    assert {"sflow_ifinutilization", "sflow_ifinoctets"} <= used
    assert {"sflow_analyzer_received_datagrams", "sflow_agent_datagrams_lost_total"} <= used
    # the flow series carry the key labels the panels group by
    flow_text = bodies[f"/prometheus/metrics/ALL/{flows}/txt"]
    assert re.search(r'^sflow_top_pairs\{[^}]*ipdestination="[^"]+"[^}]*ipsource="', flow_text,
                     re.M), flow_text
    assert re.search(r'^sflow_top_protocols\{[^}]*ipprotocol="6"', flow_text, re.M), flow_text


def test_rtmem_is_reported_as_ignored(
    flowrt: Callable[..., FlowrtProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RTMEM", "1G")  # the child inherits it
    process = flowrt()
    warnings = [line for line in process.stderr_lines if "RTMEM" in line]
    assert warnings == [
        "flowrt: warning: RTMEM=1G is ignored: it tunes sFlow-RT's Java VM, and FlowRT has"
        " none; memory is bounded by properties (flowrt.agents.max, events.max, ...) and by"
        " the container's or service's memory limit\n"
    ]
    assert process.get("/version").status_code == 200
