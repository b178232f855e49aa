"""Sampled packet headers (sampled_header.header) to sFlow-RT flow keys.

The engine keys flows by names such as ``ipsource`` or ``tcpflags``; this module turns
the first bytes of a sampled packet into those names, with sFlow-RT's value formats, so
the engine can use them as they are. It runs once per flow sample, so it is written for
speed:

* ``locate`` answers the common shapes (Ethernet, optional 802.1Q tag, IPv4 without
  options or IPv6 without extension headers, TCP or UDP) with a shared constant and
  walks the header only for the rest;
* every key is one Python expression (``LAYER_FIELDS``), compiled at import into the
  extractors, and on first sight of a layer string ("e4t", "eq6u", ...) into a function
  that builds parse_header's whole dict in one display: no call per field or layer;
* address and MAC text is memoised (bounded dicts): formatting costs several times a
  lookup and the same few addresses recur. Results never depend on the caches.

Two ways in, which always agree (tests check it on every capture and truncation):

* ``parse_header(protocol, header, frame_length, stripped) -> dict``: every key the
  header yields. Use it when a flow definition needs many keys, or for display.
* ``locate(protocol, header) -> Layers`` once per sample, then
  ``EXTRACTORS[key](header, layers)`` for each key a flow definition needs (or
  ``extractor(key)`` for any suffix depth). Cheaper when only a few keys are used.

``Layers`` is a plain tuple ``(kinds, offsets, aux)``: ``kinds`` is a str with one
character per protocol layer found, outermost first (``"e4t"`` = Ethernet, IPv4, TCP;
see the ``ETH``... constants), ``offsets[i]`` is where layer ``i`` starts in the header
and ``aux[i]`` a per-kind extra (Ethernet: the EtherType after VLAN tags and LLC/SNAP,
-1 if unknown; IPv6: the upper-layer protocol after the extension headers, 256 if the
chain is cut off, plus 512 times the offset of a fragment header if there is one; GRE:
the offset of its key, 0 without). A VLAN layer's offset is that of its TCI.

Values: ``str`` for addresses (dotted IPv4, RFC 5952 IPv6), MACs (12 upper-case hex
digits), flag strings (``ipflags`` "001", ``tcpflags`` 9 bits NS..FIN, ``ipecn`` "10")
and booleans ("true"/"false", as sFlow-RT prints them); ``int`` for everything numeric.
A key whose bytes are not in the header is absent (``EXTRACTORS`` return None).

Naming rules:

* A layer kind seen again deeper in the packet (a tunnel's inner header, a second VLAN
  tag, a second MPLS label) gets a depth suffix on all its keys: ``ipsource`` is the
  outermost IPv4 header, ``ipsource.1`` the next one, ``macsource.1`` the tenant MAC of a
  VXLAN packet, ``vlan.1`` the inner tag of a QinQ frame. This is sFlow-RT's convention
  for tunnels, applied uniformly per kind.
* ``stack`` lists the layers with sFlow-RT's tokens joined by dots: eth, q (any 802.1Q
  or 802.1ad tag), mpls, arp, ip, ip6, tcp, udp, icmp, icmp6, gre, vxlan, geneve, esp;
  e.g. ``eth.q.ip.udp.vxlan.eth.ip6.icmp6``. IPv6 extension headers are skipped, not
  listed.
* ``ip_offset`` is the offset of the outermost IPv4/IPv6 header (sFlow-RT's sflow-test
  checks ``bytes == ip_offset + ipbytes + stripped``); ``ipbytes`` is the IPv4 total
  length field, ``ip6bytes`` the IPv6 payload length plus the 40-byte header.
* ``isbroadcast``/``ismulticast``/``isunicast`` look at the destination MAC; exactly
  one of them is "true" (broadcast is not counted as multicast).
* ``ip6nexthdr`` is the upper-layer protocol after the extension headers (what
  ``ipprotocol`` is for IPv4); ``ip6fragm`` is "yes"/"no" (the M flag) and
  ``ip6fragoffset`` the offset in 8-byte units, both only with a fragment header.
* A non-first fragment (IPv4 offset > 0, IPv6 fragment offset > 0) has no L4 keys.
* FlowRT choices where sFlow-RT's behaviour is not public: ``mplslabel`` (one per label
  entry, ``mplslabel.1`` for the second), ``grekey`` (GRE key when present; ``grevsid``
  only for NVGRE, i.e. Transparent Ethernet Bridging with a key), the
  ``icmpunreachable*`` values (unreachable address as text, protocol and port as ints).

Truncation never raises: a layer is recorded only when its fixed header is complete
(TCP and UDP need only their 4 port bytes, ICMP its type and code); fields beyond the
end are left out. Parsing also stops at anything unknown, at a non-first fragment and
after ``MAX_LAYERS`` layers.
"""

