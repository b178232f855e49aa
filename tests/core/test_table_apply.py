"""NativeFlowTable (entries in the core's SumStore) against FlowTable, operation by operation.

The native path keeps plain-sum tables in C; every answer the engine and the API read
from a table (top-N rows, values, rates, last updates, the keys held and their order,
evictions) must be the Python table's, bit for bit, whatever the sequence of adds, time
steps (including landmark moves of a shared clock), queries, sweeps at capacity and
idle expiry. Hypothesis drives both tables with the same random operation sequences;
after every operation the whole state is compared, including dict order (it decides
ties in sweeps and top-N).

The batch path (``Core.drain_to`` into a SumStore) is checked here against per-key adds
of the same sums in the same order, and end to end by test_native_differential.py.
"""

from __future__ import annotations

import os
import socket
import struct
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowrt._core import load_native
from flowrt.engine.topn import DecayClock, FlowTable, NativeFlowTable

if os.environ.get("FLOWRT_NO_EXTENSIONS"):
    pytest.skip("reference-path run: no compiled core to compare", allow_module_level=True)
native = load_native()
if native is None:
    raise ImportError("flowrt._core._ingest is not built: run `make test` (pip install -e .)")

KEYS = ["a", "b", "c", "d", "e", "f", "g", "h", "10.0.0.1,10.0.0.2", "é,ü", "\udc80", ""] + [
    f"key-{i:04d}-" + "x" * (i % 40) for i in range(24)
]
VALUES = st.sampled_from([0.0, 0.0, 1.0, 1.0, 2.5, 3.0, 64.0, 1500.0, 1e9, -0.0, 1e-300])
STEPS = st.sampled_from([0.0, 0.0, 0.0, 0.01, 0.5, 3.0, 7.0, 30.0, 400.0, -0.5])
KEY = st.integers(0, 3) | st.integers(0, len(KEYS) - 1)  # often the same few keys

op = st.one_of(
    st.tuples(st.just("add"), KEY, VALUES, STEPS),
    st.tuples(st.just("batch"), st.lists(st.tuples(KEY, VALUES),
                                         max_size=30), STEPS),
    st.tuples(st.just("top"), st.sampled_from([None, 0, 1, 3, 100]),
              st.sampled_from([0.0, 0.0, 1.0, 1e6])),
    st.tuples(st.just("value"), KEY),
    st.tuples(st.just("expire"), STEPS),
    st.tuples(st.just("other"), STEPS),  # the flow's other table moves the shared clock
)


def state(table: Any) -> tuple[list[tuple[str, float, float]], int, int]:
    """Entries in order (key, scaled sum, last update), evictions, size."""
    if isinstance(table, FlowTable):
        entries = [(k, e[0], float(e[1])) for k, e in table._entries.items()]
    else:
        entries = table._store.items()
    return entries, table.evicted, len(table)


def run(ops: list[tuple[Any, ...]], n: int, t: float, capacity: int, idle: float) -> None:
    tables = []
    for _ in range(2):  # one python, one native, each with a second table on its clock
        clock = DecayClock(t)
        tables.append(clock)
    ref_clock, nat_clock = tables
    ref = FlowTable(n, t, capacity=capacity, idle_timeout=idle, clock=ref_clock)
    nat = NativeFlowTable(n, t, capacity=capacity, idle_timeout=idle, clock=nat_clock,
                          store_type=native.SumStore)
    ref_other = FlowTable(n, t, clock=ref_clock)
    nat_other = NativeFlowTable(n, t, clock=nat_clock, store_type=native.SumStore)
    now = 1000.0
    for item in ops:
        kind = item[0]
        if kind == "add":
            _, k, value, step = item
            now += step
            ref.add(KEYS[k], value, None, now)
            nat.add(KEYS[k], value, None, now)
        elif kind == "batch":  # the flush: one growth for the batch, adds in C
            _, pairs, step = item
            now += step
            if pairs:  # drain_to never makes a group without keys
                store, growth = nat.bulk_target(now)
                add = ref.bulk_target(now)
                for k, value in pairs:
                    add(KEYS[k], value)
                    store.add(KEYS[k], value, growth, now)
        elif kind == "top":
            _, limit, min_value = item
            assert ref.top(now, limit, min_value) == nat.top(now, limit, min_value)
        elif kind == "value":
            key = KEYS[item[1]]
            assert ref.value(key, now) == nat.value(key, now)
            assert ref.rate(key, now) == nat.rate(key, now)
            assert ref.last_update(key) == nat.last_update(key)
        elif kind == "expire":
            now += item[1]
            assert ref.expire(now) == nat.expire(now)
        else:
            now += item[1]
            ref_other.add("x", 1.0, None, now)
            nat_other.add("x", 1.0, None, now)
        assert state(ref) == state(nat)
        assert list(ref.updates()) == list(nat.updates())
    assert ref.top(now) == nat.top(now)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(op, max_size=60), st.integers(1, 4), st.sampled_from([0.05, 1.0, 10.0]),
       st.integers(2, 12), st.sampled_from([2.0, 60.0, 1e9]))
