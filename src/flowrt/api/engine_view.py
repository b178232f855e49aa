"""The few engine reads the REST API needs beyond :class:`~flowrt.engine.core.Engine`'s
own methods, gathered in one place.

Flow and threshold tables and their logs live in :mod:`flowrt.engine.flows` and
:mod:`flowrt.engine.thresholds`; the handlers reach them only through these functions,
so a change in those modules' shape is absorbed here, not in every route.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flowrt.engine import Engine

Notify = Callable[..., None]


def _as_json(spec: Any) -> Any:
    """Specs may be stored as objects with ``to_json()`` or already as JSON dicts."""
    to_json = getattr(spec, "to_json", None)
    return to_json() if callable(to_json) else spec


def flow_specs(engine: Engine) -> dict[str, Any]:
    """``/flow/json``: name → definition with defaults filled."""
    return {name: _as_json(spec) for name, spec in engine.flows.specs().items()}


def flow_keys(engine: Engine, now: float) -> dict[str, int]:
    """``/flowkeys/json``: flow key name → ms since a sample last carried it."""
    return engine.flows.flow_keys(now)


def flow_value(
    engine: Engine, agent: str, datasource: str, name: str, key: str, now: float
) -> float | None:
    """``/flowvalue``: the smoothed value of one key at one data source (None if unseen)."""
    return engine.flows.flow_value(name, agent, datasource, key, now)


def flow_records(engine: Engine, cursor: int, name: str | None, limit: int) -> list[dict]:
    """``/flows/json``: logged flows with ``flowID > cursor``, newest first."""
    return engine.flows.log.after(cursor, name, limit)


def threshold_specs(engine: Engine) -> dict[str, Any]:
    """``/threshold/json``: name → definition with defaults filled."""
    return {name: _as_json(spec) for name, spec in engine.thresholds.specs().items()}


def event_records(engine: Engine, cursor: int, threshold: str | None, limit: int) -> list[dict]:
    """``/events/json``: events with ``eventID > cursor``, newest first."""
    return engine.thresholds.events.after(cursor, threshold, limit)


def subscribe_flow_log(engine: Engine, notify: Notify) -> Callable[[], None]:
    """Call ``notify`` whenever a flow record is logged (wakes ``/flows/json`` polls)."""
    return engine.flows.log.subscribe(notify)


def subscribe_event_log(engine: Engine, notify: Notify) -> Callable[[], None]:
    """Call ``notify`` whenever an event is logged (wakes ``/events/json`` polls)."""
    return engine.thresholds.events.subscribe(notify)
