"""sflowtool's own reading of a sampled packet header (the lines after ``headerBytes``).

sflowtool does not print a sampled header through a general packet dissector: it walks
Ethernet, 802.1Q tags, 802.2/SNAP, IPv4/IPv6 and the first bytes of ICMP/TCP/UDP with
a handful of fixed checks, and prints what it found as it goes. Users compare our text
with theirs line by line, so this module reproduces that walk, including its quirks:

* ``IPSize`` is ``frame_length - stripped - offset_of_IP``, printed as a *signed*
  32-bit number (a stripped count larger than the frame gives a negative size);
* ``IPID`` is the IPv4 identification read in host (little-endian) byte order, i.e.
  byte-swapped, because sflowtool forgets ``ntohs`` there;
* the IPv4 check after the VLAN tags compares the *whole* header length with 20;
* ``TCPFlags`` is read at offset 13 of the TCP header even when only 8 bytes of it
  were sampled. sflowtool then reads whatever follows the header in the datagram; we
  read 0 there (the only place our output can differ, and only for such headers).

It returns ``(key, value)`` pairs so the caller can add the ``discarded_`` prefix of
discard samples; a ``None`` key marks a free-text line that takes no prefix.
"""

from __future__ import annotations

from ipaddress import IPv6Address

Line = tuple[str | None, str]

# header_protocol values (sFlow v5 sampled_header)
PROTO_ETHERNET = 1
PROTO_IPV4 = 11
PROTO_IPV6 = 12
PROTO_80211 = 15
# protocols sflowtool knows by name but does not decode ("NO_DECODE")
NO_DECODE_PROTOCOLS = frozenset({2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 14, 16, 17})

ETHERNET_HEADER = 14
IPV4_MIN_HEADER = 20
IPV6_HEADER = 40
WIFI_MIN_HEADER = 24
MAX_8023_LENGTH = 1500  # an EtherType field at or below this is an 802.3 length
VLAN_TPIDS = frozenset({0x8100, 0x88A8, 0x9100, 0x9200, 0x9300})
IPX_TYPES = frozenset({0x0200, 0x0201, 0x0600})
IPX_HEADER, IPX_MAX_DATA = 30, 546
ETHERTYPE_IPV4, ETHERTYPE_IPV6 = 0x0800, 0x86DD
# IPv6 extension headers sflowtool steps over: hop-by-hop, routing, fragment, auth, dest
IPV6_SKIPPED_EXTENSIONS = frozenset({0, 43, 44, 51, 60})
IP_ICMP, IP_TCP, IP_UDP = 1, 6, 17
L4_MIN_BYTES = 8  # sflowtool decodes ICMP/TCP/UDP only if 8 header bytes remain


class _Bytes:
    """A header that reads as 0 past its end, where sflowtool would read on into the
    datagram (see the module docstring)."""

    __slots__ = ("data", "end")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.end = len(data)

    def u8(self, i: int) -> int:
        return self.data[i] if 0 <= i < self.end else 0

    def u16(self, i: int) -> int:
        return (self.u8(i) << 8) | self.u8(i + 1)


def mac_text(raw: bytes) -> str:
    """Twelve lowercase hex digits, no separators: sflowtool's MAC format."""
    return raw.hex()


def ipv6_text(raw: bytes | str) -> str:
    """Eight groups of four lowercase hex digits: sflowtool never compresses zeros."""
    return IPv6Address(raw).exploded