from __future__ import annotations

import ast
import socket
import struct
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from flowrt.sflow.codegen import run_generated

# sampled_header.header_protocol (sFlow v5 sampled_header, "header_protocol")
HEADER_ETHERNET = 1
HEADER_IPV4 = 11
HEADER_IPV6 = 12
HEADER_MPLS = 13

# EtherTypes
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_TEB = 0x6558  # transparent Ethernet bridging (GRE/NVGRE, GENEVE)
ETHERTYPE_VLAN = 0x8100
ETHERTYPE_IPV6 = 0x86DD
ETHERTYPE_MPLS = 0x8847
ETHERTYPE_MPLS_MULTICAST = 0x8848
ETHERTYPE_QINQ = 0x88A8
ETHERTYPE_QINQ_OLD = 0x9100
ETHER_MAX_LENGTH = 1500  # type fields up to this are 802.3 lengths (LLC follows)
LLC_SNAP = b"\xaa\xaa\x03"

# IP protocol numbers
IPPROTO_HOPOPTS = 0
IPPROTO_ICMP = 1
IPPROTO_IPIP = 4
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_IPV6 = 41
IPPROTO_ROUTING = 43
IPPROTO_FRAGMENT = 44
IPPROTO_GRE = 47
IPPROTO_ESP = 50
IPPROTO_AH = 51
IPPROTO_ICMPV6 = 58
IPPROTO_DSTOPTS = 60
IPPROTO_MOBILITY = 135

UDP_PORT_VXLAN = 4789
UDP_PORT_GENEVE = 6081
VXLAN_FLAG_VNI = 0x08
GRE_FLAG_CHECKSUM, GRE_FLAG_KEY, GRE_FLAG_SEQUENCE, GRE_VERSION_MASK = 0x8000, 0x2000, 0x1000, 7
ICMP_ECHO_REPLY, ICMP_UNREACHABLE, ICMP_ECHO = 0, 3, 8

# Layer kinds: one character each, so a packet's layers form a short str that
# ``str.find`` searches at C speed.
ETH, VLAN, MPLS, ARP = "e", "q", "m", "a"
IP, IP6, TCP, UDP, ICMP, ICMP6 = "4", "6", "t", "u", "c", "C"
GRE, VXLAN, GENEVE, ESP = "g", "x", "G", "s"
STACK_TOKENS = {
    ETH: "eth", VLAN: "q", MPLS: "mpls", ARP: "arp", IP: "ip", IP6: "ip6", TCP: "tcp",
    UDP: "udp", ICMP: "icmp", ICMP6: "icmp6", GRE: "gre", VXLAN: "vxlan",
    GENEVE: "geneve", ESP: "esp",
}  # fmt: skip
MAX_LAYERS = 24

Layers = tuple[str, Sequence[int], Sequence[int]]
Extractor = Callable[[bytes, Layers], object]
IP6_UNKNOWN_NEXT = 256  # aux value: extension header chain cut off
_IP6_FRAG_SHIFT = 9

_ETHERTYPE_KIND = {
    ETHERTYPE_IPV4: IP, ETHERTYPE_IPV6: IP6, ETHERTYPE_ARP: ARP,
    ETHERTYPE_MPLS: MPLS, ETHERTYPE_MPLS_MULTICAST: MPLS,
}  # fmt: skip
_TUNNEL_KIND = {**_ETHERTYPE_KIND, ETHERTYPE_TEB: ETH}  # GRE / GENEVE payload types
_VLAN_TPIDS = frozenset((ETHERTYPE_VLAN, ETHERTYPE_QINQ, ETHERTYPE_QINQ_OLD))
_IPPROTO_KIND = {
    IPPROTO_ICMP: ICMP, IPPROTO_IPIP: IP, IPPROTO_TCP: TCP, IPPROTO_UDP: UDP,
    IPPROTO_IPV6: IP6, IPPROTO_GRE: GRE, IPPROTO_ESP: ESP, IPPROTO_ICMPV6: ICMP6,
}  # fmt: skip
_IP6_EXT_8 = frozenset((IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS, IPPROTO_MOBILITY))

_U16: Callable[[bytes, int], tuple[int]] = struct.Struct("!H").unpack_from
_U32: Callable[[bytes, int], tuple[int]] = struct.Struct("!I").unpack_from
_U16x2: Callable[[bytes, int], tuple[int, int]] = struct.Struct("!HH").unpack_from
_inet_ntoa = socket.inet_ntoa
_inet_ntop = socket.inet_ntop
_AF_INET6 = socket.AF_INET6

