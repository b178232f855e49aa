"""MetricStore: counter samples → named metrics and rates; the sFlow-RT query shapes."""

from __future__ import annotations

import dpkt
import pytest

from conftest import testdata
from flowrt.config import ConfigError, Properties
from flowrt.engine import Engine
from flowrt.engine.metric_query import MetricPoint, QueryError, UnknownAgentError
from flowrt.engine.metrics import MetricStore
from flowrt.sflow import CounterSample, Datagram, decode_datagram, encode_datagram
from flowrt.sflow.records.counters import GenericInterfaceCounters, PortName
from flowrt.sflow.records.host import HostCpu, HostDescr, HostDiskIO, HostMemory

AGENT = "192.0.2.1"
U32 = 0xFFFFFFFF
GBIT = 10**9


def capture_store(name: str) -> tuple[MetricStore, float]:
    """A store fed every counter sample of a shared capture (time = pcap timestamps)."""
    path = testdata(f"{name}.pcap")
    store, now = MetricStore(), 0.0
    with path.open("rb") as f:
        for now, frame in dpkt.pcap.Reader(f):
            udp = dpkt.ethernet.Ethernet(frame).data.data
            dgram = decode_datagram(bytes(udp.data))
            for sample in dgram.samples:
                if isinstance(sample, CounterSample):
                    store.ingest_counters(dgram.agent, sample, dgram.uptime, now)
    return store, now


def iface(index=3, in_octets=0, out_octets=0, in_ucast=0, speed=GBIT, status=3, **kw):
    values = dict(
        if_index=index,
        if_type=6,
        if_speed=speed,
        if_direction=1,
        if_status=status,
        if_in_octets=in_octets,
        if_in_ucast_pkts=in_ucast,
        if_in_multicast_pkts=0,
        if_in_broadcast_pkts=0,
        if_in_discards=0,
        if_in_errors=0,
        if_in_unknown_protos=0,
        if_out_octets=out_octets,
        if_out_ucast_pkts=0,
        if_out_multicast_pkts=0,
        if_out_broadcast_pkts=0,
        if_out_discards=0,
        if_out_errors=0,
        if_promiscuous_mode=0,
    )
    values.update(kw)
    return GenericInterfaceCounters(**values)


def sample(seq: int, records, source_type=0, index=3) -> CounterSample:
    """A counter sample that went through the wire format and back."""
    dgram = Datagram(AGENT, 0, seq, 1000, [CounterSample(seq, source_type, index, list(records))])
    return decode_datagram(encode_datagram(dgram)).samples[0]


def values(store: MetricStore, now: float) -> dict:
    return store.agent_metrics(AGENT, now)


# --- rates ----------------------------------------------------------------------------


def test_known_rate_stream():
    store = MetricStore()
    per_poll = 12_345_678  # bytes per 10 s of uptime
    for i in range(6):
        rec = iface(in_octets=10**12 + i * per_poll, out_octets=i * 1000, in_ucast=i * 50)
        store.ingest_counters(AGENT, sample(i + 1, [rec]), 500_000 + i * 10_000, 100.0 + i * 10)
    m = values(store, 150.0)
    assert m["3.ifinoctets"] == pytest.approx(per_poll / 10, rel=1e-3)
    assert m["3.ifoutoctets"] == pytest.approx(100.0)
    assert m["3.ifinucastpkts"] == pytest.approx(5.0)
    assert m["3.ifinpkts"] == pytest.approx(5.0)
    assert m["3.ifinutilization"] == pytest.approx(per_poll / 10 * 800 / GBIT)
    assert m["3.iftype"] == "ethernetCsmacd" and m["3.ifdirection"] == "full-duplex"
    assert m["3.ifadminstatus"] == "up" and m["3.ifoperstatus"] == "up"
    assert m["3.ifspeed"] == GBIT and m["3.ifindex"] == 3


def test_rate_uses_uptime_not_arrival_time():
    store = MetricStore()
    store.ingest_counters(AGENT, sample(1, [iface(in_octets=0)]), 10_000, 100.0)
    # arrives 1 s later but the agent says 20 s passed
    store.ingest_counters(AGENT, sample(2, [iface(in_octets=20_000)]), 30_000, 101.0)
    assert values(store, 101.0)["3.ifinoctets"] == pytest.approx(1000.0)


def test_32bit_wrap():
    store = MetricStore()
    store.ingest_counters(AGENT, sample(1, [iface(in_ucast=U32 - 499)]), 10_000, 1.0)
    store.ingest_counters(AGENT, sample(2, [iface(in_ucast=500)]), 20_000, 11.0)
    assert values(store, 11.0)["3.ifinucastpkts"] == pytest.approx(100.0)