def test_native_table_matches_flow_table(
    ops: list[tuple[Any, ...]], n: int, t: float, capacity: int, idle: float
) -> None:
    run(ops, n, t, capacity, idle)


def test_ties_in_a_sweep_keep_insertion_order() -> None:
    """Equal sums: a sweep keeps the earliest inserted, largest first (stable)."""
    run([("add", k, 1.0, 0.0) for k in range(8)] + [("add", 9, 5.0, 0.0), ("top", 100, 0.0)],
        n=8, t=10.0, capacity=6, idle=60.0)


def test_value_after_another_table_moved_the_landmark() -> None:
    """The stored sum is read after the table rescaled to the moved landmark."""
    run([("add", 0, 1.0, 0.0), ("other", 400.0), ("value", 0)], n=2, t=1.0, capacity=4,
        idle=1e9)


def test_store_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        native.SumStore(1, 1, 10.0)
    with pytest.raises(ValueError):
        native.SumStore(10, 10, 10.0)
    store = native.SumStore(10, 5, 10.0)
    with pytest.raises(TypeError):
        store.add(b"bytes", 1.0, 1.0, 0.0)
    with pytest.raises(TypeError):
        store.add("k", "1", 1.0, 0.0)
    with pytest.raises(TypeError):
        store.get(3)
    assert len(store) == 0 and store.top(5) == [] and store.items() == []
    table = NativeFlowTable(5, 1.0, store_type=native.SumStore)
    with pytest.raises(ValueError, match="no values slots"):
        table.add("k", 1.0, (2.0,), 0.0)


def test_memory_follows_the_keys() -> None:
    """A full store stays within its capacity; expiring every key gives the memory back."""
    store = native.SumStore(1000, 500, 10.0)
    empty = store.__sizeof__()
    for i in range(5000):
        store.add(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 1.0, 1.0, float(i) / 1000)
    assert len(store) <= 1000 and store.evicted > 0
    full = store.__sizeof__()
    assert full < 1000 * 100  # entries, index and key bytes: well under 100 bytes a key
    assert store.expire(1000.0) == len(store) or len(store) == 0
    assert store.__sizeof__() < full
    store.clear()
    assert len(store) == 0 and store.__sizeof__() == empty


# --- the native flush (Core.drain_to) into the tables ------------------------------------
AGENT = "10.0.0.20"


def _datagrams(ports: list[int], start_seq: int = 1) -> list[bytes]:
    """One TCP sample per source port (data source 3), six to a datagram, in sequence."""
    from flowrt.sflow.encode import encode_datagram
    from flowrt.sflow.model import Datagram, FlowSample
    from flowrt.sflow.records.flow import SampledHeader

    def frame(sport: int) -> bytes:
        eth = bytes.fromhex("020000000002020000000001") + struct.pack(">H", 0x0800)
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 986, 1, 0, 64, 6, 0,
                         socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.2"))
        return eth + ip + struct.pack(">HHIIBBHHH", sport, 80, 1, 0, 0x50, 0x10, 65535, 0, 0)

    out = []
    seq = start_seq
    for i in range(0, len(ports), 6):
        samples = []
        for port in ports[i:i + 6]:
            samples.append(FlowSample(seq, 0, 3, 100, seq * 100, 0, 0, 3, 0, 7,
                                      [SampledHeader(1, 1000, 4, frame(port))]))
            seq += 1
        out.append(encode_datagram(Datagram(AGENT, 0, seq, 1000 + seq, samples)))
    return out


def _engine(**flows: dict[str, Any]) -> tuple[Any, Any]:
    from flowrt.engine.core import Engine
    from flowrt.engine.native import NativeIngest

    engine = Engine(now=0.0)
    for name, body in flows.items():
        engine.set_flow(name, body)
    return engine, NativeIngest(engine)