_BROADCAST = b"\xff" * 6
_TRUE, _FALSE = "true", "false"
_TCP_FLAGS = tuple(format(i, "09b") for i in range(512))
_IP_FLAGS = tuple(format(i, "03b") for i in range(8))
_ECN = ("00", "01", "10", "11")
_NO_LAYERS: Layers = ("", (), ())


# Most samples are plain Ethernet (maybe one VLAN tag) / IPv4 without options or IPv6
# without extension headers / TCP or UDP: ``locate`` answers those with a constant.
_E4T: Layers = (ETH + IP + TCP, (0, 14, 34), (ETHERTYPE_IPV4, 0, 0))
_E4U: Layers = (ETH + IP + UDP, (0, 14, 34), (ETHERTYPE_IPV4, 0, 0))
_EQ4T: Layers = (ETH + VLAN + IP + TCP, (0, 14, 18, 38), (ETHERTYPE_IPV4, 0, 0, 0))
_EQ4U: Layers = (ETH + VLAN + IP + UDP, (0, 14, 18, 38), (ETHERTYPE_IPV4, 0, 0, 0))
_E6T: Layers = (ETH + IP6 + TCP, (0, 14, 54), (ETHERTYPE_IPV6, IPPROTO_TCP, 0))
_E6U: Layers = (ETH + IP6 + UDP, (0, 14, 54), (ETHERTYPE_IPV6, IPPROTO_UDP, 0))
_TUNNEL_PORTS = frozenset((UDP_PORT_VXLAN, UDP_PORT_GENEVE))
_IP4_NO_OPTIONS = 0x45


def locate(protocol: int, header: bytes) -> Layers:
    """Find the protocol layers of a sampled header: the one walk every key relies on.

    Returns the same layers as :func:`walk_layers`, but answers the common shapes
    without walking (and without allocating).
    """
    b = header
    if protocol == HEADER_ETHERNET and len(b) >= 38:
        etype = b[12] << 8 | b[13]
        if etype == ETHERTYPE_IPV4:
            if b[14] == _IP4_NO_OPTIONS and not (b[20] & 0x1F or b[21]):
                proto = b[23]
                if proto == IPPROTO_TCP:
                    return _E4T
                if proto == IPPROTO_UDP and (b[36] << 8 | b[37]) not in _TUNNEL_PORTS:
                    return _E4U
        elif etype == ETHERTYPE_IPV6:
            if len(b) >= 58 and b[14] >> 4 == 6:
                proto = b[20]
                if proto == IPPROTO_TCP:
                    return _E6T
                if proto == IPPROTO_UDP and (b[56] << 8 | b[57]) not in _TUNNEL_PORTS:
                    return _E6U
        elif etype == ETHERTYPE_VLAN and (
            len(b) >= 42
            and b[16] == 0x08  # inner EtherType 0x0800
            and b[17] == 0x00
            and b[18] == _IP4_NO_OPTIONS
            and not (b[24] & 0x1F or b[25])
        ):
            proto = b[27]
            if proto == IPPROTO_TCP:
                return _EQ4T
            if proto == IPPROTO_UDP and (b[40] << 8 | b[41]) not in _TUNNEL_PORTS:
                return _EQ4U
    return walk_layers(protocol, header)


