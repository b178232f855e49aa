"""Per-data-source top-N flow tables of smoothed per-second rates (§2.5).

The estimator
    Each key keeps an exponentially decaying sum of what was added:
    ``S(now) = Σ vᵢ · exp(-(now - tᵢ) / t)`` and reports ``S / t`` as its per-second rate.
    A steady stream of R units/s gives ``S → R·t``, so the rate converges to R
    (``1 - e^{-k}`` of it after k·t seconds: 95% at 3t, 98% at 4t); when the stream stops,
    the rate decays by ``e`` every t seconds. This is the "moving average used to smooth
    flow rates" with time constant ``t`` that sFlow-RT describes (its exact algorithm is
    not public).

Why it is cheap (``add`` runs per sample per flow definition)
    Decay uses a landmark (forward decay): values are stored multiplied by
    ``g(now) = exp((now - landmark) / t)``, so adding ``v`` is ``S' += v · g(now)`` — one
    multiply-add, no per-key timestamps to decay — and ``g`` is recomputed only when
    ``now`` changes. All keys share the same scale, so ordering stored values orders
    current rates without any ``exp``. When ``g`` grows large the landmark moves forward
    and every stored value is rescaled once (a few hundred keys, every ~100·t seconds).
    The landmark and ``g`` live in a :class:`DecayClock` that the tables of one flow
    definition share: a datagram's samples land in many data sources' tables at the same
    ``now``, and one ``exp`` serves them all. A table rescales itself lazily, on its next
    use after the shared landmark moved.

Bounded memory: approximate top-N
    A table tracks at most ``capacity`` candidate keys (default ``n * 20``). Inserting a
    new key into a full table first drops idle keys and then keeps only the largest half
    (by current rate), so a sweep costs O(capacity · log capacity) once per
    ``capacity / 2`` new keys: O(log capacity) amortised per insert. As in the
    space-saving family of heavy-hitter algorithms, a key whose rate is well above the
    churn of small keys is never evicted; a key near the cut-off may be dropped and start
    again from zero (new keys do *not* inherit the evicted value, which would overstate
    reported rates). Keys not updated for ``idle_timeout`` seconds (default 10·t, when the
    rate has fallen below 0.005%) are dropped on sweeps, ``top`` and ``expire``.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from typing import NamedTuple

CANDIDATES_PER_FLOW = 20
MIN_CAPACITY = 100
RETAIN_FRACTION = 0.5
IDLE_TIME_CONSTANTS = 10.0
MIN_IDLE_SECONDS = 1.0
REBASE_EXPONENT = 100.0
"""Move the landmark once stored values carry ``e**100`` of growth (far from overflow)."""


class DecayClock:
    """The forward-decay scale ``g(now) = exp((now - landmark) / t)`` of a set of tables.

    Tables with the same ``t`` may share one (a flow definition's per data source tables
    do), so ``exp`` runs once per distinct ``now``, not once per table touched.
    """

    __slots__ = ("growth", "landmark", "now", "t")

    def __init__(self, t: float) -> None:
        if t <= 0:
            raise ValueError("t must be > 0")
        self.t = float(t)
        self.landmark: float | None = None
        self.now = -math.inf
        self.growth = 1.0

    def advance(self, now: float) -> None:
        """Recompute ``growth`` for a new ``now``; move the landmark when it gets large."""
        if self.landmark is None:
            self.landmark = now
        exponent = (now - self.landmark) / self.t
        if exponent > REBASE_EXPONENT:
            self.landmark, exponent = now, 0.0  # tables rescale on their next use
        self.now = now
        self.growth = math.exp(exponent)


class FlowRate(NamedTuple):
    """One row of a top-N answer: the key, its rate per second, its extra value rates."""

    key: str
    value: float
    values: tuple[float, ...] | None


class FlowTable:
    """Smoothed per-second rates of the largest flows at one data source for one flow.

    Not thread-safe: one event loop owns it. ``now`` is seconds (any epoch), passed in.
    """

    __slots__ = ("_clock", "_entries", "_landmark", "capacity", "idle_timeout", "n", "t")

    def __init__(
        self,
        n: int,
        t: float,
        *,
        capacity: int | None = None,
        idle_timeout: float | None = None,
        clock: DecayClock | None = None,
    ) -> None:
        if n < 1 or t <= 0:
            raise ValueError("n must be >= 1 and t > 0")
        self.n = n
        self.t = float(t)
        self.capacity = max(2, capacity if capacity is not None else max(
            MIN_CAPACITY, n * CANDIDATES_PER_FLOW
        ))  # fmt: skip
        self.idle_timeout = (
            idle_timeout if idle_timeout is not None
            else max(MIN_IDLE_SECONDS, IDLE_TIME_CONSTANTS * self.t)
        )  # fmt: skip
        if clock is not None and clock.t != self.t:
            raise ValueError("a shared DecayClock must have the table's t")
        # key -> [scaled sum, last update time, scaled extra sums or None]
        self._entries: dict[str, list] = {}
        self._clock = clock if clock is not None else DecayClock(self.t)
        self._landmark: float | None = None  # the clock landmark stored values are scaled to

    def __len__(self) -> int:
        """How many keys are tracked (candidates, not only the top n)."""
        return len(self._entries)

    def _advance(self, now: float) -> float:
        """The growth factor at ``now``, stored values rescaled to the clock's landmark."""
        clock = self._clock
        if now != clock.now:
            clock.advance(now)
        if self._landmark != clock.landmark:
            self._rebase()
        return clock.growth

    def _rebase(self) -> None:
        """Rescale stored values after the shared landmark moved (or was first set)."""
        landmark = self._clock.landmark
        if self._landmark is not None and self._entries:
            shrink = math.exp(-(landmark - self._landmark) / self.t)  # type: ignore[operator]
            for entry in self._entries.values():
                entry[0] *= shrink
                if entry[2] is not None:
                    entry[2] = [x * shrink for x in entry[2]]
        self._landmark = landmark

    def add(self, key: str, value: float, values: tuple[float, ...] | None, now: float) -> None:
        """Count ``value`` (already scaled by the sampling rate) for ``key`` at ``now``."""
        clock = self._clock
        if now != clock.now or self._landmark != clock.landmark:
            growth = self._advance(now)
        else:
            growth = clock.growth
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= self.capacity:
                self._sweep(now)
            extra = [x * growth for x in values] if values else None
            self._entries[key] = [value * growth, now, extra]
            return
        entry[0] += value * growth
        entry[1] = now
        if values:
            extra = entry[2]
            if extra is None or len(extra) != len(values):
                entry[2] = [x * growth for x in values]
            else:
                for i, x in enumerate(values):
                    extra[i] += x * growth

    def _sweep(self, now: float) -> None:
        """Make room: drop idle keys, then keep the largest ``RETAIN_FRACTION`` of capacity."""
        self.expire(now)
        keep = int(self.capacity * RETAIN_FRACTION)
        if len(self._entries) > keep:
            largest = heapq.nlargest(keep, self._entries.items(), key=lambda kv: kv[1][0])
            self._entries = dict(largest)

    def expire(self, now: float) -> int:
        """Drop keys idle for ``idle_timeout``; returns how many were dropped."""
        cutoff = now - self.idle_timeout
        idle = [key for key, entry in self._entries.items() if entry[1] < cutoff]
        for key in idle:
            del self._entries[key]
        return len(idle)

    def value(self, key: str, now: float) -> float | None:
        """The current rate of ``key``, or None when it is not tracked."""
        entry = self._entries.get(key)
        if entry is None or entry[1] < now - self.idle_timeout:
            return None
        return entry[0] / self._advance(now) / self.t

    def rate(self, key: str, now: float) -> FlowRate | None:
        """``key``'s current rate and extra value rates (what ``top`` would report)."""
        entry = self._entries.get(key)
        if entry is None or entry[1] < now - self.idle_timeout:
            return None
        scale = 1.0 / (self._advance(now) * self.t)
        extra = entry[2]
        return FlowRate(key, entry[0] * scale, None if extra is None else tuple(
            x * scale for x in extra
        ))  # fmt: skip

    def last_update(self, key: str) -> float | None:
        """When ``key`` was last added to (seconds), or None when it is not tracked."""
        entry = self._entries.get(key)
        return None if entry is None else entry[1]

    def top(
        self, now: float, max_flows: int | None = None, min_value: float = 0.0
    ) -> list[FlowRate]:
        """The largest flows, at most ``n`` (and ``max_flows``), with rate ≥ ``min_value``.

        Rates are per second and positive; ties keep no particular order.
        """
        growth = self._advance(now)
        self.expire(now)
        limit = self.n if max_flows is None else min(self.n, max_flows)
        if limit <= 0:
            return []
        scale = 1.0 / (growth * self.t)
        best = heapq.nlargest(limit, self._entries.items(), key=lambda kv: kv[1][0])
        rows = []
        for key, (scaled, _seen, extra) in best:
            rate = scaled * scale
            if rate <= 0.0 or rate < min_value:
                break
            rows.append(FlowRate(key, rate, None if extra is None else tuple(
                x * scale for x in extra
            )))  # fmt: skip
        return rows


