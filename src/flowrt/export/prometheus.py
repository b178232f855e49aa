"""sFlow-RT's Prometheus endpoints: metrics and analyzer health in the text exposition format.

``/prometheus/metrics/{agent}/{metric}/txt`` exports what ``/dump/{agent}/{metric}/json``
would report, one sample per (agent, data source, metric), so a scrape config written for
sFlow-RT (its /prometheus routes) works unchanged:

* names are ``sflow_<metric>`` (characters Prometheus does not allow become ``_``);
* labels are ``agent`` and ``datasource``, plus ``host`` (the agent's ``host_name``) and
  ``ifname`` (the data source's ``ifname``) when the agent reports them;
* only numbers are exported (strings such as ``host_name`` become the labels above);
  values are already per-second rates, exported as gauges (do not apply ``rate()``).

Flow definitions also appear as metrics. A keyless flow is one sample per data source;
a keyed flow is exported as its top-N keys only, one sample per key with a label per key
field (named after the flow's ``keys``), never as an open-ended set: at most the flow's
``n`` keys per data source and :data:`MAX_FLOW_SERIES` per flow per scrape, which is the
cardinality guarantee a Prometheus operator needs.

``/prometheus/analyzer/txt`` is the collector's own health: the totals sFlow-RT reports
(names as sFlow-RT and its dashboards use them, ``sflow_analyzer_*``), every FlowRT
self-metric of :data:`flowrt.engine.selfmetrics.SELF_METRICS` as ``flowrt_*`` (counters
end in ``_total``; the same table renders ``/analyzer/json``), and per-agent loss,
duplicate, restart and decode error counters (``sflow_agent_*``), which tell "the network
lost my sFlow" from "the network duplicated it" from "my agent restarted" from "my agent
is broken" from "the collector's socket overflowed".

Text formatting and escaping are prometheus_client's; this module only decides what is
exported and how it is named.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
    UnknownMetricFamily,
)

from flowrt import __version__
from flowrt.api import app_clock
from flowrt.config import Properties
from flowrt.engine import GAUGE, SELF_METRICS, Engine, MetricPoint, QueryError, UnknownAgentError

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""The classic text format: what Prometheus 2.x and promtool expect."""
PREFIX = "sflow_"
AGENT_LABEL, DATASOURCE_LABEL, HOST_LABEL, IFNAME_LABEL = "agent", "datasource", "host", "ifname"
BASE_LABELS = (AGENT_LABEL, DATASOURCE_LABEL)
HOST_METRIC, IFNAME_METRIC = "host_name", "ifname"
MAX_FLOW_SERIES = 1000
"""Series one keyed flow may add to a scrape, whatever the number of data sources."""
KEY_LABEL_PREFIX = "key_"
_INVALID_NAME = re.compile(r"[^a-zA-Z0-9_:]")
_INVALID_LABEL = re.compile(r"[^a-zA-Z0-9_]")

Clock = Callable[[], float]


def metric_name(name: str) -> str:
    """``sflow_`` + the metric name with characters Prometheus rejects turned into ``_``."""
    return PREFIX + _INVALID_NAME.sub("_", name)


def label_name(key: str, taken: Iterable[str] = BASE_LABELS) -> str:
    """A Prometheus label name for a flow key (``ipsource.1`` → ``ipsource_1``).

    Names that would clash with our own labels or start with a digit or ``__`` get
    the :data:`KEY_LABEL_PREFIX`.
    """
    label = _INVALID_LABEL.sub("_", key) or "key"
    if label in taken or label[0].isdigit() or label.startswith("__"):
        label = KEY_LABEL_PREFIX + label
    return label


def is_number(value: Any) -> bool:
    """Exportable values: ints and floats, not bools (a bool is not a measurement)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Families:
    """Gauge families in first-seen order; samples of one family may carry different
    label sets (``host`` and ``ifname`` only where known), as the text format allows."""

    def __init__(self, help_text: Callable[[str], str]) -> None:
        self._families: dict[str, Metric] = {}
        self._help = help_text

    def add(self, name: str, labels: Mapping[str, str], value: float) -> None:
        family = self._families.get(name)
        if family is None:
            family = self._families[name] = Metric(name, self._help(name), "gauge")
        family.add_sample(name, dict(labels), float(value))

    def __iter__(self) -> Iterator[Metric]:
        return iter(self._families.values())


class _Collector:
    """Adapts a list of metric families to prometheus_client's registry protocol."""

    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


def exposition(families: Iterable[Metric]) -> bytes:
    """Families → text exposition bytes (prometheus_client does the formatting)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(families))
    return generate_latest(registry)


def _names_of(points: list[MetricPoint]) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Each agent's host name and each data source's interface name, for labels."""
    hosts: dict[str, str] = {}
    ifnames: dict[tuple[str, str], str] = {}
    for p in points:
        if p.name == HOST_METRIC and isinstance(p.value, str) and p.value:
            hosts.setdefault(p.agent, p.value)
        elif p.name == IFNAME_METRIC and isinstance(p.value, str) and p.value:
            ifnames[(p.agent, p.datasource)] = p.value
    return hosts, ifnames


