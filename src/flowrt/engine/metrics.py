"""Counter samples → sFlow-RT's named metrics, with per-second rates from deltas.

Gauges (``ifspeed``, ``load_one``, ``host_name``...) are reported as last seen.
Counters (``ifinoctets``, ``cpu_user`` jiffies, ``bytes_read``...) become per-second
rates: the delta since the previous sample of the same (agent, data source) divided by
the agent uptime difference (the ``now`` difference when the uptime does not advance,
e.g. agents that send uptime 0). Rules:

* all-ones values (the sFlow "unknown") are absent, never huge numbers;
* a lower 32-bit counter is a wrap when the previous value was in the upper half of
  the range, else a reset; a lower 64-bit counter is always a reset; a reset gives
  no rate for that counter that round;
* the same sample again (same sequence, same uptime) or an older one is ignored;
  uptime or sequence going backwards is an agent restart: no rates that round;
* ``cpu_*`` are percentages of the total CPU time delta; ``cpu_utilization`` is
  ``100 - cpu_idle``; ``mem_utilization`` is ``100*(total-free-buffers-cached)/total``;
  ``disk_utilization`` is ``100*(total-free)/total`` (sFlow-RT's formulas are not
  published; these are Ganglia's);
* a metric not refreshed for ``max(60 s, 3 x polling interval)`` disappears.

Records are matched by class name, so record types that do not exist yet are skipped.
Flow tables (or anything else) join the same queries via :meth:`MetricStore.register_source`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from flowrt.config import ConfigError, Properties
from flowrt.engine import metric_query as mq
from flowrt.engine.agents import UPTIME_WRAP, datasource_name, uptime_went_backwards
from flowrt.engine.metric_query import MetricPoint
from flowrt.engine.topology import TopologyStore
from flowrt.sflow.model import CounterSample

GAUGE, C32, C64 = "gauge", 32, 64
UNKNOWN_U32 = 0xFFFFFFFF
UNKNOWN_U64 = 0xFFFFFFFFFFFFFFFF
STALE_MIN_SECONDS = 60.0
STALE_INTERVALS = 3
DEFAULT_MAX_AGENTS = 10_000
DEFAULT_MAX_DATASOURCES = 4096
DEFAULT_MAX_DATASOURCES_TOTAL = 20_000
AGENTS_MAX_PROPERTY = "flowrt.agents.max"
DATASOURCES_MAX_PROPERTY = "flowrt.datasources.max"
DATASOURCES_TOTAL_PROPERTY = "flowrt.datasources.total.max"
PERCENT_X100 = 100.0  # part_max_used, cpu_5s...: percent x 100 on the wire

IF_TYPES = {
    1: "other", 6: "ethernetCsmacd", 7: "iso88023Csmacd", 9: "iso88025TokenRing",
    15: "fddi", 23: "ppp", 24: "softwareLoopback", 53: "propVirtual", 62: "fastEther",
    69: "fastEtherFX", 71: "ieee80211", 117: "gigabitEthernet", 131: "tunnel",
    135: "l2vlan", 136: "l3ipvlan", 161: "ieee8023adLag", 209: "bridge",
}
IF_DIRECTIONS = ("unknown", "full-duplex", "half-duplex", "in", "out")
MACHINE_TYPES = ("unknown", "other", "x86", "x86_64", "ia64", "sparc", "alpha", "powerpc",
                 "m68k", "mips", "arm", "hppa", "s390")
OS_NAMES = ("unknown", "other", "linux", "windows", "darwin", "hpux", "aix", "dragonfly",
            "freebsd", "netbsd", "openbsd", "osf", "solaris")
CPU_TIMES = ("cpu_user", "cpu_nice", "cpu_system", "cpu_idle", "cpu_wio", "cpu_intr",
             "cpu_sintr", "cpu_steal")  # their sum is the total; guest time is inside user


def _name_of(table: Sequence[str]) -> Callable[[int], str]:
    return lambda v: table[v] if 0 <= v < len(table) else str(v)


def _non_negative(scale: float) -> Callable[[Any], Any]:
    return lambda v: None if v is None or v < 0 else v / scale


def _load(value: float) -> float | None:
    """A float32 load average, -1 when unknown; shown as the agent wrote it (1.55 not
    1.5499999523)."""
    return None if value < 0 else float(f"{value:.7g}")


def _uuid(raw: bytes) -> str | None:
    if not raw or not any(raw):
        return None
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


Kind = Any  # GAUGE, C32, C64 or a callable turning a raw gauge into its metric value
_FIELDS: dict[str, tuple[tuple[str, str, Kind], ...]] = {
    "GenericInterfaceCounters": (
        ("if_index", "ifindex", GAUGE), ("if_type", "iftype", lambda v: IF_TYPES.get(v, str(v))),
        ("if_speed", "ifspeed", GAUGE), ("if_direction", "ifdirection", _name_of(IF_DIRECTIONS)),
        ("if_status", "ifadminstatus", lambda v: "up" if v & 1 else "down"),
        ("if_status", "ifoperstatus", lambda v: "up" if v & 2 else "down"),
        ("if_in_octets", "ifinoctets", C64), ("if_in_ucast_pkts", "ifinucastpkts", C32),
        ("if_in_multicast_pkts", "ifinmulticastpkts", C32),
        ("if_in_broadcast_pkts", "ifinbroadcastpkts", C32),
        ("if_in_discards", "ifindiscards", C32), ("if_in_errors", "ifinerrors", C32),
        ("if_in_unknown_protos", "ifinunknownprotos", C32),
        ("if_out_octets", "ifoutoctets", C64), ("if_out_ucast_pkts", "ifoutucastpkts", C32),
        ("if_out_multicast_pkts", "ifoutmulticastpkts", C32),
        ("if_out_broadcast_pkts", "ifoutbroadcastpkts", C32),
        ("if_out_discards", "ifoutdiscards", C32), ("if_out_errors", "ifouterrors", C32),
    ),
    "EthernetCounters": tuple(
        ("dot3_stats_" + f, "eth_" + m, C32) for f, m in (
            ("alignment_errors", "alignmenterrors"), ("fcs_errors", "fcserrors"),
            ("single_collision_frames", "singlecollisions"),
            ("multiple_collision_frames", "multiplecollisions"),
            ("sqe_test_errors", "sqetesterrors"), ("deferred_transmissions", "deferredtx"),
            ("late_collisions", "latecollision"), ("excessive_collisions", "excessivecollisions"),
            ("internal_mac_transmit_errors", "internalmactxerrors"),
            ("carrier_sense_errors", "carriersenseerrors"), ("frame_too_longs", "frametoolongs"),
            ("internal_mac_receive_errors", "internalmacrxerrors"),
            ("symbol_errors", "symbolerrors"),
        )
    ),
    "PortName": (("name", "ifname", GAUGE),),
    "OpenFlowPort": (("datapath_id", "of_dpid", lambda v: f"{v:016x}"),
                     ("port_no", "of_port", GAUGE)),
    "ProcessorCounters": (("cpu_5s", "cpu_5sec", _non_negative(PERCENT_X100)),
                          ("cpu_1m", "cpu_1min", _non_negative(PERCENT_X100)),
                          ("cpu_5m", "cpu_5min", _non_negative(PERCENT_X100))),
    "HostDescr": (("hostname", "host_name", GAUGE), ("uuid", "uuid", _uuid),
                  ("machine_type", "machine_type", _name_of(MACHINE_TYPES)),
                  ("os_name", "os_name", _name_of(OS_NAMES)), ("os_release", "os_release", GAUGE)),
    "HostCpu": (
        ("load_one", "load_one", _load), ("load_five", "load_five", _load),
        ("load_fifteen", "load_fifteen", _load), ("proc_run", "proc_run", GAUGE),
        ("proc_total", "proc_total", GAUGE), ("cpu_num", "cpu_num", GAUGE),
        ("cpu_speed", "cpu_speed", GAUGE), ("uptime", "uptime", GAUGE),
        *((name, name, C32) for name in CPU_TIMES),
        ("interrupts", "interrupts", C32), ("contexts", "contexts", C32),
        ("cpu_guest", "cpu_guest", C32), ("cpu_guest_nice", "cpu_guest_nice", C32),
    ),
    "HostMemory": (
        *((f, f, GAUGE) for f in ("mem_total", "mem_free", "mem_shared", "mem_buffers",
                                  "mem_cached", "swap_total", "swap_free")),
        *((f, f, C32) for f in ("page_in", "page_out", "swap_in", "swap_out")),
    ),
    "HostDiskIO": (
        ("disk_total", "disk_total", GAUGE), ("disk_free", "disk_free", GAUGE),
        ("part_max_used", "part_max_used", _non_negative(PERCENT_X100)),
        ("reads", "reads", C32), ("bytes_read", "bytes_read", C64), ("read_time", "read_time", C32),
        ("writes", "writes", C32), ("bytes_written", "bytes_written", C64),
        ("write_time", "write_time", C32),
    ),
    "HostNetIO": tuple((f, f, C64 if f.startswith("bytes") else C32) for f in (
        "bytes_in", "pkts_in", "errs_in", "drops_in", "bytes_out", "pkts_out", "errs_out",
        "drops_out")),
    "HttpCounters": tuple(
        (f"{kind}_{what}_count", f"http_{kind}_{what}", C32)
        for kind, whats in (("method", ("option", "get", "head", "post", "put", "delete",
                                        "trace", "connect", "other")),
                            ("status", ("1xx", "2xx", "3xx", "4xx", "5xx", "other")))
        for what in whats
    ),
    "AppWorkers": (("workers_active", "workers_active", GAUGE),
                   ("workers_idle", "workers_idle", GAUGE), ("workers_max", "workers_max", GAUGE),
                   ("req_delayed", "req_delayed", C32), ("req_dropped", "req_dropped", C32)),
    "OvsDpStats": (("hits", "ovs_dp_hits", C32), ("misses", "ovs_dp_misses", C32),
                   ("lost", "ovs_dp_lost", C32), ("mask_hits", "ovs_dp_mask_hits", C32),
                   ("flows", "ovs_dp_flows", GAUGE), ("masks", "ovs_dp_masks", GAUGE)),
}


_UNKNOWN = (UNKNOWN_U32, UNKNOWN_U64)  # all ones: the sFlow "unknown" (not for floats)


class _Plan:
    """How one record class's fields become metrics, resolved once per class.

    ``extract`` runs once per counter sample (a switch sends one per port per polling
    interval), so the per-field work is cut to one C-level ``attrgetter`` call plus a
    loop over precomputed ``(name, kind)`` pairs; the rules are still those of
    ``_FIELDS``.
    """

    __slots__ = ("fields", "get")

    def __init__(self, cls: type) -> None:
        self.fields = _FIELDS.get(cls.__name__, ())
        attrs = [attr for attr, _, _ in self.fields]
        slots = getattr(cls, "__slots__", ())
        slots = {slots} if isinstance(slots, str) else set(slots)
        # attrgetter raises on a missing attribute where getattr(..., None) gives None:
        # only records that are known to carry every field take the fast route
        self.get: Callable[[Any], tuple[Any, ...]] | None = None
        if attrs and slots.issuperset(attrs):
            getter = attrgetter(*attrs)
            self.get = getter if len(attrs) > 1 else (lambda r: (getter(r),))


_PLANS: dict[type, _Plan] = {}
_MAX_PLANS = 1024  # distinct record classes; beyond this, plans are built per call


def _plan(cls: type) -> _Plan:
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _Plan(cls)
        if len(_PLANS) < _MAX_PLANS:
            _PLANS[cls] = plan
    return plan


def extract(records: Iterable[Any]) -> tuple[dict[str, Any], dict[str, tuple[int, int]]]:
    """Gauges (name → value) and raw counters (name → (value, width)) of one sample."""
    gauges: dict[str, Any] = {}
    counters: dict[str, tuple[int, int]] = {}
    for record in records:
        plan = _PLANS.get(record.__class__) or _plan(record.__class__)
        fields = plan.fields
        if not fields:
            continue
        if plan.get is not None:
            values: Iterable[Any] = plan.get(record)
        else:
            values = [getattr(record, attr, None) for attr, _, _ in fields]
        for (_, name, kind), value in zip(fields, values, strict=True):
            # absent (a short record's tail field) or "unknown": no metric
            if value is None or (value in _UNKNOWN and not isinstance(value, float)):
                continue
            if kind in (C32, C64):
                counters[name] = (value, kind)
            elif kind == GAUGE:
                gauges[name] = value
            elif (converted := kind(value)) is not None:
                gauges[name] = converted
    return gauges, counters


def counter_delta(previous: int, value: int, width: int) -> int | None:
    """Increase of a counter; ``None`` when it was reset (see the module docstring)."""
    if value >= previous:
        return value - previous
    if width == C32 and previous >= 1 << 31:
        return value + (1 << 32) - previous
    return None


# derive()'s input names, spelled out once (it runs once per counter sample)
_INTERFACE_TOTALS = tuple(
    (f"if{d}pkts", tuple(f"if{d}{c}pkts" for c in ("ucast", "multicast", "broadcast")),
     f"if{d}octets", f"if{d}utilization")
    for d in ("in", "out")
)
# in _FIELDS order, which is the order they enter ``rates`` (the float sum is the same)
_HTTP_METHODS = tuple(
    name for _, name, _ in _FIELDS["HttpCounters"] if name.startswith("http_method_")
)


def derive(gauges: dict[str, Any], rates: dict[str, float]) -> dict[str, Any]:
    """Metrics computed from others: packet totals, utilizations, CPU percentages."""
    out: dict[str, Any] = {}
    speed = gauges.get("ifspeed")
    for packets, parts_names, octets, utilization in _INTERFACE_TOTALS:
        parts = [rates[name] for name in parts_names if name in rates]
        if parts:
            out[packets] = sum(parts)
        if octets in rates and speed:
            out[utilization] = rates[octets] * 800 / speed
    times = {name: rates[name] for name in CPU_TIMES if name in rates}
    total = sum(times.values())
    if total > 0:
        for name in (*CPU_TIMES, "cpu_guest", "cpu_guest_nice"):
            if name in rates:
                out[name] = rates[name] * 100 / total
        if "cpu_idle" in times:
            out["cpu_utilization"] = 100 - out["cpu_idle"]
    if gauges.get("cpu_num") and "load_one" in gauges:
        out["load_one_per_cpu"] = gauges["load_one"] / gauges["cpu_num"]
    total_mem = gauges.get("mem_total")
    if total_mem and "mem_free" in gauges:
        used = total_mem - sum(gauges.get(k, 0) for k in ("mem_free", "mem_buffers", "mem_cached"))
        out["mem_utilization"] = 100 * used / total_mem
    if gauges.get("disk_total") and "disk_free" in gauges:
        out["disk_utilization"] = 100 * (gauges["disk_total"] - gauges["disk_free"]) / gauges[
            "disk_total"]
    if gauges.get("workers_max") and "workers_active" in gauges:
        out["workers_utilization"] = 100 * gauges["workers_active"] / gauges["workers_max"]
    http = [rates[name] for name in _HTTP_METHODS if name in rates]
    if http:
        out["http_requests"] = sum(http)
    return out


@dataclass(slots=True)
class DataSourceMetrics:
    """One (agent, data source): current values and the raw counters of the last sample."""

    values: dict[str, tuple[Any, float]] = field(default_factory=dict)
    raw: dict[str, tuple[int, int]] = field(default_factory=dict)
    sequence: int | None = None
    uptime_ms: int | None = None
    seen_at: float | None = None
    interval: float | None = None  # seconds between samples, for staleness

    def stale_after(self) -> float:
        return max(STALE_MIN_SECONDS, STALE_INTERVALS * (self.interval or 0.0))


MetricSource = Callable[[float], Iterable[MetricPoint]]


class MetricStore:
    """Latest metric values per (agent, data source), and the queries over them."""

    def __init__(
        self, max_agents: int = DEFAULT_MAX_AGENTS, max_datasources: int = DEFAULT_MAX_DATASOURCES,
        max_datasources_total: int = DEFAULT_MAX_DATASOURCES_TOTAL,
    ) -> None:
        self.max_agents = max_agents
        self.max_datasources = max_datasources
        self.max_datasources_total = max_datasources_total
        self.datasource_count = 0  # data sources held over every agent
        self.agents: dict[str, dict[str, DataSourceMetrics]] = {}
        self.rejected = 0  # samples refused by the caps
        self.ignored = 0  # duplicate or out-of-date samples
        self._sources: list[MetricSource] = []
        self.topology: TopologyStore | None = None  # set by the Engine: EDGE/CORE/TOPOLOGY

    @classmethod
    def from_properties(cls, props: Properties) -> MetricStore:
        """A store capped by ``flowrt.agents.max``, ``flowrt.datasources.max`` and
        ``flowrt.datasources.total.max``: the properties that cap the agent table, so both
        hold the same agents and data sources and an operator raises one number, not two
        (a cap below 1 is a ConfigError)."""
        caps = []
        for name, default in ((AGENTS_MAX_PROPERTY, DEFAULT_MAX_AGENTS),
                              (DATASOURCES_MAX_PROPERTY, DEFAULT_MAX_DATASOURCES),
                              (DATASOURCES_TOTAL_PROPERTY, DEFAULT_MAX_DATASOURCES_TOTAL)):
            cap = props.get_int(name, default)
            if cap < 1:
                raise ConfigError(f"property {name}={cap} must be at least 1")
            caps.append(cap)
        return cls(max_agents=caps[0], max_datasources=caps[1], max_datasources_total=caps[2])

    def _state(self, agent: str, ds: str) -> DataSourceMetrics | None:
        sources = self.agents.get(agent)
        if sources is None:
            if len(self.agents) >= self.max_agents:
                return None
            sources = self.agents[agent] = {}
        state = sources.get(ds)
        if state is None:
            if (len(sources) >= self.max_datasources
                    or self.datasource_count >= self.max_datasources_total):
                if not sources:
                    del self.agents[agent]
                return None
            state = sources[ds] = DataSourceMetrics()
            self.datasource_count += 1
        return state

    def ingest_counters(
        self, agent: str, sample: CounterSample, uptime_ms: int, now: float,
        *, restart: bool = False,
    ) -> bool:
        """Update one data source from a counter sample; ``False`` if it was not used.

        ``restart``: sequence accounting saw the agent start again (even after a run too
        short for the uptime to say so), so no rates are taken across this sample.
        """
        ds = datasource_name(sample.source_id_type, sample.source_id_index)
        state = self._state(agent, ds)
        if state is None:
            self.rejected += 1
            return False
        elapsed = None if restart else self._elapsed(state, sample.sequence, uptime_ms, now)
        if elapsed == "ignore":
            self.ignored += 1
            return False
        gauges, counters = extract(sample.records)
        rates: dict[str, float] = {}
        if elapsed.__class__ is float:
            previous_raw = state.raw.get
            for name, (value, width) in counters.items():
                previous = previous_raw(name)
                if previous is None:
                    continue
                last = previous[0]
                if value >= last:  # counter_delta's common case, inlined (once per counter)
                    rates[name] = (value - last) / elapsed
                elif (delta := counter_delta(last, value, width)) is not None:
                    rates[name] = delta / elapsed
        if state.seen_at is not None and now > state.seen_at:
            state.interval = now - state.seen_at
        state.raw = counters
        state.sequence, state.uptime_ms, state.seen_at = sample.sequence, uptime_ms, now
        values = state.values
        for source in (gauges, rates, derive(gauges, rates)):
            for name, metric in source.items():
                values[name] = (metric, now)
        return True

    @staticmethod
    def _elapsed(state: DataSourceMetrics, seq: int, uptime: int, now: float) -> Any:
        """Seconds since the previous sample, ``None`` (no rates: first or restart) or
        ``"ignore"`` (a duplicate or older sample)."""
        if state.sequence is None or state.uptime_ms is None or state.seen_at is None:
            return None
        if uptime_went_backwards(state.uptime_ms, uptime):
            return None  # restart
        if seq <= state.sequence:
            if seq == state.sequence or uptime <= state.uptime_ms:
                return "ignore"
            return None  # sequence reset with uptime advancing: counters restarted
        span = (uptime - state.uptime_ms) % UPTIME_WRAP
        if uptime != state.uptime_ms and span < UPTIME_WRAP // 2:
            return span / 1000.0
        return (now - state.seen_at) if now > state.seen_at else None

    def expire(self, now: float) -> int:
        """Drop stale values, then empty data sources and agents; returns values dropped."""
        dropped = 0
        for agent in list(self.agents):
            sources = self.agents[agent]
            for ds in list(sources):
                state = sources[ds]
                limit = state.stale_after()
                stale = [n for n, (_, t) in state.values.items() if now - t > limit]
                for name in stale:
                    del state.values[name]
                dropped += len(stale)
                if not state.values and (state.seen_at is None or now - state.seen_at > limit):
                    del sources[ds]
                    self.datasource_count -= 1
            if not sources:
                del self.agents[agent]
        return dropped

    def forget(self, agent: str, ds: str | None = None) -> None:
        """Drop one data source's state (or every one of ``agent``'s): the agent table
        forgot it as idle, so its metrics go with it rather than waiting to go stale."""
        sources = self.agents.get(agent)
        if sources is None:
            return
        if ds is None:
            self.datasource_count -= len(sources)
            del self.agents[agent]
        elif sources.pop(ds, None) is not None:
            self.datasource_count -= 1
            if not sources:
                del self.agents[agent]

    def register_source(self, source: MetricSource) -> None:
        """Add a provider of more points (flow metrics) to every query."""
        self._sources.append(source)

    def points(self, now: float) -> Iterator[MetricPoint]:
        """Every live value: counter metrics first, then registered sources."""
        for agent, sources in self.agents.items():
            for ds, state in sources.items():
                limit = state.stale_after()
                for name, (value, updated) in state.values.items():
                    if now - updated <= limit:
                        yield MetricPoint(agent, ds, name, value, updated)
        for source in self._sources:
            yield from source(now)

    def metrics_json(self, now: float) -> dict[str, int]:
        return mq.metrics_json(self.points(now), now)

    def agent_metrics(self, agent: str, now: float) -> dict[str, Any]:
        return mq.agent_metrics(self.points(now), agent)

    def metric_query(self, agents: str | Sequence[str], metrics: str | Sequence[str],
                     filter: Mapping[str, Any] | None, now: float) -> list[dict[str, Any]]:
        return mq.metric_query(self.points(now), agents, metrics, filter, now, self.topology)

    def dump_query(self, agents: str | Sequence[str], metrics: str | Sequence[str],
                   filter: Mapping[str, Any] | None, now: float) -> list[dict[str, Any]]:
        return mq.dump_query(self.points(now), agents, metrics, filter, now, self.topology)

    def table_query(self, agents: str | Sequence[str], metrics: str | Sequence[str],
                    filter: Mapping[str, Any] | None, now: float) -> list[list[Any]]:
        return mq.table_query(self.points(now), agents, metrics, filter, now, self.topology)
