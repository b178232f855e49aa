"""Top-N flow tables: rate convergence and decay, ranking, eviction, memory bound, merging.

The table tests run on both plain-sum tables: the Python :class:`FlowTable` and the
:class:`NativeFlowTable` whose entries live in the compiled core (not on a
``FLOWRT_NO_EXTENSIONS=1`` run, which has no core; a missing build is an error).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import pytest

from flowrt._core import load_native
from flowrt.engine.topn import (
    AnyFlowTable,
    DecayClock,
    FlowRate,
    FlowTable,
    NativeFlowTable,
    SourceFlow,
    aggregate,
)  # fmt: skip

KINDS = ["python"]
if not os.environ.get("FLOWRT_NO_EXTENSIONS"):
    if load_native() is None:
        raise ImportError("flowrt._core._ingest is not built: run `make test` (pip install -e .)")
    KINDS.append("native")

Make = Callable[..., AnyFlowTable]


@pytest.fixture(params=KINDS)
def make(request: pytest.FixtureRequest) -> Make:
    """A plain-sum table factory: FlowTable, or NativeFlowTable over the core's SumStore."""
    if request.param == "python":
        return FlowTable

    def native(n: int, t: float, **kw: Any) -> AnyFlowTable:
        module = load_native()
        assert module is not None
        return NativeFlowTable(n, t, store_type=module.SumStore, **kw)

    return native


def feed(table: AnyFlowTable, key: str, rate: float, start: float, seconds: float, step: float):
    """Add ``rate`` units/s for ``key`` in chunks every ``step`` seconds; returns the end."""
    now = start
    for i in range(round(seconds / step)):
        now = start + (i + 1) * step
        table.add(key, rate * step, None, now)
    return now


@pytest.mark.parametrize("t", [0.2, 2.0, 10.0])
def test_constant_stream_converges_to_its_rate(make: Make, t: float) -> None:
    table = make(5, t)
    rate = 125_000.0
    now = feed(table, "a", rate, 0.0, 4 * t, t / 50)
    (row,) = table.top(now)
    assert row.key == "a"
    assert abs(row.value - rate) / rate < 0.05
    # The estimator follows 1 - e^{-k}: about 63% of the rate after one time constant.
    early = make(5, t)
    feed(early, "a", rate, 0.0, t, t / 200)
    assert early.top(t)[0].value == pytest.approx(rate * (1 - math.exp(-1)), rel=0.02)


def test_stopped_stream_decays_to_zero_and_expires(make: Make) -> None:
    table = make(5, 2.0)
    end = feed(table, "a", 1000.0, 0.0, 20.0, 0.1)
    before = table.value("a", end)
    assert before == pytest.approx(1000.0, rel=0.05)
    assert table.value("a", end + 2.0) == pytest.approx(before / math.e, rel=1e-9)
    assert table.value("a", end + 10.0) < 0.01 * before
    assert table.top(end + table.idle_timeout + 1) == []
    assert len(table) == 0


def test_top_ranks_by_rate_limits_to_n_and_min_value() -> None:
    table = FlowTable(5, 1.0)
    for i in range(10):
        table.add(f"k{i}", float(i + 1) * 100, (float(i),), 0.0)
    rows = table.top(0.0)
    assert [r.key for r in rows] == ["k9", "k8", "k7", "k6", "k5"]  # n = 5
    assert rows[0] == FlowRate("k9", 1000.0, (9.0,))  # S / t with t = 1
    assert [r.key for r in table.top(0.0, max_flows=2)] == ["k9", "k8"]
    assert [r.key for r in table.top(0.0, min_value=950.0)] == ["k9"]


def test_values_decay_with_the_value() -> None:
    table = FlowTable(5, 2.0)
    table.add("a", 100.0, (10.0, 1.0), 0.0)
    table.add("a", 100.0, (10.0, 1.0), 2.0)
    (row,) = table.top(2.0)
    scale = 1 + math.exp(-1)
    assert row.value == pytest.approx(50.0 * scale)
    assert row.values == pytest.approx((5.0 * scale, 0.5 * scale))


def test_landmark_rebase_keeps_values_exact(make: Make) -> None:
    table = make(5, 0.2)
    now = feed(table, "a", 10.0, 0.0, 60.0, 0.05)  # 300 time constants: several rebases
    assert table.value("a", now) == pytest.approx(10.0, rel=0.15)
    assert math.isfinite(table.value("a", now))


