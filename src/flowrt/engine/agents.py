"""Per-agent bookkeeping: datagram and sample sequence accounting, sampling, polling.

This is what ``/agents/json`` and ``datasourceInfo()`` report, and what decides which
datagrams and samples reach flows and metrics at all. Honest accounting matters: an
operator must be able to tell "the network dropped 3 % of my sFlow" from "the network
duplicated it" from "the agent restarted" from "the collector could not decode it".

Streams
-------
One :class:`SequenceTracker` per sequence-numbered stream:

* datagrams, per (agent, sub_agent_id): ``sequence_number`` of the datagram header;
* flow_sample, counters_sample and discard (sflow_drops) samples, per (agent, data
  source): each sample's ``sequence_number``.

Each number comes with a *fingerprint*, an unsigned 32-bit value that a byte-identical copy
repeats and a different datagram or sample almost never does, and with the datagram's
``uptime`` (agent sysUpTime, ms, 32 bits):

====================  ==========================================================
stream                fingerprint
====================  ==========================================================
datagram              ``zlib.crc32`` of the whole UDP payload (the engine passes
                      it; :meth:`AgentTable.observe` falls back to ``uptime``)
flow_sample           ``sample_pool``
counters_sample       a hash of the decoded records' field values
                      (:func:`counter_fingerprint`; a native port hashes the
                      sample's bytes: only equality matters)
discard sample        ``zlib.crc32`` of the decoded sample's ``repr``
====================  ==========================================================

The rule (the reference: a native ingest core must count identically)
----------------------------------------------------------------------
Constants: ``W`` = :data:`REORDER_WINDOW` (64, a power of two), ``J`` =
:data:`UPTIME_JITTER_MS` (1 000), ``S`` = :data:`UPTIME_SLACK_MS` (10 000), ``M`` =
:data:`UPTIME_WRAP_MARGIN_MS` (1 000 000). Sequence numbers are 32-bit and may wrap:
``d = signed32(seq - head)`` with ``signed32(x) = ((x + 2**31) mod 2**32) - 2**31``.

How far the uptime went back, ``back`` (:func:`uptime_back`): unknown when either the
head's uptime or this one is 0 or absent (agents that do not report it); else
``head_uptime - uptime``, except that a head uptime of at least ``2**32 - M`` followed by
an uptime below ``M`` is the 32-bit sysUpTime wrapping (``back`` is then negative:
forward). Unknown compares as "not greater" below, except in 5b.

State: ``head`` (the highest number of the current run, or none), ``head_uptime``, and a
ring of ``W`` slots, slot ``seq mod W`` describing number ``seq`` for the ``W`` numbers
ending at ``head``: its fingerprint if received, ``MISSING`` if skipped by a gap,
``NEVER`` if before the run started. Counts: ``received``, ``lost``, ``duplicates``,
``out_of_order``, ``restarts``.

``observe(seq, fp, uptime)``, first match wins:

1. no ``head`` → **FIRST** (or **RESTART** when :meth:`SequenceTracker.force_restart`
   was called since): start a run at ``seq``.
2. ``d > 0`` (ahead) and ``back > J`` → **RESTART**: a later number can only carry a
   lower uptime if the agent started again.
3. ``d == 1`` → **IN_ORDER**; ``d > 1`` → **GAP**: ``lost += d - 1`` and the skipped
   numbers among the last ``W`` become ``MISSING``. Either way ``head = seq``,
   ``head_uptime = uptime`` and the slot of ``seq`` takes ``fp``.
4. ``-W < d <= 0`` and the slot of ``seq`` is not ``NEVER`` (a remembered number):

   a. slot ``MISSING`` → **LATE**: ``lost -= 1``, ``out_of_order += 1``, the slot takes
      ``fp`` (a reordered datagram fills the gap it left: neither loss nor duplicate);
   b. slot equals ``fp`` → **DUPLICATE**: ``duplicates += 1``; the caller drops it;
   c. otherwise → **RESTART**: the agent reused a number with other contents (a
      restart after a run short enough for its first numbers to be remembered).

5. otherwise (older than the ring, or before the run's first number):

   a. ``back > S`` → **RESTART**;
   b. ``0 <= seq < W`` (back near the start) and (``back > J`` or ``back`` unknown) →
      **RESTART**;
   c. else → **STALE**: ``out_of_order += 1``; too old to tell a late arrival from a
      copy, so it is delivered and ``lost`` is left as it was (a reordered datagram
      from before the collector started listening is one).

``received`` counts every outcome except DUPLICATE. A RESTART counts ``restarts += 1``
and nothing as lost, and starts a new run at ``seq`` (``head = seq``, ring all
``NEVER`` but the slot of ``seq``). DUPLICATE and STALE leave ``head``, its uptime and
the ring unchanged; LATE changes only its slot.

Coupling: when a sub-agent's datagram stream restarts, every data source last seen in
that sub-agent's datagrams restarts too (the next sample of each of its three sample
streams is a RESTART), because an agent that starts again numbers its samples afresh,
even where a restarted sample's fingerprint happens to equal the old one's (a
deterministic sampler's ``sample_pool``, an idle interface's counters).

Known limits: a restart whose first received number lands on a number the old run
lost, within ``W`` of the old head and with an uptime not lower by more than ``J``, reads
as a late arrival; a datagram reordered by more than ``W`` numbers is STALE (or, with a
sequence number below ``W``, a RESTART).

Memory is bounded, because anyone who can reach the sFlow port can claim any agent
address (it is a field inside the datagram): at most ``max_agents`` agents (new ones
beyond the cap are not tracked and are counted in
:attr:`AccountingTotals.agents_rejected`), ``max_datasources`` data sources per agent
and ``max_datasources_total`` data sources over all agents (refusals counted in
``datasources_rejected`` and ``datasources_total_rejected``); agents idle for
``idle_timeout`` seconds are forgotten, and so are the data sources of a live agent that
sent nothing for ``datasource_timeout`` seconds (counted in ``agents_expired`` and
``datasources_expired``). Table-wide totals (:class:`AccountingTotals`) are cumulative
and survive the expiry of the agents they came from.
"""

