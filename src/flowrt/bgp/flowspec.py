"""FlowSpec rules: sFlow-RT's ``{match, then}`` objects as flow specification NLRI and
traffic-filtering actions, for IPv4 and IPv6.

``match`` keys (each becomes one NLRI component, components sorted by type):
``destination`` and ``source`` (an address = a host prefix, or CIDR), ``protocol``
(next header for IPv6), ``port``, ``destination-port``, ``source-port``, ``icmp-type``,
``icmp-code``, ``tcp-flags``, ``length`` (packet length), ``dscp``, ``fragment``,
``flow-label`` (IPv6) and ``version`` (``4`` or ``6``; otherwise taken from the
addresses, IPv4 when there are none).

Numeric values are ``[op]number`` terms joined by ``&`` (and) and ``,`` or ``|``
(or), with ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=`` (``=`` when omitted), or a
range ``a-b``: ``"=17"``, ``">=137&<=139,=8080"``, ``"1024-65535"``. Bitmask values
(``tcp-flags`` letters ``FSRPAUECN``: FIN SYN RST PSH ACK URG ECE CWR NS; ``fragment``
letters ``DIFL``: don't-fragment, is-fragment, first, last) are terms like ``=SA`` (all
these bits set, no others required off), ``SA`` (any of them), ``!SA`` (none) and
``!=SA`` (not all), joined the same way.

``then`` keys (each becomes an extended community): ``traffic-rate`` (bytes per second,
``0`` drops), ``traffic-action`` (``sample``, ``terminal``), ``traffic-marking`` (a
DSCP number or name: ``le``, ``be``, ``ef``, ``af11``...``af43``, ``cs0``...``cs7``),
``redirect-as`` (``AS2:value``), ``redirect-as4`` (``AS4:value``), ``redirect-ip``
(``IPv4:value``), ``redirect-nexthop`` (the rule's next hop becomes that address),
``redirect-action-ip`` (redirect-to-IPv4 community) and ``communities`` (any of the
forms in :mod:`flowrt.bgp.routes`).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flowrt.bgp.routes import (
    IPAddress,
    PathAttributes,
    RouteError,
    parse_address,
    parse_attributes,
    parse_communities,
    parse_prefix,
)

MAX_NLRI = 4095
"""The longest flow specification NLRI the 2-byte length form can carry."""
MAX_TERMS = 32
"""Operator terms per component: a bound on what one script call can ask for."""

DESTINATION, SOURCE, PROTOCOL, PORT, DEST_PORT, SOURCE_PORT = 1, 2, 3, 4, 5, 6
ICMP_TYPE, ICMP_CODE, TCP_FLAGS, LENGTH, DSCP, FRAGMENT, FLOW_LABEL = 7, 8, 9, 10, 11, 12, 13
NUMERIC_KEYS = {"protocol": PROTOCOL, "port": PORT, "destination-port": DEST_PORT,
                "source-port": SOURCE_PORT, "icmp-type": ICMP_TYPE, "icmp-code": ICMP_CODE,
                "length": LENGTH, "dscp": DSCP, "flow-label": FLOW_LABEL}
NUMERIC_LIMITS = {PROTOCOL: 255, PORT: 65535, DEST_PORT: 65535, SOURCE_PORT: 65535,
                  ICMP_TYPE: 255, ICMP_CODE: 255, LENGTH: 65535, DSCP: 63,
                  FLOW_LABEL: 0xFFFFF}
TCP_FLAG_BITS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20,
                 "E": 0x40, "C": 0x80, "N": 0x100}
FRAGMENT_BITS = {"D": 0x01, "I": 0x02, "F": 0x04, "L": 0x08}
KNOWN_MATCH = {"destination", "source", "tcp-flags", "fragment", "version", *NUMERIC_KEYS}

# operator bytes
END, AND = 0x80, 0x40
LT, GT, EQ = 0x04, 0x02, 0x01
NOT, MATCH = 0x02, 0x01
_NUMERIC_OPS = {"=": EQ, "==": EQ, "!=": LT | GT, "<": LT, "<=": LT | EQ, ">": GT,
                ">=": GT | EQ}
_TERM = re.compile(r"^(==|!=|<=|>=|=|<|>)?\s*(\d+)$")
_RANGE = re.compile(r"^(\d+)\s*-\s*(\d+)$")

DSCP_NAMES = {"be": 0, "default": 0, "le": 1, "ef": 46, "va": 44,
              **{f"cs{n}": n * 8 for n in range(8)},
              **{f"af{c}{d}": c * 8 + d * 2 for c in range(1, 5) for d in range(1, 4)}}


def _length_bits(value: int) -> tuple[int, bytes]:
    """The operator's length field and the value in the fewest of 1, 2, 4 or 8 bytes."""
    for code, size in ((0x00, 1), (0x10, 2), (0x20, 4), (0x30, 8)):
        if value < 1 << (8 * size):
            return code, value.to_bytes(size, "big")
    raise RouteError(f"value {value} is too large")


