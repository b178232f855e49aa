"""Every route's shape and defaults, against a real engine fed real (generated) datagrams."""

from __future__ import annotations

import asyncio
import time

import pytest
from harness import AGENT, Harness, api_test

from flowrt import __version__
from integration.traffic import Agent, Conversation

ELEPHANT = Conversation("10.0.0.1", "10.0.0.2", 2_000_000)
MOUSE = Conversation("10.0.0.3", "10.0.0.4", 200_000)
PAIR = {"keys": "ipsource,ipdestination", "value": "bytes"}


def steady(
    h: Harness, seconds: int, convs: list[Conversation], agent: Agent | None = None
) -> Agent:
    """``seconds`` of traffic, fed in 0.1 s steps with counters every second."""
    agent = agent or Agent(AGENT)
    for step in range(seconds * 10):
        h.feed(agent.interval(0.1, convs, counters=step % 10 == 9))
        h.advance(0.1)
    return agent


def test_version_is_text() -> None:
    async def body(h: Harness) -> None:
        response = await h.http.get("/version")
        assert response.status == 200
        assert response.content_type == "text/plain"
        assert await response.text() == __version__

    api_test(body)


def test_analyzer_and_license() -> None:
    async def body(h: Harness) -> None:
        steady(h, 1, [ELEPHANT])
        h.feed([b"\x00\x00\x00\x09junk"])
        analyzer = await h.json("/analyzer/json")
        assert analyzer["version"] == __version__
        assert analyzer["sFlowAgents"] == 1
        assert analyzer["sFlowDatagramsReceived"] == h.engine.counters.datagrams > 10
        assert analyzer["sFlowDecodeErrors"] == 1
        assert analyzer["uptime"] == pytest.approx(1000, abs=1)
        lic = await h.json("/license/json")
        assert lic["license"]["type"] == "open-source"

    api_test(body)


def test_agents_all_and_selected() -> None:
    async def body(h: Harness) -> None:
        first = steady(h, 1, [ELEPHANT])
        h.feed(Agent("192.0.2.2").interval(1.0, [MOUSE], counters=True), source="192.0.2.2")
        both = await h.json("/agents/json")
        assert sorted(both) == [AGENT, "192.0.2.2"]
        assert both[AGENT]["sFlowDatagramsReceived"] == first.datagram_seq
        assert both[AGENT]["sFlowDatagramsLost"] == 0
        assert both[AGENT]["sFlowFlowSamples"] == first.flow_seq
        one = await h.json("/agents/json", agent="192.0.2.2")
        assert list(one) == ["192.0.2.2"]
        assert await h.json("/agents/json?agent=192.0.2.2;192.0.2.1") == both
        assert await h.json("/agents/json", agent="198.51.100.9") == {}

    api_test(body)


def test_metric_endpoints() -> None:
    async def body(h: Harness) -> None:
        steady(h, 3, [Conversation("10.0.0.1", "10.0.0.2", 1_000_000)])
        names = await h.json("/metrics/json")
        assert names["ifinoctets"] == 100 and "ifspeed" in names  # fed 0.1 s ago
        per_agent = await h.json(f"/metric/{AGENT}/json")
        assert per_agent["3.ifinoctets"] == pytest.approx(1_000_000)
        assert per_agent["3.ifspeed"] == 10_000_000_000
        stat = await h.json("/metric/ALL/ifinoctets,min:ifspeed/json")
        assert [s["metricName"] for s in stat] == ["ifinoctets", "min:ifspeed"]
        assert stat[0]["metricValue"] == pytest.approx(1_000_000)
        assert stat[0]["agent"] == AGENT and stat[0]["dataSource"] == "3"
        assert stat[0]["metricN"] == 1
        # every query argument is a data source filter
        assert (await h.json("/metric/ALL/ifinoctets/json", ifspeed="10000000000"))[0][
            "metricValue"] == pytest.approx(1_000_000)
        assert "metricValue" not in (await h.json("/metric/ALL/ifinoctets/json", ifspeed="1"))[0]
        dump = await h.json(f"/dump/{AGENT}/ifinoctets/json")
        assert dump == [{"agent": AGENT, "dataSource": "3", "metricName": "ifinoctets",
                         "metricValue": pytest.approx(1_000_000), "lastUpdate": 100}]
        table = await h.json("/table/ALL/ifindex,ifinoctets/json")
        assert [[c["metricName"] for c in row] for row in table] == [["ifindex", "ifinoctets"]]
        assert table[0][0]["metricValue"] == 3

    api_test(body)