def test_counter_reset_gives_no_rate_that_round():
    store = MetricStore()
    store.ingest_counters(AGENT, sample(1, [iface(in_octets=10**9, in_ucast=5000)]), 10_000, 1.0)
    store.ingest_counters(AGENT, sample(2, [iface(in_octets=10, in_ucast=20)]), 20_000, 11.0)
    m = values(store, 11.0)
    assert "3.ifinoctets" not in m and "3.ifinucastpkts" not in m
    store.ingest_counters(AGENT, sample(3, [iface(in_octets=1010, in_ucast=120)]), 30_000, 21.0)
    m = values(store, 21.0)
    assert m["3.ifinoctets"] == pytest.approx(100.0) and m["3.ifinucastpkts"] == 10.0


def test_agent_restart_gives_no_rate_then_recovers():
    store = MetricStore()
    store.ingest_counters(AGENT, sample(50, [iface(in_octets=5000)]), 9_000_000, 1.0)
    store.ingest_counters(AGENT, sample(51, [iface(in_octets=15000)]), 9_010_000, 11.0)
    assert values(store, 11.0)["3.ifinoctets"] == pytest.approx(1000.0)
    # restart: uptime and sequence go back, counters are small but *higher* than zero
    store.ingest_counters(AGENT, sample(1, [iface(in_octets=20000)]), 5_000, 12.0)
    assert values(store, 12.0)["3.ifinoctets"] == pytest.approx(1000.0)  # old value kept
    store.ingest_counters(AGENT, sample(2, [iface(in_octets=40000)]), 15_000, 22.0)
    assert values(store, 22.0)["3.ifinoctets"] == pytest.approx(2000.0)


def test_duplicate_sample_is_ignored():
    store = MetricStore()
    store.ingest_counters(AGENT, sample(1, [iface(in_octets=0)]), 10_000, 1.0)
    store.ingest_counters(AGENT, sample(2, [iface(in_octets=10_000)]), 20_000, 11.0)
    assert not store.ingest_counters(AGENT, sample(2, [iface(in_octets=10_000)]), 20_000, 11.5)
    assert values(store, 12.0)["3.ifinoctets"] == pytest.approx(1000.0)
    assert store.ignored == 1


def test_unknown_values_are_absent():
    store = MetricStore()
    for i in range(2):
        rec = iface(
            in_octets=i * 1000,
            if_in_broadcast_pkts=U32,
            if_in_errors=U32,
            in_ucast=i * 10,
            if_speed=0xFFFFFFFFFFFFFFFF,
        )
        store.ingest_counters(AGENT, sample(i + 1, [rec]), 10_000 * (i + 1), 10.0 * i)
    m = values(store, 10.0)
    assert "3.ifinbroadcastpkts" not in m and "3.ifinerrors" not in m
    assert "3.ifspeed" not in m and "3.ifinutilization" not in m
    assert m["3.ifinpkts"] == pytest.approx(1.0)  # from the components that are known


def test_host_metrics_and_cpu_percentages():
    store = MetricStore()
    descr = HostDescr("web1", bytes(range(16)), 3, 2, "6.1.0")
    for i in range(2):
        cpu = HostCpu(
            1.5,
            1.25,
            1.0,
            2,
            300,
            4,
            2400,
            1000 + 10 * i,
            1000 + 600 * i,
            0,
            1000 + 200 * i,
            5000 + 1200 * i,
            0,
            0,
            0,
            1000 + 500 * i,
            2000 + 900 * i,
        )
        mem = HostMemory(8000, 2000, 0, 1000, 1000, 0, 0, 0, 0, 0, 0)
        disk = HostDiskIO(1000, 250, 4567, 10, 10**6 * (1 + i), 0, 0, 0, 0)
        store.ingest_counters(
            AGENT,
            sample(i + 1, [descr, cpu, mem, disk], source_type=2, index=1),
            60_000 + 10_000 * i,
            10.0 * i,
        )
    m = values(store, 10.0)
    assert m["2.1.host_name"] == "web1" and m["2.1.os_name"] == "linux"
    assert m["2.1.machine_type"] == "x86_64" and m["2.1.os_release"] == "6.1.0"
    assert m["2.1.uuid"] == "00010203-0405-0607-0809-0a0b0c0d0e0f"
    assert m["2.1.load_one"] == 1.5 and m["2.1.load_one_per_cpu"] == pytest.approx(0.375)
    assert m["2.1.cpu_user"] == pytest.approx(30.0)
    assert m["2.1.cpu_system"] == pytest.approx(10.0)
    assert m["2.1.cpu_idle"] == pytest.approx(60.0)
    assert m["2.1.cpu_utilization"] == pytest.approx(40.0)
    assert m["2.1.interrupts"] == pytest.approx(50.0) and m["2.1.contexts"] == 90.0
    assert m["2.1.mem_utilization"] == pytest.approx(50.0)
    assert m["2.1.disk_utilization"] == pytest.approx(75.0)
    assert m["2.1.part_max_used"] == pytest.approx(45.67)
    assert m["2.1.bytes_read"] == pytest.approx(100_000.0)


