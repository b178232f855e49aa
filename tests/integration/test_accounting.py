"""Exact accounting in a real ``flowrt run``: duplicates, restarts and reordering on the wire.

Real UDP on 127.0.0.1 to the server's sFlow port, the ovs-netns capture's own datagrams
(rewritten where a test needs an agent restart), answers read over HTTP. Sends are paced
and every test asserts the kernel dropped nothing, so the counts are exact.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import pytest

from conftest import testdata, udp_payloads

if TYPE_CHECKING:
    from flowrt_process import FlowrtProcess

Start = Callable[..., "FlowrtProcess"]
pytest_plugins = ["flowrt_process"]  # the ``flowrt`` fixture (see flowrt_process.flowrt)

AGENT = "127.0.0.1"  # the ovs-netns capture's agent address
FLOW = {"keys": "ipsource,ipdestination,ipprotocol", "value": "bytes", "t": 600}
"""The longest smoothing time: two servers fed the same samples within milliseconds of
each other and read within milliseconds report values equal to 1e-4."""
WAIT = 30.0
BURST = 16  # datagrams sent back to back between short pauses (kernel buffer headroom)
PAUSE = 0.005
_U32 = struct.Struct(">I")
UPTIME_AT = 20  # offset of the uptime word in a datagram with an IPv4 agent address
FLOW_TAGS, COUNTER_TAGS = (1, 3), (2, 4)


def capture() -> list[bytes]:
    return [payload for _, payload in udp_payloads("ovs-netns")]


def send(*streams: tuple[FlowrtProcess, Iterable[bytes]]) -> None:
    """Send each (server, payloads) stream, interleaved: the n-th datagrams of every
    stream leave together, so every server sees the same samples at the same moment."""
    iterators = [(server, iter(payloads)) for server, payloads in streams]
    count = 0
    while iterators:
        for entry in list(iterators):
            server, payloads = entry
            payload = next(payloads, None)
            if payload is None:
                iterators.remove(entry)
                continue
            server.send([payload])
            count += 1
            if count % BURST == 0:
                time.sleep(PAUSE)


def start(flowrt: Start) -> FlowrtProcess:
    server = flowrt()
    assert server.put("/flow/pairs/json", FLOW).status_code == 204
    return server


def settle(server: FlowrtProcess, received: int, **expect: int) -> dict[str, Any]:
    """Wait until ``received`` datagrams (and the ``expect`` fields) are counted."""
    def done(a: dict[str, Any]) -> bool:
        return a["sFlowDatagramsReceived"] == received and all(
            a[k] == v for k, v in expect.items()
        )
    analyzer = server.wait_for("/analyzer/json", done, WAIT)
    assert analyzer["sFlowSocketDrops"] == 0
    return analyzer


def flows(*servers: FlowrtProcess) -> list[dict[str, float]]:
    """Each server's active flows, read one right after the other."""
    answers = [server.get_json("/activeflows/ALL/pairs/json", maxFlows=100)
               for server in servers]
    return [{row["key"]: row["value"] for row in rows} for rows in answers]


def counter_metrics(server: FlowrtProcess) -> dict[tuple[str, str, str], Any]:
    cells = server.get_json("/dump/ALL/ALL/json")
    return {(c["agent"], c["dataSource"], c["metricName"]): c["metricValue"]
            for c in cells if c["metricName"] != "pairs"}


def assert_same_flows(got: dict[str, float], want: dict[str, float]) -> None:
    assert want and set(got) == set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-3), key


# --- rewriting a capture's sequence numbers, as an agent that restarted would send them --
def rewrite(payload: bytes, seq: int, uptime: int, sample_seq: Callable[[int, int], int]) -> bytes:
    """``payload`` with datagram ``seq`` and ``uptime``, and each flow and counter sample's
    sequence number replaced by ``sample_seq(tag, source_id)``."""
    out = bytearray(payload)
    (addr_type,) = _U32.unpack_from(out, 4)
    head = 28 if addr_type == 1 else 40  # the header's length with an IPv4 / IPv6 agent
    _U32.pack_into(out, head - 12, seq)
    _U32.pack_into(out, head - 8, uptime)
    (samples,) = _U32.unpack_from(out, head - 4)
    off = head
    for _ in range(samples):
        tag, length = struct.unpack_from(">II", out, off)
        body = off + 8
        if tag in FLOW_TAGS or tag in COUNTER_TAGS:
            if tag in (1, 2):
                source = _U32.unpack_from(out, body + 4)[0]
            else:
                source = struct.unpack_from(">II", out, body + 4)
                source = source[0] << 24 | source[1]
            _U32.pack_into(out, body, sample_seq(tag, source))
        off = body + length
    return bytes(out)


def restarted_run(payloads: list[bytes], uptime_base: int) -> list[bytes]:
    """``payloads`` renumbered from 1 (datagrams, and samples per data source) with the
    uptime starting at ``uptime_base``: what an agent sends after starting again."""
    first_uptime = _U32.unpack_from(payloads[0], UPTIME_AT)[0]
    numbers: dict[tuple[bool, int], int] = {}

    def sample_seq(tag: int, source: int) -> int:
        stream = (tag in FLOW_TAGS, source)
        numbers[stream] = numbers.get(stream, 0) + 1
        return numbers[stream]

    out = []
    for n, payload in enumerate(payloads, 1):
        uptime = _U32.unpack_from(payload, UPTIME_AT)[0] - first_uptime + uptime_base
        out.append(rewrite(payload, n, uptime, sample_seq))
    return out


