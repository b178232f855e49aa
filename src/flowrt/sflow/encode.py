""":class:`Datagram` to bytes: for tests, benchmarks, generators and forwarding.

The exact inverse of :mod:`flowrt.sflow.decode` for every structure it decodes:
``decode_datagram(encode_datagram(d)) == d``. Unknown samples and records are written
back as the raw bytes they were read from.
"""

from __future__ import annotations

import struct
from typing import Any

from flowrt.sflow.model import CounterSample, Datagram, DiscardSample, FlowSample, UnknownSample
from flowrt.sflow.registry import COUNTER_RECORDS, FLOW_RECORDS, UnknownRecord, tag_text
from flowrt.sflow.xdr import Codec, ipv4_bytes, ipv6_bytes

_U32 = struct.Struct(">I")


def _pad4(raw: bytes) -> bytes:
    return raw + b"\0" * (-len(raw) % 4)


def _tlv(tag: int, body: bytes) -> bytes:
    return struct.pack(">II", tag, len(body)) + _pad4(body)


def encode_record(record: Any, table: dict[int, Codec]) -> bytes:
    """One record with its tag and length words."""
    if isinstance(record, UnknownRecord):
        return _tlv(record.tag, record.data)
    tag = type(record).TAG
    codec = table.get(tag)
    if codec is None or codec.cls is not type(record):
        raise ValueError(f"{type(record).__name__} is not a record of this scope ({tag_text(tag)})")
    return _tlv(tag, codec.encode(record))


def _records(records: list[Any], table: dict[int, Codec]) -> bytes:
    return _U32.pack(len(records)) + b"".join(encode_record(r, table) for r in records)


def _compact_interface(fmt: int, value: int) -> int:
    if not (0 <= fmt <= 3 and 0 <= value <= 0x3FFFFFFF):
        raise ValueError(f"interface ({fmt}, {value}) does not fit the compact form")
    return (fmt << 30) | value


def _compact_source(source_type: int, index: int) -> int:
    if not (0 <= source_type <= 0xFF and 0 <= index <= 0xFFFFFF):
        raise ValueError(f"source id {source_type}:{index} does not fit the compact form")
    return (source_type << 24) | index


def encode_sample(sample: Any) -> bytes:
    """One sample with its tag and length words."""
    if isinstance(sample, FlowSample):
        if sample.expanded:
            head = struct.pack(
                ">11I", sample.sequence, sample.source_id_type, sample.source_id_index,
                sample.sampling_rate, sample.sample_pool, sample.drops, sample.input_format,
                sample.input_value, sample.output_format, sample.output_value,
                len(sample.records),
            )
            return _tlv(3, head[:-4] + _records(sample.records, FLOW_RECORDS))
        head = struct.pack(
            ">7I", sample.sequence, _compact_source(sample.source_id_type, sample.source_id_index),
            sample.sampling_rate, sample.sample_pool, sample.drops,
            _compact_interface(sample.input_format, sample.input_value),
            _compact_interface(sample.output_format, sample.output_value),
        )
        return _tlv(1, head + _records(sample.records, FLOW_RECORDS))
    if isinstance(sample, CounterSample):
        if sample.expanded:
            head = struct.pack(
                ">3I", sample.sequence, sample.source_id_type, sample.source_id_index
            )
            return _tlv(4, head + _records(sample.records, COUNTER_RECORDS))
        head = struct.pack(
            ">2I", sample.sequence, _compact_source(sample.source_id_type, sample.source_id_index)
        )
        return _tlv(2, head + _records(sample.records, COUNTER_RECORDS))
    if isinstance(sample, DiscardSample):
        head = struct.pack(
            ">7I", sample.sequence, sample.source_id_type, sample.source_id_index, sample.drops,
            sample.input_ifindex, sample.output_ifindex, sample.reason,
        )
        return _tlv(5, head + _records(sample.records, FLOW_RECORDS))
    if isinstance(sample, UnknownSample):
        return _tlv(sample.tag, sample.data)
    raise TypeError(f"not a sample: {type(sample).__name__}")


def encode_datagram(dgram: Datagram) -> bytes:
    """The UDP payload for ``dgram``."""
    if dgram.agent is None:
        agent = _U32.pack(0)
    elif ":" in dgram.agent:
        agent = _U32.pack(2) + ipv6_bytes(dgram.agent)
    else:
        agent = _U32.pack(1) + ipv4_bytes(dgram.agent)
    head = _U32.pack(dgram.version) + agent + struct.pack(
        ">4I", dgram.sub_agent_id, dgram.sequence, dgram.uptime, len(dgram.samples)
    )
    return head + b"".join(encode_sample(s) for s in dgram.samples)
