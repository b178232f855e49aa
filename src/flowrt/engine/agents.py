"""Per-agent bookkeeping: datagram and sample sequence accounting, sampling, polling.

This is what ``/agents/json`` and ``datasourceInfo()`` report. Honest loss accounting
matters: an operator must be able to tell "the network dropped 3 % of my sFlow" from
"the agent restarted" from "the collector could not decode it".

Sequence rules (one :class:`SequenceTracker` per stream: datagrams per
(agent, sub_agent_id); flow, counter and discard samples per (agent, data source)):

* the next number in order is counted as received;
* a jump forward counts the skipped numbers as lost and remembers them (bounded window);
* a number we remember as missing arriving late moves from lost to out-of-order;
* a number we have seen recently is a duplicate;
* anything else going backwards, or the agent uptime going backwards by more than
  :data:`UPTIME_SLACK_MS` (32-bit uptime wrap excepted), is a restart: the stream
  starts over and nothing is counted as lost.

Memory is bounded: at most ``max_agents`` agents (new ones beyond the cap are not
tracked and are counted in :attr:`AgentTable.agents_rejected`), ``max_datasources``
data sources per agent, and agents idle for ``idle_timeout`` seconds are forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from flowrt.sflow.model import (
    DS_IFINDEX,
    CounterSample,
    Datagram,
    DiscardSample,
    FlowSample,
    UnknownSample,
)

REORDER_WINDOW = 64  # sequence numbers remembered for late / duplicate detection
UPTIME_SLACK_MS = 10_000  # reordering never delays a datagram by this much
UPTIME_WRAP = 1 << 32  # sysUpTime is a 32-bit ms counter (~49.7 days)
POOL_WRAP = 1 << 32  # sample_pool and drops are 32-bit counters
DEFAULT_MAX_AGENTS = 10_000
DEFAULT_MAX_DATASOURCES = 4096
DEFAULT_IDLE_TIMEOUT = 3600.0
MAX_ERROR_REASONS = 16  # distinct decode error reasons kept per agent
MAX_UNATTRIBUTED_SOURCES = 1024  # UDP sources of undecodable datagrams remembered
MAX_DATAGRAM_SOURCES = 16  # UDP source addresses remembered per agent
EXPIRE_EVERY = 10.0  # seconds between lazy idle sweeps done by observe()


def datasource_name(source_type: int, index: int) -> str:
    """sFlow-RT's data source name: ifIndex sources are ``"3"``, others ``"2.1"``."""
    return str(index) if source_type == DS_IFINDEX else f"{source_type}.{index}"


class Outcome(Enum):
    """What one sequence number meant for its stream."""

    FIRST = "first"
    IN_ORDER = "in_order"
    GAP = "gap"
    DUPLICATE = "duplicate"
    LATE = "late"
    RESTART = "restart"


def uptime_went_backwards(last: int, now: int) -> bool:
    """Uptime went back by more than reordering explains, and it is not a 32-bit wrap."""
    if now >= last - UPTIME_SLACK_MS:
        return False
    wrapped = last > UPTIME_WRAP - UPTIME_SLACK_MS * 100 and now < UPTIME_SLACK_MS * 100
    return not wrapped


@dataclass(slots=True)
class SequenceTracker:
    """Loss, duplicate, out-of-order and restart counts of one sequence-numbered stream.

    Called once per datagram and once per sample, so the in-order case is a handful of
    comparisons. Within the last :data:`REORDER_WINDOW` numbers, a number at or below the
    newest one is either remembered as missing (a late arrival) or was received (a
    duplicate): no list of received numbers is needed. The missing set is pruned only
    when a gap adds to it, and lookups ignore anything older than the window.
    :meth:`DataSourceStats.add_flow` inlines the in-order step (it runs once per flow
    sample); a change to that rule must be made in both places.
    """

    received: int = 0
    lost: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    restarts: int = 0
    last: int | None = None
    last_uptime: int | None = None
    _start: int = 0  # the number the stream (re)started at: nothing before it was seen
    _missing: set[int] = field(default_factory=set)

    def observe(self, seq: int, uptime: int | None = None) -> Outcome:
        """Account for one sequence number (with the datagram's uptime, when known)."""
        self.received += 1
        last = self.last
        if last is None:
            return self._restart(seq, uptime, Outcome.FIRST)
        last_uptime = self.last_uptime
        if (
            uptime is not None
            and last_uptime is not None
            and uptime < last_uptime - UPTIME_SLACK_MS
            and uptime_went_backwards(last_uptime, uptime)
        ):
            return self._restart(seq, uptime, Outcome.RESTART)
        delta = seq - last
        if delta == 1:
            self.last = seq
            if uptime is not None:
                self.last_uptime = uptime
            return Outcome.IN_ORDER
        if delta > 1:
            self.lost += delta - 1
            floor = seq - REORDER_WINDOW
            missing = self._missing
            if missing:
                missing = self._missing = {m for m in missing if m > floor}
            missing.update(range(max(last + 1, floor + 1), seq))
            self.last = seq
            if uptime is not None:
                self.last_uptime = uptime
            return Outcome.GAP
        in_window = seq > last - REORDER_WINDOW and seq >= self._start
        if in_window and seq in self._missing:
            self._missing.discard(seq)
            self.lost -= 1
            self.out_of_order += 1
            return Outcome.LATE
        if in_window:
            self.duplicates += 1
            return Outcome.DUPLICATE
        return self._restart(seq, uptime, Outcome.RESTART)

    def _restart(self, seq: int, uptime: int | None, outcome: Outcome) -> Outcome:
        if outcome is Outcome.RESTART:
            self.restarts += 1
        self._missing.clear()
        self._start = self.last = seq
        self.last_uptime = uptime
        return outcome