def metrics_text(
    engine: Engine, agents: str, metrics: str, filter: Mapping[str, Any] | None, now: float
) -> bytes:
    """The body of ``/prometheus/metrics/{agent}/{metric}/txt`` (raises QueryError)."""
    points = list(engine.metrics.points(now))
    hosts, ifnames = _names_of(points)
    specs = engine.flows.specs()
    families = _Families(lambda name: f"sFlow metric {name[len(PREFIX):]}")
    flow_series: dict[str, int] = {}
    for cell in engine.dump_metrics(agents, metrics, filter, now):
        agent, ds, name = cell["agent"], cell["dataSource"], cell["metricName"]
        labels = {AGENT_LABEL: agent, DATASOURCE_LABEL: ds}
        if agent in hosts:
            labels[HOST_LABEL] = hosts[agent]
        if (agent, ds) in ifnames:
            labels[IFNAME_LABEL] = ifnames[(agent, ds)]
        spec = specs.get(name)
        top_keys = cell.get("topKeys")
        if spec is not None and spec.keys and top_keys is not None:
            _add_flow_keys(families, flow_series, name, spec, labels, top_keys)
        elif is_number(cell["metricValue"]):
            families.add(metric_name(name), labels, cell["metricValue"])
    return exposition(families)


def _add_flow_keys(
    families: _Families, counts: dict[str, int], name: str, spec: Any,
    labels: Mapping[str, str], top_keys: list[dict[str, Any]],
) -> None:
    """One sample per top key, a label per key field (bounded: see the module doc)."""
    taken = set(labels) | {HOST_LABEL, IFNAME_LABEL}
    key_labels: list[str] = []
    for key in spec.keys:
        label = label_name(key, taken)
        while label in key_labels:
            label += "_"
        key_labels.append(label)
    separator = spec.fs or ","
    for entry in top_keys[: spec.n]:
        if counts.get(name, 0) >= MAX_FLOW_SERIES:
            return
        parts = str(entry["key"]).split(separator)
        if len(parts) != len(key_labels):
            parts = [str(entry["key"])] + [""] * (len(key_labels) - 1)
        series = dict(labels)
        series.update(zip(key_labels, parts, strict=False))
        families.add(metric_name(name), series, entry["value"])
        counts[name] = counts.get(name, 0) + 1


def analyzer_text(engine: Engine, now: float) -> bytes:
    """The body of ``/prometheus/analyzer/txt``: collector totals and per-agent health."""
    a = engine.analyzer(now)
    agents = engine.agents.to_json(now)
    out: list[Metric] = []

    def gauge(name: str, doc: str, value: float) -> None:
        out.append(GaugeMetricFamily(name, doc, value=value))

    def untyped(name: str, doc: str, value: float) -> None:
        family = UnknownMetricFamily(name, doc)
        family.add_metric([], value)
        out.append(family)

    info = GaugeMetricFamily("sflow_analyzer_info", "FlowRT version", labels=["version"])
    info.add_metric([__version__], 1)
    out.append(info)
    gauge("sflow_analyzer_agents", "sFlow agents currently reporting (sFlow-RT 2.x name)",
          a["sFlowAgents"])
    gauge("sflow_analyzer_agent_count", "sFlow agents currently reporting", a["sFlowAgents"])
    gauge("sflow_analyzer_uptime_seconds", "seconds since FlowRT started", a["uptime"] / 1000)
    # cumulative totals under the names sFlow-RT dashboards query; untyped keeps those
    # names exact (a counter would have to end in _total); rate() works on them.
    for name, field, doc in (
        ("received_bytes", "sFlowBytesReceived", "bytes of sFlow datagrams received"),
        ("received_datagrams", "sFlowDatagramsReceived", "sFlow datagrams received"),
        ("discarded_datagrams", "sFlowDatagramsDiscarded", "datagrams that did not decode"),
        ("flow_samples", "sFlowFlowSamples", "flow samples received"),
        ("poll_samples", "sFlowCounterSamples", "counter (polling) samples received"),
        ("discard_samples", "sFlowDiscardSamples", "discarded-packet samples received"),
        ("decode_errors", "sFlowDecodeErrors", "decode errors (whole or partial datagrams)"),
        ("socket_drops", "sFlowSocketDrops", "datagrams the kernel dropped (buffer full)"),
    ):
        untyped(f"sflow_analyzer_{name}", doc, a[field])
    per_agent = (
        ("sflow_agent_datagrams", "datagrams received from the agent",
         lambda s: s["sFlowDatagramsReceived"]),
        ("sflow_agent_datagrams_lost", "datagrams lost in transit (sequence gaps)",
         lambda s: s["sFlowDatagramsLost"]),
        ("sflow_agent_flow_samples", "flow samples received", lambda s: s["sFlowFlowSamples"]),
        ("sflow_agent_flow_samples_lost", "flow samples lost (sequence gaps)",
         lambda s: s["sFlowFlowLostSamples"]),
        ("sflow_agent_poll_samples_lost", "counter (polling) samples lost (sequence gaps)",
         lambda s: s["sFlowCounterLostSamples"]),
        ("sflow_agent_flow_drops", "packets the agent could not sample (its own drops)",
         lambda s: s["sFlowFlowDrops"]),
        ("sflow_agent_decode_errors", "datagrams or records from the agent that did not decode",
         lambda s: s["sFlowDecodeErrors"]),
        ("sflow_agent_datagrams_duplicate", "datagrams received twice (dropped)",
         lambda s: s["sFlowDatagramsDuplicates"]),
        ("sflow_agent_datagrams_out_of_order", "datagrams that arrived after a later one",
         lambda s: s["sFlowDatagramsOutOfOrder"]),
        ("sflow_agent_datagram_restarts", "agent restarts (datagram sequence numbers)",
         lambda s: s["sFlowDatagramRestarts"]),
        ("sflow_agent_samples_duplicate", "flow, counter and discard samples received twice",
         lambda s: s["sFlowFlowDuplicateSamples"] + s["sFlowCounterDuplicateSamples"]
         + s["sFlowNotificationDuplicateSamples"]),
        ("sflow_agent_notification_samples_lost", "discard samples lost (sequence gaps)",
         lambda s: s["sFlowNotificationLostSamples"]),
        ("sflow_agent_notification_drops", "dropped packets the agent did not sample",
         lambda s: s["sFlowNotificationDrops"]),
        ("sflow_agent_datasources_rejected", "samples of data sources over the per-agent cap",
         lambda s: s["sFlowDatasourcesRejected"]),
    )
    for name, doc, read in per_agent:
        family = CounterMetricFamily(name, doc, labels=[AGENT_LABEL])
        for agent, stats in sorted(agents.items()):
            family.add_metric([agent], read(stats))
        out.append(family)
    out.extend(self_metric_families(engine))
    return exposition(out)


