"""Routes a script asks the speaker to announce, and the path attributes they carry.

``bgpAddRoute(router, {prefix, nexthop, communities, localpref, med, origin, aspath})``
is turned into a :class:`Route` here, once, so a bad argument is refused when the script
calls rather than when a session comes up. A plain address is a host route (/32 or
/128); a CIDR prefix is taken as given (host bits must be zero).

Communities are written the way sFlow-RT apps write them: ``"65535:666"``, several
separated by spaces, commas or ``-`` (``"100:300-100:250"``), or an array of such
strings. ``a:b`` is a standard community, ``type:subtype:value`` an extended community
(``128:6:0`` is "traffic-rate 0", the FlowSpec drop action), ``L:a:b:c`` (four parts,
the first ``L``) a large community. The names ``blackhole``, ``no-export``,
``no-advertise`` and ``no-peer`` stand for their well-known communities.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flowrt.bgp.wire import (
    AS4_PATH,
    AS_PATH,
    AS_SEQUENCE,
    AS_TRANS,
    COMMUNITIES,
    EXT_COMMUNITIES,
    LARGE_COMMUNITIES,
    LOCAL_PREF,
    MED,
    NEXT_HOP,
    OPTIONAL,
    OPTIONAL_TRANSITIVE,
    ORIGIN,
    WELL_KNOWN,
    attribute,
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

WELL_KNOWN_COMMUNITIES = {
    "blackhole": (65535 << 16) | 666, "no-export": 0xFFFFFF01,
    "no-advertise": 0xFFFFFF02, "no-export-subconfed": 0xFFFFFF03, "no-peer": 0xFFFFFF04,
}
ORIGINS = {"IGP": 0, "EGP": 1, "INCOMPLETE": 2}
_SEPARATORS = re.compile(r"[\s,]+|(?<=\d)-(?=\d)")


class RouteError(ValueError):
    """A route or FlowSpec definition the speaker cannot announce."""


def parse_prefix(text: Any, what: str = "prefix") -> IPNetwork:
    """``10.0.0.1`` → 10.0.0.1/32, ``2001:db8::/32`` as given; bad text is a RouteError."""
    if not isinstance(text, str) or not text.strip():
        raise RouteError(f"{what} must be an address or CIDR prefix, got {text!r}")
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as err:
        raise RouteError(f"{what} {text!r}: {err}") from None


def parse_address(text: Any, what: str) -> IPAddress:
    try:
        return ipaddress.ip_address(str(text).strip())
    except ValueError:
        raise RouteError(f"{what} must be an IP address, got {text!r}") from None


def _number(value: Any, what: str, low: int, high: int) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise RouteError(f"{what} must be a number, got {value!r}") from None
    if not low <= number <= high:
        raise RouteError(f"{what} must be {low}..{high}, got {number}")
    return number


@dataclass(frozen=True)
class Communities:
    """Standard (32-bit), extended (8-byte) and large (12-byte) communities."""

    standard: tuple[int, ...] = ()
    extended: tuple[bytes, ...] = ()
    large: tuple[tuple[int, int, int], ...] = ()

    def __add__(self, other: Communities) -> Communities:
        return Communities(self.standard + other.standard, self.extended + other.extended,
                           self.large + other.large)

    def attributes(self) -> bytes:
        out = b""
        if self.standard:
            out += attribute(COMMUNITIES, OPTIONAL_TRANSITIVE,
                             b"".join(struct.pack("!I", c) for c in self.standard))
        if self.extended:
            out += attribute(EXT_COMMUNITIES, OPTIONAL_TRANSITIVE, b"".join(self.extended))
        if self.large:
            out += attribute(LARGE_COMMUNITIES, OPTIONAL_TRANSITIVE,
                             b"".join(struct.pack("!III", *c) for c in self.large))
        return out

    def text(self) -> list[str]:
        ext = [f"{e[0]}:{e[1]}:{int.from_bytes(e[2:], 'big')}" for e in self.extended]
        return ([f"{c >> 16}:{c & 0xFFFF}" for c in self.standard] + ext
                + [f"L:{a}:{b}:{c}" for a, b, c in self.large])


def parse_communities(value: Any) -> Communities:
    """See the module docstring for the forms."""
    if value is None or value == "":
        return Communities()
    if isinstance(value, str):
        items = [t for t in _SEPARATORS.split(value.strip()) if t]
    elif isinstance(value, Sequence):
        items = [t for v in value for t in _SEPARATORS.split(str(v).strip()) if t]
    else:
        raise RouteError(f"communities must be a string or an array, got {value!r}")
    standard: list[int] = []
    extended: list[bytes] = []
    large: list[tuple[int, int, int]] = []
    for item in items:
        name = item.lower()
        if name in WELL_KNOWN_COMMUNITIES:
            standard.append(WELL_KNOWN_COMMUNITIES[name])
            continue
        parts = item.split(":")
        if len(parts) == 2:
            high = _number(parts[0], f"community {item}", 0, 0xFFFF)
            standard.append((high << 16) | _number(parts[1], f"community {item}", 0, 0xFFFF))
        elif len(parts) == 3:
            kind = _number(parts[0], f"extended community {item}", 0, 255)
            sub = _number(parts[1], f"extended community {item}", 0, 255)
            val = _number(parts[2], f"extended community {item}", 0, (1 << 48) - 1)
            extended.append(bytes([kind, sub]) + val.to_bytes(6, "big"))
        elif len(parts) == 4 and parts[0].upper() == "L":
            large.append(tuple(  # type: ignore[arg-type]
                _number(p, f"large community {item}", 0, 0xFFFFFFFF) for p in parts[1:]))
        else:
            raise RouteError(f"community {item!r} is not a:b, type:subtype:value or L:a:b:c")
    return Communities(tuple(standard), tuple(extended), tuple(large))


@dataclass(frozen=True)
class PathAttributes:
    """What every announcement carries besides its NLRI and next hop."""

    communities: Communities = field(default_factory=Communities)
    localpref: int | None = None
    med: int | None = None
    origin: int = 0
    aspath: tuple[int, ...] = ()

    def encode(self, local_as: int, ibgp: bool, as4: bool) -> bytes:
        """ORIGIN, AS_PATH (our AS first towards an external peer), MED, LOCAL_PREF
        (internal peers only), communities. A 2-byte peer gets AS_TRANS for 4-byte ASes
        and the true path in AS4_PATH."""
        path = self.aspath if ibgp else (local_as, *self.aspath)
        out = attribute(ORIGIN, WELL_KNOWN, bytes([self.origin]))
        if as4:
            out += attribute(AS_PATH, WELL_KNOWN, _segments(path, "!I"))
        else:
            narrow = tuple(a if a <= 0xFFFF else AS_TRANS for a in path)
            out += attribute(AS_PATH, WELL_KNOWN, _segments(narrow, "!H"))
            if narrow != path:
                out += attribute(AS4_PATH, OPTIONAL_TRANSITIVE, _segments(path, "!I"))
        if self.med is not None:
            out += attribute(MED, OPTIONAL, struct.pack("!I", self.med))
        if ibgp:
            pref = 100 if self.localpref is None else self.localpref
            out += attribute(LOCAL_PREF, WELL_KNOWN, struct.pack("!I", pref))
        return out + self.communities.attributes()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "origin": next(k for k, v in ORIGINS.items() if v == self.origin)}
        if self.aspath:
            out["aspath"] = "-".join(str(a) for a in self.aspath)
        if self.localpref is not None:
            out["localpref"] = self.localpref
        if self.med is not None:
            out["med"] = self.med
        if self.communities.text():
            out["communities"] = " ".join(self.communities.text())
        return out


def _segments(path: tuple[int, ...], fmt: str) -> bytes:
    out = b""
    for start in range(0, len(path), 255):
        chunk = path[start:start + 255]
        out += bytes([AS_SEQUENCE, len(chunk)]) + b"".join(struct.pack(fmt, a) for a in chunk)
    return out


def parse_attributes(spec: Mapping[str, Any]) -> PathAttributes:
    """The attributes shared by routes and flow rules (``communities`` or the older
    ``community``, ``localpref``, ``med``, ``origin``, ``aspath`` as ``1-2-3``)."""
    communities = parse_communities(spec.get("communities", spec.get("community")))
    localpref = spec.get("localpref")
    med = spec.get("med")
    origin = str(spec.get("origin") or "IGP").upper()
    if origin not in ORIGINS:
        raise RouteError(f"origin must be IGP, EGP or INCOMPLETE, got {spec.get('origin')!r}")
    aspath_text = spec.get("aspath")
    aspath: tuple[int, ...] = ()
    if aspath_text not in (None, ""):
        aspath = tuple(_number(a, "aspath", 1, 0xFFFFFFFF)
                       for a in re.split(r"[\s,-]+", str(aspath_text).strip()) if a)
    return PathAttributes(
        communities=communities,
        localpref=None if localpref in (None, "") else _number(localpref, "localpref", 0,
                                                               0xFFFFFFFF),
        med=None if med in (None, "") else _number(med, "med", 0, 0xFFFFFFFF),
        origin=ORIGINS[origin], aspath=aspath)


@dataclass(frozen=True)
class Route:
    """One unicast route to announce: prefix, next hop(s), attributes."""

    prefix: IPNetwork
    nexthop: IPAddress
    attributes: PathAttributes
    nexthop_linklocal: ipaddress.IPv6Address | None = None

    def to_json(self) -> dict[str, Any]:
        out = {"prefix": str(self.prefix), "nexthop": str(self.nexthop),
               **self.attributes.to_json()}
        if self.nexthop_linklocal is not None:
            out["nexthoplinklocal"] = str(self.nexthop_linklocal)
        return out


def parse_route(spec: Any) -> Route:
    """``bgpAddRoute``'s second argument (see the module docstring)."""
    if not isinstance(spec, Mapping):
        raise RouteError(f"route must be an object {{prefix, nexthop, ...}}, got {spec!r}")
    prefix = parse_prefix(spec.get("prefix"))
    if spec.get("nexthop") in (None, ""):
        raise RouteError("route needs a nexthop")
    nexthop = parse_address(spec["nexthop"], "nexthop")
    if prefix.version == 6 and nexthop.version == 4:
        nexthop = ipaddress.IPv6Address(f"::ffff:{nexthop}")
    if prefix.version == 4 and nexthop.version == 6:
        raise RouteError(f"IPv4 prefix {prefix} needs an IPv4 nexthop, got {nexthop}")
    linklocal = None
    if spec.get("nexthoplinklocal") not in (None, ""):
        address = parse_address(spec["nexthoplinklocal"], "nexthoplinklocal")
        if not isinstance(address, ipaddress.IPv6Address) or prefix.version != 6:
            raise RouteError("nexthoplinklocal is an IPv6 address, for IPv6 prefixes")
        linklocal = address
    return Route(prefix, nexthop, parse_attributes(spec), linklocal)


__all__ = ["NEXT_HOP", "Communities", "PathAttributes", "Route", "RouteError",
           "parse_communities", "parse_prefix", "parse_route"]
