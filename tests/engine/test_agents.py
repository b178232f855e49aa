"""AgentTable: sequence accounting, sampling and polling bookkeeping, /agents/json shape."""

from __future__ import annotations

import socket

import dpkt
import pytest

from conftest import testdata
from flowrt.engine.agents import (
    REORDER_WINDOW,
    AgentTable,
    Outcome,
    SequenceTracker,
    datasource_name,
)
from flowrt.engine.core import Engine
from flowrt.sflow import (
    CounterSample,
    Datagram,
    DecodeError,
    DiscardSample,
    FlowSample,
    decode_datagram,
    encode_datagram,
)
from flowrt.sflow.records.counters import GenericInterfaceCounters

AGENT = "192.0.2.1"
SOURCE = "198.51.100.7"


def capture(name: str) -> list[tuple[float, str, bytes]]:
    """(timestamp, UDP source address, payload) of every UDP frame of a shared capture."""
    path = testdata(f"{name}.pcap")
    out = []
    with path.open("rb") as f:
        for ts, frame in dpkt.pcap.Reader(f):
            ip = dpkt.ethernet.Ethernet(frame).data
            if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) or not isinstance(
                ip.data, dpkt.udp.UDP
            ):
                continue
            family = socket.AF_INET if isinstance(ip, dpkt.ip.IP) else socket.AF_INET6
            out.append((ts, socket.inet_ntop(family, ip.src), bytes(ip.data.data)))
    return out


def feed(table: AgentTable, name: str) -> float:
    """Decode a capture into the table as a collector would; returns the last timestamp."""
    now = 0.0
    for now, source, payload in capture(name):
        try:
            dgram = decode_datagram(payload)
        except DecodeError as exc:
            table.record_error(source, exc.reason)
            continue
        table.observe(dgram, source, now)
    return now


def real(dgram: Datagram) -> Datagram:
    """Round-trip through the wire format, so tests use datagrams an agent could send."""
    return decode_datagram(encode_datagram(dgram))


def flow(seq: int, pool: int, rate: int = 100, drops: int = 0, ds: int = 3) -> FlowSample:
    return FlowSample(seq, 0, ds, rate, pool, drops, 0, ds, 0, 4, [])


def counters(seq: int, ds: int = 3) -> CounterSample:
    record = GenericInterfaceCounters(ds, 6, 10**9, 1, 3, *([0] * 14))
    return CounterSample(seq, 0, ds, [record])


def dgram(seq: int, uptime: int, samples=(), sub_agent: int = 0) -> Datagram:
    return real(Datagram(AGENT, sub_agent, seq, uptime, list(samples)))


# --- SequenceTracker ---------------------------------------------------------------


def test_in_order_stream_has_no_loss():
    t = SequenceTracker()
    outcomes = [t.observe(s, s * 1000) for s in range(5, 15)]
    assert outcomes[0] is Outcome.FIRST and set(outcomes[1:]) == {Outcome.IN_ORDER}
    assert (t.received, t.lost, t.duplicates, t.out_of_order, t.restarts) == (10, 0, 0, 0, 0)


def test_gap_counts_lost_and_late_arrival_becomes_out_of_order():
    t = SequenceTracker()
    for s in (1, 2, 5):
        t.observe(s, s * 1000)
    assert t.lost == 2
    assert t.observe(3, 3000) is Outcome.LATE
    assert (t.lost, t.out_of_order) == (1, 1)
    assert t.observe(3, 3000) is Outcome.DUPLICATE
    assert t.observe(5, 5000) is Outcome.DUPLICATE
    assert (t.received, t.lost, t.duplicates, t.out_of_order) == (6, 1, 2, 1)


def test_sequence_reset_is_a_restart_not_loss():
    t = SequenceTracker()
    for s in range(100, 110):
        t.observe(s, 10_000_000 + s)
    assert t.observe(1, 500) is Outcome.RESTART
    assert t.observe(2, 1500) is Outcome.IN_ORDER
    assert (t.lost, t.restarts, t.out_of_order) == (0, 1, 0)


