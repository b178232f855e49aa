"""BGP-4 messages on the wire: framing, OPEN, KEEPALIVE, NOTIFICATION, UPDATE.

FlowRT's speaker only originates routes, so this module encodes every message it sends
and decodes only what a router sends back: OPEN (version, AS, hold time, identifier and
capabilities), NOTIFICATION, KEEPALIVE, ROUTE-REFRESH, and UPDATE framing (checked for
consistent lengths, contents not learned). A message that breaks the rules raises
:class:`MessageError` carrying the NOTIFICATION error code and subcode to answer with.

Every message is a 16-byte marker of all ones, a 2-byte length (19 to
:data:`MAX_MESSAGE` bytes; extended messages are not offered) and a 1-byte type.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

MARKER = b"\xff" * 16
HEADER_LEN = 19
MAX_MESSAGE = 4096
"""The largest BGP message (no extended-message capability is offered)."""
VERSION = 4
AS_TRANS = 23456
"""The 2-byte AS a 4-byte AS speaker puts in OPEN and AS_PATH for a 2-byte peer."""

OPEN, UPDATE, NOTIFICATION, KEEPALIVE, ROUTE_REFRESH = 1, 2, 3, 4, 5
MESSAGE_NAMES = {OPEN: "OPEN", UPDATE: "UPDATE", NOTIFICATION: "NOTIFICATION",
                 KEEPALIVE: "KEEPALIVE", ROUTE_REFRESH: "ROUTE-REFRESH"}

AFI_IPV4, AFI_IPV6 = 1, 2
SAFI_UNICAST, SAFI_FLOWSPEC = 1, 133
Family = tuple[int, int]
IPV4_UNICAST: Family = (AFI_IPV4, SAFI_UNICAST)
IPV6_UNICAST: Family = (AFI_IPV6, SAFI_UNICAST)
IPV4_FLOWSPEC: Family = (AFI_IPV4, SAFI_FLOWSPEC)
IPV6_FLOWSPEC: Family = (AFI_IPV6, SAFI_FLOWSPEC)
FAMILY_NAMES = {IPV4_UNICAST: "ipv4", IPV6_UNICAST: "ipv6", IPV4_FLOWSPEC: "flowspec",
                IPV6_FLOWSPEC: "flowspec6"}

CAP_MULTIPROTOCOL, CAP_ROUTE_REFRESH, CAP_AS4 = 1, 2, 65
OPT_CAPABILITIES = 2

# NOTIFICATION error codes and the subcodes this speaker sends
HEADER_ERROR, OPEN_ERROR, UPDATE_ERROR, HOLD_EXPIRED, FSM_ERROR, CEASE = 1, 2, 3, 4, 5, 6
NOT_SYNCHRONIZED, BAD_LENGTH, BAD_TYPE = 1, 2, 3
UNSUPPORTED_VERSION, BAD_PEER_AS, BAD_IDENTIFIER, UNACCEPTABLE_HOLD = 1, 2, 3, 6
MALFORMED_ATTRIBUTES = 1
PEER_DECONFIGURED, ADMIN_SHUTDOWN, CONNECTION_REJECTED, COLLISION = 3, 2, 5, 7
ERROR_NAMES = {HEADER_ERROR: "message header error", OPEN_ERROR: "OPEN message error",
               UPDATE_ERROR: "UPDATE message error", HOLD_EXPIRED: "hold timer expired",
               FSM_ERROR: "finite state machine error", CEASE: "cease"}

# path attributes: type code -> flags (optional 0x80, transitive 0x40, extended length 0x10)
ORIGIN, AS_PATH, NEXT_HOP, MED, LOCAL_PREF = 1, 2, 3, 4, 5
COMMUNITIES, MP_REACH, MP_UNREACH, EXT_COMMUNITIES, AS4_PATH, LARGE_COMMUNITIES = (
    8, 14, 15, 16, 17, 32)
WELL_KNOWN, OPTIONAL_TRANSITIVE, OPTIONAL = 0x40, 0xC0, 0x80
EXTENDED_LENGTH = 0x10
AS_SEQUENCE = 2


class MessageError(ValueError):
    """A peer's message broke the protocol: answer with NOTIFICATION ``code``/``subcode``."""

    def __init__(self, code: int, subcode: int, message: str, data: bytes = b"") -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.data = data


