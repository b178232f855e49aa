"""Value kinds avg:/max:/min:/count:, /activeflows key filters and /flowlocations.

Streams are generated, encoded into real sFlow datagrams and decoded again, so the engine
sees exactly what the wire gives it. Expected figures follow from the estimators that
flowrt.engine.topn documents (decaying extremes, decayed distinct counts).
"""

from __future__ import annotations

import math
import socket
import struct

import pytest

from flowrt.engine.flows import FlowEngine
from flowrt.engine.groups import Lookups
from flowrt.engine.topn import MAX_DISTINCT, DistinctCounter, KindFlowTable, aggregate
from flowrt.flowlang.errors import FlowSpecError
from flowrt.sflow import Datagram, FlowSample, decode_datagram, encode_datagram
from flowrt.sflow.records.flow import SampledHeader

AGENT = "10.0.0.20"
SAMPLING = 100
T = 2.0


def sample(src: str, dst: str, frame: int, *, ifindex: int = 3, rate: int = SAMPLING) -> FlowSample:
    """One decoded TCP flow sample of a ``frame``-byte packet src → dst."""
    eth = bytes.fromhex("020000000002020000000001") + struct.pack(">H", 0x0800)
    ip = struct.pack(
        ">BBHHHBBH4s4s", 0x45, 0, frame - 14, 1, 0, 64, 6, 0,
        socket.inet_aton(src), socket.inet_aton(dst),
    )  # fmt: skip
    tcp = struct.pack(">HHIIBBHHH", 40000, 80, 1, 0, 0x50, 0x10, 65535, 0, 0)
    record = SampledHeader(1, frame, 4, eth + ip + tcp)
    raw = FlowSample(1, 0, ifindex, rate, 0, 0, 0, ifindex, 0, 7, [record])
    (decoded,) = decode_datagram(encode_datagram(Datagram(AGENT, 0, 1, 1000, [raw]))).samples
    return decoded  # type: ignore[return-value]


def engine_with(**flows: dict) -> FlowEngine:
    engine = FlowEngine(Lookups())
    for name, body in flows.items():
        engine.set_flow(name, {"t": T, **body})
    return engine


def feed(engine: FlowEngine, samples: list[FlowSample], seconds: float, start: float = 0.0,
         step: float = 0.01, agent: str = AGENT) -> float:
    """Cycle through ``samples``, one every ``step`` seconds; returns the last time."""
    now = start
    for i in range(round(seconds / step)):
        now = start + (i + 1) * step
        engine.ingest_flow_sample(agent, samples[i % len(samples)], now)
    return now


# --- avg ---------------------------------------------------------------------------------------
def test_avg_value_is_the_mean_packet_size_unscaled_and_ranks_flows() -> None:
    engine = engine_with(size={"keys": "ipsource", "value": "avg:bytes", "values": ["bytes"]})
    small = [sample("10.0.0.1", "10.0.0.9", 100), sample("10.0.0.1", "10.0.0.9", 300)]
    big = [sample("10.0.0.2", "10.0.0.9", 1500)]
    end = feed(engine, [*small, *small, big[0]], 10.0)
    rows = engine.active_flows(None, "size", end)
    assert [row["key"] for row in rows] == ["10.0.0.2", "10.0.0.1"]  # largest average first
    assert rows[0]["value"] == pytest.approx(1500)  # not times the sampling rate
    assert rows[1]["value"] == pytest.approx(200, rel=0.02)  # recency-weighted mean of 100/300
    # the plain-sum entry of values stays a scaled per-second rate: 20 samples/s x 1500 x 100
    assert rows[0]["values"] == [pytest.approx(20 * 1500 * SAMPLING, rel=0.05)]
    # the flow metric is the largest flow's value, as for sums
    (point,) = list(engine.metric_points(end))
    assert point.value == pytest.approx(rows[0]["value"])


def test_avg_does_not_add_across_data_sources_in_sum_mode() -> None:
    engine = engine_with(size={"keys": "ipsource", "value": "avg:bytes"})
    a = sample("10.0.0.1", "10.0.0.9", 1000, ifindex=3)
    b = sample("10.0.0.1", "10.0.0.9", 500, ifindex=4)
    end = feed(engine, [a, b], 5.0)
    (row,) = engine.active_flows(None, "size", end, agg_mode="sum")
    assert row["value"] == pytest.approx(1000)  # the largest observation, not 1500
    assert row["dataSource"] == "3"


# --- max / min ---------------------------------------------------------------------------------
def test_max_is_a_peak_that_relaxes_with_time_constant_t() -> None:
    engine = engine_with(peak={"keys": "ipsource", "value": "max:bytes"})
    engine.ingest_flow_sample(AGENT, sample("10.0.0.1", "10.0.0.9", 1500), 100.0)
    assert engine.flow_value("peak", AGENT, "3", "10.0.0.1", 100.0) == pytest.approx(1500)
    # one time constant later with nothing larger seen: e times smaller
    assert engine.flow_value("peak", AGENT, "3", "10.0.0.1", 100.0 + T) == pytest.approx(
        1500 / math.e
    )
    # smaller packets keep a floor under it: the recent peak of a steady 64-byte stream
    end = feed(engine, [sample("10.0.0.1", "10.0.0.9", 64)], 6 * T, start=100.0)
    value = engine.flow_value("peak", AGENT, "3", "10.0.0.1", end)
    assert value == pytest.approx(max(64, 1500 * math.exp(-6)), rel=1e-6)


