"""ThresholdEngine: spec validation, crossing and re-arming, byFlow, filters, events."""

from __future__ import annotations

from typing import Any

import pytest

from flowrt.engine.metric_query import MetricPoint
from flowrt.engine.thresholds import (
    DEFAULT_TIMEOUT,
    FILTER_REFRESH_SECONDS,
    Threshold,
    ThresholdEngine,
    ThresholdError,
)

AGENT, AGENT2 = "192.0.2.1", "192.0.2.2"
T0 = 1_700_000_000.0
GBIT, TENGBIT = 1_000_000_000, 10_000_000_000


class FlowValues:
    """The flow tables' answer to "what is this key's value now?" for tick()."""

    def __init__(self) -> None:
        self.values: dict[tuple[str, str, str, str], float] = {}

    def __call__(self, flow: str, agent: str, ds: str, key: str, now: float) -> float | None:
        return self.values.get((flow, agent, ds, key))


def engine_with(name: str = "t", **body: Any) -> ThresholdEngine:
    engine = ThresholdEngine()
    engine.set_threshold(name, body)
    return engine


def events(engine: ThresholdEngine, threshold: str | None = None) -> list[dict]:
    """Every event so far, oldest first."""
    return list(reversed(engine.events.after(-1, threshold, 10_000)))


def load(value: float, agent: str = AGENT, ds: str = "2.1", updated: float = T0) -> MetricPoint:
    return MetricPoint(agent, ds, "load_one", value, updated)


# --- the spec -------------------------------------------------------------------------

def test_to_json_fills_defaults() -> None:
    spec = Threshold.from_json("load", {"metric": "load_one", "value": 2})
    assert spec.to_json() == {"metric": "load_one", "value": 2, "byFlow": False,
                              "timeout": DEFAULT_TIMEOUT}
    assert DEFAULT_TIMEOUT == 60


def test_to_json_keeps_every_given_attribute() -> None:
    body = {"metric": "tcp", "value": 125000.5, "filter": {"ifspeed": [TENGBIT]},
            "byFlow": True, "timeout": 0.2}
    assert Threshold.from_json("x", body).to_json() == body


def test_numeric_strings_are_accepted_as_apps_pass_system_properties() -> None:
    spec = Threshold.from_json("d", {"metric": "ddos", "value": "500000", "timeout": "60",
                                     "byFlow": "true"})
    assert (spec.value, spec.timeout, spec.by_flow) == (500000, 60, True)
    assert Threshold.from_json("d", {"metric": "m", "value": "1.5e3"}).value == 1500.0


def test_legacy_query_string_filter_becomes_an_object() -> None:
    spec = Threshold.from_json("l", {"metric": "load_one", "value": 1,
                                     "filter": "os_name=linux&os_name=windows&cpu_num=2"})
    assert spec.to_json()["filter"] == {"os_name": ["linux", "windows"], "cpu_num": ["2"]}


def test_a_lone_filter_value_is_a_one_item_list() -> None:
    spec = Threshold.from_json("l", {"metric": "m", "value": 1, "filter": {"os_name": "linux"}})
    assert spec.filter == {"os_name": ["linux"]}


def test_qualified_metric_is_split_at_the_last_dot() -> None:
    spec = Threshold.from_json("q", {"metric": "2.1.load_one", "value": 1})
    assert (spec.metric, spec.metric_name, spec.datasource) == ("2.1.load_one", "load_one", "2.1")
    spec = Threshold.from_json("q", {"metric": "22.tcp", "value": 1})
    assert (spec.metric_name, spec.datasource) == ("tcp", "22")


