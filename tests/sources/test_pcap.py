"""Capture replay: the real sFlow captures, every framing variant, and damaged files."""

from __future__ import annotations

import io
import random
import struct
import time
from datetime import datetime
from pathlib import Path

import dpkt
import pytest
from capture_files import (
    ETHERNET,
    IPV4,
    IPV6,
    LOOP,
    NULL,
    RAW,
    SLL,
    SLL2,
    enhanced_packet,
    frame_as,
    interface_block,
    ip_packet,
    section_header,
    simple_packet,
    statistics_block,
    write_pcap,
    write_pcapng,
)

from conftest import SFLOW_TESTDATA, expected, sflow_captures, udp_payloads
from flowrt.sources.pcap import CapturedDatagram, CaptureError, read_pcap

pytestmark = pytest.mark.usefixtures("sflow_testdata")

IPV4_CAPTURE = "ovs-netns"  # 153 datagrams over IPv4 on lo
IPV6_CAPTURE = "tcpdump-sflow-print-v6"  # 25 datagrams over IPv6
VLAN_CAPTURE = "ndpi-sflow"


def capture(name: str) -> Path:
    return SFLOW_TESTDATA / f"{name}.pcap"


def datagrams(source: Path | io.BytesIO, port: int | None = None) -> list[CapturedDatagram]:
    return list(read_pcap(source, port))


def original_frames(name: str) -> list[tuple[int, int, bytes]]:
    """``(seconds, microseconds, ethernet frame)`` of a shared capture, read by dpkt."""
    with capture(name).open("rb") as f:
        out = []
        for ts, frame in dpkt.pcap.Reader(f):
            seconds = int(ts)
            out.append((seconds, round((ts - seconds) * 1e6), frame))
        return out


def sflowtool_pcap_times(name: str) -> list[float]:
    """Every datagram's pcapTimestamp + pcapTimestamp_uS as sflowtool printed them."""
    times, second = [], 0.0
    for line in (SFLOW_TESTDATA / f"{name}.sflowtool.txt").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "pcapTimestamp":
            second = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S%z").timestamp()
        elif key == "pcapTimestamp_uS":
            times.append(second + int(value) / 1e6)
    return times


# -- the real captures -------------------------------------------------------------------


@pytest.mark.parametrize("name", sflow_captures())
def test_real_capture_yields_every_udp_frame_with_its_addressing(name: str) -> None:
    truth = expected(name)
    reader = read_pcap(capture(name))
    got = list(reader)
    assert len(got) == truth["frames"]
    assert reader.stats.datagrams == truth["frames"] == reader.records
    for entry in truth["datagrams"]:  # sFlow frames, numbered from 1 in the file
        dgram = got[entry["frame"] - 1]
        assert dgram.source == entry["src"]
        assert dgram.destination == entry["dst"]
        assert (dgram.source_port, dgram.destination_port) == (entry["sport"], entry["dport"])
        assert len(dgram.payload) == entry["udp_payload_len"]
    # an independent reader (tests/conftest.py) agrees byte for byte
    assert [d.payload for d in got] == [p for _, p in udp_payloads(name)]


@pytest.mark.parametrize("name", sflow_captures())
def test_timestamps_match_sflowtool(name: str) -> None:
    got = [d.timestamp for d in datagrams(capture(name))]
    reference = sflowtool_pcap_times(name)
    assert len(got) == len(reference)
    assert got == pytest.approx(reference, abs=1e-6)


def test_ipv6_transport_sources() -> None:
    got = datagrams(capture(IPV6_CAPTURE))
    assert {d.source for d in got} == {"30::1:1:1"}
    assert {d.destination for d in got} == {"20::1:1:2"}
    assert got[0].source_port == 36123


def test_non_sflow_udp_on_the_port_is_still_a_datagram() -> None:
    """NetFlow sent to 6343 is the decoder's to reject, so the replay must yield it."""
    name = "tcpdump-sflow_multiple_counter_30_pdus"
    got = datagrams(capture(name))
    for frame in expected(name)["non_sflow_frames"]:
        assert got[frame - 1].payload[:2] == b"\x00\x05"  # NetFlow v5 version word


def test_port_filter_counts_what_it_drops() -> None:
    reader = read_pcap(capture(IPV4_CAPTURE), port=6344)
    assert list(reader) == []
    assert reader.stats.wrong_port == 153
    assert len(datagrams(capture(IPV4_CAPTURE), port=6343)) == 153


def test_replay_is_fast() -> None:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        count = sum(1 for _ in read_pcap(capture(IPV4_CAPTURE)))
        best = min(best, time.perf_counter() - start)
    assert count == 153
    assert best < 0.050, f"replaying {IPV4_CAPTURE} took {best * 1000:.1f} ms"


# -- other framings of the same packets ------------------------------------------------


