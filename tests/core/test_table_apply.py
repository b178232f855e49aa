"""FlowTable.add_many with the core's apply_sums and sweep_entries against per-key add.

The native flush applies a table's aggregated sums in one call; the entries (values,
update times, dict order, which keys survive a sweep) and the eviction count must be the
ones the reference path's ``FlowTable.add`` calls give, including ties in a sweep.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowrt._core import load_native
from flowrt.engine.topn import FlowTable

if os.environ.get("FLOWRT_NO_EXTENSIONS"):
    pytest.skip("reference-path run: no compiled core to compare", allow_module_level=True)
native = load_native()
if native is None:
    raise ImportError("flowrt._core._ingest is not built: run `make test` (pip install -e .)")

batch = st.tuples(
    st.sampled_from([0.0, 0.0, 0.5, 3.0, 400.0]),  # time step
    st.lists(
        st.tuples(st.integers(0, 60), st.sampled_from([0.0, 1.0, 1.0, 2.5, 64.0, 1e9])),
        max_size=40,
    ),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 4), st.sampled_from([1.0, 10.0]), st.lists(batch, max_size=12),
       st.booleans())
def test_add_many_matches_add(n: int, t: float, batches: list, with_core: bool) -> None:
    ref = FlowTable(n, t, capacity=max(2, n * 3), idle_timeout=60.0)
    bulk = FlowTable(n, t, capacity=max(2, n * 3), idle_timeout=60.0)
    apply = native.apply_sums if with_core else None
    sweep = native.sweep_entries if with_core else None
    now = 1000.0
    for step, pairs in batches:
        now += step
        keys = [f"k{k}" for k, _ in pairs]
        values = [v for _, v in pairs]
        for key, value in zip(keys, values, strict=True):
            ref.add(key, value, None, now)
        bulk.add_many(keys, values, now, apply, sweep)
        assert list(bulk._entries.items()) == list(ref._entries.items())
        assert bulk.evicted == ref.evicted
    assert bulk.top(now) == ref.top(now)
