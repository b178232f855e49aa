"""Address groups and value maps: the named lookup tables behind ``group:`` and ``map:``.

sFlow-RT lets scripts and REST clients define *group sets* (``setGroups(name, {label:
[cidr, ...]})``, ``PUT /group/{name}/json``) and *maps* (``setMap(name, {label: [value,
...]})``, ``PUT /map/{name}/json``). Flow definitions refer to them by name in key
functions (``group:ipsource:private``, ``map:tcpdestinationport:services``), and a set may
be defined, replaced or deleted *after* the flow that uses it. So compiled key functions
hold the :class:`Lookups` registry and look the set up by name per sample (one dict lookup)
instead of capturing a set at compile time.

Group matching is longest-prefix: ``10.1.0.0/16`` beats ``10.0.0.0/8`` for ``10.1.2.3``
whatever label each belongs to. When the same prefix appears under two labels, the label
that comes first in the JSON object wins (sFlow-RT does not document ties; first-wins is
stable and easy to explain). A CIDR with host bits set (``10.0.0.1/8``) is accepted and
masked, as most router CLIs do; a bare address is a /32 (or /128).
"""

from __future__ import annotations

from collections.abc import Mapping

from flowrt.engine.topology import TopologyStore
from flowrt.enrich import Enrichment
from flowrt.flowlang.lookups import IPV4_BITS, IPV6_BITS, parse_address

MAX_GROUP_ENTRIES = 100_000
"""Cap on CIDRs in one group set (memory bound for REST-supplied data)."""
MAX_MAP_ENTRIES = 100_000
"""Cap on values in one map."""


class GroupError(ValueError):
    """A group set or map definition that cannot be used; the message names the bad item."""


def _parse_cidr(label: str, text: object) -> tuple[int, int, int]:
    """``(family bits, prefix length, network >> host bits)`` or GroupError naming the CIDR."""
    if not isinstance(text, str):
        raise GroupError(f"group {label!r}: expected a CIDR string, got {text!r}")
    address, slash, length_text = text.strip().partition("/")
    parsed = parse_address(address)
    if parsed is None:
        raise GroupError(f"group {label!r}: invalid address in {text!r}")
    bits, value = parsed
    if not slash:
        length = bits
    elif length_text.isdigit() and int(length_text) <= bits:
        length = int(length_text)
    else:
        raise GroupError(f"group {label!r}: invalid prefix length in {text!r} (0..{bits})")
    return bits, length, value >> (bits - length)


class GroupSet:
    """One named group set: label → CIDRs, answering "which label holds this address?".

    Lookup keeps, per address family, a dict per prefix length mapping the network
    (address shifted right by the host bits) to its label, and probes the lengths that
    occur from longest to shortest: at most one dict probe per distinct length.
    """

    def __init__(self, spec: Mapping[str, object]) -> None:
        if not isinstance(spec, Mapping):
            raise GroupError("groups must be an object of label -> list of CIDRs")
        self.spec: dict[str, list[str]] = {}
        tables: dict[int, dict[int, dict[int, str]]] = {IPV4_BITS: {}, IPV6_BITS: {}}
        count = 0
        for label, cidrs in spec.items():
            if not isinstance(label, str) or not label:
                raise GroupError(f"group label must be a non-empty string, got {label!r}")
            if isinstance(cidrs, str) or not isinstance(cidrs, list):
                raise GroupError(f"group {label!r}: expected a list of CIDRs")
            count += len(cidrs)
            if count > MAX_GROUP_ENTRIES:
                raise GroupError(f"too many CIDRs (more than {MAX_GROUP_ENTRIES})")
            for cidr in cidrs:
                bits, length, network = _parse_cidr(label, cidr)
                tables[bits].setdefault(length, {}).setdefault(network, label)
            self.spec[label] = list(cidrs)
        self._tables = {
            bits: [(bits - length, nets) for length, nets in sorted(by_len.items(), reverse=True)]
            for bits, by_len in tables.items()
        }

    def lookup(self, address: str) -> str | None:
        """The label of the longest prefix containing ``address``; None if none or not an IP."""
        parsed = parse_address(address)
        if parsed is None:
            return None
        bits, value = parsed
        for host_bits, networks in self._tables[bits]:
            label = networks.get(value >> host_bits)
            if label is not None:
                return label
        return None


class ValueMap:
    """One named map: label → flow-key values, answering "which label lists this value?".

    Values are compared as text (a key's ``80`` matches the JSON string ``"80"`` and the
    number ``80``). A value listed under two labels maps to the first label.
    """

    def __init__(self, spec: Mapping[str, object]) -> None:
        if not isinstance(spec, Mapping):
            raise GroupError("map must be an object of label -> list of values")
        self.spec: dict[str, list[object]] = {}
        self._label_of: dict[str, str] = {}
        for label, values in spec.items():
            if not isinstance(label, str) or not label:
                raise GroupError(f"map label must be a non-empty string, got {label!r}")
            if isinstance(values, str) or not isinstance(values, list):
                raise GroupError(f"map {label!r}: expected a list of values")
            for value in values:
                if isinstance(value, bool) or not isinstance(value, str | int | float):
                    raise GroupError(f"map {label!r}: value {value!r} is not a string or number")
                self._label_of.setdefault(str(value), label)
            if len(self._label_of) > MAX_MAP_ENTRIES:
                raise GroupError(f"too many map values (more than {MAX_MAP_ENTRIES})")
            self.spec[label] = list(values)

    def lookup(self, value: str) -> str | None:
        """The label whose list holds ``value``, or None."""
        return self._label_of.get(value)


class Lookups:
    """The registry of named group sets and maps that compiled key functions consult.

    One instance belongs to the engine; flows compiled against it see later changes. It
    is the engine's implementation of the flow language's
    :class:`~flowrt.flowlang.lookups.KeyLookups` protocol.
    """

    def __init__(self, enrich: Enrichment | None = None) -> None:
        self.groups: dict[str, GroupSet] = {}
        self.maps: dict[str, ValueMap] = {}
        self.topology = TopologyStore()  # ``link:`` keys and edge/core selection read it
        # country:/asn:/oui:/dns: keys (the embedded tables load on first use)
        self.enrich = enrich if enrich is not None else Enrichment()

    def set_groups(self, name: str, spec: Mapping[str, object]) -> GroupSet:
        """Define or replace group set ``name``; GroupError leaves the old set in place."""
        groups = GroupSet(spec)
        self.groups[name] = groups
        return groups

    def delete_groups(self, name: str) -> bool:
        """Remove group set ``name``; False if there was none."""
        return self.groups.pop(name, None) is not None

    def set_map(self, name: str, spec: Mapping[str, object]) -> ValueMap:
        """Define or replace map ``name``; GroupError leaves the old map in place."""
        value_map = ValueMap(spec)
        self.maps[name] = value_map
        return value_map

    def delete_map(self, name: str) -> bool:
        """Remove map ``name``; False if there was none."""
        return self.maps.pop(name, None) is not None
