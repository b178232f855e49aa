"""Flow definitions have a cost limit: a cap on their number, and a per-sample budget of
definition evaluations on the reference path, beyond which they take turns and the shed
work is counted and exported."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from traffic import tcp_frame

from flowrt.sflow import Datagram, FlowSample, encode_datagram
from flowrt.sflow.records.flow import SampledHeader

if TYPE_CHECKING:
    from flowrt_process import FlowrtProcess

Start = Callable[..., "FlowrtProcess"]
pytest_plugins = ["flowrt_process"]

BUDGET = 10
FLOWS = 40
SAMPLES = 24
# ``values`` keeps a definition off the compiled core: it runs on the reference path
FALLBACK_FLOW = {"keys": "ipsource", "value": "bytes", "values": ["frames"]}


def datagrams() -> list[bytes]:
    out = []
    for seq in range(1, SAMPLES // 4 + 1):
        samples = []
        for k in range(4):
            n = (seq - 1) * 4 + k + 1
            header = tcp_frame(f"192.0.2.{k + 1}", "198.51.100.1", 40000, 443, 1518)
            samples.append(FlowSample(n, 0, 3, 100, n * 100, 0, 0, 3, 0, 4,
                                      [SampledHeader(1, 1518, 4, header)]))
        out.append(encode_datagram(Datagram("10.9.9.9", 0, seq, 1000 * seq, samples)))
    return out


def test_definitions_over_the_per_sample_budget_take_turns_and_it_is_counted(
        flowrt: Start) -> None:
    server = flowrt(f"-Dflowrt.flows.sample.budget={BUDGET}", f"-Dflowrt.flows.max={FLOWS}")
    for i in range(FLOWS):
        assert server.put(f"/flow/f{i}/json", FALLBACK_FLOW).status_code == 204
    refused = server.put(f"/flow/f{FLOWS}/json", FALLBACK_FLOW)
    assert refused.status_code == 400
    assert f"too many flow definitions (at most {FLOWS})" in refused.json()["error"]
    server.send(datagrams())
    analyzer = server.wait_for(
        "/analyzer/json", lambda a: a["sFlowFlowSamples"] == SAMPLES, timeout=20)
    assert analyzer["flowSamplesShed"] == SAMPLES
    assert analyzer["flowEvaluationsShed"] == SAMPLES * (FLOWS - BUDGET)
    # every definition got its turn (40 definitions, 10 a sample, 24 samples)
    for i in range(FLOWS):
        assert server.get_json(f"/activeflows/ALL/f{i}/json"), i
    text = server.get("/prometheus/analyzer/txt").text
    assert f"flowrt_flow_samples_shed_total {SAMPLES}" in text


def test_within_the_budget_nothing_is_shed(flowrt: Start) -> None:
    server = flowrt(f"-Dflowrt.flows.sample.budget={BUDGET}")
    for i in range(BUDGET):
        assert server.put(f"/flow/f{i}/json", FALLBACK_FLOW).status_code == 204
    server.send(datagrams())
    analyzer = server.wait_for(
        "/analyzer/json", lambda a: a["sFlowFlowSamples"] == SAMPLES, timeout=20)
    assert analyzer["flowSamplesShed"] == 0 and analyzer["flowEvaluationsShed"] == 0