from __future__ import annotations

import zlib
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from operator import attrgetter
from typing import Any, NamedTuple

from flowrt.sflow.model import (
    DS_IFINDEX,
    CounterSample,
    Datagram,
    DiscardSample,
    FlowSample,
    Sample,
    UnknownSample,
)

REORDER_WINDOW = 64  # sequence numbers remembered (ring slots) per stream; a power of two
_MASK = REORDER_WINDOW - 1
UPTIME_JITTER_MS = 1_000  # a later number's uptime may read this much lower (clock jitter)
UPTIME_SLACK_MS = 10_000  # reordering never delays a datagram by this much
UPTIME_WRAP = 1 << 32  # sysUpTime is a 32-bit ms counter (~49.7 days)
UPTIME_WRAP_MARGIN_MS = 1_000_000  # an uptime this close below 2**32, then this close
# above 0, wrapped
POOL_WRAP = 1 << 32  # sample_pool and drops are 32-bit counters
MISSING = -1  # ring slot: skipped by a gap, not yet arrived
NEVER = -2  # ring slot: before the current run started
DEFAULT_MAX_AGENTS = 10_000
DEFAULT_MAX_DATASOURCES = 4096
DEFAULT_MAX_DATASOURCES_TOTAL = 20_000
DEFAULT_IDLE_TIMEOUT = 3600.0
DEFAULT_DATASOURCE_TIMEOUT = 3600.0
MAX_ERROR_REASONS = 16  # distinct decode error reasons kept per agent
MAX_UNATTRIBUTED_SOURCES = 1024  # UDP sources of undecodable datagrams remembered
MAX_DATAGRAM_SOURCES = 16  # UDP source addresses remembered per agent
EXPIRE_EVERY = 10.0  # seconds between lazy idle sweeps done by observe()
_HALF = 1 << 31
_U32 = 0xFFFFFFFF


def datasource_name(source_type: int, index: int) -> str:
    """sFlow-RT's data source name: ifIndex sources are ``"3"``, others ``"2.1"``."""
    return str(index) if source_type == DS_IFINDEX else f"{source_type}.{index}"