@pytest.mark.parametrize(("body", "message"), [
    ({"value": 1}, "'metric' is required"),
    ({"metric": "load_one"}, "'value' is required"),
    ({"metric": "load_one", "value": 1, "max": 3, "comment": "x"},
     "unknown attribute\\(s\\) comment, max"),
    ({"metric": 7, "value": 1}, "'metric' must be a non-empty string"),
    ({"metric": " ", "value": 1}, "'metric' must be a non-empty string"),
    ({"metric": "max:load_one", "value": 1}, "aggregation prefixes are not allowed"),
    ({"metric": "load_one", "value": "lots"}, "'value' must be a number, got 'lots'"),
    ({"metric": "load_one", "value": True}, "'value' must be a number"),
    ({"metric": "load_one", "value": [1]}, "'value' must be a number"),
    ({"metric": "load_one", "value": float("nan")}, "'value' must be a finite number"),
    ({"metric": "load_one", "value": 10**400}, "'value' must be a finite number"),
    ({"metric": "load_one", "value": 1, "timeout": -1}, "'timeout' must be at least 0"),
    ({"metric": "load_one", "value": 1, "byFlow": "yes"}, "'byFlow' must be true or false"),
    ({"metric": "load_one", "value": 1, "filter": ["os_name"]}, "'filter' must be an object"),
    ({"metric": "load_one", "value": 1, "filter": {"os_name": []}}, "'os_name' has no values"),
    ({"metric": "load_one", "value": 1, "filter": {"os_name": [{"a": 1}]}},
     "values must be strings or numbers"),
    ({"metric": "load_one", "value": 1, "filter": "linux"}, "not of the form name=value"),
])
def test_bad_specs_are_refused_with_a_clear_message(body: dict, message: str) -> None:
    engine = ThresholdEngine()
    with pytest.raises(ThresholdError, match=message):
        engine.set_threshold("bad", body)
    assert engine.specs() == {}


def test_body_must_be_an_object() -> None:
    with pytest.raises(ThresholdError, match="must be a JSON object"):
        ThresholdEngine().set_threshold("bad", ["metric"])  # type: ignore[arg-type]


def test_specs_delete_and_flow_metrics() -> None:
    engine = ThresholdEngine()
    engine.set_threshold("a", {"metric": "load_one", "value": 1})
    engine.set_threshold("b", {"metric": "22.tcp", "value": 1})
    assert sorted(engine.specs()) == ["a", "b"]
    assert engine.flow_metrics() >= {"load_one", "tcp"}
    assert engine.delete_threshold("a") is True
    assert engine.delete_threshold("a") is False
    assert "load_one" not in engine.flow_metrics()


def test_threshold_count_is_capped_but_replacing_is_allowed() -> None:
    engine = ThresholdEngine(max_thresholds=2)
    engine.set_threshold("a", {"metric": "m", "value": 1})
    engine.set_threshold("b", {"metric": "m", "value": 1})
    engine.set_threshold("b", {"metric": "m", "value": 2})
    with pytest.raises(ThresholdError, match="too many thresholds \\(2\\)"):
        engine.set_threshold("c", {"metric": "m", "value": 1})


# --- counter metrics ------------------------------------------------------------------

def test_metric_crossing_fires_one_event_with_the_spec_shape() -> None:
    engine = engine_with("load", metric="load_one", value=2)
    engine.evaluate_metrics([load(2.5)], T0 + 0.25)
    assert events(engine) == [{
        "eventID": 1, "timestamp": 1_700_000_000_250, "thresholdID": "load",
        "metric": "load_one", "threshold": 2, "value": 2.5, "agent": AGENT,
        "dataSource": "2.1",
    }]


def test_staying_above_fires_once_not_per_sample() -> None:
    engine = engine_with("load", metric="load_one", value=2, timeout=10)
    flows = FlowValues()
    for second in range(30):
        engine.evaluate_metrics([load(3.0 + second)], T0 + second)
        engine.tick(T0 + second, flows)
    assert len(events(engine)) == 1
    assert engine.triggered("load", AGENT, "2.1.load_one")


def test_exactly_at_the_threshold_is_not_above() -> None:
    engine = engine_with("load", metric="load_one", value=2)
    engine.evaluate_metrics([load(2.0)], T0)
    assert events(engine) == []
    engine.evaluate_metrics([load(2.000001)], T0 + 1)
    assert len(events(engine)) == 1


