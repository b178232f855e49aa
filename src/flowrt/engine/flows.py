"""Flow definitions at work: per data source top-N tables, flow metrics, the flow log.

:class:`FlowEngine` owns every flow definition (``setFlow``) and, per definition and data
source (agent + sFlow-RT data source name), a :class:`~flowrt.engine.topn.FlowTable` of
smoothed per-second rates. Per sample (the hot path):

1. one :class:`~flowrt.flowlang.sampleview.FlowSampleView` is built and shared by all
   definitions, so a header is located once (and parsed by no definition again);
2. each definition's generated ``counter`` (:func:`compile_counter`: the flow language's
   reference executor, :func:`flowrt.flowlang.executor.generate_counter`, makes the
   filter/key/value part from the definition's IR, this module adds the table update;
   the test ``tests/engine/test_flow_counter.py`` holds the closure form as its oracle)
   filters and keys the sample (filters run first, so a failing filter costs only its
   own keys);
3. the value is scaled by the sampling rate and added to the table of the sample's data
   source (a definition's tables share one :class:`~flowrt.engine.topn.DecayClock`);
   ``log:true`` definitions also feed their :class:`FlowTracker`, and watched
   definitions (those with thresholds) report the new smoothed value at once.

Values: ``value`` and each ``values`` entry is a numeric key or ``rate:<key>``
(summed, scaled by the sampling rate, per second), ``avg:<key>`` (the sampling-weighted
mean per sample, not scaled: ``avg:ipbytes`` = mean packet size), ``max:``/``min:<key>``
(a decaying extreme over about t seconds) or ``count:<key>`` (recency-weighted number of
distinct values over about t seconds, e.g. ``count:ipsource`` keyed by ``ipdestination``
= sources per destination). :mod:`flowrt.engine.topn` documents the estimators; a main
``value`` of a non-sum kind ranks flows by that smoothed value. Such flows' metric
(``/metric``, thresholds) is, as for sums, the largest flow's value; ``aggMode`` ``sum``
never adds non-sum values across data sources (it keeps the largest observation).

Decisions where sFlow-RT's documentation is silent:

* ``aggMode`` ``edge``/``core`` use the topology (:mod:`flowrt.engine.topology`):
  ``edge`` *sums* the tables of edge-port data sources (each packet enters the fabric at
  one edge port, so ingress sampling counts it once however many switches it crosses),
  ``core`` takes the largest observation over inter-switch-port data sources (a packet
  crosses several links: a sum would count it once per hop). Without a topology both
  combine like ``max`` over all data sources (apps that pass them keep working), as does
  ``agent`` (seen in apps' flow specs). An ``aggMode`` in the flow spec is the default
  for ``activeFlows`` of that flow.
* With a topology, a flow sample whose data source is not an interface (Open vSwitch
  samples from the bridge, ``2.1000``) is counted at the data source of its *input port*
  when that port is in the topology (data source ``"<ifIndex>"``), so such samples have
  an edge/core class and bridges sharing one agent address no longer share one table.
  Without a topology, or for ports it does not know, data sources are as sent.
* A flow's metric (``/metric``, ``/dump``) at a data source is its largest flow's rate
  with ``topKeys`` (the top ``n``); a keyless flow's metric is its total, no ``topKeys``.
* ``/activeflows`` ``filter`` (newer api.yml: "select flow keys matching pattern") is a
  filter expression (the flow filter grammar) over the flow's *own key names*: each reported key is
  split with ``fs`` into ``{key expression text: value}`` and the filter runs on that
  (``ipsource=10.0.0.1``, ``ipsource!=10.0.0.1``, ``ipdestination~10\\.0\\..*``). Plain
  key names are what it can address: a key function on the filter's left side is
  *evaluated* over those names (as in a flow filter), so a function-valued key such as
  ``mask:ipsource:24`` cannot be matched by its text. A key that cannot be split into
  exactly its names (a value containing ``fs``) does not match. It is applied per data
  source before aggregation, so ``maxFlows`` counts matching flows.
* ``/flowlocations``: the data sources whose table currently holds the key, with its
  value there, largest first.
* ``/flowkeys/json`` lists the keys that recent samples' header shapes and records can
  yield (tracked per header shape and record type, not per key per sample), aged out
  after ``FLOWKEYS_TIMEOUT``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from flowrt.engine.agents import datasource_name
from flowrt.engine.flowlog import FlowLog, FlowTracker
from flowrt.engine.groups import Lookups
from flowrt.engine.metric_query import MetricPoint, Selection, age_ms
from flowrt.engine.topn import (
    AVG,
    COUNT,
    SUM,
    AnyFlowTable,
    DecayClock,
    FlowRate,
    aggregate,
    make_table,
)  # fmt: skip
from flowrt.engine.topology import CORE, EDGE
from flowrt.flowlang.errors import FlowSpecError
from flowrt.flowlang.executor import CompiledFlow, ValueExpr, compile_filter, generate_counter
from flowrt.flowlang.sampleview import FlowSampleView, record_keys, shape_keys
from flowrt.flowlang.spec import FlowSpec
from flowrt.flowlang.view import DictSampleView
from flowrt.sflow.model import DiscardSample, FlowSample

WatchCallback = Callable[[str, str, str, str, float, "tuple[float, ...] | None", float], None]

MAX_SOURCES_PER_FLOW = 10_000
"""Data sources one definition keeps tables for by default; the engine passes
``flowrt.datasources.total.max`` (the agent table's total), so a flood of spoofed agents
cannot make a definition hold more tables than the whole collector holds data sources."""
FLOWKEYS_TIMEOUT = 300.0
"""Seconds a key name stays in /flowkeys/json after the last sample that could carry it."""
MAX_SHAPES = 4096
KEYS_RESOLUTION = 1.0
"""Seconds between two notes of the same header shape's keys."""
MAX_DS_NAMES = 65_536
DEFAULT_MAX_DEFINITIONS = 1000
DEFAULT_SAMPLE_BUDGET = 50
"""Definitions the reference path evaluates per sample before it sheds (see
:meth:`FlowEngine.count_sample`)."""
ALWAYS_KEYS = ("agent", "inputifindex", "outputifindex", "bytes", "frames")


def scale_value(kind: str, value: Any, rate: int) -> Any:
    """One sample's main value as its table input: a sum scaled by the sampling rate, an
    average as ``(x·rate, rate)``, an extreme as the raw number, a count as its item."""
    if kind == SUM:
        return value * rate
    if kind == AVG:
        return (value * rate, float(rate))
    return value if kind == COUNT else float(value)


class ValueSlots:
    """How a definition's ``values`` map to the slots of a FlowTable.

    A ``sum`` entry is one ``sum`` slot (value times sampling rate); an ``avg`` entry is two
    ``sum`` slots (value times rate, and rate), whose ratio is the sampling-weighted mean:
    it is unchanged by smoothing, by ``sum`` aggregation across data sources, and by the
    flow log's division by duration. ``max``/``min``/``count`` entries are one slot of
    their own kind fed the raw number or the item text (see :mod:`flowrt.engine.topn`).
    """

    __slots__ = ("kinds", "scale", "slot_kinds")

    def __init__(self, exprs: tuple[ValueExpr, ...]) -> None:
        self.kinds = tuple(expr.kind for expr in exprs)
        self.slot_kinds: tuple[str, ...] = tuple(
            slot for kind in self.kinds for slot in ((SUM, SUM) if kind == AVG else (kind,))
        )
        if all(kind == "sum" for kind in self.kinds):
            self.scale: Callable[[tuple[float, ...], int], tuple[float, ...]] = (
                lambda values, rate: tuple([x * rate for x in values])
            )
        else:
            kinds = self.kinds

            def scale(values: tuple[float, ...], rate: int) -> tuple[float, ...]:
                out: list[float] = []
                for kind, x in zip(kinds, values, strict=True):
                    if kind == AVG:
                        out += (x * rate, float(rate))
                    elif kind == SUM:
                        out.append(x * rate)
                    elif kind == COUNT or x is None:
                        out.append(x)
                    else:
                        out.append(float(x))
                return tuple(out)

            self.scale = scale

    def present(self, slots: tuple[float, ...] | list[float], divisor: float = 1.0) -> list[float]:
        """Reported ``values``: sums divided by ``divisor``, averages as their ratio,
        extremes and counts as they are (already current values)."""
        out: list[float] = []
        i = 0
        for kind in self.kinds:
            if kind == AVG:
                weight = slots[i + 1]
                out.append(slots[i] / weight if weight else 0.0)
                i += 2
            else:
                out.append(slots[i] / divisor if kind == SUM else slots[i])
                i += 1
        return out


class Flow:
    """One definition: compiled extractor, its tables per data source, its log tracker."""

    __slots__ = (
        "clock", "compiled", "counter", "evicted", "evicted_retired", "extract", "max_sources",
        "name", "slots",
        "sources_rejected", "spec", "store_type", "tables", "tracker", "value_kind", "watcher",
    )  # fmt: skip

    def __init__(self, spec: FlowSpec, lookups: Lookups, flow_log: FlowLog,
                 max_sources: int = MAX_SOURCES_PER_FLOW, store_type: Any = None) -> None:
        compiled = CompiledFlow(spec.ir, lookups)
        self.value_kind = compiled.value_expr.kind
        self.spec = spec
        self.name = spec.name
        self.compiled = compiled
        self.extract = compiled.extract
        self.slots = ValueSlots(compiled.values_exprs) if compiled.values_exprs else None
        self.tables: dict[tuple[str, str], AnyFlowTable] = {}
        #: the compiled core's SumStore on the native path: new plain-sum tables keep
        #: their entries in C (see :class:`~flowrt.engine.topn.NativeFlowTable`)
        self.store_type = store_type
        self.clock = DecayClock(spec.t)  # shared by the tables: one exp per datagram
        self.sources_rejected = 0
        self.max_sources = max_sources
        #: keys evicted by tables, as of the last tick (live tables) plus expired tables:
        #: the self-metric reads this, never every table (O(1) in the data sources)
        self.evicted = 0
        self.evicted_retired = 0  # keys evicted by tables since dropped as empty
        self.watcher: WatchCallback | None = None
        self.tracker: FlowTracker | None = None
        if spec.log:
            self.tracker = FlowTracker(
                spec.name,
                flow_log,
                t=spec.t,
                active_timeout=spec.active_timeout,
                flow_start=spec.flow_start,
                present_values=self.slots.present if self.slots is not None else None,
                value_kind=self.value_kind,
                slot_kinds=self.slots.slot_kinds if self.slots is not None else None,
            )
        self.counter: Counter = compile_counter(self)

    def new_table(self, source: tuple[str, str]) -> AnyFlowTable | None:
        """The table of a data source seen for the first time (None past the cap).

        Only for a source without a table: callers test ``tables.get(source) is None``,
        never the table's truth (an empty table is falsy, and making it again would lose
        its ``evicted`` count or, at the cap, reject the source's samples)."""
        if len(self.tables) >= self.max_sources:
            self.sources_rejected += 1
            return None
        table = self.tables[source] = make_table(
            self.spec.n, self.spec.t, value_kind=self.value_kind, clock=self.clock,
            slot_kinds=self.slots.slot_kinds if self.slots is not None else None,
            store_type=self.store_type,
        )  # fmt: skip
        return table

    def notify(self, table: AnyFlowTable, source: tuple[str, str], key: str, now: float) -> None:
        """Tell the watcher (thresholds) the key's new smoothed value."""
        row = table.rate(key, now)
        if row is not None and self.watcher is not None:
            shown = None if row.values is None else tuple(self.present(row.values))
            self.watcher(self.name, source[0], source[1], key, row.value, shown, now)

    def present(self, slots: tuple[float, ...]) -> list[float]:
        """A table row's ``values`` slots as reported values."""
        return self.slots.present(slots) if self.slots is not None else list(slots)


Counter = Callable[[FlowSampleView, "tuple[str, str]", float], None]


def compile_counter(flow: Flow) -> Counter:
    """``counter(view, source, now)``: count one sample, as one generated function.

    Flow definitions are few and samples many, so at ``setFlow`` time each definition
    becomes straight-line code: the flow language's executor generates the filter, keys
    and values from the IR (:func:`~flowrt.flowlang.executor.generate_counter`), and the
    table update follows in the same function: the value scaled by the sampling rate
    (:func:`scale_value`, ``flow.slots.scale``), the table of the data source, the flow
    log and the threshold watcher. The result always equals the generic path's
    (``flow.extract`` + :func:`scale_value`): ``tests/engine/test_flow_counter.py``
    checks them side by side.
    """
    env: dict[str, Any] = {"_flow": flow, "_tables": flow.tables}
    if flow.value_kind == SUM:
        tail = ["v = v * view.sampling_rate"]
    else:
        env.update(_scale_value=scale_value, _vkind=flow.value_kind)
        tail = ["v = _scale_value(_vkind, v, view.sampling_rate)"]
    if flow.slots is not None:
        env["_scale"] = flow.slots.scale
        tail.append("values = _scale(values, view.sampling_rate)")
    tail += [
        "table = _tables.get(source)",
        "if table is None:",
        "    table = _flow.new_table(source)",
        "    if table is None:",
        "        return",
        "table.add(key, v, values, now)",
        "if _flow.tracker is not None:",
        "    _flow.tracker.observe(source[0], source[1], key, v, values, now)",
        "if _flow.watcher is not None:",
        "    _flow.notify(table, source, key, now)",
    ]
    return generate_counter(
        flow.compiled, name=flow.name, params=("source", "now"), tail=tail, env=env
    )


@dataclass
class FlowCounters:
    """Bounds the flow tables hit, summed over every definition (including replaced
    and deleted ones, so the totals never go down)."""

    sources_rejected: int = 0  # samples of new data sources over a flow's cap
    keys_evicted: int = 0  # keys dropped from full top-N tables to make room
    log_rejected: int = 0  # new active flows not logged: the log tracker was full

    def add(self, flow: Flow, exact: bool = False) -> None:
        """Add one definition's counts; ``keys_evicted`` as of its last tick unless
        ``exact`` (which reads every table: a replaced or deleted definition's last word)."""
        self.sources_rejected += flow.sources_rejected
        if exact:
            self.keys_evicted += flow.evicted_retired + sum(
                table.evicted for table in flow.tables.values())
        else:
            self.keys_evicted += flow.evicted
        if flow.tracker is not None:
            self.log_rejected += flow.tracker.rejected


class FlowEngine:
    """All flow definitions and their state; plain synchronous object, ``now`` in seconds."""

    def __init__(self, lookups: Lookups, log_size: int = 1000,
                 max_definitions: int = DEFAULT_MAX_DEFINITIONS,
                 max_sources: int = MAX_SOURCES_PER_FLOW,
                 sample_budget: int = DEFAULT_SAMPLE_BUDGET) -> None:
        if sample_budget < 1:
            raise ValueError("the per-sample flow budget must be at least 1")
        self.lookups = lookups
        self.max_definitions = max_definitions
        self.max_sources = max_sources
        #: the compiled core's SumStore once the native driver runs (:meth:`use_store`)
        self.store_type: Any = None
        self.sample_budget = sample_budget
        self.samples_shed = 0  # samples some definitions skipped (over the budget)
        self.evaluations_shed = 0  # definition evaluations skipped
        self._rotation = 0  # where the next shed sample's window of definitions starts
        self.log = FlowLog(log_size)
        self._flows: dict[str, Flow] = {}
        #: definitions the engine keeps for itself (host location): counted like the
        #: others on both ingest paths, but never listed, queried or capped as the user's
        self._internal: dict[str, Flow] = {}
        self._packet_flows: tuple[Flow, ...] = ()
        self._drop_flows: tuple[Flow, ...] = ()
        self._ds_names: dict[int, str] = {}
        self._sources: dict[tuple[str, int], tuple[str, str]] = {}
        #: the memo's codes per agent, so an agent that goes takes its entries along
        self._source_codes: dict[str, list[int]] = {}
        self._shapes: dict[str, float] = {}
        self._records: dict[type, float] = {}
        self._discards_seen = -float("inf")
        self.topology = lookups.topology
        self._retired = FlowCounters()  # counts of replaced and deleted definitions

    # --- definitions ------------------------------------------------------------------
    def set_flow(self, name: str, body: Mapping[str, Any]) -> FlowSpec:
        """Create or replace a definition; replacing starts its tables and log afresh."""
        spec = FlowSpec.from_json(name, body)
        if name not in self._flows and len(self._flows) >= self.max_definitions:
            raise FlowSpecError(f"too many flow definitions (at most {self.max_definitions})")
        flow = Flow(spec, self.lookups, self.log, self.max_sources, self.store_type)
        old = self._flows.get(name)
        if old is not None:
            flow.watcher = old.watcher
            self._retired.add(old, exact=True)
        self._flows[name] = flow
        self._reindex()
        return spec

    def delete_flow(self, name: str) -> bool:
        old = self._flows.pop(name, None)
        if old is not None:
            self._retired.add(old, exact=True)
        self._reindex()
        return old is not None

    @property
    def counters(self) -> FlowCounters:
        """Cumulative bounds-hit counts of every definition ever set (self-metrics).

        O(definitions), not O(tables): ``keys_evicted`` of live tables is summed by
        :meth:`tick` (so it may lag by up to a tick)."""
        total = FlowCounters(**vars(self._retired))
        for flow in self._flows.values():
            total.add(flow)
        return total

    def specs(self) -> dict[str, FlowSpec]:
        return {name: flow.spec for name, flow in self._flows.items()}

    def set_internal(self, name: str, body: Mapping[str, Any]) -> Flow:
        """Define (or replace) an internal definition: counted on every sample like the
        user's (after them), absent from :meth:`specs`, queries and the definition cap."""
        flow = Flow(FlowSpec.from_json(name, body), self.lookups, self.log, self.max_sources,
                    self.store_type)
        self._internal[name] = flow
        self._reindex()
        return flow

    def delete_internal(self, name: str) -> None:
        if self._internal.pop(name, None) is not None:
            self._reindex()

    def _all_flows(self) -> Iterator[Flow]:
        yield from self._flows.values()
        yield from self._internal.values()

    def _reindex(self) -> None:
        flows = list(self._all_flows())
        self._packet_flows = tuple(f for f in flows if not f.spec.dropped)
        self._drop_flows = tuple(f for f in flows if f.spec.dropped)

    def use_store(self, store_type: Any) -> None:
        """Keep new plain-sum tables' entries in the compiled core's ``store_type``
        (``SumStore``), for every definition now and later. The native driver calls it;
        tables that exist already stay as they are (the driver's flush handles both)."""
        self.store_type = store_type
        for flow in self._all_flows():
            flow.store_type = store_type

    def watch(self, names: set[str], callback: WatchCallback) -> None:
        """Report every table update of flows ``names`` (others stop reporting)."""
        for name, flow in self._flows.items():
            flow.watcher = callback if name in names else None

    # --- ingest -----------------------------------------------------------------------
    def _ds_name(self, code: int) -> str:
        """The data source name of ``source_type << 32 | index`` (memoised, bounded)."""
        if len(self._ds_names) >= MAX_DS_NAMES:
            self._ds_names.clear()
        ds = self._ds_names[code] = datasource_name(code >> 32, code & 0xFFFFFFFF)
        return ds

    def _observe_keys(self, view: FlowSampleView, now: float) -> None:
        """Note the sample's header shape and record types, at most once a second each.

        /flowkeys/json reports ages in ms but only needs to know what is current, so a
        shape already noted within the last second skips the record scan.
        """
        shapes = self._shapes
        shape = view.shape()
        last = shapes.get(shape)
        if last is not None and now - last < KEYS_RESOLUTION:
            return
        if last is None and len(shapes) >= MAX_SHAPES:
            return
        shapes[shape] = now
        seen = self._records
        for record in view.sample.records:
            seen[record.__class__] = now

    def _source(self, agent: str, code: int) -> tuple[str, str]:
        """The (agent, data source name) of ``source_type << 32 | index`` (memoised)."""
        if len(self._sources) >= MAX_DS_NAMES:
            self._sources.clear()
            self._source_codes.clear()
        ds = self._ds_names.get(code) or self._ds_name(code)
        source = self._sources[(agent, code)] = (agent, ds)
        self._source_codes.setdefault(agent, []).append(code)
        return source

    def ingest_flow_sample(self, agent: str, sample: FlowSample, now: float) -> None:
        """Count one flow sample in every (non-``dropped``) definition (the hot path)."""
        view = FlowSampleView(agent, sample)
        layers = view._layers
        last = self._shapes.get("" if layers is None else layers[0])
        if last is None or now - last >= KEYS_RESOLUTION:
            self._observe_keys(view, now)
        flows = self._packet_flows
        if not flows:
            return
        code = sample.source_id_type << 32 | sample.source_id_index
        if sample.source_id_type and self.topology.active:
            code = self._ingress_port(agent, sample, code)
        source = self._sources.get((agent, code)) or self._source(agent, code)
        self.count_sample(flows, view, source, now)

    def count_sample(
        self, flows: tuple[Flow, ...], view: FlowSampleView, source: tuple[str, str],
        now: float,
    ) -> None:
        """Count one sample in ``flows``, within the per-sample budget.

        Each definition costs the reference path a filter, keys and a table update per
        sample; a thousand of them make one sample cost milliseconds and the collector
        falls behind, losing samples at random in the socket. So at most
        ``sample_budget`` definitions (``flowrt.flows.sample.budget``) run per sample:
        with more, each sample goes to the next ``sample_budget`` of them in turn (a
        fair rotation), scaled by ``len(flows) / sample_budget`` as if sampled that much
        more sparsely, so every definition's rates stay unbiased estimates, only noisier.
        Shed work is counted (``flowSamplesShed``, ``flowEvaluationsShed``).
        """
        total = len(flows)
        budget = self.sample_budget
        if total <= budget:
            for flow in flows:
                flow.counter(view, source, now)
            return
        start = self._rotation % total
        self._rotation = start + budget
        rate = view.sampling_rate
        view.sampling_rate = rate * total / budget  # type: ignore[assignment]
        try:
            for i in range(start, start + budget):
                flows[i % total].counter(view, source, now)
        finally:
            view.sampling_rate = rate
        self.samples_shed += 1
        self.evaluations_shed += total - budget

    def _ingress_port(self, agent: str, sample: FlowSample, code: int) -> int:
        """The input port's ifIndex data source code when the topology knows the port,
        else ``code`` (see the module notes: OVS bridge samples get an edge/core class)."""
        if sample.input_format == 0 and self.topology.has_port(agent, sample.input_value):
            return sample.input_value  # source type 0 (ifIndex) << 32 | index
        return code

    def ingest_discard_sample(self, agent: str, sample: DiscardSample, now: float) -> None:
        """Count one discard sample in the ``dropped:true`` definitions."""
        view = FlowSampleView(agent, sample)
        self._observe_keys(view, now)
        self._discards_seen = now
        flows = self._drop_flows
        if not flows:
            return
        code = sample.source_id_type << 32 | sample.source_id_index
        source = (agent, self._ds_names.get(code) or self._ds_name(code))
        self.count_sample(flows, view, source, now)

    # --- queries ----------------------------------------------------------------------
    def active_flows(
        self,
        agents: frozenset[str] | Selection | None,
        name: str,
        now: float,
        *,
        max_flows: int = 100,
        min_value: float = 0.0,
        agg_mode: str | None = None,
        key_filter: str | None = None,
    ) -> list[dict[str, Any]]:
        """/activeflows: the largest flows across the chosen agents, largest first.

        ``key_filter`` (the query's ``filter``) keeps flows whose keys match a filter over
        the flow's own key names (see the module notes). Raises KeyError for an unknown
        flow, ValueError for an unknown aggMode and FilterError (a FlowSpecError) for a bad
        filter.
        """
        flow = self._flows[name]
        keep = None if not key_filter else self._key_matcher(flow, key_filter)
        mode = (agg_mode or flow.spec.agg_mode or "max").lower()
        port_class: str | None = None
        if mode in (EDGE, CORE):
            if self.topology.active:  # see the module docstring
                port_class, mode = mode, ("sum" if mode == EDGE else "max")
            else:
                mode = "max"
        elif mode == "agent":
            mode = "max"
        if mode not in ("max", "sum"):
            raise ValueError(f"unknown aggMode {agg_mode!r}; expected max, sum, edge or core")
        per_source_min = min_value if mode == "max" else 0.0
        selection = Selection.of(agents)
        classify = self.topology.port_class

        def rows(table: AnyFlowTable) -> list[FlowRate]:
            top = table.top(now, min_value=per_source_min)
            return top if keep is None else [row for row in top if keep(row.key)]

        sources = (
            (agent, ds, rows(table))
            for (agent, ds), table in flow.tables.items()
            if (selection.everything or selection.admits(agent, ds))
            and (port_class is None or classify(agent, ds) == port_class)
        )
        slot_kinds = flow.slots.slot_kinds if flow.slots is not None else None
        out = []
        for row in aggregate(
            sources, mode, max_flows, min_value, value_kind=flow.value_kind, slot_kinds=slot_kinds
        ):
            entry: dict[str, Any] = {
                "key": row.key, "value": row.value, "agent": row.agent,
                "dataSource": row.data_source,
            }  # fmt: skip
            if row.values is not None:
                entry["values"] = flow.present(row.values)
            out.append(entry)
        return out

    def _key_matcher(self, flow: Flow, text: str) -> Callable[[str], bool]:
        """``key → bool``: the filter ``text`` over ``{key name: value}`` of a flow key."""
        predicate = compile_filter(text, self.lookups)
        names, fs = flow.spec.keys, flow.spec.fs
        splits = len(names) - 1

        def keep(key: str) -> bool:
            parts = key.split(fs, splits) if names else []
            if len(parts) != len(names):
                return False  # cannot split unambiguously (a value holds fs): no match
            return bool(predicate(DictSampleView(dict(zip(names, parts, strict=True)))))

        return keep

    def flow_locations(
        self, agents: frozenset[str] | Selection | None, name: str, key: str, now: float
    ) -> list[dict[str, Any]]:
        """/flowlocations: the data sources whose table currently holds ``key``.

        ``key`` is the flow key as ``activeFlows`` reports it (values joined with ``fs``).
        Each entry is ``{agent, dataSource, value}`` (value in the flow's units), largest
        first; ``agents`` None means all. Raises KeyError for an unknown flow.
        """
        flow = self._flows[name]
        selection = Selection.of(agents)
        found: list[tuple[float, str, str]] = []
        for (agent, ds), table in flow.tables.items():
            if not selection.admits(agent, ds):
                continue
            value = table.value(key, now)
            if value is not None:
                found.append((value, agent, ds))
        found.sort(key=lambda entry: entry[0], reverse=True)
        return [{"agent": agent, "dataSource": ds, "value": value} for value, agent, ds in found]

    def flow_value(
        self, name: str, agent: str, datasource: str, key: str, now: float
    ) -> float | None:
        """Current rate of ``key`` at one data source (None: unknown flow, source or key)."""
        flow = self._flows.get(name)
        if flow is None:
            return None
        table = flow.tables.get((agent, datasource))
        return None if table is None else table.value(key, now)

    def metric_points(self, now: float) -> Iterator[MetricPoint]:
        """Each flow as a metric per data source: largest rate (keyless: total) + topKeys."""
        for flow in self._flows.values():
            keyless = not flow.spec.keys
            for (agent, ds), table in flow.tables.items():
                rows = table.top(now)
                if not rows:
                    continue
                updated = [table.last_update(row.key) or now for row in rows]
                if keyless:
                    yield MetricPoint(agent, ds, flow.name, rows[0].value, updated[0])
                    continue
                top_keys = [
                    {"key": row.key, "value": row.value, "lastUpdate": age_ms(now, seen)}
                    for row, seen in zip(rows, updated, strict=True)
                ]
                yield MetricPoint(
                    agent, ds, flow.name, rows[0].value, max(updated), {"topKeys": top_keys}
                )

    def flow_keys(self, now: float) -> dict[str, int]:
        """/flowkeys/json: each key name recent samples could carry → ms since seen."""
        oldest = now - FLOWKEYS_TIMEOUT
        seen: dict[str, float] = {}

        def mark(names: object, when: float) -> None:
            for key in names:  # type: ignore[attr-defined]
                if seen.get(key, -1.0) < when:
                    seen[key] = when

        for shape, when in self._shapes.items():
            if when >= oldest:
                mark(shape_keys(shape), when)
                mark(ALWAYS_KEYS, when)
                if shape:
                    mark(("stripped",), when)
        for cls, when in self._records.items():
            if when >= oldest:
                mark(record_keys((cls,)), when)
        if self._discards_seen >= oldest:
            mark(("reason",), self._discards_seen)
        return {key: age_ms(now, when) for key, when in sorted(seen.items())}

    # --- housekeeping -----------------------------------------------------------------
    def forget(self, agent: str, ds: str | None = None) -> None:
        """Drop one data source's tables in every definition: the agent table forgot it
        as idle (O(definitions)). ``ds`` None (the agent itself went, after each of its
        data sources) drops the agent's data source name memo and leaves the rest, tables
        of data sources the agent table never held, to go as their keys idle out."""
        if ds is None:
            for code in self._source_codes.pop(agent, ()):
                self._sources.pop((agent, code), None)
            return
        source = (agent, ds)
        for flow in self._all_flows():
            table = flow.tables.pop(source, None)
            if table is not None:
                flow.evicted_retired += table.evicted

    def tick(self, now: float) -> None:
        """Flush flow logs, expire idle keys, drop idle data sources and key shapes."""
        for flow in self._all_flows():
            if flow.tracker is not None:
                flow.tracker.flush(now)
            tables = flow.tables
            empty = []
            live = 0
            for source, table in tables.items():
                table.expire(now)
                if len(table):
                    live += table.evicted
                else:
                    empty.append(source)
                    flow.evicted_retired += table.evicted
            for source in empty:
                del tables[source]
            flow.evicted = flow.evicted_retired + live
        oldest = now - FLOWKEYS_TIMEOUT
        for seen in (self._shapes, self._records):
            for item in [k for k, when in seen.items() if when < oldest]:
                del seen[item]  # type: ignore[arg-type]


__all__ = ["Flow", "FlowEngine", "FlowLog", "ValueSlots"]