@pytest.fixture(params=[IPV4_CAPTURE, IPV6_CAPTURE, VLAN_CAPTURE])
def original(request: pytest.FixtureRequest) -> tuple[str, list[CapturedDatagram]]:
    return request.param, datagrams(capture(request.param))


def _same(got: list[CapturedDatagram], want: list[CapturedDatagram], tolerance: float = 0) -> None:
    assert [d.payload for d in got] == [d.payload for d in want]
    assert [d[1:5] for d in got] == [d[1:5] for d in want]
    assert [d.timestamp for d in got] == pytest.approx([d.timestamp for d in want], abs=tolerance)


@pytest.mark.parametrize(
    ("linktype", "little_endian_null"),
    [(ETHERNET, True), (SLL, True), (SLL2, True), (NULL, True), (NULL, False), (LOOP, True),
     (RAW, True)],
    ids=["ethernet-qinq", "sll", "sll2", "null-le", "null-be", "loop", "raw"],
)
def test_link_types(
    tmp_path: Path, original: tuple[str, list[CapturedDatagram]], linktype: int,
    little_endian_null: bool,
) -> None:
    name, want = original
    packets = [
        (s, us, frame_as(linktype, ip_packet(f), little_endian_null=little_endian_null))
        for s, us, f in original_frames(name)
    ]
    _same(datagrams(write_pcap(tmp_path / "x.pcap", packets, linktype)), want)


def test_ipv4_and_ipv6_link_types(tmp_path: Path) -> None:
    for name, linktype in ((IPV4_CAPTURE, IPV4), (IPV6_CAPTURE, IPV6)):
        packets = [(s, us, ip_packet(f)) for s, us, f in original_frames(name)]
        got = datagrams(write_pcap(tmp_path / f"{name}.pcap", packets, linktype))
        _same(got, datagrams(capture(name)))


@pytest.mark.parametrize("big_endian", [False, True], ids=["le", "be"])
@pytest.mark.parametrize("nano", [False, True], ids=["us", "ns"])
def test_classic_byte_orders_and_resolutions(
    tmp_path: Path, original: tuple[str, list[CapturedDatagram]], big_endian: bool, nano: bool
) -> None:
    name, want = original
    packets = [(s, us * 1000 + 7 if nano else us, f) for s, us, f in original_frames(name)]
    path = write_pcap(tmp_path / "x.pcap", packets, ETHERNET, big_endian=big_endian, nano=nano)
    got = datagrams(path)
    _same(got, want, tolerance=1e-6)
    if nano:  # the extra 7 ns are kept (as far as a float can hold them)
        assert got[0].timestamp - want[0].timestamp == pytest.approx(7e-9, abs=5e-7)


@pytest.mark.parametrize("order", ["<", ">"], ids=["le", "be"])
def test_pcapng(tmp_path: Path, original: tuple[str, list[CapturedDatagram]], order: str) -> None:
    name, want = original
    blocks = [section_header(order), interface_block(order, ETHERNET)]
    for s, us, frame in original_frames(name):
        blocks.append(enhanced_packet(order, 0, s * 1_000_000 + us, frame))
    blocks.append(statistics_block(order, 0))
    reader = read_pcap(write_pcapng(tmp_path / "x.pcapng", blocks))
    _same(list(reader), want)
    assert reader.format == "pcapng"


def test_pcapng_interfaces_link_types_resolutions_and_sections(tmp_path: Path) -> None:
    """Interfaces carry their own link type and clock; a new section renumbers them."""
    frames = original_frames(IPV4_CAPTURE)[:6]
    want = datagrams(capture(IPV4_CAPTURE))[:6]
    blocks = [
        section_header("<"),
        interface_block("<", SLL2, tsresol=9),  # nanoseconds
        interface_block("<", NULL, tsresol=0x80 | 10, tsoffset=100),  # 1/1024 s, +100 s
    ]
    (s0, us0, f0), (s1, _, f1) = frames[0], frames[1]
    ns0 = (s0 * 1_000_000 + us0) * 1000
    blocks.append(enhanced_packet("<", 0, ns0, frame_as(SLL2, ip_packet(f0))))
    blocks.append(enhanced_packet("<", 1, (s1 - 100) * 1024 + 512, frame_as(NULL, ip_packet(f1))))
    # a big-endian section: interface 0 is now raw IP, then an SPB (no timestamp)
    blocks += [section_header(">"), interface_block(">", RAW)]
    for s, us, frame in frames[2:5]:
        blocks.append(enhanced_packet(">", 0, s * 1_000_000 + us, ip_packet(frame)))
    blocks.append(simple_packet(">", ip_packet(frames[5][2])))
    got = datagrams(write_pcapng(tmp_path / "multi.pcapng", blocks))
    assert [d.payload for d in got] == [d.payload for d in want]
    assert got[0].timestamp == pytest.approx(want[0].timestamp, abs=1e-9)
    assert got[1].timestamp == s1 + 0.5
    assert [d.timestamp for d in got[2:5]] == pytest.approx([d.timestamp for d in want[2:5]])
    assert got[5].timestamp == 0


