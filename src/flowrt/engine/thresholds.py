"""Thresholds over counter metrics and flows, and the events they raise.

A threshold (``PUT /threshold/{name}/json``, script ``setThreshold``) watches one
metric: a counter metric (``load_one``), a flow name (``tcp``), or either qualified by a
data source (``2.1.load_one``, ``22.tcp``). It is evaluated per data source, and for
``byFlow`` flow thresholds per flow key. Each evaluated unit is *armed* until its value
goes above the threshold; that raises one event and *triggers* the unit, which re-arms
only after its value has stayed at or below the threshold for ``timeout`` seconds
(hysteresis, so a value hovering around the level does not flood the log).

Where the values come from:

* flows: :meth:`ThresholdEngine.observe_flow` on every smoothed-value update of a
  watched flow, so a flow event appears as soon as the traffic crosses;
* counter metrics: :meth:`ThresholdEngine.evaluate_metrics` once a second with every
  metric point;
* re-arming: :meth:`ThresholdEngine.tick` once a second, asking the flow tables for
  the current (decayed) value of each triggered flow.

Choices where sFlow-RT is not documented (see the module tests):

* "above" is strictly greater than: the schema calls ``value`` the "maximum value of
  metric" and the docs speak of flows "exceeding" it, so sitting exactly at the
  maximum is allowed and counts as below for re-arming;
* ``timeout`` defaults to 60 seconds, the hysteresis InMon's own apps use by default;
* ``byFlow:false`` on a flow raises one event per data source, carrying the key of
  the first flow that crossed; the data source re-arms once no flow there (its top
  flow, and the key that fired) has been above the threshold for ``timeout``;
* ``value`` and ``timeout`` accept numeric strings, because apps pass system
  properties straight through (``timeout: getSystemProperty(...) || '60'``);
* ``filter`` accepts the legacy query-string form (``"os_name=linux&cpu_num=2"``)
  besides the object form, and is reported back as an object.

Memory is bounded: at most ``max_thresholds`` thresholds, and at most ``max_states``
triggered units per threshold (when full, the unit refreshed longest ago is dropped,
so it may fire again later; ``evicted`` counts those).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from flowrt.engine.events import EventLog
from flowrt.engine.metric_query import (
    MetricPoint,
    PointIndex,
    QueryError,
    compile_filter,
    parse_metric,
)

DEFAULT_TIMEOUT = 60
"""Seconds of hysteresis when a threshold names none (InMon apps' usual default)."""
DEFAULT_MAX_STATES = 10_000
"""Triggered units kept per threshold: a flood of distinct keys must not grow memory."""
FILTER_REFRESH_SECONDS = 10.0
"""How long a filter verdict per data source is reused. Filters read slow attributes
(``ifspeed``, ``host_name``), and re-judging thousands of data sources every second
would cost more than the thresholds themselves; a changed attribute counts within this."""
ATTRIBUTES = ("metric", "value", "filter", "byFlow", "timeout")
TOP_KEYS = "topKeys"
"""Flow metric points carry their top keys in ``extra``: how a flow point is recognised."""

FlowValue = Callable[[str, str, str, str, float], "float | None"]
FilterSpec = dict[str, list[str | int | float]]
StateKey = tuple[str, str, "str | None"]  # (agent, data source, flow key or None)


class ThresholdError(ValueError):
    """A threshold spec that cannot be used (the API answers 400 with this message)."""


def _number(name: str, raw: object, *, minimum: float | None = None) -> int | float:
    """A finite number, kept as given (``2`` stays ``2`` in ``GET`` replies)."""
    value: int | float
    if isinstance(raw, bool):
        raise ThresholdError(f"threshold '{name}' must be a number, got {raw!r}")
    if isinstance(raw, int | float):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip()
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                raise ThresholdError(
                    f"threshold '{name}' must be a number, got {raw!r}") from None
    else:
        raise ThresholdError(f"threshold '{name}' must be a number, got {raw!r}")
    try:
        finite = math.isfinite(value)
    except OverflowError:
        finite = False
    if not finite:
        raise ThresholdError(f"threshold '{name}' must be a finite number, got {raw!r}")
    if minimum is not None and value < minimum:
        raise ThresholdError(f"threshold '{name}' must be at least {minimum}, got {raw!r}")
    return value


def _flag(raw: object) -> bool:
    if raw is None:
        return False
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise ThresholdError(f"threshold 'byFlow' must be true or false, got {raw!r}")


def _filter(raw: object) -> FilterSpec | None:
    """``{metric: [values]}`` (a lone value is a one-item list) or ``"a=1&b=x"``."""
    if raw is None:
        return None
    if isinstance(raw, str):
        text = raw.strip().lstrip("?")
        if not text:
            return None
        if "=" not in text:
            raise ThresholdError(f"threshold 'filter' {raw!r} is not of the form name=value&...")
        parsed = parse_qs(text, keep_blank_values=True)
        return {k: list(v) for k, v in parsed.items()} or None
    if not isinstance(raw, Mapping):
        raise ThresholdError(
            f"threshold 'filter' must be an object of metric name -> list of values, got {raw!r}")
    out: FilterSpec = {}
    for key, values in raw.items():
        if not isinstance(key, str) or not key:
            raise ThresholdError(f"threshold 'filter' has an invalid metric name {key!r}")
        items = values if isinstance(values, list | tuple) else [values]
        if not items:
            raise ThresholdError(f"threshold 'filter' {key!r} has no values")
        for item in items:
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise ThresholdError(
                    f"threshold 'filter' {key!r} values must be strings or numbers, "
                    f"got {item!r}")
        out[key] = list(items)
    return out or None


def _metric(raw: object) -> tuple[str, str | None]:
    """The metric name and its data source qualification (``22.tcp`` → tcp, 22)."""
    if not isinstance(raw, str) or not raw.strip():
        raise ThresholdError(f"threshold 'metric' must be a non-empty string, got {raw!r}")
    text = raw.strip()
    if ":" in text:
        raise ThresholdError(
            f"threshold 'metric' {text!r}: aggregation prefixes are not allowed, "
            "a threshold applies to each data source's own value")
    try:
        ref = parse_metric(text)
    except QueryError as err:
        raise ThresholdError(f"threshold 'metric': {err}") from None
    return ref.name, ref.datasource


@dataclass(frozen=True, slots=True)
class Threshold:
    """One validated threshold definition; ``to_json`` is its ``GET`` shape."""

    name: str
    metric: str  # as given, possibly data-source qualified
    value: int | float
    filter: FilterSpec | None = None
    by_flow: bool = False
    timeout: int | float = DEFAULT_TIMEOUT
    metric_name: str = ""  # the metric without its qualification
    datasource: str | None = None  # the qualification, if any

    @classmethod
    def from_json(cls, name: str, body: object) -> Threshold:
        """Validate a ``PUT /threshold/{name}/json`` body or a ``setThreshold`` spec."""
        if not isinstance(name, str) or not name.strip():
            raise ThresholdError(f"threshold name must be a non-empty string, got {name!r}")
        if not isinstance(body, Mapping):
            raise ThresholdError(f"threshold {name!r} must be a JSON object, got {body!r}")
        unknown = sorted(str(k) for k in body if k not in ATTRIBUTES)
        if unknown:
            raise ThresholdError(
                f"threshold {name!r}: unknown attribute(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(ATTRIBUTES)}")
        for required in ("metric", "value"):
            if body.get(required) is None:
                raise ThresholdError(f"threshold {name!r}: '{required}' is required")
        metric_name, datasource = _metric(body["metric"])
        timeout = body.get("timeout")
        return cls(
            name=name,
            metric=body["metric"].strip(),
            value=_number("value", body["value"]),
            filter=_filter(body.get("filter")),
            by_flow=_flag(body.get("byFlow")),
            timeout=DEFAULT_TIMEOUT if timeout is None else _number("timeout", timeout,
                                                                    minimum=0),
            metric_name=metric_name,
            datasource=datasource,
        )

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"metric": self.metric, "value": self.value}
        if self.filter:
            out["filter"] = {k: list(v) for k, v in self.filter.items()}
        out["byFlow"] = self.by_flow
        out["timeout"] = self.timeout
        return out


