"""Key expressions, key functions, value expressions, and the group/map lookups they use."""

from __future__ import annotations

import re

import pytest

from flowrt.engine.groups import GroupError, GroupSet, Lookups, ValueMap
from flowrt.flowlang.errors import FlowSpecError
from flowrt.flowlang.executor import compile_key, compile_value
from flowrt.flowlang.functions import uri_part
from flowrt.flowlang.view import DictSampleView

SAMPLE = DictSampleView(
    httpurl="http://localhost:8008/metrics/json",
    dnsqname="www.example.com.",
    bytes=1500,
    frames=1,
    ipsource="10.1.2.3",
    ipdestination="192.168.1.9",
    ip6source="2001:db8:1:2::1",
    stack="eth.ip.tcp",
    tcpsourceport=443,
    icmptype=8,
    ibbtoptransport="RC",
    ibbtopname="SEND_ONLY",
    ip6flowlabel=0xABCDE,
    bgpas=65000,
    bgpsourceas=65000,
    ratio=2.0,
)


def key(expr: str, view: DictSampleView = SAMPLE, lookups: Lookups | None = None) -> str | None:
    return compile_key(expr, lookups)(view)


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("ipsource", "10.1.2.3"),
        ("tcpsourceport", "443"),  # numbers become text
        ("ratio", "2"),  # integral floats print like JavaScript numbers
        ("nosuchkey", None),  # unknown names are accepted and yield null
        ("ipsource.1", None),
        ("prefix:[uri:httpurl:path]:/:2", "/metrics"),
        ("prefix:stack:.:2", "eth.ip"),
        ("prefix:stack:.:9", "eth.ip.tcp"),
        ("suffix:dnsqname:.:2", "com."),
        ("suffix:dnsqname:.:3", "example.com."),
        ("mask:ipsource:24", "10.1.2.0"),
        ("mask:ipsource:0", "0.0.0.0"),
        ("mask:ipsource:64", "10.1.2.3"),  # bits beyond the address size are clamped
        ("mask:ip6source:32", "2001:db8::"),
        ("mask:stack:8", None),  # not an address
        ("range:bytes:0:63", "false"),
        ("range:bytes:1519", "false"),
        ("range:bytes:64:1518", "true"),
        ("range:bytes:1500:1500", "true"),  # inclusive bounds
        ("range:bytes:1000", "true"),  # open upper bound
        ("range:stack:0:10", None),
        ("or:tcpsourceport:udpsourceport:icmptype", "443"),
        ("or:udpsourceport:icmptype", "8"),
        ("or:udpsourceport:vni", None),
        ("null:vxlanvni:none", "none"),
        ("null:ipsource:none", "10.1.2.3"),
        ("eq:bgpsourceas:bgpas", "true"),
        ("eq:bgpsourceas:tcpsourceport", "false"),
        ("eq:bgpsourceas:nosuch", None),
        ("first:stack:.:ip:ip6", "ip"),
        ("first:stack:.:arp", None),
        ("if:[first:stack:.:ip:ip6]:ip:ipsource:ip6source", "10.1.2.3"),
        ("if:[first:stack:.:ip:ip6]:ip6:ipsource:ip6source", "2001:db8:1:2::1"),
        ("concat:\\::ibbtoptransport:ibbtopname", "RC:SEND_ONLY"),
        ("concat:-:ipsource:tcpsourceport", "10.1.2.3-443"),
        ("concat:-:ipsource:nosuch", None),
        ("bits:ip6flowlabel:0xF0000", str(0xA0000)),
        ("bits:tcpsourceport:255", str(443 & 255)),
        ("uri:httpurl:host", "localhost"),
        ("uri:httpurl:port", "8008"),
        ("uri:httpurl:file", "json"),
        ("uri:httpurl:extension", None),
        ("uri:httpurl:query", None),
        ("prefix:[concat:/:stack:ipsource]:.:1", "eth"),  # nesting inside nesting args
    ],
)
def test_key_functions(expr: str, expected: str | None) -> None:
    assert key(expr) == expected


def test_nested_brackets_compose() -> None:
    assert key("suffix:[prefix:[uri:httpurl:path]:/:3]:/:1") == "json"


def test_first_returns_outermost_protocol_of_a_tunnel_stack() -> None:
    view = DictSampleView(stack="eth.ip6.udp.vxlan.eth.ip.tcp")
    assert key("first:stack:.:ip:ip6", view) == "ip6"