def _groups(text: str) -> list[list[str]]:
    groups = [[t.strip() for t in g.split("&") if t.strip()] for g in re.split(r"[,|]", text)]
    groups = [g for g in groups if g]
    if not groups:
        raise RouteError("empty match value")
    if sum(len(g) for g in groups) > MAX_TERMS:
        raise RouteError(f"at most {MAX_TERMS} terms in one match value")
    return groups


def _encode_terms(terms: list[tuple[bool, int, int]]) -> bytes:
    """(and-with-previous, operator bits, value) terms → the operator/value bytes."""
    out = b""
    for index, (and_bit, op, value) in enumerate(terms):
        length, data = _length_bits(value)
        byte = op | length | (AND if and_bit else 0) | (END if index == len(terms) - 1 else 0)
        out += bytes([byte]) + data
    return out


def numeric(value: Any, limit: int, what: str) -> bytes:
    """A numeric component's operator/value list (see the module docstring)."""
    if isinstance(value, bool):
        raise RouteError(f"{what}: expected a number or an expression, got {value!r}")
    text = str(value).strip()
    terms: list[tuple[bool, int, int]] = []
    for group in _groups(text):
        for index, term in enumerate(group):
            ranged = _RANGE.match(term)
            if ranged:
                low, high = int(ranged[1]), int(ranged[2])
                terms += [(index > 0, GT | EQ, low), (True, LT | EQ, high)]
                parts = [low, high]
            else:
                match = _TERM.match(term)
                if not match:
                    raise RouteError(f"{what}: cannot read {term!r} (expected e.g. =17, "
                                     f">=1024&<=2048, 80-88)")
                parts = [int(match[2])]
                terms.append((index > 0, _NUMERIC_OPS[match[1] or "="], parts[0]))
            if any(p > limit for p in parts):
                raise RouteError(f"{what}: {term!r} is over {limit}")
    return _encode_terms(terms)


def bitmask(value: Any, letters: Mapping[str, int], what: str) -> bytes:
    """A bitmask component (``tcp-flags``, ``fragment``): see the module docstring."""
    terms: list[tuple[bool, int, int]] = []
    for group in _groups(str(value).strip()):
        for index, term in enumerate(group):
            match = re.match(r"^(!=|=|!)?\s*([A-Za-z]+)$", term)
            if not match:
                raise RouteError(f"{what}: cannot read {term!r} (letters "
                                 f"{''.join(letters)}, e.g. =SA)")
            bits = 0
            for letter in match[2].upper():
                if letter not in letters:
                    raise RouteError(f"{what}: unknown letter {letter!r} in {term!r} "
                                     f"(letters {''.join(letters)})")
                bits |= letters[letter]
            op = {"=": MATCH, "!=": NOT | MATCH, "!": NOT, None: 0}[match[1]]
            terms.append((index > 0, op, bits))
    return _encode_terms(terms)


def _prefix_component(kind: int, value: Any, version: int, what: str) -> bytes:
    network = parse_prefix(value, what)
    if network.version != version:
        raise RouteError(f"{what} {value!r} is not an IPv{version} prefix")
    size = (network.prefixlen + 7) // 8
    packed = network.network_address.packed[:size]
    if version == 4:
        return bytes([kind, network.prefixlen]) + packed
    return bytes([kind, network.prefixlen, 0]) + packed  # offset 0