def walk_layers(protocol: int, header: bytes) -> Layers:
    """The general layer walk behind :func:`locate` (exposed so tests can compare)."""
    n = len(header)
    kind: str | None
    if protocol == HEADER_ETHERNET:
        kind = ETH
    elif protocol == HEADER_IPV4:
        kind = IP
    elif protocol == HEADER_IPV6:
        kind = IP6
    elif protocol == HEADER_MPLS:
        kind = MPLS
    else:
        return _NO_LAYERS
    kinds = ""
    offs: list[int] = []
    aux: list[int] = []
    off = 0
    while len(kinds) < MAX_LAYERS:
        if kind == ETH:
            if off + 14 > n:
                break
            kinds += ETH
            offs.append(off)
            aux.append(-1)
            i_eth = len(aux) - 1
            p = off + 12
            (etype,) = _U16(header, p)
            while etype in _VLAN_TPIDS:
                if p + 6 > n or len(kinds) >= MAX_LAYERS:
                    etype = -1
                    break
                kinds += VLAN
                offs.append(p + 2)
                aux.append(0)
                p += 4
                (etype,) = _U16(header, p)
            off = p + 2
            if 0 <= etype <= ETHER_MAX_LENGTH:  # 802.3 length: only LLC/SNAP names a type
                if off + 8 <= n and header[off : off + 3] == LLC_SNAP:
                    (etype,) = _U16(header, off + 6)
                    off += 8
                else:
                    etype = -1
            aux[i_eth] = etype
            kind = _ETHERTYPE_KIND.get(etype)
            if kind is None:
                break
        elif kind == IP:
            if off + 20 > n or header[off] >> 4 != 4:
                break
            kinds += IP
            offs.append(off)
            aux.append(0)
            hlen = (header[off] & 0x0F) << 2
            if hlen < 20 or _U16(header, off + 6)[0] & 0x1FFF:  # bad IHL / later fragment
                break
            kind = _IPPROTO_KIND.get(header[off + 9])
            if kind is None:
                break
            off += hlen
        elif kind == IP6:
            if off + 40 > n or header[off] >> 4 != 6:
                break
            nxt = header[off + 6]
            p = off + 40
            frag = 0
            first_fragment = True
            while True:
                if nxt in _IP6_EXT_8:
                    if p + 2 > n:
                        nxt = IP6_UNKNOWN_NEXT
                        break
                    nxt, p = header[p], p + ((header[p + 1] + 1) << 3)
                elif nxt == IPPROTO_FRAGMENT:
                    if p + 8 > n:
                        nxt = IP6_UNKNOWN_NEXT
                        break
                    frag = p
                    nxt = header[p]
                    p += 8
                    if _U16(header, frag + 2)[0] >> 3:
                        first_fragment = False
                        break
                elif nxt == IPPROTO_AH:
                    if p + 2 > n:
                        nxt = IP6_UNKNOWN_NEXT
                        break
                    nxt, p = header[p], p + ((header[p + 1] + 2) << 2)
                else:
                    break
            kinds += IP6
            offs.append(off)
            aux.append(nxt | frag << _IP6_FRAG_SHIFT)
            if not first_fragment:
                break
            kind = _IPPROTO_KIND.get(nxt)
            if kind is None:
                break
            off = p
        elif kind == TCP:
            if off + 4 <= n:
                kinds += TCP
                offs.append(off)
                aux.append(0)
            break
        elif kind == UDP:
            if off + 4 > n:
                break
            kinds += UDP
            offs.append(off)
            aux.append(0)
            (dport,) = _U16(header, off + 2)
            if dport == UDP_PORT_VXLAN:
                kind = VXLAN
            elif dport == UDP_PORT_GENEVE:
                kind = GENEVE
            else:
                break
            off += 8
        elif kind == VXLAN:
            if off + 8 > n or not header[off] & VXLAN_FLAG_VNI:
                break
            kinds += VXLAN
            offs.append(off)
            aux.append(0)
            kind = ETH
            off += 8
        elif kind == GENEVE:
            if off + 8 > n or header[off] >> 6:  # version 0 only
                break
            kinds += GENEVE
            offs.append(off)
            aux.append(0)
            kind = _TUNNEL_KIND.get(_U16(header, off + 2)[0])
            if kind is None:
                break
            off += 8 + ((header[off] & 0x3F) << 2)
        elif kind == GRE:
            if off + 4 > n:
                break
            flags, ptype = _U16x2(header, off)
            if flags & GRE_VERSION_MASK:  # version 1 is PPTP's enhanced GRE
                break
            p = off + 4
            if flags & GRE_FLAG_CHECKSUM:
                p += 4
            key = 0
            if flags & GRE_FLAG_KEY:
                key = p
                p += 4
            if flags & GRE_FLAG_SEQUENCE:
                p += 4
            if p > n:
                break
            kinds += GRE
            offs.append(off)
            aux.append(key)
            kind = _TUNNEL_KIND.get(ptype)
            if kind is None:
                break
            off = p
        elif kind == MPLS:
            if off + 4 > n:
                break
            kinds += MPLS
            offs.append(off)
            aux.append(0)
            bottom = header[off + 2] & 1
            off += 4
            if bottom:  # no type field: guess the payload from its first nibble
                if off >= n:
                    break
                version = header[off] >> 4
                if version == 4:
                    kind = IP
                elif version == 6:
                    kind = IP6
                else:
                    break
        elif kind in (ARP, ICMP, ICMP6):
            if off + (8 if kind == ARP else 2) <= n:
                kinds += kind
                offs.append(off)
                aux.append(0)
            break
        else:  # ESP
            if off + 8 <= n:
                kinds += ESP
                offs.append(off)
                aux.append(0)
            break
    return kinds, offs, aux