def signed32(value: int) -> int:
    """A difference of two 32-bit counters, read as the signed distance (wrap-safe)."""
    return ((value + _HALF) & _U32) - _HALF


class Outcome(Enum):
    """What one sequence number meant for its stream (see the module docstring)."""

    FIRST = "first"
    IN_ORDER = "in_order"
    GAP = "gap"
    DUPLICATE = "duplicate"
    LATE = "late"
    STALE = "stale"
    RESTART = "restart"


_IN_ORDER, _DUPLICATE, _RESTART = Outcome.IN_ORDER, Outcome.DUPLICATE, Outcome.RESTART
#: the compiled FlowStream's outcome codes, in order
_OUTCOMES = (
    Outcome.FIRST, Outcome.IN_ORDER, Outcome.GAP, Outcome.DUPLICATE, Outcome.LATE,
    Outcome.STALE, Outcome.RESTART,
)


def uptime_went_backwards(last: int, now: int) -> bool:
    """Uptime went back by more than reordering explains, and it is not a 32-bit wrap.

    The metric store's restart test for counter rates (sequence accounting uses
    :func:`signed32` differences instead).
    """
    if now >= last - UPTIME_SLACK_MS:
        return False
    wrapped = last > UPTIME_WRAP - UPTIME_SLACK_MS * 100 and now < UPTIME_SLACK_MS * 100
    return not wrapped


def uptime_back(last: int | None, now: int | None) -> int | None:
    """How many ms the uptime went back from ``last`` to ``now`` (negative: forward);
    None when either is unknown (0 or absent). A 32-bit wrap is forward."""
    if not last or not now:
        return None
    back = last - now
    if back > 0 and last >= UPTIME_WRAP - UPTIME_WRAP_MARGIN_MS and now < UPTIME_WRAP_MARGIN_MS:
        back -= UPTIME_WRAP
    return back


@dataclass(slots=True)
class StreamTotals:
    """Cumulative counts over every stream of one kind (all agents, expired ones too)."""

    lost: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    restarts: int = 0


@dataclass(slots=True)
class SequenceTracker:
    """Loss, duplicate, out-of-order and restart counts of one sequence-numbered stream.

    Implements the rule of the module docstring. Called once per datagram and once per
    sample, so the in-order case is a few comparisons and one ring store;
    :meth:`DataSourceStats.add_flow` inlines that step (it runs once per flow sample):
    a change to the rule must be made in both places. ``totals``, when given, also
    receives every lost, duplicate, out-of-order and restart count.
    """

    received: int = 0
    lost: int = 0
    duplicates: int = 0
    out_of_order: int = 0
    restarts: int = 0
    last: int | None = None  # the head: highest number of the current run
    last_uptime: int | None = None
    totals: StreamTotals | None = None
    _ring: array[int] | None = None  # array('q') of REORDER_WINDOW slots, made on first use
    _pending_restart: bool = False

    def observe(self, seq: int, fingerprint: int, uptime: int | None = None) -> Outcome:
        """Account for one sequence number with its fingerprint and datagram uptime."""
        last = self.last
        if last is None:
            if self._pending_restart:
                self._pending_restart = False
                return self._start(seq, fingerprint, uptime, Outcome.RESTART)
            return self._start(seq, fingerprint, uptime, Outcome.FIRST)
        ring = self._ring
        assert ring is not None
        back = uptime_back(self.last_uptime, uptime)
        delta = signed32(seq - last)
        if delta > 0:
            if back is not None and back > UPTIME_JITTER_MS:
                return self._start(seq, fingerprint, uptime, Outcome.RESTART)
            self.received += 1
            outcome = Outcome.IN_ORDER
            if delta > 1:
                outcome = Outcome.GAP
                self.lost += delta - 1
                if self.totals is not None:
                    self.totals.lost += delta - 1
                for k in range(max(1, delta - REORDER_WINDOW + 1), delta):
                    ring[(last + k) & _MASK] = MISSING
            ring[seq & _MASK] = fingerprint
            self.last = seq & _U32
            self.last_uptime = uptime
            return outcome
        slot = ring[seq & _MASK] if -delta < REORDER_WINDOW else NEVER
        totals = self.totals
        if slot == MISSING:
            ring[seq & _MASK] = fingerprint
            self.received += 1
            self.lost -= 1
            self.out_of_order += 1
            if totals is not None:
                totals.lost -= 1
                totals.out_of_order += 1
            return Outcome.LATE
        if slot == fingerprint:
            self.duplicates += 1
            if totals is not None:
                totals.duplicates += 1
            return Outcome.DUPLICATE
        if (
            slot != NEVER
            or (back is not None and back > UPTIME_SLACK_MS)
            or (0 <= seq < REORDER_WINDOW and (back is None or back > UPTIME_JITTER_MS))
        ):
            return self._start(seq, fingerprint, uptime, Outcome.RESTART)
        self.received += 1
        self.out_of_order += 1
        if totals is not None:
            totals.out_of_order += 1
        return Outcome.STALE

    def force_restart(self) -> None:
        """The agent started again (its datagram stream said so): the next number
        starts a new run and counts as a restart, whatever it is."""
        if self.last is not None:
            self.last = None
            self._pending_restart = True

    def _start(self, seq: int, fingerprint: int, uptime: int | None, outcome: Outcome) -> Outcome:
        """Begin a (new) run at ``seq``: FIRST, or RESTART (counted, nothing lost)."""
        self.received += 1
        if outcome is Outcome.RESTART:
            self.restarts += 1
            if self.totals is not None:
                self.totals.restarts += 1
        ring = self._ring
        if ring is None:
            ring = self._ring = array("q", [NEVER]) * REORDER_WINDOW
        else:
            for i in range(REORDER_WINDOW):
                ring[i] = NEVER
        ring[seq & _MASK] = fingerprint
        self.last = seq & _U32
        self.last_uptime = uptime
        return outcome


