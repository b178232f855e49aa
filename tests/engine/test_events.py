"""EventLog: eventID numbering, the /events/json cursor, the ring, subscribers."""

from __future__ import annotations

import logging

import pytest

from flowrt.engine.events import EventLog


def fill(log: EventLog, *thresholds: str) -> None:
    for i, name in enumerate(thresholds):
        log.append({"thresholdID": name, "value": float(i)})


def ids(events: list[dict]) -> list[int]:
    return [e["eventID"] for e in events]


def test_append_numbers_events_from_one_and_puts_event_id_first() -> None:
    log = EventLog(10)
    first = log.append({"thresholdID": "a", "value": 1.5})
    second = log.append({"thresholdID": "b", "value": 2.5})
    assert first == {"eventID": 1, "thresholdID": "a", "value": 1.5}
    assert next(iter(first)) == "eventID"
    assert second["eventID"] == 2
    assert log.last_id == 2


def test_append_does_not_change_the_callers_dict() -> None:
    log = EventLog(10)
    event = {"thresholdID": "a"}
    log.append(event)
    assert event == {"thresholdID": "a"}


def test_after_start_cursor_returns_everything_newest_first() -> None:
    log = EventLog(10)
    fill(log, "a", "b", "c")
    assert ids(log.after(-1, None, 100)) == [3, 2, 1]


def test_after_returns_only_events_newer_than_the_cursor() -> None:
    log = EventLog(10)
    fill(log, "a", "b", "c", "d")
    assert ids(log.after(2, None, 100)) == [4, 3]
    assert log.after(4, None, 100) == []


def test_max_events_keeps_the_newest() -> None:
    log = EventLog(10)
    fill(log, *"abcde")
    assert ids(log.after(-1, None, 2)) == [5, 4]
    assert log.after(-1, None, 0) == []


def test_threshold_id_selects_one_thresholds_events() -> None:
    log = EventLog(10)
    fill(log, "load", "tcp", "load", "tcp", "load")
    assert ids(log.after(-1, "load", 100)) == [5, 3, 1]
    assert ids(log.after(3, "load", 100)) == [5]
    assert ids(log.after(-1, "load", 2)) == [5, 3]
    assert log.after(-1, "nothing", 100) == []


def test_ring_keeps_the_last_size_events_and_ids_keep_counting() -> None:
    log = EventLog(3)
    fill(log, *"abcdef")
    assert len(log) == 3
    assert ids(log.after(-1, None, 100)) == [6, 5, 4]
    assert ids(log.after(1, None, 100)) == [6, 5, 4]  # the cursor's successors were dropped
    assert log.last_id == 6


def test_cursor_beyond_the_newest_id_reads_from_the_start() -> None:
    """A client that outlived a restart catches up instead of waiting forever."""
    log = EventLog(10)
    fill(log, "a", "b")
    assert ids(log.after(500, None, 100)) == [2, 1]


def test_subscribers_get_each_new_event_until_they_unsubscribe() -> None:
    log = EventLog(10)
    seen: list[int] = []
    unsubscribe = log.subscribe(lambda e: seen.append(e["eventID"]))
    fill(log, "a", "b")
    unsubscribe()
    unsubscribe()  # twice is harmless
    fill(log, "c")
    assert seen == [1, 2]


def test_a_failing_subscriber_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    log = EventLog(10)
    seen: list[int] = []

    def broken(event: dict) -> None:
        raise RuntimeError("handler bug")

    log.subscribe(broken)
    log.subscribe(lambda e: seen.append(e["eventID"]))
    with caplog.at_level(logging.ERROR):
        stored = log.append({"thresholdID": "a"})
    assert seen == [1]
    assert stored["eventID"] == 1
    assert "handler bug" in caplog.text


def test_a_subscriber_may_unsubscribe_itself_while_being_called() -> None:
    log = EventLog(10)
    seen: list[int] = []
    unsubscribe = log.subscribe(lambda e: (seen.append(e["eventID"]), unsubscribe()))
    fill(log, "a", "b")
    assert seen == [1]


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        EventLog(0)
