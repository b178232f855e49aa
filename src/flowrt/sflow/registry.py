"""Where record types are registered, by scope (flow or counter) and tag.

sFlow format numbers are scoped by context (``0:1`` is sampled_header as a flow record
and the generic interface counters as a counter record), so flow and counter records
live in separate tables. A record type joins its table by decorating its dataclass
with :func:`flow_record` or :func:`counter_record`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flowrt.sflow.xdr import Codec, compile_codec

T = TypeVar("T", bound=type)

Decoder = Callable[[bytes, int, int], Any]

FLOW_RECORDS: dict[int, Codec] = {}
COUNTER_RECORDS: dict[int, Codec] = {}
FLOW_DECODERS: dict[int, Decoder] = {}
COUNTER_DECODERS: dict[int, Decoder] = {}


def make_tag(enterprise: int, fmt: int) -> int:
    """The 32-bit data format word: enterprise in the top 20 bits, format in the low 12."""
    return (enterprise << 12) | fmt


def tag_text(tag: int) -> str:
    """``enterprise:format``, the notation sflowtool and the spec use."""
    return f"{tag >> 12}:{tag & 0xFFF}"


def _register(
    table: dict[int, Codec], decoders: dict[int, Decoder], enterprise: int, fmt: int,
    name: str, tail: tuple[str, ...],
) -> Callable[[T], T]:
    def wrap(cls: T) -> T:
        tag = make_tag(enterprise, fmt)
        if tag in table:
            raise ValueError(f"{tag_text(tag)} registered twice ({table[tag].cls.__name__})")
        cls.TAG = tag  # type: ignore[attr-defined]
        cls.NAME = name  # type: ignore[attr-defined]
        codec = compile_codec(cls, tail)
        table[tag] = codec
        decoders[tag] = codec.decode
        return cls

    return wrap


def flow_record(
    enterprise: int, fmt: int, name: str, tail: tuple[str, ...] = ()
) -> Callable[[T], T]:
    """Register a dataclass as the flow record ``enterprise:fmt``."""
    return _register(FLOW_RECORDS, FLOW_DECODERS, enterprise, fmt, name, tail)


def counter_record(
    enterprise: int, fmt: int, name: str, tail: tuple[str, ...] = ()
) -> Callable[[T], T]:
    """Register a dataclass as the counter record ``enterprise:fmt``."""
    return _register(COUNTER_RECORDS, COUNTER_DECODERS, enterprise, fmt, name, tail)


@dataclass(slots=True)
class UnknownRecord:
    """A record whose tag we do not decode: kept raw so it can be counted or forwarded."""

    tag: int
    data: bytes
