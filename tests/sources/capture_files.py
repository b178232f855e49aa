"""Writers for the capture variants no real sFlow capture in tests/data uses.

Every capture in tests/data is little-endian classic pcap over Ethernet. These helpers
re-frame the same packets as other link types and file formats, independently of the
reader under test (the layouts are from the pcap-savefile and pcapng specs and
tcpdump.org/linktypes.html), so a test can check the reader yields byte-identical
payloads whatever the framing.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from pathlib import Path

ETHERTYPE_IPV4, ETHERTYPE_IPV6 = 0x0800, 0x86DD
VLAN_TPIDS = (0x8100, 0x88A8)

# link types
NULL, ETHERNET, RAW, LOOP, SLL, IPV4, IPV6, SLL2 = 0, 1, 101, 108, 113, 228, 229, 276

BSD_AF_INET, MACOS_AF_INET6 = 2, 30


def ip_packet(ethernet_frame: bytes) -> bytes:
    """The IP packet inside an Ethernet frame (skipping any VLAN tags)."""
    (ethertype,) = struct.unpack_from(">H", ethernet_frame, 12)
    off = 14
    while ethertype in VLAN_TPIDS:
        (ethertype,) = struct.unpack_from(">H", ethernet_frame, off + 2)
        off += 4
    return ethernet_frame[off:]


def _ethertype(ip: bytes) -> int:
    return ETHERTYPE_IPV4 if ip[0] >> 4 == 4 else ETHERTYPE_IPV6


def frame_as(linktype: int, ip: bytes, *, little_endian_null: bool = True) -> bytes:
    """``ip`` framed for ``linktype``."""
    if linktype == ETHERNET:  # QinQ: 802.1ad outer tag, 802.1Q inner tag
        return (
            bytes.fromhex("020000000001 020000000002")
            + struct.pack(">HHHH", 0x88A8, 100, 0x8100, 200)
            + struct.pack(">H", _ethertype(ip))
            + ip
        )
    if linktype == SLL:  # packet type 0 (to us), ARPHRD_ETHER, 6-byte address
        return struct.pack(">HHH8sH", 0, 1, 6, b"\x02\0\0\0\0\1", _ethertype(ip)) + ip
    if linktype == SLL2:  # protocol, reserved, ifindex, ARPHRD_ETHER, type, addr len
        return struct.pack(">HHIHBB8s", _ethertype(ip), 0, 7, 1, 0, 6, b"\x02\0\0\0\0\1") + ip
    if linktype in (NULL, LOOP):
        family = BSD_AF_INET if ip[0] >> 4 == 4 else MACOS_AF_INET6
        order = "<" if linktype == NULL and little_endian_null else ">"
        return struct.pack(order + "I", family) + ip
    if linktype in (RAW, IPV4, IPV6):
        return ip
    raise ValueError(f"no framing for link type {linktype}")


def write_pcap(
    path: Path,
    packets: Iterable[tuple[int, int, bytes]],
    linktype: int,
    *,
    big_endian: bool = False,
    nano: bool = False,
    snaplen: int = 262144,
) -> Path:
    """Classic pcap of ``(seconds, fraction, frame)`` (fraction in µs, or ns if ``nano``)."""
    order = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for seconds, fraction, frame in packets:
        out.append(struct.pack(order + "IIII", seconds, fraction, len(frame), len(frame)))
        out.append(frame)
    path.write_bytes(b"".join(out))
    return path


def _block(order: str, block_type: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(order + "II", block_type, length) + body + struct.pack(order + "I", length)


def _option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def section_header(order: str) -> bytes:
    """An SHB with unknown section length (-1) and one comment option."""
    body = struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1)
    body += _option(order, 1, b"written by the flowrt tests") + _option(order, 0, b"")
    return _block(order, 0x0A0D0D0A, body)


def interface_block(
    order: str, linktype: int, *, tsresol: int | None = None, tsoffset: int | None = None,
    snaplen: int = 0,
) -> bytes:
    """An IDB, optionally with if_tsresol (9) and if_tsoffset (14)."""
    body = struct.pack(order + "HHI", linktype, 0, snaplen)
    body += _option(order, 2, b"eth0")  # if_name, an option the reader must step over
    if tsresol is not None:
        body += _option(order, 9, bytes([tsresol]))
    if tsoffset is not None:
        body += _option(order, 14, struct.pack(order + "q", tsoffset))
    return _block(order, 1, body + _option(order, 0, b""))


def enhanced_packet(order: str, interface: int, ticks: int, frame: bytes) -> bytes:
    body = struct.pack(
        order + "IIIII", interface, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame)
    )
    return _block(order, 6, body + frame)


def simple_packet(order: str, frame: bytes) -> bytes:
    return _block(order, 3, struct.pack(order + "I", len(frame)) + frame)


def statistics_block(order: str, interface: int) -> bytes:
    """An interface statistics block: not a packet, to be skipped."""
    return _block(order, 5, struct.pack(order + "III", interface, 0, 0))


def write_pcapng(path: Path, blocks: Sequence[bytes]) -> Path:
    path.write_bytes(b"".join(blocks))
    return path