def test_flush_into_a_table_emptied_by_a_query() -> None:
    """The flush finds an empty (falsy) table instead of making it again: at the data
    source cap that would reject the samples, and it would lose ``evicted``."""
    engine, driver = _engine(one={"keys": "tcpsourceport", "value": "frames", "n": 1})
    flow = engine.flows._flows["one"]
    flow.max_sources = 1
    for payload in _datagrams(list(range(1000, 1150))):  # capacity 100: sweeps evict
        driver.ingest_datagram(payload, AGENT, 10.0)
    driver.flush()
    (table,) = flow.tables.values()
    assert isinstance(table, NativeFlowTable)
    evicted = table.evicted
    assert evicted > 0
    assert engine.active_flows("ALL", "one", 1000.0) == [] and len(table) == 0
    for payload in _datagrams([2000], start_seq=151):
        driver.ingest_datagram(payload, AGENT, 1000.0)
    driver.flush()
    assert flow.sources_rejected == 0
    assert list(flow.tables.values()) == [table] and len(table) == 1
    assert table.evicted == evicted


def test_flush_reaches_watchers_and_python_tables_key_by_key() -> None:
    """A watched flow sees every key (add + notify); a Python FlowTable made before the
    driver ran still gets the batch (per-key adds); both equal the reference path."""
    from flowrt.engine.core import Engine

    body = {"keys": "tcpsourceport", "value": "frames"}
    ports = [1000 + i % 40 for i in range(90)]
    payloads = _datagrams(ports)
    ref = Engine(now=0.0)
    ref.set_flow("watched", body)
    ref.set_flow("plain", body)
    engine, driver = _engine(watched=body, plain=body)
    engine.flows._flows["plain"].store_type = None  # its table will be a Python FlowTable
    seen: list[str] = []
    ref_seen: list[str] = []
    engine.flows.watch({"watched"}, lambda *a: seen.append(a[3]))
    ref.flows.watch({"watched"}, lambda *a: ref_seen.append(a[3]))
    for i, payload in enumerate(payloads):
        driver.ingest_datagram(payload, AGENT, 5.0 + i // 5)
        ref.ingest_datagram(payload, AGENT, 5.0 + i // 5)
    driver.flush()
    flows = engine.flows._flows
    assert isinstance(next(iter(flows["plain"].tables.values())), FlowTable)
    assert isinstance(next(iter(flows["watched"].tables.values())), NativeFlowTable)
    # the reference notifies per sample, the native path per key and flush (one a `now`)
    assert set(seen) == set(ref_seen) == {str(p) for p in ports}
    assert len(seen) == len({(5.0 + i // 5, p) for i in range(len(payloads))
                             for p in ports[6 * i:6 * i + 6]})
    for name in ("watched", "plain"):
        a = ref.active_flows("ALL", name, 30.0, max_flows=1000)
        b = engine.active_flows("ALL", name, 30.0, max_flows=1000)
        assert [r["key"] for r in a] == [r["key"] for r in b]
        assert [r["value"] for r in a] == pytest.approx([r["value"] for r in b], rel=1e-9)


def test_drain_to_drops_refused_groups_and_propagates_errors() -> None:
    _unused, driver = _engine(one={"keys": "tcpsourceport", "value": "frames"})
    for payload in _datagrams([1, 2, 3]):
        driver.ingest_datagram(payload, AGENT, 1.0)
    calls: list[tuple[int, str, int]] = []
    assert driver.core.drain_to(lambda *group: calls.append(group), 1.0) == 0
    assert calls == [(0, AGENT, 3)] and driver.core.pending == 0
    for payload in _datagrams([4], start_seq=4):
        driver.ingest_datagram(payload, AGENT, 2.0)
    with pytest.raises(TypeError, match="resolve must return"):
        driver.core.drain_to(lambda *group: 42, 2.0)
    assert driver.core.pending == 0  # drained (dropped) all the same
    for payload in _datagrams([5], start_seq=5):
        driver.ingest_datagram(payload, AGENT, 3.0)

    def fail(*group: Any) -> None:
        raise RuntimeError("resolve failed")

    with pytest.raises(RuntimeError, match="resolve failed"):
        driver.core.drain_to(fail, 3.0)
    driver._pending_now = None
