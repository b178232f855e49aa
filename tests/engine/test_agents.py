"""AgentTable: sequence accounting, sampling and polling bookkeeping, /agents/json shape."""

from __future__ import annotations

import socket

import dpkt
import pytest

from conftest import testdata
from flowrt._core import load_native
from flowrt.config import Properties
from flowrt.engine.agents import (
    REORDER_WINDOW,
    AgentTable,
    Outcome,
    SequenceTracker,
    datasource_name,
)
from flowrt.engine.core import Engine
from flowrt.engine.native import NativeIngest
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


# --- SequenceTracker: the rule of the agents module docstring ---------------------------
# observe(seq, fingerprint, uptime): in these tests the fingerprint is the uptime, as
# for a datagram stream without a payload checksum.


def test_in_order_stream_has_no_loss():
    t = SequenceTracker()
    outcomes = [t.observe(s, s * 1000, s * 1000) for s in range(5, 15)]
    assert outcomes[0] is Outcome.FIRST and set(outcomes[1:]) == {Outcome.IN_ORDER}
    assert (t.received, t.lost, t.duplicates, t.out_of_order, t.restarts) == (10, 0, 0, 0, 0)


def test_gap_counts_lost_and_late_arrival_becomes_out_of_order():
    t = SequenceTracker()
    for s in (1, 2, 5):
        t.observe(s, s * 1000, s * 1000)
    assert t.lost == 2
    assert t.observe(3, 3000, 3000) is Outcome.LATE
    assert (t.lost, t.out_of_order) == (1, 1)
    assert t.observe(4, 4000, 4000) is Outcome.LATE
    assert (t.received, t.lost, t.duplicates, t.out_of_order, t.restarts) == (5, 0, 0, 2, 0)


def test_reordering_is_neither_loss_nor_duplicates():
    """Pairs swapped all along: every swap is a gap filled by a late arrival (the very
    first, 1 after 2, is from before the run began: stale, not a restart)."""
    t = SequenceTracker()
    order = [n for pair in zip(range(2, 201, 2), range(1, 200, 2), strict=True) for n in pair]
    outcomes = [t.observe(n, n * 7, n * 10) for n in order]
    assert outcomes[1] is Outcome.STALE and outcomes.count(Outcome.LATE) == 99
    assert (t.received, t.lost, t.duplicates, t.restarts, t.out_of_order) == (200, 0, 0, 0, 100)


def test_duplicate_same_number_same_fingerprint_is_dropped_and_not_received():
    t = SequenceTracker()
    for s in (1, 2, 5):
        t.observe(s, s * 1000, s * 1000)
    t.observe(3, 3000, 3000)  # late
    assert t.observe(3, 3000, 3000) is Outcome.DUPLICATE  # a late one, again
    assert t.observe(5, 5000, 5000) is Outcome.DUPLICATE  # the head, again
    assert t.observe(1, 1000, 1000) is Outcome.DUPLICATE
    assert (t.received, t.lost, t.duplicates, t.out_of_order, t.restarts) == (4, 1, 3, 1, 0)
    assert t.last == 5


def test_every_datagram_twice_counts_each_once():
    t = SequenceTracker()
    outcomes = [t.observe(n, n * 13, n * 1000) for n in range(1, 101) for _ in range(2)]
    assert outcomes.count(Outcome.DUPLICATE) == 100
    assert (t.received, t.lost, t.duplicates, t.out_of_order, t.restarts) == (100, 0, 100, 0, 0)


def test_restart_after_a_long_run_is_a_restart_not_loss():
    t = SequenceTracker()
    for s in range(100, 110):
        t.observe(s, 10_000_000 + s, 10_000_000 + s)
    assert t.observe(1, 500, 500) is Outcome.RESTART
    assert t.observe(2, 1500, 1500) is Outcome.IN_ORDER
    assert (t.received, t.lost, t.duplicates, t.restarts, t.out_of_order) == (12, 0, 0, 1, 0)


def test_restart_after_a_short_run_is_a_restart_not_duplicates():
    """Sequence back to 1, uptime back a few seconds: the old numbers are still in the
    ring, but with other fingerprints, so nothing of the new run is a duplicate."""
    t = SequenceTracker()
    for s in range(1, 6):  # a 5 s run
        t.observe(s, 1000 * s, 1000 * s)
    outcomes = [t.observe(s, 1000 * s - 700, 1000 * s - 700) for s in range(1, 11)]
    assert outcomes[0] is Outcome.RESTART
    assert set(outcomes[1:]) == {Outcome.IN_ORDER}
    assert (t.received, t.lost, t.duplicates, t.restarts, t.out_of_order) == (15, 0, 0, 1, 0)


