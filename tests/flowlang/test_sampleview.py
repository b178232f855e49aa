"""The per-sample view: header keys agree with parse_header, context and record keys."""

from __future__ import annotations

import dataclasses

import pytest

from conftest import udp_payloads
from flowrt.flowlang.sampleview import FlowSampleView, record_keys, shape_keys
from flowrt.sflow import DiscardSample, FlowSample, decode_datagram
from flowrt.sflow.packet import parse_header
from flowrt.sflow.records.flow import ExtendedSwitch, SampledHeader

pytestmark = pytest.mark.usefixtures("sflow_testdata")


def samples_of(capture: str, kind: type = FlowSample) -> list[tuple[str, object]]:
    out = []
    for _, payload in udp_payloads(capture):
        dgram = decode_datagram(payload)
        out += [(dgram.agent, s) for s in dgram.samples if type(s) is kind]
    return out


def header_of(sample: object) -> SampledHeader:
    return next(r for r in sample.records if type(r) is SampledHeader)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "capture", ["ovs-netns", "akvorado-data-encap-vxlan", "akvorado-data-qinq"]
)
def test_header_keys_agree_with_parse_header(capture: str) -> None:
    checked = 0
    for agent, sample in samples_of(capture):
        hdr = header_of(sample)
        expected = parse_header(hdr.protocol, hdr.header, hdr.frame_length, hdr.stripped)
        view = FlowSampleView(agent, sample)
        for key, value in expected.items():
            assert view.get(key) == value, key
            checked += 1
    assert checked > 20


def test_context_keys_of_an_ovs_sample() -> None:
    agent, sample = samples_of("ovs-netns")[1]
    view = FlowSampleView(agent, sample)
    assert view.get("agent") == "127.0.0.1"
    assert {view.get("inputifindex"), view.get("outputifindex")} == {"115", "116"}
    assert view.get("bytes") == header_of(sample).frame_length
    assert view.get("frames") == 1
    assert view.get("stripped") == 4
    assert view.get("vlansource") == 0 and view.get("vlandestination") == 0
    assert view.get("direction") is None  # data source 2:1000 is not an interface
    assert view.sampling_rate == 64
    assert view.get("nosuchkey") is None
    assert view.get("tcprtt") is None  # no tcp_info record


def test_discard_sample_keys() -> None:
    ((agent, sample),) = samples_of("telegraf-sflow_issue_15375-drop", DiscardSample)
    view = FlowSampleView(agent, sample)
    assert view.get("reason") == "host_unreachable"
    assert view.get("inputifindex") == "1" and view.get("outputifindex") == "2"
    assert view.get("queueindex") == 42
    assert view.get("direction") == "ingress"  # source 0:1 is the input port
    assert view.get("frames") == 1
    assert view.sampling_rate == 1
    assert view.get("ipsource") is None  # no header in this notification


def test_flow_sample_dropped_at_output_has_a_reason() -> None:
    agent, sample = samples_of("akvorado-data-discard-interface")[0]
    view = FlowSampleView(agent, sample)
    assert view.get("outputifindex") == "discard"
    assert view.get("reason") == "host_unreachable"


def test_router_and_gateway_keys() -> None:
    ((agent, sample),) = samples_of("tcpdump-sflow_expanded")
    view = FlowSampleView(agent, sample)
    assert view.get("ipnexthoprouter") == "54.54.54.54"
    assert view.get("bgpdestinationaspath") == "8218 29605 203361"
    assert view.get("bgpdestinationas") == 203361
    assert view.get("bgpdestinationpeeras") == 8218
    assert view.get("stack") == "eth.q.ip.tcp"


def test_sampled_ipv4_record_stands_in_for_a_missing_header() -> None:
    ((agent, sample),) = samples_of("akvorado-data-sflow-ipv4-data")
    with_header = FlowSampleView(agent, sample)
    stripped = dataclasses.replace(
        sample, records=[r for r in sample.records if type(r) is not SampledHeader]
    )
    without = FlowSampleView(agent, stripped)
    assert without.sampled is None
    for key in ("ipsource", "ipdestination", "ipprotocol", "udpsourceport", "udpdestinationport"):
        assert without.get(key) is not None
        assert without.get(key) == with_header.get(key), key
    assert without.get("macsource") == with_header.get("macsource")
    assert without.get("tcpsourceport") is None  # a UDP packet
    assert without.get("bytes") > 0


def test_values_are_cached_per_view() -> None:
    agent, sample = samples_of("ovs-netns")[0]
    view = FlowSampleView(agent, sample)
    first = view.get("ipsource")
    assert view._cache["ipsource"] == first
    assert view.get("ipsource") is first


def test_key_names_by_shape_and_record() -> None:
    keys = shape_keys("e4t")
    assert {"stack", "ip_offset", "macsource", "ipsource", "tcpflags"} <= set(keys)
    assert "udpsourceport" not in keys
    assert "ipsource.1" in shape_keys("e4uxe4t")
    assert record_keys([ExtendedSwitch]) == {
        "vlansource", "vlandestination", "prioritysource", "prioritydestination",
    }  # fmt: skip