def test_stale_metrics_disappear():
    store = MetricStore()
    store.ingest_counters(AGENT, sample(1, [PortName("eth0")]), 1000, 0.0)
    assert store.metrics_json(30.0) == {"ifname": 30_000}
    assert store.metrics_json(61.0) == {}
    store.expire(61.0)
    assert store.agents == {}


# --- real captures --------------------------------------------------------------------


def test_ovs_rates_match_sflowtool_text():
    store, now = capture_store("ovs-netns")
    m = store.agent_metrics("127.0.0.1", now)
    assert m["115.ifname"] == "rp-ovs-p1" and m["115.of_port"] == 2
    assert m["115.of_dpid"] == "00009ea0f495104c"
    assert m["116.ifname"] == "rp-ovs-p2"
    assert m["114.ifoperstatus"] == "down"
    assert m["114.ifinoctets"] == 0.0
    # last two 0:115 samples in ovs-netns.sflowtool.txt: ifInOctets 55202458 at
    # sysUpTime 15000, 57795941 at 20000
    assert m["115.ifinoctets"] == pytest.approx((57795941 - 55202458) / 5)
    # an hour later every value is stale
    assert store.dump_query("127.0.0.1", "115.ifinoctets", None, now + 3600) == []


def test_ovs_first_port_rate_by_hand():
    path = testdata("ovs-netns.pcap")
    store = MetricStore()
    with path.open("rb") as f:
        for now, frame in dpkt.pcap.Reader(f):
            dgram = decode_datagram(bytes(dpkt.ethernet.Ethernet(frame).data.data.data))
            for s in dgram.samples:
                if isinstance(s, CounterSample) and s.source_id_index == 115:
                    store.ingest_counters(dgram.agent, s, dgram.uptime, now)
                    if dgram.uptime == 10_000:
                        got = store.agent_metrics("127.0.0.1", now)["115.ifinoctets"]
                        # (47023136 - 14396122) bytes over 5 s of uptime
                        assert got == pytest.approx((47023136 - 14396122) / 5)
                        return
    pytest.fail("sample at uptime 10000 not found")


def test_hsflowd_host_metrics():
    store, now = capture_store("hsflowd-2.1.25-veth-local")
    m = store.agent_metrics("198.51.100.1", now)
    assert m["2.1.host_name"] == "vm" and m["2.1.os_name"] == "linux"
    assert m["2.1.cpu_num"] == 2 and m["2.1.load_one"] == 1.55
    assert 0 <= m["2.1.cpu_utilization"] <= 100
    assert m["14.ifname"] == "sfv0"
    assert m["3.150000.workers_max"] == 8


def test_multi_agent_capture_queries():
    store, now = capture_store_ok("tcpdump-sflow_multiple_counter_30_pdus")
    stats = store.metric_query("ALL", "sum:ifspeed,max:ifspeed,min:ifspeed", None, now)
    assert stats[0]["metricN"] == stats[1]["metricN"] > 20
    assert stats[1]["metricValue"] >= stats[2]["metricValue"]


def capture_store_ok(name: str) -> tuple[MetricStore, float]:
    """Like capture_store, skipping datagrams that are not sFlow (this file has one)."""
    from flowrt.sflow import DecodeError

    store, now = MetricStore(), 0.0
    with testdata(f"{name}.pcap").open("rb") as f:
        for now, frame in dpkt.pcap.Reader(f):
            try:
                dgram = decode_datagram(bytes(dpkt.ethernet.Ethernet(frame).data.data.data))
            except DecodeError:
                continue
            for s in dgram.samples:
                if isinstance(s, CounterSample):
                    store.ingest_counters(dgram.agent, s, dgram.uptime, now)
    return store, now


# --- queries --------------------------------------------------------------------------