@dataclass(frozen=True)
class FlowRule:
    """One FlowSpec announcement: family version, NLRI, actions, next hop."""

    version: int
    nlri: bytes  # the flow specification (length prefix included)
    attributes: PathAttributes
    nexthop: IPAddress | None
    spec: dict[str, Any]  # what the script passed, as JSON, for views

    def to_json(self) -> dict[str, Any]:
        return dict(self.spec)


def encode_nlri(components: list[tuple[int, bytes]]) -> bytes:
    """Components (type, encoded bytes after the type) sorted by type, with the length."""
    body = b"".join(bytes([kind]) + data for kind, data in sorted(components))
    if len(body) > MAX_NLRI:
        raise RouteError(f"flow specification of {len(body)} bytes is over {MAX_NLRI}")
    if len(body) < 240:
        return bytes([len(body)]) + body
    return struct.pack("!H", 0xF000 | len(body)) + body


def _version(match: Mapping[str, Any]) -> int:
    if match.get("version") not in (None, ""):
        version = str(match["version"]).strip().lstrip("=")
        if version not in ("4", "6"):
            raise RouteError(f"match version must be 4 or 6, got {match['version']!r}")
        return int(version)
    for key in ("destination", "source"):
        if match.get(key):
            return parse_prefix(match[key], key).version
    return 4


def parse_match(match: Any) -> tuple[int, bytes]:
    """``{match:{...}}`` → (IP version, NLRI)."""
    if not isinstance(match, Mapping) or not match:
        raise RouteError("flow needs a match object with at least one condition")
    unknown = set(match) - KNOWN_MATCH
    if unknown:
        raise RouteError(f"unknown match keys {sorted(unknown)} (known: {sorted(KNOWN_MATCH)})")
    version = _version(match)
    components: list[tuple[int, bytes]] = []
    for key, kind in (("destination", DESTINATION), ("source", SOURCE)):
        if match.get(key) not in (None, ""):
            components.append((kind, _prefix_component(kind, match[key], version, key)[1:]))
    for key, kind in NUMERIC_KEYS.items():
        if match.get(key) in (None, ""):
            continue
        if kind == FLOW_LABEL and version == 4:
            raise RouteError("flow-label is an IPv6 match")
        components.append((kind, numeric(match[key], NUMERIC_LIMITS[kind], key)))
    if match.get("tcp-flags") not in (None, ""):
        components.append((TCP_FLAGS, bitmask(match["tcp-flags"], TCP_FLAG_BITS, "tcp-flags")))
    if match.get("fragment") not in (None, ""):
        letters = FRAGMENT_BITS if version == 4 else {
            k: v for k, v in FRAGMENT_BITS.items() if k != "D"}
        components.append((FRAGMENT, bitmask(match["fragment"], letters, "fragment")))
    if not components:
        raise RouteError("flow match has no condition besides version")
    return version, encode_nlri(components)


def _two_part(value: Any, what: str) -> tuple[str, int]:
    text = str(value).strip()
    head, sep, tail = text.rpartition(":")
    if not sep or not tail.isdigit():
        raise RouteError(f"{what} must be 'X:value', got {value!r}")
    return head, int(tail)


def _dscp(value: Any) -> int:
    text = str(value).strip().lower()
    if text in DSCP_NAMES:
        return DSCP_NAMES[text]
    if text.isdigit() and int(text) <= 63:
        return int(text)
    raise RouteError(f"traffic-marking must be a DSCP 0..63 or a name "
                     f"({', '.join(sorted(DSCP_NAMES))}), got {value!r}")