def frame(kind: int, body: bytes) -> bytes:
    """One whole message: marker, length, type, body."""
    length = HEADER_LEN + len(body)
    if length > MAX_MESSAGE:
        raise ValueError(f"BGP message of {length} bytes is over {MAX_MESSAGE}")
    return MARKER + struct.pack("!HB", length, kind) + body


def parse_header(header: bytes) -> tuple[int, int]:
    """(length, type) of a 19-byte header; bad marker, length or type raise MessageError."""
    if header[:16] != MARKER:
        raise MessageError(HEADER_ERROR, NOT_SYNCHRONIZED, "marker is not all ones")
    length, kind = struct.unpack("!HB", header[16:19])
    minimum = {OPEN: 29, UPDATE: 23, NOTIFICATION: 21, KEEPALIVE: 19, ROUTE_REFRESH: 23}
    if kind not in minimum:
        raise MessageError(HEADER_ERROR, BAD_TYPE, f"unknown message type {kind}",
                           bytes([kind]))
    if not minimum[kind] <= length <= MAX_MESSAGE or (kind == KEEPALIVE and length != 19):
        raise MessageError(HEADER_ERROR, BAD_LENGTH,
                           f"{MESSAGE_NAMES[kind]} of impossible length {length}",
                           struct.pack("!H", length))
    return length, kind


# --- OPEN ----------------------------------------------------------------------------------
@dataclass
class Open:
    """An OPEN's content; ``families`` is empty when the peer sent no multiprotocol
    capability (IPv4 unicast only, by the old rules)."""

    asn: int
    hold_time: int
    identifier: str
    families: set[Family] = field(default_factory=set)
    as4: bool = False
    route_refresh: bool = False

    def encode(self) -> bytes:
        caps = b"".join(
            struct.pack("!BBHBB", CAP_MULTIPROTOCOL, 4, afi, 0, safi)
            for afi, safi in sorted(self.families))
        caps += struct.pack("!BB", CAP_ROUTE_REFRESH, 0)
        caps += struct.pack("!BBI", CAP_AS4, 4, self.asn)
        params = struct.pack("!BB", OPT_CAPABILITIES, len(caps)) + caps
        two_byte = self.asn if self.asn <= 0xFFFF else AS_TRANS
        body = struct.pack("!BHH4sB", VERSION, two_byte, self.hold_time,
                           ipaddress.IPv4Address(self.identifier).packed, len(params))
        return frame(OPEN, body + params)


def decode_open(body: bytes) -> Open:
    """A peer's OPEN (the body after the header)."""
    version, two_byte, hold, ident, params_len = struct.unpack("!BHH4sB", body[:10])
    if version != VERSION:
        raise MessageError(OPEN_ERROR, UNSUPPORTED_VERSION, f"BGP version {version}",
                           struct.pack("!H", VERSION))
    if hold in (1, 2):
        raise MessageError(OPEN_ERROR, UNACCEPTABLE_HOLD, f"hold time {hold} s")
    identifier = str(ipaddress.IPv4Address(ident))
    if identifier == "0.0.0.0":
        raise MessageError(OPEN_ERROR, BAD_IDENTIFIER, "BGP identifier 0.0.0.0")
    params = body[10:]
    if len(params) != params_len:
        raise MessageError(OPEN_ERROR, 0, "optional parameters length does not match")
    result = Open(two_byte, hold, identifier)
    pos = 0
    while pos < len(params):
        if pos + 2 > len(params):
            raise MessageError(OPEN_ERROR, 0, "optional parameter cut short")
        kind, length = params[pos], params[pos + 1]
        value = params[pos + 2:pos + 2 + length]
        if len(value) != length:
            raise MessageError(OPEN_ERROR, 0, "optional parameter cut short")
        pos += 2 + length
        if kind == OPT_CAPABILITIES:
            _read_capabilities(value, result)
    if result.as4 and result.asn == AS_TRANS and two_byte != AS_TRANS:
        raise MessageError(OPEN_ERROR, BAD_PEER_AS, "AS and 4-octet AS capability disagree")
    return result