@dataclass(slots=True)
class DataSourceStats:
    """One (agent, data source): its flow, counter and discard sample streams."""

    flow: SequenceTracker = field(default_factory=SequenceTracker)
    counter: SequenceTracker = field(default_factory=SequenceTracker)
    discard: SequenceTracker = field(default_factory=SequenceTracker)
    flow_drops: int = 0
    discard_drops: int = 0
    sampling_rate: int | None = None
    _last_flow_drops: int | None = None
    _last_discard_drops: int | None = None
    _pool_start: int | None = None
    _pool_last: int | None = None
    _pool_span: int = 0  # sample_pool advance since _pool_start (wrap-corrected)
    _pool_samples: int = 0  # samples received after the one that set _pool_start
    _counter_uptime: int | None = None
    polling_interval_ms: int | None = None

    def add_flow(self, sample: FlowSample, uptime: int) -> None:
        drops, pool = sample.drops, sample.sample_pool
        flow = self.flow
        seq, last, last_uptime = sample.sequence, flow.last, flow.last_uptime
        if (
            seq - 1 == last
            and (last_uptime is None or uptime >= last_uptime - UPTIME_SLACK_MS)
            and sample.sampling_rate == self.sampling_rate
        ):
            # The per-sample common case, inlined (this runs once per sampled packet):
            # SequenceTracker.observe's IN_ORDER step (next number, uptime not gone back),
            # then the drops delta and the pool advance.
            flow.received += 1
            flow.last = seq
            flow.last_uptime = uptime
            last_drops = self._last_flow_drops
            if last_drops is not None:
                self.flow_drops += drops - last_drops if drops >= last_drops else drops
            self._last_flow_drops = drops
            if self._pool_last is not None:
                self._pool_span += (pool - self._pool_last) % POOL_WRAP
                self._pool_last = pool
                self._pool_samples += 1
            return
        # everything else (the general path gives the same result for in-order too)
        outcome = flow.observe(seq, uptime)
        self.flow_drops += _counter_delta(self._last_flow_drops, drops, outcome)
        self._last_flow_drops = drops
        if outcome is Outcome.DUPLICATE:
            return
        if outcome in (Outcome.FIRST, Outcome.RESTART) or sample.sampling_rate != (
            self.sampling_rate
        ):
            self._pool_start = self._pool_last = pool
            self._pool_span = self._pool_samples = 0
        elif outcome is not Outcome.LATE and self._pool_last is not None:
            self._pool_span += (pool - self._pool_last) % POOL_WRAP
            self._pool_last = pool
            self._pool_samples += 1
        self.sampling_rate = sample.sampling_rate

    def add_counter(self, sample: CounterSample, uptime: int) -> None:
        last_seq, last_uptime = self.counter.last, self._counter_uptime
        outcome = self.counter.observe(sample.sequence, uptime)
        if outcome in (Outcome.IN_ORDER, Outcome.GAP) and last_seq is not None and (
            last_uptime is not None and uptime > last_uptime
        ):
            self.polling_interval_ms = round((uptime - last_uptime) / (sample.sequence - last_seq))
        if outcome not in (Outcome.DUPLICATE, Outcome.LATE):
            self._counter_uptime = uptime

    def add_discard(self, sample: DiscardSample, uptime: int) -> None:
        outcome = self.discard.observe(sample.sequence, uptime)
        self.discard_drops += _counter_delta(self._last_discard_drops, sample.drops, outcome)
        self._last_discard_drops = sample.drops

    @property
    def effective_sampling_rate(self) -> float | None:
        """sample_pool advance per received sample: above ``sampling_rate`` when samples
        are lost, so it is the rate that scales received samples to true totals."""
        if self._pool_samples == 0:
            return None
        return self._pool_span / self._pool_samples