@pytest.mark.parametrize(
    ("url", "part", "expected"),
    [
        ("HTTP://Example.COM:80/a/./b/../c?x=1#f", "normalized", "http://example.com/a/c?x=1#f"),
        ("https://u:pw@h.example:8443/p", "user", "u"),
        ("https://u:pw@h.example:8443/p", "authority", "u:pw@h.example:8443"),
        ("https://h.example/p/q.tar.gz?a=b#frag", "extension", "gz"),
        ("https://h.example/p/q.tar.gz?a=b#frag", "query", "a=b"),
        ("https://h.example/p/q.tar.gz?a=b#frag", "fragment", "frag"),
        ("https://h.example/p/", "file", None),
        ("/relative/path", "isabsolute", "false"),
        ("http://h/", "isabsolute", "true"),
        ("mailto:a@b.example", "isopaque", "true"),
        ("http://h/", "isopaque", "false"),
        ("/relative/path", "scheme", None),
        ("http://h:notaport/", "port", None),
    ],
)
def test_uri_parts(url: str, part: str, expected: str | None) -> None:
    assert uri_part(url, part) == expected


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("", "empty key expression"),
        ("bogus:ipsource", "unknown key function 'bogus'"),
        ("prefix:ipsource:.", "usage: prefix"),
        ("prefix:ipsource:.:x", "token count must be an integer"),
        ("prefix:ipsource::2", "non-empty delimiter"),
        ("mask:ipsource:200", "mask bits must be 0..128"),
        ("range:bytes:low", "range low must be a number"),
        ("uri:httpurl:nosuchpart", "unknown uri part"),
        ("prefix:[uri:httpurl:path:/:2", "missing ']'"),
        ("prefix:uri:httpurl:path]:/:2", "unmatched ']'"),
        ("prefix:[ipsource]x:.:2", "text after ']'"),
        ("ip source", "invalid flow key name"),
        ("null:ipsource:[ipdestination]", "default must be a literal"),
        ("ipsource\\", "dangling backslash"),
        ("x" * 2000, "longer than"),
        ("null:" * 20 + "ipsource" + ":x" * 20, "usage: null"),
    ],
)
def test_bad_key_expressions_name_the_problem(expr: str, message: str) -> None:
    with pytest.raises(FlowSpecError, match=message):
        compile_key(expr)


def test_nesting_depth_is_capped() -> None:
    expr = "ipsource"
    for _ in range(20):
        expr = f"null:[{expr}]:x"
    with pytest.raises(FlowSpecError, match="nested more than"):
        compile_key(expr)


def test_host_is_rejected_at_compile_time() -> None:
    with pytest.raises(FlowSpecError, match="key function 'host' is not available yet"):
        compile_key("host:macsource:os_name")


ENRICH_VIEW = DictSampleView(ipsource="8.8.8.8", ipdestination="1.1.1.1", ip6source="10.0.0.1",
                             ip6destination="2001:4860:4860::8888", macsource="001B21AABBCC",
                             macdestination="not-a-mac")


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("country:ipsource", "US"),
        ("country:ipdestination:code", "AU"),
        ("country:ipsource:name", "United States of America"),
        ("country:ipsource:both", "US United States of America"),
        ("country:ip6destination", "US"),
        ("country:ip6source", None),  # private
        ("null:[country:ip6source]:", ""),
        ("asn:ipsource", "15169"),
        ("asn:ipdestination:number", "13335"),
        ("asn:ipsource:name", "Google LLC"),
        ("asn:ipsource:descr", "Google LLC"),
        ("asn:ipsource:both", "AS15169 Google LLC"),
        ("asn:ip6destination", "15169"),
        ("asn:macsource", None),  # not an address
        ("oui:macsource", "001B21"),
        ("oui:macsource:name", "Intel Corporate"),
        ("oui:macdestination:name", None),
        ("dns:ipsource", "8.8.8.8"),  # no dns.servers: the address
        ("concat:-:[country:ipsource]:[asn:ipsource]", "US-15169"),
    ],
)
def test_enrichment_functions_with_the_embedded_data(expr: str, expected: str | None) -> None:
    assert key(expr, ENRICH_VIEW, Lookups()) == expected


def test_enrichment_functions_without_lookups_are_null() -> None:
    assert key("country:ipsource", ENRICH_VIEW) is None
    assert key("dns:ipsource", ENRICH_VIEW) == "8.8.8.8"


