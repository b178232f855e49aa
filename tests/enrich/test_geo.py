"""country: and asn: from the embedded tables and from MaxMind DB files built here."""

from __future__ import annotations

from pathlib import Path

import pytest
from mmdb_writer import MmdbU32, MMDBWriter
from netaddr import IPSet

from flowrt.config import ConfigError, Properties
from flowrt.engine import Engine
from flowrt.enrich import from_properties
from flowrt.enrich.geo import GeoError, GeoService
from flowrt.enrich.rangetable import RangeBuilder


@pytest.fixture(scope="module")
def embedded() -> GeoService:
    return GeoService()


@pytest.mark.parametrize(
    ("address", "country", "asn"),
    [
        ("8.8.8.8", "US", "15169"),
        ("1.1.1.1", "AU", "13335"),
        ("8.8.4.4", "US", "15169"),
        ("2001:4860:4860::8888", "US", "15169"),
        ("::ffff:8.8.8.8", "US", "15169"),  # IPv4-mapped: answered as the IPv4 address
        ("10.1.2.3", None, None),  # private
        ("192.168.1.1", None, None),
        ("100.64.0.1", None, None),  # shared address space
        ("127.0.0.1", None, None),
        ("169.254.1.1", None, None),
        ("224.0.0.1", None, None),  # multicast
        ("192.0.2.1", None, None),  # documentation
        ("fe80::1", None, None),
        ("fd00::1", None, None),
        ("2001:db8::1", None, None),
        ("not an address", None, None),
        ("", None, None),
    ],
)
def test_embedded_answers(embedded: GeoService, address: str, country: str | None,
                          asn: str | None) -> None:
    assert embedded.country(address) == country
    assert embedded.asn(address) == asn


def test_attributes(embedded: GeoService) -> None:
    assert embedded.country("1.1.1.1", "name") == "Australia"
    assert embedded.country("1.1.1.1", "both") == "AU Australia"
    assert embedded.asn("1.1.1.1", "name") == "Cloudflare, Inc."
    assert embedded.asn("1.1.1.1", "descr") == "Cloudflare, Inc."
    assert embedded.asn("1.1.1.1", "both") == "AS13335 Cloudflare, Inc."


def test_the_cache_is_bounded_and_counted() -> None:
    geo = GeoService(cache_size=2)
    for _ in range(3):
        geo.country("8.8.8.8")
    assert (geo.cache.hits, geo.cache.misses, geo.counters.lookups) == (2, 1, 1)
    geo.country("1.1.1.1")
    geo.country("8.8.4.4")
    assert len(geo.cache) == 2 and geo.cache.evictions == 1
    geo.asn("bogus")
    assert geo.counters.invalid == 1


def write_mmdb(path: Path, kind: str) -> Path:
    writer = MMDBWriter(ip_version=6, database_type=f"GeoLite2-{kind}", ipv4_compatible=True)
    if kind == "Country":
        writer.insert_network(IPSet(["8.8.8.0/24", "2a00:1450::/32"]),
                              {"country": {"iso_code": "SE", "names": {"en": "Sweden"}}})
        writer.insert_network(IPSet(["1.1.1.0/24"]),
                              {"registered_country": {"iso_code": "NO"}})
    else:
        writer.insert_network(IPSet(["8.8.8.0/24", "2a00:1450::/32"]), {
            "autonomous_system_number": MmdbU32(64500),
            "autonomous_system_organization": "Example Transit",
        })
    writer.to_db_file(str(path))
    return path


def test_mmdb_files_named_by_properties_answer(tmp_path: Path) -> None:
    country = write_mmdb(tmp_path / "country.mmdb", "Country")
    asn = write_mmdb(tmp_path / "asn.mmdb", "ASN")
    props = Properties({"geo.country": str(country), "geo.asn": str(asn)})
    geo = from_properties(props).geo
    assert geo.country("8.8.8.8") == "SE"  # the file, not the embedded table (US)
    assert geo.country("2a00:1450::1") == "SE"  # geo.country serves IPv6 too
    assert geo.country("1.1.1.1") == "NO"  # registered_country when no country
    assert geo.country("9.9.9.9") is None  # not in the file: null, no fallback
    assert geo.asn("8.8.8.8") == "64500"
    assert geo.asn("8.8.8.8", "both") == "AS64500 Example Transit"
    assert geo.asn("1.1.1.1") is None
    assert geo.sources["country4"].startswith("GeoLite2-Country (")


def test_geo_country6_and_asn6_override_ipv6_only(tmp_path: Path) -> None:
    country = write_mmdb(tmp_path / "country.mmdb", "Country")
    geo = GeoService(country6=str(country))
    assert geo.country("8.8.8.8") == "US"  # IPv4 still embedded
    assert geo.country("2a00:1450::1") == "SE"


@pytest.mark.parametrize("content", [b"", b"GeoIP legacy .dat" * 10])
def test_a_file_that_is_not_mmdb_is_refused_at_startup(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "GeoIP.dat"
    path.write_bytes(content)
    with pytest.raises(GeoError, match=r"not a MaxMind DB \(.mmdb\) file"):
        GeoService(country=str(path))
    with pytest.raises(ConfigError, match=r"GeoIP\.dat is not a MaxMind DB"):
        Engine(Properties({"geo.asn": str(path)}))


def test_a_missing_file_is_refused_at_startup(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read geo database"):
        Engine(Properties({"geo.country": str(tmp_path / "missing.mmdb")}))


def test_range_builder_merges_fills_gaps_and_keeps_the_wider_range() -> None:
    builder = RangeBuilder(32)
    for first, last, value in [(10, 19, 1), (20, 29, 1), (40, 49, 2), (42, 43, 3)]:
        builder.add(first, last, value)
    starts, values = builder.rows()
    assert list(zip(starts, values, strict=True)) == [(0, 0), (10, 1), (30, 0), (40, 2), (50, 0)]
