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
* :mod:`flowrt.engine.topology` - the network topology: edge/core ports, link names.

Not thread-safe: one event loop owns it (scripts reach it through a thread-safe host
API). Every time-dependent method takes ``now`` in seconds so tests control the clock.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flowrt import __version__
from flowrt.config import Properties
from flowrt.engine.agents import AgentTable
from flowrt.engine.flows import FlowEngine
from flowrt.engine.groups import Lookups
from flowrt.engine.metric_query import parse_selection
from flowrt.engine.metrics import MetricStore
from flowrt.engine.thresholds import ThresholdEngine
from flowrt.engine.topology import Topology
from flowrt.sflow import CounterSample, DecodeError, DiscardSample, FlowSample, decode_datagram


@dataclass
class IngestCounters:
    """What the engine itself has seen, for /analyzer/json and self-metrics."""

    datagrams: int = 0
    bytes: int = 0
    decode_errors: int = 0  # every fault: whole datagrams refused and samples cut short
    datagrams_discarded: int = 0  # datagrams refused whole (not sFlow v5, bad header)
    flow_samples: int = 0
    counter_samples: int = 0
    discard_samples: int = 0
    socket_drops: int = 0  # set by the UDP source from the kernel's count


class Engine:
    """All analytics state of one FlowRT process."""

    def __init__(self, props: Properties | None = None, now: float | None = None) -> None:
        self.props = props if props is not None else Properties()
        self.started = time.time() if now is None else now
        self.counters = IngestCounters()
        self.lookups = Lookups()
        self.agents = AgentTable(
            max_agents=self.props.get_int("flowrt.agents.max"),
            max_datasources=self.props.get_int("flowrt.datasources.max"),
            idle_timeout=self.props.get_float("flowrt.agents.timeout"),
        )
        self.topology = self.lookups.topology  # one store, read by keys, flows, queries
        self.metrics = MetricStore()
        self.metrics.topology = self.topology
        self.flows = FlowEngine(self.lookups, log_size=self.props.get_int("flows.max"))
        self.thresholds = ThresholdEngine(events_max=self.props.get_int("events.max"))
        self.metrics.register_source(self.flows.metric_points)
        #: "reference" (this class decodes) or "native" (flowrt.engine.native drives it)
        self.ingest_path = "reference"

    # --- ingest -------------------------------------------------------------------
    def ingest_datagram(self, payload: bytes, source_ip: str, now: float) -> None:
        """Decode one UDP payload and feed every sample to its consumer.

        A datagram that cannot be decoded is a counted drop attributed to its sender;
        a partly decoded one still delivers the samples that decoded.
        """
        counters = self.counters
        counters.datagrams += 1
        counters.bytes += len(payload)
        try:
            dgram = decode_datagram(payload)
        except DecodeError as err:
            counters.decode_errors += 1
            counters.datagrams_discarded += 1
            self.agents.record_error(source_ip, err.reason)
            return
        agent = dgram.agent if dgram.agent is not None else source_ip
        if self.agents.observe(dgram, source_ip, now) is None:
            return  # refused: over the agent or data source cap (counted there)
        # A partly decoded datagram's errors are charged to the agent by ``observe``.
        counters.decode_errors += len(dgram.errors)
        # Once per sample: methods bound and flow samples counted in a local, added up
        # at the end (``finally``: a sample that raises still counts, as it always has).
        ingest_flow = self.flows.ingest_flow_sample
        flow_samples = 0
        try:
            for sample in dgram.samples:
                kind = sample.__class__
                if kind is FlowSample:
                    flow_samples += 1
                    ingest_flow(agent, sample, now)
                elif kind is CounterSample:
                    counters.counter_samples += 1
                    self.metrics.ingest_counters(agent, sample, dgram.uptime, now)
                elif kind is DiscardSample:
                    counters.discard_samples += 1
                    self.flows.ingest_discard_sample(agent, sample, now)
        finally:
            counters.flow_samples += flow_samples

    def tick(self, now: float) -> None:
        """Once a second: thresholds over metrics, flow log flushes, expiry."""
        self.flows.tick(now)
        self.thresholds.evaluate_metrics(self.metrics.points(now), now)
        self.thresholds.tick(now, self.flows.flow_value)
        self.metrics.expire(now)
        self.agents.expire(now)
        if self.topology.needs_names:  # links naming undeclared nodes/ports
            self.topology.learn(self.metrics.points(now), now)

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
        return self.topology.set(body)

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

    def analyzer(self, now: float) -> dict[str, Any]:
        """/analyzer/json: sFlow-RT's fields plus FlowRT's own loss and error counters."""
        c = self.counters
        return {
            "version": __version__,
            "updateAvailable": False,
            "uptime": int((now - self.started) * 1000),
            "sFlowAgents": len(self.agents.to_json(now)),
            "sFlowBytesReceived": c.bytes,
            "sFlowDatagramsReceived": c.datagrams,
            "sFlowDatagramsDiscarded": c.datagrams_discarded,
            "sFlowFlowSamples": c.flow_samples,
            "sFlowCounterSamples": c.counter_samples,
            "sFlowDiscardSamples": c.discard_samples,
            "sFlowDecodeErrors": c.decode_errors,
            "sFlowSocketDrops": c.socket_drops,
            "ingestPath": self.ingest_path,
        }