_RECORD_READERS: dict[type, Callable[[Any], Any]] = {}


def _record_reader(cls: type) -> Callable[[Any], Any]:
    """All of a record class's fields in one call (``attrgetter`` over its fields)."""
    reader = _RECORD_READERS.get(cls)
    if reader is None:
        names = [f.name for f in fields(cls)] if is_dataclass(cls) else []
        reader = _RECORD_READERS[cls] = attrgetter(*names) if names else repr
    return reader


def counter_fingerprint(sample: CounterSample) -> int:
    """A counters_sample's fingerprint: equal for byte-identical copies.

    The hash of its records' field values (records with list fields fall back to a
    CRC-32 of their ``repr``); only equality within one process matters.
    """
    records = sample.records
    try:
        return hash(tuple([_record_reader(r.__class__)(r) for r in records])) & _U32
    except TypeError:  # a list among the fields
        return zlib.crc32(repr(records).encode())


def discard_fingerprint(sample: DiscardSample) -> int:
    """A discard sample's fingerprint: equal for byte-identical copies."""
    return zlib.crc32(repr(sample).encode())


@dataclass(slots=True)
class AccountingTotals:
    """Table-wide cumulative counts: what ``/analyzer/json`` and Prometheus export.

    Per-agent counts vanish when an idle agent expires; these never go down.
    """

    datagrams: StreamTotals = field(default_factory=StreamTotals)
    flow: StreamTotals = field(default_factory=StreamTotals)
    counter: StreamTotals = field(default_factory=StreamTotals)
    discard: StreamTotals = field(default_factory=StreamTotals)
    agents_rejected: int = 0  # datagrams of new agents refused at the agent cap
    datasources_rejected: int = 0  # samples of data sources refused at the per-agent cap
    datasources_total_rejected: int = 0  # samples of data sources refused at the total cap
    agents_expired: int = 0  # agents forgotten after idle_timeout without a datagram
    datasources_expired: int = 0  # data sources forgotten (idle, or their agent expired)
    flow_drops: int = 0  # packets agents report they could not sample (drops deltas)
    discard_drops: int = 0  # dropped packets agents report they did not sample


