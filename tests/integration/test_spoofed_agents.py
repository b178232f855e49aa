"""Spoofed agent floods: agent addresses are a field inside the datagram, so anyone who
reaches the sFlow port can claim thousands. Memory must stay bounded by the caps (a total
over all agents, not only per agent), every refusal must be counted, and idle agents,
data sources, their metrics and flow tables must go after their timeouts."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from traffic import interface_counters, tcp_frame

from flowrt.sflow import CounterSample, Datagram, FlowSample, encode_datagram
from flowrt.sflow.records.flow import SampledHeader

if TYPE_CHECKING:
    from flowrt_process import FlowrtProcess

Start = Callable[..., "FlowrtProcess"]
pytest_plugins = ["flowrt_process"]

AGENTS = 60
PORTS = 4
TOTAL_CAP = 100
SRC_FLOW = {"keys": "ipsource", "value": "bytes"}


def spoofed(agent_index: int, ports: int = PORTS) -> bytes:
    """One datagram of agent 10.77.x.y: a counter sample and a flow sample per port."""
    address = f"10.77.{agent_index >> 8}.{agent_index & 255}"
    samples: list[CounterSample | FlowSample] = []
    for port in range(1, ports + 1):
        samples.append(CounterSample(1, 0, port, [interface_counters(port, 1000, 10)]))
        header = tcp_frame(f"192.0.2.{port}", "198.51.100.1", 40000, 443, 1518)
        samples.append(FlowSample(1, 0, port, 100, 100, 0, 0, port, 0, port + 1,
                                  [SampledHeader(1, 1518, 4, header)]))
    return encode_datagram(Datagram(address, 0, 1, 5000, samples))


def test_total_datasource_cap_bounds_agents_metrics_and_flow_tables(flowrt: Start) -> None:
    server = flowrt(f"-Dflowrt.datasources.total.max={TOTAL_CAP}")
    assert server.put("/flow/src/json", SRC_FLOW).status_code == 204
    server.send(spoofed(i) for i in range(AGENTS))
    analyzer = server.wait_for(
        "/analyzer/json", lambda a: a["sFlowDatagramsReceived"] == AGENTS, timeout=20)
    refused_sources = AGENTS * PORTS - TOTAL_CAP
    assert analyzer["sFlowAgents"] == AGENTS  # agents are under their own cap
    assert analyzer["sFlowDatasources"] == TOTAL_CAP
    # one counter and one flow sample of each refused data source
    assert analyzer["sFlowDatasourcesTotalRejected"] == 2 * refused_sources
    assert analyzer["sFlowDatasourcesRejected"] == 0
    # the metric store holds no more data sources than the agent table
    assert len(server.get_json("/dump/ALL/ifspeed/json")) == TOTAL_CAP
    assert analyzer["metricSamplesRejected"] == refused_sources
    # and no flow definition holds more tables than that
    assert analyzer["flowSourcesRejected"] == refused_sources
    assert len(server.get_json("/flowlocations/ALL/src/json", key="192.0.2.1")) <= TOTAL_CAP
    # the numbers are exported to Prometheus too
    text = server.get("/prometheus/analyzer/txt").text
    assert f"flowrt_datasources {TOTAL_CAP}" in text
    assert f"flowrt_datasources_total_rejected_total {2 * refused_sources}" in text


def test_idle_datasources_and_agents_expire_with_their_metrics_and_tables(
    flowrt: Start,
) -> None:
    server = flowrt("-Dflowrt.datasources.timeout=1", "-Dflowrt.agents.timeout=2")
    assert server.put("/flow/src/json", SRC_FLOW).status_code == 204
    server.send(spoofed(i) for i in range(10))
    first = server.wait_for(
        "/analyzer/json", lambda a: a["sFlowDatasources"] == 10 * PORTS, timeout=20)
    assert first["sFlowAgents"] == 10
    assert len(server.get_json("/dump/ALL/ifspeed/json")) == 10 * PORTS
    assert len(server.get_json("/activeflows/ALL/src/json")) == PORTS
    done = server.wait_for(
        "/analyzer/json", lambda a: a["sFlowAgents"] == 0 and a["sFlowDatasources"] == 0,
        timeout=30)
    assert done["sFlowAgentsExpired"] == 10
    assert done["sFlowDatasourcesExpired"] == 10 * PORTS
    assert server.get_json("/agents/json") == {}
    # their counter metrics and flow tables went with them (before going stale)
    assert server.get_json("/dump/ALL/ifspeed/json") == []
    assert server.get_json("/flowlocations/ALL/src/json", key="192.0.2.1") == []
