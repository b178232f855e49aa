"""/prometheus/... over a real engine fed with real captures, parsed back with
prometheus_client's own parser (what a scraper would read)."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from flowrt.export.prometheus import CONTENT_TYPE, label_name, metric_name
from served_app import Served

OVS_AGENT = "127.0.0.1"
HSFLOWD_AGENT = "198.51.100.1"


def samples(text: str) -> dict[str, list[Any]]:
    """Sample name → samples, as Prometheus would store them."""
    out: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


def fetch(served: Served, path: str, status: int = 200) -> tuple[str, str]:
    result: dict[str, Any] = {}

    async def body(client: Any) -> None:
        response = await client.get(path)
        result["status"] = response.status
        result["type"] = response.headers["Content-Type"]
        result["text"] = await response.text()

    served.run(body)
    assert result["status"] == status, result["text"]
    return result["text"], result["type"]


def test_interface_metrics_carry_agent_datasource_and_ifname() -> None:
    served = Served()
    served.replay("ovs-netns")
    text, ctype = fetch(served, "/prometheus/metrics/ALL/ifinoctets,ifspeed/txt")
    assert ctype == CONTENT_TYPE
    got = samples(text)
    expected = {
        (c["agent"], c["dataSource"]): c["metricValue"]
        for c in served.engine.metrics.dump_query("ALL", "ifinoctets", None, served.now)
    }
    assert len(expected) == 3
    exported = {(s.labels["agent"], s.labels["datasource"]): s.value
                for s in got["sflow_ifinoctets"]}
    assert exported == {k: float(v) for k, v in expected.items()}
    p1 = next(s for s in got["sflow_ifinoctets"] if s.labels["datasource"] == "115")
    assert p1.labels == {"agent": OVS_AGENT, "datasource": "115", "ifname": "rp-ovs-p1"}
    assert p1.value > 100_000  # the iperf traffic of the capture crossed this port
    assert {s.value for s in got["sflow_ifspeed"]} == {1e10}  # veths report 10 Gb/s


def test_host_label_and_strings_are_not_samples() -> None:
    served = Served()
    served.replay("hsflowd-2.1.25-veth-local")
    got = samples(fetch(served, "/prometheus/metrics/ALL/ALL/txt")[0])
    (load,) = got["sflow_load_one"]
    assert load.labels == {"agent": HSFLOWD_AGENT, "datasource": "2.1", "host": "vm"}
    value = served.engine.metrics.metric_query("ALL", "load_one", None, served.now)[0]
    assert load.value == value["metricValue"]
    assert "sflow_host_name" not in got and "sflow_os_name" not in got
    assert all(s.labels.get("host") == "vm" for series in got.values() for s in series)


def test_filter_selects_data_sources() -> None:
    served = Served()
    served.replay("ovs-netns")
    got = samples(fetch(served, "/prometheus/metrics/ALL/ALL/txt?ifname=rp-ovs-p2")[0])
    # interface metrics of the other ports are filtered out (metrics of non-interface
    # data sources match through their agent, as /dump does: see metric_query)
    assert {s.labels["datasource"] for s in got["sflow_ifoutoctets"]} == {"116"}
    assert {s.labels["ifname"] for s in got["sflow_ifindex"]} == {"rp-ovs-p2"}


def test_agent_selector() -> None:
    served = Served()
    served.replay("ovs-netns")
    assert samples(fetch(served, "/prometheus/metrics/192.0.2.99/ALL/txt")[0]) == {}
    got = samples(fetch(served, f"/prometheus/metrics/{OVS_AGENT}/ifindex/txt")[0])
    assert sorted(s.value for s in got["sflow_ifindex"]) == [114.0, 115.0, 116.0]


def test_keyed_flow_exports_top_keys_only() -> None:
    served = Served()
    served.engine.set_flow("pair", {"keys": "ipsource,ipdestination", "value": "bytes", "n": 5})
    tcp_keys = "ipsource,tcpsourceport,ipdestination,tcpdestinationport"
    served.engine.set_flow("tcp", {"keys": tcp_keys, "value": "frames", "n": 5})
    served.engine.set_flow("frames", {"value": "frames"})
    served.replay("ovs-netns")
    got = samples(fetch(served, "/prometheus/metrics/ALL/ALL/txt")[0])
    top = served.engine.active_flows("ALL", "pair", served.now)
    exported = {(s.labels["ipsource"], s.labels["ipdestination"]): s.value
                for s in got["sflow_pair"]}
    assert exported == {tuple(row["key"].split(",")): row["value"] for row in top}
    assert ("10.99.0.1", "10.99.0.2") in exported
    # many distinct TCP connections, but only the flow's n largest per data source
    assert 0 < len(got["sflow_tcp"]) <= 5
    assert set(got["sflow_tcp"][0].labels) == {
        "agent", "datasource", "ipsource", "tcpsourceport", "ipdestination",
        "tcpdestinationport"}
    (total,) = got["sflow_frames"]
    assert total.labels == {"agent": OVS_AGENT, "datasource": "2.1000"}
    assert total.value > 0


def test_bad_selector_is_a_400_json_error() -> None:
    served = Served()
    text, ctype = fetch(served, "/prometheus/metrics/ALL/bogus:ifinoctets/txt", status=400)
    assert ctype.startswith("application/json")
    assert "unknown aggregation" in text


def test_analyzer_reports_totals_and_per_agent_health() -> None:
    served = Served()
    count = served.replay("ovs-netns")
    served.engine.ingest_datagram(b"\x00\x00\x00\x05garbage", "127.0.0.1", served.now)
    got = samples(fetch(served, "/prometheus/analyzer/txt")[0])
    analyzer = served.engine.analyzer(served.now)
    assert got["sflow_analyzer_received_datagrams"][0].value == count + 1
    assert got["sflow_analyzer_flow_samples"][0].value == analyzer["sFlowFlowSamples"] == 839
    assert got["sflow_analyzer_decode_errors"][0].value == 1
    assert got["sflow_analyzer_agents"][0].value == 1
    assert got["sflow_analyzer_agent_count"][0].value == 1
    (dgrams,) = got["sflow_agent_datagrams_total"]
    assert dgrams.labels == {"agent": OVS_AGENT}
    assert dgrams.value == count
    (errors,) = got["sflow_agent_decode_errors_total"]
    assert errors.value == 1  # the garbage came from the agent's own address
    lost = served.engine.agents.to_json(served.now)[OVS_AGENT]["sFlowDatagramsLost"]
    assert got["sflow_agent_datagrams_lost_total"][0].value == lost


def test_names_are_sanitized() -> None:
    assert metric_name("ifinoctets") == "sflow_ifinoctets"
    assert metric_name("my-flow.v2") == "sflow_my_flow_v2"
    assert label_name("ipsource.1") == "ipsource_1"
    assert label_name("agent") == "key_agent"
    assert label_name("or:ipsource,ip6source") == "or_ipsource_ip6source"
    assert label_name("1x") == "key_1x"