def test_files_written_by_dpkt(tmp_path: Path) -> None:
    """Files from another implementation's writers: nanosecond pcap and pcapng."""
    want = datagrams(capture(IPV4_CAPTURE))
    frames = original_frames(IPV4_CAPTURE)
    with (tmp_path / "ns.pcap").open("wb") as f:
        writer = dpkt.pcap.Writer(f, nano=True)
        for s, us, frame in frames:
            writer.writepkt(frame, ts=s + us / 1e6)
    with (tmp_path / "x.pcapng").open("wb") as f:
        writer = dpkt.pcapng.Writer(f)
        for s, us, frame in frames:
            writer.writepkt(frame, ts=s + us / 1e6)
    _same(datagrams(tmp_path / "ns.pcap"), want, tolerance=1e-6)
    _same(datagrams(tmp_path / "x.pcapng"), want, tolerance=1e-6)


def test_file_object_source() -> None:
    data = capture(IPV6_CAPTURE).read_bytes()
    assert datagrams(io.BytesIO(data)) == datagrams(capture(IPV6_CAPTURE))


# -- frames that are not (whole) UDP datagrams -----------------------------------------


def _eth(ip: dpkt.Packet, ethertype: int = dpkt.ethernet.ETH_TYPE_IP) -> bytes:
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, type=ethertype, data=ip))


def _ipv4_udp(payload: bytes, dport: int = 6343, **ip: int) -> dpkt.ip.IP:
    udp = dpkt.udp.UDP(sport=5000, dport=dport, data=payload)
    udp.ulen = len(bytes(udp))
    return dpkt.ip.IP(src=b"\x0a\0\0\x01", dst=b"\x0a\0\0\x02", p=17, data=udp, **ip)


def _eth_ipv6(next_header: int, body: bytes) -> bytes:
    """An IPv6 packet ::1 -> ::2 in an Ethernet frame (VLAN-tagged, as frame_as makes it)."""
    header = struct.pack(">IHBB", 6 << 28, len(body), next_header, 64)
    return frame_as(ETHERNET, header + bytes(15) + b"\x01" + bytes(15) + b"\x02" + body)


def test_skipped_frames_are_counted_by_reason(tmp_path: Path) -> None:
    sflow = b"\x00\x00\x00\x05sflow-ish"
    udp6 = struct.pack(">HHHH", 5000, 6343, 8 + len(sflow), 0) + sflow
    padded = _eth(_ipv4_udp(b"tiny")) + b"\0" * 20 + b"FCS!"  # padding and FCS after IP
    frames = [
        _eth(_ipv4_udp(sflow)),  # yielded
        padded,  # yielded, without the padding
        _eth_ipv6(0, bytes([17, 0]) + bytes(6) + udp6),  # hop-by-hop then UDP: yielded
        _eth(dpkt.ip.IP(p=6, data=dpkt.tcp.TCP(dport=6343))),  # TCP
        _eth(dpkt.arp.ARP(), dpkt.ethernet.ETH_TYPE_ARP),  # not IP
        _eth(_ipv4_udp(sflow, mf=1)),  # first fragment
        _eth(_ipv4_udp(sflow, offset=3)),  # later fragment
        _eth_ipv6(44, bytes(8) + udp6),  # IPv6 fragment header
        _eth(_ipv4_udp(sflow, dport=53)),  # another port
        _eth(_ipv4_udp(sflow))[:-4],  # cut short by a snaplen
        b"\x02" * 10,  # shorter than an Ethernet header
    ]
    packets = [(1_700_000_000 + i, 0, frame) for i, frame in enumerate(frames)]
    reader = read_pcap(write_pcap(tmp_path / "mix.pcap", packets, ETHERNET), port=6343)
    got = list(reader)
    assert [d.payload for d in got] == [sflow, b"tiny", sflow]
    assert got[2].source == "::1" and got[2].destination == "::2"
    stats = reader.stats
    assert (stats.frames, stats.datagrams) == (11, 3)
    assert (stats.not_udp, stats.fragments, stats.wrong_port, stats.truncated) == (2, 3, 1, 2)
    assert stats.unsupported_link == 0


def test_unsupported_link_type_is_counted(tmp_path: Path) -> None:
    ieee80211 = 105
    frames = [(1, 0, f) for _, _, f in original_frames(VLAN_CAPTURE)]
    reader = read_pcap(write_pcap(tmp_path / "wifi.pcap", frames, ieee80211))
    assert list(reader) == []
    assert reader.stats.unsupported_link == len(frames) == 9


