"""The query side of metrics: ``/metric``, ``/dump``, ``/table`` and ``/metrics`` bodies.

Queries run over :class:`MetricPoint` values, one per (agent, data source, metric), so
counter metrics from :class:`~flowrt.engine.metrics.MetricStore` and flow metrics from
other tables answer the same queries. Selectors follow sFlow-RT:

* agents: ``ALL`` or a ``;`` list of addresses (or a list), and the topology tokens
  (:mod:`flowrt.engine.topology`): ``TOPOLOGY`` = every data source of the topology's
  agents, ``EDGE``/``CORE`` = the interface (ifIndex) data sources of those agents off /
  on a topology link; parts are OR'ed (``EDGE;10.0.0.9``). While no topology is defined
  the tokens name no data source (an empty answer, as in sFlow-RT: apps poll
  ``TOPOLOGY`` every second before anyone has PUT a topology);
* metrics: a ``,`` (or legacy ``;``) list; each may carry an aggregation prefix
  (``max:`` default, ``min: sum: avg: var: sdev: med: q1: q2: q3: iqr: any:``) and a data
  source qualification ``<ds>.<metric>`` (split at the last dot: ``2.1.load_one``);
* filter: ``{metric: [pattern, ...]}``: repeated values are OR'ed, different metrics
  AND'ed, ``*`` matches any run of characters (the rest is literal, whole value). A
  filter metric is read from the same data source, or, when that data source lacks
  it, from any data source of the same agent (so ``host_name=web*`` selects a host's
  interfaces too).

Choices where sFlow-RT is not documented: ``var``/``sdev`` are population statistics;
quartiles interpolate linearly between ranks (``statistics.quantiles`` "inclusive");
aggregates over several values report ``lastUpdate`` = the oldest contributing value;
``max``/``min`` compare numbers when any value is numeric, else strings.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from flowrt.engine.topology import TopologyStore

AGGREGATIONS = frozenset(
    {"max", "min", "sum", "avg", "var", "sdev", "med", "q1", "q2", "q3", "iqr", "any"}
)
DEFAULT_AGGREGATION = "max"
ALL = "ALL"
TOPOLOGY_SELECTORS = frozenset({"TOPOLOGY", "EDGE", "CORE"})
TABLE_SORT, TABLE_NULL = "sort", "null"

Filter = Mapping[str, "str | Sequence[str | int | float]"]


class QueryError(ValueError):
    """A malformed selector, unknown aggregation or bad table modifier (a 400)."""


class UnknownAgentError(LookupError):
    """The named agent has no metrics (a 404)."""


class MetricPoint(NamedTuple):
    """One metric value at one data source; ``updated`` is when it was set (seconds).

    ``extra`` is merged into the JSON element that reports this point (flow metrics
    put ``topKeys`` there).
    """

    agent: str
    datasource: str
    name: str
    value: Any
    updated: float
    extra: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class MetricRef:
    """One parsed metric token: ``text`` is what the caller asked for, kept for replies."""

    text: str
    name: str
    datasource: str | None = None
    aggregation: str = DEFAULT_AGGREGATION
    modifier: str | None = None  # table: "sort" or "null"
    sort_n: int = 0


def age_ms(now: float, updated: float) -> int:
    """Milliseconds since ``updated``: the unit of every ``lastUpdate``."""
    return max(0, round((now - updated) * 1000))


def parse_agents(selector: str | Sequence[str]) -> frozenset[str] | None:
    """The agent set a selector names; ``None`` means every agent (no topology tokens)."""
    selection = parse_selection(selector, None)
    return selection.agents


@dataclass(frozen=True, slots=True)
class Selection:
    """Which (agent, data source) pairs an agent selector names.

    ``agents`` are whole agents (``None``: every agent); ``classes`` are topology port
    classes (``edge``/``core``) read from ``topology`` per data source.
    """

    agents: frozenset[str] | None
    classes: frozenset[str] = frozenset()
    topology: TopologyStore | None = None

    @classmethod
    def of(cls, agents: frozenset[str] | Selection | None) -> Selection:
        """A selection from what older callers pass: an agent set or None (all)."""
        return agents if isinstance(agents, Selection) else cls(agents)

    @property
    def everything(self) -> bool:
        return self.agents is None

    def admits(self, agent: str, datasource: str) -> bool:
        agents = self.agents
        if agents is None or agent in agents:
            return True
        if self.classes and self.topology is not None:
            return self.topology.port_class(agent, datasource) in self.classes
        return False


def parse_selection(
    selector: str | Sequence[str], topology: TopologyStore | None = None
) -> Selection:
    """Parse an agent selector; topology tokens name nothing without an active ``topology``."""
    parts = selector.split(";") if isinstance(selector, str) else list(selector)
    names = [p.strip() for p in parts if p.strip()]
    if not names:
        raise QueryError("empty agent selector")
    if ALL in names:
        return Selection(None)
    agents: set[str] = set()
    classes: set[str] = set()
    for name in names:
        if name not in TOPOLOGY_SELECTORS:
            agents.add(name)
        elif topology is None or not topology.active:
            continue  # no topology: the token names nothing
        elif name == "TOPOLOGY":
            agents |= topology.agents
        else:
            classes.add(name.lower())
    return Selection(frozenset(agents), frozenset(classes), topology if classes else None)


def split_metrics(spec: str | Sequence[str]) -> list[str]:
    """Metric tokens in request order (``,`` or ``;`` separated)."""
    parts = re.split(r"[,;]", spec) if isinstance(spec, str) else list(spec)
    tokens = [p.strip() for p in parts if p.strip()]
    if not tokens:
        raise QueryError("empty metric selector")
    return tokens


def _qualified(text: str, body: str) -> tuple[str, str | None]:
    ds, dot, name = body.rpartition(".")
    if not name:
        raise QueryError(f"metric {text!r} has no name after the data source")
    return (name, ds) if dot and ds else (body, None)


def parse_metric(text: str) -> MetricRef:
    """``[agg:][ds.]name`` → :class:`MetricRef`."""
    body, aggregation = text, DEFAULT_AGGREGATION
    if ":" in text:
        aggregation, _, body = text.partition(":")
        if aggregation not in AGGREGATIONS:
            raise QueryError(
                f"unknown aggregation {aggregation!r} in {text!r}; use one of "
                + ", ".join(sorted(AGGREGATIONS))
            )
    if not body:
        raise QueryError(f"metric {text!r} has no name")
    name, ds = _qualified(text, body)
    return MetricRef(text, name, ds, aggregation)


def parse_column(text: str) -> MetricRef:
    """A table column: ``[ds.]name``, ``sort:[ds.]name:N`` or ``null:[ds.]name``."""
    if text.startswith(TABLE_SORT + ":"):
        body, _, count = text[len(TABLE_SORT) + 1:].rpartition(":")
        try:
            sort_n = int(count)
        except ValueError:
            raise QueryError(f"table column {text!r}: expected sort:<metric>:<N>") from None
        if not body:
            raise QueryError(f"table column {text!r}: expected sort:<metric>:<N>")
        name, ds = _qualified(text, body)
        return MetricRef(body, name, ds, modifier=TABLE_SORT, sort_n=sort_n)
    if text.startswith(TABLE_NULL + ":"):
        body = text[len(TABLE_NULL) + 1:]
        name, ds = _qualified(text, body) if body else ("", None)
        if not name:
            raise QueryError(f"table column {text!r}: expected null:<metric>")
        return MetricRef(body, name, ds, modifier=TABLE_NULL)
    if ":" in text:
        raise QueryError(f"table column {text!r}: only sort: and null: modifiers are allowed")
    name, ds = _qualified(text, text)
    return MetricRef(text, name, ds)


GlobMatcher = Callable[[str], bool]


def _glob(pattern: str) -> GlobMatcher:
    """A whole-value matcher for a filter value where ``*`` stands for any text.

    Matched without backtracking: the literal pieces between stars are found left to
    right, each at its first place after the previous one (taking the leftmost place
    never loses a match), so ``*a*a*a...*b`` against a long host name an agent chose
    costs one scan per piece instead of the exponential time a regex ``.*a.*a...`` can
    take.
    """
    pieces = pattern.split("*")
    if len(pieces) == 1:
        return lambda value: value == pattern
    head, tail, middle = pieces[0], pieces[-1], [p for p in pieces[1:-1] if p]
    least = len(head) + len(tail) + sum(map(len, middle))

    def matches(value: str) -> bool:
        if len(value) < least or not value.startswith(head) or not value.endswith(tail):
            return False
        pos, end = len(head), len(value) - len(tail)
        for piece in middle:
            found = value.find(piece, pos, end)
            if found < 0:
                return False
            pos = found + len(piece)
        return True

    return matches


def value_text(value: Any) -> str:
    """How a value reads in a filter: whole floats without ``.0`` (``cpu_num=2``)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class PointIndex:
    """Points grouped by data source, the shape every query walks."""

    def __init__(
        self, points: Iterable[MetricPoint], agents: frozenset[str] | Selection | None
    ) -> None:
        self.by_ds: dict[tuple[str, str], dict[str, MetricPoint]] = {}
        self.by_agent: dict[str, list[str]] = {}
        selection = Selection.of(agents)
        admits = None if selection.everything else selection.admits
        for point in points:
            if admits is not None and not admits(point.agent, point.datasource):
                continue
            key = (point.agent, point.datasource)
            names = self.by_ds.get(key)
            if names is None:
                names = self.by_ds[key] = {}
                self.by_agent.setdefault(point.agent, []).append(point.datasource)
            names[point.name] = point

    def lookup(self, agent: str, ds: str, name: str) -> MetricPoint | None:
        names = self.by_ds.get((agent, ds))
        return names.get(name) if names else None

    def agent_values(self, agent: str, name: str) -> list[Any]:
        return [p.value for ds in self.by_agent.get(agent, ())
                if (p := self.lookup(agent, ds, name)) is not None]


