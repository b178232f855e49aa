"""The engine facade: one object that owns all analytics state.

Sources hand it raw datagrams (:meth:`Engine.ingest_datagram`), a timer calls
:meth:`Engine.tick` about once a second, and the REST API, scripts and exporters read and
change state through the methods below. It only wires components together; each job
lives in its own module:

* :mod:`flowrt.engine.agents` - per agent/sub-agent/data source loss accounting;
* :mod:`flowrt.engine.metrics` - counter samples to named metrics and their queries;
* :mod:`flowrt.engine.flows` - flow definitions, per data source top-N tables, flow log;
* :mod:`flowrt.engine.thresholds` - thresholds over metrics and flows, the event log;
* :mod:`flowrt.engine.groups` - address groups and value maps used by key functions;
* :mod:`flowrt.engine.topology` - the network topology: edge/core ports, link names;
* :mod:`flowrt.engine.hosts` - where each MAC attaches (learned at edge ports).

Not thread-safe: one event loop owns it (scripts reach it through a thread-safe host
API). Every time-dependent method takes ``now`` in seconds so tests control the clock.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flowrt import __version__
from flowrt.bgp import BgpCounters
from flowrt.config import ConfigError, Properties
from flowrt.engine.agents import AgentTable
from flowrt.engine.flows import FlowEngine
from flowrt.engine.groups import Lookups
from flowrt.engine.hosts import HostLocator
from flowrt.engine.metric_query import parse_selection
from flowrt.engine.metrics import MetricStore
from flowrt.engine.selfmetrics import self_metric_values
from flowrt.engine.thresholds import ThresholdEngine
from flowrt.engine.topology import Topology
from flowrt.enrich import EnrichError
from flowrt.enrich import from_properties as enrichment_from_properties
from flowrt.sflow import CounterSample, DecodeError, DiscardSample, FlowSample, decode_datagram

MAX_ERROR_REASONS = 16
"""Distinct decode error reasons counted engine-wide; further ones count as ``other``."""
OTHER_REASON = "other"


@dataclass
class HttpCounters:
    """What the HTTP server refused to protect itself (kept by the server's connection
    guard and request checks; each field is declared in
    :data:`flowrt.engine.selfmetrics.SELF_METRICS`)."""

    connections: int = 0  # open now (a gauge)
    connections_refused: int = 0  # closed at once: over http.connections.max
    header_timeouts: int = 0  # closed: no complete request head within http.header.timeout
    unauthorized: int = 0  # write requests refused without the http.token bearer token


@dataclass
class ReplayCounters:
    """What an ``sflow.file`` replay skipped, by reason (the server copies its reader's
    frame statistics here: same field names)."""

    frames: int = 0  # capture records examined
    datagrams: int = 0  # UDP datagrams found and fed to the engine
    not_udp: int = 0
    fragments: int = 0
    wrong_port: int = 0
    truncated: int = 0
    unsupported_link: int = 0


@dataclass
class IngestCounters:
    """What the engine and its server have seen, for /analyzer/json and self-metrics
    (each field is declared in :data:`flowrt.engine.selfmetrics.SELF_METRICS`)."""

    datagrams: int = 0  # every datagram but duplicates, decodable or not
    bytes: int = 0  # their bytes
    decode_errors: int = 0  # every fault: whole datagrams refused and samples cut short
    datagrams_discarded: int = 0  # datagrams refused whole (not sFlow v5, bad header)
    decode_error_reasons: dict[str, int] = field(default_factory=dict)  # bounded
    flow_samples: int = 0  # delivered to flows (duplicates excluded)
    counter_samples: int = 0
    discard_samples: int = 0
    socket_drops: int = 0  # set by the UDP source from the kernel's count
    internal_errors: int = 0  # counted by the server: engine exceptions, logged
    receive_errors: int = 0  # copied by the server from the native receive thread
    native_early_flushes: int = 0  # the core's aggregation reached its key limit mid-batch
    replay: ReplayCounters = field(default_factory=ReplayCounters)
    http: HttpCounters = field(default_factory=HttpCounters)
    log_lines_suppressed: int = 0  # copied by the server from flowrt.logline's rate limiter
    log_lines_unwritten: int = 0  # copied by the server from flowrt.logline (stderr gone)

    def count_error(self, reason: str) -> None:
        """One decode fault, by reason (at most :data:`MAX_ERROR_REASONS` reasons)."""
        self.decode_errors += 1
        reasons = self.decode_error_reasons
        if reason not in reasons and len(reasons) >= MAX_ERROR_REASONS:
            reason = OTHER_REASON
        reasons[reason] = reasons.get(reason, 0) + 1


class Engine:
    """All analytics state of one FlowRT process."""

    def __init__(self, props: Properties | None = None, now: float | None = None) -> None:
        self.props = props if props is not None else Properties()
        self.started = time.time() if now is None else now
        self.counters = IngestCounters()
        self.bgp = BgpCounters()  # written by the BGP speaker when bgp.start=yes
        try:
            enrich = enrichment_from_properties(self.props)
        except EnrichError as exc:
            raise ConfigError(str(exc)) from exc
        self.lookups = Lookups(enrich)
        self.agents = AgentTable(
            max_agents=self.props.require_int("flowrt.agents.max"),
            max_datasources=self.props.require_int("flowrt.datasources.max"),
            idle_timeout=self.props.require_float("flowrt.agents.timeout"),
            max_datasources_total=self.props.require_int("flowrt.datasources.total.max"),
            datasource_timeout=self.props.require_float("flowrt.datasources.timeout"),
        )
        self.topology = self.lookups.topology  # one store, read by keys, flows, queries
        self.metrics = MetricStore.from_properties(self.props)
        self.metrics.topology = self.topology
        self.flows = FlowEngine(
            self.lookups, log_size=self.props.require_int("flows.max"),
            max_sources=self.props.require_int("flowrt.datasources.total.max"),
            max_definitions=self.props.require_int("flowrt.flows.max"),
            sample_budget=self.props.require_int("flowrt.flows.sample.budget"),
        )
        self.hosts = HostLocator(
            self.flows, self.topology,
            max_hosts=self.props.require_int("flowrt.hosts.max"),
            timeout=self.props.require_float("flowrt.hosts.timeout"),
            vendor=lambda mac: enrich.oui_lookup(mac, "name"),
        )
        self.thresholds = ThresholdEngine(events_max=self.props.require_int("events.max"))
        self.metrics.register_source(self.flows.metric_points)
        self.agents.on_forget = self._forget
        #: "reference" (this class decodes) or "native" (flowrt.engine.native drives it)
        self.ingest_path = "reference"

    def close(self) -> None:
        """Stop the engine's helper threads (the dns: resolver); state stays readable."""
        self.lookups.enrich.close()

    # --- ingest -------------------------------------------------------------------
    def ingest_datagram(self, payload: bytes, source_ip: str, now: float) -> None:
        """Decode one UDP payload and feed every sample to its consumer.

        A datagram that cannot be decoded is a counted drop attributed to its sender;
        a partly decoded one still delivers the samples that decoded. A duplicate
        datagram (same agent, sub-agent, sequence number and bytes) is dropped whole and
        a duplicate sample alone, before any flow, metric, threshold or flow log sees
        them (see :mod:`flowrt.engine.agents`); both are counted there.
        """
        counters = self.counters
        try:
            dgram = decode_datagram(payload)
        except DecodeError as err:
            counters.datagrams += 1
            counters.bytes += len(payload)
            counters.count_error(err.reason)
            counters.datagrams_discarded += 1
            self.agents.record_error(source_ip, err.reason)
            return
        admission = self.agents.observe(dgram, source_ip, now, zlib.crc32(payload))
        if admission.duplicate:
            return
        counters.datagrams += 1
        counters.bytes += len(payload)
        if admission.agent is None:
            return  # refused: over the agent cap (counted there)
        agent = dgram.agent if dgram.agent is not None else source_ip
        # A partly decoded datagram's errors are charged to the agent by ``observe``.
        for error in dgram.errors:
            counters.count_error(error.reason)
        restarted = admission.restarted
        # Once per sample: methods bound and flow samples counted in a local, added up
        # at the end (``finally``: a sample that raises still counts, as it always has).
        ingest_flow = self.flows.ingest_flow_sample
        flow_samples = 0
        try:
            for sample in admission.samples:
                kind = sample.__class__
                if kind is FlowSample:
                    flow_samples += 1
                    ingest_flow(agent, sample, now)  # type: ignore[arg-type]
                elif kind is CounterSample:
                    self.ingest_counter_sample(
                        agent, sample, dgram.uptime, now, restarted  # type: ignore[arg-type]
                    )
                elif kind is DiscardSample:
                    counters.discard_samples += 1
                    self.flows.ingest_discard_sample(agent, sample, now)  # type: ignore[arg-type]
        finally:
            counters.flow_samples += flow_samples

    def ingest_counter_sample(
        self, agent: str, sample: CounterSample, uptime: int, now: float,
        restarted: Sequence[CounterSample],
    ) -> None:
        """One admitted counter sample into the metric store; a sample whose stream the
        sequence accounting saw restart (in ``restarted``) takes no rate across it.
        Shared by the reference and native ingest paths."""
        self.counters.counter_samples += 1
        self.metrics.ingest_counters(
            agent, sample, uptime, now,
            restart=bool(restarted) and any(r is sample for r in restarted),
        )

    def tick(self, now: float) -> None:
        """Once a second: thresholds over metrics, flow log flushes, expiry."""
        self.flows.tick(now)
        self.thresholds.evaluate_metrics(self.metrics.points(now), now)
        self.thresholds.tick(now, self.flows.flow_value)
        self.metrics.expire(now)
        self.agents.expire_due(now)
        if self.topology.needs_names:  # links naming undeclared nodes/ports
            self.topology.learn(self.metrics.points(now), now)
        self.hosts.tick(now)

    def _forget(self, agent: str, datasource: str | None) -> None:
        """The agent table forgot an idle data source (or a whole agent): its counter
        metrics and flow tables go too, so idle state never outlives its timeout."""
        self.metrics.forget(agent, datasource)
        self.flows.forget(agent, datasource)

    # --- flows --------------------------------------------------------------------
    def set_flow(self, name: str, body: Mapping[str, Any]) -> None:
        """Create or replace a flow definition (raises FlowSpecError on a bad spec)."""
        self.flows.set_flow(name, body)
        self._watch_flows()

    def delete_flow(self, name: str) -> bool:
        found = self.flows.delete_flow(name)
        self._watch_flows()
        return found

    # --- thresholds ---------------------------------------------------------------
    def set_threshold(self, name: str, body: Mapping[str, Any]) -> None:
        """Create or replace a threshold (raises ThresholdError on a bad spec)."""
        self.thresholds.set_threshold(name, body)
        self._watch_flows()

    def delete_threshold(self, name: str) -> bool:
        found = self.thresholds.delete_threshold(name)
        self._watch_flows()
        return found

    def _watch_flows(self) -> None:
        """Flows with thresholds report each update, so events fire without waiting."""
        watched = self.thresholds.flow_metrics() & set(self.flows.specs())
        self.flows.watch(watched, self.thresholds.observe_flow)

    # --- topology -----------------------------------------------------------------
    def set_topology(self, body: Mapping[str, Any]) -> Topology:
        """Replace the topology (``{}`` clears it; raises TopologyError on a bad body)."""
        topology = self.topology.set(body)
        self.hosts.sync()  # host location learning runs while a topology is set
        return topology

    def get_topology(self) -> dict[str, Any]:
        """The topology as PUT (``{}`` when none is defined)."""
        return self.topology.to_json()

    # --- reading ------------------------------------------------------------------
    def active_flows(
        self, agents: str | Sequence[str], name: str, now: float, *, max_flows: int = 100,
        min_value: float = 0.0, agg_mode: str | None = None, key_filter: str | None = None,
    ) -> list[dict[str, Any]]:
        """/activeflows/{agent}/{name}/json (raises KeyError for an unknown flow).

        ``key_filter`` is a filter over the flow's own key names (``ipsource=10.0.0.1``).
        """
        return self.flows.active_flows(
            parse_selection(agents, self.topology), name, now, max_flows=max_flows,
            min_value=min_value, agg_mode=agg_mode, key_filter=key_filter,
        )

    def flow_locations(
        self, agents: str | Sequence[str], name: str, key: str, now: float
    ) -> list[dict[str, Any]]:
        """/flowlocations: the data sources holding ``key`` now, largest first."""
        return self.flows.flow_locations(parse_selection(agents, self.topology), name, key, now)

    def dump_metrics(
        self, agents: str | Sequence[str], metrics: str | Sequence[str],
        filter: Mapping[str, Any] | None, now: float,
    ) -> list[dict[str, Any]]:
        """Every metric value matching the selection, as /dump/{agent}/{metric}/json
        answers it (raises QueryError, UnknownAgentError); exporters build on it."""
        return self.metrics.dump_query(agents, metrics, filter, now)

    def analyzer(self, now: float) -> dict[str, Any]:
        """/analyzer/json: sFlow-RT's fields plus every FlowRT self-metric
        (:data:`flowrt.engine.selfmetrics.SELF_METRICS`)."""
        out: dict[str, Any] = {
            "version": __version__,
            "updateAvailable": False,
            "uptime": int((now - self.started) * 1000),
            "ingestPath": self.ingest_path,
        }
        out.update(self_metric_values(self))
        return out
