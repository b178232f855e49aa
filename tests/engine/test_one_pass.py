"""One pass per sample: however many flows, filters and flow logs read a sample, its
sampled header is located once (by the shared FlowSampleView) and never re-parsed."""

from __future__ import annotations

import pytest

from conftest import sflow_captures, udp_payloads
from flowrt.engine.flows import FlowEngine
from flowrt.engine.groups import Lookups
from flowrt.flowlang import sampleview
from flowrt.sflow import DecodeError, DiscardSample, FlowSample, decode_datagram, packet

FLOWS = {
    "pairs": {"keys": "ipsource,ipdestination", "value": "bytes", "filter": "ipprotocol=6"},
    "ports": {"keys": "tcpdestinationport,mask:ipsource:24", "value": "frames",
              "values": ["avg:bytes", "count:ipdestination"], "log": True},
    "stacks": {"keys": "stack,null:udpsourceport:none", "value": "max:ipbytes",
               "filter": "stack~.*ip.*|ip6nexthdr=58"},
    "macs": {"keys": "macsource,inputifindex", "value": "rate:frames"},
    "dropped": {"keys": "reason,ipsource", "value": "frames", "dropped": True},
}


class LocateCounter:
    """The real ``packet.locate``, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, protocol: int, header: bytes) -> packet.Layers | None:
        self.calls += 1
        return packet.locate(protocol, header)


def test_each_sample_is_located_once_whatever_the_flows(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = LocateCounter()
    monkeypatch.setattr(sampleview, "_locate", counter)
    parses: list[bytes] = []
    real_parse = packet.parse_header
    monkeypatch.setattr(packet, "parse_header", lambda *a, **k: parses.append(b"") or
                        real_parse(*a, **k))
    engine = FlowEngine(Lookups())
    for name, body in FLOWS.items():
        engine.set_flow(name, body)
    samples = with_header = 0
    now = 1000.0
    for name in sflow_captures():
        for _ts, payload in udp_payloads(name):
            try:
                dgram = decode_datagram(payload)
            except DecodeError:
                continue
            agent = dgram.agent or "192.0.2.1"
            for sample in dgram.samples:
                before = counter.calls
                if isinstance(sample, FlowSample):
                    engine.ingest_flow_sample(agent, sample, now)
                elif isinstance(sample, DiscardSample):
                    engine.ingest_discard_sample(agent, sample, now)
                else:
                    continue
                located = any(rec.__class__.__name__ == "SampledHeader" for rec in sample.records)
                assert counter.calls - before == (1 if located else 0)
                samples += 1
                with_header += located
                now += 0.001
    assert samples > 100 and with_header > 100  # the captures really exercise the path
    assert counter.calls == with_header
    assert parses == []  # no flow decodes the whole header
    assert any(engine.active_flows(None, name, now) for name in ("pairs", "ports", "macs"))