def compile_filter(spec: Filter | None) -> Callable[[PointIndex, str, str], bool]:
    """A predicate over (index, agent, ds) for a query-string style filter."""
    if not spec:
        return lambda index, agent, ds: True
    tests: list[tuple[str, list[GlobMatcher]]] = []
    for key, values in spec.items():
        patterns = [values] if isinstance(values, str) else list(values)
        if not patterns:
            raise QueryError(f"filter {key!r} has no values")
        tests.append((key, [_glob(str(p)) for p in patterns]))

    def accept(index: PointIndex, agent: str, ds: str) -> bool:
        for key, patterns in tests:
            own = index.lookup(agent, ds, key)
            candidates = [own.value] if own is not None else index.agent_values(agent, key)
            if not any(p(value_text(v)) for p in patterns for v in candidates):
                return False
        return True

    return accept


def _matching(index: PointIndex, ref: MetricRef, accept: Callable[..., bool]) -> list[MetricPoint]:
    out = []
    for (agent, ds), names in index.by_ds.items():
        if ref.datasource is not None and ds != ref.datasource:
            continue
        point = names.get(ref.name)
        if point is not None and accept(index, agent, ds):
            out.append(point)
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not (
        isinstance(value, float) and math.isnan(value))


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def _statistic(ref: MetricRef, points: list[MetricPoint], now: float) -> dict[str, Any]:
    numeric = [p for p in points if _is_number(p.value)]
    out: dict[str, Any] = {"metricName": ref.text}
    chosen: MetricPoint | None = None
    agg = ref.aggregation
    if agg in ("max", "min", "any"):
        pool = numeric or points
        if pool:
            if agg == "any":
                chosen = max(pool, key=lambda p: p.updated)
            else:
                pick = max if agg == "max" else min
                chosen = pick(pool, key=lambda p: (p.value, p.updated) if agg == "max"
                              else (p.value, -p.updated))
            out["metricValue"] = chosen.value
        used = pool
    else:
        used = numeric
        values = [float(p.value) for p in numeric]
        if values:
            if agg == "sum":
                out["metricValue"] = math.fsum(values)
            elif agg == "avg":
                out["metricValue"] = statistics.fmean(values)
            elif agg in ("var", "sdev"):
                var = statistics.pvariance(values)
                out["metricValue"] = var if agg == "var" else math.sqrt(var)
            else:
                q1, med, q3 = _quartiles(values)
                out["metricValue"] = {"med": med, "q1": q1, "q2": med, "q3": q3,
                                      "iqr": q3 - q1}[agg]
                if agg == "med":
                    out["quartiles"] = {"min": min(values), "q1": q1, "med": med, "q3": q3,
                                        "max": max(values)}
    out["metricN"] = len(used)
    if not used:
        return out
    ages = [age_ms(now, p.updated) for p in used]
    if chosen is not None:
        out["agent"] = chosen.agent
        out["dataSource"] = chosen.datasource
        out["lastUpdate"] = age_ms(now, chosen.updated)
        if chosen.extra:
            out.update(chosen.extra)
    else:
        out["lastUpdate"] = max(ages)
    out["lastUpdateMin"] = min(ages)
    out["lastUpdateMax"] = max(ages)
    return out


