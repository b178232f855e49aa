"""Host location (flowrt.engine.hosts): MACs learned at edge ports, on both ingest paths.

The two-switch fabric of test_topology (s1 and s2 joined by link1 on their ports 2):

    h1 --(1) s1 (2)====link1====(2) s2 (1)-- h2

h1's frames are sampled at s1 port 1 (edge) and at s2 port 2 (core, transit); h2's at s2
port 1 (edge) and s1 port 2 (core). Each host must be located at its own edge port only.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable

import pytest
from tests.engine.test_topology import FRAME, S1, S2, SAMPLING, TWO_SWITCHES, Switch

from flowrt._core import load_native
from flowrt.config import Properties
from flowrt.engine.core import Engine
from flowrt.engine.hosts import DEFINITIONS, normalize_mac
from flowrt.engine.native import NativeIngest
from flowrt.sflow import FlowSample
from flowrt.sflow.records.flow import SampledHeader

START = 1000.0
STEP = 0.1
MAC1, MAC2 = "02000000000A", "02000000000B"
H1, H2 = "10.0.0.1", "10.0.0.2"
H1_6 = "2001:db8::1"

PATHS = ["reference"]
if load_native() is not None and not os.environ.get("FLOWRT_NO_EXTENSIONS"):
    PATHS.append("native")


def frame(src_mac: str, dst_mac: str, src: str, dst: str) -> bytes:
    eth = bytes.fromhex(dst_mac + src_mac) + struct.pack(">H", 0x0800)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, FRAME - 14, 1, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    return eth + ip + struct.pack(">HHHH", 5000, 6000, FRAME - 34, 0)


def frame6(src_mac: str, dst_mac: str, src: str, dst: str) -> bytes:
    eth = bytes.fromhex(dst_mac + src_mac) + struct.pack(">H", 0x86DD)
    ip6 = struct.pack(">IHBB16s16s", 6 << 28, FRAME - 54, 17, 64,
                      socket.inet_pton(socket.AF_INET6, src),
                      socket.inet_pton(socket.AF_INET6, dst))
    return eth + ip6 + struct.pack(">HHHH", 5000, 6000, FRAME - 54, 0)


def sample(header: bytes, port: int, *, source_type: int = 0, index: int | None = None
           ) -> FlowSample:
    record = SampledHeader(1, FRAME, 4, header)
    return FlowSample(1, source_type, port if index is None else index, SAMPLING, 0, 0, 0,
                      port, 0, 0x3FFFFFFF, [record])


Ingest = Callable[[bytes, str, float], None]


def make_engine(path: str, **props: str) -> tuple[Engine, Ingest, Callable[[], None]]:
    engine = Engine(Properties(props), now=START)
    if path == "native":
        driver = NativeIngest(engine)
        return engine, driver.ingest_datagram, driver.flush
    return engine, engine.ingest_datagram, lambda: None


def feed(ingest: Ingest, flush: Callable[[], None], engine: Engine, start: float,
         seconds: float, *, h2: bool = True) -> float:
    """h1↔h2 traffic through both switches, ticking once a second; returns the end."""
    s1, s2 = Switch(S1), Switch(S2)
    now = start
    for step in range(round(seconds / STEP)):
        h1_out = frame(MAC1, MAC2, H1, H2)
        h2_out = frame(MAC2, MAC1, H2, H1)
        at_s1 = [sample(h1_out, 1), sample(frame6(MAC1, MAC2, H1_6, "2001:db8::2"), 1)]
        at_s2 = [sample(h1_out, 2)]  # transit at s2's core port
        if h2:
            at_s2.append(sample(h2_out, 1))
            at_s1.append(sample(h2_out, 2))
        ingest(s1.datagram(at_s1), S1, now)
        ingest(s2.datagram(at_s2), S2, now)
        now += STEP
        if step % round(1 / STEP) == 0:
            flush()
            engine.tick(now)
    flush()
    engine.tick(now)
    return now


@pytest.mark.parametrize("path", PATHS)
def test_hosts_are_located_at_their_edge_port_only(path: str) -> None:
    engine, ingest, flush = make_engine(path)
    engine.set_flow("user", {"keys": "ipsource", "value": "bytes"})
    engine.set_topology(TWO_SWITCHES)
    feed(ingest, flush, engine, START, 3.0)
    hosts = engine.hosts
    assert hosts.macs() == [MAC1, MAC2]
    assert hosts.macs(S1) == [MAC1] and hosts.macs(S2) == [MAC2]
    assert hosts.macs(S1, "1") == [MAC1] and hosts.macs(S1, 2) == []
    assert hosts.macs(S1, "internal") == []
    (where,) = hosts.locate_mac("02:00:00:00:00:0a")  # any spelling of the MAC
    assert where == {
        "mac": MAC1, "agent": S1, "ifindex": "1", "node": "s1", "port": "s1-eth1",
        "vlan": None, "ipaddress": H1, "ip6address": H1_6, "ouiname": None,
    }
    (there,) = hosts.locate_mac(MAC2)
    assert (there["agent"], there["port"], there["ipaddress"], there["ip6address"]) == (
        S2, "s2-eth1", H2, None)
    assert hosts.locate_mac("02000000000C") is None and hosts.locate_mac("nonsense") is None
    assert [h["mac"] for h in hosts.locate_address(H2, 4) or []] == [MAC2]
    assert [h["mac"] for h in hosts.locate_address(H1_6.upper(), 6) or []] == [MAC1]
    assert hosts.locate_address("10.9.9.9", 4) is None
    # the internal definitions are the engine's own: not listed, not user-deletable
    assert list(engine.flows.specs()) == ["user"]
    assert engine.delete_flow("flowrt-hosts-mac") is False
    analyzer = engine.analyzer(START + 3)
    assert analyzer["hostsLocated"] == 2 and analyzer["hostLocationsRejected"] == 0


@pytest.mark.parametrize("path", PATHS)
def test_bridge_samples_locate_at_their_input_port(path: str) -> None:
    """Open vSwitch samples come from the bridge (2.1000): the input port locates."""
    engine, ingest, flush = make_engine(path)
    engine.set_topology(TWO_SWITCHES)  # no user definitions at all
    switch = Switch(S1)
    bridge = sample(frame(MAC1, MAC2, H1, H2), 1, source_type=2, index=1000)
    transit = sample(frame(MAC2, MAC1, H2, H1), 2, source_type=2, index=1000)
    ingest(switch.datagram([bridge, transit]), S1, START)
    flush()
    engine.tick(START + 1)
    assert engine.hosts.macs() == [MAC1]
    assert engine.hosts.locate_mac(MAC1)[0]["port"] == "s1-eth1"  # type: ignore[index]


@pytest.mark.parametrize("path", PATHS)
def test_idle_locations_expire_and_the_cap_is_counted(path: str) -> None:
    engine, ingest, flush = make_engine(
        path, **{"flowrt.hosts.timeout": "5", "flowrt.hosts.max": "1"})
    engine.set_topology(TWO_SWITCHES)
    end = feed(ingest, flush, engine, START, 2.0)
    assert engine.hosts.macs() == [MAC1]  # the first one learned; h2 refused at the cap
    rejected = engine.hosts.counters.rejected
    assert rejected >= 1
    # h1 keeps sending, h2 never gets room; then everything goes quiet
    end = feed(ingest, flush, engine, end, 2.0, h2=False)
    assert engine.hosts.counters.rejected == rejected
    engine.tick(end + 4)
    assert engine.hosts.macs() == [MAC1]  # seen within the last 5 s
    engine.tick(end + 6)
    assert engine.hosts.macs() == [] and engine.hosts.locate_mac(MAC1) is None
    assert engine.analyzer(end + 6)["hostLocationsExpired"] == 1
    # room again: h2 is learned once it sends
    feed(ingest, flush, engine, end + 7, 1.0)
    assert len(engine.hosts.macs()) == 1


@pytest.mark.parametrize("path", PATHS)
def test_clearing_or_changing_the_topology_forgets_locations(path: str) -> None:
    engine, ingest, flush = make_engine(path)
    engine.set_topology(TWO_SWITCHES)
    end = feed(ingest, flush, engine, START, 2.0)
    assert engine.hosts.macs() == [MAC1, MAC2]
    # s1 port 1 becomes a link end: h1's location is no longer at an edge port
    changed = {**TWO_SWITCHES, "links": {**TWO_SWITCHES["links"], "link2": {
        "node1": "s1", "port1": "s1-eth1", "node2": "s2", "port2": "s2-eth1"}}}
    engine.set_topology(changed)
    engine.tick(end + 0.5)
    assert engine.hosts.macs() == []
    engine.set_topology(TWO_SWITCHES)
    end = feed(ingest, flush, engine, end + 1, 2.0)
    assert engine.hosts.macs() == [MAC1, MAC2]
    engine.set_topology({})
    assert engine.hosts.macs() == [] and not set(DEFINITIONS) & set(engine.flows._internal)
    # without a topology nothing is learned
    feed(ingest, flush, engine, end + 1, 1.0)
    assert engine.hosts.macs() == []


def test_normalize_mac() -> None:
    assert normalize_mac("aa-bb-cc-dd-ee-ff") == "AABBCCDDEEFF"
    assert normalize_mac("aabb.ccdd.eeff") == "AABBCCDDEEFF"
    assert normalize_mac("AABBCCDDEEF") is None and normalize_mac(7) is None