_STACKS: dict[str, str] = {}
_STACK_CACHE_LIMIT = 4096


def stack_of(kinds: str) -> str:
    """``stack`` key for a layer string, e.g. "e4t" -> "eth.ip.tcp" (memoised)."""
    stack = _STACKS.get(kinds)
    if stack is None:
        stack = ".".join([STACK_TOKENS[k] for k in kinds])
        if len(_STACKS) < _STACK_CACHE_LIMIT:
            _STACKS[kinds] = stack
    return stack


# ---------------------------------------------------------------------------------------
# Fields. Each key is one Python expression over ``b`` (the header), ``o`` (the layer's
# offset) and ``a`` (its aux value). The expressions are compiled, once at import, into
# the extractors and the per-layer fillers of ``parse_header``, so both always compute a
# key the same way and neither pays a function call per field. An expression that can
# yield None (the bytes are missing, or the key does not apply) is marked optional.


# Address and MAC text, memoised: formatting costs several times a dict lookup and the
# same few addresses recur in almost every sample. Invisible to callers (same values),
# bounded (cleared when full), per process.
_TEXT_CACHE_LIMIT = 1 << 16
_IP4_TEXT: dict[bytes, str] = {}
_IP6_TEXT: dict[bytes, str] = {}
_MAC_TEXT: dict[bytes, str] = {}


def _ip4_text(raw: bytes) -> str:
    text = _inet_ntoa(raw)
    if len(_IP4_TEXT) >= _TEXT_CACHE_LIMIT:
        _IP4_TEXT.clear()
    _IP4_TEXT[raw] = text
    return text


def _ip6_text(raw: bytes) -> str:
    text = _inet_ntop(_AF_INET6, raw)
    if len(_IP6_TEXT) >= _TEXT_CACHE_LIMIT:
        _IP6_TEXT.clear()
    _IP6_TEXT[raw] = text
    return text


def _mac_text(raw: bytes) -> str:
    text = raw.hex().upper()
    if len(_MAC_TEXT) >= _TEXT_CACHE_LIMIT:
        _MAC_TEXT.clear()
    _MAC_TEXT[raw] = text
    return text


# Expression templates for the cached texts (``{}`` is the start offset expression).
_MAC = "(_MAC_TEXT.get(k := b[{0} : {0} + 6]) or _mac_text(k))"
_IP4 = "(_IP4_TEXT.get(k := b[{0} : {0} + 4]) or _ip4_text(k))"
_IP6 = "(_IP6_TEXT.get(k := b[{0} : {0} + 16]) or _ip6_text(k))"


def _arp_ipv4(b: bytes, o: int) -> bool:
    """True if an ARP packet is Ethernet/IPv4 and its addresses are in the header."""
    return len(b) >= o + 28 and b[o + 2 : o + 6] == b"\x08\x00\x06\x04"


def _ip6_fragm(b: bytes, a: int) -> str | None:
    frag = a >> _IP6_FRAG_SHIFT
    if not frag:
        return None
    return "yes" if b[frag + 3] & 1 else "no"


def _ip6_fragoffset(b: bytes, a: int) -> int | None:
    frag = a >> _IP6_FRAG_SHIFT
    return _U16(b, frag + 2)[0] >> 3 if frag else None


def _icmp_seqno(b: bytes, o: int) -> int | None:
    if b[o] in (ICMP_ECHO, ICMP_ECHO_REPLY) and o + 8 <= len(b):
        return _U16(b, o + 6)[0]
    return None


def _unreachable_ip(b: bytes, o: int, code: int) -> int:
    """Offset of the IPv4 header quoted by an ICMP unreachable with ``code``, or -1."""
    q = o + 8
    if b[o] != ICMP_UNREACHABLE or b[o + 1] != code or q + 20 > len(b) or b[q] >> 4 != 4:
        return -1
    return q


def _unreachable_address(b: bytes, o: int, code: int) -> str | None:
    q = _unreachable_ip(b, o, code)
    return _inet_ntoa(b[q + 16 : q + 20]) if q >= 0 else None


def _unreachable_protocol(b: bytes, o: int) -> int | None:
    q = _unreachable_ip(b, o, ICMP_UNREACH_PROTOCOL)
    return b[q + 9] if q >= 0 else None


def _unreachable_port(b: bytes, o: int) -> int | None:
    q = _unreachable_ip(b, o, ICMP_UNREACH_PORT)
    if q < 0 or b[q + 9] not in (IPPROTO_TCP, IPPROTO_UDP):
        return None
    p = q + ((b[q] & 0x0F) << 2)
    return _U16(b, p + 2)[0] if p + 4 <= len(b) else None