def test_rearms_only_after_timeout_seconds_below_then_fires_again() -> None:
    engine = engine_with("load", metric="load_one", value=2, timeout=5)
    flows = FlowValues()
    engine.evaluate_metrics([load(3.0)], T0)
    for second in range(1, 5):  # below for 4 s: still triggered
        engine.evaluate_metrics([load(1.0)], T0 + second)
        engine.tick(T0 + second, flows)
    assert engine.triggered("load", AGENT, "2.1.load_one")
    engine.evaluate_metrics([load(3.0)], T0 + 4.5)  # back above: no event, clock restarts
    assert len(events(engine)) == 1
    engine.tick(T0 + 9, flows)
    assert engine.triggered("load", AGENT, "2.1.load_one")
    engine.tick(T0 + 9.5, flows)  # 5 s since last above
    assert not engine.triggered("load", AGENT, "2.1.load_one")
    engine.evaluate_metrics([load(4.0)], T0 + 10)
    assert [e["value"] for e in events(engine)] == [3.0, 4.0]


def test_each_data_source_fires_and_rearms_on_its_own() -> None:
    engine = engine_with("load", metric="load_one", value=2, timeout=1)
    points = [load(3.0), load(1.0, ds="2.2"), load(5.0, agent=AGENT2)]
    engine.evaluate_metrics(points, T0)
    assert {(e["agent"], e["dataSource"]) for e in events(engine)} == {
        (AGENT, "2.1"), (AGENT2, "2.1")}
    engine.evaluate_metrics([load(1.0), load(3.0, ds="2.2"), load(5.0, agent=AGENT2)], T0 + 1)
    assert len(events(engine)) == 3
    engine.tick(T0 + 1.5, FlowValues())
    assert not engine.triggered("load", AGENT, "2.1.load_one")  # below since T0 + 1
    assert engine.triggered("load", AGENT, "2.2.load_one")
    assert engine.triggered("load", AGENT2, "2.1.load_one")


def test_non_numeric_and_other_metrics_are_ignored() -> None:
    engine = engine_with("load", metric="load_one", value=2)
    engine.evaluate_metrics([
        MetricPoint(AGENT, "2.1", "load_one", "high", T0),
        MetricPoint(AGENT, "2.1", "load_one", True, T0),
        MetricPoint(AGENT, "2.1", "load_five", 9.0, T0),
    ], T0)
    assert events(engine) == []


def test_qualified_metric_applies_to_that_data_source_only() -> None:
    engine = engine_with("one", metric="2.1.load_one", value=2)
    engine.evaluate_metrics([load(3.0, ds="2.2"), load(3.0, agent=AGENT2), load(1.0)], T0)
    assert [(e["agent"], e["dataSource"], e["metric"]) for e in events(engine)] == [
        (AGENT2, "2.1", "load_one")]


def test_filter_selects_data_sources_by_their_other_metrics() -> None:
    engine = engine_with("util", metric="ifinutilization", value=50,
                         filter={"ifspeed": [TENGBIT]})
    engine.evaluate_metrics([
        MetricPoint(AGENT, "3", "ifinutilization", 80.0, T0),
        MetricPoint(AGENT, "3", "ifspeed", float(TENGBIT), T0),
        MetricPoint(AGENT, "4", "ifinutilization", 80.0, T0),
        MetricPoint(AGENT, "4", "ifspeed", GBIT, T0),
        MetricPoint(AGENT2, "5", "ifinutilization", 80.0, T0),  # no ifspeed at all
    ], T0)
    assert [e["dataSource"] for e in events(engine)] == ["3"]


def test_filter_falls_back_to_the_agents_other_data_sources_as_queries_do() -> None:
    """The metric-query rule: a data source lacking the metric is judged by its agent's."""
    engine = engine_with("util", metric="ifinutilization", value=50,
                         filter={"ifspeed": [TENGBIT]})
    engine.evaluate_metrics([
        MetricPoint(AGENT, "3", "ifspeed", TENGBIT, T0),
        MetricPoint(AGENT, "5", "ifinutilization", 80.0, T0),
    ], T0)
    assert [e["dataSource"] for e in events(engine)] == ["5"]


def test_filter_reads_host_metrics_from_another_data_source_with_globs() -> None:
    engine = engine_with("web", metric="ifinutilization", value=50,
                         filter={"host_name": ["web*"]})
    engine.evaluate_metrics([
        MetricPoint(AGENT, "2.1", "host_name", "web-1", T0),
        MetricPoint(AGENT, "3", "ifinutilization", 80.0, T0),
        MetricPoint(AGENT2, "2.1", "host_name", "db-1", T0),
        MetricPoint(AGENT2, "3", "ifinutilization", 80.0, T0),
    ], T0)
    assert [e["agent"] for e in events(engine)] == [AGENT]