def signed32(value: int) -> int:
    """A 32-bit quantity as C's ``%d`` prints it."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


def header_lines(protocol: int, frame_length: int, stripped: int, header: bytes) -> list[Line]:
    """What sflowtool prints after ``headerBytes`` for one sampled_header record."""
    out: list[Line] = []
    buf = _Bytes(header)
    ipv4_at: int | None = None
    ipv6_at: int | None = None
    if protocol == PROTO_ETHERNET:
        ipv4_at, ipv6_at = _link_layer(buf, out)
    elif protocol == PROTO_IPV4:
        ipv4_at = 0
    elif protocol == PROTO_IPV6:
        ipv6_at = 0
    elif protocol == PROTO_80211:
        _wifi_mac(buf, out)
    elif protocol in NO_DECODE_PROTOCOLS:
        out.append((None, f"NO_DECODE headerProtocol={signed32(protocol)}"))
    else:
        out.append((None, f"UNKNOWN headerProtocol={signed32(protocol)}"))
    if ipv4_at is not None:
        out.append(("IPSize", str(signed32(frame_length - stripped - ipv4_at))))
        _ipv4(buf, ipv4_at, out)
    elif ipv6_at is not None:
        out.append(("IPSize", str(signed32(frame_length - stripped - ipv6_at))))
        _ipv6(buf, ipv6_at, out)
    return out


def _link_layer(buf: _Bytes, out: list[Line]) -> tuple[int | None, int | None]:
    """Ethernet, 802.1Q/QinQ, 802.2/SNAP; returns the offset of an IPv4 or IPv6 header."""
    if buf.end < ETHERNET_HEADER:
        return None, None
    out.append(("dstMAC", mac_text(buf.data[0:6])))
    out.append(("srcMAC", mac_text(buf.data[6:12])))
    type_len = buf.u16(12)
    ptr = ETHERNET_HEADER
    depth = 0
    while type_len in VLAN_TPIDS:
        if buf.end - ptr < 4:
            return None, None
        tci = buf.u16(ptr)
        suffix = f".{depth}" if depth else ""
        out.append((f"decodedVLAN{suffix}", str(tci & 0x0FFF)))
        out.append((f"decodedPriority{suffix}", str(tci >> 13)))
        type_len = buf.u16(ptr + 2)
        ptr += 4
        depth += 1
    if buf.end < IPV4_MIN_HEADER:
        return None, None
    if type_len in IPX_TYPES:
        ipx_checksum = buf.u8(ptr) == 0xFF and buf.u8(ptr + 1) == 0xFF
        ipx_len = buf.u16(ptr + 2)
        if ipx_checksum and IPX_HEADER <= ipx_len <= IPX_HEADER + IPX_MAX_DATA:
            return None, None
    if type_len <= MAX_8023_LENGTH:
        if (buf.u8(ptr), buf.u8(ptr + 1), buf.u8(ptr + 2)) == (0xAA, 0xAA, 0x03):
            ptr += 3
            oui = (buf.u8(ptr), buf.u8(ptr + 1), buf.u8(ptr + 2))
            if oui != (0, 0, 0):
                out.append(("VSNAP_OUI", "-".join(f"{b:02X}" for b in oui)))
                return None, None
            type_len = buf.u16(ptr + 3)
            ptr += 5
        elif buf.u8(ptr) == 0x06 and buf.u8(ptr + 1) == 0x06 and buf.u8(ptr + 2) & 0x01:
            ptr += 3  # IP over 802.2
            type_len = ETHERTYPE_IPV4
        else:
            return None, None
    out.append(("ethernet_type", str(type_len)))
    if type_len == ETHERTYPE_IPV4:
        first = buf.u8(ptr)
        if buf.end - ptr < IPV4_MIN_HEADER or first >> 4 != 4 or first & 0x0F < 5:
            return None, None
        return ptr, None
    if type_len == ETHERTYPE_IPV6 and buf.u8(ptr) >> 4 == 6:
        return None, ptr
    return None, None


def _wifi_mac(buf: _Bytes, out: list[Line]) -> None:
    """802.11 data frames: source/destination/transmitter/receiver MACs, no IP decode."""
    if buf.end < WIFI_MIN_HEADER:
        return
    fc = buf.u8(0) | (buf.u8(1) << 8)
    if (fc >> 2) & 3 != 2:  # only data frames carry addresses sflowtool prints
        return
    to_ds, from_ds = (fc >> 8) & 1, (fc >> 9) & 1
    addr1, addr2, addr3 = buf.data[4:10], buf.data[10:16], buf.data[16:22]
    if to_ds:
        dst = addr3
        src = bytes(buf.u8(24 + i) for i in range(6)) if from_ds else addr2
    else:
        dst = addr1
        src = addr3 if from_ds else addr2
    out.append(("srcMAC", mac_text(src)))
    out.append(("dstMAC", mac_text(dst)))
    out.append(("txMAC", mac_text(addr2)))
    out.append(("rxMAC", mac_text(addr1)))


def _ipv4(buf: _Bytes, ptr: int, out: list[Line]) -> None:
    if buf.end - ptr < IPV4_MIN_HEADER:
        return
    d = buf.data
    out.append(("ip.tot_len", str(buf.u16(ptr + 2))))
    out.append(("srcIP", ".".join(str(b) for b in d[ptr + 12 : ptr + 16])))
    out.append(("dstIP", ".".join(str(b) for b in d[ptr + 16 : ptr + 20])))
    protocol = d[ptr + 9]
    out.append(("IPProtocol", str(protocol)))
    out.append(("IPTOS", str(d[ptr + 1])))
    out.append(("IPTTL", str(d[ptr + 8])))
    out.append(("IPID", str(d[ptr + 4] | (d[ptr + 5] << 8))))  # sic: host byte order
    fragment_offset = buf.u16(ptr + 6) & 0x1FFF
    if fragment_offset:
        out.append(("IPFragmentOffset", str(fragment_offset)))
        return
    header_bytes = (d[ptr] & 0x0F) * 4
    if buf.end - ptr < header_bytes:
        return
    _layer4(buf, ptr + header_bytes, protocol, out)


def _ipv6(buf: _Bytes, ptr: int, out: list[Line]) -> None:
    if buf.end - ptr < IPV6_HEADER:
        return
    d = buf.data
    version = d[ptr] >> 4
    if version != 6:
        out.append((None, f"header decode error: unexpected IP version: {version}"))
        return
    out.append(("IPTOS", str(((d[ptr] & 0x0F) << 4) + (d[ptr + 1] >> 4))))
    label = ((d[ptr + 1] & 0x0F) << 16) + (d[ptr + 2] << 8) + d[ptr + 3]
    out.append(("IP6_label", f"0x{label:x}"))
    payload_len = buf.u16(ptr + 4)
    out.append(("IPV6_payloadLen", str(payload_len) if payload_len else "<jumbo>"))
    next_header = d[ptr + 6]
    out.append(("IPTTL", str(d[ptr + 7])))
    out.append(("srcIP6", ipv6_text(d[ptr + 8 : ptr + 24])))
    out.append(("dstIP6", ipv6_text(d[ptr + 24 : ptr + 40])))
    ptr += IPV6_HEADER
    while next_header in IPV6_SKIPPED_EXTENSIONS:
        out.append(("IP6HeaderExtension", str(next_header)))
        next_header = buf.u8(ptr)
        ptr += 8 * (buf.u8(ptr + 1) + 1)
        if ptr > buf.end:
            return
    out.append(("IPProtocol", str(next_header)))
    _layer4(buf, ptr, next_header, out)


def _layer4(buf: _Bytes, ptr: int, protocol: int, out: list[Line]) -> None:
    if ptr > buf.end - L4_MIN_BYTES:
        return
    if protocol == IP_ICMP:
        out.append(("ICMPType", str(buf.u8(ptr))))
        out.append(("ICMPCode", str(buf.u8(ptr + 1))))
    elif protocol == IP_TCP:
        out.append(("TCPSrcPort", str(buf.u16(ptr))))
        out.append(("TCPDstPort", str(buf.u16(ptr + 2))))
        out.append(("TCPFlags", str(buf.u8(ptr + 13))))
    elif protocol == IP_UDP:
        out.append(("UDPSrcPort", str(buf.u16(ptr))))
        out.append(("UDPDstPort", str(buf.u16(ptr + 2))))
        out.append(("UDPBytes", str(buf.u16(ptr + 4))))
