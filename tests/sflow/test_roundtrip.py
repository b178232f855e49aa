"""decode(encode(x)) == x for everything we can build, encode(decode(b)) == b for real bytes.

The first direction runs over generated values: one test per registered record tag
(so a record that cannot round-trip is named), then samples and datagrams. The second
runs over every datagram of every real capture. Real agents send a few things our
encoder never writes; :func:`canonical_form` finds each one by walking the wire framing
independently of the decoder's output, explains it, and rewrites the original bytes the
way the encoder would. The test then demands byte equality with that canonical form, so
any difference that is not one of the named, legitimate cases fails.
"""

from __future__ import annotations

import struct
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import (
    counter_samples,
    datagrams,
    discard_samples,
    flow_samples,
    record_of_tag,
    unknown_records,
    unknown_samples,
)

from conftest import sflow_captures, udp_payloads
from flowrt.sflow import (
    CounterSample,
    Datagram,
    DecodeError,
    DiscardSample,
    FlowSample,
    decode_datagram,
    encode_datagram,
    xdr,
)
from flowrt.sflow.encode import encode_record
from flowrt.sflow.model import (
    SAMPLE_COUNTERS,
    SAMPLE_COUNTERS_EXPANDED,
    SAMPLE_DISCARD,
    SAMPLE_FLOW,
    SAMPLE_FLOW_EXPANDED,
)
from flowrt.sflow.records.flow import SampledHeader
from flowrt.sflow.registry import COUNTER_RECORDS, FLOW_RECORDS, tag_text
from flowrt.sflow.xdr import Codec, codec_of

_U32 = struct.Struct(">I")
_TLV = struct.Struct(">II")

# Bytes between a sample's length word and its record count (the sample header).
SAMPLE_HEADER_BYTES = {
    SAMPLE_FLOW: 7 * 4,
    SAMPLE_COUNTERS: 2 * 4,
    SAMPLE_FLOW_EXPANDED: 10 * 4,
    SAMPLE_COUNTERS_EXPANDED: 3 * 4,
    SAMPLE_DISCARD: 7 * 4,
}
SAMPLE_RECORD_TABLE = {
    SAMPLE_FLOW: FLOW_RECORDS,
    SAMPLE_COUNTERS: COUNTER_RECORDS,
    SAMPLE_FLOW_EXPANDED: FLOW_RECORDS,
    SAMPLE_COUNTERS_EXPANDED: COUNTER_RECORDS,
    SAMPLE_DISCARD: FLOW_RECORDS,
}
AGENT_ADDRESS_BYTES = {0: 0, 1: 4, 2: 16}

# Why a real datagram may legitimately not re-encode to the same bytes.
LONGER_THAN_DECLARED = "record longer than its declaration (vendor extension)"
SAMPLE_TRAILER = "bytes after the last record of a sample"
TRAILING_BYTES = "bytes after the last sample"
NONZERO_PADDING = "non-zero XDR padding"

ROUNDTRIP = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- generated values: decode(encode(x)) == x -----------------------------------------


def _datagram_with(sample: Any) -> Datagram:
    return Datagram("192.0.2.1", 1, 2, 3, [sample])


def _roundtrip(dgram: Any) -> None:
    decoded = decode_datagram(encode_datagram(dgram))
    assert decoded.errors == []
    assert decoded == dgram


@pytest.mark.parametrize("tag", sorted(FLOW_RECORDS), ids=tag_text)
def test_every_flow_record_roundtrips(tag: int) -> None:
    codec = FLOW_RECORDS[tag]

    @ROUNDTRIP
    @given(record_of_tag(FLOW_RECORDS, tag), st.booleans())
    def check(record: Any, expanded: bool) -> None:
        body = codec.encode(record)
        assert codec.decode(body, 0, len(body)) == record
        _roundtrip(_datagram_with(FlowSample(1, 0, 3, 64, 640, 0, 0, 1, 0, 2, [record], expanded)))

    check()


@pytest.mark.parametrize("tag", sorted(COUNTER_RECORDS), ids=tag_text)
def test_every_counter_record_roundtrips(tag: int) -> None:
    codec = COUNTER_RECORDS[tag]

    @ROUNDTRIP
    @given(record_of_tag(COUNTER_RECORDS, tag), st.booleans())
    def check(record: Any, expanded: bool) -> None:
        body = codec.encode(record)
        assert codec.decode(body, 0, len(body)) == record
        _roundtrip(_datagram_with(CounterSample(1, 0, 3, [record], expanded)))

    check()


@ROUNDTRIP
@given(st.one_of(unknown_records(FLOW_RECORDS), unknown_records(COUNTER_RECORDS)))
def test_unknown_records_roundtrip_raw(record: Any) -> None:
    """A tag unknown in its scope comes back as the same raw bytes, in any sample type."""
    if record.tag not in FLOW_RECORDS:
        _roundtrip(_datagram_with(FlowSample(1, 0, 3, 64, 640, 0, 0, 1, 0, 2, [record])))
        _roundtrip(_datagram_with(DiscardSample(1, 0, 3, 5, 1, 2, 3, [record])))
    if record.tag not in COUNTER_RECORDS:
        _roundtrip(_datagram_with(CounterSample(1, 0, 3, [record], True)))


