"""country:, asn:, oui:, dns: through a real ``flowrt run``: generated sFlow over UDP, a
real dnsmasq for dns.servers, a .mmdb file for geo.country, flows defined over REST
and by a script, values read back over REST."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from mmdb_writer import MMDBWriter
from netaddr import IPSet
from traffic import Agent

from dnsservers import dnsmasq
from traffic_frames import public_frames

if TYPE_CHECKING:
    from flowrt_process import FlowrtProcess

pytest_plugins = ["flowrt_process"]  # the ``flowrt`` fixture (see flowrt_process.flowrt)
Start = Callable[..., "FlowrtProcess"]
KEYS = "ipsource,country:ipsource,asn:ipsource,oui:macsource:name,dns:ipsource"
SCRIPT = """
setFlow('scripted', {keys:'country:ipsource:both,asn:ipsource:both,oui:macsource',
                     value:'frames', n:10, t:2});
"""


def keys_of(server: FlowrtProcess, name: str) -> set[str]:
    return {row["key"] for row in server.get_json(f"/activeflows/ALL/{name}/json")}


def test_enrichment_keys_through_the_rest_api_and_a_script(flowrt: Start, tmp_path: Path
                                                            ) -> None:
    (tmp_path / "enrich.js").write_text(SCRIPT)
    with dnsmasq() as (host, port):
        server = flowrt(f"-Ddns.servers={host}:{port}", f"-Dscript.file={tmp_path / 'enrich.js'}")
        assert server.put("/flow/enriched/json",
                          {"keys": KEYS, "value": "frames", "n": 10, "t": 2}).status_code == 204
        agent = Agent("192.0.2.40", sampling_rate=10)
        server.send(agent.packets(public_frames()))
        # the first samples are keyed by the address; the names follow the lookups
        server.wait_for("/analyzer/json",
                        lambda a: a["dnsNames"] == 2 and a["dnsPending"] == 0, 20)
        server.send(agent.packets(public_frames()))
        expected = {
            "8.8.8.8,US,15169,Intel Corporate,dns.google.",
            "1.1.1.1,AU,13335,VMware, Inc.,one.one.one.one.",
        }
        rows = server.wait_for("/activeflows/ALL/enriched/json",
                               lambda body: expected <= {r["key"] for r in body}, 20)
        keys = {r["key"] for r in rows}
        # 8.8.4.4 has no PTR record (NXDOMAIN): its address is its name; 10/8 is private
        assert "8.8.4.4,US,15169,Intel Corporate,8.8.4.4" in keys
        assert not any(k.startswith("10.0.0.1,") for k in keys)  # null keys drop the sample
        assert "scripted" in server.get_json("/flow/json"), server.log
        scripted = server.get_json("/activeflows/ALL/scripted/json")
        assert {r["key"] for r in scripted} >= {
            "US United States of America,AS15169 Google LLC,001B21",
            "AU Australia,AS13335 Cloudflare, Inc.,000C29",
        }
        analyzer = server.get_json("/analyzer/json")
        assert analyzer["dnsLookups"] == 3 and analyzer["dnsNegatives"] == 1
        assert analyzer["dnsTimeouts"] == 0 and analyzer["dnsQueueDrops"] == 0
        assert analyzer["geoLookups"] >= 7 and analyzer["geoCacheHits"] > 0
        assert analyzer["ouiInvalid"] == 0
        prom = server.get("/prometheus/analyzer/txt").text
        assert "flowrt_dns_names_total 2" in prom


def test_a_geo_country_mmdb_file_replaces_the_embedded_table(flowrt: Start, tmp_path: Path
                                                             ) -> None:
    path = tmp_path / "country.mmdb"
    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-Country", ipv4_compatible=True)
    writer.insert_network(IPSet(["8.8.8.0/24"]), {"country": {"iso_code": "SE"}})
    writer.to_db_file(str(path))
    server = flowrt(f"-Dgeo.country={path}")
    assert server.put("/flow/cc/json", {"keys": "ipsource,country:ipsource",
                                        "value": "frames"}).status_code == 204
    server.send(Agent("192.0.2.41", sampling_rate=10).packets(public_frames()))
    rows = server.wait_for("/activeflows/ALL/cc/json", lambda b: len(b) >= 1, 20)
    assert {r["key"] for r in rows} == {"8.8.8.8,SE"}  # 1.1.1.1, 8.8.4.4: not in the file