@dataclass(slots=True)
class DataSourceStats:
    """One (agent, data source): its flow, counter and discard sample streams."""

    flow: SequenceTracker
    counter: SequenceTracker
    discard: SequenceTracker
    totals: AccountingTotals
    flow_drops: int = 0
    discard_drops: int = 0
    sampling_rate: int | None = None
    #: the sub-agent stream whose datagrams last carried this data source, and its
    #: restart count then (see "Coupling" in the module docstring)
    stream: SequenceTracker | None = None
    epoch: int = 0
    _last_flow_drops: int | None = None
    _last_discard_drops: int | None = None
    _pool_start: int | None = None
    _pool_last: int | None = None
    _pool_span: int = 0  # sample_pool advance since _pool_start (wrap-corrected)
    _pool_samples: int = 0  # samples received after the one that set _pool_start
    _counter_uptime: int | None = None
    polling_interval_ms: int | None = None
    last_seen: float = 0.0  # when a sample of it last arrived (idle expiry)

    @classmethod
    def new(
        cls, totals: AccountingTotals, flow_stream: Callable[[StreamTotals], Any] | None = None
    ) -> DataSourceStats:
        """``flow_stream``: the compiled core's ``FlowStream`` (the flow stream's tracker,
        drops and sample_pool bookkeeping in C, same rule), or None for the Python one."""
        flow = SequenceTracker(totals=totals.flow) if flow_stream is None else flow_stream(
            totals.flow
        )
        return cls(
            flow, SequenceTracker(totals=totals.counter),
            SequenceTracker(totals=totals.discard), totals,
        )

    def restart(self) -> None:
        """The agent restarted: each sample stream starts a new run (see the docstring)."""
        self.flow.force_restart()
        self.counter.force_restart()
        self.discard.force_restart()

    def add_flow(self, sample: FlowSample, uptime: int) -> Outcome:
        drops, pool = sample.drops, sample.sample_pool
        flow = self.flow
        if flow.__class__ is not SequenceTracker:  # the compiled FlowStream: same rule
            return _OUTCOMES[flow.add_flow(  # type: ignore[attr-defined]
                self, sample.sequence, pool, drops, sample.sampling_rate, uptime
            )]
        seq, last, last_uptime = sample.sequence, flow.last, flow.last_uptime
        if (
            seq - 1 == last
            and (not last_uptime or uptime >= last_uptime - UPTIME_JITTER_MS)
            and sample.sampling_rate == self.sampling_rate
        ):
            # The per-sample common case, inlined (this runs once per sampled packet):
            # SequenceTracker.observe's IN_ORDER step (next number, uptime not gone back
            # by more than the jitter, or unknown; a wrap takes the general path, which
            # agrees), fingerprint stored, then the drops delta and the pool advance.
            flow.received += 1
            flow.last = seq
            flow.last_uptime = uptime
            flow._ring[seq & _MASK] = pool  # type: ignore[index]
            last_drops = self._last_flow_drops
            if last_drops is not None and drops != last_drops:
                delta = drops - last_drops if drops >= last_drops else drops
                self.flow_drops += delta
                self.totals.flow_drops += delta
            self._last_flow_drops = drops
            if self._pool_last is not None:
                self._pool_span += (pool - self._pool_last) % POOL_WRAP
                self._pool_last = pool
                self._pool_samples += 1
            return _IN_ORDER
        # everything else (the general path gives the same result for in-order too)
        outcome = flow.observe(seq, pool, uptime)
        if outcome is Outcome.DUPLICATE:
            return outcome
        delta = _counter_delta(self._last_flow_drops, drops, outcome)
        self.flow_drops += delta
        self.totals.flow_drops += delta
        if outcome not in (Outcome.LATE, Outcome.STALE):
            self._last_flow_drops = drops
        if outcome in (Outcome.FIRST, Outcome.RESTART) or sample.sampling_rate != (
            self.sampling_rate
        ):
            self._pool_start = self._pool_last = pool
            self._pool_span = self._pool_samples = 0
        elif outcome not in (Outcome.LATE, Outcome.STALE) and self._pool_last is not None:
            self._pool_span += (pool - self._pool_last) % POOL_WRAP
            self._pool_last = pool
            self._pool_samples += 1
        self.sampling_rate = sample.sampling_rate
        return outcome

    def add_counter(self, sample: CounterSample, uptime: int) -> Outcome:
        last_seq, last_uptime = self.counter.last, self._counter_uptime
        outcome = self.counter.observe(sample.sequence, counter_fingerprint(sample), uptime)
        if outcome in (Outcome.IN_ORDER, Outcome.GAP) and last_seq is not None and (
            last_uptime is not None and uptime > last_uptime
        ):
            gap = signed32(sample.sequence - last_seq)
            self.polling_interval_ms = round((uptime - last_uptime) / gap)
        if outcome not in (Outcome.DUPLICATE, Outcome.LATE, Outcome.STALE):
            self._counter_uptime = uptime
        return outcome

    def add_discard(self, sample: DiscardSample, uptime: int) -> Outcome:
        outcome = self.discard.observe(sample.sequence, discard_fingerprint(sample), uptime)
        if outcome is Outcome.DUPLICATE:
            return outcome
        delta = _counter_delta(self._last_discard_drops, sample.drops, outcome)
        self.discard_drops += delta
        self.totals.discard_drops += delta
        if outcome not in (Outcome.LATE, Outcome.STALE):
            self._last_discard_drops = sample.drops
        return outcome

    @property
    def effective_sampling_rate(self) -> float | None:
        """sample_pool advance per received sample: above ``sampling_rate`` when samples
        are lost, so it is the rate that scales received samples to true totals."""
        if self.flow.__class__ is not SequenceTracker:
            rate: float | None = self.flow.effective_sampling_rate  # type: ignore[attr-defined]
            return rate
        if self._pool_samples == 0:
            return None
        return self._pool_span / self._pool_samples


