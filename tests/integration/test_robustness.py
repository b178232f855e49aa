"""(e) Bad input never crashes the process; caps hold; memory stays bounded."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import requests
from traffic import Agent, tcp_frame

from flowrt.engine.topn import CANDIDATES_PER_FLOW, MIN_CAPACITY

AGENT = "192.0.2.20"
PAIR = {"keys": "ipsource,ipdestination", "value": "bytes"}
FLOW_DEFINITIONS_CAP = 1000
DISTINCT_KEYS = 50_000
RSS_GROWTH_LIMIT_KIB = 64 * 1024
"""What 50k distinct keys may add to the process: tables are capped, so far less."""

if TYPE_CHECKING:
    from flowrt_process import FlowrtProcess

Start = Callable[..., "FlowrtProcess"]
pytest_plugins = ["flowrt_process"]  # the ``flowrt`` fixture (see flowrt_process.flowrt)


def refused(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    message = response.json()["error"]
    assert isinstance(message, str) and message and "Traceback" not in message
    return message


def test_e_bad_input_gets_clear_4xx_and_the_process_lives(flowrt: Start) -> None:
    server = flowrt()
    url = server.url
    cases = [
        (requests.put(url("/flow/f/json"), data=b"{not json", timeout=10), 400, "not valid JSON"),
        (requests.put(url("/flow/f/json"), json={"keys": "ipsource"}, timeout=10), 400,
         "'value' is required"),
        (requests.put(url("/flow/f/json"), json={**PAIR, "filter": "(ipsource=1"}, timeout=10),
         400, "expected ')'"),
        (requests.put(url("/flow/f/json"), json={**PAIR, "bogus": 1}, timeout=10), 400,
         "unknown flow attribute"),
        (requests.put(url("/threshold/t/json"), json={"metric": "x"}, timeout=10), 400,
         "'value' is required"),
        (requests.put(url("/group/g/json"), json={"a": ["300.0.0.0/8"]}, timeout=10), 400,
         "300.0.0.0/8"),
        (requests.put(url("/map/m/json"), data=b"x" * (2 * 1024 * 1024), timeout=10), 413,
         "too large"),
        (server.get("/activeflows/ALL/nosuch/json"), 404, "no flow named 'nosuch'"),
        (server.get("/activeflows/ALL/f/json", maxFlows="many"), 400, "not an integer"),
        (server.get("/events/json", timeout="forever"), 400, "timeout"),
        (server.get("/metric/ALL/bogus:ifinoctets/json"), 400, "bogus"),
        (requests.post(url("/flow/f/json"), json=PAIR, timeout=10), 405, "not allowed"),
    ]
    for response, status, message in cases:
        assert message in refused(response, status)
    # garbage on the sFlow port: counted, not fatal
    server.send([b"", b"\x00\x00\x00\x05", b"\xff" * 1400, b"\x00\x00\x00\x09junk"])
    analyzer = server.wait_for("/analyzer/json", lambda a: a["sFlowDatagramsReceived"] == 4, 10)
    assert analyzer["sFlowDecodeErrors"] == 4
    assert server.alive()
    assert "Traceback" not in server.log


def test_e_flow_definitions_are_capped(flowrt: Start) -> None:
    server = flowrt()
    session = requests.Session()
    statuses = [session.put(server.url(f"/flow/f{i}/json"), json=PAIR, timeout=10)
                for i in range(2 * FLOW_DEFINITIONS_CAP)]
    assert [r.status_code for r in statuses[:FLOW_DEFINITIONS_CAP]] == [204] * 1000
    assert "too many flow definitions" in refused(statuses[FLOW_DEFINITIONS_CAP], 400)
    assert {r.status_code for r in statuses[FLOW_DEFINITIONS_CAP:]} == {400}
    assert len(server.get_json("/flow/json")) == FLOW_DEFINITIONS_CAP
    assert server.alive()


def test_e_distinct_keys_do_not_grow_memory_without_bound(flowrt: Start) -> None:
    server = flowrt()
    assert server.put("/flow/pair/json", PAIR).status_code == 204
    baseline = server.rss_kib()
    agent = Agent(AGENT, sampling_rate=10)
    network = int(ipaddress.IPv4Address("10.128.0.0"))
    sent = 0
    batch = 2000
    for first in range(0, DISTINCT_KEYS, batch):
        frames = [tcp_frame(str(ipaddress.IPv4Address(network + i)), "10.0.0.1", 1024, 80, 1518)
                  for i in range(first, first + batch)]
        sent += server.send(agent.packets(frames))
        time.sleep(0.05)  # let the collector keep up (drops would only weaken the test)
    analyzer = server.wait_for(
        "/analyzer/json",
        lambda a: a["sFlowDatagramsReceived"] + a["sFlowSocketDrops"] >= sent, 60,
    )
    received_samples = analyzer["sFlowFlowSamples"]
    assert received_samples > DISTINCT_KEYS * 0.9, analyzer
    flows = server.get_json("/activeflows/ALL/pair/json", maxFlows=100_000)
    capacity = max(MIN_CAPACITY, 5 * CANDIDATES_PER_FLOW)
    assert 0 < len(flows) <= capacity
    assert len(server.get_json("/activeflows/ALL/pair/json", maxFlows=100_000)) <= 1000
    growth = server.rss_kib() - baseline
    print(f"RSS baseline {baseline} kB, growth after {received_samples} distinct keys:"
          f" {growth} kB")
    assert growth < RSS_GROWTH_LIMIT_KIB
    assert server.alive()