def test_uptime_backwards_with_higher_sequence_is_a_restart():
    t = SequenceTracker()
    t.observe(10, 50_000_000)
    assert t.observe(20, 1_000) is Outcome.RESTART
    assert t.lost == 0


def test_uptime_32bit_wrap_is_not_a_restart():
    t = SequenceTracker()
    t.observe(10, 2**32 - 1_000)
    assert t.observe(11, 4_000) is Outcome.IN_ORDER
    assert t.restarts == 0


def test_late_beyond_the_window_is_a_restart_and_missing_set_is_bounded():
    t = SequenceTracker()
    t.observe(1, 1000)
    t.observe(100_000, 2000)  # a huge gap: only the last window is remembered
    assert t.lost == 99_998
    assert len(t._missing) <= REORDER_WINDOW
    assert t.observe(100_000 - 5, 2000) is Outcome.LATE


# --- AgentTable with generated datagrams ------------------------------------------


def test_agent_json_shape_and_counts():
    table = AgentTable()
    table.observe(dgram(1, 10_000, [flow(1, 100), counters(1)]), SOURCE, 100.0)
    table.observe(dgram(2, 11_000, [flow(2, 200)]), SOURCE, 101.0)
    table.observe(dgram(2, 11_000, [flow(2, 200)]), SOURCE, 101.5)  # duplicate datagram
    table.observe(dgram(5, 14_000, [flow(5, 500), counters(2)]), "203.0.113.9", 102.0)
    body = table.to_json(103.0)
    stats = body[AGENT]
    assert stats["sFlowDatagramsReceived"] == 4
    assert stats["sFlowDatagramsLost"] == 2
    assert stats["sFlowDatagramsDuplicates"] == 1
    assert stats["sFlowDatagramsOutOfOrder"] == 0
    assert stats["sFlowDatagramSource"] == [SOURCE, "203.0.113.9"]
    # samples of the duplicate datagram are not counted twice
    assert stats["sFlowFlowSamples"] == 3 and stats["sFlowFlowLostSamples"] == 2
    assert stats["sFlowCounterSamples"] == 2 and stats["sFlowCounterLostSamples"] == 0
    assert stats["sFlowFlowDatasources"] == 1 and stats["sFlowCounterDatasources"] == 1
    assert stats["sFlowNotificationSamples"] == 0 and stats["sFlowNotificationDatasources"] == 0
    assert stats["firstSeen"] == 3000 and stats["lastSeen"] == 1000
    assert stats["uptime"] == 14_000
    assert stats["sFlowSubAgents"]["0"]["sequence"] == 5
    expected_keys = {
        "sFlowDatagramsReceived",
        "sFlowDatagramsLost",
        "sFlowDatagramsOutOfOrder",
        "sFlowDatagramsDuplicates",
        "sFlowDatagramSource",
        "sFlowFlowSamples",
        "sFlowFlowLostSamples",
        "sFlowFlowDuplicateSamples",
        "sFlowFlowOutOfOrderSamples",
        "sFlowFlowDrops",
        "sFlowFlowDatasources",
        "sFlowCounterSamples",
        "sFlowCounterLostSamples",
        "sFlowCounterDuplicateSamples",
        "sFlowCounterOutOfOrderSamples",
        "sFlowCounterDatasources",
        "sFlowNotificationSamples",
        "sFlowNotificationLostSamples",
        "sFlowNotificationDuplicateSamples",
        "sFlowNotificationOutOfOrderSamples",
        "sFlowNotificationDrops",
        "sFlowNotificationDatasources",
        "firstSeen",
        "lastSeen",
        "uptime",
    }
    assert expected_keys <= set(stats)


def test_sub_agents_are_separate_streams():
    table = AgentTable()
    for seq in range(1, 4):
        table.observe(dgram(seq, seq * 1000, sub_agent=0), SOURCE, float(seq))
        table.observe(dgram(seq + 50, seq * 700, sub_agent=1), SOURCE, float(seq))
    stats = table.to_json(5.0)[AGENT]
    assert stats["sFlowDatagramsReceived"] == 6 and stats["sFlowDatagramsLost"] == 0
    assert set(stats["sFlowSubAgents"]) == {"0", "1"}


