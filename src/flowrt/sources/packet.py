"""Captured frames to UDP datagrams: the link, IP and UDP layers of a capture.

A capture file stores whole frames, but the collector only wants the UDP payload and
who sent it. This module peels the layers by hand with ``struct`` (a capture replay
touches every frame, and building dpkt's per-packet objects costs ten times more) and
counts every frame it cannot use, by reason, so a replay can say what it skipped
instead of silently yielding fewer datagrams.

Layers understood: Ethernet (with any number of 802.1Q / 802.1ad tags), Linux cooked
capture v1 and v2, BSD loopback (null and OpenBSD loop, either byte order), raw IP;
IPv4 and IPv6 (skipping hop-by-hop, routing and destination-options headers); UDP.
Fragments are counted, not reassembled: sFlow agents keep datagrams under the path
MTU, so a fragment almost always means something else is on the wire.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from typing import NamedTuple

# Link-layer header types (tcpdump.org/linktypes.html, LINKTYPE_* values in files).
LINKTYPE_NULL = 0  # BSD loopback: 4-byte address family in the writer's byte order
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101  # bare IPv4 or IPv6, version in the first nibble
LINKTYPE_LOOP = 108  # OpenBSD loopback: 4-byte address family, big-endian
LINKTYPE_LINUX_SLL = 113  # Linux cooked capture v1, 16-byte header
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276  # Linux cooked capture v2, 20-byte header

# EtherTypes
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_VLAN_TAGS = frozenset({0x8100, 0x88A8, 0x9100})  # 802.1Q, 802.1ad, old QinQ

ETHERNET_HEADER = 14
VLAN_TAG = 4
SLL_HEADER = 16
SLL_PROTOCOL_OFFSET = 14
SLL2_HEADER = 20
NULL_HEADER = 4

# Address family values found in loopback headers. AF_INET is 2 everywhere; AF_INET6
# differs by the OS that wrote the file (Linux 10, NetBSD/OpenBSD 24, FreeBSD 28,
# macOS 30), so all are accepted.
NULL_AF_INET = 2
NULL_AF_INET6 = frozenset({10, 24, 28, 30})

IPV4_MIN_HEADER = 20
IPV4_FRAGMENT_MASK = 0x3FFF  # more-fragments flag + fragment offset
IPV6_HEADER = 40
IPV6_EXTENSIONS = frozenset({0, 43, 60})  # hop-by-hop, routing, destination options
IPV6_FRAGMENT = 44
IPPROTO_UDP = 17
UDP_HEADER = 8

_H = struct.Struct(">H")
_HH = struct.Struct(">HH")
_HHH = struct.Struct(">HHH")
_I_LE = struct.Struct("<I")
_I_BE = struct.Struct(">I")
_inet_ntop = socket.inet_ntop
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6


class UdpPacket(NamedTuple):
    """The addressing and payload of one UDP datagram found in a frame."""

    source: str
    source_port: int
    destination: str
    destination_port: int
    payload: bytes


@dataclass(slots=True)
class FrameStats:
    """What happened to the frames offered to :func:`udp_from_frame`, by outcome."""

    frames: int = 0  # frames examined
    datagrams: int = 0  # UDP datagrams returned
    not_udp: int = 0  # not IP, or IP but not UDP (ARP, TCP, ICMP, ...)
    fragments: int = 0  # IPv4 or IPv6 fragments (not reassembled)
    wrong_port: int = 0  # UDP to another destination port than the one asked for
    truncated: int = 0  # cut short by the snapshot length, or a malformed header
    unsupported_link: int = 0  # a link-layer type this module does not read


def udp_from_frame(
    linktype: int, frame: bytes, stats: FrameStats, port: int | None = None
) -> UdpPacket | None:
    """The UDP datagram carried by ``frame``, or None (and a count in ``stats``) if none.

    ``port`` keeps only datagrams sent to that destination port.
    """
    stats.frames += 1
    size = len(frame)
    version = 0  # 4 or 6 once the network layer is known; 0 means "read the nibble"
    if linktype == LINKTYPE_ETHERNET:
        if size < ETHERNET_HEADER:
            stats.truncated += 1
            return None
        (ethertype,) = _H.unpack_from(frame, 12)
        off = ETHERNET_HEADER
        while ethertype in ETHERTYPE_VLAN_TAGS:
            if size < off + VLAN_TAG:
                stats.truncated += 1
                return None
            (ethertype,) = _H.unpack_from(frame, off + 2)
            off += VLAN_TAG
        version = _ip_version_of_ethertype(ethertype)
    elif linktype == LINKTYPE_LINUX_SLL:
        if size < SLL_HEADER:
            stats.truncated += 1
            return None
        version = _ip_version_of_ethertype(_H.unpack_from(frame, SLL_PROTOCOL_OFFSET)[0])
        off = SLL_HEADER
    elif linktype == LINKTYPE_LINUX_SLL2:
        if size < SLL2_HEADER:
            stats.truncated += 1
            return None
        version = _ip_version_of_ethertype(_H.unpack_from(frame, 0)[0])
        off = SLL2_HEADER
    elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        off = 0
    elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if size < NULL_HEADER:
            stats.truncated += 1
            return None
        family = _I_BE.unpack_from(frame, 0)[0]
        if linktype == LINKTYPE_NULL and family > 0xFFFF:
            # Written in the other byte order than big-endian: families are small numbers.
            family = _I_LE.unpack_from(frame, 0)[0]
        version = 4 if family == NULL_AF_INET else 6 if family in NULL_AF_INET6 else -1
        off = NULL_HEADER
    else:
        stats.unsupported_link += 1
        return None
    if version < 0:
        stats.not_udp += 1
        return None
    if off >= size:
        stats.truncated += 1
        return None
    if version == 0:
        version = frame[off] >> 4
    if version == 4:
        return _udp_in_ipv4(frame, off, stats, port)
    if version == 6:
        return _udp_in_ipv6(frame, off, stats, port)
    stats.not_udp += 1
    return None


def _ip_version_of_ethertype(ethertype: int) -> int:
    if ethertype == ETHERTYPE_IPV4:
        return 4
    if ethertype == ETHERTYPE_IPV6:
        return 6
    return -1


def _udp_in_ipv4(frame: bytes, off: int, stats: FrameStats, port: int | None) -> UdpPacket | None:
    size = len(frame)
    if size < off + IPV4_MIN_HEADER:
        stats.truncated += 1
        return None
    header_len = (frame[off] & 0x0F) * 4
    total_len, _, flags_fragment = _HHH.unpack_from(frame, off + 2)
    if header_len < IPV4_MIN_HEADER:
        stats.truncated += 1
        return None
    if flags_fragment & IPV4_FRAGMENT_MASK:
        stats.fragments += 1
        return None
    if frame[off + 9] != IPPROTO_UDP:
        stats.not_udp += 1
        return None
    # total_len bounds the packet (Ethernet pads short frames; some captures add an
    # FCS); 0 is what segmentation offload leaves in locally captured packets.
    end = off + total_len if total_len else size
    packet = _udp(frame, off + header_len, min(end, size), end, stats, port)
    if packet is None:
        return None
    return UdpPacket(
        _inet_ntop(_AF_INET, frame[off + 12 : off + 16]),
        packet[0],
        _inet_ntop(_AF_INET, frame[off + 16 : off + 20]),
        packet[1],
        packet[2],
    )


def _udp_in_ipv6(frame: bytes, off: int, stats: FrameStats, port: int | None) -> UdpPacket | None:
    size = len(frame)
    if size < off + IPV6_HEADER:
        stats.truncated += 1
        return None
    (payload_len,) = _H.unpack_from(frame, off + 4)
    next_header = frame[off + 6]
    end = off + IPV6_HEADER + payload_len if payload_len else size  # 0: jumbogram
    l4 = off + IPV6_HEADER
    while next_header in IPV6_EXTENSIONS:
        if size < l4 + 2:
            stats.truncated += 1
            return None
        next_header, ext_len = frame[l4], frame[l4 + 1]
        l4 += (ext_len + 1) * 8
    if next_header == IPV6_FRAGMENT:
        stats.fragments += 1
        return None
    if next_header != IPPROTO_UDP:
        stats.not_udp += 1
        return None
    packet = _udp(frame, l4, min(end, size), end, stats, port)
    if packet is None:
        return None
    return UdpPacket(
        _inet_ntop(_AF_INET6, frame[off + 8 : off + 24]),
        packet[0],
        _inet_ntop(_AF_INET6, frame[off + 24 : off + 40]),
        packet[1],
        packet[2],
    )


def _udp(
    frame: bytes, off: int, captured_end: int, ip_end: int, stats: FrameStats, port: int | None
) -> tuple[int, int, bytes] | None:
    """(source port, destination port, payload) of the UDP header at ``off``."""
    if captured_end < off + UDP_HEADER:
        stats.truncated += 1
        return None
    source_port, destination_port = _HH.unpack_from(frame, off)
    if port is not None and destination_port != port:
        stats.wrong_port += 1
        return None
    (udp_len,) = _H.unpack_from(frame, off + 4)
    if udp_len == 0 and ip_end - off > 0xFFFF:
        udp_len = ip_end - off  # IPv6 jumbogram (RFC 2675): the length lives in IP
    if udp_len < UDP_HEADER or off + udp_len > captured_end:
        stats.truncated += 1
        return None
    stats.datagrams += 1
    return source_port, destination_port, frame[off + UDP_HEADER : off + udp_len]