def _counter_delta(last: int | None, value: int, outcome: Outcome) -> int:
    """Increase of a cumulative ``drops`` counter; the first value is only a baseline,
    a late or stale sample adds nothing (a later one already counted past it), and a
    counter that went down (agent reset) counts from zero."""
    if last is None or outcome in (Outcome.FIRST, Outcome.LATE, Outcome.STALE):
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


class Admission(NamedTuple):
    """What :meth:`AgentTable.observe` decided for one datagram.

    ``samples`` are the samples to deliver to flows and metrics: the datagram's own list
    when none was a duplicate, a shorter copy otherwise, empty for a duplicate datagram.
    ``agent`` is None when the agent cap refused the agent (nothing is delivered then).
    ``restarted`` holds the counter samples that began a new run of their stream after
    one already existed (a restart): the metric store must not take rates across them.
    """

    agent: AgentStats | None
    samples: list[Sample]
    duplicate: bool = False
    restarted: tuple[CounterSample, ...] = ()


_REFUSED = Admission(None, [])
_NOTHING: list[Sample] = []


class AgentTable:
    """Every agent seen recently, fed one decoded datagram at a time."""

    def __init__(
        self,
        max_agents: int = DEFAULT_MAX_AGENTS,
        max_datasources: int = DEFAULT_MAX_DATASOURCES,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        max_datasources_total: int = DEFAULT_MAX_DATASOURCES_TOTAL,
        datasource_timeout: float = DEFAULT_DATASOURCE_TIMEOUT,
    ) -> None:
        self.max_agents = max_agents
        self.max_datasources = max_datasources
        self.max_datasources_total = max_datasources_total
        self.idle_timeout = idle_timeout
        self.datasource_timeout = datasource_timeout
        self.datasource_count = 0  # data sources over every agent (a gauge)
        self.agents: dict[str, AgentStats] = {}
        self.totals = AccountingTotals()
        self.unattributed_errors: dict[str, int] = {}
        self._next_expiry = 0.0
        #: the compiled core's FlowStream type when the native path runs (data sources
        #: made from then on account their flow samples in C), else None
        self.flow_stream: Callable[[StreamTotals], Any] | None = None
        #: called with (agent, data source name) for each data source forgotten, then
        #: (agent, None) for each agent: the engine drops their metrics and flow tables
        self.on_forget: Callable[[str, str | None], None] | None = None

    @property
    def agents_rejected(self) -> int:
        return self.totals.agents_rejected

    @property
    def agent_count(self) -> int:
        """Agents tracked now (idle ones expire)."""
        return len(self.agents)

    def observe(
        self, dgram: Datagram, source_ip: str, now: float, fingerprint: int | None = None
    ) -> Admission:
        """Account for one datagram and say which of its samples to deliver.

        ``fingerprint`` identifies the datagram's bytes (the engine passes the payload's
        CRC-32; without it the uptime stands in). An agent address of type "unknown"
        (``dgram.agent is None``) is keyed by the UDP source address, the only identity
        left.
        """
        key = dgram.agent or source_ip
        agent, stream, outcome = self.admit(
            key, dgram.sub_agent_id, dgram.sequence, dgram.uptime, source_ip, now,
            fingerprint,
        )
        if agent is None:
            return _REFUSED
        if outcome is Outcome.DUPLICATE:
            return Admission(agent, _NOTHING, duplicate=True)  # counted in the stream
        assert stream is not None
        return self.observe_samples(agent, stream, dgram, now)

    def admit(
        self, key: str, sub_agent_id: int, sequence: int, uptime: int, source_ip: str,
        now: float, fingerprint: int | None = None,
    ) -> tuple[AgentStats | None, SequenceTracker | None, Outcome | None]:
        """The datagram-level half of :meth:`observe`: the agent (None: refused at the
        cap), its sub-agent stream and that stream's outcome for the datagram (a
        DUPLICATE datagram delivers nothing). The native path calls it, then accounts
        the samples in the core (or :meth:`observe_samples`)."""
        if now >= self._next_expiry:
            self.expire(now)
        agent = self.agents.get(key)
        if agent is None:
            if len(self.agents) >= self.max_agents:
                self.totals.agents_rejected += 1
                return None, None, None
            agent = self.agents[key] = AgentStats(first_seen=now, last_seen=now)
        agent.last_seen = now
        if source_ip not in agent.datagram_sources:
            if len(agent.datagram_sources) >= MAX_DATAGRAM_SOURCES:
                agent.datagram_sources.pop(next(iter(agent.datagram_sources)))
            agent.datagram_sources[source_ip] = None
        stream = agent.sub_agents.get(sub_agent_id)
        if stream is None:  # the compiled tracker while the native path runs
            totals = self.totals.datagrams
            stream = agent.sub_agents[sub_agent_id] = (
                SequenceTracker(totals=totals) if self.flow_stream is None
                else self.flow_stream(totals)
            )
        outcome = stream.observe(sequence, uptime if fingerprint is None else fingerprint, uptime)
        if outcome.__class__ is int:  # FlowStream: the Outcome's index
            outcome = _OUTCOMES[outcome]
        if outcome is not Outcome.DUPLICATE and outcome is not Outcome.STALE and (
            outcome is not Outcome.LATE
        ):
            agent.uptime = uptime
        return agent, stream, outcome

    def observe_samples(
        self, agent: AgentStats, stream: SequenceTracker, dgram: Datagram, now: float
    ) -> Admission:
        """The per-sample half of :meth:`observe`, after :meth:`admit` delivered it."""
        uptime = dgram.uptime
        epoch = stream.restarts
        by_code = agent.by_code
        samples = dgram.samples
        duplicates: list[int] | None = None
        restarted: list[CounterSample] | None = None
        for sample in samples:
            kind = sample.__class__
            if kind is UnknownSample:
                continue
            code = sample.source_id_type << 32 | sample.source_id_index  # type: ignore[union-attr]
            ds = by_code.get(code) or self._datasource(agent, code)
            if ds is None:
                continue
            ds.last_seen = now
            if ds.epoch != epoch or ds.stream is not stream:
                if ds.stream is stream:
                    ds.restart()
                ds.stream, ds.epoch = stream, epoch
            if kind is FlowSample:
                result = ds.add_flow(sample, uptime)  # type: ignore[arg-type]
            elif kind is CounterSample:
                result = ds.add_counter(sample, uptime)  # type: ignore[arg-type]
                if result is _RESTART:
                    restarted = restarted or []
                    restarted.append(sample)  # type: ignore[arg-type]
            else:
                result = ds.add_discard(sample, uptime)  # type: ignore[arg-type]
            if result is _DUPLICATE:
                duplicates = duplicates or []
                duplicates.append(id(sample))
        for error in dgram.errors:
            agent.record_error(error.reason)
        if duplicates is not None:
            dropped = set(duplicates)
            samples = [s for s in samples if id(s) not in dropped]
        return Admission(agent, samples, False, tuple(restarted) if restarted else ())

    def _datasource(self, agent: AgentStats, code: int) -> DataSourceStats | None:
        """A data source seen for the first time (or refused over the cap)."""
        if len(agent.datasources) >= self.max_datasources:
            agent.datasources_rejected += 1
            self.totals.datasources_rejected += 1
            return None
        if self.datasource_count >= self.max_datasources_total:
            agent.datasources_rejected += 1
            self.totals.datasources_total_rejected += 1
            return None
        name = datasource_name(code >> 32, code & 0xFFFFFFFF)
        ds = agent.datasources[name] = agent.by_code[code] = DataSourceStats.new(
            self.totals, self.flow_stream
        )
        self.datasource_count += 1
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
        """Forget agents idle longer than ``idle_timeout`` and, in the others, data
        sources idle longer than ``datasource_timeout``; returns the agents' addresses.

        One pass over every data source: at most ``max_datasources_total`` of them, and
        it runs at most every :data:`EXPIRE_EVERY` seconds.
        """
        self._next_expiry = now + min(EXPIRE_EVERY, self.idle_timeout, self.datasource_timeout)
        totals = self.totals
        forget = self.on_forget
        gone = [k for k, a in self.agents.items() if now - a.last_seen > self.idle_timeout]
        for key in gone:
            agent = self.agents.pop(key)
            totals.agents_expired += 1
            totals.datasources_expired += len(agent.datasources)
            self.datasource_count -= len(agent.datasources)
            if forget is not None:
                for name in agent.datasources:
                    forget(key, name)
                forget(key, None)
        limit = self.datasource_timeout
        for key, agent in self.agents.items():
            if now - agent.last_seen <= limit:
                stale = [c for c, ds in agent.by_code.items() if now - ds.last_seen > limit]
            else:  # the agent sent nothing for that long: all its data sources are idle
                stale = list(agent.by_code)
            for code in stale:
                del agent.by_code[code]
                name = datasource_name(code >> 32, code & 0xFFFFFFFF)
                del agent.datasources[name]
                if forget is not None:
                    forget(key, name)
            totals.datasources_expired += len(stale)
            self.datasource_count -= len(stale)
        return gone

    def expire_due(self, now: float) -> None:
        """:meth:`expire` when its period has passed (the engine's tick calls this)."""
        if now >= self._next_expiry:
            self.expire(now)

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


AGENT_SAMPLE_KINDS = (
    ("Flow", "flow", "flow_drops"),
    ("Counter", "counter", None),
    ("Notification", "discard", "discard_drops"),
)
"""(sFlow-RT label, stream attribute, agent-reported drops attribute) per sample kind."""


def _agent_json(agent: AgentStats, now: float) -> dict[str, Any]:
    streams = list(agent.sub_agents.values())
    out: dict[str, Any] = {
        "sFlowDatagramsReceived": _sum(streams, "received"),  # duplicates excluded
        "sFlowDatagramsLost": _sum(streams, "lost"),
        "sFlowDatagramsOutOfOrder": _sum(streams, "out_of_order"),
        "sFlowDatagramsDuplicates": _sum(streams, "duplicates"),
        "sFlowDatagramSource": list(agent.datagram_sources),
    }
    sources = list(agent.datasources.values())
    for label, kind, drops in AGENT_SAMPLE_KINDS:
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
    for label, kind, _ in AGENT_SAMPLE_KINDS:
        out[f"sFlow{label}SampleRestarts"] = sum(getattr(ds, kind).restarts for ds in sources)
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
