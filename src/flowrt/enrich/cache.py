"""A bounded answer cache shared by the enrichment services.

Flow keys repeat: a busy link shows the same few thousand addresses and MACs sample
after sample, so each service keeps its recent answers. The cache is a dict in
insertion order capped at ``size`` entries; a full cache drops its oldest entry for a
new one (counted in ``evictions``). Entries may carry an expiry time (DNS answers);
an expired entry reads as a miss. ``hits``/``misses``/``evictions`` are exported
through :mod:`flowrt.engine.selfmetrics`.
"""

from __future__ import annotations

from typing import Generic, TypeVar

V = TypeVar("V")


class _Miss:
    """The answer of :meth:`BoundedCache.get` for a key it does not hold (or that expired);
    a cached value may itself be None (a known "no answer")."""

    def __repr__(self) -> str:
        return "MISS"


MISS = _Miss()


class BoundedCache(Generic[V]):
    """key → value (with an optional expiry), at most ``size`` entries."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"cache size must be >= 1, got {size}")
        self.size = size
        self._entries: dict[str, tuple[V, float]] = {}
        self.hits = 0
        self.misses = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str, now: float = 0.0) -> V | _Miss:
        """The cached value, or :data:`MISS` (absent or expired)."""
        entry = self._entries.get(key)
        if entry is None or (entry[1] and entry[1] <= now):
            self.misses += 1
            return MISS
        self.hits += 1
        return entry[0]

    def put(self, key: str, value: V, expires: float = 0.0) -> None:
        """Store ``value`` (until ``expires``; 0 = no expiry), evicting the oldest entry."""
        entries = self._entries
        if key in entries:
            del entries[key]  # re-insert at the young end
        elif len(entries) >= self.size:
            del entries[next(iter(entries))]
            self.evictions += 1
        entries[key] = (value, expires)

    def clear(self) -> None:
        self._entries.clear()