@ROUNDTRIP
@given(st.one_of(flow_samples(), counter_samples(), discard_samples(), unknown_samples()))
def test_samples_roundtrip(sample: Any) -> None:
    _roundtrip(_datagram_with(sample))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(datagrams())
def test_datagrams_roundtrip(dgram: Any) -> None:
    _roundtrip(dgram)


def test_encode_record_rejects_a_record_of_the_other_scope() -> None:
    """A flow record inside a counter sample would decode as a different structure."""
    record = SampledHeader(1, 64, 4, b"\x01\x02\x03")  # flow 0:1; counter 0:1 is generic
    with pytest.raises(ValueError, match="not a record of this scope"):
        encode_record(record, COUNTER_RECORDS)


# --- real bytes: encode(decode(b)) == b, up to explained differences -------------------


def _pad(n: int) -> int:
    return (n + 3) & ~3


Span = tuple[int, int, str]  # start, stop, what the padding belongs to


def _fixed_padding(wire: xdr.Fixed, off: int, where: str) -> list[Span]:
    """Pad bytes a struct format ends with (``6s2x`` for a MAC)."""
    value_size = struct.calcsize(">" + wire.fmt.rstrip("0123456789x"))
    return [(off + value_size, off + wire.size, where)] if value_size < wire.size else []


def _padding_spans(codec: Codec, buf: bytes, off: int, end: int) -> list[Span]:
    """Byte ranges inside a record that XDR reserves as zero padding, and their field.

    Walks the declaration like the decoder does (the record is known to decode), but
    only to learn where the padding lies.
    """
    spans: list[Span] = []
    tail = {name for name, _ in codec.tail}
    for name, wire in codec.fields:
        where = f"{codec.cls.__name__}.{name}"
        if isinstance(wire, xdr.Fixed):
            if name in tail and off + wire.size > end:
                break
            spans += _fixed_padding(wire, off, where)
            off += wire.size
        elif wire is xdr.Opaque.__metadata__[0] or wire is xdr.String.__metadata__[0]:
            (n,) = _U32.unpack_from(buf, off)
            spans.append((off + 4 + n, off + 4 + _pad(n), where))
            off += 4 + _pad(n)
        elif isinstance(wire, xdr.ArrayOf):
            (count,) = _U32.unpack_from(buf, off)
            off += 4
            for _ in range(count):
                if isinstance(wire.element, xdr.Fixed):
                    spans += _fixed_padding(wire.element, off, where)
                    off += wire.element.size
                else:
                    element = codec_of(wire.element)
                    spans += _padding_spans(element, buf, off, end)
                    off = element.decode_at(buf, off, end)[1]
        else:  # no padding inside (address union)
            off = wire.decode(buf, off, end)[1]
    return spans


def _zero(buf: bytearray, spans: list[Span], reasons: Counter[str]) -> None:
    for start, stop, where in spans:
        if any(buf[start:stop]):
            reasons[f"{NONZERO_PADDING} after {where}"] += 1
            buf[start:stop] = bytes(stop - start)


def canonical_form(data: bytes) -> tuple[bytes, Counter[str]]:
    """``data`` as our encoder would write it, and why (and how often) that differs.

    Only framing words are trusted here (lengths and counts), never the decoder's
    result, so an encoder/decoder disagreement cannot hide behind this function.
    """
    reasons: Counter[str] = Counter()
    buf = bytearray(data)
    (addr_type,) = _U32.unpack_from(data, 4)
    off = 8 + AGENT_ADDRESS_BYTES[addr_type] + 16
    out = [bytes(buf[:off])]
    (count,) = _U32.unpack_from(data, off - 4)
    for _ in range(count):
        tag, length = _TLV.unpack_from(data, off)
        start, stop = off + 8, off + 8 + length
        body = _canonical_sample(buf, tag, start, stop, reasons)
        _zero(buf, [(stop, start + _pad(length), f"sample {tag_text(tag)}")], reasons)
        out.append(_TLV.pack(tag, len(body)) + body + bytes(_pad(len(body)) - len(body)))
        off = start + _pad(length)
    if off < len(data):
        reasons[TRAILING_BYTES] += 1
    return b"".join(out), reasons


