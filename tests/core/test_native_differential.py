"""The native ingest path (flowrt._core) against the reference path: same state, always.

Every capture in tests/data/sflow, generated traffic (hypothesis) with random flow
definitions, and hostile datagrams go through two engines, one fed by
:meth:`Engine.ingest_datagram` and one by :class:`NativeIngest`; /activeflows, metrics,
/agents/json, /analyzer/json, /flowkeys/json and the flow log must agree (table values to
1e-9 relative: an aggregated batch adds one sum where the reference adds each sample).

With ``FLOWRT_NO_EXTENSIONS=1`` (the Makefile's reference-path run) these tests are
skipped: there is no second path to compare. Otherwise a missing extension is an error.
"""

from __future__ import annotations

import math
import os
import random
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import sflow_captures, udp_payloads
from flowrt._core import load_native
from flowrt.engine.core import Engine
from flowrt.engine.native import NativeIngest
from flowrt.sflow.encode import encode_datagram
from flowrt.sflow.model import CounterSample, Datagram, FlowSample
from flowrt.sflow.records.counters import GenericInterfaceCounters
from flowrt.sflow.records.flow import ExtendedSwitch, SampledHeader

if os.environ.get("FLOWRT_NO_EXTENSIONS"):
    pytest.skip("reference-path run: no native path to compare", allow_module_level=True)
if load_native() is None:
    raise ImportError("flowrt._core._ingest is not built: run `make test` (pip install -e .)")

FLOWS: dict[str, dict[str, Any]] = {
    "pair": {"keys": "ipsource,ipdestination", "value": "bytes"},
    "ports": {"keys": "tcpsourceport,tcpdestinationport", "value": "frames",
              "filter": "ipprotocol=6"},
    "total": {"keys": "", "value": "bytes"},
    "l2": {"keys": "macsource,macdestination,vlan,ethernetprotocol", "value": "frames",
           "filter": "ipprotocol!=6&(tcpflags=null|ipsource=10.0.0.1,10.0.0.2)"},
    "inner": {"keys": "ipsource.1,ipdestination.1,vxlanvni,inputifindex,outputifindex,agent",
              "value": "rate:bytes"},
    "v6": {"keys": "ip6source,ip6destination,ip6nexthdr,icmp6type", "value": "ip6bytes"},
    "tos": {"keys": "ipdscp,ipecn,ipttl,tcpflags,icmptype,icmpcode", "value": "ipbytes",
            "filter": "ipsource!=null"},
    # fallback definitions (the reference executor runs them)
    "regex": {"keys": "ipsource", "value": "bytes", "filter": "ipsource~10\\..*"},
    "fn": {"keys": "mask:ipsource:24", "value": "frames"},
    "avg": {"keys": "ipprotocol", "value": "avg:bytes"},
    "logged": {"keys": "ipsource,ipdestination", "value": "bytes", "log": True},
}

KEY_POOL = [
    "ipsource", "ipdestination", "ipprotocol", "tcpsourceport", "tcpdestinationport",
    "udpsourceport", "udpdestinationport", "macsource", "macdestination", "vlan", "priority",
    "inputifindex", "outputifindex", "agent", "bytes", "frames", "tcpflags", "ipdscp",
    "ipecn", "ipttl", "ip6source", "ip6destination", "ip6nexthdr", "icmptype", "icmpcode",
    "ipsource.1", "ipdestination.1", "macsource.1", "vxlanvni", "genevevni", "grekey",
    "mplslabel", "vlan.1", "ethernetprotocol", "isbroadcast", "ismulticast", "isunicast",
    "ipflags", "ipfragoffset", "ip6flowlabel", "ip6dscp", "ip6ecn", "stack", "vlansource",
]  # fmt: skip
VALUE_POOL = ["bytes", "frames", "rate:bytes", "ipbytes", "ip6bytes", "tcpsourceport",
              "ipttl", "avg:ipbytes", "max:bytes", "ipsource"]