def test_replacing_a_threshold_resets_its_trigger_state() -> None:
    engine = engine_with("load", metric="load_one", value=2)
    engine.evaluate_metrics([load(3.0)], T0)
    engine.set_threshold("load", {"metric": "load_one", "value": 2.5})
    assert not engine.triggered("load", AGENT, "2.1.load_one")
    engine.evaluate_metrics([load(3.0)], T0 + 1)
    assert [e["threshold"] for e in events(engine)] == [2, 2.5]


def test_deleted_threshold_stops_firing() -> None:
    engine = engine_with("load", metric="load_one", value=2)
    engine.delete_threshold("load")
    engine.evaluate_metrics([load(3.0)], T0)
    engine.observe_flow("load_one", AGENT, "2.1", "k", 9.0, None, T0)
    assert events(engine) == []
    assert not engine.triggered("load", AGENT, "2.1.load_one")


# --- flows ----------------------------------------------------------------------------

def test_by_flow_fires_once_per_key_with_flow_key_and_values() -> None:
    engine = engine_with("big", metric="tcp", value=1000, byFlow=True)
    engine.observe_flow("tcp", AGENT, "3", "10.0.0.1,10.0.0.2", 500.0, (1.0, 2.0), T0)
    engine.observe_flow("tcp", AGENT, "3", "10.0.0.1,10.0.0.2", 1500.0, (3.0, 4.5), T0 + 0.1)
    engine.observe_flow("tcp", AGENT, "3", "10.0.0.1,10.0.0.2", 1600.0, (3.0, 4.5), T0 + 0.2)
    engine.observe_flow("tcp", AGENT, "3", "10.0.0.3,10.0.0.4", 2000.0, None, T0 + 0.3)
    assert events(engine) == [
        {"eventID": 1, "timestamp": 1_700_000_000_100, "thresholdID": "big", "metric": "tcp",
         "threshold": 1000, "value": 1500.0, "agent": AGENT, "dataSource": "3",
         "flowKey": "10.0.0.1,10.0.0.2", "values": [3.0, 4.5]},
        {"eventID": 2, "timestamp": 1_700_000_000_300, "thresholdID": "big", "metric": "tcp",
         "threshold": 1000, "value": 2000.0, "agent": AGENT, "dataSource": "3",
         "flowKey": "10.0.0.3,10.0.0.4"},
    ]
    assert engine.triggered("big", AGENT, "3.tcp", "10.0.0.1,10.0.0.2")
    assert not engine.triggered("big", AGENT, "3.tcp", "10.9.9.9,10.0.0.2")
    assert not engine.triggered("big", AGENT, "4.tcp", "10.0.0.1,10.0.0.2")
    assert engine.triggered("big", AGENT, "3.tcp")  # any key there
    assert not engine.triggered("other", AGENT, "3.tcp")


def test_by_flow_key_rearms_when_its_value_stays_below() -> None:
    engine = engine_with("big", metric="tcp", value=1000, byFlow=True, timeout=2)
    flows = FlowValues()
    key = "10.0.0.1,10.0.0.2"
    engine.observe_flow("tcp", AGENT, "3", key, 1500.0, None, T0)
    flows.values[("tcp", AGENT, "3", key)] = 1200.0  # decaying but still above
    engine.tick(T0 + 5, flows)
    assert engine.triggered("big", AGENT, "3.tcp", key)
    flows.values[("tcp", AGENT, "3", key)] = 400.0
    engine.tick(T0 + 6, flows)
    assert engine.triggered("big", AGENT, "3.tcp", key)  # 1 s below
    del flows.values[("tcp", AGENT, "3", key)]  # flow gone counts as below
    engine.tick(T0 + 7, flows)
    assert not engine.triggered("big", AGENT, "3.tcp", key)
    engine.observe_flow("tcp", AGENT, "3", key, 1100.0, None, T0 + 8)
    assert [e["value"] for e in events(engine)] == [1500.0, 1100.0]