def _counter_delta(last: int | None, value: int, outcome: Outcome) -> int:
    """Increase of a cumulative ``drops`` counter; the first value is only a baseline,
    and a counter that went down (agent reset) counts from zero."""
    if last is None or outcome in (Outcome.FIRST, Outcome.DUPLICATE, Outcome.LATE):
        return 0
    return value - last if value >= last else value


@dataclass(slots=True)
class AgentStats:
    """One agent address: its sub-agent streams, data sources, sources and errors."""

    first_seen: float
    last_seen: float
    uptime: int = 0
    sub_agents: dict[int, SequenceTracker] = field(default_factory=dict)
    datasources: dict[str, DataSourceStats] = field(default_factory=dict)
    #: the same objects keyed by ``source_type << 32 | index``: the per-sample lookup
    #: without formatting a name
    by_code: dict[int, DataSourceStats] = field(default_factory=dict)
    datagram_sources: dict[str, None] = field(default_factory=dict)  # ordered set
    decode_errors: int = 0
    error_reasons: dict[str, int] = field(default_factory=dict)
    datasources_rejected: int = 0

    def record_error(self, reason: str) -> None:
        self.decode_errors += 1
        if reason in self.error_reasons or len(self.error_reasons) < MAX_ERROR_REASONS:
            self.error_reasons[reason] = self.error_reasons.get(reason, 0) + 1


class AgentTable:
    """Every agent seen recently, fed one decoded datagram at a time."""

    def __init__(
        self,
        max_agents: int = DEFAULT_MAX_AGENTS,
        max_datasources: int = DEFAULT_MAX_DATASOURCES,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
    ) -> None:
        self.max_agents = max_agents
        self.max_datasources = max_datasources
        self.idle_timeout = idle_timeout
        self.agents: dict[str, AgentStats] = {}
        self.agents_rejected = 0
        self.unattributed_errors: dict[str, int] = {}
        self._next_expiry = 0.0

    def observe(self, dgram: Datagram, source_ip: str, now: float) -> AgentStats | None:
        """Account for one datagram; ``None`` when the agent cap refused a new agent.

        An agent address of type "unknown" (``dgram.agent is None``) is keyed by the
        UDP source address, the only identity left.
        """
        if now >= self._next_expiry:
            self.expire(now)
        key = dgram.agent or source_ip
        agent = self.agents.get(key)
        if agent is None:
            if len(self.agents) >= self.max_agents:
                self.agents_rejected += 1
                return None
            agent = self.agents[key] = AgentStats(first_seen=now, last_seen=now)
        agent.last_seen = now
        agent.uptime = dgram.uptime
        if source_ip not in agent.datagram_sources:
            if len(agent.datagram_sources) >= MAX_DATAGRAM_SOURCES:
                agent.datagram_sources.pop(next(iter(agent.datagram_sources)))
            agent.datagram_sources[source_ip] = None
        stream = agent.sub_agents.get(dgram.sub_agent_id)
        if stream is None:
            stream = agent.sub_agents[dgram.sub_agent_id] = SequenceTracker()
        uptime = dgram.uptime
        if stream.observe(dgram.sequence, uptime) is Outcome.DUPLICATE:
            return agent  # the same datagram again: its samples were counted already
        by_code = agent.by_code
        for sample in dgram.samples:
            kind = sample.__class__
            if kind is UnknownSample:
                continue
            code = sample.source_id_type << 32 | sample.source_id_index
            ds = by_code.get(code) or self._datasource(agent, code)
            if ds is None:
                continue
            if kind is FlowSample:
                ds.add_flow(sample, uptime)
            elif kind is CounterSample:
                ds.add_counter(sample, uptime)
            else:
                ds.add_discard(sample, uptime)
        for error in dgram.errors:
            agent.record_error(error.reason)
        return agent

    def _datasource(self, agent: AgentStats, code: int) -> DataSourceStats | None:
        """A data source seen for the first time (or refused over the cap)."""
        if len(agent.datasources) >= self.max_datasources:
            agent.datasources_rejected += 1
            return None
        name = datasource_name(code >> 32, code & 0xFFFFFFFF)
        ds = agent.datasources[name] = agent.by_code[code] = DataSourceStats()
        return ds

    def record_error(self, agent_or_source: str, reason: str) -> None:
        """Count a decode failure against the agent it came from.

        ``agent_or_source`` is the agent address when the header decoded, else the UDP
        source address: it is charged to every agent that sends from that address, or,
        if none does, kept (bounded) in :attr:`unattributed_errors`.
        """
        agent = self.agents.get(agent_or_source)
        if agent is not None:
            agent.record_error(reason)
            return
        senders = [a for a in self.agents.values() if agent_or_source in a.datagram_sources]
        for sender in senders:
            sender.record_error(reason)
        if not senders and (
            agent_or_source in self.unattributed_errors
            or len(self.unattributed_errors) < MAX_UNATTRIBUTED_SOURCES
        ):
            self.unattributed_errors[agent_or_source] = (
                self.unattributed_errors.get(agent_or_source, 0) + 1
            )

    def expire(self, now: float) -> list[str]:
        """Forget agents idle longer than the timeout; returns their addresses."""
        self._next_expiry = now + min(EXPIRE_EVERY, self.idle_timeout)
        gone = [k for k, a in self.agents.items() if now - a.last_seen > self.idle_timeout]
        for key in gone:
            del self.agents[key]
        return gone

    def to_json(self, now: float, agents: list[str] | None = None) -> dict[str, dict[str, Any]]:
        """The ``/agents/json`` body (optionally only the named agents)."""
        keys = self.agents if agents is None else [a for a in agents if a in self.agents]
        return {key: _agent_json(self.agents[key], now) for key in keys}

    def datasource_info(self, agent: str, datasource: str) -> dict[str, Any] | None:
        """``datasourceInfo(agent, ds)`` for scripts; ``None`` when never seen."""
        stats = self.agents.get(agent)
        ds = stats.datasources.get(datasource) if stats else None
        if ds is None:
            return None
        info: dict[str, Any] = {
            "flowSamples": ds.flow.received,
            "counterSamples": ds.counter.received,
            "discardSamples": ds.discard.received,
        }
        if ds.sampling_rate is not None:
            info["samplingRate"] = ds.sampling_rate
        if ds.effective_sampling_rate is not None:
            info["effectiveSamplingRate"] = ds.effective_sampling_rate
        if ds.polling_interval_ms is not None:
            info["effectivePollingInterval"] = ds.polling_interval_ms
        return info