def _gre_vsid(b: bytes, o: int, a: int) -> int | None:
    """NVGRE virtual subnet id: the key's upper 24 bits, when the payload is Ethernet."""
    if a and _U16(b, o + 2)[0] == ETHERTYPE_TEB:
        return _U32(b, a)[0] >> 8
    return None


ICMP_UNREACH_NET, ICMP_UNREACH_HOST, ICMP_UNREACH_PROTOCOL, ICMP_UNREACH_PORT = 0, 1, 2, 3
OPTIONAL = True

# kind -> ((key, expression, optional), ...)
LAYER_FIELDS: dict[str, tuple[tuple[str, str, bool], ...]] = {
    ETH: (
        ("macdestination", _MAC.format("o"), False),
        ("macsource", _MAC.format("o + 6"), False),
        ("ethernetprotocol", "a if a >= 0 else None", OPTIONAL),
        ("isbroadcast", "_TRUE if b[o] == 0xFF and b[o : o + 6] == _BROADCAST else _FALSE", False),
        ("ismulticast", "_TRUE if b[o] & 1 and b[o : o + 6] != _BROADCAST else _FALSE", False),
        ("isunicast", "_FALSE if b[o] & 1 else _TRUE", False),
    ),
    VLAN: (
        ("vlan", "(b[o] & 0x0F) << 8 | b[o + 1]", False),
        ("priority", "b[o] >> 5", False),
    ),
    MPLS: (("mplslabel", "b[o] << 12 | b[o + 1] << 4 | b[o + 2] >> 4", False),),
    ARP: (
        ("arpoperation", "b[o + 6] << 8 | b[o + 7]", False),
        ("arpipsender", _IP4.format("o + 14") + " if _arp_ipv4(b, o) else None", OPTIONAL),
        ("arpiptarget", _IP4.format("o + 24") + " if _arp_ipv4(b, o) else None", OPTIONAL),
    ),
    IP: (
        ("ipsource", _IP4.format("o + 12"), False),
        ("ipdestination", _IP4.format("o + 16"), False),
        ("ipprotocol", "b[o + 9]", False),
        ("iptos", "b[o + 1]", False),
        ("ipdscp", "b[o + 1] >> 2", False),
        ("ipecn", "_ECN[b[o + 1] & 3]", False),
        ("ipttl", "b[o + 8]", False),
        ("ipflags", "_IP_FLAGS[b[o + 6] >> 5]", False),
        ("ipfragoffset", "(b[o + 6] & 0x1F) << 8 | b[o + 7]", False),
        ("ipbytes", "b[o + 2] << 8 | b[o + 3]", False),
    ),
    IP6: (
        ("ip6source", _IP6.format("o + 8"), False),
        ("ip6destination", _IP6.format("o + 24"), False),
        ("ip6nexthdr", "a & 0x1FF if a & 0x1FF != IP6_UNKNOWN_NEXT else None", OPTIONAL),
        ("ip6tos", "(b[o] & 0x0F) << 4 | b[o + 1] >> 4", False),
        ("ip6dscp", "(b[o] & 0x0F) << 2 | b[o + 1] >> 6", False),
        ("ip6ecn", "_ECN[b[o + 1] >> 4 & 3]", False),
        ("ip6flowlabel", "(b[o + 1] & 0x0F) << 16 | b[o + 2] << 8 | b[o + 3]", False),
        ("ip6bytes", "(b[o + 4] << 8 | b[o + 5]) + 40", False),
        ("ip6fragm", "_ip6_fragm(b, a) if a >> _IP6_FRAG_SHIFT else None", OPTIONAL),
        ("ip6fragoffset", "_ip6_fragoffset(b, a) if a >> _IP6_FRAG_SHIFT else None", OPTIONAL),
    ),
    TCP: (
        ("tcpsourceport", "b[o] << 8 | b[o + 1]", False),
        ("tcpdestinationport", "b[o + 2] << 8 | b[o + 3]", False),
        (
            "tcpflags",
            "_TCP_FLAGS[(b[o + 12] & 1) << 8 | b[o + 13]] if o + 14 <= len(b) else None",
            OPTIONAL,
        ),
    ),
    UDP: (
        ("udpsourceport", "b[o] << 8 | b[o + 1]", False),
        ("udpdestinationport", "b[o + 2] << 8 | b[o + 3]", False),
    ),
    ICMP: (
        ("icmptype", "b[o]", False),
        ("icmpcode", "b[o + 1]", False),
        ("icmpseqno", "_icmp_seqno(b, o)", OPTIONAL),
        (
            "icmpunreachablenet",
            "_unreachable_address(b, o, ICMP_UNREACH_NET) if b[o] == ICMP_UNREACHABLE else None",
            OPTIONAL,
        ),
        (
            "icmpunreachablehost",
            "_unreachable_address(b, o, ICMP_UNREACH_HOST) if b[o] == ICMP_UNREACHABLE else None",
            OPTIONAL,
        ),
        (
            "icmpunreachableprotocol",
            "_unreachable_protocol(b, o) if b[o] == ICMP_UNREACHABLE else None",
            OPTIONAL,
        ),
        (
            "icmpunreachableport",
            "_unreachable_port(b, o) if b[o] == ICMP_UNREACHABLE else None",
            OPTIONAL,
        ),
    ),
    ICMP6: (("icmp6type", "b[o]", False), ("icmp6code", "b[o + 1]", False)),
    GRE: (
        ("grekey", "_U32(b, a)[0] if a else None", OPTIONAL),
        ("grevsid", "_gre_vsid(b, o, a)", OPTIONAL),
    ),
    VXLAN: (("vxlanvni", "b[o + 4] << 16 | b[o + 5] << 8 | b[o + 6]", False),),
    GENEVE: (("genevevni", "b[o + 4] << 16 | b[o + 5] << 8 | b[o + 6]", False),),
    ESP: (),
}