def point_store(now: float = 100.0) -> MetricStore:
    """Three hosts and their interfaces, as points from a registered source."""
    pts = [
        MetricPoint("10.0.0.1", "2.1", "host_name", "web1", now - 1),
        MetricPoint("10.0.0.1", "2.1", "load_one", 0.5, now - 1),
        MetricPoint("10.0.0.1", "2.1", "cpu_num", 2, now - 1),
        MetricPoint("10.0.0.2", "2.1", "host_name", "web2", now - 2),
        MetricPoint("10.0.0.2", "2.1", "load_one", 1.5, now - 2),
        MetricPoint("10.0.0.2", "2.1", "cpu_num", 4, now - 2),
        MetricPoint("10.0.0.3", "2.1", "host_name", "db1", now - 3),
        MetricPoint("10.0.0.3", "2.1", "load_one", 4.0, now - 3),
        MetricPoint("10.0.0.3", "2.1", "cpu_num", 2, now - 3),
        MetricPoint("10.0.0.1", "3", "ifinoctets", 100.0, now - 5),
        MetricPoint("10.0.0.1", "4", "ifinoctets", 300.0, now - 6),
        MetricPoint("10.0.0.3", "3", "ifinoctets", 50.0, now - 7, {"topKeys": [{"key": "k"}]}),
    ]
    store = MetricStore()
    store.register_source(lambda t: pts)
    return store


def test_metric_query_statistics_shape():
    store = point_store()
    res = store.metric_query("ALL", "load_one,min:load_one,sum:load_one,avg:load_one", None, 100)
    assert res[0] == {
        "metricName": "load_one",
        "metricValue": 4.0,
        "metricN": 3,
        "agent": "10.0.0.3",
        "dataSource": "2.1",
        "lastUpdate": 3000,
        "lastUpdateMin": 1000,
        "lastUpdateMax": 3000,
    }
    assert res[1]["metricValue"] == 0.5 and res[1]["agent"] == "10.0.0.1"
    assert res[2]["metricValue"] == 6.0 and "agent" not in res[2]
    assert res[3]["metricValue"] == pytest.approx(2.0)


def test_metric_query_spread_statistics():
    store = point_store()
    res = store.metric_query(
        "ALL",
        "var:load_one;sdev:load_one,med:load_one,iqr:load_one,q1:load_one,q3:load_one,any:load_one",
        None,
        100,
    )
    assert res[0]["metricValue"] == pytest.approx(((0.5 - 2) ** 2 + 0.5**2 + 2**2) / 3)
    assert res[1]["metricValue"] == pytest.approx(res[0]["metricValue"] ** 0.5)
    assert res[2]["metricValue"] == 1.5
    assert res[2]["quartiles"] == {"min": 0.5, "q1": 1.0, "med": 1.5, "q3": 2.75, "max": 4.0}
    assert res[3]["metricValue"] == pytest.approx(1.75)
    assert (res[4]["metricValue"], res[5]["metricValue"]) == (1.0, 2.75)
    assert res[6]["agent"] == "10.0.0.1"  # any: the freshest


def test_metric_query_selectors_and_no_match():
    store = point_store()
    res = store.metric_query("10.0.0.1;10.0.0.2", "load_one,3.ifinoctets,nosuch", None, 100)
    assert res[0]["metricValue"] == 1.5
    assert res[1]["metricName"] == "3.ifinoctets" and res[1]["metricValue"] == 100.0
    assert res[2] == {"metricName": "nosuch", "metricN": 0}
    assert store.metric_query(["10.0.0.3"], ["ifinoctets"], None, 100)[0]["topKeys"] == [
        {"key": "k"}
    ]


def test_filters_or_within_a_key_and_across_keys():
    store = point_store()
    web = store.metric_query("ALL", "sum:load_one", {"host_name": ["web*"]}, 100)
    assert web[0]["metricValue"] == 2.0
    both = store.metric_query("ALL", "sum:load_one", {"host_name": ["web1", "db*"]}, 100)
    assert both[0]["metricValue"] == 4.5
    anded = store.metric_query("ALL", "sum:load_one", {"host_name": "*", "cpu_num": ["2"]}, 100)
    assert anded[0]["metricValue"] == 4.5
    # a host-level filter selects that host's interfaces too
    ifs = store.metric_query("ALL", "sum:ifinoctets", {"host_name": ["web1"]}, 100)
    assert ifs[0]["metricValue"] == 400.0 and ifs[0]["metricN"] == 2