def parse_then(then: Any, version: int) -> tuple[bytes, PathAttributes, IPAddress | None]:
    """``{then:{...}}`` → (extended communities, other attributes, redirect next hop)."""
    if then is None:
        then = {}
    if not isinstance(then, Mapping):
        raise RouteError(f"flow 'then' must be an object, got {then!r}")
    ext = b""
    nexthop: IPAddress | None = None
    for key, value in then.items():
        if key == "traffic-rate":
            try:
                rate = float(str(value).strip())
            except ValueError:
                raise RouteError(f"traffic-rate must be bytes per second, got {value!r}")\
                    from None
            if not 0 <= rate < 3.4e38:
                raise RouteError(f"traffic-rate must be 0 or more, got {value!r}")
            ext += struct.pack("!BBHf", 0x80, 0x06, 0, rate)
        elif key == "traffic-action":
            words = set(re.split(r"[\s,-]+", str(value).strip().lower())) - {""}
            if not words <= {"sample", "terminal"}:
                raise RouteError(f"traffic-action is sample and/or terminal, got {value!r}")
            flags = (0x02 if "sample" in words else 0) | (0x01 if "terminal" in words else 0)
            ext += struct.pack("!BB5xB", 0x80, 0x07, flags)
        elif key == "traffic-marking":
            ext += struct.pack("!BB5xB", 0x80, 0x09, _dscp(value))
        elif key == "redirect-as":
            head, number = _two_part(value, key)
            if not head.isdigit() or int(head) > 0xFFFF or number > 0xFFFFFFFF:
                raise RouteError(f"redirect-as is AS2:value (value up to 32 bits), got {value!r}")
            ext += struct.pack("!BBHI", 0x80, 0x08, int(head), number)
        elif key == "redirect-as4":
            head, number = _two_part(value, key)
            if not head.isdigit() or int(head) > 0xFFFFFFFF or number > 0xFFFF:
                raise RouteError(f"redirect-as4 is AS4:value (value up to 16 bits), "
                                 f"got {value!r}")
            ext += struct.pack("!BBIH", 0x82, 0x08, int(head), number)
        elif key == "redirect-ip":
            head, number = _two_part(value, key)
            address = parse_address(head, key)
            if address.version != 4 or number > 0xFFFF:
                raise RouteError(f"redirect-ip is IPv4:value (value up to 16 bits), "
                                 f"got {value!r}")
            ext += struct.pack("!BB4sH", 0x81, 0x08, address.packed, number)
        elif key == "redirect-nexthop":
            nexthop = parse_address(value, key)
            if nexthop.version != version:
                raise RouteError(f"redirect-nexthop must be an IPv{version} address")
            ext += struct.pack("!BB6x", 0x08, 0x00)
        elif key == "redirect-action-ip":
            address = parse_address(value, key)
            if address.version != 4:
                raise RouteError("redirect-action-ip must be an IPv4 address")
            ext += struct.pack("!BB4sH", 0x01, 0x0C, address.packed, 0)
        elif key in ("communities", "community"):
            continue
        else:
            raise RouteError(f"unknown flow action {key!r}")
    attributes = parse_attributes({"communities": then.get("communities",
                                                            then.get("community"))})
    return ext, attributes, nexthop


def parse_flow(spec: Any) -> FlowRule:
    """``bgpAddFlow``'s second argument: ``{match:{...}, then:{...}}``."""
    if not isinstance(spec, Mapping):
        raise RouteError(f"flow must be an object {{match, then}}, got {spec!r}")
    version, nlri = parse_match(spec.get("match"))
    ext, attributes, nexthop = parse_then(spec.get("then"), version)
    extra = parse_communities(None)
    if ext:
        extended = tuple(ext[i:i + 8] for i in range(0, len(ext), 8))
        extra = type(extra)(extended=extended)
    merged = PathAttributes(communities=extra + attributes.communities)
    plain = {"match": dict(spec.get("match") or {}), "then": dict(spec.get("then") or {})}
    return FlowRule(version, nlri, merged, nexthop, plain)


def match_key(spec: Any) -> tuple[int, bytes]:
    """What identifies a rule for ``bgpRemoveFlow``: its version and match (not its actions)."""
    if not isinstance(spec, Mapping):
        raise RouteError(f"flow must be an object {{match, then}}, got {spec!r}")
    return parse_match(spec.get("match"))


__all__ = ["FlowRule", "encode_nlri", "match_key", "parse_flow"]
