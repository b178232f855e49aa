"""The decoder against ground truth: every real capture, field by field.

``NAME.expected.json`` holds what tshark and sflowtool made of each datagram. tshark
gives sample header fields and a few record fields, but only where it decodes
reliably (``tshark_reliable``); sflowtool gives sample tags, source ids, record tags
and drop counts for every datagram and is authoritative for record tags. The second
half checks the error policy of :mod:`flowrt.sflow.decode` on datagrams we build.
"""

from __future__ import annotations

import struct
from collections import Counter
from ipaddress import ip_address
from typing import Any

import pytest

from conftest import expected, sflow_captures, udp_payloads
from flowrt.sflow import (
    CounterSample,
    Datagram,
    DecodeError,
    DiscardSample,
    FlowSample,
    UnknownRecord,
    UnknownSample,
    decode_datagram,
    encode_datagram,
    tag_text,
)
from flowrt.sflow.encode import encode_sample
from flowrt.sflow.records.counters import EthernetCounters, GenericInterfaceCounters
from flowrt.sflow.records.flow import ExtendedRouter, ExtendedSwitch, SampledHeader, SampledIPv4

CAPTURES = sflow_captures()


def sample_tag(sample: Any) -> str:
    """The ``enterprise:format`` the sample was sent as."""
    if isinstance(sample, FlowSample):
        return "0:3" if sample.expanded else "0:1"
    if isinstance(sample, CounterSample):
        return "0:4" if sample.expanded else "0:2"
    if isinstance(sample, DiscardSample):
        return "0:5"
    return tag_text(sample.tag)


def record_tag(record: Any) -> str:
    return tag_text(record.tag if isinstance(record, UnknownRecord) else type(record).TAG)


def decoded_frames(name: str) -> dict[int, Datagram | DecodeError]:
    out: dict[int, Datagram | DecodeError] = {}
    for frame, payload in udp_payloads(name):
        try:
            out[frame] = decode_datagram(payload)
        except DecodeError as err:
            out[frame] = err
    return out


# --- datagram and sample headers ------------------------------------------------------


@pytest.mark.parametrize("name", CAPTURES)
def test_datagram_headers_match_ground_truth(name: str) -> None:
    truth = expected(name)
    frames = decoded_frames(name)
    for frame in truth["non_sflow_frames"]:
        assert isinstance(frames[frame], DecodeError), f"frame {frame} is not sFlow v5"
    for want in truth["datagrams"]:
        got = frames[want["frame"]]
        if want["sub_agent_id"] is None:
            # tshark could not read the header: the UDP payload is shorter than one
            assert isinstance(got, DecodeError), f"frame {want['frame']}"
            continue
        assert isinstance(got, Datagram), f"frame {want['frame']}: {got!r}"
        assert got.errors == []
        assert got.agent == want["agent"]
        assert ip_address(got.agent) == ip_address(want["sflowtool"]["agent"])  # full IPv6
        assert got.sub_agent_id == want["sub_agent_id"]
        assert got.sequence == want["seq"] == want["sflowtool"]["seq"]
        assert got.uptime == want["uptime_ms"]
        assert len(got.samples) == want["num_samples"]


@pytest.mark.parametrize("name", CAPTURES)
def test_samples_match_sflowtool(name: str) -> None:
    """Sample tags, source ids, record tags (in wire order), drops and discard codes."""
    truth = expected(name)
    frames = decoded_frames(name)
    checked = 0
    for want in truth["datagrams"]:
        got = frames[want["frame"]]
        if isinstance(got, DecodeError):
            continue  # the hostile capture; see test_fuzz
        assert len(got.samples) == len(want["sflowtool"]["samples"])
        for sample, ref in zip(got.samples, want["sflowtool"]["samples"], strict=True):
            where = f"frame {want['frame']}"
            assert sample_tag(sample) == ref["tag"], where
            assert f"{sample.source_id_type}:{sample.source_id_index}" == ref["source_id"], where
            assert [record_tag(r) for r in sample.records] == ref["records"], where
            if "dropEvents" in ref:
                assert sample.drops == ref["dropEvents"], where
            if "discardCode" in ref:
                assert sample.reason == ref["discardCode"], where
            checked += 1
    assert checked == truth["sflowtool"]["samples"] or name == "tcpdump-sflow_print-segv"


