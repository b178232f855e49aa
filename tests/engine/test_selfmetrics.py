"""Every counter the code keeps is a self-metric, in /analyzer/json and in Prometheus.

Three nets: the counter dataclasses' fields must each be declared in SELF_METRICS; every
attribute the source tree increments (``x.name += ...``) must be one of them or be named
below as not a counter; and every declared self-metric must show up, with the same
value, in ``Engine.analyzer`` and in the ``flowrt_*`` Prometheus families (HELP, TYPE,
``_total`` on counters).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from conftest import REPO_ROOT, udp_payloads
from flowrt.bgp import BgpCounters
from flowrt.engine.agents import AccountingTotals
from flowrt.engine.core import Engine, IngestCounters
from flowrt.engine.flows import FlowCounters
from flowrt.engine.hosts import HostCounters
from flowrt.engine.selfmetrics import COUNTER, GAUGE, SELF_METRICS
from flowrt.export.prometheus import analyzer_text

SRC = REPO_ROOT / "src" / "flowrt"

NOT_COUNTERS = {
    "pos": "parser positions (filters, flow specs, script rewriting)",
    "depth": "parser nesting depth",
    "_offset": "capture file position",
    "records": "capture records read (a position; exported as counters.replay.frames)",
    "last_id": "event and flow log record ids",
    "version": "topology version",
    "_serial": "browser page serial",
    "_async_next": "script async call ids",
    "pending_async": "script calls in flight (a level, not a count)",
    "total": "DistinctCounter estimate and group sizes",
    "_pool_span": "effective sampling rate state",
    "_pool_samples": "effective sampling rate state",
    "messages_sent": "per BGP session, in /bgp/neighbors/json (totals: bgp.updates_*)",
    "messages_received": "per BGP session, in /bgp/neighbors/json (totals: bgp.updates_*)",
    "widened": "build-time statistic of the embedded geo tables (flowrt.enrich.geodata_build)",
    "received": "per stream; the totals are counters.datagrams and counters.*_samples",
    "_buffer": "bytes read from a Python script's process, not yet a whole line",
    "next_token": "httpAsync callback ids in a Python script's process",
    "unbudgeted_starts": "per JavaScript script, in /scripts/json (budgetRestarts)",
}
"""Attributes incremented somewhere in src/ that are not counters, and why."""

# Declared elsewhere under another name: FlowTable.evicted and FlowTracker.rejected are
# summed into flows.counters (keys_evicted, log_rejected); Flow.evicted_retired (the
# evictions of a definition's expired tables) is part of keys_evicted.
ALIASES = {"evicted": "keys_evicted", "rejected": "log_rejected",
           "evicted_retired": "keys_evicted"}

INCREMENT = re.compile(r"\b\w+(?:\[[^\]]*\])?\.(\w+)\s*[-+]=")


def leaf_fields(cls: type, prefix: str) -> set[str]:
    """Dotted paths of every int field of a counter dataclass (nested ones too)."""
    out: set[str] = set()
    for item in dataclasses.fields(cls):
        path = f"{prefix}.{item.name}"
        default = item.default_factory() if callable(item.default_factory) else item.default
        if dataclasses.is_dataclass(default):
            out |= leaf_fields(type(default), path)
        else:
            out.add(path)
    return out


def test_every_counter_field_is_a_self_metric() -> None:
    declared = {m.source for m in SELF_METRICS}
    fields = (
        leaf_fields(IngestCounters, "counters")
        | leaf_fields(AccountingTotals, "agents.totals")
        | leaf_fields(FlowCounters, "flows.counters")
        | leaf_fields(BgpCounters, "bgp")
        | leaf_fields(HostCounters, "hosts.counters")
        | {"metrics.rejected", "metrics.ignored", "thresholds.evicted"}
    )
    assert fields - declared == set()
    assert len(fields) >= 40


def test_every_incremented_attribute_is_a_counter_or_named_as_not_one() -> None:
    names: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for name in INCREMENT.findall(line):
                names.setdefault(name, []).append(f"{path.relative_to(REPO_ROOT)}:{number}")
    assert "sources_rejected" in names and "truncated" in names  # the scan works
    exported = {m.source.rsplit(".", 1)[1] for m in SELF_METRICS}
    missing = {
        name: where for name, where in names.items()
        if name not in NOT_COUNTERS and ALIASES.get(name, name) not in exported
        and name not in exported
    }
    assert missing == {}, "counters kept but not exported: declare them in SELF_METRICS"


def prometheus_text(engine: Engine, now: float) -> tuple[str, dict[str, Any]]:
    text = analyzer_text(engine, now).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return text, families


def busy_engine() -> tuple[Engine, float]:
    """An engine that has seen duplicates, a restart, reordering and a bad datagram."""
    engine = Engine(now=0.0)
    engine.set_flow("bytes", {"keys": "ipsource,ipdestination", "value": "bytes"})
    payloads = [p for _, p in udp_payloads("ovs-netns")]
    now = 1.0
    for i, payload in enumerate(payloads[:40]):
        engine.ingest_datagram(payload, "127.0.0.1", now)
        if i % 3 == 0:
            engine.ingest_datagram(payload, "127.0.0.1", now)  # the network duplicated it
        now += 0.1
    for payload in (payloads[41], payloads[40], *payloads[42:60]):  # reordered pair
        engine.ingest_datagram(payload, "127.0.0.1", now)
        now += 0.1
    engine.ingest_datagram(b"\x00\x00\x00\x04" + bytes(40), "192.0.2.9", now)  # sFlow v4
    engine.counters.internal_errors += 1  # as the server counts an engine exception
    return engine, now


def test_every_self_metric_is_in_analyzer_json_and_prometheus_with_the_same_value() -> None:
    engine, now = busy_engine()
    analyzer = engine.analyzer(now)
    text, families = prometheus_text(engine, now)
    for metric in SELF_METRICS:
        assert metric.field in analyzer, metric.field
        assert metric.prometheus.startswith("flowrt_")
        assert f"# HELP {metric.prometheus} " in text, metric.prometheus
        assert f"# TYPE {metric.prometheus} {metric.kind}" in text, metric.prometheus
        if metric.kind == COUNTER:
            assert metric.prometheus.endswith("_total")
            family = families[metric.prometheus.removesuffix("_total")]
        else:
            assert metric.kind == GAUGE
            family = families[metric.prometheus]
        assert family.documentation == metric.help
        values = {
            s.labels.get(metric.label, "") if metric.label else "": s.value
            for s in family.samples if not s.name.endswith("_created")
        }
        expected = analyzer[metric.field]
        if metric.label:
            assert values == {k: float(v) for k, v in expected.items()}
        else:
            assert values == {"": float(expected)}, metric.field
    # the busy engine really exercised the interesting ones
    assert analyzer["sFlowDatagramsDuplicates"] == 14
    assert analyzer["sFlowDatagramsOutOfOrder"] == 1 and analyzer["sFlowDatagramsLost"] == 0
    assert analyzer["sFlowDatagramsReceived"] == 61
    assert analyzer["sFlowDecodeErrorReasons"] == {"unsupported sFlow version 4": 1}
    assert analyzer["internalErrors"] == 1


def test_self_metric_names_are_unique() -> None:
    assert len({m.field for m in SELF_METRICS}) == len(SELF_METRICS)
    assert len({m.prometheus for m in SELF_METRICS}) == len(SELF_METRICS)


def test_operations_doc_lists_every_self_metric() -> None:
    text = Path(REPO_ROOT / "docs" / "operations.md").read_text()
    missing = [m for m in SELF_METRICS if f"| `{m.field}` | `{m.prometheus}" not in text]
    assert missing == []
