"""Topology: validation, edge/core selection, link: keys, aggMode edge/core, name learning.

A two-switch fabric, both switches sampling at ingress (1 in 100, 1000-byte frames):

    h1 --(1) s1 (2)====link1====(2) s2 (1)-- h2

h1→h2 carries 2 MB/s: sampled at s1 port 1 (edge) and at s2 port 2 (core).
h2→h1 carries 1 MB/s: sampled at s2 port 1 (edge) and at s1 port 2 (core).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import replace

import pytest

from flowrt.engine.core import Engine
from flowrt.engine.topology import MAX_NODES, Topology, TopologyError
from flowrt.sflow import CounterSample, Datagram, FlowSample, encode_datagram
from flowrt.sflow.records.counters import PortName
from flowrt.sflow.records.flow import SampledHeader
from flowrt.sflow.records.host import HostDescr

S1, S2 = "192.0.2.11", "192.0.2.12"
H1, H2 = "10.0.0.1", "10.0.0.2"
EDGE_PORT, CORE_PORT = 1, 2
SAMPLING, FRAME = 100, 1000
STEP = 0.1
START = 1000.0
TWO_SWITCHES = {
    "nodes": {
        "s1": {"agent": S1, "ports": {"s1-eth1": {"ifindex": "1"}, "s1-eth2": {"ifindex": "2"}}},
        "s2": {"agent": S2, "ports": {"s2-eth1": {"ifindex": 1}, "s2-eth2": {"ifindex": "2"}},
               "tags": {"role": "leaf"}},
    },
    "links": {"link1": {"node1": "s1", "port1": "s1-eth2", "node2": "s2", "port2": "s2-eth2"}},
}
PROTO = {"keys": "ipprotocol", "value": "bytes"}
PAIR = {"keys": "ipsource,ipdestination", "value": "bytes"}


def tcp_header(src: str, dst: str) -> bytes:
    eth = bytes.fromhex("020000000002020000000001") + struct.pack(">H", 0x0800)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, FRAME - 14, 1, 0, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    tcp = struct.pack(">HHIIBBHHH", 40000, 80, 1, 0, 0x50, 0x10, 65535, 0, 0)
    return eth + ip + tcp


class Switch:
    """One sFlow agent with consistent sequence numbers (datagrams, and samples per data
    source, with their sample_pool advancing); samples at its ingress ports."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.seq = 0
        self.uptime = 1_000_000
        self.sample_seq: dict[tuple[int, int], int] = {}

    def datagram(self, samples: list[FlowSample | CounterSample]) -> bytes:
        self.seq += 1
        self.uptime += round(STEP * 1000)
        numbered = []
        for sample in samples:
            source = (sample.source_id_type, sample.source_id_index)
            seq = self.sample_seq[source] = self.sample_seq.get(source, 0) + 1
            if isinstance(sample, FlowSample):
                sample = replace(sample, sequence=seq, sample_pool=seq * SAMPLING)
            else:
                sample = replace(sample, sequence=seq)
            numbered.append(sample)
        return encode_datagram(Datagram(self.address, 0, self.seq, self.uptime, numbered))

    @staticmethod
    def sample(src: str, dst: str, port: int, *, source_type: int = 0,
               source_index: int | None = None) -> FlowSample:
        record = SampledHeader(1, FRAME, 4, tcp_header(src, dst))
        index = port if source_index is None else source_index
        return FlowSample(1, source_type, index, SAMPLING, 0, 0, 0, port, 0, 0x3FFFFFFF,
                          [record])


def run_fabric(engine: Engine, seconds: float = 10.0) -> float:
    """Feed the two flows through both switches; returns the end time."""
    s1, s2 = Switch(S1), Switch(S2)
    now = START
    for _ in range(round(seconds / STEP)):
        # per step: 2 samples (2 MB/s) h1→h2, 1 sample (1 MB/s) h2→h1
        there = [Switch.sample(H1, H2, EDGE_PORT)] * 2 + [Switch.sample(H2, H1, CORE_PORT)]
        back = [Switch.sample(H1, H2, CORE_PORT)] * 2 + [Switch.sample(H2, H1, EDGE_PORT)]
        engine.ingest_datagram(s1.datagram(there), S1, now)
        engine.ingest_datagram(s2.datagram(back), S2, now)
        now += STEP
    return now


def fabric_engine(*flows: tuple[str, dict]) -> Engine:
    engine = Engine(now=START)
    for name, spec in flows:
        engine.set_flow(name, spec)
    return engine


# --- validation -------------------------------------------------------------------------------
def test_from_json_parses_nodes_ports_links() -> None:
    topo = Topology.from_json(TWO_SWITCHES)
    assert topo.nodes["s2"].ports["s2-eth1"].ifindex == 1
    assert topo.nodes["s1"].agent == S1
    assert topo.links["link1"].port2 == "s2-eth2"
    assert topo.unresolved_names() == (frozenset(), frozenset())


