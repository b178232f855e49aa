"""A real Prometheus server scrapes a real ``flowrt run`` replaying a real capture.

Prometheus (Debian package ``prometheus``) runs on a free port of 127.0.0.1 with a
private TSDB in the test's temp dir and a 1 s scrape interval; the test then asks its
HTTP API for the series and compares them with what FlowRT's own REST API reports.
``promtool check metrics`` lints both endpoints. Skipped when Prometheus is missing.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flowrt_process import FlowrtProcess

from conftest import SFLOW_TESTDATA

pytest_plugins = ["flowrt_process"]  # the ``flowrt`` fixture (see flowrt_process.flowrt)
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")
if PROMETHEUS is None or PROMTOOL is None:  # make test installs it: missing is a failure
    raise RuntimeError("needs the Debian package prometheus (packages.apt)")
CAPTURE = SFLOW_TESTDATA / "ovs-netns.pcap"
CAPTURE_DATAGRAMS = 153
OVS_AGENT = "127.0.0.1"
READY_TIMEOUT = 20.0
SCRAPE_TIMEOUT = 30.0
AGENT_COUNT_LINT = 'sflow_analyzer_agent_count non-histogram and non-summary metrics should ' \
    'not have "_count" suffix'
"""The one lint finding we accept: sFlow-RT's own name for the agent count."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Prometheus:
    """A Prometheus server scraping two FlowRT endpoints, and its query API."""

    def __init__(self, workdir: Path, target: str) -> None:
        self.port = free_port()
        config = workdir / "prometheus.yml"
        config.write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            "scrape_configs:\n"
            "  - job_name: flowrt-analyzer\n"
            "    metrics_path: /prometheus/analyzer/txt\n"
            f"    static_configs: [{{targets: ['{target}']}}]\n"
            "  - job_name: flowrt-metrics\n"
            "    metrics_path: /prometheus/metrics/ALL/ALL/txt\n"
            f"    static_configs: [{{targets: ['{target}']}}]\n"
        )
        check = subprocess.run([PROMTOOL, "check", "config", str(config)],
                               capture_output=True, text=True, timeout=30)
        assert check.returncode == 0, check.stdout + check.stderr
        self.log = (workdir / "prometheus.log").open("w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                if requests.get(self.url("/-/ready"), timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert self.proc.poll() is None, "prometheus exited"
            assert time.monotonic() < deadline, "prometheus did not become ready"
            time.sleep(0.2)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def query(self, promql: str) -> list[dict[str, Any]]:
        body = requests.get(self.url("/api/v1/query"), params={"query": promql}, timeout=5).json()
        assert body["status"] == "success", body
        return body["data"]["result"]

    def wait_for(self, promql: str, done: Callable[[list[dict[str, Any]]], bool]) -> list[Any]:
        deadline = time.monotonic() + SCRAPE_TIMEOUT
        while True:
            result = self.query(promql)
            if done(result):
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{promql}: last result {result}")
            time.sleep(0.5)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


@pytest.fixture
def replayed(flowrt: Callable[..., FlowrtProcess]) -> FlowrtProcess:
    """FlowRT after replaying the OVS capture at full speed."""
    process = flowrt(f"-Dsflow.file={CAPTURE}", "-Dflowrt.replay.speed=0")
    process.wait_for("/analyzer/json",
                     lambda a: a["sFlowDatagramsReceived"] == CAPTURE_DATAGRAMS, 20)
    return process


@pytest.fixture
def prometheus(tmp_path: Path, replayed: FlowrtProcess) -> Iterator[Prometheus]:
    server = Prometheus(tmp_path, f"127.0.0.1:{replayed.http_port}")
    yield server
    server.stop()


def promtool_findings(text: str) -> list[str]:
    result = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode in (0, 3), result.stderr  # 3: lint findings only
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


def test_promtool_accepts_our_output(replayed: FlowrtProcess) -> None:
    metrics = replayed.get("/prometheus/metrics/ALL/ALL/txt")
    assert metrics.status_code == 200
    assert metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "sflow_ifinoctets{" in metrics.text
    assert promtool_findings(metrics.text) == []
    analyzer = replayed.get("/prometheus/analyzer/txt")
    assert promtool_findings(analyzer.text) == [AGENT_COUNT_LINT]


def test_prometheus_scrapes_the_expected_series(
    replayed: FlowrtProcess, prometheus: Prometheus
) -> None:
    up = prometheus.wait_for("up", lambda r: len(r) == 2 and all(
        s["value"][1] == "1" for s in r))
    assert {s["metric"]["job"] for s in up} == {"flowrt-analyzer", "flowrt-metrics"}

    datagrams = prometheus.wait_for("sflow_analyzer_received_datagrams", lambda r: len(r) == 1)
    assert float(datagrams[0]["value"][1]) == CAPTURE_DATAGRAMS
    per_agent = prometheus.wait_for("sflow_agent_datagrams_total", lambda r: len(r) == 1)
    assert per_agent[0]["metric"]["agent"] == OVS_AGENT
    assert float(per_agent[0]["value"][1]) == CAPTURE_DATAGRAMS

    # counter metrics: the same values FlowRT's REST API reports (no new counter samples
    # arrive after the replay, so they hold still)
    dump = replayed.get_json("/dump/ALL/ifinoctets/json")
    expected = {c["dataSource"]: c["metricValue"] for c in dump}
    assert len(expected) == 3
    series = prometheus.wait_for("sflow_ifinoctets", lambda r: len(r) == 3)
    got = {s["metric"]["datasource"]: float(s["value"][1]) for s in series}
    assert got == pytest.approx(expected, rel=1e-12)
    p1 = next(s["metric"] for s in series if s["metric"]["datasource"] == "115")
    assert p1["ifname"] == "rp-ovs-p1" and p1["agent"] == OVS_AGENT
    assert p1["job"] == "flowrt-metrics"
    assert got["115"] > 100_000
