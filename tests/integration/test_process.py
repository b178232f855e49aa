"""``flowrt run`` as a process: ready line, clean stop on SIGINT/SIGTERM, live counters."""

from __future__ import annotations

import signal
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from traffic import Agent, Conversation

if TYPE_CHECKING:
    from flowrt_process import FlowrtProcess

Start = Callable[..., "FlowrtProcess"]
pytest_plugins = ["flowrt_process"]  # the ``flowrt`` fixture (see flowrt_process.flowrt)
SHUTDOWN_SECONDS = 4.0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_stops_cleanly_on_signal(flowrt: Start, signum: int) -> None:
    server = flowrt()
    assert server.udp_port and server.http_port  # real ports, although 0 was asked for
    assert server.get("/version").text == server.get_json("/analyzer/json")["version"]
    # a long-poll in flight must not hold the shutdown for its 60 s
    answers: list[int] = []
    poll = threading.Thread(
        target=lambda: answers.append(server.get("/events/json", timeout=60).status_code),
        daemon=True,
    )
    poll.start()
    time.sleep(0.5)
    assert server.proc is not None
    started = time.monotonic()
    server.proc.send_signal(signum)
    assert server.proc.wait(10) == 0
    assert time.monotonic() - started < SHUTDOWN_SECONDS
    poll.join(5)
    assert answers == [200]
    assert "flowrt: stopping" in server.log
    assert "Traceback" not in server.log


def test_udp_datagrams_reach_the_api(flowrt: Start) -> None:
    server = flowrt()
    agent = Agent("192.0.2.30")
    sent = server.send(agent.interval(1.0, [Conversation("10.2.0.1", "10.2.0.2", 500_000)],
                                      counters=True))
    agents = server.wait_for("/agents/json", lambda a: "192.0.2.30" in a, 10)
    assert agents["192.0.2.30"]["sFlowDatagramsReceived"] == sent
    assert agents["192.0.2.30"]["sFlowDatagramSource"] == ["127.0.0.1"]
    analyzer = server.get_json("/analyzer/json")
    assert analyzer["sFlowDatagramsReceived"] == sent and analyzer["sFlowSocketDrops"] == 0


def test_a_cap_property_set_with_d_is_honoured(flowrt: Start) -> None:
    """``-Dflowrt.agents.max=1``: the second agent is refused, by the agent table and the
    metric store alike (both take the cap from the one property)."""
    server = flowrt("-Dflowrt.agents.max=1")
    first, second = Agent("192.0.2.31"), Agent("192.0.2.32")
    conversations = [Conversation("10.2.0.1", "10.2.0.2", 500_000)]
    sent = server.send(first.interval(1.0, conversations, counters=True))
    server.wait_for("/agents/json", lambda a: "192.0.2.31" in a, 10)
    sent += server.send(second.interval(1.0, conversations, counters=True))
    server.wait_for("/analyzer/json", lambda a: a["sFlowDatagramsReceived"] == sent, 10)
    assert list(server.get_json("/agents/json")) == ["192.0.2.31"]
    assert {row["agent"] for row in server.get_json("/dump/ALL/ifspeed/json")} == {
        "192.0.2.31"
    }


def test_sigusr2_writes_a_memory_snapshot(
    flowrt: Start, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A server traced with PYTHONTRACEMALLOC answers SIGUSR2 with a loadable snapshot
    and keeps serving; an untraced one says how to trace and keeps serving too."""
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("PYTHONTRACEMALLOC", "5")
    traced = flowrt()
    assert traced.proc is not None
    traced.proc.send_signal(signal.SIGUSR2)
    written = traced.wait_log("memory snapshot written to", 10)
    path = Path(written.rsplit(" ", 1)[1])
    assert path.parent == tmp_path
    snapshot = tracemalloc.Snapshot.load(str(path))
    assert snapshot.traceback_limit == 5
    assert sum(stat.size for stat in snapshot.statistics("filename")) > 1_000_000
    assert traced.get("/version").status_code == 200
    monkeypatch.delenv("PYTHONTRACEMALLOC")
    plain = flowrt()
    assert plain.proc is not None
    plain.proc.send_signal(signal.SIGUSR2)
    assert "PYTHONTRACEMALLOC" in plain.wait_log("not tracing memory", 10)
    assert plain.get("/version").status_code == 200