def _read_capabilities(value: bytes, into: Open) -> None:
    pos = 0
    while pos < len(value):
        if pos + 2 > len(value):
            raise MessageError(OPEN_ERROR, 0, "capability cut short")
        code, length = value[pos], value[pos + 1]
        data = value[pos + 2:pos + 2 + length]
        if len(data) != length:
            raise MessageError(OPEN_ERROR, 0, "capability cut short")
        pos += 2 + length
        if code == CAP_MULTIPROTOCOL and length == 4:
            afi, _reserved, safi = struct.unpack("!HBB", data)
            into.families.add((afi, safi))
        elif code == CAP_AS4 and length == 4:
            into.as4 = True
            into.asn = struct.unpack("!I", data)[0]
        elif code == CAP_ROUTE_REFRESH:
            into.route_refresh = True


# --- NOTIFICATION, KEEPALIVE, ROUTE-REFRESH ----------------------------------------------------
def keepalive() -> bytes:
    return frame(KEEPALIVE, b"")


def notification(code: int, subcode: int, data: bytes = b"") -> bytes:
    return frame(NOTIFICATION, struct.pack("!BB", code, subcode) + data[:MAX_MESSAGE - 21])


def decode_notification(body: bytes) -> tuple[int, int, bytes]:
    return body[0], body[1], body[2:]


def describe_error(code: int, subcode: int) -> str:
    return f"{ERROR_NAMES.get(code, f'error {code}')} (subcode {subcode})"


def decode_route_refresh(body: bytes) -> Family:
    afi, _reserved, safi = struct.unpack("!HBB", body[:4])
    return afi, safi


def check_update(body: bytes) -> None:
    """An UPDATE's lengths add up (its routes are not learned: the speaker only sends)."""
    withdrawn = struct.unpack("!H", body[:2])[0]
    if 2 + withdrawn + 2 > len(body):
        raise MessageError(UPDATE_ERROR, MALFORMED_ATTRIBUTES, "withdrawn length too long")
    attrs = struct.unpack("!H", body[2 + withdrawn:4 + withdrawn])[0]
    if 4 + withdrawn + attrs > len(body):
        raise MessageError(UPDATE_ERROR, MALFORMED_ATTRIBUTES, "path attribute length too long")


# --- UPDATE --------------------------------------------------------------------------------
def attribute(type_code: int, flags: int, value: bytes) -> bytes:
    """One path attribute, with the extended-length flag when the value needs it."""
    if len(value) > 255:
        return struct.pack("!BBH", flags | EXTENDED_LENGTH, type_code, len(value)) + value
    return struct.pack("!BBB", flags, type_code, len(value)) + value


def update(withdrawn: bytes = b"", attributes: bytes = b"", nlri: bytes = b"") -> bytes:
    """An UPDATE: IPv4 unicast withdrawals, path attributes, IPv4 unicast NLRI."""
    body = (struct.pack("!H", len(withdrawn)) + withdrawn
            + struct.pack("!H", len(attributes)) + attributes + nlri)
    return frame(UPDATE, body)


def end_of_rib(family: Family) -> bytes:
    """The End-of-RIB marker: an empty UPDATE (IPv4 unicast) or an empty MP_UNREACH."""
    if family == IPV4_UNICAST:
        return update()
    return update(attributes=attribute(MP_UNREACH, OPTIONAL,
                                       struct.pack("!HB", family[0], family[1])))


def prefix_nlri(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bytes:
    """A prefix as NLRI: its length in bits, then only the bytes those bits need."""
    size = (network.prefixlen + 7) // 8
    return bytes([network.prefixlen]) + network.network_address.packed[:size]