def metric_query(
    points: Iterable[MetricPoint], agents: str | Sequence[str], metrics: str | Sequence[str],
    filter: Filter | None, now: float, topology: TopologyStore | None = None,
) -> list[dict[str, Any]]:
    """``/metric/{agent}/{metric}/json``: one statistic per requested metric, in order."""
    refs = [parse_metric(t) for t in split_metrics(metrics)]
    index = PointIndex(points, parse_selection(agents, topology))
    accept = compile_filter(filter)
    return [_statistic(ref, _matching(index, ref, accept), now) for ref in refs]


def _cell(point: MetricPoint, name: str, now: float) -> dict[str, Any]:
    cell = {"agent": point.agent, "dataSource": point.datasource, "metricName": name,
            "metricValue": point.value, "lastUpdate": age_ms(now, point.updated)}
    if point.extra:
        cell.update(point.extra)
    return cell


def dump_query(
    points: Iterable[MetricPoint], agents: str | Sequence[str], metrics: str | Sequence[str],
    filter: Filter | None, now: float, topology: TopologyStore | None = None,
) -> list[dict[str, Any]]:
    """``/dump/{agent}/{metric}/json``: every matching value; ``metrics`` may be ``ALL``.

    Aggregation prefixes are accepted and ignored (a dump has nothing to aggregate).
    """
    index = PointIndex(points, parse_selection(agents, topology))
    accept = compile_filter(filter)
    tokens = split_metrics(metrics)
    if tokens == [ALL]:
        return [_cell(p, p.name, now) for (agent, ds), names in index.by_ds.items()
                if accept(index, agent, ds) for p in names.values()]
    out: list[dict[str, Any]] = []
    for ref in (parse_metric(t) for t in tokens):
        label = ref.text.partition(":")[2] if ":" in ref.text else ref.text
        out.extend(_cell(p, label, now) for p in _matching(index, ref, accept))
    return out


