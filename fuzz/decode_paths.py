"""What the fuzz target runs on each input: every decode path, with its contracts.

Kept apart from :mod:`sflow_decode_fuzz` (which imports it under atheris'
instrumentation) so that ``fuzz/coverage_report.py`` can replay a corpus through exactly
the same calls under coverage.py. See sflow_decode_fuzz's docstring for the contracts.
"""

from __future__ import annotations

from typing import Any

from flowrt.flowlang import sampleview
from flowrt.sflow import Datagram, DecodeError, decode_datagram, packet
from flowrt.sflow.model import DiscardSample, FlowSample
from flowrt.sflow.records.flow import SampledHeader
from flowrt.sflow.sflowtool import format_datagram
from flowrt.sflow.sflowtool_header import header_lines

HEADER_MODE = ord("H")
JSON_SCALARS = (str, int, float, bool, type(None))
FIXED_KEYS = tuple(dict.fromkeys([
    *sampleview.CONTEXT, *sampleview.RECORD_KEYS, *sampleview.FALLBACK, *packet.EXTRACTORS,
]))


_extractors: dict[str, packet.Extractor | None] = {}


def extractor(key: str) -> packet.Extractor | None:
    """packet.extractor, memoised as flow definitions do (it compiles keys of depth 3+)."""
    if key not in _extractors:
        _extractors[key] = packet.extractor(key)
    return _extractors[key]


def check_value(where: str, value: Any) -> None:
    if isinstance(value, list):
        for item in value:
            check_value(where, item)
    elif not isinstance(value, JSON_SCALARS):
        raise AssertionError(f"{where} is a {type(value).__name__}: {value!r}")


def check_header(protocol: int, header: bytes, frame_length: int, stripped: int) -> None:
    """parse_header agrees with each key's extractor; sflowtool's reading never raises."""
    layers = packet.locate(protocol, header)
    walked = packet.walk_layers(protocol, header)
    if (layers[0], tuple(layers[1]), tuple(layers[2])) != (
            walked[0], tuple(walked[1]), tuple(walked[2])):
        raise AssertionError(f"locate {layers!r} differs from walk_layers {walked!r}")
    keys = packet.parse_header(protocol, header, frame_length, stripped)
    for key, value in keys.items():
        if key in ("bytes", "stripped"):
            continue
        extract = extractor(key)
        if extract is None:
            raise AssertionError(f"parse_header gave {key!r}, which has no extractor")
        got = extract(header, layers)
        if got != value:
            raise AssertionError(f"{key}: parse_header {value!r}, extractor {got!r}")
        check_value(key, value)
    header_lines(protocol, frame_length, stripped, header)


def check_sample(agent: str, sample: FlowSample | DiscardSample) -> None:
    view = sampleview.FlowSampleView(agent, sample)
    names = [*FIXED_KEYS, *sampleview.shape_keys(view.shape()),
             *sampleview.record_keys(type(r) for r in sample.records)]
    for name in names:
        check_value(name, view.get(name))
    for record in sample.records:
        if record.__class__ is SampledHeader:
            check_header(record.protocol, record.header, record.frame_length, record.stripped)


def run_one(data: bytes) -> None:
    """Every decode path over one input; AssertionError (or any escape) is a finding."""
    if len(data) >= 2 and data[0] == HEADER_MODE:
        check_header(data[1], data[2:], len(data) + 2, 4)
        return
    try:
        result = decode_datagram(data)
    except DecodeError as err:
        format_datagram(None, size=len(data), raw=data, error=err)
        return
    if not isinstance(result, Datagram):
        raise AssertionError(f"decode_datagram returned {type(result).__name__}")
    for err in result.errors:
        if not isinstance(err, DecodeError):
            raise AssertionError(f"errors holds a {type(err).__name__}")
    format_datagram(result, size=len(data), raw=data)
    agent = result.agent or "0.0.0.0"
    for sample in result.samples:
        if sample.__class__ is FlowSample or sample.__class__ is DiscardSample:
            check_sample(agent, sample)
