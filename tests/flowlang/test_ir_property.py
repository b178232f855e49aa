"""Random flow definitions give the same tables through the executor's generated code as
through a tree-walking interpreter of their IR (tests/flowlang/ir_interpreter.py)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from ir_interpreter import holds, interpret, key

from conftest import sflow_captures, udp_payloads
from flowrt.engine.flowlog import FlowLog
from flowrt.engine.flows import Flow, scale_value
from flowrt.engine.groups import Lookups
from flowrt.engine.topn import SUM
from flowrt.flowlang.executor import compile_filter, compile_key
from flowrt.flowlang.ir import And, Call, Compare, Field, Filter, FlowIR, Key, Literal, Or, Value
from flowrt.flowlang.keys import URI_PARTS, format_number
from flowrt.flowlang.sampleview import FlowSampleView
from flowrt.flowlang.spec import FlowSpec
from flowrt.flowlang.view import DictSampleView
from flowrt.sflow import DecodeError, DiscardSample, FlowSample, decode_datagram

FIELDS = [
    "ipsource", "ipdestination", "ipprotocol", "tcpsourceport", "tcpdestinationport",
    "udpsourceport", "udpdestinationport", "macsource", "macdestination", "stack",
    "inputifindex", "outputifindex", "agent", "ipsource.1", "vlansource", "ip6source",
    "ip6nexthdr", "ipttl", "ipbytes", "bytes", "frames", "tcpflags", "direction", "reason",
    "nosuchkey", "stripped", "ipdscp",
]  # fmt: skip
COMMON = ["ipsource", "ipdestination", "ipprotocol", "stack", "agent", "inputifindex",
          "macsource", "bytes"]
"""Keys nearly every capture sample has: weighted up so most definitions count something."""
NUMERIC = ["bytes", "frames", "ipbytes", "ipttl", "tcpdestinationport", "udpsourceport",
           "ipprotocol", "stripped", "nosuchkey", "inputifindex"]
TEXTS = ["-", ":", ",", "none", "a b", "=x", "(y)", "|", ".", "6"]
LOOKUPS = Lookups()
LOOKUPS.set_groups("nets", {"ten": ["10.0.0.0/8"], "v6": ["2000::/3"], "mine": ["192.168.0.0/16"]})
LOOKUPS.set_groups("any", {"all": ["0.0.0.0/0", "::/0"]})
LOOKUPS.set_map("ports", {"web": ["80", "443", 8080], "dns": [53], "tcp": ["6"]})


def _views() -> list[FlowSampleView]:
    views = []
    for name in sflow_captures():
        for _ts, payload in udp_payloads(name):
            try:
                dgram = decode_datagram(payload)
            except DecodeError:
                continue
            for sample in dgram.samples:
                if isinstance(sample, FlowSample | DiscardSample):
                    views.append(FlowSampleView(dgram.agent or "192.0.2.1", sample))
    return views[:: max(1, len(views) // 600)]


VIEWS = _views()

lit = st.sampled_from(TEXTS).map(Literal)
fields = st.one_of(st.sampled_from(COMMON), st.sampled_from(FIELDS)).map(Field)


def calls(sub: st.SearchStrategy[Key]) -> st.SearchStrategy[Key]:
    def call(fn: str, *args: st.SearchStrategy[Any]) -> st.SearchStrategy[Key]:
        return st.tuples(*args).map(lambda parts: Call(fn, tuple(
            x for part in parts for x in (part if isinstance(part, list) else [part]))))

    number = st.sampled_from([0, 1, 63, 64, 1.5, 1500, 1518, 65535]).map(
        lambda x: Literal(format_number(float(x))))
    return st.one_of(
        call("group", sub, st.lists(st.sampled_from(["nets", "missing", "any"]).map(Literal),
                                    min_size=1, max_size=2)),
        call("map", sub, st.sampled_from(["ports", "nomap"]).map(Literal)),
        call("prefix", sub, st.sampled_from([".", ":", "0"]).map(Literal),
             st.integers(1, 3).map(lambda n: Literal(str(n)))),
        call("suffix", sub, st.sampled_from([".", ":", "0"]).map(Literal),
             st.integers(1, 3).map(lambda n: Literal(str(n)))),
        call("mask", sub, st.integers(0, 128).map(lambda n: Literal(str(n)))),
        call("range", sub, number), call("range", sub, number, number),
        call("null", sub, lit),
        call("or", sub, st.lists(sub, min_size=1, max_size=2)),
        call("eq", sub, sub),
        call("if", sub, st.sampled_from(["6", "17", "eth.ip.tcp", "true"]).map(Literal), sub, sub),
        call("first", sub, st.just(Literal(".")),
             st.lists(st.sampled_from(["ip", "tcp", "udp", "eth", "ip6"]).map(Literal),
                      min_size=1, max_size=3)),
        call("concat", lit, st.lists(sub, min_size=1, max_size=2)),
        call("bits", sub, st.sampled_from([0, 1, 2, 18, 255]).map(lambda n: Literal(str(n)))),
        call("link", sub),
        call("uri", sub, st.sampled_from(sorted(URI_PARTS)).map(Literal)),
    )


keys: st.SearchStrategy[Key] = st.recursive(fields, calls, max_leaves=4)
values = st.one_of(
    st.tuples(st.sampled_from(["sum", "avg", "min", "max"]),
              st.one_of(st.sampled_from(["bytes", "frames", "ipbytes"]).map(Field),
                        st.sampled_from(NUMERIC).map(Field), keys)),
    st.tuples(st.just("count"), keys),
).map(lambda kv: Value(*kv))
EQUAL_VALUES = ["6", "17", "80", "10.0.0.1", "eth.ip.tcp", "true", "false", "null", None,
                "a,b", "x y", "1"]
PATTERNS = [".*", "10\\..*", "[0-9]+", ".*(tcp|udp).*", "e.*", None, "6|17", "[,|]"]
MEANINGFUL = [
    Compare(Field("ipprotocol"), "=", ("6",)), Compare(Field("ipprotocol"), "!=", ("17", None)),
    Compare(Field("stack"), "~", (".*udp.*",)), Compare(Field("ipsource"), "~", ("10\\..*",)),
    Compare(Field("tcpdestinationport"), "!=", (None,)), Compare(Field("bytes"), "~", ("1..",)),
    Compare(Call("range", (Field("bytes"), Literal("0"), Literal("200"))), "=", ("true",)),
]
"""Comparisons that split the capture samples: filters of them discriminate."""
compares = st.one_of(
    st.sampled_from(MEANINGFUL),
    st.one_of(
        st.tuples(keys, st.sampled_from(["=", "!="]),
                  st.lists(st.sampled_from(EQUAL_VALUES), min_size=1, max_size=3, unique=True)),
        st.tuples(keys, st.sampled_from(["~", "!~"]),
                  st.lists(st.sampled_from(PATTERNS), min_size=1, max_size=2, unique=True)),
    ).map(lambda c: Compare(c[0], c[1], tuple(c[2]))),
)


def _flat(cls: type[And] | type[Or], parts: list[Filter]) -> Filter:
    flat: list[Filter] = []
    for part in parts:
        flat += part.parts if isinstance(part, cls) else (part,)
    return cls(tuple(flat))


filters: st.SearchStrategy[Filter] = st.recursive(
    compares,
    lambda sub: st.one_of(
        st.lists(sub, min_size=2, max_size=3).map(lambda p: _flat(And, p)),
        st.lists(sub, min_size=2, max_size=3).map(lambda p: _flat(Or, p)),
    ),
    max_leaves=4,
)
flows = st.builds(
    FlowIR,
    keys=st.lists(keys, max_size=2).map(tuple),
    value=values,
    values=st.lists(values, max_size=2).map(tuple),
    filter=st.none() | filters,
    fs=st.sampled_from([",", "|", "_SEP_"]),
)


def feed(flow: Flow, hit: Any, rate: int, source: tuple[str, str], now: float) -> None:
    """What the generated counter does with (key, value, values): the engine's scaling."""
    if hit is None:
        return
    key, value, extras = hit
    value = value * rate if flow.value_kind == SUM else scale_value(flow.value_kind, value, rate)
    if extras is not None:
        assert flow.slots is not None
        extras = flow.slots.scale(extras, rate)
    table = flow.tables.get(source) or flow.new_table(source)
    assert table is not None
    table.add(key, value, extras, now)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ir=flows)