def test_flow_definition_round_trip() -> None:
    async def body(h: Harness) -> None:
        assert await h.json("/flow/json") == {}
        await h.put("/flow/pair/json", {**PAIR, "t": 5})
        spec = await h.json("/flow/pair/json")
        assert spec["keys"] == "ipsource,ipdestination" and spec["value"] == "bytes"
        assert spec["t"] == 5 and spec["n"] == 5 and spec["fs"] == "," and spec["log"] is False
        assert await h.json("/flow/json") == {"pair": spec}
        await h.put("/flow/pair/json", {**PAIR, "fs": "_SEP_"})  # replace
        assert (await h.json("/flow/pair/json"))["fs"] == "_SEP_"
        await h.delete("/flow/pair/json")
        assert await h.json("/flow/json") == {}
        assert (await h.delete("/flow/pair/json", 404)) == {"error": "no flow named 'pair'"}

    api_test(body)


def test_active_flows_shape_order_and_arguments() -> None:
    async def body(h: Harness) -> None:
        await h.put("/flow/pair/json", PAIR)
        steady(h, 8, [ELEPHANT, MOUSE])
        flows = await h.json("/activeflows/ALL/pair/json")
        assert [f["key"] for f in flows] == [ELEPHANT.key, MOUSE.key]
        top = flows[0]
        assert set(top) == {"key", "value", "agent", "dataSource"}
        assert top["agent"] == AGENT and top["dataSource"] == "3"
        assert top["value"] == pytest.approx(ELEPHANT.bytes_per_second, rel=0.05)
        assert await h.json("/activeflows/ALL/pair/json", maxFlows="1") == flows[:1]
        big = await h.json("/activeflows/ALL/pair/json", minValue=str(MOUSE.bytes_per_second * 5))
        assert [f["key"] for f in big] == [ELEPHANT.key]
        assert await h.json(f"/activeflows/{AGENT}/pair/json", aggMode="SUM") == flows
        assert await h.json("/activeflows/198.51.100.1/pair/json") == []
        assert len(await h.json("/activeflows/ALL/pair/json", maxFlows="100000")) == 2

    api_test(body)


def test_flow_metric_has_top_keys() -> None:
    async def body(h: Harness) -> None:
        await h.put("/flow/pair/json", PAIR)
        steady(h, 4, [ELEPHANT, MOUSE])
        (stat,) = await h.json("/metric/ALL/pair/json")
        keys = [k["key"] for k in stat["topKeys"]]
        assert keys == [ELEPHANT.key, MOUSE.key]
        assert stat["metricValue"] == stat["topKeys"][0]["value"]
        assert all(set(k) == {"key", "value", "lastUpdate"} for k in stat["topKeys"])
        assert stat["topKeys"][0]["key"].split(",") == [ELEPHANT.src, ELEPHANT.dst]

    api_test(body)


def test_flow_value() -> None:
    async def body(h: Harness) -> None:
        await h.put("/flow/pair/json", PAIR)
        steady(h, 8, [ELEPHANT])
        value = await h.json(f"/flowvalue/{AGENT}/3.pair/json", key=ELEPHANT.key)
        assert value == pytest.approx(ELEPHANT.bytes_per_second, rel=0.05)
        assert await h.json(f"/flowvalue/{AGENT}/3.pair/json", key="1.1.1.1,2.2.2.2") is None
        assert "dataSource" in (await h.json(f"/flowvalue/{AGENT}/pair/json", 400, key="x"))[
            "error"]
        assert "key" in (await h.json(f"/flowvalue/{AGENT}/3.pair/json", 400))["error"]
        await h.json(f"/flowvalue/{AGENT}/3.nosuch/json", 404, key="x")

    api_test(body)


