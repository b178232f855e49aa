"""Hostile input: decode_datagram returns a Datagram or raises DecodeError, nothing else.

Datagrams arrive from the network, so every byte is attacker-controlled. The properties
below feed the decoder random bytes, valid datagrams cut at every length, datagrams with
bytes flipped and with every 32-bit word (hence every length, count and type field,
all of which are word-aligned in XDR) replaced by hostile values, generated and real.
Truncation must also keep every sample that was complete before the cut.
"""

from __future__ import annotations

import os
import struct
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import agents, datagrams

from conftest import sflow_captures, udp_payloads
from flowrt.sflow import Datagram, DecodeError, decode_datagram, encode_datagram
from flowrt.sflow.model import CounterSample, FlowSample
from flowrt.sflow.records.counters import PortName

# Values that break naive decoders: all ones, the record length from tcpdump's
# sflow_print-segv regression, the sign bit, and counts that pass a naive
# "count * 8 fits" check after wrapping.
HOSTILE_WORDS = (0xFFFFFFFF, 1180566168, 0x80000000, 0x7FFFFFFF, 0x20000000, 0)
AGENT_HEADER_BYTES = {None: 8, 4: 12, 16: 24}
# Generous: a decode takes microseconds; a hang or quadratic blow-up takes far longer.
MAX_DECODE_SECONDS = 0.5

# FLOWRT_FUZZ_SCALE=100 turns the quick CI run into a longer bug hunt.
SCALE = int(os.environ.get("FLOWRT_FUZZ_SCALE", "1"))


def fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow]
    )


FUZZ = fuzz_settings(100)


def _timed_decode(data: bytes) -> tuple[Datagram | DecodeError, float]:
    started = time.perf_counter()
    try:
        result: Datagram | DecodeError = decode_datagram(data)
    except DecodeError as err:
        result = err
    return result, time.perf_counter() - started


def decode_or_error(data: bytes) -> Datagram | DecodeError:
    """Decode, turning only DecodeError into a value; anything else fails the test.

    A decode slower than MAX_DECODE_SECONDS is retried before failing: on a shared
    machine one slow run is noise (GC, scheduling), three slow runs are a hang.
    """
    result, elapsed = _timed_decode(data)
    for _ in range(2):
        if elapsed < MAX_DECODE_SECONDS:
            break
        elapsed = min(elapsed, _timed_decode(data)[1])
    assert elapsed < MAX_DECODE_SECONDS, f"decoding {len(data)} bytes took {elapsed:.2f}s"
    if isinstance(result, Datagram):
        for err in result.errors:
            assert isinstance(err, DecodeError)
            assert err.sample_index is not None and err.sample_index >= 0
    return result


def header_size(data: bytes) -> int:
    """Bytes before the first sample, from the agent address type (encoded data only)."""
    (addr_type,) = struct.unpack_from(">I", data, 4)
    return {0: 8, 1: 12, 2: 24}[addr_type] + 16


def sample_ends(data: bytes) -> list[int]:
    """End offset (padded) of each sample, walked from the length words alone."""
    off = header_size(data)
    (count,) = struct.unpack_from(">I", data, off - 4)
    ends = []
    for _ in range(count):
        _, length = struct.unpack_from(">II", data, off)
        off += 8 + ((length + 3) & ~3)
        ends.append(off)
    return ends


def check_truncations(data: bytes, full: Datagram) -> None:
    """Cut ``data`` at every length: the samples complete before the cut must survive."""
    head = header_size(data)
    ends = sample_ends(data)
    for cut in range(len(data)):
        result = decode_or_error(data[:cut])
        if cut < head:
            assert isinstance(result, DecodeError), f"cut at {cut} inside the header"
            continue
        assert isinstance(result, Datagram), f"cut at {cut}: {result!r}"
        complete = sum(1 for end in ends if end <= cut)
        assert result.samples[:complete] == full.samples[:complete], f"cut at {cut}"
        if complete < len(ends):
            # the cut sample is dropped whole, and said so
            assert len(result.samples) == complete, f"cut at {cut}"
            assert result.errors[-1].sample_index == complete, f"cut at {cut}"


@FUZZ
@given(st.binary(max_size=1500))
def test_random_bytes(data: bytes) -> None:
    decode_or_error(data)


@FUZZ
@given(agents(), st.binary(max_size=1500))
def test_random_bytes_after_a_valid_header(agent: str | None, tail: bytes) -> None:
    """Random samples behind a plausible header reach the sample and record walkers."""
    prefix = encode_datagram(Datagram(agent, 0, 1, 2, []))[:-4]  # drop the sample count
    decode_or_error(prefix + tail)


@fuzz_settings(40)
@given(datagrams())
def test_truncated_datagrams_keep_complete_samples(dgram: Datagram) -> None:
    data = encode_datagram(dgram)
    check_truncations(data, decode_datagram(data))