def _sum(trackers: list[SequenceTracker], attr: str) -> int:
    return sum(getattr(t, attr) for t in trackers)


def _agent_json(agent: AgentStats, now: float) -> dict[str, Any]:
    streams = list(agent.sub_agents.values())
    out: dict[str, Any] = {
        "sFlowDatagramsReceived": _sum(streams, "received"),
        "sFlowDatagramsLost": _sum(streams, "lost"),
        "sFlowDatagramsOutOfOrder": _sum(streams, "out_of_order"),
        "sFlowDatagramsDuplicates": _sum(streams, "duplicates"),
        "sFlowDatagramSource": list(agent.datagram_sources),
    }
    sources = list(agent.datasources.values())
    for label, kind, drops in (
        ("Flow", "flow", "flow_drops"),
        ("Counter", "counter", None),
        ("Notification", "discard", "discard_drops"),
    ):
        trackers = [getattr(ds, kind) for ds in sources]
        out[f"sFlow{label}Samples"] = _sum(trackers, "received")
        out[f"sFlow{label}LostSamples"] = _sum(trackers, "lost")
        out[f"sFlow{label}DuplicateSamples"] = _sum(trackers, "duplicates")
        out[f"sFlow{label}OutOfOrderSamples"] = _sum(trackers, "out_of_order")
        if drops is not None:
            out[f"sFlow{label}Drops"] = sum(getattr(ds, drops) for ds in sources)
        out[f"sFlow{label}Datasources"] = sum(1 for t in trackers if t.received)
    out["firstSeen"] = round((now - agent.first_seen) * 1000)
    out["lastSeen"] = round((now - agent.last_seen) * 1000)
    out["uptime"] = agent.uptime
    # FlowRT extras (names sFlow-RT does not use)
    out["sFlowDecodeErrors"] = agent.decode_errors
    out["sFlowDecodeErrorReasons"] = dict(agent.error_reasons)
    out["sFlowDatagramRestarts"] = _sum(streams, "restarts")
    out["sFlowSampleRestarts"] = sum(
        ds.flow.restarts + ds.counter.restarts + ds.discard.restarts for ds in sources
    )
    out["sFlowDatasourcesRejected"] = agent.datasources_rejected
    out["sFlowSubAgents"] = {
        str(sub_id): {
            "sequence": t.last,
            "datagramsReceived": t.received,
            "datagramsLost": t.lost,
            "datagramsOutOfOrder": t.out_of_order,
            "datagramsDuplicates": t.duplicates,
            "restarts": t.restarts,
        }
        for sub_id, t in agent.sub_agents.items()
    }
    return out