def test_restart_with_a_higher_sequence_and_lower_uptime():
    t = SequenceTracker()
    t.observe(10, 50_000_000, 50_000_000)
    assert t.observe(20, 1_000, 1_000) is Outcome.RESTART
    assert t.lost == 0
    # uptime lower by less than the jitter allowance: still the same run
    assert t.observe(21, 800, 800) is Outcome.IN_ORDER


def test_uptime_32bit_wrap_is_not_a_restart():
    t = SequenceTracker()
    t.observe(10, 1, 2**32 - 1_000)
    assert t.observe(11, 2, 4_000) is Outcome.IN_ORDER
    assert t.restarts == 0


def test_sequence_32bit_wrap_is_in_order():
    t = SequenceTracker()
    t.observe(2**32 - 2, 1, 1000)
    assert t.observe(2**32 - 1, 2, 2000) is Outcome.IN_ORDER
    assert t.observe(0, 3, 3000) is Outcome.IN_ORDER
    assert t.observe(2, 5, 5000) is Outcome.GAP
    assert t.observe(1, 4, 4000) is Outcome.LATE
    assert (t.lost, t.restarts, t.out_of_order) == (0, 0, 1)


def test_older_than_the_window_is_stale_or_a_restart():
    t = SequenceTracker()
    t.observe(1000, 1, 1_000_000)
    t.observe(100_000, 2, 2_000_000)  # a huge gap: only the last window is remembered
    assert t.lost == 98_999
    assert t.observe(100_000 - 5, 3, 1_999_000) is Outcome.LATE
    # too old to tell late from copy: delivered, counted out of order, loss unchanged
    assert t.observe(100_000 - REORDER_WINDOW - 1, 4, 1_990_000) is Outcome.STALE
    assert (t.lost, t.out_of_order, t.restarts) == (98_998, 2, 0)
    assert t.last == 100_000
    # back near the start: a restart
    assert t.observe(3, 5, 1_995_000) is Outcome.RESTART


def test_before_the_first_number_is_stale_not_a_restart():
    """The collector started mid-stream and a reordered earlier datagram arrives."""
    t = SequenceTracker()
    t.observe(500, 1, 50_000)
    t.observe(501, 2, 50_100)
    assert t.observe(499, 3, 49_900) is Outcome.STALE
    assert (t.lost, t.restarts, t.out_of_order, t.received) == (0, 0, 1, 3)


def test_same_number_other_fingerprint_is_a_restart():
    t = SequenceTracker()
    for s in range(1, 4):
        t.observe(s, 100 + s, 0)  # an agent that sends uptime 0
    assert t.observe(1, 7, 0) is Outcome.RESTART  # restarted: other bytes at number 1
    assert t.observe(2, 8, 0) is Outcome.IN_ORDER


def test_forced_restart_counts_once_whatever_the_number():
    t = SequenceTracker()
    for s in range(1, 4):
        t.observe(s, 64 * s, 1000 * s)
    t.force_restart()
    assert t.observe(1, 64, 500) is Outcome.RESTART  # same fingerprint as the old 1
    assert t.observe(2, 128, 1500) is Outcome.IN_ORDER
    assert t.restarts == 1 and t.duplicates == 0


# --- AgentTable with generated datagrams ------------------------------------------


def test_agent_json_shape_and_counts():
    table = AgentTable()
    table.observe(dgram(1, 10_000, [flow(1, 100), counters(1)]), SOURCE, 100.0)
    table.observe(dgram(2, 11_000, [flow(2, 200)]), SOURCE, 101.0)
    table.observe(dgram(2, 11_000, [flow(2, 200)]), SOURCE, 101.5)  # duplicate datagram
    table.observe(dgram(5, 14_000, [flow(5, 500), counters(2)]), "203.0.113.9", 102.0)
    body = table.to_json(103.0)
    stats = body[AGENT]
    assert stats["sFlowDatagramsReceived"] == 3  # the duplicate is not received twice
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


# --- duplicates and restarts through the engine (what flows and metrics see) ----------


def flow_view_engine() -> Engine:
    engine = Engine(now=0.0)
    engine.set_flow("pkts", {"keys": "ipprotocol", "value": "frames", "t": 1000})
    return engine