@FUZZ
@given(datagrams(), st.data())
def test_flipped_bytes(dgram: Datagram, data: st.DataObject) -> None:
    raw = bytearray(encode_datagram(dgram))
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(1, 255)),
                               min_size=1, max_size=8))
    for pos, mask in flips:
        raw[pos] ^= mask
    decode_or_error(bytes(raw))


def check_hostile_words(data: bytes) -> None:
    for pos in range(0, len(data) - 3, 4):
        for word in HOSTILE_WORDS:
            mutated = data[:pos] + struct.pack(">I", word) + data[pos + 4 :]
            decode_or_error(mutated)


@fuzz_settings(25)
@given(datagrams())
def test_every_word_replaced_by_hostile_values(dgram: Datagram) -> None:
    check_hostile_words(encode_datagram(dgram))


def _first_datagrams(per_capture: int) -> list[tuple[str, int, bytes]]:
    out = []
    for name in sflow_captures():
        kept = 0
        for frame, payload in udp_payloads(name):
            if payload[:4] == b"\0\0\0\x05" and kept < per_capture:
                out.append((name, frame, payload))
                kept += 1
    return out


REAL = _first_datagrams(per_capture=3)
REAL_IDS = [f"{n}#{f}" for n, f, _ in REAL]


@pytest.mark.parametrize(("name", "frame", "payload"), REAL, ids=REAL_IDS)
def test_real_datagrams_truncated_and_mangled(name: str, frame: int, payload: bytes) -> None:
    full = decode_or_error(payload)
    if isinstance(full, Datagram) and not full.errors:
        check_truncations(payload, full)
    check_hostile_words(payload)


# --- known hostile and foreign captures --------------------------------------------


def test_tcpdump_segv_capture_as_a_socket_delivers_it() -> None:
    """The UDP length word says 8 bytes: too short for any sFlow header."""
    ((_, payload),) = udp_payloads("tcpdump-sflow_print-segv")
    assert len(payload) == 8
    with pytest.raises(DecodeError, match="header truncated"):
        decode_datagram(payload)


def test_tcpdump_segv_capture_as_sflowtool_reads_it() -> None:
    """All 872 captured bytes: a flow record claiming 1,180,566,168 bytes.

    sflowtool prints the sample header (seq 6780866, source 0:21, dropEvents 14) and
    then gives up on record 0:13; we keep the same sample, with no records, and report
    the record, then stop at a second sample whose length runs past the datagram.
    """
    ((_, payload),) = udp_payloads("tcpdump-sflow_print-segv", trust_udp_length=False)
    assert len(payload) == 872
    dgram = decode_datagram(payload)
    assert (dgram.agent, dgram.sequence) == ("10.0.0.250", 4821297)
    (sample,) = dgram.samples
    assert isinstance(sample, FlowSample)
    assert (sample.sequence, sample.source_id_type, sample.source_id_index) == (6780866, 0, 21)
    assert (sample.sampling_rate, sample.sample_pool, sample.drops) == (0, 512, 14)
    assert sample.records == []
    first, second = dgram.errors
    assert (first.sample_index, first.tag, first.length) == (0, 13, 1180566168)
    assert "0:13" in first.reason and "1180566168" in first.reason
    assert second.sample_index == 1 and "runs past the end of the datagram" in second.reason


NETFLOW_FRAMES = {13: 0x00050001, 19: 0x00050001, 20: 0x00050002, 21: 0x00050001, 22: 0x00050002}


def test_netflow_frames_on_the_sflow_port_are_rejected_by_version() -> None:
    payloads = dict(udp_payloads("tcpdump-sflow_multiple_counter_30_pdus"))
    versions = {
        frame: struct.unpack_from(">I", payloads[frame])[0] for frame in NETFLOW_FRAMES
    }
    assert versions == NETFLOW_FRAMES
    for frame, version in versions.items():
        with pytest.raises(DecodeError) as caught:
            decode_datagram(payloads[frame])
        assert str(version) in caught.value.reason or f"{version:#010x}" in caught.value.reason
        assert caught.value.offset == 0


# --- regressions found by fuzzing ----------------------------------------------------


def _port_name_datagram() -> bytes:
    """The smallest datagram with a string field: one counter sample, port name "eno1"."""
    record = PortName("eno1")
    return encode_datagram(Datagram("192.0.2.1", 0, 0, 0, [CounterSample(0, 0, 1, [record])]))


@pytest.mark.parametrize(
    "as_buffer",
    [bytearray, memoryview],
)
def test_decode_accepts_any_bytes_like_buffer(as_buffer: type) -> None:
    """A UDP source may hand over a bytearray or a memoryview of its receive buffer.

    The result must equal the bytes decode and hold plain ``bytes``/``str`` values, so
    records never pin (or see later writes to) the receive buffer.
    """
    data = _port_name_datagram()
    got = decode_datagram(as_buffer(data))
    assert got == decode_datagram(data)
    assert type(got.samples[0].records[0].name) is str
