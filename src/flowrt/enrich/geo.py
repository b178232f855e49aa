"""``country:`` and ``asn:``: the country and origin AS of an IPv4/IPv6 address.

Answers come from MaxMind DB (``.mmdb``) files when properties name them (sFlow-RT's
``geo.country``, ``geo.country6``, ``geo.asn``, ``geo.asn6``; a GeoLite2/GeoIP2 file
holds both families, so ``geo.country`` also serves IPv6 unless ``geo.country6`` names
another file), otherwise from the tables embedded in this package (see
``data/NOTICE``: country from NRO statistics and whois, origin AS from RouteViews and
DB-IP ASN Lite, both CC BY 4.0, built by :mod:`flowrt.enrich.geodata_build`).

Values (decisions where sFlow-RT's documentation is terse; each covered by a test):

- ``country:<key>`` and ``country:<key>:code`` give the ISO 3166 alpha-2 code (``US``);
  ``:name`` the English name; ``:both`` the code, a space and the name.
- ``asn:<key>`` and ``asn:<key>:number`` give the AS number as plain text (``15169``);
  ``:name`` (or ``:descr``) the organisation; ``:both`` ``AS15169 Google LLC``.
- Private, reserved, multicast and unallocated addresses, and text that is not an
  address, give null (counted in ``invalid`` when not an address).

Each service keeps a bounded answer cache (``geo.cache.size``): lookups cost a bisect
or an mmdb tree walk, the cache saves the parse and the walk for repeated addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from flowrt.enrich.cache import MISS, BoundedCache
from flowrt.enrich.rangetable import RangeTable, TableError

DATA_DIR = Path(__file__).parent / "data"
COUNTRY_TABLE = DATA_DIR / "country.frt.gz"
ASN_TABLE = DATA_DIR / "asn.frt.gz"
COUNTRY_ATTRS = frozenset({"code", "name", "both"})
ASN_ATTRS = frozenset({"number", "name", "descr", "both"})
MMDB_MARKER = b"\xab\xcd\xefMaxMind.com"


class GeoError(ValueError):
    """A geo database that cannot be used (names the file and the reason)."""


@cache
def _embedded(path: Path) -> RangeTable:
    """The embedded table, loaded once per process (shared by every engine)."""
    return RangeTable.load(path)


@cache
def country_name(code: str) -> str | None:
    """The English short name of an ISO 3166 alpha-2 code."""
    import iso3166

    entry = iso3166.countries_by_alpha2.get(code.upper())
    return None if entry is None else str(entry.name)


Record = Any  # country code (str) or (asn, organisation) tuple, or None
Finder = Callable[[int, str], Record]


class _Mmdb:
    """One MaxMind DB file, read with the ``maxminddb`` C extension when it is built."""

    def __init__(self, path: str, kind: str) -> None:
        import maxminddb

        file = Path(path)
        try:
            head = file.read_bytes()[-128 * 1024:]
        except OSError as exc:
            raise GeoError(f"cannot read geo database {path}: {exc.strerror}") from exc
        if MMDB_MARKER not in head:
            raise GeoError(
                f"{path} is not a MaxMind DB (.mmdb) file; legacy GeoIP .dat files are not"
                " supported: use a GeoLite2/GeoIP2 .mmdb file"
            )
        try:
            self.reader = maxminddb.open_database(path, maxminddb.MODE_AUTO)
        except (OSError, ValueError) as exc:
            raise GeoError(f"cannot open geo database {path}: {exc}") from exc
        self.kind = kind
        meta = self.reader.metadata()
        self.description = f"{meta.database_type} ({path}, built {meta.build_epoch})"

    def find(self, _value: int, text: str) -> Record:
        try:
            record = self.reader.get(text)
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        if self.kind == "country":
            for field in ("country", "registered_country"):
                entry = record.get(field)
                if isinstance(entry, dict) and isinstance(entry.get("iso_code"), str):
                    return entry["iso_code"]
            return None
        number = record.get("autonomous_system_number")
        if not isinstance(number, int):
            return None
        return (number, str(record.get("autonomous_system_organization") or ""))


def _table_finder(table: RangeTable, family: int) -> Finder:
    lookup = table.lookup_v4 if family == 4 else table.lookup_v6
    if table.kind == "asn":
        def find_asn(value: int, _text: str) -> Record:
            found = lookup(value)
            return None if found is None else (int(found[0]), str(found[1]))
        return find_asn

    def find_country(value: int, _text: str) -> Record:
        return lookup(value)

    return find_country


@dataclass
class GeoCounters:
    lookups: int = 0
    invalid: int = 0


def parse_ip(text: str) -> tuple[int, int] | None:
    """``(family 4|6, integer)`` of an address's text, or None."""
    try:
        if ":" in text:
            value = int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
            if value >> 32 == 0xFFFF:  # IPv4-mapped: answered as the IPv4 address
                return 4, value & 0xFFFFFFFF
            return 6, value
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except (OSError, ValueError, TypeError):
        return None


