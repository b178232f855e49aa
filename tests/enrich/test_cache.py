"""The bounded answer cache every enrichment service uses."""

from __future__ import annotations

import pytest

from flowrt.enrich.cache import MISS, BoundedCache


def test_hits_misses_and_none_answers() -> None:
    cache: BoundedCache[str | None] = BoundedCache(4)
    assert cache.get("a") is MISS
    cache.put("a", None)  # a known "no answer" is a hit, not a miss
    cache.put("b", "x")
    assert cache.get("a") is None and cache.get("b") == "x"
    assert (cache.hits, cache.misses, cache.evictions) == (2, 1, 0)


def test_full_cache_evicts_the_oldest() -> None:
    cache: BoundedCache[int] = BoundedCache(3)
    for i in range(10):
        cache.put(str(i), i)
    assert len(cache) == 3 and cache.evictions == 7
    assert cache.get("0") is MISS and cache.get("9") == 9
    cache.put("7", 70)  # replacing refreshes without evicting
    assert cache.evictions == 7 and cache.get("7") == 70


def test_expiry() -> None:
    cache: BoundedCache[str] = BoundedCache(3)
    cache.put("a", "x", expires=10.0)
    assert cache.get("a", now=9.0) == "x"
    assert cache.get("a", now=10.0) is MISS


def test_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="cache size"):
        BoundedCache(0)