def test_drops_are_summed_as_deltas_and_discards_are_notifications():
    table = AgentTable()
    discard = DiscardSample(1, 0, 3, 7, 3, 0, 258, [])
    table.observe(dgram(1, 1000, [flow(1, 100, drops=10), discard]), SOURCE, 1.0)
    discard2 = DiscardSample(3, 0, 3, 9, 3, 0, 258, [])
    table.observe(dgram(2, 2000, [flow(2, 200, drops=15), discard2]), SOURCE, 2.0)
    stats = table.to_json(2.0)[AGENT]
    assert stats["sFlowFlowDrops"] == 5
    assert stats["sFlowNotificationDrops"] == 2
    assert stats["sFlowNotificationSamples"] == 2 and stats["sFlowNotificationLostSamples"] == 1
    assert stats["sFlowNotificationDatasources"] == 1


def test_effective_sampling_rate_reflects_lost_samples_and_polling_interval():
    table = AgentTable()
    # 1-in-100 sampling; sample 3 is lost, so 3 samples span a pool advance of 400
    for i, seq in enumerate((1, 2, 4, 5)):
        table.observe(dgram(i + 1, 1000 * (i + 1), [flow(seq, seq * 100)]), SOURCE, 1.0 + i)
    for i, seq in enumerate((7, 8, 9)):
        table.observe(dgram(10 + i, 20_000 * (i + 1), [counters(seq)]), SOURCE, 10.0 + i)
    info = table.datasource_info(AGENT, "3")
    assert info["samplingRate"] == 100
    assert info["effectiveSamplingRate"] == pytest.approx(400 / 3)
    assert info["effectivePollingInterval"] == 20_000
    assert info["counterSamples"] == 3 and info["flowSamples"] == 4
    assert table.datasource_info(AGENT, "99") is None
    assert table.datasource_info("203.0.113.200", "3") is None


def test_datasource_names_follow_sflow_rt():
    assert datasource_name(0, 3) == "3"
    assert datasource_name(2, 1) == "2.1"
    assert datasource_name(3, 150000) == "3.150000"


def test_idle_agents_expire_and_caps_hold():
    table = AgentTable(max_agents=2, max_datasources=2, idle_timeout=60.0)
    for n, agent in enumerate(("192.0.2.1", "192.0.2.2", "192.0.2.3")):
        d = real(Datagram(agent, 0, 1, 1000, [counters(1, ds=i + 1) for i in range(3)]))
        table.observe(d, SOURCE, 10.0 + n)
    assert sorted(table.agents) == ["192.0.2.1", "192.0.2.2"]
    assert table.agents_rejected == 1
    stats = table.to_json(20.0)["192.0.2.1"]
    assert stats["sFlowCounterDatasources"] == 2 and stats["sFlowDatasourcesRejected"] == 1
    table.observe(real(Datagram("192.0.2.2", 0, 2, 2000, [])), SOURCE, 60.0)
    assert table.expire(71.0) == ["192.0.2.1"]
    assert list(table.agents) == ["192.0.2.2"]


def test_decode_errors_are_charged_to_the_sending_agent():
    table = AgentTable()
    table.observe(dgram(1, 1000), SOURCE, 1.0)
    table.record_error(SOURCE, "unsupported sFlow version 4")
    table.record_error(AGENT, "sample 0:1 truncated")
    table.record_error("203.0.113.50", "truncated header")
    stats = table.to_json(2.0)[AGENT]
    assert stats["sFlowDecodeErrors"] == 2
    assert stats["sFlowDecodeErrorReasons"] == {
        "unsupported sFlow version 4": 1,
        "sample 0:1 truncated": 1,
    }
    assert table.unattributed_errors == {"203.0.113.50": 1}


