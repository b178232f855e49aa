"""The compiled FlowStream against the Python SequenceTracker and DataSourceStats.add_flow.

The Python tracker (flowrt.engine.agents) is the rule; the core's port must give the same
outcome for every number and end with the same counts, table-wide totals, drops, sampling
rate and effective sampling rate. Streams are random (sequence, fingerprint, uptime)
triples chosen to hit every branch: in order, gaps (small and beyond the ring),
duplicates, late arrivals, stale numbers, restarts by uptime and by reuse, wraps of the
32-bit sequence and uptime, unknown (zero) uptimes, and forced restarts.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowrt._core import load_native
from flowrt.engine.agents import (
    AccountingTotals,
    DataSourceStats,
    Outcome,
    SequenceTracker,
    StreamTotals,
)
from flowrt.sflow.model import FlowSample

if os.environ.get("FLOWRT_NO_EXTENSIONS"):
    pytest.skip("reference-path run: no compiled core to compare", allow_module_level=True)
native = load_native()
if native is None:
    raise ImportError("flowrt._core._ingest is not built: run `make test` (pip install -e .)")
OUTCOMES = [
    Outcome.FIRST, Outcome.IN_ORDER, Outcome.GAP, Outcome.DUPLICATE, Outcome.LATE,
    Outcome.STALE, Outcome.RESTART,
]
U32 = 0xFFFFFFFF

# one step: ("restart",) or (seq move, fingerprint choice, uptime move, rate, drops)
step = st.one_of(
    st.tuples(st.just("restart")),
    st.tuples(
        st.sampled_from(["next", "next", "next", "gap", "far", "back", "back_far", "same",
                         "low", "wrap"]),
        st.integers(0, 3),  # 0: fresh fingerprint, 1: the slot's old one, 2: zero, 3: max
        st.sampled_from(["up", "up", "same", "jitter", "back", "back_far", "zero", "wrap",
                         "j0", "j1", "s0", "s1"]),
        st.sampled_from([512, 512, 512, 1024]),
        st.sampled_from([0, 0, 3, 2**32 - 1]),
    ),
)


def stream_from(start: int, up0: int, steps: list[tuple]) -> list[tuple]:
    """Concrete (kind, seq, fp, uptime, rate, drops) items from abstract steps."""
    seq, uptime, fp_seen = start, up0, {}
    out: list[tuple] = []
    for i, s in enumerate(steps):
        if s[0] == "restart":
            out.append(("restart",))
            continue
        move, fpc, umove, rate, drops = s
        seq = {
            "next": seq + 1, "gap": seq + 3, "far": seq + 100, "back": seq - 2,
            "back_far": seq - 90, "same": seq, "low": i % 64, "wrap": U32 - 1,
        }[move] & U32
        uptime = {
            "up": uptime + 500, "same": uptime, "jitter": uptime - 900, "back": uptime - 5000,
            "back_far": uptime - 50_000, "zero": 0, "wrap": 2**32 - 10,
            "j0": uptime - 1000, "j1": uptime - 1001, "s0": uptime - 10_000,
            "s1": uptime - 10_001,
        }[umove] % 2**32
        fp = [1000 + i, fp_seen.get(seq & 63, 7), 0, U32][fpc]
        fp_seen[seq & 63] = fp
        out.append(("obs", seq, fp, uptime, rate, drops))
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, U32), st.integers(0, 2**32 - 1), st.lists(step, max_size=120))
def test_tracker_outcomes_match(start: int, up0: int, steps: list[tuple]) -> None:
    py_totals, c_totals = StreamTotals(), StreamTotals()
    py, c = SequenceTracker(totals=py_totals), native.FlowStream(c_totals)
    for item in stream_from(start, up0, steps):
        if item[0] == "restart":
            py.force_restart()
            c.force_restart()
            continue
        _, seq, fp, uptime, _, _ = item
        assert OUTCOMES[c.observe(seq, fp, uptime)] is py.observe(seq, fp, uptime), item
    for name in ("received", "lost", "duplicates", "out_of_order", "restarts", "last"):
        assert getattr(c, name) == getattr(py, name), name
    assert c_totals == py_totals
    if py._ring is not None and c.ring is not None:
        assert list(c.ring) == list(py._ring)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, U32), st.integers(1, 2**32 - 1), st.lists(step, max_size=120))
def test_add_flow_matches(start: int, up0: int, steps: list[tuple]) -> None:
    py_totals, c_totals = AccountingTotals(), AccountingTotals()
    py = DataSourceStats.new(py_totals)
    c = DataSourceStats.new(c_totals, native.FlowStream)
    for item in stream_from(start, up0, steps):
        if item[0] == "restart":
            py.restart()
            c.restart()
            continue
        _, seq, fp, uptime, rate, drops = item
        sample = FlowSample(seq, 0, 3, rate, fp, drops, 0, 1, 0, 2, [])
        assert c.add_flow(sample, uptime) is py.add_flow(sample, uptime), item
    for name in ("received", "lost", "duplicates", "out_of_order", "restarts", "last"):
        assert getattr(c.flow, name) == getattr(py.flow, name), name
    assert c_totals == py_totals
    assert c.flow_drops == py.flow_drops
    assert c.sampling_rate == py.sampling_rate
    assert c.effective_sampling_rate == py.effective_sampling_rate