class _Trigger:
    """One triggered unit: when it was last seen above, and what to probe for re-arming."""

    __slots__ = ("flow_key", "flow_name", "last_above")

    def __init__(self, last_above: float, flow_name: str | None, flow_key: str | None) -> None:
        self.last_above = last_above
        self.flow_name = flow_name  # None for a counter metric
        self.flow_key = flow_key  # the key that fired (probed when byFlow is false)


@dataclass(slots=True)
class _Armed:
    """A threshold with its live state; replaced whole when the threshold is replaced."""

    spec: Threshold
    level: float
    accept: Callable[[PointIndex, str, str], bool]
    states: OrderedDict[StateKey, _Trigger] = field(default_factory=OrderedDict)
    verdicts: dict[tuple[str, str], bool] = field(default_factory=dict)


class ThresholdEngine:
    """Every threshold, its trigger state, and the event log its crossings feed."""

    def __init__(
        self, events_max: int = 1000, max_thresholds: int = 1000,
        max_states: int = DEFAULT_MAX_STATES,
    ) -> None:
        self.events = EventLog(events_max)
        self.max_thresholds = max_thresholds
        self.max_states = max_states
        self.evicted = 0
        self._armed: dict[str, _Armed] = {}
        # metric or flow name -> [(threshold, required data source or None)]
        self._by_name: dict[str, list[tuple[_Armed, str | None]]] = {}
        self._filter_keys: frozenset[str] = frozenset()
        self._filter_points: list[MetricPoint] | None = None  # as of the last evaluation
        self._by_agent: dict[str, list[MetricPoint]] | None = None  # grouped on first need
        self._indexes: dict[str, PointIndex] = {}  # per agent, built on first need
        self._verdicts_at = -math.inf
        self._flow_names: set[str] = set()  # names observe_flow has reported

    # --- definitions ----------------------------------------------------------------
    def set_threshold(self, name: str, body: Mapping[str, Any]) -> Threshold:
        """Create or replace a threshold; a replaced one starts armed everywhere."""
        spec = Threshold.from_json(name, body)
        if name not in self._armed and len(self._armed) >= self.max_thresholds:
            raise ThresholdError(
                f"too many thresholds ({self.max_thresholds}); delete one before adding {name!r}")
        try:
            accept = compile_filter(spec.filter)
        except QueryError as err:
            raise ThresholdError(f"threshold {name!r} 'filter': {err}") from None
        self._armed[name] = _Armed(spec, float(spec.value), accept)
        self._reindex()
        return spec

    def delete_threshold(self, name: str) -> bool:
        found = self._armed.pop(name, None) is not None
        if found:
            self._reindex()
        return found

    def specs(self) -> dict[str, Threshold]:
        return {name: armed.spec for name, armed in self._armed.items()}

    def flow_metrics(self) -> set[str]:
        """Names a threshold may be watching as a flow (the engine keeps those that are)."""
        return set(self._by_name)

    def _reindex(self) -> None:
        by_name: dict[str, list[tuple[_Armed, str | None]]] = {}
        keys: set[str] = set()
        for armed in self._armed.values():
            spec = armed.spec
            by_name.setdefault(spec.metric, []).append((armed, None))
            if spec.datasource is not None:
                # "22.tcp" is flow tcp at data source 22, unless a metric is named "22.tcp"
                by_name.setdefault(spec.metric_name, []).append((armed, spec.datasource))
            if spec.filter:
                keys.update(spec.filter)
        self._by_name = by_name
        self._flow_names &= by_name.keys()
        if keys != self._filter_keys:  # the kept points lack the new filter metrics
            self._forget_filter_points()
        self._filter_keys = frozenset(keys)

    # --- evaluation -----------------------------------------------------------------
    def observe_flow(
        self, flow_name: str, agent: str, datasource: str, key: str, value: float,
        values: tuple[float, ...] | None, now: float,
    ) -> None:
        """One flow key's new smoothed value: fire at once if it crossed a threshold.

        Called for every update of a watched flow, so the common path (value below
        every threshold on it) is one dict lookup and a comparison per threshold.
        """
        entries = self._by_name.get(flow_name)
        if entries is None:
            return
        if flow_name not in self._flow_names:
            self._flow_names.add(flow_name)
        for armed, required_ds in entries:
            if value <= armed.level:
                continue
            if required_ds is not None and required_ds != datasource:
                continue
            skey = (agent, datasource, key if armed.spec.by_flow else None)
            states = armed.states
            state = states.get(skey)
            if state is not None:
                state.last_above = now
                states.move_to_end(skey)
                continue
            if armed.spec.filter and not self._accepts(armed, agent, datasource):
                continue
            self._fire(armed, skey, flow_name, value, now, flow_name=flow_name, flow_key=key,
                       values=values)

    def evaluate_metrics(self, points: Iterable[MetricPoint], now: float) -> None:
        """Once a second: counter metrics against their thresholds.

        Flow points (a flow's top value per data source) never fire here, since
        :meth:`observe_flow` already fired for the key that crossed; they only keep a
        ``byFlow:false`` data source triggered while its top flow stays above.
        The points of metrics that filters read are kept for both kinds.
        """
        if not self._armed:
            self._forget_filter_points()
            return
        by_name, filter_keys = self._by_name, self._filter_keys
        kept: list[MetricPoint] = []
        matched: list[tuple[MetricPoint, list[tuple[_Armed, str | None]]]] = []
        for point in points:
            name = point.name
            if name in filter_keys:
                kept.append(point)
            entries = by_name.get(name)
            if entries is not None:
                matched.append((point, entries))
        self._forget_filter_points()
        self._filter_points = kept if filter_keys else None
        if now - self._verdicts_at >= FILTER_REFRESH_SECONDS:
            self._verdicts_at = now
            for armed in self._armed.values():
                armed.verdicts.clear()
        flow_names = self._flow_names
        for point, entries in matched:
            value = point.value
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            is_flow = point.name in flow_names or bool(point.extra and TOP_KEYS in point.extra)
            for armed, required_ds in entries:
                if value <= armed.level:
                    continue
                if required_ds is not None and required_ds != point.datasource:
                    continue
                skey = (point.agent, point.datasource, None)
                state = armed.states.get(skey)
                if state is not None:
                    state.last_above = now
                    armed.states.move_to_end(skey)
                    continue
                if is_flow:
                    continue
                if armed.spec.filter and not self._accepts(armed, point.agent, point.datasource):
                    continue
                self._fire(armed, skey, point.name, value, now)

    def tick(self, now: float, flow_value: FlowValue) -> None:
        """Once a second: re-arm every unit that has stayed below for its timeout.

        A triggered flow gets no updates once its traffic stops, so its current value
        is asked of the flow tables (``None``: the flow is gone, which is below).
        """
        for armed in self._armed.values():
            states = armed.states
            if not states:
                continue
            level, timeout, by_flow = armed.level, armed.spec.timeout, armed.spec.by_flow
            rearmed: list[StateKey] = []
            for skey, state in states.items():
                if state.flow_name is not None:
                    agent, ds, key = skey
                    probe = key if by_flow else state.flow_key
                    if probe is not None:
                        current = flow_value(state.flow_name, agent, ds, probe, now)
                        if current is not None and current > level:
                            state.last_above = now
                            continue
                if now - state.last_above >= timeout:
                    rearmed.append(skey)
            for skey in rearmed:
                del states[skey]

    def triggered(
        self, threshold_id: str, agent: str, metric: str, flow_key: str | None = None,
    ) -> bool:
        """``thresholdTriggered()``: is this unit still waiting to re-arm?

        ``metric`` is ``<ds>.<name>`` as scripts build it from an event
        (``evt.dataSource + '.' + evt.metric``); an unqualified name asks about any
        data source of the agent. Without ``flow_key`` a ``byFlow`` threshold answers
        for any key at that data source; a ``byFlow:false`` one ignores the key.
        """
        armed = self._armed.get(threshold_id)
        if armed is None or not armed.states:
            return False
        spec = armed.spec
        ds, dot, name = metric.rpartition(".")
        if not dot:
            ds, name = "", metric
        if metric != spec.metric and name != spec.metric_name:
            return False
        want_key = flow_key if spec.by_flow else None  # byFlow:false units have no key
        states = armed.states
        if ds and (want_key is not None or not spec.by_flow):
            return (agent, ds, want_key) in states
        return any(a == agent and (not ds or d == ds) and (want_key is None or k == want_key)
                   for a, d, k in states)

    # --- helpers --------------------------------------------------------------------
    def _accepts(self, armed: _Armed, agent: str, datasource: str) -> bool:
        """The threshold's filter at one data source, reused for a while (see above).

        Before the first evaluation there are no filter metrics to read, so a filtered
        threshold waits (at most a second) rather than firing unfiltered. Filters only
        read the agent's own metrics, so only that agent's points are indexed, and
        only when a verdict is missing.
        """
        where = (agent, datasource)
        verdict = armed.verdicts.get(where)
        if verdict is not None:
            return verdict
        index = self._indexes.get(agent)
        if index is None:
            if self._filter_points is None:
                return False
            if self._by_agent is None:
                self._by_agent = {}
                for point in self._filter_points:
                    self._by_agent.setdefault(point.agent, []).append(point)
            index = self._indexes[agent] = PointIndex(self._by_agent.get(agent, ()), None)
        verdict = armed.verdicts[where] = armed.accept(index, agent, datasource)
        return verdict

    def _forget_filter_points(self) -> None:
        self._filter_points = self._by_agent = None
        self._indexes = {}

    def _fire(
        self, armed: _Armed, skey: StateKey, metric: str, value: float, now: float, *,
        flow_name: str | None = None, flow_key: str | None = None,
        values: tuple[float, ...] | None = None,
    ) -> None:
        states = armed.states
        if len(states) >= self.max_states:
            states.popitem(last=False)
            self.evicted += 1
        states[skey] = _Trigger(now, flow_name, flow_key)
        spec = armed.spec
        event: dict[str, Any] = {
            "timestamp": round(now * 1000),
            "thresholdID": spec.name,
            "metric": metric,
            "threshold": spec.value,
            "value": value,
            "agent": skey[0],
            "dataSource": skey[1],
        }
        if flow_key is not None:
            event["flowKey"] = flow_key
        if values is not None:
            event["values"] = list(values)
        self.events.append(event)