def test_a_partly_decoded_datagram_counts_one_error_per_fault():
    """Each fault is charged once to the agent and once to the engine's total."""
    payload = bytearray(encode_datagram(Datagram(AGENT, 0, 1, 1000, [counters(1)])))
    record_length = 28 + 8 + 12 + 4  # datagram header, sample tag+length, sample header, tag
    payload[record_length : record_length + 4] = (8).to_bytes(4, "big")  # < declared layout
    assert len(decode_datagram(bytes(payload)).errors) == 1
    engine = Engine(now=0.0)
    engine.ingest_datagram(bytes(payload), SOURCE, 1.0)
    assert engine.analyzer(1.0)["sFlowDecodeErrors"] == 1
    assert engine.analyzer(1.0)["sFlowDatagramsDiscarded"] == 0  # its samples still count
    assert engine.agents.to_json(1.0)[AGENT]["sFlowDecodeErrors"] == 1
    engine.ingest_datagram(b"\x00\x05\x00\x01" + bytes(40), SOURCE, 2.0)  # NetFlow v5
    assert engine.analyzer(2.0)["sFlowDatagramsDiscarded"] == 1
    assert engine.analyzer(2.0)["sFlowDecodeErrors"] == 2


def test_to_json_selects_agents():
    table = AgentTable()
    table.observe(dgram(1, 1000), SOURCE, 1.0)
    assert table.to_json(1.0, agents=["203.0.113.1"]) == {}
    assert list(table.to_json(1.0, agents=[AGENT])) == [AGENT]


# --- real captures ------------------------------------------------------------------


def test_ovs_capture_has_no_loss():
    table = AgentTable()
    last = feed(table, "ovs-netns")
    stats = table.to_json(last)["127.0.0.1"]
    assert stats["sFlowDatagramsReceived"] == 153  # sequences 3..155
    assert stats["sFlowDatagramsLost"] == 0
    assert stats["sFlowDatagramsOutOfOrder"] == 0 and stats["sFlowDatagramsDuplicates"] == 0
    assert stats["sFlowDatagramSource"] == ["127.0.0.1"]
    assert stats["sFlowFlowLostSamples"] == 0 and stats["sFlowCounterLostSamples"] == 0
    assert stats["sFlowSubAgents"]["0"]["sequence"] == 155
    assert stats["sFlowCounterDatasources"] == 4  # ports 114-116 and the bridge 2:1000
    assert stats["uptime"] == 23_000
    bridge = table.datasource_info("127.0.0.1", "2.1000")
    assert bridge["samplingRate"] == 64
    assert bridge["effectiveSamplingRate"] == pytest.approx(64)
    port = table.datasource_info("127.0.0.1", "115")
    assert port["effectivePollingInterval"] == 5000


def test_hsflowd_capture_agent_and_sub_agent():
    table = AgentTable()
    last = feed(table, "hsflowd-2.1.25-veth-local")
    body = table.to_json(last)
    assert list(body) == ["198.51.100.1"]
    stats = body["198.51.100.1"]
    assert list(stats["sFlowSubAgents"]) == ["100000"]
    assert stats["sFlowDatagramsLost"] == 0 and stats["sFlowDatagramsReceived"] == 63
    assert stats["sFlowDatagramSource"] == ["127.0.0.1"]
    assert table.datasource_info("198.51.100.1", "2.1")["effectivePollingInterval"] > 0


def test_multi_agent_capture_counts_non_sflow_as_errors():
    table = AgentTable()
    last = feed(table, "tcpdump-sflow_multiple_counter_30_pdus")
    body = table.to_json(last)
    assert "15.184.8.4" in body and "15.184.1.195" in body
    assert body["15.184.8.4"]["sFlowDatagramSource"] == ["15.184.1.76"]
    received = sum(s["sFlowDatagramsReceived"] for s in body.values())
    errors = sum(s["sFlowDecodeErrors"] for s in body.values()) + sum(
        table.unattributed_errors.values()
    )
    assert received + errors == 30
    assert errors >= 1
