"""Every counter FlowRT keeps about itself, declared once.

``/analyzer/json`` (:meth:`flowrt.engine.core.Engine.analyzer`) and the Prometheus
exporter (``flowrt_*`` families of ``/prometheus/analyzer/txt``) both render from
:data:`SELF_METRICS`, so a counter added here appears in both, and a counter kept in
the code but missing here fails ``tests/engine/test_selfmetrics.py``.

Each entry names where its value lives as a dotted path from the :class:`Engine`
(``counters.datagrams``, ``agents.totals.flow.lost``, ``flows.counters.keys_evicted``):
the state stays with the component that owns it; this table only says what it is
called and what it means. Values are cumulative counts (Prometheus counters, names
ending in ``_total``) unless the entry says ``gauge``; a ``label`` entry reads a
mapping (label value → count), exported as one sample per key.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import attrgetter
from typing import Any

COUNTER, GAUGE = "counter", "gauge"


@dataclass(frozen=True)
class SelfMetric:
    """One self-metric: its ``/analyzer/json`` field, Prometheus family and source."""

    field: str  # the /analyzer/json field
    prometheus: str  # the Prometheus family name (counters end in _total)
    help: str
    source: str  # dotted attribute path from the Engine
    kind: str = COUNTER
    label: str | None = None  # the value is a mapping: label name for its keys

    def read(self, engine: Any) -> Any:
        return attrgetter(self.source)(engine)


def _streams() -> list[SelfMetric]:
    """Loss, duplicate, out-of-order and restart totals of every sequence stream."""
    out = [
        SelfMetric("sFlowDatagramsLost", "flowrt_datagrams_lost_total",
                   "sFlow datagrams lost in transit (datagram sequence gaps not filled later)",
                   "agents.totals.datagrams.lost"),
        SelfMetric("sFlowDatagramsDuplicates", "flowrt_datagrams_duplicate_total",
                   "sFlow datagrams received again (same agent, sub-agent, sequence and bytes);"
                   " dropped before flows and metrics",
                   "agents.totals.datagrams.duplicates"),
        SelfMetric("sFlowDatagramsOutOfOrder", "flowrt_datagrams_out_of_order_total",
                   "sFlow datagrams that arrived after a later one (reordered, not lost)",
                   "agents.totals.datagrams.out_of_order"),
        SelfMetric("sFlowDatagramRestarts", "flowrt_datagram_restarts_total",
                   "agent (sub-agent) restarts seen in datagram sequence numbers and uptime",
                   "agents.totals.datagrams.restarts"),
    ]
    # Prometheus names say "poll" for counter samples (as sflow_analyzer_poll_samples
    # does): promtool refuses the word "counter" in a metric name.
    for label, kind, prom_kind, words in (
        ("Flow", "flow", "flow", "flow samples"),
        ("Counter", "counter", "poll", "counter (poll) samples"),
        ("Notification", "discard", "discard", "discard (dropped packet) samples"),
    ):
        prom = f"flowrt_{prom_kind}_samples"
        out += [
            SelfMetric(f"sFlow{label}LostSamples", f"{prom}_lost_total",
                       f"{words} lost (per data source sequence gaps)",
                       f"agents.totals.{kind}.lost"),
            SelfMetric(f"sFlow{label}DuplicateSamples", f"{prom}_duplicate_total",
                       f"{words} received twice; counted once in flows and metrics",
                       f"agents.totals.{kind}.duplicates"),
            SelfMetric(f"sFlow{label}OutOfOrderSamples", f"{prom}_out_of_order_total",
                       f"{words} that arrived after a later one of their data source",
                       f"agents.totals.{kind}.out_of_order"),
            SelfMetric(f"sFlow{label}SampleRestarts", f"flowrt_{prom_kind}_sample_restarts_total",
                       f"{words} sequence restarts (agent restarts, per data source)",
                       f"agents.totals.{kind}.restarts"),
        ]
    return out


SELF_METRICS: tuple[SelfMetric, ...] = (
    SelfMetric("sFlowAgents", "flowrt_agents", "sFlow agents currently tracked",
               "agents.agent_count", GAUGE),
    # --- what arrived
    SelfMetric("sFlowDatagramsReceived", "flowrt_datagrams_total",
               "sFlow datagrams received, decodable or not (duplicates excluded)",
               "counters.datagrams"),
    SelfMetric("sFlowBytesReceived", "flowrt_datagram_bytes_total",
               "bytes of sFlow datagrams received (duplicates excluded)", "counters.bytes"),
    SelfMetric("sFlowFlowSamples", "flowrt_flow_samples_total",
               "flow samples delivered to flows (duplicates excluded)", "counters.flow_samples"),
    SelfMetric("sFlowCounterSamples", "flowrt_poll_samples_total",
               "counter (poll) samples delivered to metrics (duplicates excluded)",
               "counters.counter_samples"),
    SelfMetric("sFlowDiscardSamples", "flowrt_discard_samples_total",
               "discard (dropped packet) samples delivered (duplicates excluded)",
               "counters.discard_samples"),
    # --- what could not be read
    SelfMetric("sFlowDatagramsDiscarded", "flowrt_datagrams_discarded_total",
               "datagrams refused whole (not sFlow v5, bad header)",
               "counters.datagrams_discarded"),
    SelfMetric("sFlowDecodeErrors", "flowrt_decode_errors_total",
               "decode errors: datagrams refused whole plus samples cut short",
               "counters.decode_errors"),
    SelfMetric("sFlowDecodeErrorReasons", "flowrt_decode_errors_by_reason_total",
               "decode errors by reason (at most 16 reasons, the rest as 'other')",
               "counters.decode_error_reasons", label="reason"),
    # --- sequence accounting
    *_streams(),
    SelfMetric("sFlowFlowDrops", "flowrt_agent_flow_drops_total",
               "packets agents report they could not sample (flow_sample drops)",
               "agents.totals.flow_drops"),
    SelfMetric("sFlowNotificationDrops", "flowrt_agent_discard_drops_total",
               "dropped packets agents report they did not sample (discard sample drops)",
               "agents.totals.discard_drops"),
    # --- bounds hit
    SelfMetric("sFlowAgentsRejected", "flowrt_agents_rejected_total",
               "datagrams of new agents refused at the agent cap (flowrt.agents.max)",
               "agents.totals.agents_rejected"),
    SelfMetric("sFlowDatasourcesRejected", "flowrt_datasources_rejected_total",
               "samples of new data sources refused at the per-agent cap"
               " (flowrt.datasources.max); their flows still count",
               "agents.totals.datasources_rejected"),
    SelfMetric("metricSamplesRejected", "flowrt_metric_samples_rejected_total",
               "counter samples the metric store refused at its agent or data source cap",
               "metrics.rejected"),
    SelfMetric("metricSamplesIgnored", "flowrt_metric_samples_ignored_total",
               "counter samples the metric store ignored as older than the last one",
               "metrics.ignored"),
    SelfMetric("flowSourcesRejected", "flowrt_flow_sources_rejected_total",
               "flow samples of new data sources refused at a flow's data source cap",
               "flows.counters.sources_rejected"),
    SelfMetric("flowKeysEvicted", "flowrt_flow_keys_evicted_total",
               "flow keys dropped from a full top-N table to make room (smallest first)",
               "flows.counters.keys_evicted"),
    SelfMetric("flowLogRejected", "flowrt_flow_log_rejected_total",
               "new flows not logged because a flow's active-flow table was full",
               "flows.counters.log_rejected"),
    SelfMetric("thresholdTriggersEvicted", "flowrt_threshold_triggers_evicted_total",
               "triggered threshold units forgotten at the per-threshold cap",
               "thresholds.evicted"),
    # --- the collector itself
    SelfMetric("sFlowSocketDrops", "flowrt_socket_drops_total",
               "datagrams the kernel dropped on the sFlow socket (receive buffer full)",
               "counters.socket_drops"),
    SelfMetric("sFlowReceiveErrors", "flowrt_receive_errors_total",
               "socket errors in the native receive thread (recvmmsg failures)",
               "counters.receive_errors"),
    SelfMetric("nativeEarlyFlushes", "flowrt_native_early_flushes_total",
               "native batches flushed early: the core's aggregation held its key limit",
               "counters.native_early_flushes"),
    SelfMetric("internalErrors", "flowrt_internal_errors_total",
               "engine errors while ingesting a datagram or ticking (logged, not fatal)",
               "counters.internal_errors"),
    SelfMetric("replayFrames", "flowrt_replay_frames_total",
               "capture records read during an sflow.file replay", "counters.replay.frames"),
    SelfMetric("replayDatagrams", "flowrt_replay_datagrams_total",
               "UDP datagrams found in the replayed capture", "counters.replay.datagrams"),
    SelfMetric("replayFramesNotUdp", "flowrt_replay_frames_not_udp_total",
               "replayed frames skipped: not IP or not UDP", "counters.replay.not_udp"),
    SelfMetric("replayFramesFragments", "flowrt_replay_frames_fragments_total",
               "replayed frames skipped: IP fragments (not reassembled)",
               "counters.replay.fragments"),
    SelfMetric("replayFramesWrongPort", "flowrt_replay_frames_wrong_port_total",
               "replayed frames skipped: UDP to another port", "counters.replay.wrong_port"),
    SelfMetric("replayFramesTruncated", "flowrt_replay_frames_truncated_total",
               "replayed frames skipped: cut short by the snapshot length or malformed",
               "counters.replay.truncated"),
    SelfMetric("replayFramesUnsupportedLink", "flowrt_replay_frames_unsupported_link_total",
               "replayed frames skipped: a link-layer type FlowRT does not read",
               "counters.replay.unsupported_link"),
)
"""Every self-metric, in the order ``/analyzer/json`` lists them."""


def self_metric_values(engine: Any) -> dict[str, Any]:
    """``field → value`` of every self-metric (mappings copied), for /analyzer/json."""
    out: dict[str, Any] = {}
    for metric in SELF_METRICS:
        value = metric.read(engine)
        out[metric.field] = dict(value) if metric.label else value
    return out
