"""Hypothesis strategies for sFlow records, samples and datagrams, built from declarations.

Nothing here names a record class: every strategy is derived, when it is called, from
the registry (``FLOW_RECORDS`` / ``COUNTER_RECORDS``) and each codec's wire types. A
record class added tomorrow is therefore generated, round-tripped and fuzzed without
touching this file; a wire type this module does not know raises
``NotImplementedError`` naming the field, so the gap shows up as a failing test.
"""

from __future__ import annotations

import dataclasses
import socket
import struct
from typing import Any

from hypothesis import strategies as st

from flowrt.sflow import records as _record_types  # noqa: F401  (registers record types)
from flowrt.sflow import xdr
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
    UnknownSample,
)
from flowrt.sflow.registry import COUNTER_RECORDS, FLOW_RECORDS, UnknownRecord
from flowrt.sflow.xdr import Codec, codec_of

U32_MAX = 2**32 - 1
COMPACT_SOURCE_INDEX_MAX = 2**24 - 1  # source_id: 8-bit class, 24-bit index
COMPACT_INTERFACE_VALUE_MAX = 2**30 - 1  # interface: 2-bit format, 30-bit value
INTERFACE_FORMAT_MAX = 3
SAMPLE_TAGS = frozenset(
    {SAMPLE_FLOW, SAMPLE_COUNTERS, SAMPLE_FLOW_EXPANDED, SAMPLE_COUNTERS_EXPANDED, SAMPLE_DISCARD}
)

# Small sizes keep examples fast; the codec's behaviour does not depend on size.
MAX_BYTES = 40
MAX_TEXT = 24
MAX_ITEMS = 3
MAX_RECORDS = 4
MAX_SAMPLES = 4

u32s = st.integers(0, U32_MAX)
ipv4_texts = st.binary(min_size=4, max_size=4).map(lambda b: socket.inet_ntop(socket.AF_INET, b))
ipv6_texts = st.binary(min_size=16, max_size=16).map(
    lambda b: socket.inet_ntop(socket.AF_INET6, b)
)
# Text that survives UTF-8 encode/decode unchanged (no lone surrogates).
utf8_texts = st.text(st.characters(codec="utf-8"), max_size=MAX_TEXT)


def aligned_bytes(max_words: int = 8) -> st.SearchStrategy[bytes]:
    """Raw XDR bodies are whole 4-byte words; unknown structures are kept as such."""
    return st.integers(0, max_words).flatmap(lambda n: st.binary(min_size=4 * n, max_size=4 * n))


_INTEGER_CODES = {
    "B": (0, 2**8 - 1), "b": (-(2**7), 2**7 - 1),
    "H": (0, 2**16 - 1), "h": (-(2**15), 2**15 - 1),
    "I": (0, U32_MAX), "i": (-(2**31), 2**31 - 1),
    "Q": (0, 2**64 - 1), "q": (-(2**63), 2**63 - 1),
}


def fixed_strategy(wire: xdr.Fixed, where: str) -> st.SearchStrategy[Any]:
    """Values of a fixed-size wire type, derived from its struct format and converters."""
    if wire.to_python is xdr.ipv4_text:
        return ipv4_texts
    if wire.to_python is xdr.ipv6_text:
        return ipv6_texts
    if wire.to_python is not None:
        raise NotImplementedError(f"{where}: no strategy for converter {wire.to_python}")
    fmt = wire.fmt.rstrip("0123456789x")  # trailing pad bytes carry no value
    if fmt in _INTEGER_CODES:
        lo, hi = _INTEGER_CODES[fmt]
        return st.integers(lo, hi)
    if fmt == "f":
        return st.floats(width=32, allow_nan=False)
    if fmt == "d":
        return st.floats(allow_nan=False)
    if fmt.endswith("s"):
        size = struct.calcsize(">" + fmt)
        return st.binary(min_size=size, max_size=size)
    raise NotImplementedError(f"{where}: no strategy for struct format {wire.fmt!r}")


def wire_strategy(wire: xdr.Fixed | xdr.Variable, where: str) -> st.SearchStrategy[Any]:
    """Values of any XDR wire type, recursing into arrays and nested structures."""
    if isinstance(wire, xdr.Fixed):
        return fixed_strategy(wire, where)
    if wire is xdr.Opaque.__metadata__[0]:
        return st.binary(max_size=MAX_BYTES)
    if wire is xdr.String.__metadata__[0]:
        return utf8_texts
    if wire is xdr.Address.__metadata__[0]:
        return st.one_of(st.none(), ipv4_texts, ipv6_texts)
    if isinstance(wire, xdr.ArrayOf):
        element = wire.element
        if isinstance(element, xdr.Fixed):
            items = fixed_strategy(element, where)
        else:
            items = codec_strategy(codec_of(element))
        return st.lists(items, max_size=MAX_ITEMS)
    raise NotImplementedError(f"{where}: no strategy for wire type {type(wire).__name__}")