def is_public(family: int, value: int) -> bool:
    """False for private, reserved, loopback, link-local, multicast, documentation space."""
    address = ipaddress.IPv4Address(value) if family == 4 else ipaddress.IPv6Address(value)
    return bool(address.is_global) and not address.is_multicast


class GeoService:
    """country: and asn: lookups, one per engine, with their caches and counters."""

    def __init__(self, country: str | None = None, country6: str | None = None,
                 asn: str | None = None, asn6: str | None = None,
                 cache_size: int = 65536) -> None:
        self.counters = GeoCounters()
        self.cache: BoundedCache[Record] = BoundedCache(cache_size)
        self.sources: dict[str, str] = {}
        self._finders: dict[tuple[str, int], Finder] = {}
        for kind, v4_path, v6_path, table_path in (
            ("country", country, country6 or country, COUNTRY_TABLE),
            ("asn", asn, asn6 or asn, ASN_TABLE),
        ):
            for family, path in ((4, v4_path), (6, v6_path)):
                if path:
                    db = _Mmdb(path, kind)
                    self._finders[kind, family] = db.find
                    self.sources[f"{kind}{family}"] = db.description
                else:
                    self._finders[kind, family] = self._lazy(kind, family, table_path)
                    self.sources[f"{kind}{family}"] = f"embedded ({table_path.name})"

    def _lazy(self, kind: str, family: int, path: Path) -> Finder:
        """Load the embedded table on first use (a server that never asks pays nothing)."""
        def find(value: int, text: str) -> Record:
            try:
                table = _embedded(path)
            except TableError as exc:
                raise GeoError(str(exc)) from exc
            finder = _table_finder(table, family)
            self._finders[kind, family] = finder
            return finder(value, text)

        return find

    def record(self, kind: str, text: str) -> Record:
        """The raw answer (country code, or (number, organisation)) for one address."""
        key = kind + text
        cached = self.cache.get(key)
        if cached is not MISS:
            return cached
        self.counters.lookups += 1
        parsed = parse_ip(text)
        if parsed is None:
            self.counters.invalid += 1
            answer: Record = None
        elif not is_public(*parsed):
            answer = None
        else:
            family, value = parsed
            if family == 4 and ":" in text:
                text = str(ipaddress.IPv4Address(value))  # mmdb readers want the IPv4 form
            answer = self._finders[kind, family](value, text)
        self.cache.put(key, answer)
        return answer

    def country(self, text: str, attr: str = "code") -> str | None:
        code = self.record("country", text)
        if code is None or attr == "code":
            return code
        name = country_name(code)
        if attr == "name":
            return name
        return code if name is None else f"{code} {name}"

    def asn(self, text: str, attr: str = "number") -> str | None:
        found = self.record("asn", text)
        if found is None:
            return None
        number, organisation = found
        if attr == "number":
            return str(number)
        if attr in ("name", "descr"):
            return organisation or None
        return f"AS{number} {organisation}".rstrip()

    def describe(self) -> dict[str, Any]:
        """Which database answers each kind and family, with the embedded data's version."""
        out: dict[str, Any] = dict(self.sources)
        for name, path in (("country", COUNTRY_TABLE), ("asn", ASN_TABLE)):
            try:
                meta = _embedded(path).meta
            except TableError:
                continue
            out[f"{name}Embedded"] = f"{meta.get('source')} {meta.get('version')}"
        return out