class SourceFlow(NamedTuple):
    """A flow combined across data sources, with where its (largest) observation came from."""

    key: str
    value: float
    values: tuple[float, ...] | None
    agent: str
    data_source: str


def aggregate(
    sources: Iterable[tuple[str, str, Iterable[FlowRate]]],
    agg_mode: str = "max",
    max_flows: int = 100,
    min_value: float = 0.0,
) -> list[SourceFlow]:
    """Combine the top-N lists of several data sources (``activeFlows`` aggMode, §1.5).

    ``sources`` yields ``(agent, dataSource, rows)``. ``max`` keeps, per key, the largest
    observation (a flow crossing several switches counts once); ``sum`` adds observations
    and element-wise ``values``, and reports the agent/dataSource of the largest one.
    ``edge``/``core`` combine like ``max``: choosing the edge or core data sources needs
    the topology, so the caller passes only those. Result: descending by value, at most
    ``max_flows``, each ≥ ``min_value``.
    """
    mode = agg_mode.lower()
    if mode not in ("max", "sum", "edge", "core"):
        raise ValueError(f"unknown aggMode {agg_mode!r}; expected max, sum, edge or core")
    best: dict[str, SourceFlow] = {}
    totals: dict[str, tuple[float, tuple[float, ...] | None]] = {}
    for agent, data_source, rows in sources:
        for row in rows:
            seen = best.get(row.key)
            if seen is None or row.value > seen.value:
                best[row.key] = SourceFlow(row.key, row.value, row.values, agent, data_source)
            if mode == "sum":
                total, extra = totals.get(row.key, (0.0, None))
                if row.values is not None:
                    extra = row.values if extra is None else tuple(
                        a + b for a, b in zip(extra, row.values, strict=False)
                    )  # fmt: skip
                totals[row.key] = (total + row.value, extra)
    if mode == "sum":
        best = {
            key: flow._replace(value=totals[key][0], values=totals[key][1])
            for key, flow in best.items()
        }
    flows = [flow for flow in best.values() if flow.value >= min_value]
    return heapq.nlargest(max(0, max_flows), flows, key=lambda flow: flow.value)