def header_flow(seq: int, pool: int, ds: int = 3) -> FlowSample:
    return FlowSample(seq, 0, ds, 10, pool, 0, 0, ds, 0, 4, [_tcp_record()])


def _tcp_record():
    from flowrt.sflow.records.flow import SampledHeader

    eth = bytes.fromhex("020000000002020000000001") + (0x0800).to_bytes(2, "big")
    ip = bytes.fromhex("450000280001000040060000") + bytes([10, 0, 0, 1, 10, 0, 0, 2])
    tcp = bytes(20)
    return SampledHeader(1, 54, 4, eth + ip + tcp)


def frames(engine: Engine, now: float) -> float:
    rows = engine.active_flows("ALL", "pkts", now)
    return sum(row["value"] for row in rows)


def test_duplicate_datagram_is_dropped_before_flows_and_counted():
    once, twice = flow_view_engine(), flow_view_engine()
    payloads = [
        encode_datagram(Datagram(AGENT, 0, n, 1000 * n, [header_flow(n, 10 * n), counters(n)]))
        for n in range(1, 21)
    ]
    for n, payload in enumerate(payloads):
        once.ingest_datagram(payload, SOURCE, 1.0 + n)
        twice.ingest_datagram(payload, SOURCE, 1.0 + n)
        twice.ingest_datagram(payload, SOURCE, 1.0 + n)
    assert frames(once, 21.0) > 0
    assert frames(twice, 21.0) == pytest.approx(frames(once, 21.0))
    a1, a2 = once.analyzer(21.0), twice.analyzer(21.0)
    assert a2["sFlowDatagramsReceived"] == a1["sFlowDatagramsReceived"] == 20
    assert a2["sFlowBytesReceived"] == a1["sFlowBytesReceived"]
    assert a2["sFlowFlowSamples"] == a1["sFlowFlowSamples"] == 20
    assert a2["sFlowCounterSamples"] == a1["sFlowCounterSamples"] == 20
    assert a2["sFlowDatagramsDuplicates"] == 20 and a1["sFlowDatagramsDuplicates"] == 0
    assert a2["sFlowDatagramsLost"] == 0 and a2["sFlowDatagramRestarts"] == 0
    stats = twice.agents.to_json(21.0)[AGENT]
    assert stats["sFlowDatagramsReceived"] == 20 and stats["sFlowDatagramsDuplicates"] == 20
    assert stats["sFlowFlowSamples"] == 20 and stats["sFlowFlowDuplicateSamples"] == 0
    assert twice.metrics.ignored == once.metrics.ignored == 0


def test_duplicate_samples_across_two_datagrams_count_once():
    once, twice = flow_view_engine(), flow_view_engine()
    samples = [header_flow(n, 10 * n) for n in range(1, 7)]
    once.ingest_datagram(encode_datagram(Datagram(AGENT, 0, 1, 1000, samples[:4])), SOURCE, 1.0)
    once.ingest_datagram(encode_datagram(Datagram(AGENT, 0, 2, 2000, samples[4:])), SOURCE, 2.0)
    # the second datagram repeats samples 3 and 4 (and a counter sample) before 5 and 6
    c = counters(1)
    twice.ingest_datagram(
        encode_datagram(Datagram(AGENT, 0, 1, 1000, [*samples[:4], c])), SOURCE, 1.0
    )
    twice.ingest_datagram(
        encode_datagram(Datagram(AGENT, 0, 2, 2000, [*samples[2:], c])), SOURCE, 2.0
    )
    assert frames(once, 2.0) > 0
    assert frames(twice, 2.0) == pytest.approx(frames(once, 2.0))
    stats = twice.agents.to_json(2.0)[AGENT]
    assert stats["sFlowDatagramsDuplicates"] == 0 and stats["sFlowDatagramsReceived"] == 2
    assert stats["sFlowFlowSamples"] == 6 and stats["sFlowFlowDuplicateSamples"] == 2
    assert stats["sFlowCounterSamples"] == 1 and stats["sFlowCounterDuplicateSamples"] == 1
    a = twice.analyzer(2.0)
    assert a["sFlowFlowSamples"] == 6 and a["sFlowFlowDuplicateSamples"] == 2
    assert a["sFlowCounterSamples"] == 1 and a["sFlowCounterDuplicateSamples"] == 1
    assert a["sFlowFlowLostSamples"] == 0 and a["sFlowFlowSampleRestarts"] == 0