@pytest.mark.parametrize("body,message", [
    ([], "topology must be a JSON object"),
    ({"node": {}}, "unknown topology attribute"),
    ({"nodes": {"s1": {"agent": 7}}}, "node 's1' agent must be a non-empty string"),
    ({"nodes": {"s1": {"agent": S1, "ports": {"p": {"ifindex": "eth0"}}}}},
     "port s1/p: ifindex must be an integer"),
    ({"nodes": {"s1": {"agent": S1, "ports": {"p": {"ifindex": -1}}}}}, "ifindex must be"),
    ({"links": {"l": {"node1": "a", "port1": "x", "node2": "b"}}}, "link 'l' lacks port2"),
    ({"links": {"l": {"node1": "a", "port1": "", "node2": "b", "port2": "y"}}},
     "link 'l' port1 must be a non-empty string"),
    ({**TWO_SWITCHES, "links": {"l": {"node1": "s1", "port1": "s1-eth9", "node2": "s2",
                                      "port2": "s2-eth2"}}}, "node 's1' has no port 's1-eth9'"),
    ({**TWO_SWITCHES, "links": {**TWO_SWITCHES["links"], "l2": {
        "node1": "s1", "port1": "s1-eth2", "node2": "s2", "port2": "s2-eth1"}}},
     "port s1/s1-eth2 is on links 'link1' and 'l2'"),
    ({"nodes": {"a": {"agent": S1, "ports": {"p": {"ifindex": 3}}},
                "b": {"agent": S1, "ports": {"q": {"ifindex": "3"}}}}},
     "ports a/p and b/q are both agent 192.0.2.11 ifindex 3"),
])
def test_bad_bodies_name_the_problem(body: object, message: str) -> None:
    with pytest.raises(TopologyError, match=message):
        Topology.from_json(body)
    assert issubclass(TopologyError, ValueError)  # the API's 400