def feed(payloads: list[tuple[bytes, str, float]], flows: dict[str, dict[str, Any]],
         native: bool) -> Engine:
    engine = Engine(now=0.0)
    for name, body in flows.items():
        engine.set_flow(name, body)
    driver = NativeIngest(engine) if native else None
    ingest = driver.ingest_datagram if driver is not None else engine.ingest_datagram
    for payload, source, now in payloads:
        ingest(payload, source, now)
    if driver is not None:
        driver.flush()
    return engine


def close(a: Any, b: Any) -> bool:
    """Equal, with floats to 1e-9 relative (aggregated sums round differently)."""
    if isinstance(a, float) or isinstance(b, float):
        if a != a and b != b:  # NaN on both paths (a counter's undefined ratio)
            return True
        return isinstance(a, int | float) and isinstance(b, int | float) and math.isclose(
            a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return isinstance(b, list | tuple) and len(a) == len(b) and all(
            close(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def tables(engine: Engine, name: str, now: float) -> dict[tuple[str, str], list[Any]]:
    """Every data source's table of flow ``name``: the rows it would report."""
    flow = engine.flows._flows[name]
    return {
        source: sorted((tuple(row) for row in table.top(now, max_flows=1000)), key=repr)
        for source, table in sorted(flow.tables.items())
    }


def assert_same(ref: Engine, nat: Engine, flows: dict[str, Any], now: float) -> None:
    assert nat.ingest_path == "native" and ref.ingest_path == "reference"
    for name in flows:
        assert close(tables(ref, name, now), tables(nat, name, now)), name
        for mode in ("sum", "max"):  # equal values may tie-break to another data source
            a = ref.active_flows("ALL", name, now, agg_mode=mode)
            b = nat.active_flows("ALL", name, now, agg_mode=mode)
            assert close([r["value"] for r in a], [r["value"] for r in b]), (name, mode)
    assert ref.agents.to_json(now) == nat.agents.to_json(now)
    a, b = ref.analyzer(now), nat.analyzer(now)
    a.pop("ingestPath"), b.pop("ingestPath")
    assert a == b
    assert ref.flows.flow_keys(now) == nat.flows.flow_keys(now)
    ref_points = sorted(ref.metrics.points(now), key=repr)
    nat_points = sorted(nat.metrics.points(now), key=repr)
    assert len(ref_points) == len(nat_points)
    scalar = [  # counter metrics (flow metrics' topKeys may order ties differently)
        [tuple(p[:5]) for p in points if p.extra is None]
        for points in (ref_points, nat_points)
    ]
    assert close(scalar[0], scalar[1])
    ref.tick(now + 1.0)
    nat.tick(now + 1.0)
    assert ref.flows.log.__dict__.keys() == nat.flows.log.__dict__.keys()
    assert close(repr_log(ref), repr_log(nat))


def repr_log(engine: Engine) -> list[Any]:
    log = engine.flows.log
    entries = getattr(log, "entries", None) or getattr(log, "_entries", None) or []
    return [sorted(vars(e).items()) if hasattr(e, "__dict__") else e for e in entries]


@pytest.mark.parametrize("name", sflow_captures())
def test_every_capture_same_state(name: str) -> None:
    payloads = [(p, "192.0.2.1", 1000.0 + i * 0.25) for i, (_, p) in enumerate(udp_payloads(name))]
    ref = feed(payloads, FLOWS, native=False)
    nat = feed(payloads, FLOWS, native=True)
    assert_same(ref, nat, FLOWS, 1000.0 + len(payloads) * 0.25)


def test_ovs_capture_runs_natively() -> None:
    """The real Open vSwitch capture's flow datagrams stay in the core (not refused)."""
    payloads = [(p, "192.0.2.1", 5.0) for _, p in udp_payloads("ovs-netns")]
    engine = Engine(now=0.0)
    engine.set_flow("pair", FLOWS["pair"])
    driver = NativeIngest(engine)
    for payload, source, now in payloads:
        driver.ingest_datagram(payload, source, now)
    driver.flush()
    stats = driver.core.stats()
    assert stats["walked"] == len(payloads)
    assert stats["samples"] > 700  # flow samples counted by the core
    assert stats["refused"] < stats["walked"] // 4  # counter datagrams only
    assert driver.native_flows() == ["pair"]
    assert engine.active_flows("ALL", "pair", 5.0)


def test_lowering_chooses_per_flow() -> None:
    engine = Engine(now=0.0)
    for name, body in FLOWS.items():
        engine.set_flow(name, body)
    driver = NativeIngest(engine)
    assert driver.native_flows() == ["pair", "ports", "total", "l2", "inner", "v6", "tos"]


# --- generated traffic -------------------------------------------------------------------

def _headers() -> list[bytes]:
    """Real sampled headers from every capture: the seeds generated samples mutate."""
    from flowrt.sflow.decode import decode_datagram

    out = []
    for name in sflow_captures():
        for _, payload in udp_payloads(name):
            try:
                dgram = decode_datagram(payload)
            except Exception:
                continue
            for sample in dgram.samples:
                for record in getattr(sample, "records", ()):
                    if isinstance(record, SampledHeader):
                        out.append((record.protocol, record.header))
    return sorted(set(out))


HEADERS = _headers()


@st.composite
def headers(draw: st.DrawFn) -> SampledHeader:
    protocol, header = draw(st.sampled_from(HEADERS))
    how = draw(st.integers(0, 3))
    if how == 1:  # truncated
        header = header[: draw(st.integers(0, len(header)))]
    elif how == 2:  # one byte changed
        i = draw(st.integers(0, max(0, len(header) - 1)))
        header = header[:i] + bytes([draw(st.integers(0, 255))]) + header[i + 1:]
    elif how == 3:
        protocol = draw(st.sampled_from([1, 11, 12, 13, 2, protocol]))
    return SampledHeader(protocol, draw(st.integers(0, 9000)), draw(st.integers(0, 4)), header)


@st.composite
def flow_samples(draw: st.DrawFn) -> FlowSample:
    records: list[Any] = []
    if draw(st.integers(0, 9)):
        records.append(draw(headers()))
    if draw(st.booleans()):
        records.append(ExtendedSwitch(draw(st.integers(0, 4095)), 0, draw(st.integers(0, 4095)), 0))
    expanded = draw(st.booleans())
    return FlowSample(
        draw(st.integers(0, 50)), draw(st.integers(0, 3)), draw(st.integers(1, 5)),
        draw(st.sampled_from([0, 1, 100, 4096])), draw(st.integers(0, 1 << 32 - 1)), 0,
        draw(st.integers(0, 2)), draw(st.integers(0, 5)), draw(st.integers(0, 2)),
        draw(st.sampled_from([0, 1, 0x3FFFFFFF])), records, expanded,
    )


@st.composite
def counter_samples(draw: st.DrawFn) -> CounterSample:
    """A generic interface counters_sample (the same data sources as the flow samples)."""
    index = draw(st.integers(1, 5))
    octets = draw(st.integers(0, 1 << 40))
    record = GenericInterfaceCounters(
        index, 6, 10**9, 1, 3, octets, 10, 0, 0, 0, 0, 0, octets // 2, 20, 0, 0, 0, 0, 0,
    )
    return CounterSample(
        draw(st.integers(0, 50)), draw(st.integers(0, 3)), index, [record],
        draw(st.booleans()),
    )


@st.composite
def traffic(draw: st.DrawFn) -> list[tuple[bytes, str, float]]:
    out = []
    now = 100.0
    for seq in range(draw(st.integers(1, 12))):
        agent = draw(st.sampled_from(["10.1.0.1", "10.1.0.2", "2001:db8::1"]))
        samples: list[Any] = draw(st.lists(flow_samples(), min_size=0, max_size=7))
        for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2]))):  # mixed datagrams too
            samples.insert(draw(st.integers(0, len(samples))), draw(counter_samples()))
        dgram = Datagram(agent, draw(st.integers(0, 1)), draw(st.sampled_from([seq, seq + 1, 1])),
                         draw(st.integers(0, 100_000)), samples)
        payload = encode_datagram(dgram)
        if draw(st.integers(0, 9)) == 0:  # cut short: a counted error on both paths
            payload = payload[: draw(st.integers(0, len(payload)))]
        now += draw(st.sampled_from([0.0, 0.0, 0.5, 1.0]))
        out.append((payload, "192.0.2.9", now))
    return out


