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
    SelfMetric("sFlowDatasources", "flowrt_datasources",
               "data sources currently tracked over every agent (at most"
               " flowrt.datasources.total.max)", "agents.datasource_count", GAUGE),
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
    SelfMetric("sFlowDatasourcesTotalRejected", "flowrt_datasources_total_rejected_total",
               "samples of new data sources refused at the total cap"
               " (flowrt.datasources.total.max); their flows still count",
               "agents.totals.datasources_total_rejected"),
    SelfMetric("sFlowAgentsExpired", "flowrt_agents_expired_total",
               "agents forgotten after flowrt.agents.timeout seconds without a datagram",
               "agents.totals.agents_expired"),
    SelfMetric("sFlowDatasourcesExpired", "flowrt_datasources_expired_total",
               "data sources forgotten: idle for flowrt.datasources.timeout, or their agent"
               " expired", "agents.totals.datasources_expired"),
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
    SelfMetric("flowSamplesShed", "flowrt_flow_samples_shed_total",
               "flow samples that some definitions skipped: more definitions run on the"
               " reference path than flowrt.flows.sample.budget allows per sample (they"
               " take turns; values are scaled to stay unbiased)", "flows.samples_shed"),
    SelfMetric("flowEvaluationsShed", "flowrt_flow_evaluations_shed_total",
               "definition evaluations skipped by that rotation (per sample: definitions"
               " on the reference path minus flowrt.flows.sample.budget)",
               "flows.evaluations_shed"),
    SelfMetric("flowLogRejected", "flowrt_flow_log_rejected_total",
               "new flows not logged because a flow's active-flow table was full",
               "flows.counters.log_rejected"),
    SelfMetric("hostsLocated", "flowrt_hosts_located",
               "host locations (MAC at an edge port) learned while a topology is set",
               "hosts.located", kind=GAUGE),
    SelfMetric("hostLocationsRejected", "flowrt_host_locations_rejected_total",
               "new host locations refused: flowrt.hosts.max reached",
               "hosts.counters.rejected"),
    SelfMetric("hostLocationsExpired", "flowrt_host_locations_expired_total",
               "host locations forgotten: not seen for flowrt.hosts.timeout, no longer at an"
               " edge port, or the topology was cleared",
               "hosts.counters.expired"),
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
    # --- the BGP speaker (bgp.start=yes)
    SelfMetric("bgpSessionsEstablished", "flowrt_bgp_sessions_established",
               "BGP sessions with routers up now", "bgp.sessions_established", GAUGE),
    SelfMetric("bgpSessionsOpened", "flowrt_bgp_sessions_opened_total",
               "BGP sessions that reached Established", "bgp.sessions_opened"),
    SelfMetric("bgpSessionsClosed", "flowrt_bgp_sessions_closed_total",
               "Established BGP sessions that ended (router, timer, error or shutdown)",
               "bgp.sessions_closed"),
    SelfMetric("bgpConnectionsRejected", "flowrt_bgp_connections_rejected_total",
               "BGP connections refused: the address is not a configured neighbor",
               "bgp.connections_rejected"),
    SelfMetric("bgpUpdatesSent", "flowrt_bgp_updates_sent_total",
               "BGP UPDATE messages sent (announcements, withdrawals, End-of-RIB)",
               "bgp.updates_sent"),
    SelfMetric("bgpUpdatesReceived", "flowrt_bgp_updates_received_total",
               "BGP UPDATE messages received from routers (checked, not learned)",
               "bgp.updates_received"),
    SelfMetric("bgpNotificationsSent", "flowrt_bgp_notifications_sent_total",
               "BGP NOTIFICATION messages sent", "bgp.notifications_sent"),
    SelfMetric("bgpNotificationsReceived", "flowrt_bgp_notifications_received_total",
               "BGP NOTIFICATION messages received from routers",
               "bgp.notifications_received"),
    SelfMetric("bgpMalformedMessages", "flowrt_bgp_malformed_messages_total",
               "BGP messages from routers that broke the protocol (answered and closed)",
               "bgp.malformed_messages"),
    SelfMetric("bgpRoutesRefused", "flowrt_bgp_routes_refused_total",
               "bgpAddRoute calls refused: bad definition or flowrt.bgp.routes.max reached",
               "bgp.routes_refused"),
    SelfMetric("bgpFlowsRefused", "flowrt_bgp_flows_refused_total",
               "bgpAddFlow calls refused: bad definition or flowrt.bgp.flows.max reached",
               "bgp.flows_refused"),
    SelfMetric("httpConnections", "flowrt_http_connections",
               "HTTP connections open now", "counters.http.connections", GAUGE),
    SelfMetric("httpConnectionsRefused", "flowrt_http_connections_refused_total",
               "HTTP connections closed at once: over the cap (http.connections.max)",
               "counters.http.connections_refused"),
    SelfMetric("httpHeaderTimeouts", "flowrt_http_header_timeouts_total",
               "HTTP connections closed without a complete request head within"
               " http.header.timeout (slow or idle clients)", "counters.http.header_timeouts"),
    SelfMetric("httpUnauthorized", "flowrt_http_unauthorized_total",
               "write requests refused for a missing or wrong http.token bearer token",
               "counters.http.unauthorized"),
    SelfMetric("logLinesSuppressed", "flowrt_log_lines_suppressed_total",
               "repeated log lines dropped by the rate limiter (a summary line says how many)",
               "counters.log_lines_suppressed"),
    SelfMetric("logLinesUnwritten", "flowrt_log_lines_unwritten_total",
               "log lines that could not be written (stderr closed or its pipe gone)",
               "counters.log_lines_unwritten"),
    # --- enrichment: country:/asn: (geo), oui:, dns: keys (flowrt.enrich)
    SelfMetric("geoLookups", "flowrt_geo_lookups_total",
               "country:/asn: lookups that missed the answer cache (database reads)",
               "lookups.enrich.geo.counters.lookups"),
    SelfMetric("geoInvalid", "flowrt_geo_invalid_total",
               "country:/asn: keys whose value is not an IP address (answered null)",
               "lookups.enrich.geo.counters.invalid"),
    SelfMetric("geoCacheHits", "flowrt_geo_cache_hits_total",
               "country:/asn: answers served from the cache", "lookups.enrich.geo.cache.hits"),
    SelfMetric("geoCacheMisses", "flowrt_geo_cache_misses_total",
               "country:/asn: cache misses", "lookups.enrich.geo.cache.misses"),
    SelfMetric("geoCacheEvictions", "flowrt_geo_cache_evictions_total",
               "country:/asn: answers evicted from the full cache (flowrt.geo.cache.size)",
               "lookups.enrich.geo.cache.evictions"),
    SelfMetric("ouiLookups", "flowrt_oui_lookups_total",
               "oui: lookups that missed the answer cache", "lookups.enrich.oui.counters.lookups"),
    SelfMetric("ouiInvalid", "flowrt_oui_invalid_total",
               "oui: keys whose value is not a MAC address (answered null)",
               "lookups.enrich.oui.counters.invalid"),
    SelfMetric("ouiCacheHits", "flowrt_oui_cache_hits_total",
               "oui: answers served from the cache", "lookups.enrich.oui.cache.hits"),
    SelfMetric("ouiCacheMisses", "flowrt_oui_cache_misses_total",
               "oui: cache misses", "lookups.enrich.oui.cache.misses"),
    SelfMetric("ouiCacheEvictions", "flowrt_oui_cache_evictions_total",
               "oui: answers evicted from the full cache (flowrt.oui.cache.size)",
               "lookups.enrich.oui.cache.evictions"),
    SelfMetric("dnsLookups", "flowrt_dns_lookups_total",
               "reverse-DNS (PTR) queries sent for dns: keys",
               "lookups.enrich.dns.counters.lookups"),
    SelfMetric("dnsNames", "flowrt_dns_names_total",
               "reverse-DNS queries answered with a name", "lookups.enrich.dns.counters.names"),
    SelfMetric("dnsNegatives", "flowrt_dns_negatives_total",
               "reverse-DNS queries answered with no name (NXDOMAIN, no PTR record)",
               "lookups.enrich.dns.counters.negatives"),
    SelfMetric("dnsTimeouts", "flowrt_dns_timeouts_total",
               "reverse-DNS queries unanswered within flowrt.dns.timeout",
               "lookups.enrich.dns.counters.timeouts"),
    SelfMetric("dnsFailures", "flowrt_dns_failures_total",
               "reverse-DNS queries that failed (server error, refused, garbled reply)",
               "lookups.enrich.dns.counters.failures"),
    SelfMetric("dnsQueueDrops", "flowrt_dns_queue_drops_total",
               "dns: cache misses not queued for lookup: the queue was full"
               " (flowrt.dns.queue); the address is the key meanwhile",
               "lookups.enrich.dns.counters.drops"),
    SelfMetric("dnsPending", "flowrt_dns_pending",
               "addresses queued for or in reverse-DNS lookup", "lookups.enrich.dns.pending",
               GAUGE),
    SelfMetric("dnsCacheHits", "flowrt_dns_cache_hits_total",
               "dns: answers served from the cache (names and cached misses)",
               "lookups.enrich.dns.cache.hits"),
    SelfMetric("dnsCacheMisses", "flowrt_dns_cache_misses_total",
               "dns: cache misses (absent or expired)", "lookups.enrich.dns.cache.misses"),
    SelfMetric("dnsCacheEvictions", "flowrt_dns_cache_evictions_total",
               "dns: answers evicted from the full cache (flowrt.dns.cache.size)",
               "lookups.enrich.dns.cache.evictions"),
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
