"""Sampled Ethernet/IPv4/TCP headers with public addresses and real vendors' MACs, for the
enrichment tests (country:, asn:, oui:, dns:)."""

from __future__ import annotations

import ipaddress
import socket
import struct

SOURCES = (("8.8.8.8", "001B21000001"), ("1.1.1.1", "000C29000002"),
           ("8.8.4.4", "001B21000003"), ("10.0.0.1", "020000000004"))
"""(IPv4 source, source MAC): Intel (00:1B:21), VMware (00:0C:29), a local MAC."""
DESTINATION = "192.0.2.99"
DESTINATION_MAC = "020000000099"


def frame(src: str, src_mac: str, dst: str = DESTINATION, frame_length: int = 1518) -> bytes:
    """The first 54 bytes of an Ethernet/IPv4/TCP frame."""
    eth = bytes.fromhex(DESTINATION_MAC) + bytes.fromhex(src_mac) + struct.pack(">H", 0x0800)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, frame_length - 18, 1, 0x4000, 64,
                     socket.IPPROTO_TCP, 0, ipaddress.IPv4Address(src).packed,
                     ipaddress.IPv4Address(dst).packed)
    tcp = struct.pack(">HHIIBBHHH", 40000, 443, 1, 1, 5 << 4, 0x10, 65535, 0, 0)
    return eth + ip + tcp


def public_frames() -> list[bytes]:
    return [frame(src, mac) for src, mac in SOURCES]
