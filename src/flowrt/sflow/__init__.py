"""The sFlow v5 wire format: decode and encode datagrams, samples and records.

Pure functions with no I/O and no state. ``decode_datagram`` is the collector's hot
path; ``encode_datagram`` is its exact inverse, for tests and generators.
"""

from flowrt.sflow.decode import decode_datagram
from flowrt.sflow.encode import encode_datagram
from flowrt.sflow.errors import DecodeError
from flowrt.sflow.model import CounterSample, Datagram, DiscardSample, FlowSample, UnknownSample
from flowrt.sflow.registry import COUNTER_RECORDS, FLOW_RECORDS, UnknownRecord, tag_text

__all__ = [
    "COUNTER_RECORDS",
    "FLOW_RECORDS",
    "CounterSample",
    "Datagram",
    "DecodeError",
    "DiscardSample",
    "FlowSample",
    "UnknownRecord",
    "UnknownSample",
    "decode_datagram",
    "encode_datagram",
    "tag_text",
]