# --- groups and maps -------------------------------------------------------------------------
def lookups() -> Lookups:
    registry = Lookups()
    registry.set_groups(
        "site",
        {
            "private": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
            "lab": ["10.1.0.0/16", "2001:db8:1::/48"],
            "v6": ["2001:db8::/32"],
            "host": ["10.1.2.3"],
        },
    )
    registry.set_groups("world", {"other": ["0.0.0.0/0", "::/0"]})
    registry.set_map("services", {"web": ["80", 443, "8080"], "mail": ["25"]})
    return registry


def test_group_uses_longest_prefix_for_ipv4_and_ipv6() -> None:
    registry = lookups()
    assert key("group:ipsource:site", lookups=registry) == "host"  # /32 beats /16 and /8
    assert key("group:ipdestination:site", lookups=registry) == "private"
    assert key("group:ip6source:site", lookups=registry) == "lab"  # /48 beats /32
    view = DictSampleView(ipsource="10.9.9.9", ip6source="2001:db8:ff::1")
    assert key("group:ipsource:site", view, registry) == "private"
    assert key("group:ip6source:site", view, registry) == "v6"


def test_group_tries_group_sets_in_order_and_sees_later_changes() -> None:
    registry = lookups()
    fn = compile_key("group:ipsource:site:world", registry)
    assert fn(DictSampleView(ipsource="8.8.8.8")) == "other"
    assert fn(DictSampleView(ipsource="not-an-ip")) is None
    undefined = compile_key("group:ipsource:later", registry)
    assert undefined(SAMPLE) is None
    registry.set_groups("later", {"defined": ["10.0.0.0/8"]})
    assert undefined(SAMPLE) == "defined"
    registry.delete_groups("later")
    assert undefined(SAMPLE) is None


def test_group_tie_goes_to_the_first_label() -> None:
    groups = GroupSet({"first": ["10.0.0.0/8"], "second": ["10.0.0.0/8"]})
    assert groups.lookup("10.2.3.4") == "first"


def test_group_accepts_host_bits_and_rejects_bad_cidrs_by_name() -> None:
    assert GroupSet({"a": ["10.1.2.3/8"]}).lookup("10.200.0.1") == "a"
    with pytest.raises(GroupError, match=re.escape("10.0.0.0/33")):
        GroupSet({"a": ["10.0.0.0/33"]})
    with pytest.raises(GroupError, match=re.escape("10.0.0/8")):
        GroupSet({"a": ["10.0.0/8"]})
    with pytest.raises(GroupError, match="expected a list"):
        GroupSet({"a": "10.0.0.0/8"})


def test_map_returns_label_of_value() -> None:
    registry = lookups()
    assert key("map:tcpsourceport:services", lookups=registry) == "web"  # number vs "443"
    assert key("map:icmptype:services", lookups=registry) is None
    assert key("map:tcpsourceport:nosuchmap", lookups=registry) is None
    assert ValueMap({"a": ["x"], "b": ["x"]}).lookup("x") == "a"
    with pytest.raises(GroupError, match="not a string or number"):
        ValueMap({"a": [{"x": 1}]})


# --- value expressions -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("expr", "kind", "expected"),
    [
        ("bytes", "sum", 1500),
        ("frames", "sum", 1),
        ("rate:bytes", "sum", 1500),
        ("avg:bytes", "avg", 1500),
        ("min:tcpsourceport", "min", 443),
        ("max:ratio", "max", 2.0),
        ("count:ipsource", "count", "10.1.2.3"),  # the item whose distinct values count
        ("count:nosuch", "count", None),
        ("stack", "sum", None),  # not numeric: the sample does not count
        ("nosuch", "sum", None),
        ("null:nosuch:7", "sum", 7.0),
    ],
)
def test_value_expressions(expr: str, kind: str, expected: float | None) -> None:
    value = compile_value(expr)
    assert value.kind == kind
    assert value.extract(SAMPLE) == expected


def test_numeric_text_values_are_numbers() -> None:
    assert compile_value("duration").extract(DictSampleView(duration="12.5")) == 12.5


@pytest.mark.parametrize("unit,instead", [("bps", "bytes"), ("Bps", "bytes"), ("fps", "frames")])
def test_flow_browser_units_are_refused_with_the_key_to_use(unit: str, instead: str) -> None:
    """``bps`` is browse-flows' display unit; as a flow value it would never count."""
    with pytest.raises(FlowSpecError, match=f"define the flow with '{instead}'"):
        compile_value(unit)