# -- damaged files ---------------------------------------------------------------------


def test_missing_file() -> None:
    with pytest.raises(CaptureError, match=r"cannot open .*No such file"):
        read_pcap("/nonexistent/x.pcap")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"\xd4\xc3", "2-byte file"),
        (bytes(range(256)) * 4, "not a pcap or pcapng file"),
        (b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00", "truncated in the file header"),
        (b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x00\x00\x00\x00", "bad byte-order magic"),
        (b"\x0a\x0d\x0d\x0a\x0c\x00\x00\x00\x4d\x3c\x2b\x1a", "block 0xa0d0d0a .* length 12"),
    ],
    ids=["empty", "tiny", "garbage", "short-header", "pcapng-bad-bom", "pcapng-short-shb"],
)
def test_not_a_capture_fails_at_open(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureError, match=reason):
        read_pcap(path)


def _cut(tmp_path: Path, data: bytes, keep: int) -> Path:
    path = tmp_path / "cut"
    path.write_bytes(data[:keep])
    return path


def test_truncated_record_yields_what_came_before(tmp_path: Path) -> None:
    data = capture(IPV4_CAPTURE).read_bytes()
    reader = read_pcap(_cut(tmp_path, data, len(data) - 10))
    got = []
    with pytest.raises(CaptureError, match="truncated in record 153 at offset"):
        got.extend(reader)
    assert len(got) == 152


def test_truncated_record_header(tmp_path: Path) -> None:
    data = capture(IPV6_CAPTURE).read_bytes()
    first_len = struct.unpack_from("<I", data, 24 + 8)[0]
    path = _cut(tmp_path, data, 24 + 16 + first_len + 5)
    with pytest.raises(CaptureError, match="truncated in record 2's header"):
        datagrams(path)


def test_absurd_record_length(tmp_path: Path) -> None:
    data = bytearray(capture(IPV6_CAPTURE).read_bytes())
    struct.pack_into("<I", data, 24 + 8, 0x7FFFFFFF)
    path = tmp_path / "huge.pcap"
    path.write_bytes(data)
    with pytest.raises(CaptureError, match=r"corrupt record 1 .*captured length 2147483647"):
        datagrams(path)


def test_random_bytes_after_a_valid_header(tmp_path: Path) -> None:
    path = tmp_path / "noise.pcap"
    noise = random.Random(6343).randbytes(4096)
    path.write_bytes(capture(IPV6_CAPTURE).read_bytes()[:24] + noise)
    with pytest.raises(CaptureError, match=r"corrupt record|truncated"):
        datagrams(path)


def _pcapng_bytes(frames: int = 3) -> bytes:
    blocks = [section_header("<"), interface_block("<", ETHERNET)]
    for s, us, frame in original_frames(IPV4_CAPTURE)[:frames]:
        blocks.append(enhanced_packet("<", 0, s * 1_000_000 + us, frame))
    return b"".join(blocks)


def test_pcapng_truncated_block(tmp_path: Path) -> None:
    data = _pcapng_bytes()
    got = []
    with pytest.raises(CaptureError, match="truncated in pcapng block 0x6"):
        got.extend(read_pcap(_cut(tmp_path, data, len(data) - 3)))
    assert len(got) == 2


def test_pcapng_length_mismatch(tmp_path: Path) -> None:
    data = bytearray(_pcapng_bytes(1))
    struct.pack_into("<I", data, len(data) - 4, 12345)  # trailing length of the last EPB
    path = tmp_path / "bad.pcapng"
    path.write_bytes(data)
    with pytest.raises(CaptureError, match=r"length .* but trailing length 12345"):
        datagrams(path)


def test_pcapng_packet_on_undeclared_interface(tmp_path: Path) -> None:
    frame = original_frames(IPV4_CAPTURE)[0][2]
    blocks = [section_header("<"), enhanced_packet("<", 0, 0, frame)]
    path = write_pcapng(tmp_path / "x.pcapng", blocks)
    with pytest.raises(CaptureError, match="undeclared interface 0"):
        datagrams(path)


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_corrupted_files_fail_only_with_capture_error(tmp_path: Path, kind: str) -> None:
    """Random byte damage anywhere: every outcome is datagrams or a CaptureError."""
    pristine = capture(VLAN_CAPTURE).read_bytes() if kind == "pcap" else _pcapng_bytes(4)
    rng = random.Random(kind)
    path = tmp_path / "damaged"
    failures = 0
    for _ in range(300):
        data = bytearray(pristine)
        for _ in range(rng.randint(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        path.write_bytes(data[: rng.randrange(len(data) + 1)] if rng.random() < 0.3 else data)
        try:
            datagrams(path)
        except CaptureError:
            failures += 1
    assert failures > 0  # the damage was noticed at least sometimes
