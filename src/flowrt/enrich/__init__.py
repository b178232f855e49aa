"""Enrichment: what ``country:``, ``asn:``, ``oui:`` and ``dns:`` keys look up.

sFlow-RT labels flows with the country, origin AS and reverse-DNS name of an address and
the vendor of a MAC. The flow language reaches these services only through its
``KeyLookups`` protocol (``flowrt.flowlang.lookups``), which the engine's ``Lookups``
implements by holding one :class:`Enrichment`; this package knows nothing of flows.

Every service bounds its memory (an answer cache with a property for its size), counts
what it refuses (text that is not an address or MAC, a full DNS queue) and exports its
counters through ``flowrt.engine.selfmetrics``. :func:`from_properties` reads the
properties listed in :data:`PROPERTIES` (sFlow-RT's ``geo.*``, ``oui.names`` and
``dns.servers``, FlowRT's ``flowrt.geo.*``/``flowrt.oui.*``/``flowrt.dns.*`` bounds).
"""

from __future__ import annotations

from typing import Any, Protocol

from flowrt.enrich.dns import DnsConfigError, ReverseDns, parse_servers
from flowrt.enrich.geo import ASN_ATTRS, COUNTRY_ATTRS, GeoError, GeoService
from flowrt.enrich.oui import OUI_ATTRS, OuiError, OuiService

__all__ = [
    "ASN_ATTRS", "COUNTRY_ATTRS", "OUI_ATTRS", "EnrichError", "Enrichment", "from_properties",
]  # fmt: skip


class EnrichError(ValueError):
    """An enrichment setting or database that cannot be used (names which and why)."""


class _Props(Protocol):
    def get(self, name: str, default: str | None = None) -> str | None: ...
    def get_int(self, name: str, default: int) -> int: ...
    def get_float(self, name: str, default: float) -> float: ...


class Enrichment:
    """The enrichment services of one engine (geo built at once, OUI names and DNS lazily)."""

    def __init__(self, geo: GeoService | None = None, oui: OuiService | None = None,
                 dns: ReverseDns | None = None) -> None:
        self.geo = geo if geo is not None else GeoService()
        self.oui = oui if oui is not None else OuiService()
        self.dns = dns if dns is not None else ReverseDns([])

    def country(self, address: str, attr: str = "code") -> str | None:
        return self.geo.country(address, attr)

    def asn(self, address: str, attr: str = "number") -> str | None:
        return self.geo.asn(address, attr)

    def oui_lookup(self, mac: str, attr: str = "number") -> str | None:
        return self.oui.lookup(mac, attr)

    def dns_name(self, address: str) -> str:
        return self.dns.name(address)

    def describe(self) -> dict[str, Any]:
        """The data sources in use, for ``/analyzer/json``-style diagnostics and docs."""
        return {**self.geo.describe(), "oui": self.oui.describe(),
                "dnsServers": [f"{h}:{p}" for h, p in self.dns.servers]}

    def close(self) -> None:
        self.dns.close()


def from_properties(props: _Props) -> Enrichment:
    """The services the properties describe; :class:`EnrichError` names a bad setting."""
    try:
        geo = GeoService(
            country=props.get("geo.country"), country6=props.get("geo.country6"),
            asn=props.get("geo.asn"), asn6=props.get("geo.asn6"),
            cache_size=props.get_int("flowrt.geo.cache.size", 65536),
        )
        oui = OuiService(props.get("oui.names"), props.get_int("flowrt.oui.cache.size", 4096))
        dns = ReverseDns(
            parse_servers(props.get("dns.servers")),
            cache_size=props.get_int("flowrt.dns.cache.size", 10000),
            positive_ttl=props.get_float("flowrt.dns.cache.positive", 3600.0),
            negative_ttl=props.get_float("flowrt.dns.cache.negative", 300.0),
            timeout=props.get_float("flowrt.dns.timeout", 2.0),
            inflight=props.get_int("flowrt.dns.inflight", 32),
            queue=props.get_int("flowrt.dns.queue", 1000),
        )
    except (GeoError, OuiError, DnsConfigError, ValueError) as exc:
        raise EnrichError(str(exc)) from exc
    return Enrichment(geo, oui, dns)