def test_min_relaxes_upward_and_ranks_largest_minimum_first() -> None:
    engine = engine_with(low={"keys": "ipsource", "value": "min:bytes"})
    end = feed(engine, [sample("10.0.0.1", "10.0.0.9", 64), sample("10.0.0.1", "10.0.0.9", 900),
                        sample("10.0.0.2", "10.0.0.9", 500)], 3.0)
    rows = engine.active_flows(None, "low", end)
    assert [r["key"] for r in rows] == ["10.0.0.2", "10.0.0.1"]
    assert rows[0]["value"] == pytest.approx(500, rel=0.01)
    assert rows[1]["value"] == pytest.approx(64, rel=0.02)
    later = engine.flow_value("low", AGENT, "3", "10.0.0.2", end + T)
    assert later == pytest.approx(rows[0]["value"] * math.e)


def test_ai_metrics_min_max_values_in_activeflows_log_and_events() -> None:
    """InMon ai-metrics: values ['min:x','max:x'] beside a summed value."""
    body = {"keys": "ipsource", "value": "frames", "values": ["min:bytes", "max:bytes"],
            "log": True}
    engine = engine_with(ai=body)
    seen: list[tuple] = []
    engine.watch({"ai"}, lambda *args: seen.append(args))
    sizes = [sample("10.0.0.1", "10.0.0.9", size) for size in (200, 800, 400)]
    end = feed(engine, sizes, 4.0)
    (row,) = engine.active_flows(None, "ai", end)
    low, high = row["values"]
    assert low == pytest.approx(200, rel=0.02) and high == pytest.approx(800, rel=0.02)
    assert seen[-1][5] == pytest.approx((low, high))  # thresholds' event values
    engine.tick(end + 60.0)  # idle: the log record closes
    (record,) = engine.log.after(-1, "ai", 10)
    assert record["values"] == [200.0, 800.0]  # exact extremes over the record
    assert record["value"] == pytest.approx(400 * SAMPLING / (end - 0.01), rel=0.01)


def test_missing_extreme_inputs_are_skipped_not_zero() -> None:
    engine = engine_with(f={"keys": "ipsource", "value": "frames",
                            "values": ["min:udpsourceport", "avg:udpsourceport"]})
    end = feed(engine, [sample("10.0.0.1", "10.0.0.9", 100)], 1.0)  # TCP: no UDP port
    (row,) = engine.active_flows(None, "f", end)
    assert row["values"] == [0.0, 0.0]  # min never fed is reported 0; avg counts zeros
    table = engine._flows["f"].tables[(AGENT, "3")]
    assert table._entries["10.0.0.1"][2][0] is None  # not a false minimum of 0


# --- count -------------------------------------------------------------------------------------
def test_count_is_distinct_sources_per_destination() -> None:
    engine = engine_with(fanin={"keys": "ipdestination", "value": "count:ipsource",
                                "values": ["bytes", "count:ipsource"]})
    many = [sample(f"10.0.1.{i}", "10.0.0.9", 100) for i in range(1, 11)]
    few = [sample(f"10.0.2.{i}", "10.0.0.8", 100) for i in range(1, 4)]
    end = feed(engine, many + few + few, 5 * T)
    rows = engine.active_flows(None, "fanin", end)
    assert [r["key"] for r in rows] == ["10.0.0.9", "10.0.0.8"]
    # each source renewed every 0.16 s weighs e^(-age/t) >= 0.92: about 10 and 3, unscaled
    assert rows[0]["value"] == pytest.approx(10, rel=0.05)
    assert rows[1]["value"] == pytest.approx(3, rel=0.05)
    assert rows[0]["values"][1] == pytest.approx(rows[0]["value"])
    # sources stop: each decays by e per t
    assert engine.flow_value("fanin", AGENT, "3", "10.0.0.9", end + T) == pytest.approx(
        rows[0]["value"] / math.e
    )


def test_count_of_a_stream_of_new_values_is_rate_times_t() -> None:
    engine = engine_with(fanin={"keys": "ipdestination", "value": "count:ipsource"})
    fresh = [sample(f"10.{i // 250}.{i % 250}.1", "10.0.0.9", 100) for i in range(200)]
    end = feed(engine, fresh, 2.0, step=0.01)  # 100 new sources/s, never repeated
    value = engine.flow_value("fanin", AGENT, "3", "10.0.0.9", end)
    assert value == pytest.approx(100 * T * (1 - math.exp(-2.0 / T)), rel=0.03)


