"""The flow log (``GET /flows/json``, script flow handlers): records of finished flows.

Flow definitions with ``log:true`` turn their per-sample observations into records of
*flows*: one key at one data source from its first to its last sample. Two pieces:

* :class:`FlowTracker` (one per logged definition) keeps the active entries
  ``(agent, dataSource, key) → start, last, accumulated scaled value`` and closes them on
  :meth:`FlowTracker.flush` (the engine's once-a-second tick);
* :class:`FlowLog` (one per engine) is the bounded ring of records that clients page
  through with a ``flowID`` cursor, newest first, and that long-polls wait on.

Decisions where sFlow-RT publishes nothing (each covered by a test):

* A flow ends when its key has had no sample for ``idle_timeout`` =
  max(``MIN_IDLE_SECONDS``, ``IDLE_TIME_CONSTANTS`` * t): long enough that a steady
  sampled flow is not split between samples, short enough that the record comes soon.
* A flow still active after ``activeTimeout`` seconds is closed (logged) and the next
  sample starts a new record, as NetFlow/IPFIX exporters do.
* ``value`` in a record is the **average rate over start..end** in the definition's units
  (scaled by the sampling rate, per second): the same units as ``activeFlows`` and
  thresholds, so a logged flow compares directly with what the dashboards showed. The
  duration is floored at ``MIN_DURATION_SECONDS`` so a one-sample flow reports its
  scaled value per second rather than infinity. ``values`` use the same rule.
* ``flowStart:true`` logs one record when a key is first seen (start = end = that
  sample's time, value = that sample's scaled value) and nothing when it ends; the key
  may be logged again after it has been idle.
* Each tracker holds at most ``max_active`` entries; samples of new keys beyond that are
  counted in ``rejected`` and not logged.
* Non-sum value kinds report over the whole record, not per second: ``avg:`` the
  sampling-weighted mean of start..end, ``min:``/``max:`` the exact extreme sampled, and
  ``count:`` the number of distinct items sampled (at most ``MAX_DISTINCT`` per record
  are remembered, so larger counts are lower bounds). ``values`` entries follow the same
  rules (the presenter turns an ``avg`` slot pair into its ratio).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from flowrt.engine.topn import AVG, COUNT, MAX, MAX_DISTINCT, SUM

log = logging.getLogger(__name__)

MIN_IDLE_SECONDS = 2.0
IDLE_TIME_CONSTANTS = 2.0
MIN_DURATION_SECONDS = 1.0
DEFAULT_MAX_ACTIVE = 10_000

# Converts accumulated ``values`` slots and a duration into the record's ``values``.
ValuesPresenter = Callable[[list[float], float], list[float]]


class FlowLog:
    """A ring of the last ``size`` flow records, each with an increasing ``flowID``."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError("flow log size must be at least 1")
        self._records: deque[dict[str, Any]] = deque(maxlen=size)
        self._subscribers: list[Callable[[], None]] = []
        self.last_id = 0
        """ID of the newest record (0 before any): the cursor a client starts from."""

    def __len__(self) -> int:
        return len(self._records)

    def append(self, record: dict[str, Any]) -> dict[str, Any]:
        """Number ``record`` (sets ``flowID``), store it and wake subscribers."""
        self.last_id += 1
        record["flowID"] = self.last_id
        self._records.append(record)
        for callback in list(self._subscribers):
            try:
                callback()
            except Exception:  # a broken subscriber must not stop the engine
                log.exception("flow log subscriber failed")
        return record

    def after(self, flow_id: int, name: str | None, max_flows: int) -> list[dict[str, Any]]:
        """Records with ``flowID > flow_id`` (-1: all), of flow ``name`` if given.

        Newest first (clients take ``[0]["flowID"]`` as the next cursor), at most
        ``max_flows``. A cursor beyond the newest ID comes from a client that outlived a
        restart of this process: it reads from the start, as ``/events/json`` does,
        instead of waiting for the IDs to climb back past it.
        """
        out: list[dict[str, Any]] = []
        if max_flows <= 0:
            return out
        if flow_id > self.last_id:
            flow_id = -1
        for record in reversed(self._records):
            if record["flowID"] <= flow_id:
                break
            if name is not None and record["name"] != name:
                continue
            out.append(record)
            if len(out) >= max_flows:
                break
        return out

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` after each append; returns the function that unsubscribes."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe


def _start(kind: str, value: Any) -> Any:
    """The accumulator of a record's first sample for a value or slot ``kind``."""
    if kind == AVG:
        return [value[0], value[1]]
    if kind == COUNT:
        return set() if value is None else {value}
    return value


def _merge(kind: str, acc: Any, value: Any) -> Any:
    """``acc`` with one more sample (missing min/max/count inputs are skipped)."""
    if kind == SUM:
        return acc + value
    if kind == AVG:
        acc[0] += value[0]
        acc[1] += value[1]
        return acc
    if value is None:
        return acc
    if kind == COUNT:
        if len(acc) < MAX_DISTINCT:
            acc.add(value)
        return acc
    if acc is None:
        return value
    return max(acc, value) if kind == MAX else min(acc, value)


def _final(kind: str, acc: Any, seconds: float) -> float:
    """A main value accumulator as the record's ``value``."""
    if kind == SUM:
        return float(acc / seconds)
    if kind == AVG:
        return float(acc[0] / acc[1]) if acc[1] else 0.0
    if kind == COUNT:
        return float(len(acc))
    return 0.0 if acc is None else float(acc)


class _Active:
    """One flow being tracked: times in seconds, totals already scaled."""

    __slots__ = ("last", "start", "total", "values")

    def __init__(self, now: float, value: Any, values: list[Any] | None) -> None:
        self.start = now
        self.last = now
        self.total = value
        self.values = values


class FlowTracker:
    """Active flows of one ``log:true`` definition, turned into records on ``flush``."""

    def __init__(
        self,
        name: str,
        flow_log: FlowLog,
        *,
        t: float,
        active_timeout: float,
        flow_start: bool,
        present_values: ValuesPresenter | None = None,
        max_active: int = DEFAULT_MAX_ACTIVE,
        value_kind: str = SUM,
        slot_kinds: tuple[str, ...] | None = None,
    ) -> None:
        self.name = name
        self.log = flow_log
        self.idle_timeout = max(MIN_IDLE_SECONDS, IDLE_TIME_CONSTANTS * t)
        self.active_timeout = float(active_timeout)
        self.flow_start = flow_start
        self.present_values = present_values
        self.max_active = max_active
        self.rejected = 0
        self.value_kind = value_kind
        """How the main value accumulates (sum/avg/max/min/count; see the module notes)."""
        self.slot_kinds = (
            slot_kinds if slot_kinds and any(kind != SUM for kind in slot_kinds) else None
        )
        """``values`` slot kinds, None when every slot is a plain sum (the fast path)."""
        self._active: dict[tuple[str, str, str], _Active] = {}

    def __len__(self) -> int:
        return len(self._active)

    def observe(
        self,
        agent: str,
        ds: str,
        key: str,
        value: Any,
        values: tuple[Any, ...] | None,
        now: float,
    ) -> None:
        """Count one sample of ``key`` at (agent, ds): a scaled sum or the kind's input."""
        ident = (agent, ds, key)
        entry = self._active.get(ident)
        kinds = self.slot_kinds
        if entry is not None:
            entry.last = now
            if self.value_kind == SUM:
                entry.total += value
            else:
                entry.total = _merge(self.value_kind, entry.total, value)
            if values is not None and entry.values is not None:
                acc = entry.values
                if kinds is None:
                    for i, x in enumerate(values):
                        acc[i] += x
                else:
                    for i, kind in enumerate(kinds):
                        acc[i] = _merge(kind, acc[i], values[i])
            return
        if len(self._active) >= self.max_active:
            self.rejected += 1
            return
        slots = None
        if values is not None:
            slots = list(values) if kinds is None else [
                _start(kind, x) for kind, x in zip(kinds, values, strict=True)
            ]  # fmt: skip
        entry = self._active[ident] = _Active(now, _start(self.value_kind, value), slots)
        if self.flow_start:
            self._emit(ident, entry, rate_of_duration=False)

    def flush(self, now: float) -> int:
        """Close idle and over-long flows (logging them); returns how many were closed."""
        idle_before = now - self.idle_timeout
        active_before = now - self.active_timeout
        done = [
            ident for ident, entry in self._active.items()
            if entry.last <= idle_before or entry.start <= active_before
        ]  # fmt: skip
        for ident in done:
            entry = self._active.pop(ident)
            if not self.flow_start:
                self._emit(ident, entry, rate_of_duration=True)
        return len(done)

    def _emit(self, ident: tuple[str, str, str], entry: _Active, *, rate_of_duration: bool) -> None:
        agent, ds, key = ident
        seconds = max(MIN_DURATION_SECONDS, entry.last - entry.start) if rate_of_duration else 1.0
        record: dict[str, Any] = {
            "flowID": 0,  # numbered by FlowLog.append; first so the JSON reads naturally
            "name": self.name,
            "flowKeys": key,
            "value": _final(self.value_kind, entry.total, seconds),
            "start": round(entry.start * 1000),
            "end": round(entry.last * 1000),
            "agent": agent,
            "dataSource": ds,
        }
        if entry.values is not None:
            slots = entry.values
            if self.slot_kinds is not None:  # extremes and counts as numbers, not per second
                slots = [
                    x if kind == SUM else _final(kind, x, 1.0)
                    for kind, x in zip(self.slot_kinds, slots, strict=True)
                ]  # fmt: skip
            present = self.present_values
            record["values"] = (
                present(slots, seconds) if present is not None
                else [x / seconds for x in slots]
            )  # fmt: skip
        self.log.append(record)