def test_generated_code_counts_like_the_interpreter(ir: FlowIR) -> None:
    spec = FlowSpec.from_json("prop", {**json.loads(str(ir)), "n": 20})
    assert spec.ir == ir  # the canonical text parses back to the same tree
    generated = Flow(spec, LOOKUPS, FlowLog(10))
    oracle = Flow(spec, LOOKUPS, FlowLog(10))
    names = ir.fields() | {"agent"}
    key_fns = [(k, compile_key(k, LOOKUPS)) for k in ir.keys]
    predicate = compile_filter(ir.filter, LOOKUPS)
    for i, view in enumerate(VIEWS):
        source = (view.agent, str(view.sample.source_id_index))
        now = 1000.0 + i * 0.01
        fields = {n: v for n in names if (v := view.get(n)) is not None}
        dict_view = DictSampleView(fields)
        for node, key_fn in key_fns:  # each key expression alone, nulls and all
            assert key_fn(view) == key(node, dict_view, LOOKUPS), (str(node), fields)
        if ir.filter is not None:
            assert predicate(view) == holds(ir.filter, dict_view, LOOKUPS), str(ir.filter)
        hit = interpret(ir, dict_view, LOOKUPS)
        assert generated.extract(view) == hit, (str(ir), fields)  # the closure form
        generated.counter(view, source, now)  # the generated form
        feed(oracle, hit, view.sampling_rate, source, now)
    now = 1000.0 + len(VIEWS) * 0.01
    event("some samples counted" if oracle.tables else "no sample counted")
    assert generated.tables.keys() == oracle.tables.keys()
    for source, table in oracle.tables.items():
        assert generated.tables[source].top(now) == table.top(now)


def test_the_samples_exercise_the_definitions() -> None:
    assert len(VIEWS) > 300
    assert {view.get("ipprotocol") for view in VIEWS} >= {6, 17}
