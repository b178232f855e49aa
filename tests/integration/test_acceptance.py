"""The issue's acceptance tests: a real ``flowrt run`` process, real UDP, real HTTP.

Clients here are written the way sFlow-RT users write them (``requests``, PUT the
definitions, loop on a long-poll with a cursor), so they double as compatibility tests.
Traffic is generated (:mod:`traffic`) with known rates and paced in real time, because
the collector timestamps datagrams as they arrive.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import pytest
from traffic import Agent, Conversation

AGENT = "192.0.2.10"
STEP = 0.05
"""Seconds of traffic per burst: 20 bursts/s keep the smoothed rates' ripple near 1%."""
ELEPHANT = Conversation("10.1.0.1", "10.1.0.2", 2_000_000)
MOUSE = Conversation("10.1.0.3", "10.1.0.4", 200_000)
THRESHOLD = 500_000
PAIR = {"keys": "ipsource,ipdestination", "value": "bytes"}

if TYPE_CHECKING:
    from flowrt_process import FlowrtProcess

Start = Callable[..., "FlowrtProcess"]
pytest_plugins = ["flowrt_process"]  # the ``flowrt`` fixture (see flowrt_process.flowrt)


class Sender:
    """Sends an agent's datagrams for ``convs`` in real time from a thread.

    Bursts are scheduled on absolute deadlines so the average pace is exact even when
    the machine is busy; counters go out once a second.
    """

    def __init__(self, process: FlowrtProcess, agent: Agent, convs: Sequence[Conversation]):
        self.process, self.agent, self.convs = process, agent, list(convs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_for(self, seconds: float) -> None:
        """Send for ``seconds`` in the calling thread."""
        start = time.monotonic()
        steps = round(seconds / STEP)
        for step in range(steps):
            if self._stop.is_set():
                return
            counters = step % round(1 / STEP) == round(1 / STEP) - 1
            self.process.send(self.agent.interval(STEP, self.convs, counters=counters))
            delay = start + (step + 1) * STEP - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def start(self, seconds: float) -> Sender:
        self._thread = threading.Thread(target=self.run_for, args=(seconds,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


def test_a_elephant_events_once_per_crossing_never_the_mouse(flowrt: Start) -> None:
    """(a) PUT a flow and a byFlow threshold, tail /events/json with eventID; the
    elephant is reported once per crossing (two bursts → two events), the mouse never."""
    server = flowrt()
    assert server.put("/flow/pair/json", PAIR).status_code == 204
    threshold = {"metric": "pair", "value": THRESHOLD, "byFlow": True, "timeout": 1}
    assert server.put("/threshold/elephant/json", threshold).status_code == 204

    sender = Sender(server, Agent(AGENT), [ELEPHANT, MOUSE])

    def traffic() -> None:
        sender.run_for(2.5)
        sender.convs = [MOUSE]  # the elephant stops: decays below, re-arms after 1 s
        sender.run_for(5.0)
        sender.convs = [ELEPHANT, MOUSE]
        sender.run_for(2.5)

    thread = threading.Thread(target=traffic, daemon=True)
    thread.start()
    seen: list[str] = []
    event_id = -1

    def poll(timeout: float) -> None:
        nonlocal event_id
        events = server.get_json("/events/json", thresholdID="elephant", maxEvents=10,
                                 timeout=timeout, eventID=event_id)
        for event in reversed(events):  # newest first on the wire
            seen.append(event["flowKey"])
            print(event["flowKey"].replace(",", "→"))
        if events:
            event_id = events[0]["eventID"]

    deadline = time.monotonic() + 30
    try:
        while len(seen) < 2 and time.monotonic() < deadline:
            poll(timeout=60)  # returns as soon as an event is logged
        thread.join(15)
        poll(timeout=0)  # anything logged since, after all traffic: must be nothing
    finally:
        sender.stop()
        thread.join(15)
    assert seen == [ELEPHANT.key, ELEPHANT.key]
    assert server.alive()


def test_b_flow_log_long_poll_returns_records(flowrt: Start) -> None:
    """(b) log:true + activeTimeout, tailed through /flows/json?name&flowID&timeout."""
    server = flowrt()
    spec = {**PAIR, "log": True, "activeTimeout": 1}
    assert server.put("/flow/logged/json", spec).status_code == 204
    sender = Sender(server, Agent(AGENT), [ELEPHANT]).start(4.0)
    try:
        started = time.monotonic()
        records = server.get_json("/flows/json", name="logged", flowID=-1, timeout=60)
        waited = time.monotonic() - started
        assert records, "the long-poll must return the first record, not time out"
        record = records[0]
        # the flow is still running: activeTimeout (1 s) closes the next record soon
        newer = server.get_json("/flows/json", name="logged", flowID=record["flowID"],
                                timeout=10)
    finally:
        sender.stop()
    assert waited < 10
    assert record["name"] == "logged" and record["flowKeys"] == ELEPHANT.key
    assert record["agent"] == AGENT and record["dataSource"] == "3"
    assert record["end"] >= record["start"] > 1_600_000_000_000  # epoch milliseconds
    assert record["value"] > 0
    assert newer and all(r["flowID"] > record["flowID"] for r in newer)
    assert newer[-1]["start"] >= record["end"]


def test_c_d_rates_and_top_keys(flowrt: Start) -> None:
    """(d) known bytes/s read within 5% in /activeflows and the counter metric; (c) the
    flow metric's topKeys split into the key fields."""
    server = flowrt()
    assert server.put("/flow/pair/json", PAIR).status_code == 204
    sender = Sender(server, Agent(AGENT), [ELEPHANT, MOUSE]).start(12.0)
    try:
        time.sleep(9.0)  # > 4 smoothing time constants (t=2): the estimate has settled
        flows = server.get_json("/activeflows/ALL/pair/json", maxFlows=10)
        (metric,) = server.get_json("/metric/ALL/pair/json")
        (counter,) = server.get_json("/metric/ALL/ifinoctets/json")
    finally:
        sender.stop()
    by_key = {f["key"]: f["value"] for f in flows}
    assert by_key[ELEPHANT.key] == pytest.approx(ELEPHANT.bytes_per_second, rel=0.05)
    assert by_key[MOUSE.key] == pytest.approx(MOUSE.bytes_per_second, rel=0.25)
    total = ELEPHANT.bytes_per_second + MOUSE.bytes_per_second
    assert counter["metricValue"] == pytest.approx(total, rel=0.05)
    assert counter["agent"] == AGENT and counter["dataSource"] == "3"
    top = metric["topKeys"]
    assert [k["key"].split(",") for k in top][:2] == [[ELEPHANT.src, ELEPHANT.dst],
                                                      [MOUSE.src, MOUSE.dst]]
    assert all({"key", "value", "lastUpdate"} <= set(k) for k in top)
    assert top[0]["value"] == pytest.approx(ELEPHANT.bytes_per_second, rel=0.05)