def self_metric_families(engine: Engine) -> list[Metric]:
    """One ``flowrt_*`` family per self-metric, from the same table as /analyzer/json."""
    out: list[Metric] = []
    for metric in SELF_METRICS:
        value = metric.read(engine)
        # prometheus_client adds _total to counter samples: give it the family's stem
        family: GaugeMetricFamily | CounterMetricFamily
        if metric.kind == GAUGE:
            family = GaugeMetricFamily(
                metric.prometheus, metric.help, labels=[metric.label] if metric.label else None
            )
        else:
            family = CounterMetricFamily(
                metric.prometheus.removesuffix("_total"), metric.help,
                labels=[metric.label] if metric.label else None,
            )
        if metric.label:
            for key, count in sorted(value.items()):
                family.add_metric([str(key)], count)
        else:
            family.add_metric([], value)
        out.append(family)
    return out


# --- HTTP ----------------------------------------------------------------------------------------
ENGINE = web.AppKey("prometheus_engine", Engine)
CLOCK: web.AppKey[Clock] = web.AppKey("prometheus_clock")


def _filter(request: web.Request) -> dict[str, list[str]] | None:
    """Query arguments as a metric filter (``?host_name=web*&ifname=eth0``)."""
    out: dict[str, list[str]] = {}
    for key, value in request.query.items():
        out.setdefault(key, []).append(value)
    return out or None


def _text(body: bytes) -> web.Response:
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def prometheus_metrics(request: web.Request) -> web.Response:
    engine, now = request.app[ENGINE], request.app[CLOCK]()
    m = request.match_info
    try:
        return _text(metrics_text(engine, m["agent"], m["metric"], _filter(request), now))
    except QueryError as err:
        return _error(400, str(err))
    except UnknownAgentError as err:
        return _error(404, str(err))


async def prometheus_analyzer(request: web.Request) -> web.Response:
    return _text(analyzer_text(request.app[ENGINE], request.app[CLOCK]()))


def install_routes(
    app: web.Application, engine: Engine, props: Properties, clock: Clock | None = None
) -> None:
    """Add ``/prometheus/...`` to ``app``.

    ``clock()`` is the engine's now; when omitted, the REST API's clock on the same app
    is used (the replay clock during a replay), else wall time.
    """
    app[ENGINE] = engine
    app[CLOCK] = clock if clock is not None else app_clock(app)
    app.router.add_get("/prometheus/metrics/{agent}/{metric}/txt", prometheus_metrics)
    app.router.add_get("/prometheus/analyzer/txt", prometheus_analyzer)


__all__ = [
    "CONTENT_TYPE", "MAX_FLOW_SERIES", "analyzer_text", "install_routes", "is_number",
    "label_name", "metric_name", "metrics_text", "self_metric_families",
]
