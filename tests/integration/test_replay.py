"""(f) ``-Dsflow.file=<capture>`` replays a real capture through the whole server.

ovs-netns.pcap is 21 s of Open vSwitch sFlow (agent 127.0.0.1, 153 datagrams, an
iperf3 TCP stream 10.99.0.1 → 10.99.0.2:5201). ``flowrt.replay.delay`` holds the replay
back long enough to define a flow over the REST API first.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from conftest import testdata

CAPTURE = testdata("ovs-netns.pcap")
DATAGRAMS = 153
IPERF_PAIR = "10.99.0.1,10.99.0.2"
REPLAY_DELAY = 1.5

if TYPE_CHECKING:
    from flowrt_process import FlowrtProcess

Start = Callable[..., "FlowrtProcess"]
pytest_plugins = ["flowrt_process"]  # the ``flowrt`` fixture (see flowrt_process.flowrt)


@pytest.mark.parametrize("speed,min_seconds,max_seconds", [
    ("10", 1.8, 8.0),  # capture pace / 10: 21 s of capture in about 2.1 s
    ("0", 0.0, 3.0),  # as fast as possible
])
def test_f_replay_shows_agent_and_iperf_pair(
    flowrt: Start, speed: str, min_seconds: float, max_seconds: float
) -> None:
    server = flowrt(f"-Dsflow.file={CAPTURE}", f"-Dflowrt.replay.speed={speed}",
                    f"-Dflowrt.replay.delay={REPLAY_DELAY}")
    spec = {"keys": "ipsource,ipdestination", "value": "bytes", "t": 10}
    assert server.put("/flow/pair/json", spec).status_code == 204
    agents = server.wait_for(
        "/agents/json",
        lambda a: a.get("127.0.0.1", {}).get("sFlowDatagramsReceived") == DATAGRAMS, 30,
    )
    stats = agents["127.0.0.1"]
    assert stats["sFlowDatagramsLost"] == 0
    assert stats["sFlowDatagramsOutOfOrder"] == 0
    flows = server.get_json("/activeflows/ALL/pair/json")
    assert flows and flows[0]["key"] == IPERF_PAIR
    assert flows[0]["agent"] == "127.0.0.1"
    deadline = time.monotonic() + 10
    while "replay of" not in server.log or " done:" not in server.log:
        assert time.monotonic() < deadline, server.log
        time.sleep(0.05)
    done = re.search(r"done: (\d+) datagrams in ([\d.]+) s", server.log)
    assert done is not None and int(done[1]) == DATAGRAMS
    assert min_seconds <= float(done[2]) <= max_seconds
    assert server.alive()