def test_not_by_flow_fires_once_per_data_source() -> None:
    engine = engine_with("any", metric="tcp", value=1000, timeout=2)
    engine.observe_flow("tcp", AGENT, "3", "a", 1500.0, None, T0)
    engine.observe_flow("tcp", AGENT, "3", "b", 2500.0, None, T0 + 0.1)
    engine.observe_flow("tcp", AGENT, "4", "c", 1200.0, None, T0 + 0.2)
    assert [(e["dataSource"], e["flowKey"]) for e in events(engine)] == [("3", "a"), ("4", "c")]
    # scripts pass the event's flowKey back; for byFlow:false only the data source matters
    assert engine.triggered("any", AGENT, "3.tcp", "b")


def test_not_by_flow_stays_triggered_while_any_flow_there_is_above() -> None:
    engine = engine_with("any", metric="tcp", value=1000, timeout=2)
    flows = FlowValues()
    engine.observe_flow("tcp", AGENT, "3", "a", 1500.0, None, T0)
    for second in range(1, 6):  # key a went quiet, key b keeps the data source hot
        engine.observe_flow("tcp", AGENT, "3", "b", 1800.0, None, T0 + second)
        engine.tick(T0 + second, flows)
    assert engine.triggered("any", AGENT, "3.tcp")
    # b stops updating, but the data source's top flow (a flow point) is still above
    for second in range(6, 9):
        engine.evaluate_metrics(
            [MetricPoint(AGENT, "3", "tcp", 1300.0, T0 + second, {"topKeys": []})], T0 + second)
        engine.tick(T0 + second, flows)
    assert engine.triggered("any", AGENT, "3.tcp")
    engine.tick(T0 + 10, flows)
    assert not engine.triggered("any", AGENT, "3.tcp")
    assert len(events(engine)) == 1


def test_flow_points_in_metric_evaluation_do_not_fire_again() -> None:
    engine = ThresholdEngine()
    engine.set_threshold("big", {"metric": "tcp", "value": 1000, "byFlow": True})
    engine.set_threshold("any", {"metric": "tcp", "value": 1000})
    engine.observe_flow("tcp", AGENT, "3", "a", 1500.0, None, T0)
    point = MetricPoint(AGENT, "3", "tcp", 1500.0, T0, {"topKeys": [{"key": "a"}]})
    for second in range(3):
        engine.evaluate_metrics([point], T0 + second)
    # a flow point that observe_flow never reported is recognised by its topKeys
    engine.evaluate_metrics([point._replace(datasource="9")], T0 + 3)
    assert [e["thresholdID"] for e in events(engine)] == ["big", "any"]


def test_qualified_flow_threshold_watches_one_data_source() -> None:
    engine = engine_with("port22", metric="22.tcp", value=10, byFlow=True)
    assert "tcp" in engine.flow_metrics()
    engine.observe_flow("tcp", AGENT, "3", "k", 50.0, None, T0)
    engine.observe_flow("tcp", AGENT, "22", "k", 50.0, None, T0)
    assert [(e["dataSource"], e["metric"]) for e in events(engine)] == [("22", "tcp")]
    assert engine.triggered("port22", AGENT, "22.tcp", "k")


def test_flow_filter_uses_the_data_sources_interface_speed() -> None:
    """fabric-metrics: one elephant threshold per interface speed."""
    engine = ThresholdEngine()
    engine.set_threshold("1G", {"metric": "fv-flow", "value": 100, "byFlow": True,
                                "filter": {"ifspeed": [GBIT]}})
    engine.set_threshold("10G", {"metric": "fv-flow", "value": 1000, "byFlow": True,
                                 "filter": {"ifspeed": [TENGBIT]}})
    engine.observe_flow("fv-flow", AGENT, "3", "k", 5000.0, None, T0)
    assert events(engine) == []  # filter metrics not read yet: wait rather than misfire
    engine.evaluate_metrics([MetricPoint(AGENT, "3", "ifspeed", GBIT, T0),
                             MetricPoint(AGENT, "4", "ifspeed", TENGBIT, T0)], T0 + 1)
    engine.observe_flow("fv-flow", AGENT, "3", "k", 500.0, None, T0 + 1.1)
    engine.observe_flow("fv-flow", AGENT, "4", "k", 500.0, None, T0 + 1.2)
    engine.observe_flow("fv-flow", AGENT, "4", "k", 1500.0, None, T0 + 1.3)
    assert [(e["thresholdID"], e["dataSource"], e["value"]) for e in events(engine)] == [
        ("1G", "3", 500.0), ("10G", "4", 1500.0)]