def _check_flow_header(sample: FlowSample, want: dict[str, Any], where: str) -> None:
    assert (sample.sampling_rate, sample.sample_pool, sample.drops) == (
        want["sampling_rate"], want["sample_pool"], want["drops"]
    ), where
    if "input_raw" in want:  # compact: tshark shows the raw words
        assert not sample.expanded, where
        assert (sample.input_format << 30) | sample.input_value == want["input_raw"], where
        assert (sample.output_format << 30) | sample.output_value == want["output_raw"], where
    else:
        assert sample.expanded, where
        assert (sample.input_format, sample.input_value) == (
            want["input_format"], want["input"]
        ), where
    assert (sample.output_format, sample.output_value) == (
        want["output_format"], want["output"]
    ), where


def _check_record(record: Any, want: dict[str, Any], where: str) -> int:
    """Compare the fields tshark decoded; returns how many fields were compared."""
    fields: dict[str, Any] = {}
    if isinstance(record, SampledHeader):
        fields = {
            "header_protocol": record.protocol, "frame_length": record.frame_length,
            "stripped": record.stripped, "header_length": len(record.header),
        }
    elif isinstance(record, ExtendedSwitch):
        fields = {"src_vlan": record.src_vlan, "dst_vlan": record.dst_vlan}
    elif isinstance(record, ExtendedRouter):
        fields = {"nexthop": record.nexthop}
    elif isinstance(record, SampledIPv4):
        fields = {"ip_src": record.src_ip, "ip_dst": record.dst_ip, "protocol": record.protocol}
    elif isinstance(record, GenericInterfaceCounters):
        fields = {
            "ifIndex": record.if_index, "ifType": record.if_type, "ifSpeed": record.if_speed,
            "ifInOctets": record.if_in_octets, "ifOutOctets": record.if_out_octets,
            "ifInUcastPkts": record.if_in_ucast_pkts,
            "ifOutUcastPkts": record.if_out_ucast_pkts,
        }
    elif isinstance(record, EthernetCounters):
        fields = {"dot3StatsFCSErrors": record.dot3_stats_fcs_errors}
    compared = {k: v for k, v in fields.items() if k in want}
    assert compared == {k: want[k] for k in compared}, where
    return len(compared)


def _sample_key(sample: Any) -> tuple[str, str | None, int | None]:
    if isinstance(sample, dict):
        return sample["tag"], sample.get("source_id"), sample.get("seq")
    if isinstance(sample, UnknownSample):
        return sample_tag(sample), None, None
    return sample_tag(sample), f"{sample.source_id_type}:{sample.source_id_index}", sample.sequence


def _pair_samples(ours: list[Any], theirs: list[dict[str, Any]]) -> list[tuple[Any, dict]]:
    """Pair samples by (tag, source id, sequence).

    The truth generator lists tshark's samples grouped, not always in wire order (in
    tcpdump-sflow_multiple_counter_30_pdus frame 1, samples sharing a sequence number
    come first), so position is not a key; sflowtool's list is in wire order.
    """
    unused = list(ours)
    pairs = []
    for want in theirs:
        key = _sample_key(want)
        match = next((s for s in unused if _sample_key(s) == key), None)
        assert match is not None, f"no decoded sample {key}"
        unused.remove(match)
        pairs.append((match, want))
    return pairs


@pytest.mark.parametrize("name", CAPTURES)
def test_samples_and_records_match_tshark(name: str) -> None:
    """Sample header fields and decoded record fields, where tshark is reliable."""
    truth = expected(name)
    frames = decoded_frames(name)
    fields_compared = 0
    for want in truth["datagrams"]:
        if not want["tshark_reliable"]:
            continue
        got = frames[want["frame"]]
        assert isinstance(got, Datagram)
        assert len(got.samples) == len(want["samples"]) == want["samples_decoded"]
        for i, (sample, ws) in enumerate(_pair_samples(got.samples, want["samples"])):
            where = f"frame {want['frame']} tshark sample {i}"
            if isinstance(sample, FlowSample):
                _check_flow_header(sample, ws, where)
            if "num_records" in ws:
                assert len(sample.records) == ws["num_records"], where
            assert [record_tag(r) for r in sample.records] == [r["tag"] for r in ws["records"]]
            for record, wr in zip(sample.records, ws["records"], strict=True):
                fields_compared += _check_record(record, wr, where)
    reliable_records = sum(
        len(r) - 1
        for d in truth["datagrams"] if d["tshark_reliable"]
        for s in d["samples"] for r in s["records"]
    )
    assert fields_compared > 0 or reliable_records == 0