@st.composite
def flow_defs(draw: st.DrawFn) -> dict[str, dict[str, Any]]:
    defs = {}
    for i in range(draw(st.integers(1, 4))):
        keys = draw(st.lists(st.sampled_from(KEY_POOL), max_size=3))
        body: dict[str, Any] = {
            "keys": ",".join(keys), "value": draw(st.sampled_from(VALUE_POOL)),
            "n": draw(st.integers(5, 20)), "t": draw(st.sampled_from([1, 2, 10])),
        }
        if draw(st.booleans()):
            key = draw(st.sampled_from(KEY_POOL))
            values = draw(st.lists(st.sampled_from(
                ["6", "17", "null", "10.0.0.1", "0", "1", "true", "000010000", "2"]),
                min_size=1, max_size=3))
            op = draw(st.sampled_from(["=", "!="]))
            text = f"{key}{op}{','.join(values)}"
            if draw(st.booleans()):
                other = draw(st.sampled_from(KEY_POOL))
                text = f"({text}){draw(st.sampled_from(['&', '|']))}{other}!=null"
            body["filter"] = text
        defs[f"f{i}"] = body
    return defs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(traffic(), flow_defs())
def test_generated_traffic_same_state(
    payloads: list[tuple[bytes, str, float]], flows: dict[str, dict[str, Any]]
) -> None:
    ref = feed(payloads, flows, native=False)
    nat = feed(payloads, flows, native=True)
    assert_same(ref, nat, flows, payloads[-1][2])