def test_heavy_hitter_survives_100k_distinct_keys_and_memory_stays_bounded(make: Make) -> None:
    table = make(5, 2.0)
    peak = 0
    for i in range(100_000):
        now = i * 0.0001  # 10 s of traffic
        table.add(f"scan-{i}", 1.0, None, now)
        if i % 10 == 0:
            table.add("elephant", 1000.0, None, now)
        peak = max(peak, len(table))
    assert peak <= table.capacity == 100
    top = table.top(10.0)
    assert top[0].key == "elephant"
    assert top[0].value == pytest.approx(1_000_000.0, rel=0.05)  # 1000 per ms


def test_capacity_sweep_keeps_the_largest(make: Make) -> None:
    table = make(5, 10.0, capacity=10)
    for i in range(10):
        table.add(f"k{i}", float(i), None, 0.0)
    table.add("new", 0.5, None, 0.0)  # full table: sweep keeps the largest half
    assert len(table) == 6
    assert {r.key for r in table.top(0.0)} == {"k9", "k8", "k7", "k6", "k5"}
    assert table.evicted == 5


def test_ranking_without_values(make: Make) -> None:
    table = make(5, 1.0)
    for i in range(10):
        table.add(f"k{i}", float(i + 1) * 100, None, 0.0)
    rows = table.top(0.0)
    assert [r.key for r in rows] == ["k9", "k8", "k7", "k6", "k5"]  # n = 5
    assert rows[0] == FlowRate("k9", 1000.0, None)
    assert [r.key for r in table.top(0.0, max_flows=2)] == ["k9", "k8"]
    assert [r.key for r in table.top(0.0, min_value=950.0)] == ["k9"]
    assert table.top(0.0, max_flows=0) == []


def test_value_follows_a_landmark_moved_by_another_table(make: Make) -> None:
    """value() reads the stored sum after the shared clock's landmark moved (by another
    table of the flow) and the table rescaled itself, not before (fails when the stored
    value is read first: 1.0 instead of e**-150)."""
    clock = DecayClock(1.0)
    table = make(5, 1.0, clock=clock, idle_timeout=1000.0)
    other = make(5, 1.0, clock=clock, idle_timeout=1000.0)
    table.add("k", 1.0, None, 0.0)
    other.add("x", 1.0, None, 150.0)  # 150 time constants: the landmark moves to 150
    assert clock.landmark == 150.0
    assert table.value("k", 150.0) == pytest.approx(math.exp(-150.0), rel=1e-12)
    row = table.rate("k", 150.0)
    assert row is not None and row.value == pytest.approx(math.exp(-150.0), rel=1e-12)


def test_untracked_and_idle_keys(make: Make) -> None:
    table = make(5, 1.0, idle_timeout=5.0)
    table.add("a", 10.0, None, 0.0)
    assert table.value("b", 0.0) is None and table.rate("b", 0.0) is None
    assert table.last_update("a") == 0.0 and table.last_update("b") is None
    assert dict(table.updates()) == {"a": 0.0}
    assert table.value("a", 6.0) is None  # idle, though still held until expired
    assert len(table) == 1
    assert table.expire(6.0) == 1 and len(table) == 0


def test_bad_parameters(make: Make) -> None:
    with pytest.raises(ValueError, match="n must be"):
        make(0, 2.0)
    with pytest.raises(ValueError, match="shared DecayClock"):
        make(5, 2.0, clock=DecayClock(1.0))


def rows(*pairs: tuple[str, float]) -> list[FlowRate]:
    return [FlowRate(key, value, (value / 10,)) for key, value in pairs]


def test_aggregate_max_counts_a_flow_once() -> None:
    merged = aggregate(
        [
            ("10.0.0.1", "3", rows(("a", 100.0), ("b", 50.0))),
            ("10.0.0.2", "7", rows(("a", 120.0), ("c", 10.0))),
        ],
        "max",
    )
    assert merged == [
        SourceFlow("a", 120.0, (12.0,), "10.0.0.2", "7"),
        SourceFlow("b", 50.0, (5.0,), "10.0.0.1", "3"),
        SourceFlow("c", 10.0, (1.0,), "10.0.0.2", "7"),
    ]


def test_aggregate_sum_adds_values_and_applies_limits() -> None:
    sources = [
        ("10.0.0.1", "3", rows(("a", 100.0), ("b", 50.0))),
        ("10.0.0.2", "7", rows(("a", 120.0), ("c", 10.0))),
    ]
    merged = aggregate(sources, "SUM", max_flows=1)
    assert merged == [SourceFlow("a", 220.0, pytest.approx((22.0,)), "10.0.0.2", "7")]
    assert [f.key for f in aggregate(sources, "sum", min_value=20.0)] == ["a", "b"]
    with pytest.raises(ValueError, match="unknown aggMode"):
        aggregate(sources, "median")