def test_agent_restart_after_a_short_run_restarts_its_sample_streams():
    """A deterministic sampler's sample_pool repeats after a restart: the datagram
    stream's restart still restarts the sample streams, so nothing reads as a copy."""
    engine = flow_view_engine()
    for n in range(1, 4):
        d = Datagram(AGENT, 0, n, 1000 * n, [header_flow(n, 10 * n), counters(n)])
        engine.ingest_datagram(encode_datagram(d), SOURCE, float(n))
    for n in range(1, 4):  # restarted 0.5 s later: same numbers, same pools
        d = Datagram(AGENT, 0, n, 1000 * n - 500, [header_flow(n, 10 * n), counters(n)])
        engine.ingest_datagram(encode_datagram(d), SOURCE, 3.5 + n)
    stats = engine.agents.to_json(7.0)[AGENT]
    assert stats["sFlowDatagramRestarts"] == 1 and stats["sFlowDatagramsDuplicates"] == 0
    assert stats["sFlowFlowSampleRestarts"] == 1 and stats["sFlowCounterSampleRestarts"] == 1
    assert stats["sFlowFlowDuplicateSamples"] == 0 and stats["sFlowFlowLostSamples"] == 0
    assert stats["sFlowFlowSamples"] == 6 and stats["sFlowCounterSamples"] == 6
    assert engine.analyzer(7.0)["sFlowFlowSamples"] == 6


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


def octets(seq: int, in_octets: int, ds: int = 3) -> CounterSample:
    """A generic interface counter sample whose ifInOctets is ``in_octets``."""
    record = GenericInterfaceCounters(ds, 6, 10**9, 1, 3, in_octets, *([0] * 13))
    return CounterSample(seq, 0, ds, [record])


def in_octets_rate(engine: Engine, now: float) -> float:
    rows = engine.metrics.metric_query(AGENT, "ifinoctets", None, now)
    return rows[0]["metricValue"]


def test_no_counter_rate_is_taken_across_a_short_run_restart():
    """An agent that restarts after a few seconds sends uptimes only a little lower: only
    sequence accounting can tell, and then its counters start over: no rate across the
    restart, and the restarted stream's lower sample numbers are not refused as old."""
    engine = Engine(now=0.0)
    engine.ingest_datagram(encode_datagram(dgram(100, 5_000, [octets(50, 1_000)])), AGENT, 0.0)
    engine.ingest_datagram(encode_datagram(dgram(101, 7_000, [octets(51, 2_000)])), AGENT, 2.0)
    assert in_octets_rate(engine, 2.0) == 500.0
    engine.ingest_datagram(encode_datagram(dgram(1, 1_000, [octets(1, 50_000)])), AGENT, 4.0)
    assert engine.agents.to_json(4.0)[AGENT]["sFlowDatagramRestarts"] == 1
    assert in_octets_rate(engine, 4.0) == 500.0  # not (50,000 - 2,000) / 2 s
    engine.ingest_datagram(encode_datagram(dgram(2, 3_000, [octets(2, 53_000)])), AGENT, 6.0)
    assert in_octets_rate(engine, 6.0) == 1_500.0


@pytest.mark.parametrize("path", ["reference", "native"])
def test_expired_agents_leave_no_data_source_memo(path: str) -> None:
    """Spoofed agents come and go: once an agent is forgotten, the flow engine keeps
    nothing of it, not even its (agent, data source) name memo."""
    engine = Engine(Properties({"flowrt.agents.timeout": "60"}), now=0.0)
    engine.set_flow("per_agent", {"keys": "agent", "value": "frames"})
    ingest, flush = engine.ingest_datagram, lambda: None
    if path == "native":
        if load_native() is None:
            pytest.skip("reference-path run: no compiled core")
        driver = NativeIngest(engine)
        ingest, flush = driver.ingest_datagram, driver.flush
    agents = [f"198.18.{n // 250}.{n % 250 + 1}" for n in range(300)]
    for n, agent in enumerate(agents):
        payload = encode_datagram(Datagram(agent, 0, 1, 1000, [flow(1, 100, ds=n % 7 + 1)]))
        ingest(payload, SOURCE, 1.0)
    flush()
    memo = engine.flows._sources
    assert {agent for agent, _code in memo} == set(agents)
    keep = "198.51.100.99"
    ingest(encode_datagram(Datagram(keep, 0, 1, 1000, [flow(1, 100)])), SOURCE, 100.0)
    flush()
    engine.tick(100.0)
    assert sorted(engine.agents.agents) == [keep]
    assert list(memo) == [(keep, 3)]
