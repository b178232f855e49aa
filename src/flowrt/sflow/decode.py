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
from typing import Any

from flowrt.sflow import records as _record_types  # noqa: F401  (registers record types)
from flowrt.sflow.errors import DecodeError
from flowrt.sflow.model import (
    CounterSample,
    Datagram,
    DiscardSample,
    FlowSample,
    Sample,
    UnknownSample,
)
from flowrt.sflow.registry import COUNTER_DECODERS, FLOW_DECODERS, UnknownRecord, tag_text

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

_TAG_FLOW = 1
_TAG_COUNTERS = 2
_TAG_FLOW_EXPANDED = 3
_TAG_COUNTERS_EXPANDED = 4
_TAG_DISCARD = 5

MIN_RECORD_SIZE = 8  # tag + length
MIN_SAMPLE_SIZE = 8


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
    for index in range(count):
        if off + 8 > end:
            errors.append(DecodeError("sample header runs past the end", off, sample_index=index))
            break
        tag, length = _U32x2.unpack_from(data, off)
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
        try:
            if tag == _TAG_FLOW:
                samples.append(_flow_compact(data, start, stop))
            elif tag == _TAG_COUNTERS:
                samples.append(_counters_compact(data, start, stop))
            elif tag == _TAG_FLOW_EXPANDED:
                samples.append(_flow_expanded(data, start, stop))
            elif tag == _TAG_COUNTERS_EXPANDED:
                samples.append(_counters_expanded(data, start, stop))
            elif tag == _TAG_DISCARD:
                samples.append(_discard(data, start, stop))
            else:
                samples.append(UnknownSample(tag, data[start:stop]))
        except _PartialSample as partial:
            samples.append(partial.sample)
            err = partial.error
            err.sample_index = index
            err.partial = True
            errors.append(err)
        except DecodeError as err:
            err.sample_index = index
            errors.append(err)
        off = start + ((length + 3) & ~3)
    return dgram


class _PartialSample(Exception):
    """Carries a sample whose records stopped early, with the reason."""

    def __init__(self, sample: Sample, error: DecodeError) -> None:
        self.sample = sample
        self.error = error


def _records(
    data: bytes, off: int, end: int, count: int, decoders: dict[int, Any], sample: Any,
    scope: str,
) -> None:
    """Decode ``count`` records into ``sample.records``; raise _PartialSample on a fault."""
    # No up-front check of ``count``: each record consumes at least 8 bytes, so a
    # hostile count runs out of bytes (and fails) after at most size/8 iterations.
    append = sample.records.append
    unpack = _U32x2.unpack_from
    get = decoders.get
    for _ in range(count):
        if off + 8 > end:
            raise _PartialSample(sample, DecodeError(f"{scope} record header past the end", off))
        tag, length = unpack(data, off)
        start = off + 8
        stop = start + length
        if stop > end:
            raise _PartialSample(
                sample,
                DecodeError(
                    f"{scope} record {tag_text(tag)} length {length} runs past the end of the"
                    " sample",
                    off,
                    tag=tag,
                    length=length,
                ),
            )
        decode = get(tag)
        if decode is None:
            append(UnknownRecord(tag, data[start:stop]))
        else:
            try:
                append(decode(data, start, stop))
            except DecodeError as err:
                err.tag, err.length = tag, length
                err.reason = f"{scope} record {tag_text(tag)}: {err.reason}"
                raise _PartialSample(sample, err) from None
        off = start + ((length + 3) & ~3)


def _flow_compact(data: bytes, off: int, end: int) -> FlowSample:
    if off + 32 > end:
        raise DecodeError("flow sample header truncated", off)
    seq, source, rate, pool, drops, inp, out, count = _FLOW_COMPACT.unpack_from(data, off)
    sample = FlowSample(
        seq, source >> 24, source & 0xFFFFFF, rate, pool, drops,
        inp >> 30, inp & 0x3FFFFFFF, out >> 30, out & 0x3FFFFFFF, [], False,
    )
    _records(data, off + 32, end, count, FLOW_DECODERS, sample, "flow")
    return sample


def _flow_expanded(data: bytes, off: int, end: int) -> FlowSample:
    if off + 44 > end:
        raise DecodeError("expanded flow sample header truncated", off)
    (seq, stype, sindex, rate, pool, drops, ifmt, ival, ofmt, oval, count) = (
        _FLOW_EXPANDED.unpack_from(data, off)
    )
    sample = FlowSample(seq, stype, sindex, rate, pool, drops, ifmt, ival, ofmt, oval, [], True)
    _records(data, off + 44, end, count, FLOW_DECODERS, sample, "flow")
    return sample


def _counters_compact(data: bytes, off: int, end: int) -> CounterSample:
    if off + 12 > end:
        raise DecodeError("counter sample header truncated", off)
    seq, source, count = _COUNTER_COMPACT.unpack_from(data, off)
    sample = CounterSample(seq, source >> 24, source & 0xFFFFFF, [], False)
    _records(data, off + 12, end, count, COUNTER_DECODERS, sample, "counter")
    return sample


def _counters_expanded(data: bytes, off: int, end: int) -> CounterSample:
    if off + 16 > end:
        raise DecodeError("expanded counter sample header truncated", off)
    seq, stype, sindex, count = _COUNTER_EXPANDED.unpack_from(data, off)
    sample = CounterSample(seq, stype, sindex, [], True)
    _records(data, off + 16, end, count, COUNTER_DECODERS, sample, "counter")
    return sample


def _discard(data: bytes, off: int, end: int) -> DiscardSample:
    if off + 32 > end:
        raise DecodeError("discard sample header truncated", off)
    seq, stype, sindex, drops, inp, out, reason, count = _DISCARD.unpack_from(data, off)
    sample = DiscardSample(seq, stype, sindex, drops, inp, out, reason, [])
    _records(data, off + 32, end, count, FLOW_DECODERS, sample, "discard")
    return sample
