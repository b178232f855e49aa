"""Bytes to :class:`Datagram`: the hot path of the collector.

Everything is bounds-checked against the enclosing structure's declared length, and
every record and sample is skipped by its length word, never by what was decoded,
so vendor extensions and unknown structures cannot derail the walk. Errors are
reported as :class:`DecodeError`:

* a datagram whose header is unusable (wrong version, truncated header, absurd
  sample count) raises it;
* a sample whose length word runs past the datagram ends decoding: the datagram
  keeps the samples before it and lists the error in ``errors``;
* a record that is malformed inside a well-framed sample ends that sample (its
  records so far are kept) and decoding resumes at the next sample; the error is
  listed in ``errors`` with its ``sample_index``.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from typing import Any

from flowrt.sflow import records as _record_types  # noqa: F401  (registers record types)
from flowrt.sflow.errors import DecodeError
from flowrt.sflow.model import (
    SAMPLE_COUNTERS,
    SAMPLE_COUNTERS_EXPANDED,
    SAMPLE_DISCARD,
    SAMPLE_FLOW,
    SAMPLE_FLOW_EXPANDED,
    CounterSample,
    Datagram,
    DiscardSample,
    FlowSample,
    Sample,
    UnknownSample,
)
from flowrt.sflow.registry import (
    COUNTER_DECODERS,
    FLOW_DECODERS,
    Decoder,
    UnknownRecord,
    tag_text,
)

SFLOW_VERSION_5 = 5

_U32x2 = struct.Struct(">II")
_U32x4 = struct.Struct(">IIII")
_FLOW_COMPACT = struct.Struct(">IIIIIIII")
_FLOW_EXPANDED = struct.Struct(">IIIIIIIIIII")
_COUNTER_COMPACT = struct.Struct(">III")
_COUNTER_EXPANDED = struct.Struct(">IIII")
_DISCARD = struct.Struct(">IIIIIIII")
_inet_ntop = socket.inet_ntop
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6


def decode_datagram(data: bytes) -> Datagram:
    """Decode one UDP payload. Raises :class:`DecodeError` if it is not usable sFlow v5.

    Any bytes-like buffer is accepted; a non-``bytes`` one (a ``memoryview`` over a
    receive buffer) is copied once, so decoded records never pin the caller's buffer.
    """
    if type(data) is not bytes:
        data = bytes(data)
    end = len(data)
    if end < 8:
        raise DecodeError(f"datagram of {end} bytes is too short for an sFlow header", 0)
    version, addr_type = _U32x2.unpack_from(data, 0)
    if version != SFLOW_VERSION_5:
        raise DecodeError(f"unsupported sFlow version {version}", 0)
    if addr_type == 1:
        if end < 28:
            raise DecodeError("datagram header truncated", 8)
        agent: str | None = _inet_ntop(_AF_INET, data[8:12])
        off = 12
    elif addr_type == 2:
        if end < 40:
            raise DecodeError("datagram header truncated", 8)
        agent = _inet_ntop(_AF_INET6, data[8:24])
        off = 24
    elif addr_type == 0:
        if end < 24:
            raise DecodeError("datagram header truncated", 8)
        agent = None
        off = 8
    else:
        raise DecodeError(f"unknown agent address type {addr_type}", 4)
    sub_agent, sequence, uptime, count = _U32x4.unpack_from(data, off)
    off += 16
    samples: list[Sample] = []
    errors: list[DecodeError] = []
    dgram = Datagram(
        agent, sub_agent, sequence, uptime, samples, SFLOW_VERSION_5, errors, count
    )
    # This loop is the collector's hot path (it runs once per sampled packet), so it is
    # written flat: the compact flow sample header is unpacked inline and the record
    # walk below serves every sample type, which saves two Python calls per flow sample
    # over a function per sample type plus a record-walk function.
    unpack = _U32x2.unpack_from
    flow_decoder: Callable[[int], Decoder | None] = FLOW_DECODERS.get
    for index in range(count):
        if off + 8 > end:
            errors.append(DecodeError("sample header runs past the end", off, sample_index=index))
            break
        tag, length = unpack(data, off)
        start = off + 8
        stop = start + length
        if stop > end:
            errors.append(
                DecodeError(
                    f"sample {tag_text(tag)} length {length} runs past the end of the datagram",
                    off,
                    tag=tag,
                    length=length,
                    sample_index=index,
                )
            )
            break
        off = start + ((length + 3) & ~3)
        # 1. the sample's own header: a malformed one drops the sample
        try:
            if tag == SAMPLE_FLOW:  # the common case, so not in _SAMPLE_HEADERS
                if start + 32 > stop:
                    raise DecodeError("flow sample header truncated", start)
                seq, source, rate, pool, drops, inp, out, nrecords = (
                    _FLOW_COMPACT.unpack_from(data, start)
                )
                sample: Any = FlowSample(
                    seq, source >> 24, source & 0xFFFFFF, rate, pool, drops,
                    inp >> 30, inp & 0x3FFFFFFF, out >> 30, out & 0x3FFFFFFF, [], False,
                )
                pos, decoder, scope = start + 32, flow_decoder, "flow"
            else:
                parse = _SAMPLE_HEADERS.get(tag)
                if parse is None:
                    samples.append(UnknownSample(tag, data[start:stop]))
                    continue
                sample, pos, nrecords, decoder, scope = parse(data, start, stop)
        except DecodeError as err:
            err.sample_index = index
            errors.append(err)
            continue
        samples.append(sample)
        # 2. its records: a malformed one ends the sample, which keeps the records before it.
        # No up-front check of ``nrecords``: each record consumes at least 8 bytes, so a
        # hostile count runs out of bytes (and fails) after at most size/8 iterations.
        append = sample.records.append
        for _ in range(nrecords):
            if pos + 8 > stop:
                fault = DecodeError(f"{scope} record header past the end", pos)
                break
            rtag, rlength = unpack(data, pos)
            rstart = pos + 8
            rstop = rstart + rlength
            if rstop > stop:
                fault = DecodeError(
                    f"{scope} record {tag_text(rtag)} length {rlength} runs past the end of"
                    " the sample",
                    pos,
                    tag=rtag,
                    length=rlength,
                )
                break
            decode = decoder(rtag)
            if decode is None:
                append(UnknownRecord(rtag, data[rstart:rstop]))
            else:
                try:
                    append(decode(data, rstart, rstop))
                except DecodeError as err:
                    err.tag, err.length = rtag, rlength
                    err.reason = f"{scope} record {tag_text(rtag)}: {err.reason}"
                    fault = err
                    break
            pos = rstart + ((rlength + 3) & ~3)
        else:
            continue  # every record decoded
        fault.sample_index = index
        fault.partial = True
        errors.append(fault)
    return dgram


# Each parses a sample's fixed header: (sample with no records yet, offset of its first
# record, record count, record decoder lookup, scope word for error messages).
_SampleHeader = tuple[Sample, int, int, Callable[[int], Decoder | None], str]


def _flow_expanded(data: bytes, off: int, end: int) -> _SampleHeader:
    if off + 44 > end:
        raise DecodeError("expanded flow sample header truncated", off)
    (seq, stype, sindex, rate, pool, drops, ifmt, ival, ofmt, oval, count) = (
        _FLOW_EXPANDED.unpack_from(data, off)
    )
    sample = FlowSample(seq, stype, sindex, rate, pool, drops, ifmt, ival, ofmt, oval, [], True)
    return sample, off + 44, count, FLOW_DECODERS.get, "flow"


def _counters_compact(data: bytes, off: int, end: int) -> _SampleHeader:
    if off + 12 > end:
        raise DecodeError("counter sample header truncated", off)
    seq, source, count = _COUNTER_COMPACT.unpack_from(data, off)
    sample = CounterSample(seq, source >> 24, source & 0xFFFFFF, [], False)
    return sample, off + 12, count, COUNTER_DECODERS.get, "counter"


def _counters_expanded(data: bytes, off: int, end: int) -> _SampleHeader:
    if off + 16 > end:
        raise DecodeError("expanded counter sample header truncated", off)
    seq, stype, sindex, count = _COUNTER_EXPANDED.unpack_from(data, off)
    sample = CounterSample(seq, stype, sindex, [], True)
    return sample, off + 16, count, COUNTER_DECODERS.get, "counter"


def _discard(data: bytes, off: int, end: int) -> _SampleHeader:
    if off + 32 > end:
        raise DecodeError("discard sample header truncated", off)
    seq, stype, sindex, drops, inp, out, reason, count = _DISCARD.unpack_from(data, off)
    sample = DiscardSample(seq, stype, sindex, drops, inp, out, reason, [])
    return sample, off + 32, count, FLOW_DECODERS.get, "discard"


#: the compact flow sample (tag 1) is parsed inline by decode_datagram
_SAMPLE_HEADERS: dict[int, Callable[[bytes, int, int], _SampleHeader]] = {
    SAMPLE_COUNTERS: _counters_compact,
    SAMPLE_FLOW_EXPANDED: _flow_expanded,
    SAMPLE_COUNTERS_EXPANDED: _counters_expanded,
    SAMPLE_DISCARD: _discard,
}