def test_size_caps() -> None:
    nodes = {f"n{i}": {"agent": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"}
             for i in range(MAX_NODES + 1)}
    with pytest.raises(TopologyError, match=f"too many nodes .*at most {MAX_NODES}"):
        Topology.from_json({"nodes": nodes})


def test_put_versions_get_and_bad_put_keeps_the_old_one() -> None:
    engine = Engine(now=START)
    assert engine.get_topology() == {} and engine.topology.version == 0
    engine.set_topology(TWO_SWITCHES)
    assert engine.get_topology() == TWO_SWITCHES  # as PUT, extra attributes (tags) kept
    assert engine.topology.version == 1
    with pytest.raises(TopologyError):
        engine.set_topology({"links": {"l": {}}})
    assert engine.get_topology() == TWO_SWITCHES and engine.topology.version == 1
    engine.set_topology({})
    assert engine.get_topology() == {} and not engine.topology.active
    assert engine.topology.version == 2


# --- derived port classes and selectors ------------------------------------------------------
def test_port_classes_and_link_names() -> None:
    engine = Engine(now=START)
    engine.set_topology(TWO_SWITCHES)
    store = engine.topology
    assert store.agents == {S1, S2}
    assert store.port_class(S1, "2") == "core" and store.port_class(S2, "2") == "core"
    assert store.port_class(S1, "1") == "edge"
    assert store.port_class(S1, "7") == "edge"  # an undeclared interface: not on a link
    assert store.port_class(S1, "2.1") is None  # host data source: neither
    assert store.port_class("198.51.100.1", "2") is None  # not a topology agent
    assert store.link_name(S2, "2") == "link1" and store.link_name(S2, 2) == "link1"
    assert store.link_name(S2, "1") is None and store.link_name(S2, "internal") is None
    assert store.port_of(S1, 2) == ("s1", "s1-eth2")


def test_metric_selectors_topology_edge_core() -> None:
    engine = fabric_engine(("proto", PROTO))
    # no topology yet: the tokens name nothing (apps poll TOPOLOGY before one is PUT)
    assert engine.metrics.dump_query("EDGE", "proto", None, START) == []
    assert engine.metrics.dump_query("TOPOLOGY", "proto", None, START) == []
    end = run_fabric(engine)
    engine.set_topology(TWO_SWITCHES)

    def where(agents: str) -> set[tuple[str, str]]:
        rows = engine.metrics.dump_query(agents, "proto", None, end)
        return {(row["agent"], row["dataSource"]) for row in rows}

    assert where("ALL") == {(S1, "1"), (S1, "2"), (S2, "1"), (S2, "2")}
    assert where("TOPOLOGY") == where("ALL")
    assert where("EDGE") == {(S1, "1"), (S2, "1")}
    assert where("CORE") == {(S1, "2"), (S2, "2")}
    assert where(f"CORE;{S1}") == {(S1, "1"), (S1, "2"), (S2, "2")}
    (total,) = engine.metrics.metric_query("EDGE", "sum:proto", None, end)
    assert total["metricValue"] == pytest.approx(3e6, rel=0.05)  # each packet once
    assert total["metricN"] == 2


# --- activeflows aggMode ---------------------------------------------------------------------
def test_agg_modes_with_and_without_topology() -> None:
    engine = fabric_engine(("proto", PROTO))
    end = run_fabric(engine)

    def value(mode: str) -> float:
        (row,) = engine.active_flows("ALL", "proto", end, agg_mode=mode)
        return row["value"]

    assert value("max") == pytest.approx(2e6, rel=0.05)
    assert value("sum") == pytest.approx(6e6, rel=0.05)  # every hop counted
    assert value("edge") == value("max") and value("core") == value("max")  # no topology
    engine.set_topology(TWO_SWITCHES)
    assert value("edge") == pytest.approx(3e6, rel=0.05)  # fabric ingress, counted once
    assert value("core") == pytest.approx(2e6, rel=0.05)  # busiest inter-switch port
    (edge,) = engine.active_flows("ALL", "proto", end, agg_mode="edge")
    assert (edge["agent"], edge["dataSource"]) in {(S1, "1"), (S2, "1")}
    (core,) = engine.active_flows("ALL", "proto", end, agg_mode="core")
    assert (core["agent"], core["dataSource"]) == (S2, "2")
    # the agent selector and the mode combine
    (s1_edge,) = engine.active_flows(S1, "proto", end, agg_mode="edge")
    assert s1_edge["value"] == pytest.approx(2e6, rel=0.05)


def test_pairs_at_the_edge_are_counted_once() -> None:
    engine = fabric_engine(("pair", PAIR))
    end = run_fabric(engine)
    engine.set_topology(TWO_SWITCHES)
    rows = engine.active_flows("EDGE", "pair", end, agg_mode="edge")
    got = {row["key"]: (row["value"], row["agent"], row["dataSource"]) for row in rows}
    assert got[f"{H1},{H2}"][0] == pytest.approx(2e6, rel=0.05)
    assert got[f"{H1},{H2}"][1:] == (S1, "1")
    assert got[f"{H2},{H1}"][1:] == (S2, "1")
    where = engine.flow_locations("CORE", "pair", f"{H1},{H2}", end)
    assert [(w["agent"], w["dataSource"]) for w in where] == [(S2, "2")]


def test_bridge_samples_count_at_their_input_port_with_a_topology() -> None:
    """OVS sends flow samples from the bridge (2.1000); with a topology they are placed
    at their input port, so they get an edge/core class."""
    engine = fabric_engine(("proto", PROTO))
    engine.set_topology(TWO_SWITCHES)
    s1 = Switch(S1)
    now = START
    for _ in range(100):
        engine.ingest_datagram(s1.datagram([
            Switch.sample(H1, H2, EDGE_PORT, source_type=2, source_index=1000),
            Switch.sample(H2, H1, 9, source_type=2, source_index=1000),  # unknown port
        ]), S1, now)
        now += STEP
    rows = engine.metrics.dump_query("ALL", "proto", None, now)
    assert {row["dataSource"] for row in rows} == {"1", "2.1000"}
    (edge,) = engine.active_flows("ALL", "proto", now, agg_mode="edge")
    assert edge["dataSource"] == "1" and edge["value"] == pytest.approx(1e6, rel=0.1)


# --- link: key function ----------------------------------------------------------------------
def test_link_key_function_and_edge_filter() -> None:
    engine = fabric_engine(
        ("bylink", {"keys": "link:inputifindex", "value": "bytes"}),
        ("ingress", {"keys": "ipsource", "value": "bytes", "filter": "link:inputifindex=null"}),
    )
    run_fabric(engine, 2.0)
    assert engine.active_flows("ALL", "bylink", START + 2.0) == []  # no topology: null key
    engine.set_topology(TWO_SWITCHES)  # later PUTs apply to compiled flows
    end = run_fabric(engine, 10.0)
    (row,) = engine.active_flows("ALL", "bylink", end, agg_mode="sum")
    assert row["key"] == "link1" and row["value"] == pytest.approx(3e6, rel=0.1)
    rows = engine.active_flows("ALL", "ingress", end, agg_mode="sum")
    got = {row["key"]: row["value"] for row in rows}
    assert got[H1] == pytest.approx(2e6, rel=0.1) and got[H2] == pytest.approx(1e6, rel=0.1)


# --- nodes optional: names learned from host_name / ifname ----------------------------------
def test_links_without_nodes_resolve_from_host_and_port_names() -> None:
    engine = Engine(now=START)
    engine.set_topology({"links": TWO_SWITCHES["links"]})
    assert engine.topology.needs_names and engine.topology.agents == frozenset()
    for address, host in ((S1, "s1"), (S2, "s2")):
        switch = Switch(address)
        counters = [
            CounterSample(1, 2, 1, [HostDescr(host, b"\0" * 16, 0, 0, "")]),
            CounterSample(1, 0, 1, [PortName(f"{host}-eth1")]),
            CounterSample(1, 0, 2, [PortName(f"{host}-eth2")]),
        ]
        engine.ingest_datagram(switch.datagram(counters), address, START)
    engine.tick(START + 1)
    store = engine.topology
    assert store.agents == {S1, S2}
    assert store.link_name(S1, 2) == "link1" and store.link_name(S2, "2") == "link1"
    assert store.port_class(S2, "1") == "edge"
    assert store.port_of(S1, 2) == ("s1", "s1-eth2")
