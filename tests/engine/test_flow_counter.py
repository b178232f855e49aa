"""The generated per-flow counter (flows.compile_counter) must count exactly like the
generic path (:func:`generic_count` over CompiledFlow.extract): same keys, values and
tables."""

from __future__ import annotations

import pytest

from conftest import sflow_captures, udp_payloads
from flowrt.engine.flowlog import FlowLog
from flowrt.engine.flows import Flow, scale_value
from flowrt.engine.groups import Lookups
from flowrt.engine.topn import SUM
from flowrt.flowlang.sampleview import FlowSampleView
from flowrt.flowlang.spec import FlowSpec
from flowrt.sflow import DecodeError, DiscardSample, FlowSample, decode_datagram

SPECS = [
    {"keys": "ipsource,ipdestination", "value": "bytes"},
    {"keys": "tcpsourceport,tcpdestinationport", "value": "frames", "filter": "ipprotocol=6"},
    {"value": "bytes"},
    {"keys": "ip6source,ipprotocol,ip6nexthdr", "value": "rate:ipbytes"},
    {"keys": "macsource,stack,inputifindex,vlansource", "value": "frames", "fs": "|"},
    {"keys": "mask:ipsource:24,null:udpdestinationport:none", "value": "bytes",
     "values": ["frames", "avg:bytes"]},
    {"keys": "agent,reason,ipsource.1,nosuchkey", "value": "frames"},
    {"keys": "agent,direction", "value": "stripped", "filter": "stack~.*ip.*"},
    # value kinds other than sums, as the main value and among values
    {"keys": "ipsource", "value": "avg:bytes", "values": ["frames", "max:ipbytes"]},
    {"keys": "ipdestination", "value": "count:ipsource",
     "values": ["count:tcpdestinationport", "min:bytes", "avg:frames"]},
    {"keys": "macsource", "value": "max:bytes", "values": ["min:udpsourceport"]},
    {"keys": "stack", "value": "min:ipttl", "values": ["bytes", "rate:frames"]},
]


def generic_count(flow: Flow, view: FlowSampleView, source: tuple[str, str], now: float) -> None:
    """The oracle: one sample counted step by step with the flow's compiled parts (what
    ``compile_counter`` turns into straight-line code)."""
    hit = flow.extract(view)
    if hit is None:
        return
    key, value, values = hit
    rate = view.sampling_rate
    value = value * rate if flow.value_kind == SUM else scale_value(flow.value_kind, value, rate)
    if values is not None:
        assert flow.slots is not None
        values = flow.slots.scale(values, rate)
    table = flow.tables.get(source) or flow.new_table(source)
    if table is None:
        return
    table.add(key, value, values, now)
    if flow.tracker is not None:
        flow.tracker.observe(source[0], source[1], key, value, values, now)
    if flow.watcher is not None:
        flow.notify(table, source, key, now)


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
    return views


@pytest.mark.parametrize("body", SPECS, ids=[",".join(s.get("keys", "-").split(",")[:2])
                                             for s in SPECS])
def test_generated_counter_equals_generic_count(body: dict) -> None:
    views = _views()
    assert len(views) > 100
    spec = FlowSpec.from_json("f", {**body, "n": 20})
    generic = Flow(spec, Lookups(), FlowLog(10))
    generated = Flow(spec, Lookups(), FlowLog(10))
    for i, view in enumerate(views):
        source = (view.agent, str(view.sample.source_id_index))
        now = 1000.0 + i * 0.01
        generic_count(generic, view, source, now)
        generated.counter(view, source, now)
    now = 1000.0 + len(views) * 0.01
    assert generic.tables.keys() == generated.tables.keys()
    for source, table in generic.tables.items():
        assert table.top(now) == generated.tables[source].top(now)
    if body is SPECS[0] or ":" in body["value"]:
        assert any(generic.tables.values())  # the capture really exercises the path