def _canonical_sample(
    buf: bytearray, tag: int, start: int, stop: int, reasons: Counter[str]
) -> bytes:
    if tag not in SAMPLE_HEADER_BYTES:
        return bytes(buf[start:stop])
    table = SAMPLE_RECORD_TABLE[tag]
    off = start + SAMPLE_HEADER_BYTES[tag]
    (count,) = _U32.unpack_from(buf, off)
    off += 4
    parts = [bytes(buf[start:off])]
    for _ in range(count):
        rtag, rlen = _TLV.unpack_from(buf, off)
        rstart, rstop = off + 8, off + 8 + rlen
        codec = table.get(rtag)
        used = rstop
        if codec is not None:
            used = codec.decode_at(bytes(buf), rstart, rstop)[1]
            _zero(buf, _padding_spans(codec, bytes(buf), rstart, rstop), reasons)
            if used < rstop:
                reasons[f"{LONGER_THAN_DECLARED}: {tag_text(rtag)}"] += 1
        _zero(buf, [(rstop, rstart + _pad(rlen), f"record {tag_text(rtag)}")], reasons)
        body = bytes(buf[rstart:used])
        parts.append(_TLV.pack(rtag, len(body)) + body + bytes(_pad(len(body)) - len(body)))
        off = rstart + _pad(rlen)
    if off < stop:
        reasons[SAMPLE_TRAILER] += 1
    return b"".join(parts)


def _clean_datagrams() -> list[tuple[str, int, bytes]]:
    """Every real datagram that decodes without errors (hostile and NetFlow frames excluded)."""
    out = []
    for name in sflow_captures():
        for frame, payload in udp_payloads(name):
            try:
                dgram = decode_datagram(payload)
            except DecodeError:
                continue
            if not dgram.errors:
                out.append((name, frame, payload))
    return out


CLEAN = _clean_datagrams()

# What each capture legitimately carries that our encoder does not write. Kinds, not
# counts: the detail (which field) grows as record types are added, and is shown when
# this fails. Anything new here is either a decoder gap or a new capture to explain.
EXPECTED_DIFFERENCES: dict[str, set[str]] = {
    # Hand-edited variants of akvorado-data-1140: the sample count was set to 1 and the
    # other four samples were left in place, so they trail the datagram.
    "akvorado-data-discard-interface": {TRAILING_BYTES},
    "akvorado-data-local-interface": {TRAILING_BYTES},
    "akvorado-data-multiple-interfaces": {TRAILING_BYTES},
    # Agents copy the sampled header into a word-aligned buffer and send the stale
    # bytes after it as padding (hsflowd also in MAC and string padding).
    "akvorado-data-icmpv6": {NONZERO_PADDING},
    "hsflowd-2.1.25-veth-local": {NONZERO_PADDING},
    "ovs-netns": {NONZERO_PADDING},
    "tcpdump-sflow_expanded": {NONZERO_PADDING},
}
KINDS = (LONGER_THAN_DECLARED, SAMPLE_TRAILER, TRAILING_BYTES, NONZERO_PADDING)


@pytest.mark.parametrize(
    ("name", "frame", "payload"), CLEAN, ids=[f"{n}#{f}" for n, f, _ in CLEAN]
)
def test_real_datagram_reencodes_to_its_canonical_bytes(
    name: str, frame: int, payload: bytes
) -> None:
    canonical, reasons = canonical_form(payload)
    assert encode_datagram(decode_datagram(payload)) == canonical
    assert (canonical != payload) == bool(reasons), "a difference must come with its reason"


@pytest.mark.parametrize("name", sflow_captures())
def test_real_capture_differences_are_the_known_ones(name: str) -> None:
    details: Counter[str] = Counter()
    for n, _, payload in CLEAN:
        if n == name:
            details += canonical_form(payload)[1]
    kinds = {kind for kind in KINDS for detail in details if detail.startswith(kind)}
    assert kinds == EXPECTED_DIFFERENCES.get(name, set()), dict(details)


def test_canonical_form_explains_each_kind_of_difference() -> None:
    """The explainer itself must see what it claims to see, on bytes we control."""
    header = SampledHeader(1, 64, 4, b"\x01\x02\x03")
    dgram = _datagram_with(FlowSample(1, 0, 3, 64, 640, 0, 0, 1, 0, 2, [header]))
    clean = encode_datagram(dgram)
    assert canonical_form(clean) == (clean, Counter())
    # the opaque's one pad byte is the last byte of the datagram
    dirty_pad = clean[:-1] + b"\xee"
    assert canonical_form(dirty_pad) == (clean, Counter({
        f"{NONZERO_PADDING} after SampledHeader.header": 1}))
    assert canonical_form(clean + b"\0" * 8)[1] == Counter({TRAILING_BYTES: 1})
    # grow the record by one word (a vendor extension) and the sample with it
    longer = bytearray(clean + b"\xab\xcd\xef\x01")
    sample_len_at = 28 + 4  # after the IPv4-agent datagram header and the sample tag
    record_len_at = sample_len_at + 4 + SAMPLE_HEADER_BYTES[SAMPLE_FLOW] + 4 + 4
    struct.pack_into(">I", longer, sample_len_at, _U32.unpack_from(clean, sample_len_at)[0] + 4)
    struct.pack_into(">I", longer, record_len_at, _U32.unpack_from(clean, record_len_at)[0] + 4)
    assert canonical_form(bytes(longer)) == (clean, Counter({
        f"{LONGER_THAN_DECLARED}: 0:1": 1}))