def test_filter_verdicts_follow_attribute_changes_within_the_refresh_period() -> None:
    engine = engine_with("10G", metric="tcp", value=10, byFlow=True,
                         filter={"ifspeed": [TENGBIT]})
    engine.evaluate_metrics([MetricPoint(AGENT, "3", "ifspeed", GBIT, T0)], T0)
    engine.observe_flow("tcp", AGENT, "3", "a", 50.0, None, T0)
    upgraded = [MetricPoint(AGENT, "3", "ifspeed", TENGBIT, T0 + 1)]
    engine.evaluate_metrics(upgraded, T0 + 1)
    engine.observe_flow("tcp", AGENT, "3", "b", 50.0, None, T0 + 1)
    assert events(engine) == []  # the 1G verdict is still reused
    engine.evaluate_metrics(upgraded, T0 + FILTER_REFRESH_SECONDS)
    engine.observe_flow("tcp", AGENT, "3", "c", 50.0, None, T0 + FILTER_REFRESH_SECONDS)
    assert [e["flowKey"] for e in events(engine)] == ["c"]


def test_a_new_filter_metric_is_read_from_the_next_evaluation() -> None:
    engine = engine_with("web", metric="tcp", value=10, byFlow=True,
                         filter={"ifspeed": [GBIT]})
    points = [MetricPoint(AGENT, "3", "ifspeed", GBIT, T0),
              MetricPoint(AGENT, "2.1", "host_name", "web-1", T0)]
    engine.evaluate_metrics(points, T0)
    engine.set_threshold("web", {"metric": "tcp", "value": 10, "byFlow": True,
                                 "filter": {"host_name": ["web*"]}})
    engine.observe_flow("tcp", AGENT, "3", "a", 50.0, None, T0 + 0.5)
    assert events(engine) == []  # host_name was not kept by the last evaluation
    engine.evaluate_metrics(points, T0 + 1)
    engine.observe_flow("tcp", AGENT, "3", "b", 50.0, None, T0 + 1.5)
    assert [e["flowKey"] for e in events(engine)] == ["b"]


def test_triggered_state_is_capped_per_threshold() -> None:
    engine = ThresholdEngine(max_states=3)
    engine.set_threshold("big", {"metric": "tcp", "value": 1, "byFlow": True})
    for i in range(5):
        engine.observe_flow("tcp", AGENT, "3", f"k{i}", 10.0, None, T0 + i)
    assert engine.evicted == 2
    assert [engine.triggered("big", AGENT, "3.tcp", f"k{i}") for i in range(5)] == [
        False, False, True, True, True]


def test_recently_refreshed_state_survives_eviction() -> None:
    engine = ThresholdEngine(max_states=2)
    engine.set_threshold("big", {"metric": "tcp", "value": 1, "byFlow": True})
    engine.observe_flow("tcp", AGENT, "3", "old", 10.0, None, T0)
    engine.observe_flow("tcp", AGENT, "3", "mid", 10.0, None, T0 + 1)
    engine.observe_flow("tcp", AGENT, "3", "old", 10.0, None, T0 + 2)  # refreshed
    engine.observe_flow("tcp", AGENT, "3", "new", 10.0, None, T0 + 3)
    assert engine.triggered("big", AGENT, "3.tcp", "old")
    assert not engine.triggered("big", AGENT, "3.tcp", "mid")


def test_zero_timeout_rearms_at_the_next_tick_below() -> None:
    engine = engine_with("fast", metric="tcp", value=10, byFlow=True, timeout=0)
    flows = FlowValues()
    engine.observe_flow("tcp", AGENT, "3", "k", 50.0, None, T0)
    engine.tick(T0 + 1, flows)
    engine.observe_flow("tcp", AGENT, "3", "k", 50.0, None, T0 + 1.5)
    assert len(events(engine)) == 2