def test_flow_log_returns_records_newest_first() -> None:
    async def body(h: Harness) -> None:
        await h.put("/flow/pair/json", {**PAIR, "log": True, "activeTimeout": 2})
        steady(h, 5, [ELEPHANT])
        records = await h.json("/flows/json", name="pair")
        assert records, "activeTimeout 2 s over 5 s of traffic must log records"
        ids = [r["flowID"] for r in records]
        assert ids == sorted(ids, reverse=True)
        first = records[-1]
        assert first["name"] == "pair" and first["flowKeys"] == ELEPHANT.key
        assert first["agent"] == AGENT and first["dataSource"] == "3"
        assert first["end"] > first["start"] >= 1_700_000_000_000
        assert first["value"] == pytest.approx(ELEPHANT.bytes_per_second, rel=0.1)
        assert await h.json("/flows/json", flowID=str(ids[0])) == []
        assert await h.json("/flows/json", flowID=str(ids[1])) == records[:1]
        assert await h.json("/flows/json", maxFlows="1") == records[:1]
        unknown = await h.json("/flows/json", status=404, name="other")
        assert unknown == {"error": "no flow named 'other'"}

    api_test(body)


def test_long_poll_times_out_empty_and_wakes_on_news() -> None:
    async def body(h: Harness) -> None:
        await h.put("/flow/pair/json", {**PAIR, "log": True, "activeTimeout": 1})
        started = time.monotonic()
        assert await h.json("/flows/json", timeout="0.3") == []
        assert 0.25 <= time.monotonic() - started < 10

        async def produce() -> None:
            await asyncio.sleep(0.3)
            steady(h, 4, [ELEPHANT])

        started = time.monotonic()
        producer = asyncio.create_task(produce())
        records = await h.json("/flows/json", name="pair", flowID="-1", timeout="30")
        await producer
        assert records and records[0]["name"] == "pair"
        assert time.monotonic() - started < 5, "the poll must return on news, not on timeout"

    api_test(body)


def test_threshold_round_trip_and_events() -> None:
    async def body(h: Harness) -> None:
        await h.put("/flow/pair/json", PAIR)
        await h.put("/threshold/elephant/json",
                    {"metric": "pair", "value": 500_000, "byFlow": True, "timeout": 1})
        spec = await h.json("/threshold/elephant/json")
        assert spec["metric"] == "pair" and spec["value"] == 500_000 and spec["byFlow"] is True
        assert list(await h.json("/threshold/json")) == ["elephant"]
        assert await h.json("/events/json") == []
        steady(h, 4, [ELEPHANT, MOUSE])
        events = await h.json("/events/json", thresholdID="elephant", maxEvents="10")
        assert [e["flowKey"] for e in events] == [ELEPHANT.key]
        event = events[0]
        assert event["thresholdID"] == "elephant" and event["metric"] == "pair"
        assert event["threshold"] == 500_000 and event["value"] > 500_000
        assert event["agent"] == AGENT and event["dataSource"] == "3"
        assert await h.json("/events/json", eventID=str(event["eventID"])) == []
        assert await h.json("/events/json", thresholdID="other") == []
        await h.delete("/threshold/elephant/json")
        await h.json("/threshold/elephant/json", 404)
        await h.delete("/threshold/elephant/json", 404)

    api_test(body)


@pytest.mark.parametrize("kind,spec", [
    ("group", {"private": ["10.0.0.0/8", "192.168.0.0/16"], "other": ["0.0.0.0/0"]}),
    ("map", {"web": ["80", "443"], "mail": ["25"]}),
])
def test_groups_and_maps_round_trip(kind: str, spec: dict[str, list[str]]) -> None:
    async def body(h: Harness) -> None:
        assert await h.json(f"/{kind}/json") == {}
        await h.put(f"/{kind}/site/json", spec)
        assert await h.json(f"/{kind}/site/json") == spec
        assert await h.json(f"/{kind}/json") == {"site": spec}
        await h.delete(f"/{kind}/site/json")
        await h.json(f"/{kind}/site/json", 404)
        await h.delete(f"/{kind}/site/json", 404)

    api_test(body)


