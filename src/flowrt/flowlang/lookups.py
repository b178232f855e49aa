"""What key functions need from outside the language: sets, maps, topology, enrichment.

``group:``, ``map:`` and ``link:`` read state the engine owns (group sets and maps that
REST clients and scripts define, the topology). The language sees that state only through
the small protocols here, which the engine's ``flowrt.engine.groups.Lookups`` implements;
sets are looked up *by name per sample*, so a set defined after a flow takes effect.
``country:``, ``asn:``, ``oui:`` and ``dns:`` ask :class:`EnrichLookup` (the engine's
``flowrt.enrich.Enrichment``), whose answers are cached and never block a sample.
:data:`NO_LOOKUPS` (nothing defined, no topology) serves tests and tools.

Addresses (``mask:``, group matching) are parsed with :func:`parse_address`, which is
strict (no ``10.1`` shorthand) and faster than ``ipaddress`` because it runs per sample.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Protocol

IPV4_BITS = 32
IPV6_BITS = 128


class GroupLookup(Protocol):
    """One group set: the label of the longest prefix holding an address, or None."""

    def lookup(self, address: str) -> str | None: ...


class MapLookup(Protocol):
    """One value map: the label whose list holds a value, or None."""

    def lookup(self, value: str) -> str | None: ...


class LinkLookup(Protocol):
    """The topology as ``link:`` sees it."""

    @property
    def active(self) -> bool:
        """Whether a topology is defined at all."""
        ...

    def link_name(self, agent: str, ifindex: object) -> str | None:
        """The link on (agent, ifIndex), or None."""
        ...


class EnrichLookup(Protocol):
    """Country, origin AS, MAC vendor and reverse-DNS name (see ``flowrt.enrich``)."""

    def country(self, address: str, attr: str = "code") -> str | None: ...

    def asn(self, address: str, attr: str = "number") -> str | None: ...

    def oui_lookup(self, mac: str, attr: str = "number") -> str | None: ...

    def dns_name(self, address: str) -> str:
        """The cached PTR name, else the address itself (never waits)."""
        ...


class KeyLookups(Protocol):
    """The registries key functions consult, by name, per sample."""

    @property
    def enrich(self) -> EnrichLookup: ...

    @property
    def groups(self) -> Mapping[str, GroupLookup]: ...

    @property
    def maps(self) -> Mapping[str, MapLookup]: ...

    @property
    def topology(self) -> LinkLookup: ...


class _NoTopology:
    active = False

    def link_name(self, agent: str, ifindex: object) -> str | None:
        return None


class _NoEnrich:
    """No enrichment data: null answers, and ``dns:`` gives the address."""

    def country(self, address: str, attr: str = "code") -> str | None:
        return None

    def asn(self, address: str, attr: str = "number") -> str | None:
        return None

    def oui_lookup(self, mac: str, attr: str = "number") -> str | None:
        return None

    def dns_name(self, address: str) -> str:
        return address


class _NoLookups:
    """Nothing defined: every ``group:``/``map:``/``link:`` and enrichment yields null."""

    enrich: EnrichLookup = _NoEnrich()
    groups: Mapping[str, GroupLookup] = {}
    maps: Mapping[str, MapLookup] = {}
    topology: LinkLookup = _NoTopology()


NO_LOOKUPS: KeyLookups = _NoLookups()


def parse_address(text: str) -> tuple[int, int] | None:
    """``(bits, integer)`` for an IPv4/IPv6 address string, or None if it is not one."""
    try:
        if ":" in text:
            return IPV6_BITS, int.from_bytes(socket.inet_pton(socket.AF_INET6, text))
        return IPV4_BITS, int.from_bytes(socket.inet_pton(socket.AF_INET, text))
    except (OSError, ValueError, TypeError):
        return None


def format_address(bits: int, value: int) -> str:
    """The canonical text of an address integer (compressed form for IPv6)."""
    if bits == IPV4_BITS:
        return socket.inet_ntop(socket.AF_INET, value.to_bytes(4))
    return socket.inet_ntop(socket.AF_INET6, value.to_bytes(16))