def test_subscribers_hear_threshold_events() -> None:
    engine = engine_with("big", metric="tcp", value=10, byFlow=True)
    heard: list[str] = []
    engine.events.subscribe(lambda e: heard.append(e["flowKey"]))
    engine.observe_flow("tcp", AGENT, "3", "k", 50.0, None, T0)
    assert heard == ["k"]


# --- through the Engine facade ----------------------------------------------------------

def test_engine_by_flow_threshold_on_generated_datagrams() -> None:
    import dpkt

    from flowrt.engine.core import Engine
    from flowrt.sflow import Datagram, FlowSample, encode_datagram
    from flowrt.sflow.records.flow import SampledHeader

    def frame(src: str, dst: str, sport: int, dport: int) -> bytes:
        tcp = dpkt.tcp.TCP(sport=sport, dport=dport, flags=dpkt.tcp.TH_ACK, data=b"x" * 1000)
        ip = dpkt.ip.IP(src=bytes(map(int, src.split("."))), dst=bytes(map(int, dst.split("."))),
                        p=dpkt.ip.IP_PROTO_TCP, data=tcp)
        ip.len = len(bytes(ip))
        eth = dpkt.ethernet.Ethernet(src=b"\x00\x01\x02\x03\x04\x05",
                                     dst=b"\x00\x01\x02\x03\x04\x06", data=ip)
        return bytes(eth)

    def datagram(seq: int, pkt: bytes, ifindex: int = 3) -> bytes:
        header = SampledHeader(1, len(pkt) + 4, 4, pkt[:128])
        sample = FlowSample(seq, 0, ifindex, 100, seq * 100, 0, 0, ifindex, 0, 7, [header])
        return encode_datagram(Datagram("192.0.2.50", 0, seq, 1000 + seq, [sample]))

    engine = Engine(now=T0)
    engine.set_flow("tcp", {"keys": "ipsource,ipdestination", "value": "bytes", "t": 2})
    engine.set_threshold("big", {"metric": "tcp", "value": 200_000, "byFlow": True,
                                 "timeout": 5})
    big = frame("10.0.0.1", "10.0.0.2", 40000, 80)
    small = frame("10.0.0.3", "10.0.0.4", 40001, 80)
    now, seq = T0, 0
    for _ in range(20):  # 10 samples a second of ~1 kB at 1-in-100: ~1 MB/s; one: ~50 kB/s
        seq += 1
        engine.ingest_datagram(datagram(seq, big), "192.0.2.50", now)
        now += 0.1
    seq += 1
    engine.ingest_datagram(datagram(seq, small), "192.0.2.50", now)
    engine.tick(now)
    fired = events(engine.thresholds)
    assert [(e["flowKey"], e["agent"], e["dataSource"], e["metric"]) for e in fired] == [
        ("10.0.0.1,10.0.0.2", "192.0.2.50", "3", "tcp")]
    assert fired[0]["value"] > 200_000
    assert fired[0]["timestamp"] < round(T0 * 1000) + 1000  # within a second of crossing
    assert engine.thresholds.triggered("big", "192.0.2.50", "3.tcp", "10.0.0.1,10.0.0.2")
    # traffic stops: the smoothed value decays, the key re-arms after the timeout
    for _ in range(40):
        now += 1
        engine.tick(now)
    assert not engine.thresholds.triggered("big", "192.0.2.50", "3.tcp", "10.0.0.1,10.0.0.2")


def test_a_flow_exactly_at_the_threshold_is_not_above() -> None:
    """The flow path (checked on every table update) uses the same strict comparison."""
    engine = engine_with("big", metric="tcp", value=1000, byFlow=True)
    engine.observe_flow("tcp", AGENT, "3", "10.0.0.1,10.0.0.2", 1000.0, None, T0)
    assert events(engine) == []
    engine.observe_flow("tcp", AGENT, "3", "10.0.0.1,10.0.0.2", 1000.5, None, T0 + 0.1)
    assert [e["flowKey"] for e in events(engine)] == ["10.0.0.1,10.0.0.2"]