@pytest.mark.parametrize("name", CAPTURES)
def test_tag_counts_match_sflowtool(name: str) -> None:
    """Whole-capture totals, so nothing is silently dropped or invented."""
    truth = expected(name)["sflowtool"]
    samples: Counter[str] = Counter()
    by_scope: dict[str, Counter[str]] = {"flow": Counter(), "counter": Counter(),
                                         "discard": Counter()}
    for got in decoded_frames(name).values():
        if isinstance(got, DecodeError):
            continue
        for sample in got.samples:
            samples[sample_tag(sample)] += 1
            scope = {FlowSample: "flow", CounterSample: "counter", DiscardSample: "discard"}
            for record in getattr(sample, "records", []):
                by_scope[scope[type(sample)]][record_tag(record)] += 1
    if name == "tcpdump-sflow_print-segv":
        assert samples == Counter()  # the UDP length word leaves 8 bytes; see test_fuzz
        return
    assert dict(samples) == truth["sample_tag_counts"]
    assert dict(by_scope["flow"]) == truth["flow_record_tag_counts"]
    assert dict(by_scope["counter"]) == truth["counter_record_tag_counts"]
    assert dict(by_scope["discard"]) == truth["discard_record_tag_counts"]


@pytest.mark.parametrize("name", CAPTURES)
def test_agents_match_ground_truth(name: str) -> None:
    truth = expected(name)["agents"]
    reliable = {d["frame"]: d["tshark_reliable"] for d in expected(name)["datagrams"]}
    seen: dict[str, dict[str, Any]] = {}
    for frame, got in decoded_frames(name).items():
        if isinstance(got, DecodeError):
            continue
        agent = seen.setdefault(
            got.agent, {"datagrams": 0, "sub_agent_ids": set(), "seqs": [], "samples": Counter()}
        )
        agent["datagrams"] += 1
        agent["sub_agent_ids"].add(got.sub_agent_id)
        agent["seqs"].append(got.sequence)
        if reliable[frame]:  # tshark's per-agent sample counts skip unreliable frames
            agent["samples"].update(sample_tag(s) for s in got.samples)
    truth = {a: t for a, t in truth.items() if a != "null"}  # the hostile capture
    assert set(seen) == set(truth)
    for address, want in truth.items():
        got_agent = seen[address]
        assert got_agent["datagrams"] == want["datagrams"]
        assert sorted(got_agent["sub_agent_ids"]) == sorted(want["sub_agent_ids"])
        assert (min(got_agent["seqs"]), max(got_agent["seqs"])) == (
            want["seq_min"], want["seq_max"]
        )
        assert dict(got_agent["samples"]) == want["samples"]


# --- the error policy -----------------------------------------------------------------

IPV4_HEADER_BYTES = 28  # version, address type, IPv4 address, sub-agent, seq, uptime, count
FLOW_SAMPLE_HEAD = 8 + 7 * 4 + 4  # tag, length, compact header words, record count
SWITCH = ExtendedSwitch(10, 1, 20, 2)
HEADER = SampledHeader(1, 1518, 4, bytes(range(64)))
TRAILER = ExtendedSwitch(30, 3, 40, 4)


def _flow(seq: int, records: list[Any]) -> FlowSample:
    return FlowSample(seq, 0, 7, 512, seq * 512, 0, 0, 1, 0, 2, records)


def _three_samples() -> tuple[Datagram, bytearray, int]:
    """A datagram of three flow samples; returns it, its bytes and sample 1's offset."""
    dgram = Datagram(
        "192.0.2.9", 3, 77, 1000,
        [_flow(1, [SWITCH]), _flow(2, [SWITCH, HEADER, TRAILER]), _flow(3, [TRAILER])],
    )
    data = bytearray(encode_datagram(dgram))
    return dgram, data, IPV4_HEADER_BYTES + len(encode_sample(dgram.samples[0]))


def _put(data: bytearray, off: int, value: int) -> None:
    struct.pack_into(">I", data, off, value)