def table_query(
    points: Iterable[MetricPoint], agents: str | Sequence[str], metrics: str | Sequence[str],
    filter: Filter | None, now: float, topology: TopologyStore | None = None,
) -> list[list[dict[str, Any] | None]]:
    """``/table/{agent}/{metric}/json``: one row per data source having every column.

    Unqualified columns are read from the row's data source, qualified ones
    (``2.1.host_name``) from that data source of the row's agent; ``null:`` columns
    may be missing (cell ``null``); the first ``sort:<metric>:<N>`` column orders the
    rows (N < 0 descending) and keeps |N| of them (0 keeps all).
    """
    columns = [parse_column(t) for t in split_metrics(metrics)]
    index = PointIndex(points, parse_selection(agents, topology))
    accept = compile_filter(filter)
    rows: list[list[dict[str, Any] | None]] = []
    seen: set[tuple[tuple[str, str] | None, ...]] = set()
    for agent, ds in list(index.by_ds):
        if not accept(index, agent, ds):
            continue
        found = [index.lookup(agent, col.datasource or ds, col.name) for col in columns]
        pairs = list(zip(found, columns, strict=True))
        if any(p is None and col.modifier != TABLE_NULL for p, col in pairs):
            continue
        identity = tuple((p.agent, p.datasource) if p else None for p in found)
        if identity in seen or all(p is None for p in found):
            continue
        seen.add(identity)
        rows.append([_cell(p, col.text, now) if p else None for p, col in pairs])
    sort_at = next((i for i, col in enumerate(columns) if col.modifier == TABLE_SORT), None)
    if sort_at is not None:
        n = columns[sort_at].sort_n
        keyed = [((cell["metricValue"] if (cell := row[sort_at]) else None), row) for row in rows]
        present = [(value, row) for value, row in keyed if value is not None]
        missing = [row for value, row in keyed if value is None]
        try:
            present.sort(key=lambda k: k[0], reverse=n < 0)
        except TypeError:
            present.sort(key=lambda k: value_text(k[0]), reverse=n < 0)
        rows = [row for _, row in present] + missing
        if n:
            rows = rows[:abs(n)]
    return rows


def metrics_json(points: Iterable[MetricPoint], now: float) -> dict[str, int]:
    """``/metrics/json``: metric name → ms since any data source last reported it."""
    out: dict[str, int] = {}
    for point in points:
        age = age_ms(now, point.updated)
        if point.name not in out or age < out[point.name]:
            out[point.name] = age
    return out


def agent_metrics(points: Iterable[MetricPoint], agent: str) -> dict[str, Any]:
    """``/metric/{agent}/json``: ``"<ds>.<metric>": value`` for one agent."""
    out = {f"{p.datasource}.{p.name}": p.value for p in points if p.agent == agent}
    if not out:
        raise UnknownAgentError(f"no metrics for agent {agent}")
    return out
