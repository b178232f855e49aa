"""Typed results of decoding an sFlow v5 datagram.

Compact (0:1, 0:2) and expanded (0:3, 0:4) samples decode to the same classes; the
``expanded`` flag only records which encoding the agent used, so the engine never has
to care. Interfaces are kept as (format, value) pairs exactly as sent; the helpers
below say what they mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowrt.sflow.errors import DecodeError

# sample tags (enterprise 0)
SAMPLE_FLOW = 1
SAMPLE_COUNTERS = 2
SAMPLE_FLOW_EXPANDED = 3
SAMPLE_COUNTERS_EXPANDED = 4
SAMPLE_DISCARD = 5

# data source classes (source_id type)
DS_IFINDEX, DS_VLAN, DS_PHYSICAL_ENTITY, DS_LOGICAL_ENTITY = 0, 1, 2, 3

# interface formats (bits 31..30 of the compact interface word)
IF_SINGLE, IF_DISCARDED, IF_MULTIPLE = 0, 1, 2
IF_INTERNAL = 0x3FFFFFFF  # format 0 value: the device itself


@dataclass(slots=True)
class FlowSample:
    """A 1-in-``sampling_rate`` packet sample and its flow records."""

    sequence: int
    source_id_type: int
    source_id_index: int
    sampling_rate: int
    sample_pool: int
    drops: int
    input_format: int
    input_value: int
    output_format: int
    output_value: int
    records: list[Any]
    expanded: bool = False


@dataclass(slots=True)
class CounterSample:
    """A periodic counter poll of one data source."""

    sequence: int
    source_id_type: int
    source_id_index: int
    records: list[Any]
    expanded: bool = False


@dataclass(slots=True)
class DiscardSample:
    """A dropped-packet notification (sflow_drops): rate-limited, not sampled.

    ``input_ifindex``/``output_ifindex`` are plain ifIndex values (0 = unknown);
    ``reason`` is a code from :mod:`flowrt.sflow.drops`.
    """

    sequence: int
    source_id_type: int
    source_id_index: int
    drops: int
    input_ifindex: int
    output_ifindex: int
    reason: int
    records: list[Any]


@dataclass(slots=True)
class UnknownSample:
    """A sample type we do not decode, kept raw."""

    tag: int
    data: bytes


Sample = FlowSample | CounterSample | DiscardSample | UnknownSample


@dataclass(slots=True)
class Datagram:
    """One sFlow v5 datagram.

    ``errors`` lists what could not be decoded. A sample whose body is malformed is
    kept with the records decoded before the fault and its error names its
    ``sample_index``; decoding resumes at the next sample, whose start is known from the
    length word. If a sample's own length runs past the datagram, decoding stops there:
    ``samples`` holds what came before.
    """

    agent: str | None
    sub_agent_id: int
    sequence: int
    uptime: int
    samples: list[Sample]
    version: int = 5
    errors: list[DecodeError] = field(default_factory=list)
    #: the sample count in the header; more than ``len(samples)`` when decoding stopped
    #: early. Not compared: an encoder always writes ``len(samples)``.
    announced_samples: int = field(default=0, compare=False)


def interface_text(fmt: int, value: int) -> str:
    """sFlow-RT's name for an interface word: ifIndex, internal, discard, multiple."""
    if fmt == IF_SINGLE:
        return "internal" if value == IF_INTERNAL else str(value)
    if fmt == IF_DISCARDED:
        return "discard"
    if fmt == IF_MULTIPLE:
        return "multiple"
    return "unknown"