def key_name(name: str, depth: int) -> str:
    """The flow key of field ``name`` in the ``depth``-th layer of its kind (0 = outermost)."""
    return f"{name}.{depth}" if depth else name


def _compile(name: str, src: str) -> Callable[..., Any]:
    env: dict[str, object] = run_generated(src, "packet", name, dict(globals()))
    return env[name]  # type: ignore[return-value]


_Filler = Callable[[dict[str, object], bytes, int, int], None]
_FILLERS: dict[tuple[str, int], _Filler] = {}


def _filler(kind: str, depth: int) -> _Filler:
    """``fill(out, b, o, a)``: write every key of one layer into ``out`` (memoised)."""
    fill = _FILLERS.get((kind, depth))
    if fill is None:
        lines = ["def fill(out, b, o, a):"]
        for name, expr, optional in LAYER_FIELDS[kind]:
            key = key_name(name, depth)
            if optional:
                lines += [f"    v = {expr}", "    if v is not None:", f"        out[{key!r}] = v"]
            else:
                lines.append(f"    out[{key!r}] = {expr}")
        lines.append("    return None")
        fill = _FILLERS[(kind, depth)] = _compile("fill", "\n".join(lines))
    return fill


def _layer_extractor(kind: str, depth: int, expr: str) -> Extractor:
    """``get(b, layers)``: one field of the ``depth``-th layer of ``kind``, or None."""
    lines = ["def get(b, layers):", "    kinds = layers[0]", f"    i = kinds.find({kind!r})"]
    for _ in range(depth):
        lines += ["    if i < 0:", "        return None", f"    i = kinds.find({kind!r}, i + 1)"]
    lines += [
        "    if i < 0:",
        "        return None",
        "    o = layers[1][i]",
        "    a = layers[2][i]",
        f"    return {expr}",
    ]
    return _compile("get", "\n".join(lines))


def _first_ip(kinds: str) -> int:
    """Index of the outermost IPv4 or IPv6 layer, -1 if none."""
    i4 = kinds.find(IP)
    i6 = kinds.find(IP6)
    if i4 < 0:
        return i6
    return i4 if i6 < 0 or i4 < i6 else i6


def _depths(kinds: str) -> list[int]:
    """Depth of each layer among the layers of its kind: "eqq4" -> [0, 0, 1, 0]."""
    seen: dict[str, int] = {}
    depths = []
    for kind in kinds:
        depth = seen.get(kind, 0)
        seen[kind] = depth + 1
        depths.append(depth)
    return depths


def _parse_layers(
    kinds: str, b: bytes, offs: Sequence[int], aux: Sequence[int], frame_length: int, stripped: int
) -> dict[str, object]:
    """parse_header for any layer string, layer by layer (the uncompiled fallback)."""
    out: dict[str, object] = {"bytes": frame_length, "stripped": stripped}
    if not kinds:
        return out
    out["stack"] = stack_of(kinds)
    ip_at = _first_ip(kinds)
    if ip_at >= 0:
        out["ip_offset"] = offs[ip_at]
    for kind, depth, o, a in zip(kinds, _depths(kinds), offs, aux, strict=True):
        _filler(kind, depth)(out, b, o, a)
    return out