def sample_sources(payloads: list[bytes]) -> tuple[set[int], set[int]]:
    """The data sources of the flow samples and of the counter samples in ``payloads``."""
    flow_sources: set[int] = set()
    counter_sources: set[int] = set()

    def note(tag: int, source: int) -> int:
        (flow_sources if tag in FLOW_TAGS else counter_sources).add(source)
        return 1

    for payload in payloads:
        rewrite(payload, 1, 1, note)
    return flow_sources, counter_sources


# --- the tests ------------------------------------------------------------------------
def test_every_datagram_twice_gives_the_same_flows_and_metrics(flowrt: Start) -> None:
    payloads = capture()
    once, twice = start(flowrt), start(flowrt)
    send((once, payloads), (twice, (p for p in payloads for _ in range(2))))
    a1 = settle(once, len(payloads))
    a2 = settle(twice, len(payloads), sFlowDatagramsDuplicates=len(payloads))
    assert_same_flows(*flows(twice, once))
    metrics = counter_metrics(once)
    assert metrics and counter_metrics(twice) == metrics
    for field in ("sFlowBytesReceived", "sFlowFlowSamples", "sFlowCounterSamples"):
        assert a2[field] == a1[field] > 0, field
    assert a2["sFlowDatagramsLost"] == a2["sFlowDatagramRestarts"] == 0
    assert a2["sFlowFlowDuplicateSamples"] == 0  # dropped whole, at the datagram
    assert a1["sFlowDatagramsDuplicates"] == 0
    agent = twice.get_json("/agents/json")[AGENT]
    assert agent["sFlowDatagramsReceived"] == len(payloads) == 153
    assert agent["sFlowDatagramsDuplicates"] == 153 and agent["sFlowDatagramsLost"] == 0
    assert agent["sFlowFlowSamples"] == 839 and agent["sFlowFlowLostSamples"] == 0
    text = twice.get("/prometheus/analyzer/txt").text
    assert "flowrt_datagrams_duplicate_total 153.0" in text
    assert "flowrt_datagrams_total 153.0" in text
    assert f'sflow_agent_datagrams_duplicate_total{{agent="{AGENT}"}} 153.0' in text


def test_agent_restart_after_a_short_run_is_a_restart_with_no_loss(flowrt: Start) -> None:
    payloads = capture()[:80]
    first, second = payloads[:20], payloads[20:]
    # the agent ran for a few seconds, numbering from 1, then started again from 1
    run1 = restarted_run(first, 1_000)
    run2 = restarted_run(second, 1_000)
    last_uptime = _U32.unpack_from(run1[-1], UPTIME_AT)[0]
    assert 2_000 <= last_uptime - _U32.unpack_from(run2[0], UPTIME_AT)[0] <= 10_000  # a few seconds
    reference, restarted = start(flowrt), start(flowrt)
    send((reference, payloads), (restarted, run1 + run2))
    settle(reference, 80)
    a = settle(restarted, 80, sFlowDatagramRestarts=1)
    flow_sources, counter_sources = sample_sources(first)
    flow_again, counter_again = sample_sources(second)
    assert a["sFlowFlowSampleRestarts"] == len(flow_sources & flow_again) == 1
    assert a["sFlowCounterSampleRestarts"] == len(counter_sources & counter_again) == 2
    for field in ("sFlowDatagramsLost", "sFlowDatagramsDuplicates", "sFlowDatagramsOutOfOrder",
                  "sFlowFlowLostSamples", "sFlowFlowDuplicateSamples",
                  "sFlowCounterLostSamples", "sFlowCounterDuplicateSamples"):
        assert a[field] == 0, field
    # every sample of both runs reached the flows: the same totals as the capture itself
    assert_same_flows(*flows(restarted, reference))
    agent = restarted.get_json("/agents/json")[AGENT]
    assert agent["sFlowDatagramRestarts"] == 1 and agent["sFlowSubAgents"]["0"]["sequence"] == 60
    assert agent["sFlowDatagramsReceived"] == 80


def test_reordering_is_neither_loss_nor_duplicates(flowrt: Start) -> None:
    payloads = capture()
    swapped = [p for i in range(0, len(payloads) - 1, 2)
               for p in (payloads[i + 1], payloads[i])] + payloads[len(payloads) // 2 * 2:]
    assert sorted(swapped) == sorted(payloads)
    in_order, reordered = start(flowrt), start(flowrt)
    send((in_order, payloads), (reordered, swapped))
    settle(in_order, len(payloads))
    a = settle(reordered, len(payloads))
    assert a["sFlowDatagramsOutOfOrder"] == len(payloads) // 2
    for field in ("sFlowDatagramsLost", "sFlowDatagramsDuplicates", "sFlowDatagramRestarts",
                  "sFlowFlowLostSamples", "sFlowFlowDuplicateSamples", "sFlowFlowSampleRestarts",
                  "sFlowCounterLostSamples", "sFlowCounterSampleRestarts"):
        assert a[field] == 0, field
    assert a["sFlowFlowOutOfOrderSamples"] > 0
    assert_same_flows(*flows(reordered, in_order))


def test_replay_counters_are_exported(flowrt: Start) -> None:
    server = flowrt(f"-Dsflow.file={testdata('ovs-netns.pcap')}", "-Dflowrt.replay.speed=0")
    analyzer = server.wait_for("/analyzer/json", lambda a: a["replayDatagrams"] == 153, WAIT)
    assert analyzer["replayFrames"] >= 153 and analyzer["replayFramesTruncated"] == 0
    assert analyzer["sFlowDatagramsReceived"] == 153 and analyzer["internalErrors"] == 0
    text = server.get("/prometheus/analyzer/txt").text
    assert "flowrt_replay_datagrams_total 153.0" in text
    assert "# TYPE flowrt_replay_frames_truncated_total counter" in text
