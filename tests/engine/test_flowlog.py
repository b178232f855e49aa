"""The flow log ring (cursor paging, newest first, bound) and flow tracking into records."""

from __future__ import annotations

import pytest

from flowrt.engine.flowlog import MIN_IDLE_SECONDS, FlowLog, FlowTracker


def record(name: str) -> dict:
    return {"flowID": 0, "name": name, "flowKeys": "k", "value": 1.0}


def test_after_pages_newest_first_with_a_cursor() -> None:
    log = FlowLog(10)
    for i in range(5):
        log.append(record("a" if i % 2 == 0 else "b"))
    assert log.last_id == 5
    assert [r["flowID"] for r in log.after(-1, None, 100)] == [5, 4, 3, 2, 1]
    assert [r["flowID"] for r in log.after(3, None, 100)] == [5, 4]
    assert [r["flowID"] for r in log.after(-1, "a", 100)] == [5, 3, 1]
    assert [r["flowID"] for r in log.after(-1, None, 2)] == [5, 4]
    assert log.after(5, None, 100) == []
    assert log.after(-1, None, 0) == []


def test_cursor_beyond_the_newest_id_reads_from_the_start() -> None:
    """A client that outlived a restart holds a cursor this process never issued."""
    log = FlowLog(10)
    for _ in range(3):
        log.append(record("a"))
    assert [r["flowID"] for r in log.after(1000, None, 100)] == [3, 2, 1]


def test_ring_keeps_the_last_size_records() -> None:
    log = FlowLog(3)
    for _ in range(7):
        log.append(record("a"))
    assert len(log) == 3
    assert [r["flowID"] for r in log.after(-1, None, 100)] == [7, 6, 5]
    with pytest.raises(ValueError):
        FlowLog(0)


def test_subscribers_are_woken_and_can_leave() -> None:
    log = FlowLog(5)
    calls: list[int] = []
    stop = log.subscribe(lambda: calls.append(log.last_id))
    log.subscribe(lambda: 1 / 0)  # a broken subscriber does not stop the others
    log.append(record("a"))
    stop()
    log.append(record("a"))
    assert calls == [1]


def tracker(log: FlowLog, **kw: object) -> FlowTracker:
    args: dict = {"t": 2.0, "active_timeout": 60, "flow_start": False}
    args.update(kw)
    return FlowTracker("pair", log, **args)


def test_idle_flow_is_logged_with_its_average_rate() -> None:
    log = FlowLog(100)
    tr = tracker(log)
    assert tr.idle_timeout == 4.0  # 2 time constants
    for i in range(11):  # 1000 scaled bytes every second for 10 s
        tr.observe("10.0.0.1", "3", "a,b", 1000.0, None, 100.0 + i)
    tr.flush(112.0)
    assert log.after(-1, None, 10) == []  # idle for 2 s only
    assert tr.flush(114.0) == 1
    (rec,) = log.after(-1, None, 10)
    assert rec == {
        "flowID": 1, "name": "pair", "flowKeys": "a,b", "value": 1100.0,
        "start": 100_000, "end": 110_000, "agent": "10.0.0.1", "dataSource": "3",
    }  # fmt: skip
    assert len(tr) == 0


def test_active_timeout_splits_a_long_flow() -> None:
    log = FlowLog(100)
    tr = tracker(log, active_timeout=10)
    for i in range(25):
        now = 1000.0 + i
        tr.observe("a", "1", "k", 500.0, (2.0,), now)
        tr.flush(now)
    records = list(reversed(log.after(-1, None, 10)))
    assert [(r["start"], r["end"]) for r in records] == [
        (1_000_000, 1_010_000), (1_011_000, 1_021_000),
    ]  # fmt: skip
    assert records[0]["value"] == pytest.approx(11 * 500.0 / 10)
    assert records[0]["values"] == [pytest.approx(11 * 2.0 / 10)]


def test_one_sample_flow_reports_its_value_per_second() -> None:
    log = FlowLog(10)
    tr = tracker(log, t=0.5)
    assert tr.idle_timeout == MIN_IDLE_SECONDS
    tr.observe("a", "1", "k", 6400.0, None, 5.0)
    tr.flush(5.0 + MIN_IDLE_SECONDS)
    (rec,) = log.after(-1, None, 10)
    assert rec["value"] == 6400.0 and rec["start"] == rec["end"] == 5000


def test_flow_start_logs_once_at_the_first_sample() -> None:
    log = FlowLog(10)
    tr = tracker(log, flow_start=True)
    tr.observe("a", "1", "k", 64.0, None, 1.0)
    assert [r["start"] for r in log.after(-1, None, 10)] == [1000]
    tr.observe("a", "1", "k", 64.0, None, 2.0)
    tr.flush(3.0)
    tr.flush(20.0)  # idle: forgotten without another record
    assert log.last_id == 1
    tr.observe("a", "1", "k", 64.0, None, 21.0)  # back again: a new start
    assert log.last_id == 2


def test_active_entries_are_capped() -> None:
    log = FlowLog(10)
    tr = tracker(log, max_active=3)
    for i in range(5):
        tr.observe("a", "1", f"k{i}", 1.0, None, 0.0)
    assert len(tr) == 3 and tr.rejected == 2