def codec_strategy(codec: Codec) -> st.SearchStrategy[Any]:
    """Instances of the codec's dataclass: every declared field, tail fields as a prefix.

    Tail fields (vendor extensions) are either all ``None`` or present up to some point,
    because that is all the wire can express: a record is only ever shorter at the end.
    """
    cls = codec.cls
    tail_names = [name for name, _ in codec.tail]
    head = {
        name: wire_strategy(wire, f"{cls.__name__}.{name}")
        for name, wire in codec.fields
        if name not in tail_names
    }
    tail = [wire_strategy(wire, f"{cls.__name__}.{name}") for name, wire in codec.tail]

    @st.composite
    def build(draw: st.DrawFn) -> Any:
        values = {name: draw(strategy) for name, strategy in head.items()}
        present = draw(st.integers(0, len(tail)))
        for i, (name, strategy) in enumerate(zip(tail_names, tail, strict=True)):
            values[name] = draw(strategy) if i < present else None
        init = {f.name for f in dataclasses.fields(cls) if f.init}
        return cls(**{k: v for k, v in values.items() if k in init})

    return build()


def record_of_tag(table: dict[int, Codec], tag: int) -> st.SearchStrategy[Any]:
    """Records of one registered tag (used to name the record in parametrized tests)."""
    return codec_strategy(table[tag])


def unknown_records(table: dict[int, Codec]) -> st.SearchStrategy[UnknownRecord]:
    """Records with a tag this scope does not register, which decode to UnknownRecord."""
    tags = u32s.filter(lambda t: t not in table)
    return st.builds(UnknownRecord, tags, aligned_bytes())


def records(table: dict[int, Codec]) -> st.SearchStrategy[Any]:
    """Any record of a scope: every registered tag, read from the table now, or unknown."""
    known = [codec_strategy(table[tag]) for tag in sorted(table)]
    return st.one_of(*known, unknown_records(table))


def flow_records() -> st.SearchStrategy[Any]:
    return records(FLOW_RECORDS)


def counter_records() -> st.SearchStrategy[Any]:
    return records(COUNTER_RECORDS)


def flow_samples(expanded: bool | None = None) -> st.SearchStrategy[FlowSample]:
    """Flow samples; compact ones keep to what the compact words can carry."""
    if expanded is None:
        return st.one_of(flow_samples(False), flow_samples(True))
    source_type = u32s if expanded else st.integers(0, 0xFF)
    source_index = u32s if expanded else st.integers(0, COMPACT_SOURCE_INDEX_MAX)
    if_format = u32s if expanded else st.integers(0, INTERFACE_FORMAT_MAX)
    if_value = u32s if expanded else st.integers(0, COMPACT_INTERFACE_VALUE_MAX)
    return st.builds(
        FlowSample,
        sequence=u32s, source_id_type=source_type, source_id_index=source_index,
        sampling_rate=u32s, sample_pool=u32s, drops=u32s,
        input_format=if_format, input_value=if_value,
        output_format=if_format, output_value=if_value,
        records=st.lists(flow_records(), max_size=MAX_RECORDS),
        expanded=st.just(expanded),
    )


def counter_samples(expanded: bool | None = None) -> st.SearchStrategy[CounterSample]:
    if expanded is None:
        return st.one_of(counter_samples(False), counter_samples(True))
    return st.builds(
        CounterSample,
        sequence=u32s,
        source_id_type=u32s if expanded else st.integers(0, 0xFF),
        source_id_index=u32s if expanded else st.integers(0, COMPACT_SOURCE_INDEX_MAX),
        records=st.lists(counter_records(), max_size=MAX_RECORDS),
        expanded=st.just(expanded),
    )


def discard_samples() -> st.SearchStrategy[DiscardSample]:
    return st.builds(
        DiscardSample,
        sequence=u32s, source_id_type=u32s, source_id_index=u32s, drops=u32s,
        input_ifindex=u32s, output_ifindex=u32s, reason=u32s,
        records=st.lists(flow_records(), max_size=MAX_RECORDS),
    )


def unknown_samples() -> st.SearchStrategy[UnknownSample]:
    return st.builds(UnknownSample, u32s.filter(lambda t: t not in SAMPLE_TAGS), aligned_bytes())


def samples() -> st.SearchStrategy[Any]:
    return st.one_of(flow_samples(), counter_samples(), discard_samples(), unknown_samples())


def agents() -> st.SearchStrategy[str | None]:
    return st.one_of(st.none(), ipv4_texts, ipv6_texts)


def datagrams(sample_strategy: st.SearchStrategy[Any] | None = None) -> st.SearchStrategy[Datagram]:
    """Well-formed datagrams (no errors), IPv4, IPv6 or unknown agent address."""
    return st.builds(
        Datagram,
        agent=agents(), sub_agent_id=u32s, sequence=u32s, uptime=u32s,
        samples=st.lists(sample_strategy or samples(), max_size=MAX_SAMPLES),
        version=st.just(5), errors=st.just([]),
    )
