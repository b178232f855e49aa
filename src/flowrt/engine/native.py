"""The engine's native ingest path: the compiled core in front of the reference engine.

:class:`NativeIngest` takes datagrams in place of :meth:`Engine.ingest_datagram` and
gives the same state (tables, metrics, agents, flow log, counters) faster:

* the core walks the datagram; a datagram it refuses (decode errors, discard or unknown
  samples, records whose reference decoder could fail) goes whole to
  :meth:`Engine.ingest_datagram`, so errors and discards keep their meaning; one that
  also holds counter samples is decoded by the reference decoder for accounting and
  counters (any decode error: the whole reference path), its flow samples still counted
  by the core;
* otherwise the core returns a record-less :class:`~flowrt.sflow.model.Datagram` for
  sequence accounting (:meth:`AgentTable.observe` decides, per datagram and before
  anything is counted, whether its samples count: a refused agent, a duplicate datagram
  and duplicate samples are dropped here and never aggregated);
* the core counts each sample in every definition it can run (:mod:`flowrt._core.lower`)
  and accumulates per (flow, agent, data source, key); :meth:`flush` applies the sums to
  the flow tables at the batch's ``now``. The aggregation is cut whenever ``now``
  changes, so a table gets the same additions at the same times as on the reference path;
  it is also cut when it holds ``AGG_LIMIT`` keys (counted in ``nativeEarlyFlushes``), so
  a batch of churning keys never grows it without bound;
* definitions the core cannot run (key functions, regexes, log:true, ...) are
  "fallback" flows: when any exists, the datagram is also decoded by the reference
  decoder and those definitions alone count its samples, as the reference does;
* samples without a sampled_header (sampled_ipv4/ipv6/ethernet records) are counted by
  the reference per-sample path for every definition;
* with an active topology (ingress-port data sources) every definition is a fallback.

/flowkeys/json: each header shape the core reports is noted exactly when the reference
would note it (at most once a second per shape), from the reference decode of that one
datagram.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from flowrt._core import NATIVE_PATH, load_native
from flowrt._core.lower import Plan, lower_spec
from flowrt.engine.agents import Outcome
from flowrt.engine.flows import KEYS_RESOLUTION, Flow
from flowrt.engine.topn import AnyFlowTable
from flowrt.flowlang.sampleview import FlowSampleView
from flowrt.sflow.decode import decode_datagram
from flowrt.sflow.model import CounterSample, Datagram, FlowSample
from flowrt.sflow.registry import FLOW_RECORDS

_DUPLICATE = Outcome.DUPLICATE
_NO_SAMPLES: list[Any] = []
_NO_DUPLICATES: set[int] = set()  # never changed

if TYPE_CHECKING:
    from flowrt.engine.core import Engine


def record_rules() -> dict[int, int]:
    """Flow record tag → the least length its reference decoder accepts (-1: variable
    layout, the core refuses the datagram so the reference reports any fault)."""
    return {
        tag: codec.fixed_size if codec.fixed_size is not None else -1
        for tag, codec in FLOW_RECORDS.items()
    }


class NativeIngest:
    """Drives the compiled core for one :class:`Engine` (same thread as the engine)."""

    def __init__(self, engine: Engine, module: Any = None) -> None:
        native = module if module is not None else load_native()
        if native is None:
            raise RuntimeError("the compiled ingest core is not available")
        self.engine = engine
        self.fields: dict[str, tuple[int, bool]] = native.FIELDS
        self.core = native.Core(Datagram, FlowSample, record_rules())
        self._flows_seen: tuple[Flow, ...] | None = None
        self._topology_active = False
        self._by_id: dict[int, Flow] = {}
        self._fallback: tuple[Flow, ...] = ()
        self._pending_now: float | None = None
        self._agg_limit: int = native.AGG_LIMIT
        engine.ingest_path = NATIVE_PATH
        engine.agents.flow_stream = native.FlowStream  # new data sources account in C
        engine.flows.use_store(native.SumStore)  # new plain-sum tables keep entries in C

    # --- programs ---------------------------------------------------------------------
    def _sync(self) -> None:
        """Re-lower when definitions or topology activity changed (identity checks)."""
        flows = self.engine.flows._packet_flows
        active = self.engine.topology.active
        if flows is self._flows_seen and active == self._topology_active:
            return
        self.flush()
        plans: list[Plan] = []
        fallback: list[Flow] = []
        self._by_id = {}
        for flow_id, flow in enumerate(flows):
            plan = None if active else lower_spec(flow_id, flow.spec, self.fields)
            if plan is None:
                fallback.append(flow)
            else:
                plans.append(plan)
                self._by_id[flow_id] = flow
        self.core.set_program([plan.as_tuple() for plan in plans])
        self._fallback = tuple(fallback)
        self._flows_seen = flows
        self._topology_active = active

    def native_flows(self) -> list[str]:
        """Names of the definitions the core runs (the rest run on the reference path)."""
        self._sync()
        return [flow.name for flow in self._by_id.values()]

    # --- ingest -----------------------------------------------------------------------
    def ingest_datagram(self, payload: bytes, source_ip: str, now: float) -> None:
        """Same effect as :meth:`Engine.ingest_datagram` (once :meth:`flush` has run)."""
        self._sync()
        if self._pending_now is not None and now != self._pending_now:
            self.flush()
        engine = self.engine
        core = self.core
        walked = core.scan(payload)
        if walked is None:
            self.flush()  # keep additions in arrival order around a reference datagram
            engine.ingest_datagram(payload, source_ip, now)
            return
        header, shapes, python_samples = walked
        if header[4] is not None or python_samples or self._fallback:
            self._ingest_rest(payload, source_ip, now, header, shapes, python_samples)
            return
        # the common datagram: flow samples only, all counted by the core
        agent, sub_agent, sequence, uptime, _ = header
        stats, stream, outcome = engine.agents.admit(
            agent, sub_agent, sequence, uptime, source_ip, now, zlib.crc32(payload)
        )
        if outcome is _DUPLICATE:
            return  # dropped whole before anything counts it (counted in its stream)
        counters = engine.counters
        counters.datagrams += 1
        counters.bytes += len(payload)
        if stats is None:
            return  # refused: over the agent cap (counted there)
        assert stream is not None
        nsamples = core.walked_samples
        # accounting and commit in one call (duplicate samples skipped); False: a data
        # source is new, nothing was done and Python accounts the datagram
        mask = core.account(stats.by_code, stream, stream.restarts, uptime, now, True)
        if mask is False:
            self._admitted(payload, now, agent, uptime, shapes, (), stats, stream, None, mask)
            return
        duplicates = _NO_DUPLICATES if mask is None else {i for i, skip in enumerate(mask) if skip}
        counters.flow_samples += nsamples - len(duplicates)
        self._note_shapes(payload, agent, shapes, duplicates, now, None, _NO_SAMPLES)
        self._pending_now = now
        if core.pending >= self._agg_limit:  # bounded memory: drain before the batch ends
            counters.native_early_flushes += 1
            self.flush()

    def _ingest_rest(
        self, payload: bytes, source_ip: str, now: float, header: tuple[Any, ...],
        shapes: list[tuple[str, int]], python_samples: list[int],
    ) -> None:
        """A walked datagram with counter samples, samples without a sampled_header or
        fallback definitions: the general path."""
        engine = self.engine
        agent, sub_agent, sequence, uptime, counter_payload = header
        counter_dgram: Datagram | None = None
        if counter_payload is not None:  # its counter samples, decoded by the reference
            counter_dgram = decode_datagram(counter_payload)
            if counter_dgram.errors:  # any fault: the whole datagram on the reference path
                self.flush()
                engine.ingest_datagram(payload, source_ip, now)
                return
        stats, stream, outcome = engine.agents.admit(
            agent, sub_agent, sequence, uptime, source_ip, now, zlib.crc32(payload)
        )
        if outcome is _DUPLICATE:
            return  # dropped whole before anything counts it (counted in its stream)
        counters = engine.counters
        counters.datagrams += 1
        counters.bytes += len(payload)
        if stats is None:
            return  # refused: over the agent cap (counted there)
        assert stream is not None
        # flow samples in C when every data source is known, else all samples in Python
        # (new data sources are made, and capped, in arrival order in one place)
        mask = self.core.account(stats.by_code, stream, stream.restarts, uptime, now)
        self._admitted(payload, now, agent, uptime, shapes, python_samples, stats, stream,
                       counter_dgram, mask)

    def _admitted(
        self, payload: bytes, now: float, agent: str, uptime: int,
        shapes: list[tuple[str, int]], python_samples: Sequence[int], stats: Any,
        stream: Any, counter_dgram: Datagram | None, mask: bytes | bool | None,
    ) -> None:
        """An admitted datagram after ``Core.account`` (``mask``; False: not accounted,
        Python accounts it here), committed here."""
        engine = self.engine
        core = self.core
        counters = engine.counters
        agents = engine.agents
        has_counters = counter_dgram is not None
        decoded: Datagram | None = None
        flow_samples: list[Any] = _NO_SAMPLES
        duplicates: set[int] = set()
        if mask is False:
            if counter_dgram is None:
                dgram = core.light()
                flow_samples = dgram.samples
            else:
                dgram, flow_samples = _decoded_flow_samples(payload)
                decoded = dgram
                counter_dgram = None
            admission = agents.observe_samples(stats, stream, dgram, now)
            kept_ids = {id(sample) for sample in admission.samples}
            duplicates = {i for i, s in enumerate(flow_samples) if id(s) not in kept_ids}
        else:
            if mask is not None:
                assert isinstance(mask, bytes)
                duplicates = {i for i, skip in enumerate(mask) if skip}
            if counter_dgram is not None:
                admission = agents.observe_samples(stats, stream, counter_dgram, now)
        if has_counters:
            for sample in admission.samples:
                if sample.__class__ is CounterSample:
                    engine.ingest_counter_sample(agent, sample, uptime, now, admission.restarted)
        nsamples = core.walked_samples
        counters.flow_samples += nsamples - len(duplicates)
        decoded, flow_samples = self._note_shapes(
            payload, agent, shapes, duplicates, now, decoded, flow_samples,
            bool(python_samples),
        )
        skip = None
        if python_samples or self._fallback:
            if decoded is None:
                decoded, flow_samples = _decoded_flow_samples(payload)
            skip = self._reference_samples(
                agent, flow_samples, set(python_samples), duplicates, now
            )
        elif duplicates:
            skip = bytes(1 if i in duplicates else 0 for i in range(nsamples))
        core.commit(skip)
        self._pending_now = now
        if core.pending >= self._agg_limit:  # bounded memory: drain before the batch ends
            counters.native_early_flushes += 1
            self.flush()

    def _note_shapes(
        self, payload: bytes, agent: str, shapes: list[tuple[str, int]],
        duplicates: set[int], now: float, decoded: Datagram | None, flow_samples: list[Any],
        per_sample: bool = False,
    ) -> tuple[Datagram | None, list[Any]]:
        """/flowkeys/json: note the datagram's header shapes when the reference would
        (at most once per KEYS_RESOLUTION each), decoding the datagram only then. Returns
        the decode (or the ``decoded``, ``flow_samples`` given)."""
        flows = self.engine.flows
        seen = flows._shapes
        if duplicates or per_sample:  # rare: sample by sample, in order, as the reference
            if decoded is None:
                decoded, flow_samples = _decoded_flow_samples(payload)
            for index, sample in enumerate(flow_samples):
                if index in duplicates:
                    continue
                view = FlowSampleView(agent, sample)
                layers = view._layers
                last = seen.get("" if layers is None else layers[0])
                if last is None or now - last >= KEYS_RESOLUTION:
                    flows._observe_keys(view, now)
            return decoded, flow_samples
        for shape, index in shapes:
            last = seen.get(shape)
            if last is None or now - last >= KEYS_RESOLUTION:
                if decoded is None:
                    decoded, flow_samples = _decoded_flow_samples(payload)
                flows._observe_keys(FlowSampleView(agent, flow_samples[index]), now)
        return decoded, flow_samples

    def _reference_samples(
        self, agent: str, samples: list[Any], python_samples: set[int],
        duplicates: set[int], now: float,
    ) -> bytes | None:
        """Run the reference path where the core does not: whole samples it cannot
        count, and fallback definitions on the others. Returns the core's skip mask
        (samples Python counted, and duplicate samples nobody counts)."""
        flows = self.engine.flows
        fallback = self._fallback
        for index, sample in enumerate(samples):
            if index in duplicates:
                continue
            if index in python_samples:
                flows.ingest_flow_sample(agent, sample, now)  # every definition
                continue
            if not fallback:
                continue
            view = FlowSampleView(agent, sample)
            code = sample.source_id_type << 32 | sample.source_id_index
            if sample.source_id_type and flows.topology.active:
                code = flows._ingress_port(agent, sample, code)
            source = flows._sources.get((agent, code)) or flows._source(agent, code)
            flows.count_sample(fallback, view, source, now)  # within the per-sample budget
        skipped = python_samples | duplicates
        if not skipped:
            return None
        return bytes(1 if i in skipped else 0 for i in range(len(samples)))

    def flush(self) -> None:
        """Apply the core's aggregated sums to the flow tables at their ``now``.

        ``Core.drain_to`` asks :func:`resolve` once per (flow, agent, data source) of the
        batch for its table and adds every key of it in C (a
        :class:`~flowrt.engine.topn.NativeFlowTable`'s store); a flow with a threshold
        watcher gets a per-key add + notify instead, and a Python FlowTable made before
        the driver ran gets per-key adds."""
        now = self._pending_now
        if now is None:
            return
        self._pending_now = None
        flows = self.engine.flows
        sources, make_source = flows._sources, flows._source
        by_id = self._by_id

        def resolve(flow_id: int, agent: str, code: int) -> Any:
            flow = by_id[flow_id]
            source = sources.get((agent, code)) or make_source(agent, code)
            table = flow.tables.get(source)
            if table is None:
                table = flow.new_table(source)
                if table is None:
                    return None  # over the flow's data source cap (counted there)
            if flow.watcher is None:
                return table.bulk_target(now)
            return partial(_add_and_notify, flow, table, source, now)

        self.core.drain_to(resolve, now)


__all__ = ["NativeIngest", "native_ingest_for", "record_rules"]


def _add_and_notify(
    flow: Flow, table: AnyFlowTable, source: tuple[str, str], now: float, key: str, value: float
) -> None:
    """One key of a watched flow: the table update, then the threshold watcher."""
    table.add(key, value, None, now)
    flow.notify(table, source, key, now)


def _decoded_flow_samples(payload: bytes) -> tuple[Datagram, list[Any]]:
    """The reference decode of a datagram and its flow samples in order (the index
    space of the core's sample numbers), for the rare paths that need records."""
    decoded = decode_datagram(payload)
    return decoded, [s for s in decoded.samples if s.__class__ is FlowSample]


def native_ingest_for(engine: Engine) -> NativeIngest | None:
    """The native driver for ``engine``, or None (reference path) when the core is not
    built or ``FLOWRT_NO_EXTENSIONS`` is set."""
    module = load_native()
    return None if module is None else NativeIngest(engine, module)