# --- hostile input -----------------------------------------------------------------------

def test_hostile_datagrams_are_counted_drops_on_both_paths() -> None:
    """Lengths that lie, counts past the end, truncations and bit flips: no crash, and
    the same counters and tables as the reference path (bounded: a few thousand inputs)."""
    rng = random.Random(20240601)
    seeds = [p for name in sflow_captures() for _, p in udp_payloads(name)]
    hostile: list[tuple[bytes, str, float]] = []
    for i in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(data))
            how = rng.randint(0, 3)
            if how == 0:
                data[pos] = rng.randrange(256)
            elif how == 1:  # a length or count word that lies
                word = rng.choice([0, 1, 3, 0x7FFFFFFF, 0xFFFFFFFF, len(data)])
                data[pos & ~3: (pos & ~3) + 4] = word.to_bytes(4, "big")
            elif how == 2:
                del data[pos:]
            else:
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
            if not data:
                break
        hostile.append((bytes(data), "192.0.2.7", 10.0 + i // 50))
    ref = feed(hostile, FLOWS, native=False)
    nat = feed(hostile, FLOWS, native=True)
    assert ref.counters.datagrams == len(hostile)
    assert ref.counters.decode_errors > 100  # the mutations did hit
    assert_same(ref, nat, FLOWS, 10.0 + len(hostile) // 50)


def test_walk_refuses_garbage_without_crashing() -> None:
    core = load_native().Core(Datagram, FlowSample, {})  # type: ignore[union-attr]
    rng = random.Random(7)
    for size in [0, 1, 7, 8, 27, 28, 40, 100, 2000]:
        for _ in range(200):
            assert core.walk(bytes(rng.randrange(256) for _ in range(size))) is None or size >= 28
    assert core.commit() is None or isinstance(core.commit(), int)
    assert core.drain() == []
    with pytest.raises(TypeError):
        core.walk(bytearray(b"x"))


def test_an_enrichment_flow_runs_on_the_reference_path_beside_a_native_one() -> None:
    """``country:`` is a Call the core refuses: that flow alone runs on the reference
    executor, and both flows give the right values from the same datagrams."""
    from traffic_frames import public_frames

    flows = {"plain": {"keys": "ipsource", "value": "frames"},
             "geo": {"keys": "ipsource,country:ipsource,asn:ipsource", "value": "frames"}}
    engine = Engine(now=0.0)
    for name, body in flows.items():
        engine.set_flow(name, body)
    driver = NativeIngest(engine)
    assert driver.native_flows() == ["plain"]
    samples = [FlowSample(i + 1, 0, 3, 10, 10 * (i + 1), 0, 3, 4, 0, 0x3FFFFFFF,
                          [SampledHeader(1, 1518, 4, frame)])
               for i, frame in enumerate(public_frames())]
    payload = encode_datagram(Datagram("192.0.2.1", 0, 1, 1000, samples))
    driver.ingest_datagram(payload, "192.0.2.1", 1.0)
    driver.flush()
    assert engine.ingest_path == "native"
    plain = {row["key"] for row in engine.active_flows("ALL", "plain", 1.0)}
    geo = {row["key"] for row in engine.active_flows("ALL", "geo", 1.0)}
    assert plain == {"8.8.8.8", "1.1.1.1", "8.8.4.4", "10.0.0.1"}
    assert geo == {"8.8.8.8,US,15169", "1.1.1.1,AU,13335", "8.8.4.4,US,15169"}  # 10/8: null


# --- sequence accounting: duplicates, reordering, restarts ------------------------------

def _renumbered(payloads: list[bytes], first: int, uptime: int,
                sample_seq: dict[int, int]) -> list[bytes]:
    """The capture's flow datagrams as one agent's stream from datagram ``first`` on:
    consecutive datagram numbers, per data source sample numbers, uptime +1 s each."""
    out = []
    for n, payload in enumerate(payloads):
        data = bytearray(payload)
        data[16:20] = (first + n).to_bytes(4, "big")
        data[20:24] = (uptime + 1000 * n).to_bytes(4, "big")
        off = 28
        for _ in range(int.from_bytes(data[24:28], "big")):
            length = int.from_bytes(data[off + 4: off + 8], "big")
            source = int.from_bytes(data[off + 12: off + 16], "big")
            sample_seq[source] = sample_seq.get(source, 0) + 1
            data[off + 8: off + 12] = sample_seq[source].to_bytes(4, "big")
            off += 8 + length
        out.append(bytes(data))
    return out


def _flow_datagrams() -> list[bytes]:
    from flowrt.sflow.decode import decode_datagram

    return [p for _, p in udp_payloads("ovs-netns")
            if all(s.__class__ is FlowSample for s in decode_datagram(p).samples)]


def test_sequence_anomalies_same_state() -> None:
    """Duplicate datagrams, duplicate samples in a new datagram, reordering and an agent
    restart: the native path accounts and drops exactly as the reference (the oracle)."""
    base = _flow_datagrams()[:60]
    assert len(base) == 60
    stream = _renumbered(base[:40], 1, 500_000, {})
    stream.insert(10, stream[9])  # a byte-identical copy: DUPLICATE, dropped whole
    stream[20], stream[21] = stream[21], stream[20]  # reordered: LATE, not lost
    again = bytearray(stream[30])  # the same samples in the next datagram: samples dropped
    again[16:20] = (41).to_bytes(4, "big")
    again[20:24] = (540_000).to_bytes(4, "big")
    stream.append(bytes(again))
    stream += _renumbered(base[40:], 1, 2_000, {})  # the agent restarted
    payloads = [(p, "192.0.2.1", 50.0 + i // 8) for i, p in enumerate(stream)]
    ref = feed(payloads, FLOWS, native=False)
    nat = feed(payloads, FLOWS, native=True)
    totals = ref.analyzer(60.0)
    assert totals["sFlowDatagramsDuplicates"] >= 1
    assert totals["sFlowDatagramsOutOfOrder"] >= 1
    assert totals["sFlowDatagramRestarts"] >= 1
    assert totals["sFlowFlowDuplicateSamples"] >= 1
    assert_same(ref, nat, FLOWS, 60.0)


def test_aggregation_limit_flushes_early() -> None:
    """Past AGG_LIMIT pending keys the driver drains mid-batch (counted); the tables end
    the same as the reference's."""
    payloads = [(p, "192.0.2.1", 7.0) for p in _renumbered(_flow_datagrams(), 1, 1000, {})]
    ref = feed(payloads, FLOWS, native=False)
    engine = Engine(now=0.0)
    for name, body in FLOWS.items():
        engine.set_flow(name, body)
    driver = NativeIngest(engine)
    driver._agg_limit = 3  # the capture has few distinct keys: a tiny limit to hit it
    for payload, source, now in payloads:
        driver.ingest_datagram(payload, source, now)
        assert driver.core.pending < 3  # drained as soon as the limit is reached
    driver.flush()
    assert engine.counters.native_early_flushes > 5
    assert engine.analyzer(7.0)["nativeEarlyFlushes"] == engine.counters.native_early_flushes
    nat_early = engine.counters.native_early_flushes
    engine.counters.native_early_flushes = 0  # the reference never flushes early
    assert_same(ref, engine, FLOWS, 7.0)
    assert nat_early


class _AccountThenCommit:
    """A Core whose ``account(..., commit=True)`` is the two calls it replaces:
    ``account(...)`` then ``commit(mask)``."""

    def __init__(self, core: Any) -> None:
        self._core = core

    def __getattr__(self, name: str) -> Any:
        return getattr(self._core, name)

    def account(self, *args: Any) -> Any:
        mask = self._core.account(*args[:5])
        if len(args) > 5 and args[5] and mask is not False:
            self._core.commit(mask)
        return mask


def test_account_with_commit_is_account_then_commit() -> None:
    """One ``Core.account(..., commit=True)`` call per datagram counts exactly what
    ``account`` followed by ``commit(mask)`` does, duplicates and restarts included, and
    the one-call path gives the reference's state."""
    base = _flow_datagrams()[:60]
    stream = _renumbered(base[:40], 1, 500_000, {})
    again = bytearray(stream[30])  # the same samples in the next datagram: skipped
    again[16:20] = (41).to_bytes(4, "big")
    again[20:24] = (540_000).to_bytes(4, "big")
    stream.append(bytes(again))
    stream += _renumbered(base[40:], 1, 2_000, {})  # the agent restarted
    payloads = [(p, "192.0.2.1", 50.0 + i // 8) for i, p in enumerate(stream)]
    probe = Engine(now=0.0)
    for name, body in FLOWS.items():
        probe.set_flow(name, body)
    flows = {name: FLOWS[name] for name in NativeIngest(probe).native_flows()}
    assert len(flows) >= 3  # no fallback definition: every datagram takes the one-call path
    engines = []
    for two_calls in (False, True):
        engine = Engine(now=0.0)
        for name, body in flows.items():
            engine.set_flow(name, body)
        driver = NativeIngest(engine)
        if two_calls:
            driver.core = _AccountThenCommit(driver.core)
        for payload, source, now in payloads:
            driver.ingest_datagram(payload, source, now)
        driver.flush()
        engines.append(engine)
    one, two = engines
    assert one.analyzer(60.0)["sFlowFlowDuplicateSamples"] >= 1
    assert one.counters.flow_samples > 100
    assert_same(feed(payloads, flows, native=False), one, flows, 60.0)
    one.ingest_path = "reference"  # assert_same's labels: both are native here
    assert_same(one, two, flows, 60.0)