def test_malformed_record_keeps_the_partial_sample_and_resumes() -> None:
    dgram, data, s1 = _three_samples()
    header_record = s1 + FLOW_SAMPLE_HEAD + 8 + 16  # after the extended_switch record
    _put(data, header_record + 8 + 12, 0xFFFFFFFF)  # the header opaque's length
    got = decode_datagram(bytes(data))
    assert got.samples[0] == dgram.samples[0]
    assert got.samples[1].records == [SWITCH]  # the records before the fault
    assert got.samples[1].sequence == 2
    assert got.samples[2] == dgram.samples[2]  # decoding resumed at the next sample
    (err,) = got.errors
    assert (err.sample_index, err.tag) == (1, SampledHeader.TAG)
    assert "0:1" in err.reason and "4294967295" in err.reason


def test_record_length_past_its_sample_keeps_the_partial_sample() -> None:
    dgram, data, s1 = _three_samples()
    _put(data, s1 + FLOW_SAMPLE_HEAD + 8 + 16 + 4, 1180566168)  # header record's length
    got = decode_datagram(bytes(data))
    assert got.samples[1].records == [SWITCH]
    assert got.samples[2] == dgram.samples[2]
    (err,) = got.errors
    assert (err.sample_index, err.length) == (1, 1180566168)
    assert "runs past the end of the sample" in err.reason


def test_record_count_past_the_sample_keeps_every_record_present() -> None:
    dgram, data, s1 = _three_samples()
    _put(data, s1 + FLOW_SAMPLE_HEAD - 4, 1000)
    got = decode_datagram(bytes(data))
    assert got.samples[1].records == [SWITCH, HEADER, TRAILER]
    assert got.samples[2] == dgram.samples[2]
    (err,) = got.errors
    assert err.sample_index == 1


def test_sample_length_past_the_datagram_stops_decoding() -> None:
    dgram, data, s1 = _three_samples()
    _put(data, s1 + 4, 0xFFFFFFF0)
    got = decode_datagram(bytes(data))
    assert got.samples == dgram.samples[:1]
    (err,) = got.errors
    assert (err.sample_index, err.length, err.offset) == (1, 0xFFFFFFF0, s1)


def test_sample_count_beyond_the_samples_present() -> None:
    dgram, data, _ = _three_samples()
    _put(data, IPV4_HEADER_BYTES - 4, 5)
    got = decode_datagram(bytes(data))
    assert got.samples == dgram.samples
    (err,) = got.errors
    assert err.sample_index == 3


def test_record_longer_than_declared_is_decoded_and_skipped_by_length() -> None:
    """The spec lets structures grow at the end: read the known prefix, skip the rest."""
    dgram = Datagram("192.0.2.9", 0, 1, 2, [_flow(1, [SWITCH, TRAILER])])
    data = bytearray(encode_datagram(dgram))
    switch_at = IPV4_HEADER_BYTES + FLOW_SAMPLE_HEAD
    data[switch_at + 24 : switch_at + 24] = b"\xde\xad\xbe\xef"  # a vendor's extra word
    _put(data, switch_at + 4, 20)
    _put(data, IPV4_HEADER_BYTES + 4, struct.unpack_from(">I", data, IPV4_HEADER_BYTES + 4)[0] + 4)
    got = decode_datagram(bytes(data))
    assert got.errors == []
    assert got.samples[0].records == [SWITCH, TRAILER]


def test_unknown_samples_and_records_are_kept_raw() -> None:
    unknown_record = UnknownRecord((4242 << 12) | 7, b"\x01\x02\x03\x04")
    dgram = Datagram(None, 0, 1, 2, [
        UnknownSample((9 << 12) | 1, b"\xaa" * 8),
        CounterSample(5, 0, 3, [unknown_record], expanded=True),
    ])
    got = decode_datagram(encode_datagram(dgram))
    assert got == dgram
    assert got.agent is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\0\0\0\x04" + bytes(24), "unsupported sFlow version 4"),
        (b"\0\0\0\x05\0\0\0\x01" + bytes(12), "datagram header truncated"),
        (b"\0\0\0\x05\0\0\0\x02" + bytes(28), "datagram header truncated"),
        (b"\0\0\0\x05\0\0\0\x03" + bytes(24), "unknown agent address type 3"),
        (b"\0\0\0\x05", "too short"),
    ],
)
def test_unusable_datagram_headers_raise(data: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_datagram(data)
