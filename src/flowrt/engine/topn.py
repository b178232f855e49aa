"""Per-data-source top-N flow tables of smoothed per-second rates.

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

Value kinds other than sums (``avg:``/``min:``/``max:``/``count:``)
    All use the same forward-decay clock ``g(now)``, so each costs O(1) per sample and
    ordering stored values still orders current values:

    * ``avg`` - two decayed sums, ``Σ x·r`` and ``Σ r`` (r = sampling rate): their ratio
      is the recency-weighted mean per packet, *not* scaled by sampling (``avg:ipbytes``
      is a mean packet size). It does not decay when samples stop (the flow leaves on the
      idle timeout instead).
    * ``max`` - a decaying maximum: stored ``max(x·g(tᵢ))``, reported ``stored / g(now)``
      = ``max xᵢ·e^{-(now-tᵢ)/t}``. A peak relaxes toward 0 by ``e`` every t seconds
      unless samples renew it, so it tracks the recent peak over a window of about t.
    * ``min`` - the mirror image: stored ``min(x / g(tᵢ))``, reported ``stored · g(now)``
      = ``min xᵢ·e^{+(now-tᵢ)/t}``: a low point relaxes upward by ``e`` every t seconds.
      Both assume non-negative values (sizes, durations, ports, counters); extremes are
      of raw sampled values, not scaled by sampling.
    * ``count`` - a decayed distinct count: each distinct item weighs ``e^{-age/t}`` since
      it was last seen, so the count is about the number of distinct values seen in the
      last t seconds (K recurring values → K; a stream of new values at λ/s → λ·t). Items
      are sampled values, not scaled. Bounded: at most ``MAX_DISTINCT`` items per flow key;
      past it the oldest half is forgotten, so counts beyond ~``MAX_DISTINCT`` are lower
      bounds (saturate) - ample for sampled traffic per key per t, and noted for DDoS-style
      fan-in counts at very low sampling rates.

    A definition's ``values`` entries use the same estimators (slot kinds ``sum``, ``max``,
    ``min``, ``count``; an ``avg`` entry is two ``sum`` slots). The main ``value`` of a
    non-sum kind uses :class:`KindFlowTable`, so the plain-sum :class:`FlowTable` path is
    untouched.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Any, NamedTuple

CANDIDATES_PER_FLOW = 20
MIN_CAPACITY = 100
RETAIN_FRACTION = 0.5
IDLE_TIME_CONSTANTS = 10.0
MIN_IDLE_SECONDS = 1.0
REBASE_EXPONENT = 100.0
"""Move the landmark once stored values carry ``e**100`` of growth (far from overflow)."""
MAX_DISTINCT = 256
"""Distinct items a ``count:`` estimator keeps per flow key (memory bound; see above)."""
SUM, AVG, MAX, MIN, COUNT = "sum", "avg", "max", "min", "count"
VALUE_KINDS = frozenset({SUM, AVG, MAX, MIN, COUNT})
SLOT_KINDS = frozenset({SUM, MAX, MIN, COUNT})


class DistinctCounter:
    """The decayed distinct count of one flow key: item → ``g`` when last seen.

    ``total`` is the sum of the stored weights, kept incrementally (O(1) per item) and
    recomputed exactly on every prune or rescale so rounding cannot accumulate.
    """

    __slots__ = ("seen", "total")

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.total = 0.0

    def add(self, item: str, weight: float) -> None:
        """Note ``item`` seen now (``weight`` = the clock's growth)."""
        old = self.seen.get(item)
        if old is None:
            if len(self.seen) >= MAX_DISTINCT:
                self._prune()  # replaces self.seen
            self.total += weight
        else:
            self.total += weight - old
        self.seen[item] = weight

    def _prune(self) -> None:
        """Forget the least recently seen half (they weigh least)."""
        self.seen = dict(heapq.nlargest(MAX_DISTINCT // 2, self.seen.items(), key=itemgetter(1)))
        self.total = math.fsum(self.seen.values())

    def rescale(self, factor: float) -> None:
        """Follow a landmark move: every weight times ``factor``."""
        seen = self.seen
        for item in seen:
            seen[item] *= factor
        self.total = math.fsum(seen.values())


def _new_slots(kinds: Sequence[str], values: Sequence[Any], growth: float) -> list[Any]:
    """Stored slots of a key's first sample (None: no sample of that min/max yet)."""
    out: list[Any] = []
    for kind, x in zip(kinds, values, strict=True):
        if kind == SUM:
            out.append(x * growth)
        elif kind == COUNT:
            counter = DistinctCounter()
            if x is not None:
                counter.add(x, growth)
            out.append(counter)
        elif x is None:
            out.append(None)
        else:
            out.append(x * growth if kind == MAX else x / growth)
    return out


def _add_slots(
    kinds: Sequence[str], slots: list[Any], values: Sequence[Any], growth: float
) -> None:
    """Fold one sample's slot inputs into stored slots (missing min/max/count: skipped)."""
    for i, kind in enumerate(kinds):
        x = values[i]
        if kind == SUM:
            slots[i] += x * growth
        elif x is None:
            continue
        elif kind == COUNT:
            slots[i].add(x, growth)
        elif kind == MAX:
            x *= growth
            old = slots[i]
            if old is None or x > old:
                slots[i] = x
        else:
            x /= growth
            old = slots[i]
            if old is None or x < old:
                slots[i] = x


def _rescale_slots(kinds: Sequence[str], slots: list[Any], shrink: float) -> None:
    """Follow a landmark move (``shrink`` = g_new / g_old for the same instant)."""
    for i, kind in enumerate(kinds):
        x = slots[i]
        if kind == COUNT:
            x.rescale(shrink)
        elif x is not None:
            slots[i] = x / shrink if kind == MIN else x * shrink


def _current_slots(
    kinds: Sequence[str], slots: list[Any], growth: float, t: float
) -> tuple[float, ...]:
    """Stored slots as current values: sums per second, extremes and counts as they are."""
    out = []
    for kind, x in zip(kinds, slots, strict=True):
        if kind == COUNT:
            out.append(x.total / growth)
        elif x is None:
            out.append(0.0)
        elif kind == SUM:
            out.append(x / (growth * t))
        else:
            out.append(x / growth if kind == MAX else x * growth)
    return tuple(out)


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


def _table_settings(
    n: int, t: float, capacity: int | None, idle_timeout: float | None,
    clock: DecayClock | None,
) -> tuple[int, float, int, float, DecayClock]:
    """A table's (n, t, capacity, idle timeout, clock), defaults filled in and checked:
    one place for FlowTable and NativeFlowTable, so both bound and age keys alike."""
    if n < 1 or t <= 0:
        raise ValueError("n must be >= 1 and t > 0")
    t = float(t)
    capacity = max(2, capacity if capacity is not None else max(
        MIN_CAPACITY, n * CANDIDATES_PER_FLOW
    ))  # fmt: skip
    if idle_timeout is None:
        idle_timeout = max(MIN_IDLE_SECONDS, IDLE_TIME_CONSTANTS * t)
    if clock is not None and clock.t != t:
        raise ValueError("a shared DecayClock must have the table's t")
    return n, t, capacity, idle_timeout, clock if clock is not None else DecayClock(t)


class FlowTable:
    """Smoothed per-second rates of the largest flows at one data source for one flow.

    Not thread-safe: one event loop owns it. ``now`` is seconds (any epoch), passed in.
    """

    __slots__ = (
        "_clock", "_entries", "_landmark", "_mixed", "capacity", "evicted", "idle_timeout",
        "n", "t",
    )  # fmt: skip
    value_kind = SUM

    def __init__(
        self,
        n: int,
        t: float,
        *,
        capacity: int | None = None,
        idle_timeout: float | None = None,
        clock: DecayClock | None = None,
        slot_kinds: Sequence[str] | None = None,
    ) -> None:
        self.n, self.t, self.capacity, self.idle_timeout, self._clock = _table_settings(
            n, t, capacity, idle_timeout, clock
        )
        # key -> [scaled sum, last update time, scaled extra sums or None]
        self._entries: dict[str, list[Any]] = {}
        self.evicted = 0  # keys dropped by _sweep to make room (not idle expiry)
        self._landmark: float | None = None  # the clock landmark stored values are scaled to
        if slot_kinds is not None and not set(slot_kinds) <= SLOT_KINDS:
            raise ValueError(f"slot kinds must be among {sorted(SLOT_KINDS)}")
        # None when every extra slot is a plain decayed sum (the fast path in ``add``)
        self._mixed: tuple[str, ...] | None = (
            tuple(slot_kinds) if slot_kinds and any(k != SUM for k in slot_kinds) else None
        )

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
            mixed = self._mixed
            for entry in self._entries.values():
                self._rescale_main(entry, shrink)
                if entry[2] is not None:
                    if mixed is None:
                        entry[2] = [x * shrink for x in entry[2]]
                    else:
                        _rescale_slots(mixed, entry[2], shrink)
        self._landmark = landmark

    def _rescale_main(self, entry: list[Any], shrink: float) -> None:
        """Rescale one entry's main value after a landmark move."""
        entry[0] *= shrink

    def _current(self, stored: float, growth: float) -> float:
        """A stored main value as its current value (a sum: per second)."""
        return stored / (growth * self.t)

    def _extras(self, extra: list[Any] | None, growth: float) -> tuple[float, ...] | None:
        """Stored ``values`` slots as current values."""
        if extra is None:
            return None
        if self._mixed is None:
            scale = 1.0 / (growth * self.t)
            return tuple(x * scale for x in extra)
        return _current_slots(self._mixed, extra, growth, self.t)

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
            if self._mixed is None:
                extra = [x * growth for x in values] if values else None
            else:
                extra = _new_slots(self._mixed, values, growth) if values else None
            self._entries[key] = [value * growth, now, extra]
            return
        entry[0] += value * growth
        entry[1] = now
        if values:
            extra = entry[2]
            if self._mixed is not None:
                if extra is None:
                    entry[2] = _new_slots(self._mixed, values, growth)
                else:
                    _add_slots(self._mixed, extra, values, growth)
            elif extra is None or len(extra) != len(values):
                entry[2] = [x * growth for x in values]
            else:
                for i, x in enumerate(values):
                    extra[i] += x * growth

    def bulk_target(self, now: float) -> Callable[[str, float], None]:
        """``Core.drain_to``'s target for this table: ``add(key, value, None, now)`` per key
        (a :class:`NativeFlowTable` takes a batch in C instead)."""

        def add(key: str, value: float) -> None:
            self.add(key, value, None, now)

        return add

    def _sweep(self, now: float) -> None:
        """Make room: drop idle keys, then keep the largest ``RETAIN_FRACTION`` of capacity."""
        self.expire(now)
        keep = int(self.capacity * RETAIN_FRACTION)
        if len(self._entries) > keep:
            largest = heapq.nlargest(keep, self._entries.items(), key=lambda kv: kv[1][0])
            self.evicted += len(self._entries) - keep
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
        growth = self._advance(now)  # first: it may rescale the stored value
        return self._current(entry[0], growth)

    def rate(self, key: str, now: float) -> FlowRate | None:
        """``key``'s current rate and extra value rates (what ``top`` would report)."""
        entry = self._entries.get(key)
        if entry is None or entry[1] < now - self.idle_timeout:
            return None
        growth = self._advance(now)
        return FlowRate(key, self._current(entry[0], growth), self._extras(entry[2], growth))

    def last_update(self, key: str) -> float | None:
        """When ``key`` was last added to (seconds), or None when it is not tracked."""
        entry = self._entries.get(key)
        return None if entry is None else entry[1]

    def updates(self) -> Iterator[tuple[str, float]]:
        """Every tracked key with its last update time (seconds), in no order."""
        for key, entry in self._entries.items():
            yield key, entry[1]

    def top(
        self, now: float, max_flows: int | None = None, min_value: float = 0.0
    ) -> list[FlowRate]:
        """The largest flows, at most ``n`` (and ``max_flows``), with rate ≥ ``min_value``.

        Sums are per second and rows must be positive (a non-sum kind's rows need only be
        ≥ ``min_value``: a zero minimum is a real value); ties keep no particular order.
        """
        growth = self._advance(now)
        self.expire(now)
        limit = self.n if max_flows is None else min(self.n, max_flows)
        if limit <= 0:
            return []
        best = heapq.nlargest(limit, self._entries.items(), key=lambda kv: kv[1][0])
        positive = self.value_kind == SUM
        rows = []
        for key, entry in best:
            rate = self._current(entry[0], growth)
            if (positive and rate <= 0.0) or rate < min_value:
                break
            rows.append(FlowRate(key, rate, self._extras(entry[2], growth)))
        return rows


class KindFlowTable(FlowTable):
    """A top-N table whose main value is ``avg``, ``max``, ``min`` or ``count``.

    ``add`` takes the kind's per-sample input: ``avg`` a ``(x·rate, rate)`` pair, ``max``
    and ``min`` the raw number, ``count`` the item text. Entries are
    ``[score, last update, values slots, state]`` where ``score`` is stored so that
    ordering scores orders current values (the module docstring gives the estimators) and
    ``state`` holds an average's two sums or a count's :class:`DistinctCounter`.
    """

    __slots__ = ("value_kind",)

    def __init__(self, n: int, t: float, *, value_kind: str, **kw: Any) -> None:
        if value_kind not in VALUE_KINDS or value_kind == SUM:
            raise ValueError(f"value kind must be avg, max, min or count, got {value_kind!r}")
        super().__init__(n, t, **kw)
        self.value_kind = value_kind

    def add(self, key: str, value: Any, values: Sequence[Any] | None, now: float) -> None:
        """Count one sample's kind-specific ``value`` (see the class docstring)."""
        clock = self._clock
        if now != clock.now or self._landmark != clock.landmark:
            growth = self._advance(now)
        else:
            growth = clock.growth
        kind = self.value_kind
        entry = self._entries.get(key)
        if entry is None:
            if len(self._entries) >= self.capacity:
                self._sweep(now)
            entry = self._entries[key] = [0.0, now, None, None]
            if kind == AVG:
                entry[3] = [0.0, 0.0]
            elif kind == COUNT:
                entry[3] = DistinctCounter()
            else:
                entry[0] = -math.inf if kind == MAX else math.inf
        entry[1] = now
        if kind == AVG:
            sums = entry[3]
            sums[0] += value[0] * growth
            sums[1] += value[1] * growth
            entry[0] = sums[0] / sums[1] if sums[1] else 0.0
        elif kind == COUNT:
            counter = entry[3]
            counter.add(value, growth)
            entry[0] = counter.total
        elif kind == MAX:
            value *= growth
            if value > entry[0]:
                entry[0] = value
        else:
            value /= growth
            if value < entry[0]:
                entry[0] = value
        if values:
            mixed = self._mixed
            if mixed is None:
                extra = entry[2]
                if extra is None or len(extra) != len(values):
                    entry[2] = [x * growth for x in values]
                else:
                    for i, x in enumerate(values):
                        extra[i] += x * growth
            elif entry[2] is None:
                entry[2] = _new_slots(mixed, values, growth)
            else:
                _add_slots(mixed, entry[2], values, growth)

    def _rescale_main(self, entry: list[Any], shrink: float) -> None:
        kind = self.value_kind
        if kind == AVG:
            entry[3][0] *= shrink
            entry[3][1] *= shrink  # the ratio (score) is unchanged
        elif kind == COUNT:
            entry[3].rescale(shrink)
            entry[0] = entry[3].total
        elif kind == MAX:
            entry[0] *= shrink
        else:
            entry[0] /= shrink

    def _current(self, stored: float, growth: float) -> float:
        kind = self.value_kind
        if kind == AVG:
            return stored
        return stored * growth if kind == MIN else stored / growth


class NativeFlowTable:
    """A plain-sum :class:`FlowTable` (no ``values`` slots) whose entries live in C.

    The entries (scaled sum and last update per key, in insertion order), the capacity
    sweep, idle expiry and the ranking are the compiled core's ``SumStore``
    (``flowrt/_core/sumtable.h``): ~60 bytes a key instead of a dict entry and a Python
    list, and the native driver's flush adds a whole batch in C (``Core.drain_to`` with
    :meth:`bulk_target`), no Python object per key. The decay clock, landmark and rebase
    stay here, the same code as FlowTable's, so answers are FlowTable's to the bit
    (``tests/core/test_table_apply.py`` drives both with random operation sequences).

    ``store_type`` is the core's ``SumStore`` class: the native driver passes it in
    (:meth:`flowrt.engine.flows.FlowEngine.use_store`), so the reference path never
    depends on the compiled core.
    """

    __slots__ = ("_clock", "_landmark", "_store", "capacity", "idle_timeout", "n", "t")
    value_kind = SUM

    def __init__(
        self,
        n: int,
        t: float,
        *,
        store_type: Callable[[int, int, float], Any],
        capacity: int | None = None,
        idle_timeout: float | None = None,
        clock: DecayClock | None = None,
    ) -> None:
        self.n, self.t, self.capacity, self.idle_timeout, self._clock = _table_settings(
            n, t, capacity, idle_timeout, clock
        )
        self._landmark: float | None = None
        self._store = store_type(
            self.capacity, int(self.capacity * RETAIN_FRACTION), self.idle_timeout
        )

    def __len__(self) -> int:
        """How many keys are tracked (candidates, not only the top n)."""
        return len(self._store)

    @property
    def evicted(self) -> int:
        """Keys dropped by sweeps to make room (not idle expiry), as FlowTable counts."""
        return int(self._store.evicted)

    def _advance(self, now: float) -> float:
        """FlowTable._advance: the growth at ``now``, the store rescaled to the landmark."""
        clock = self._clock
        if now != clock.now:
            clock.advance(now)
        if self._landmark != clock.landmark:
            landmark = clock.landmark
            if self._landmark is not None and len(self._store):
                self._store.rescale(math.exp(-(landmark - self._landmark) / self.t))  # type: ignore[operator]
            self._landmark = landmark
        return clock.growth

    def _growth(self, now: float) -> float:
        """``_advance`` with FlowTable.add's shortcut when the clock is already there."""
        clock = self._clock
        if now != clock.now or self._landmark != clock.landmark:
            return self._advance(now)
        return clock.growth

    def add(self, key: str, value: float, values: tuple[float, ...] | None, now: float) -> None:
        """Count ``value`` (already scaled by the sampling rate) for ``key`` at ``now``."""
        if values:
            raise ValueError("a NativeFlowTable has no values slots (use FlowTable)")
        self._store.add(key, value, self._growth(now), now)

    def bulk_target(self, now: float) -> tuple[Any, float]:
        """``Core.drain_to``'s target: the store and the growth at ``now`` (C adds)."""
        return self._store, self._growth(now)

    def expire(self, now: float) -> int:
        """Drop keys idle for ``idle_timeout``; returns how many were dropped."""
        return int(self._store.expire(now))

    def _stored(self, key: str, now: float) -> tuple[float, float] | None:
        """``key``'s scaled sum and the growth at ``now`` (None: untracked or idle); the
        clock advances only for a tracked key, as in FlowTable."""
        got = self._store.get(key)
        if got is None or got[1] < now - self.idle_timeout:
            return None
        growth = self._advance(now)  # may rescale the store: read the sum after it
        return self._store.get(key)[0], growth

    def value(self, key: str, now: float) -> float | None:
        """The current rate of ``key``, or None when it is not tracked."""
        got = self._stored(key, now)
        return None if got is None else got[0] / (got[1] * self.t)

    def rate(self, key: str, now: float) -> FlowRate | None:
        """``key``'s current rate (what ``top`` would report)."""
        got = self._stored(key, now)
        return None if got is None else FlowRate(key, got[0] / (got[1] * self.t), None)

    def last_update(self, key: str) -> float | None:
        """When ``key`` was last added to (seconds), or None when it is not tracked."""
        got = self._store.get(key)
        return None if got is None else float(got[1])

    def updates(self) -> Iterator[tuple[str, float]]:
        """Every tracked key with its last update time (seconds), in no order."""
        for key, _stored, last in self._store.items():
            yield key, last

    def top(
        self, now: float, max_flows: int | None = None, min_value: float = 0.0
    ) -> list[FlowRate]:
        """FlowTable.top: the largest positive rates, at most ``n`` (and ``max_flows``)."""
        growth = self._advance(now)
        self._store.expire(now)
        limit = self.n if max_flows is None else min(self.n, max_flows)
        if limit <= 0:
            return []
        scale = growth * self.t
        rows = []
        for key, stored in self._store.top(limit):
            rate = stored / scale
            if rate <= 0.0 or rate < min_value:
                break
            rows.append(FlowRate(key, rate, None))
        return rows


AnyFlowTable = FlowTable | NativeFlowTable
"""What a definition keeps per data source (:func:`make_table` picks)."""


def make_table(
    n: int, t: float, *, value_kind: str = SUM, slot_kinds: Sequence[str] | None = None,
    clock: DecayClock | None = None, store_type: Callable[[int, int, float], Any] | None = None,
) -> AnyFlowTable:
    """The table for a definition's main value kind: a plain sum without ``values`` slots
    is a :class:`NativeFlowTable` when the compiled core's ``store_type`` is given (the
    native path), else a :class:`FlowTable`; other kinds a :class:`KindFlowTable`."""
    if value_kind == SUM:
        if store_type is not None and not slot_kinds:
            return NativeFlowTable(n, t, clock=clock, store_type=store_type)
        return FlowTable(n, t, clock=clock, slot_kinds=slot_kinds)
    return KindFlowTable(n, t, value_kind=value_kind, clock=clock, slot_kinds=slot_kinds)


class SourceFlow(NamedTuple):
    """A flow combined across data sources, with where its (largest) observation came from."""

    key: str
    value: float
    values: tuple[float, ...] | None
    agent: str
    data_source: str


def _combine_slots(
    kinds: Sequence[str] | None, total: tuple[float, ...] | None, values: tuple[float, ...]
) -> tuple[float, ...]:
    """``sum`` aggregation of current ``values`` slots: sums add, extremes stay extremes,
    distinct counts take the largest (one item seen at several data sources is one item)."""
    if total is None:
        return values
    if kinds is None:
        return tuple(a + b for a, b in zip(total, values, strict=False))
    out = []
    for kind, a, b in zip(kinds, total, values, strict=False):
        if kind == SUM:
            out.append(a + b)
        elif kind == MIN:
            out.append(min(a, b))
        else:
            out.append(max(a, b))
    return tuple(out)


def aggregate(
    sources: Iterable[tuple[str, str, Iterable[FlowRate]]],
    agg_mode: str = "max",
    max_flows: int = 100,
    min_value: float = 0.0,
    *,
    value_kind: str = SUM,
    slot_kinds: Sequence[str] | None = None,
) -> list[SourceFlow]:
    """Combine the top-N lists of several data sources (``activeFlows`` aggMode).

    ``sources`` yields ``(agent, dataSource, rows)``. ``max`` keeps, per key, the largest
    observation (a flow crossing several switches counts once); ``sum`` adds observations
    and element-wise ``values``, and reports the agent/dataSource of the largest one.
    ``edge``/``core`` combine like ``max``: choosing the edge or core data sources needs
    the topology, so the caller passes only those. Result: descending by value, at most
    ``max_flows``, each ≥ ``min_value``.

    A non-sum main value (``value_kind`` avg/max/min/count) is never added across data
    sources - an average, extreme or distinct count does not add up - so ``sum`` keeps the
    largest observation for it; ``values`` slots combine per ``slot_kinds`` (see
    :func:`_combine_slots`; None = all sums).
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
                    extra = _combine_slots(slot_kinds, extra, row.values)
                totals[row.key] = (total + row.value, extra)
    if mode == "sum":
        summed = value_kind == SUM
        best = {
            key: flow._replace(
                value=totals[key][0] if summed else flow.value, values=totals[key][1]
            )
            for key, flow in best.items()
        }
    flows = [flow for flow in best.values() if flow.value >= min_value]
    return heapq.nlargest(max(0, max_flows), flows, key=lambda flow: flow.value)