class _BindLayer(ast.NodeTransformer):
    """Rename ``o``/``a`` in a field expression to layer ``i``'s ``o{i}``/``a{i}``."""

    def __init__(self, i: int) -> None:
        self.names = {"o": f"o{i}", "a": f"a{i}"}

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = self.names.get(node.id, node.id)
        return node


def _bind(expr: str, i: int) -> str:
    return ast.unparse(_BindLayer(i).visit(ast.parse(expr, mode="eval")))


_Parser = Callable[[bytes, Sequence[int], Sequence[int], int, int], dict[str, object]]
_PARSERS: dict[str, _Parser] = {}
_PARSER_CACHE_LIMIT = 256  # distinct layer strings compiled; the rest use _parse_layers


def _parser(kinds: str) -> _Parser:
    """parse_header's body for one layer string, compiled into a single dict display.

    Real traffic has a handful of layer strings ("e4t", "eq6u", ...); building each
    result dict in one expression, with constant keys and no call per layer, is what
    makes parse_header cheap. Past the cache limit, fall back to the generic walk.
    """
    if len(_PARSERS) >= _PARSER_CACHE_LIMIT:
        return partial(_parse_layers, kinds)
    count = len(kinds)
    entries = ["'bytes': frame_length", "'stripped': stripped"]
    optional = []
    if kinds:
        entries.append(f"'stack': {stack_of(kinds)!r}")
        ip_at = _first_ip(kinds)
        if ip_at >= 0:
            entries.append(f"'ip_offset': o{ip_at}")
    for i, (kind, depth) in enumerate(zip(kinds, _depths(kinds), strict=True)):
        for name, expr, is_optional in LAYER_FIELDS[kind]:
            key = key_name(name, depth)
            if is_optional:
                optional += [f"    v = {_bind(expr, i)}", f"    if v is not None: out[{key!r}] = v"]
            else:
                entries.append(f"{key!r}: {_bind(expr, i)}")
    lines = ["def parse(b, offs, aux, frame_length, stripped):"]
    if count:
        lines.append("    " + "".join(f"o{i}, " for i in range(count)) + "= offs")
        lines.append("    " + "".join(f"a{i}, " for i in range(count)) + "= aux")
    lines.append("    out = {" + ", ".join(entries) + "}")
    lines += optional
    lines.append("    return out")
    parse = _PARSERS[kinds] = _compile("parse", "\n".join(lines))
    return parse


def parse_header(
    protocol: int, header: bytes, frame_length: int, stripped: int
) -> dict[str, object]:
    """Every flow key a sampled header yields, named and formatted as sFlow-RT does.

    ``bytes`` (= ``frame_length``, the packet's size on the wire) and ``stripped`` come
    from the record, not from the header bytes: they are the only keys here that
    ``EXTRACTORS`` does not have.
    """
    kinds, offs, aux = locate(protocol, header)
    parse = _PARSERS.get(kinds) or _parser(kinds)
    return parse(header, offs, aux, frame_length, stripped)


def _stack(b: bytes, layers: Layers) -> str | None:
    return stack_of(layers[0]) if layers[0] else None


def _ip_offset(b: bytes, layers: Layers) -> int | None:
    i = _first_ip(layers[0])
    return layers[1][i] if i >= 0 else None


_FIELD_BY_NAME = {
    name: (kind, expr) for kind, fields in LAYER_FIELDS.items() for name, expr, _ in fields
}
_EXTRACTOR_DEPTHS = 3  # EXTRACTORS holds depths 0..2; extractor() builds any other


def extractor(key: str) -> Extractor | None:
    """Extractor for any header key, any depth suffix included (``ipsource.3``).

    None for a key the header cannot provide, so the engine looks elsewhere (sample
    fields, extended records).
    """
    found = EXTRACTORS.get(key)
    if found is not None:
        return found
    name, dot, suffix = key.partition(".")
    field = _FIELD_BY_NAME.get(name)
    if field is None or not dot or not suffix.isdigit() or suffix[0] == "0":
        return None
    return _layer_extractor(field[0], int(suffix), field[1])


EXTRACTORS: dict[str, Extractor] = {"stack": _stack, "ip_offset": _ip_offset}
EXTRACTORS.update(
    (key_name(name, depth), _layer_extractor(kind, depth, expr))
    for kind, fields in LAYER_FIELDS.items()
    for name, expr, _ in fields
    for depth in range(_EXTRACTOR_DEPTHS)
)