def test_groups_feed_group_key_function() -> None:
    async def body(h: Harness) -> None:
        await h.put("/group/site/json", {"lab": ["10.0.0.0/30"]})
        await h.put("/flow/g/json", {"keys": "group:ipsource:site", "value": "bytes"})
        steady(h, 3, [ELEPHANT])
        assert [f["key"] for f in await h.json("/activeflows/ALL/g/json")] == ["lab"]

    api_test(body)


def test_json_indent_property() -> None:
    async def body(h: Harness) -> None:
        await h.put("/map/m/json", {"a": ["1"]})
        response = await h.http.get("/map/json")
        assert await response.text() == '{\n  "m": {\n    "a": [\n      "1"\n    ]\n  }\n}'

    api_test(body, {"http.json.indent": "2"})



def test_activeflows_filter_and_flowlocations() -> None:
    """``filter`` selects flows by their own key fields; /flowlocations finds a key."""

    async def body(h: Harness) -> None:
        await h.put("/flow/pair/json", PAIR)
        steady(h, 8, [ELEPHANT, MOUSE])
        only = await h.json("/activeflows/ALL/pair/json", filter=f"ipsource={MOUSE.src}")
        assert [f["key"] for f in only] == [MOUSE.key]
        assert "error" in await h.json("/activeflows/ALL/pair/json", 400, filter="ipsource=(")
        where = await h.json("/flowlocations/ALL/pair/json", key=ELEPHANT.key)
        assert [(w["agent"], w["dataSource"]) for w in where] == [(AGENT, "3")]
        assert where[0]["value"] == pytest.approx(ELEPHANT.bytes_per_second, rel=0.1)
        assert await h.json("/flowlocations/ALL/pair/json", key="1.1.1.1,2.2.2.2") == []
        assert "key" in (await h.json("/flowlocations/ALL/pair/json", 400))["error"]
        await h.json("/flowlocations/ALL/nosuch/json", 404, key="x")

    api_test(body)


def test_topology_put_get_and_edge_selection() -> None:
    topology = {
        "nodes": {"s1": {"agent": AGENT, "ports": {"s1-eth3": {"ifindex": "3"},
                                                   "s1-eth4": {"ifindex": "4"}}},
                  "s2": {"agent": "192.0.2.2", "ports": {"s2-eth1": {"ifindex": "1"}}}},
        "links": {"link1": {"node1": "s1", "port1": "s1-eth4", "node2": "s2",
                            "port2": "s2-eth1"}},
    }

    async def body(h: Harness) -> None:
        assert await h.json("/topology/json") == {}
        await h.put("/flow/pair/json", PAIR)
        steady(h, 3, [ELEPHANT])  # seen at AGENT ifIndex 3
        assert await h.json("/dump/EDGE/ifinoctets/json") == []  # no topology: nothing
        assert await h.json("/dump/TOPOLOGY/ifinoctets/json") == []
        error = await h.put("/topology/json", {"links": {"l": {"node1": "a"}}}, status=400)
        assert error == {"error": "link 'l' lacks port1, node2, port2"}
        await h.put("/topology/json", topology)
        response = await h.http.get("/topology/json")
        assert await response.json() == topology
        assert response.headers["X-FlowRT-Topology-Version"] == "1"
        edge = await h.json("/dump/EDGE/ifinoctets/json")
        assert [(r["agent"], r["dataSource"]) for r in edge] == [(AGENT, "3")]
        assert await h.json("/dump/CORE/ifinoctets/json") == []
        (row,) = await h.json("/activeflows/TOPOLOGY/pair/json", aggMode="edge")
        assert row["key"] == ELEPHANT.key and row["dataSource"] == "3"
        assert await h.json("/activeflows/ALL/pair/json", aggMode="core") == []
        await h.put("/topology/json", {})
        assert await h.json("/topology/json") == {}

    api_test(body)
