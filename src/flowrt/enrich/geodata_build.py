"""Build the embedded country and ASN tables from the ip-location-db registry packages.

``python -m flowrt.enrich.geodata_build COUNTRY.tgz ASN.tgz OUTDIR`` reads the npm
packages ``@ip-location-db/geo-whois-asn-country`` (country by address, NRO statistics
and whois, CC BY 4.0) and ``@ip-location-db/asn`` (origin AS and organisation by
address, RouteViews and DB-IP ASN Lite, CC BY 4.0) as ``npm pack`` downloads them, and
writes ``country.frt.gz`` and ``asn.frt.gz`` (:mod:`flowrt.enrich.rangetable` format)
plus the data's licence texts. Only ``make geodata`` runs it, to refresh the tables
that ship in the package; the server never downloads anything.
"""

from __future__ import annotations

import csv
import io
import re
import sys
import tarfile
from pathlib import Path

from flowrt.enrich.rangetable import RangeBuilder, RangeTable

LICENCE_FILES = ("DBIP-LICENSE", "ROUTEVIEWS-LICENSE", "NRO_LICENSE", "MODIFICATIONS")


def _members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {
            m.name.removeprefix("package/"): tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers() if m.isfile()
        }


def _version(files: dict[str, bytes]) -> str:
    match = re.search(rb'"version"\s*:\s*"([^"]+)"', files.get("package.json", b""))
    return match.group(1).decode() if match else "unknown"


def build_country(files: dict[str, bytes], name: str) -> RangeTable:
    codes: dict[str, int] = {}
    values: list[object] = [None]
    builders = {32: RangeBuilder(32), 128: RangeBuilder(128)}
    for bits, member in ((32, "geo-whois-asn-country-ipv4-num.csv"),
                         (128, "geo-whois-asn-country-ipv6-num.csv")):
        for row in csv.reader(io.StringIO(files[member].decode())):
            code = row[2].strip().upper()
            if code not in codes:
                codes[code] = len(values)
                values.append(code)
            builders[bits].add(int(row[0]), int(row[1]), codes[code])
    return _table("country", values, builders, files, name)


def build_asn(files: dict[str, bytes], name: str) -> RangeTable:
    index: dict[tuple[int, str], int] = {}
    values: list[object] = [None]
    builders = {32: RangeBuilder(32), 128: RangeBuilder(128)}
    for bits, member in ((32, "asn-ipv4-num.csv"), (128, "asn-ipv6-num.csv")):
        for row in csv.reader(io.StringIO(files[member].decode())):
            key = (int(row[2]), row[3].strip())
            if key not in index:
                index[key] = len(values)
                values.append([key[0], key[1]])
            builders[bits].add(int(row[0]), int(row[1]), index[key])
    return _table("asn", values, builders, files, name)


def _table(kind: str, values: list[object], builders: dict[int, RangeBuilder],
           files: dict[str, bytes], name: str) -> RangeTable:
    from array import array

    table = RangeTable(kind, values)
    s4, v4 = builders[32].rows()
    s6, v6 = builders[128].rows()
    table.v4_starts, table.v4_values = array("I", s4), array("I", v4)
    table.v6_starts, table.v6_values = array("Q", s6), array("I", v6)
    licences = [files[n].decode().strip() for n in LICENCE_FILES if n in files]
    table.meta = {"source": name, "version": _version(files), "licence": "CC BY 4.0",
                  "attribution": licences, "widened_v6": builders[128].widened}
    return table


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    country_tgz, asn_tgz, outdir = Path(argv[0]), Path(argv[1]), Path(argv[2])
    outdir.mkdir(parents=True, exist_ok=True)
    notices = []
    for tgz, builder, name, out in (
        (country_tgz, build_country, "@ip-location-db/geo-whois-asn-country", "country"),
        (asn_tgz, build_asn, "@ip-location-db/asn", "asn"),
    ):
        files = _members(tgz)
        table = builder(files, name)
        table.save(outdir / f"{out}.frt.gz")
        notices.append(f"{out}.frt.gz: {name} {table.meta['version']} (CC BY 4.0)\n"
                       + "\n".join(table.meta["attribution"]))
        print(f"{out}: {table.rows} rows, {len(table.values) - 1} values,"
              f" version {table.meta['version']}, IPv6 ranges widened to /64:"
              f" {table.meta['widened_v6']}")
    (outdir / "NOTICE").write_text("\n\n".join(notices) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