def test_distinct_counter_is_bounded() -> None:
    counter = DistinctCounter()
    for i in range(10 * MAX_DISTINCT):
        counter.add(str(i), 1.0 + i / 1000)  # weights grow with time, as the clock's do
    assert len(counter.seen) <= MAX_DISTINCT
    assert counter.total == pytest.approx(math.fsum(counter.seen.values()))
    assert counter.total <= MAX_DISTINCT * (1.0 + 10 * MAX_DISTINCT / 1000)
    assert str(10 * MAX_DISTINCT - 1) in counter.seen  # the newest survive


# --- estimators across landmark moves ---------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "inputs", "expected"),
    [
        ("avg", [(100.0, 1.0), (300.0, 1.0)], 200.0),
        ("max", [3.0, 7.0], 7.0),
        ("min", [3.0, 7.0], 3.0),
        ("count", ["a", "b"], 2.0),
    ],
)
def test_kind_tables_survive_landmark_rebases(kind: str, inputs: list, expected: float) -> None:
    table = KindFlowTable(5, 1.0, value_kind=kind)
    now = 0.0
    for step in range(400):  # 400 t: several landmark moves
        now = step * 1.0
        for x in inputs:
            table.add("k", x, None, now)
    assert table.value("k", now) == pytest.approx(expected, rel=1e-9)


def test_aggregate_combines_value_slots_by_kind() -> None:
    from flowrt.engine.topn import FlowRate

    sources = [
        ("a", "1", [FlowRate("k", 10.0, (5.0, 100.0, 3.0, 2.0))]),
        ("b", "2", [FlowRate("k", 20.0, (1.0, 400.0, 9.0, 4.0))]),
    ]
    (row,) = aggregate(sources, "sum", slot_kinds=("sum", "min", "max", "count"))
    assert row.value == 30.0
    assert row.values == (6.0, 100.0, 9.0, 4.0)
    (row,) = aggregate(sources, "sum", value_kind="max")
    assert (row.value, row.agent) == (20.0, "b")


# --- /activeflows filter, /flowlocations -------------------------------------------------------
def test_activeflows_key_filter_matches_the_flows_own_key_names() -> None:
    engine = engine_with(pair={"keys": "ipsource,mask:ipdestination:24", "value": "bytes"})
    streams = [sample("10.0.0.1", "10.0.5.9", 1000), sample("10.0.0.2", "10.0.6.9", 1000),
               sample("10.0.0.3", "10.0.5.7", 1000)]
    end = feed(engine, streams, 3.0)
    assert len(engine.active_flows(None, "pair", end)) == 3
    only = engine.active_flows(None, "pair", end, key_filter="ipsource=10.0.0.1")
    assert [r["key"] for r in only] == ["10.0.0.1,10.0.5.0"]
    # a key function in the filter is evaluated, not looked up: over the flow key it has no
    # input (ipdestination is not one of the key's names), so it never matches
    none = engine.active_flows(None, "pair", end, key_filter="mask:ipdestination:24=10.0.5.0")
    assert none == []
    negated = engine.active_flows(None, "pair", end, key_filter="ipsource!=10.0.0.1")
    assert sorted(r["key"] for r in negated) == ["10.0.0.2,10.0.6.0", "10.0.0.3,10.0.5.0"]
    regex = engine.active_flows(None, "pair", end, key_filter="ipsource~10\\.0\\.0\\.[23]",
                                max_flows=1)
    assert len(regex) == 1 and regex[0]["key"] in ("10.0.0.2,10.0.6.0", "10.0.0.3,10.0.5.0")
    assert engine.active_flows(None, "pair", end, key_filter="nosuchkey=1") == []
    with pytest.raises(FlowSpecError):
        engine.active_flows(None, "pair", end, key_filter="ipsource=(")


def test_flow_locations_lists_data_sources_holding_the_key_largest_first() -> None:
    engine = engine_with(pair={"keys": "ipsource,ipdestination", "value": "bytes"})
    on3 = sample("10.0.0.1", "10.0.0.9", 1000, ifindex=3)
    on4 = sample("10.0.0.1", "10.0.0.9", 1000, ifindex=4)
    feed(engine, [on3, on4, on4], 3.0)
    end = feed(engine, [sample("10.0.0.1", "10.0.0.9", 1000, ifindex=7)], 3.0, agent="10.0.0.30")
    where = engine.flow_locations(None, "pair", "10.0.0.1,10.0.0.9", end)
    assert [(w["agent"], w["dataSource"]) for w in where] == [
        ("10.0.0.30", "7"), (AGENT, "4"), (AGENT, "3"),
    ]
    assert where[0]["value"] > where[1]["value"] > where[2]["value"] > 0
    assert where[1]["value"] == engine.flow_value("pair", AGENT, "4", "10.0.0.1,10.0.0.9", end)
    mine = engine.flow_locations(frozenset({AGENT}), "pair", "10.0.0.1,10.0.0.9", end)
    assert [w["dataSource"] for w in mine] == ["4", "3"]
    assert engine.flow_locations(None, "pair", "10.9.9.9,10.0.0.9", end) == []
    with pytest.raises(KeyError):
        engine.flow_locations(None, "nosuch", "x", end)