@pytest.mark.parametrize(
    "agents,metrics",
    [
        ("ALL", "foo:load_one"),
        ("", "load_one"),
        ("ALL", ""),
        ("ALL", "max:"),
    ],
)
def test_bad_selectors_raise_query_error(agents, metrics):
    with pytest.raises(QueryError):
        point_store().metric_query(agents, metrics, None, 100)


def test_topology_selector_without_a_topology_is_empty():
    """Apps query TOPOLOGY every second before one is set: an empty answer, not an error."""
    assert point_store().metric_query("TOPOLOGY", "load_one", None, 100) == [
        {"metricName": "load_one", "metricN": 0}
    ]


def test_dump_query():
    store = point_store()
    rows = store.dump_query("ALL", "ifinoctets", None, 100)
    assert {(r["agent"], r["dataSource"], r["metricValue"]) for r in rows} == {
        ("10.0.0.1", "3", 100.0),
        ("10.0.0.1", "4", 300.0),
        ("10.0.0.3", "3", 50.0),
    }
    assert rows[0] == {
        "agent": "10.0.0.1",
        "dataSource": "3",
        "metricName": "ifinoctets",
        "metricValue": 100.0,
        "lastUpdate": 5000,
    }
    everything = store.dump_query("10.0.0.2", "ALL", None, 100)
    assert {r["metricName"] for r in everything} == {"host_name", "load_one", "cpu_num"}


def test_table_query_sort_and_null():
    store = point_store()
    rows = store.table_query("ALL", "host_name,sort:load_one:-2", None, 100)
    assert [[c["metricValue"] for c in row] for row in rows] == [["db1", 4.0], ["web2", 1.5]]
    rows = store.table_query("ALL", "sort:load_one:5,host_name", None, 100)
    assert [row[1]["metricValue"] for row in rows] == ["web1", "web2", "db1"]
    rows = store.table_query("ALL", "ifinoctets,null:host_name", None, 100)
    assert len(rows) == 3 and all(row[1] is None for row in rows)
    rows = store.table_query("ALL", "ifinoctets,2.1.host_name", None, 100)
    assert sorted((r[0]["metricValue"], r[1]["metricValue"]) for r in rows) == [
        (50.0, "db1"),
        (100.0, "web1"),
        (300.0, "web1"),
    ]
    with pytest.raises(QueryError):
        store.table_query("ALL", "sort:load_one:x", None, 100)
    with pytest.raises(QueryError):
        store.table_query("ALL", "avg:load_one", None, 100)


def test_metrics_json_and_agent_metrics():
    store = point_store()
    assert store.metrics_json(100) == {
        "host_name": 1000,
        "load_one": 1000,
        "cpu_num": 1000,
        "ifinoctets": 5000,
    }
    m = store.agent_metrics("10.0.0.1", 100)
    assert m["2.1.host_name"] == "web1" and m["4.ifinoctets"] == 300.0
    with pytest.raises(UnknownAgentError):
        store.agent_metrics("10.9.9.9", 100)


# --- caps from the properties ------------------------------------------------------------


def test_caps_come_from_the_agent_and_data_source_properties():
    props = Properties({"flowrt.agents.max": "2", "flowrt.datasources.max": "1"})
    store = MetricStore.from_properties(props)
    for n, agent in enumerate(("192.0.2.1", "192.0.2.2", "192.0.2.3"), 1):
        assert store.ingest_counters(agent, sample(n, [iface()]), 1000, 10.0) is (n <= 2)
    assert not store.ingest_counters("192.0.2.1", sample(4, [iface(index=4)], index=4), 1000, 10.0)
    assert store.rejected == 2  # the third agent, the first agent's second data source
    assert sorted(store.agents) == ["192.0.2.1", "192.0.2.2"]
    assert list(store.agents["192.0.2.1"]) == ["3"]


def test_the_engine_builds_its_store_from_its_properties():
    engine = Engine(Properties({"flowrt.agents.max": "7", "flowrt.datasources.max": "9"}))
    assert (engine.metrics.max_agents, engine.metrics.max_datasources) == (7, 9)
    defaults = Engine().metrics
    assert (defaults.max_agents, defaults.max_datasources) == (10_000, 4096)  # the table's


@pytest.mark.parametrize("name", ["flowrt.agents.max", "flowrt.datasources.max"])
def test_a_cap_below_one_is_a_config_error(name):
    with pytest.raises(ConfigError, match=rf"property {name}=0 must be at least 1"):
        MetricStore.from_properties(Properties({name: "0"}))
