"""FlowEngine: rates from real captures and generated streams, aggregation, log, metrics."""

from __future__ import annotations

import math
import socket
import struct

import pytest

from conftest import SFLOW_TESTDATA, expected
from flowrt.engine.flows import FlowEngine
from flowrt.engine.groups import Lookups
from flowrt.flowlang.errors import FlowSpecError
from flowrt.sflow import (
    Datagram,
    DiscardSample,
    FlowSample,
    decode_datagram,
    encode_datagram,
)
from flowrt.sflow.records.flow import SampledHeader
from flowrt.sources.pcap import read_pcap

SAMPLING = 100
FRAME = 1000


def tcp_header(src: str, dst: str, sport: int, dport: int) -> bytes:
    eth = bytes.fromhex("020000000002020000000001") + struct.pack(">H", 0x0800)
    ip = struct.pack(
        ">BBHHHBBH4s4s", 0x45, 0, FRAME - 14, 1, 0, 64, 6, 0,
        socket.inet_aton(src), socket.inet_aton(dst),
    )  # fmt: skip
    tcp = struct.pack(">HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x10, 65535, 0, 0)
    return eth + ip + tcp


def flow_sample(
    src: str = "10.0.0.1",
    dst: str = "10.0.0.2",
    *,
    ifindex: int = 3,
    rate: int = SAMPLING,
    sport: int = 40000,
    dport: int = 80,
) -> FlowSample:
    record = SampledHeader(1, FRAME, 4, tcp_header(src, dst, sport, dport))
    return FlowSample(1, 0, ifindex, rate, 0, 0, 0, ifindex, 0, 7, [record])


def through_the_wire(agent: str, samples: list) -> list:
    """Samples as the engine gets them: encoded into a datagram and decoded again."""
    payload = encode_datagram(Datagram(agent, 0, 1, 1000, samples))
    return decode_datagram(payload).samples


def feed_stream(
    engine: FlowEngine,
    seconds: float,
    step: float = 0.01,
    start: float = 0.0,
    agent: str = "10.0.0.20",
    **kw: object,
) -> float:
    """One sample every ``step`` seconds; returns the time of the last one."""
    (sample,) = through_the_wire(agent, [flow_sample(**kw)])  # type: ignore[arg-type]
    now = start
    for i in range(round(seconds / step)):
        now = start + (i + 1) * step
        engine.ingest_flow_sample(agent, sample, now)
    return now


def engine_with(**flows: dict) -> FlowEngine:
    engine = FlowEngine(Lookups())
    for name, body in flows.items():
        engine.set_flow(name, body)
    return engine


PAIR = {"keys": "ipsource,ipdestination", "value": "bytes"}


# --- rates ------------------------------------------------------------------------------


def test_generated_stream_reaches_its_scaled_rate() -> None:
    engine = engine_with(pair=PAIR, frames={"value": "frames"})
    end = feed_stream(engine, 10.0)  # 100 samples/s of 1000 bytes at 1:100 = 10 MB/s
    (row,) = engine.active_flows(None, "pair", end)
    assert row["key"] == "10.0.0.1,10.0.0.2"
    assert row["value"] == pytest.approx(10_000_000, rel=0.05)
    assert (row["agent"], row["dataSource"]) == ("10.0.0.20", "3")
    (total,) = engine.active_flows(None, "frames", end)
    assert total["key"] == "" and total["value"] == pytest.approx(10_000, rel=0.05)
    assert engine.flow_value("pair", "10.0.0.20", "3", "10.0.0.1,10.0.0.2", end) == row["value"]
    assert engine.flow_value("pair", "10.0.0.20", "4", "10.0.0.1,10.0.0.2", end) is None
    assert engine.flow_value("nosuch", "10.0.0.20", "3", "x", end) is None


def replay(engine: FlowEngine, capture: str, every: float | None = None):
    """Feed a capture at its timestamps; ``every`` seconds also yield ``(now, engine)``."""
    next_stop = None
    for dgram in read_pcap(SFLOW_TESTDATA / f"{capture}.pcap"):
        now = dgram.timestamp
        if every is not None:  # the times before this datagram arrives
            next_stop = now if next_stop is None else next_stop
            while next_stop < now:
                yield next_stop, engine
                next_stop += every
        decoded = decode_datagram(dgram.payload)
        agent = decoded.agent or dgram.source
        for sample in decoded.samples:
            if type(sample) is FlowSample:
                engine.ingest_flow_sample(agent, sample, now)
            elif type(sample) is DiscardSample:
                engine.ingest_discard_sample(agent, sample, now)
    yield None, engine


def capture_pair_bytes(capture: str) -> dict[str, float]:
    """Scaled bytes per "src,dst" from the capture's independent ground truth."""
    totals: dict[str, float] = {}
    for dgram in expected(capture)["datagrams"]:
        for sample in dgram["samples"]:
            for rec in sample.get("records", []):
                decoded = rec.get("decoded") or {}
                if rec["tag"] == "0:1" and "ip_src" in decoded:
                    key = f"{decoded['ip_src']},{decoded['ip_dst']}"
                    scaled = rec["frame_length"] * sample["sampling_rate"]
                    totals[key] = totals.get(key, 0.0) + scaled
    return totals


@pytest.mark.usefixtures("sflow_testdata")
def test_ovs_capture_rates_integrate_to_the_capture_totals() -> None:
    """∫ rate dt over the capture (and the decay after it) = total scaled bytes per pair.

    The smoothed rate is a leaky integrator of what was added, so its integral is exact
    whatever ``t`` is: a check of the scaling, the keys and the time base at once.
    """
    truth = capture_pair_bytes("ovs-netns")
    iperf = "10.99.0.1,10.99.0.2"
    assert truth[iperf] == 58_699_264
    engine = engine_with(pair={**PAIR, "t": 1})
    step = 0.05
    integral: dict[str, float] = {}
    tops: list[str] = []
    last = 0.0
    for now, eng in replay(engine, "ovs-netns", every=step):
        if now is None:
            break
        last = now + step
        rows = eng.active_flows(None, "pair", now, max_flows=10)
        for row in rows:
            integral[row["key"]] = integral.get(row["key"], 0.0) + row["value"] * step
        if rows:
            tops.append(rows[0]["key"])
    for i in range(round(12 / step)):  # let the rates decay (10 time constants)
        now = last + i * step
        for row in engine.active_flows(None, "pair", now, max_flows=10):
            integral[row["key"]] = integral.get(row["key"], 0.0) + row["value"] * step
    for key, total in truth.items():
        assert integral[key] == pytest.approx(total, rel=0.03), key
    assert tops.count(iperf) > 0.9 * len(tops)  # the iperf3 TCP stream leads


@pytest.mark.usefixtures("sflow_testdata")
def test_ovs_capture_tcp_ports_with_filter_and_keyless_total() -> None:
    engine = engine_with(
        tcp={"keys": "tcpsourceport,tcpdestinationport", "value": "frames",
             "filter": "ipprotocol=6", "log": True, "activeTimeout": 600},
        udp={"keys": "udpdestinationport", "value": "bytes", "log": True},
        all={"value": "bytes", "log": True, "activeTimeout": 600},
    )  # fmt: skip
    for now, _ in replay(engine, "ovs-netns"):
        assert now is None
    engine.tick(2e9)
    records = engine.log.after(-1, None, 1000)
    tcp_keys = {r["flowKeys"] for r in records if r["name"] == "tcp"}
    assert "46934,5201" in tcp_keys  # iperf3 client -> server
    assert not any("," not in key for key in tcp_keys)
    udp_keys = {r["flowKeys"] for r in records if r["name"] == "udp"}
    assert "5201" in udp_keys  # the iperf3 UDP stream
    total = sum(
        r["value"] * max(1.0, (r["end"] - r["start"]) / 1000)
        for r in records if r["name"] == "all"
    )  # fmt: skip
    assert total == pytest.approx(sum(capture_pair_bytes("ovs-netns").values()), rel=1e-4)


# --- definitions, filters, values ----------------------------------------------------------


def test_filter_and_values_with_avg() -> None:
    engine = engine_with(
        web={"keys": "ipsource", "value": "bytes", "filter": "tcpdestinationport=80",
             "values": ["frames", "avg:bytes"]},
        ssh={"keys": "ipsource", "value": "bytes", "filter": "tcpdestinationport=22"},
    )  # fmt: skip
    end = feed_stream(engine, 10.0)
    (row,) = engine.active_flows(None, "web", end)
    frames, avg_bytes = row["values"]
    assert frames == pytest.approx(10_000, rel=0.05)
    assert avg_bytes == pytest.approx(FRAME)  # a mean per packet: not scaled, not smoothed away
    assert engine.active_flows(None, "ssh", end) == []


def test_bad_definitions_are_refused() -> None:
    engine = FlowEngine(Lookups(), max_definitions=2)
    with pytest.raises(FlowSpecError, match="value"):
        engine.set_flow("x", {"keys": "ipsource"})
    with pytest.raises(FlowSpecError, match="invalid flow key name"):
        engine.set_flow("x", {"keys": "ipsource", "value": "count:ip destination"})
    with pytest.raises(FlowSpecError, match="unknown key function"):
        engine.set_flow("x", {"keys": "ipsource", "value": "bytes", "values": ["max:no:bytes"]})
    engine.set_flow("a", PAIR)
    engine.set_flow("b", PAIR)
    engine.set_flow("a", PAIR)  # replacing does not count against the cap
    with pytest.raises(FlowSpecError, match="at most 2"):
        engine.set_flow("c", PAIR)
    assert set(engine.specs()) == {"a", "b"}
    assert engine.delete_flow("a") and not engine.delete_flow("a")
    with pytest.raises(KeyError):
        engine.active_flows(None, "a", 0.0)


def test_replacing_a_flow_resets_its_tables() -> None:
    engine = engine_with(pair=PAIR)
    end = feed_stream(engine, 2.0)
    assert engine.active_flows(None, "pair", end)
    engine.set_flow("pair", {**PAIR, "n": 10})
    assert engine.active_flows(None, "pair", end) == []
    assert engine.specs()["pair"].n == 10


# --- aggregation across data sources --------------------------------------------------------


def test_agg_mode_max_and_sum_across_data_sources() -> None:
    engine = engine_with(pair=PAIR)
    feed_stream(engine, 10.0, ifindex=3)  # 10 MB/s seen at port 3
    end = feed_stream(engine, 10.0, step=0.02, ifindex=4)  # 5 MB/s at port 4, same times
    end_3 = 10.0
    assert end == end_3
    (best,) = engine.active_flows(None, "pair", end)
    assert best["dataSource"] == "3"
    assert best["value"] == pytest.approx(10e6, rel=0.05)
    (summed,) = engine.active_flows(None, "pair", end, agg_mode="sum")
    assert summed["value"] == pytest.approx(15e6, rel=0.05)
    (edge,) = engine.active_flows(None, "pair", end, agg_mode="edge")  # no topology: as max
    assert edge["value"] == best["value"]
    assert engine.active_flows(frozenset({"10.9.9.9"}), "pair", end) == []
    assert engine.active_flows(None, "pair", end, min_value=20e6) == []
    with pytest.raises(ValueError, match="aggMode"):
        engine.active_flows(None, "pair", end, agg_mode="median")


def test_spec_agg_mode_is_the_default() -> None:
    engine = engine_with(pair={**PAIR, "aggMode": "sum"})
    feed_stream(engine, 10.0, ifindex=3)
    end = feed_stream(engine, 10.0, ifindex=4)
    (row,) = engine.active_flows(None, "pair", end)
    assert row["value"] == pytest.approx(20e6, rel=0.05)


def test_top_n_per_data_source_and_max_flows() -> None:
    engine = engine_with(ports={"keys": "tcpsourceport", "value": "frames", "n": 5})
    end = 0.0
    for port in range(8):
        end = feed_stream(engine, 1.0, step=0.01 * (port + 1), sport=1000 + port)
    rows = engine.active_flows(None, "ports", end)
    assert len(rows) == 5  # n per data source
    values = [r["value"] for r in rows]
    assert values == sorted(values, reverse=True)
    assert len(engine.active_flows(None, "ports", end, max_flows=2)) == 2


# --- dropped packets ------------------------------------------------------------------------


@pytest.mark.usefixtures("sflow_testdata")
def test_dropped_flows_count_discard_samples_only() -> None:
    engine = engine_with(
        drops={"keys": "reason,inputifindex", "value": "frames", "dropped": True},
        packets={"keys": "inputifindex", "value": "frames"},
    )
    for now, _ in replay(engine, "telegraf-sflow_issue_15375-drop"):
        assert now is None
    when = 1_700_000_000.0  # the capture's timestamp
    (row,) = engine.active_flows(None, "drops", when)
    assert row["key"] == "host_unreachable,1"
    assert row["value"] == pytest.approx(1 / 2.0)  # one notification, t = 2 s, not scaled
    assert (row["agent"], row["dataSource"]) == ("192.168.119.184", "1")
    assert engine.active_flows(None, "packets", when) == []
    assert "reason" in engine.flow_keys(when)


# --- flow log -------------------------------------------------------------------------------


def test_log_records_from_the_engine_tick() -> None:
    engine = engine_with(pair={**PAIR, "log": True, "activeTimeout": 5})
    woken: list[int] = []
    engine.log.subscribe(lambda: woken.append(engine.log.last_id))
    now = 0.0
    for second in range(12):
        now = feed_stream(engine, 1.0, start=float(second))
        engine.tick(now)
    for extra in range(1, 6):
        engine.tick(now + extra)
    records = list(reversed(engine.log.after(-1, "pair", 100)))
    # Closed at the first tick at least activeTimeout after the start (ticks at 1 s).
    assert [(r["start"], r["end"]) for r in records] == [(10, 6000), (6010, 12000)]
    for r in records:
        assert r["value"] == pytest.approx(10e6, rel=0.01)
        assert (r["flowKeys"], r["agent"], r["dataSource"]) == (
            "10.0.0.1,10.0.0.2", "10.0.0.20", "3",
        )  # fmt: skip
    assert woken == [1, 2]


def test_flow_start_logs_new_keys_immediately() -> None:
    engine = engine_with(new={"keys": "tcpsourceport", "value": "frames", "log": True,
                              "flowStart": True})  # fmt: skip
    feed_stream(engine, 0.05, sport=1)
    feed_stream(engine, 0.05, start=0.05, sport=2)
    assert [r["flowKeys"] for r in engine.log.after(-1, None, 10)] == ["2", "1"]
    assert engine.log.after(-1, None, 10)[0]["value"] == SAMPLING  # one sample, scaled


# --- metrics, keys, watch, expiry -----------------------------------------------------------


def test_metric_points_carry_top_keys() -> None:
    engine = engine_with(pair=PAIR, total={"value": "bytes"})
    feed_stream(engine, 5.0, dst="10.0.0.3", step=0.02)  # 5 MB/s, then stops
    end = feed_stream(engine, 10.0, start=5.0)  # 10 MB/s
    points = {p.name: p for p in engine.metric_points(end)}
    pair = points["pair"]
    assert (pair.agent, pair.datasource) == ("10.0.0.20", "3")
    keys = pair.extra["topKeys"]
    assert [k["key"] for k in keys] == ["10.0.0.1,10.0.0.2", "10.0.0.1,10.0.0.3"]
    assert pair.value == keys[0]["value"] == pytest.approx(10e6, rel=0.05)
    assert keys[0]["lastUpdate"] == 0
    total = points["total"]
    assert total.extra is None
    assert total.value == pytest.approx(10e6 + 5e6 * math.exp(-5), rel=0.05)


def test_watch_reports_each_update_with_the_smoothed_value() -> None:
    engine = engine_with(pair=PAIR, other=PAIR)
    seen: list[tuple] = []
    engine.watch({"pair"}, lambda *args: seen.append(args))
    end = feed_stream(engine, 10.0)
    assert len(seen) == 1000 and {s[0] for s in seen} == {"pair"}
    _name, agent, ds, key, value, values, now = seen[-1]
    assert (agent, ds, key, values, now) == ("10.0.0.20", "3", "10.0.0.1,10.0.0.2", None, end)
    assert value == engine.flow_value("pair", agent, ds, key, end)
    engine.set_flow("pair", PAIR)  # replaced definitions stay watched
    feed_stream(engine, 0.01, start=end)
    assert len(seen) == 1001
    engine.watch(set(), lambda *args: seen.append(args))
    feed_stream(engine, 0.01, start=end + 1)
    assert len(seen) == 1001


def test_flow_keys_track_recent_samples() -> None:
    engine = FlowEngine(Lookups())
    end = feed_stream(engine, 1.0)  # no definitions needed
    keys = engine.flow_keys(end + 0.5)
    assert {"ipsource", "tcpflags", "macsource", "agent", "bytes", "stack"} <= set(keys)
    assert 500 <= keys["ipsource"] <= 1500  # shapes are noted at most once a second
    assert "udpsourceport" not in keys
    engine.tick(end + 1000)
    assert engine.flow_keys(end + 1000) == {}


def test_idle_data_sources_are_dropped() -> None:
    engine = engine_with(pair=PAIR)
    end = feed_stream(engine, 1.0)
    flow = engine._flows["pair"]
    assert len(flow.tables) == 1
    engine.tick(end + 5)
    assert len(flow.tables) == 1  # still decaying
    engine.tick(end + 100)
    assert flow.tables == {}
    assert math.isclose(len(engine.active_flows(None, "pair", end + 100)), 0)


def test_a_table_emptied_by_a_query_is_kept_not_made_again() -> None:
    """An empty table is falsy (``__len__``); the counter must still find it: making it
    again would, at the data source cap, reject the source's samples and otherwise lose
    its ``evicted`` count (both fail with ``tables.get(source) or new_table(source)``)."""
    engine = FlowEngine(Lookups(), max_sources=1)
    engine.set_flow("one", {"keys": "tcpsourceport", "value": "frames", "n": 1})
    agent = "10.0.0.20"
    samples = through_the_wire(agent, [flow_sample(sport=1000 + i) for i in range(150)])
    for sample in samples:  # capacity 100: a sweep evicts
        engine.ingest_flow_sample(agent, sample, 0.0)
    flow = engine._flows["one"]
    (table,) = flow.tables.values()
    evicted = table.evicted
    assert evicted > 0
    assert flow_rows(engine, 1000.0) == []  # the query expires every key: an empty table
    assert len(table) == 0
    engine.ingest_flow_sample(agent, samples[0], 1000.0)
    assert flow.sources_rejected == 0
    assert list(flow.tables.values()) == [table] and len(table) == 1
    assert table.evicted == evicted
    engine.tick(1000.0)
    assert engine.counters.keys_evicted == evicted


def flow_rows(engine: FlowEngine, now: float) -> list:
    return engine.active_flows(None, "one", now)
