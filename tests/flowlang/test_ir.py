"""The flow IR: what the parsers build, canonical text, round trips, equality and hashing."""

from __future__ import annotations

import json

import pytest

from flowrt.flowlang.errors import FilterError, FlowSpecError
from flowrt.flowlang.filters import parse_filter
from flowrt.flowlang.ir import (
    And,
    Call,
    Compare,
    Field,
    FlowIR,
    Literal,
    Or,
    Value,
    walk,
)
from flowrt.flowlang.keys import FUNCTIONS, UNAVAILABLE, parse_key, parse_value
from flowrt.flowlang.spec import FlowSpec, parse_flow

F, L = Field, Literal


@pytest.mark.parametrize(
    ("text", "tree", "canonical"),
    [
        ("ipsource", F("ipsource"), "ipsource"),
        (" ipsource.1 ", F("ipsource.1"), "ipsource.1"),
        ("[ipsource]", F("ipsource"), "ipsource"),
        ("group:ipsource:lan:wan", Call("group", (F("ipsource"), L("lan"), L("wan"))), None),
        ("map:tcpdestinationport:svc", Call("map", (F("tcpdestinationport"), L("svc"))), None),
        ("prefix:stack:.:2", Call("prefix", (F("stack"), L("."), L("2"))), None),
        ("suffix:dnsqname:.:0x2", Call("suffix", (F("dnsqname"), L("."), L("2"))),
         "suffix:dnsqname:.:2"),
        ("mask:ipsource:24", Call("mask", (F("ipsource"), L("24"))), None),
        ("range:bytes:0:63.0", Call("range", (F("bytes"), L("0"), L("63"))), "range:bytes:0:63"),
        ("range:bytes:1.5", Call("range", (F("bytes"), L("1.5"))), None),
        ("null:udpsourceport:none", Call("null", (F("udpsourceport"), L("none"))), None),
        ("or:ipsource:ip6source:agent", Call("or", (F("ipsource"), F("ip6source"),
                                                    F("agent"))), None),
        ("eq:ipsource:ipdestination", Call("eq", (F("ipsource"), F("ipdestination"))), None),
        ("if:ipprotocol:6:tcpsourceport:udpsourceport",
         Call("if", (F("ipprotocol"), L("6"), F("tcpsourceport"), F("udpsourceport"))), None),
        ("first:stack:.:tcp:udp", Call("first", (F("stack"), L("."), L("tcp"), L("udp"))),
         None),
        ("concat:\\::ipsource:tcpsourceport",
         Call("concat", (L(":"), F("ipsource"), F("tcpsourceport"))), None),
        ("bits:tcpflags:0x12", Call("bits", (F("tcpflags"), L("18"))), "bits:tcpflags:18"),
        ("link:inputifindex", Call("link", (F("inputifindex"),)), None),
        ("uri:httpurl:path", Call("uri", (F("httpurl"), L("path"))), None),
        ("country:ipsource", Call("country", (F("ipsource"),)), None),
        ("country:ip6source:both", Call("country", (F("ip6source"), L("both"))), None),
        ("asn:ipdestination:number", Call("asn", (F("ipdestination"), L("number"))), None),
        ("oui:macsource:name", Call("oui", (F("macsource"), L("name"))), None),
        ("null:[dns:ipsource]:", Call("null", (Call("dns", (F("ipsource"),)), L(""))), None),
        ("prefix:[uri:httpurl:path]:/:2",
         Call("prefix", (Call("uri", (F("httpurl"), L("path"))), L("/"), L("2"))), None),
        ("concat:\\,:a:[null:b:x\\=y]",
         Call("concat", (L(","), F("a"), Call("null", (F("b"), L("x=y"))))), None),
    ],
)
def test_key_expressions_parse_print_and_reparse(text: str, tree: object, canonical: str | None
                                                 ) -> None:
    parsed = parse_key(text)
    assert parsed == tree
    assert str(parsed) == (text.strip() if canonical is None else canonical)
    assert parse_key(str(parsed)) == parsed


def test_every_key_function_is_covered_above_and_has_a_usage() -> None:
    assert set(FUNCTIONS) == {"group", "map", "prefix", "suffix", "mask", "range", "null", "or",
                              "eq", "if", "first", "concat", "bits", "link", "uri",
                              "country", "asn", "oui", "dns"}
    for name, signature in FUNCTIONS.items():
        assert signature.usage.startswith(f"{name}:")
        count = 1 if signature.most is None else signature.most + 1  # too few / too many
        with pytest.raises(FlowSpecError, match="usage: " + name):
            parse_key(f"{name}:" + ":".join(["x"] * count))
    for name in UNAVAILABLE:
        with pytest.raises(FlowSpecError, match="not available yet"):
            parse_key(f"{name}:ipsource")


@pytest.mark.parametrize("text", ["country:ipsource:iso", "asn:ipsource:org",
                                  "oui:macsource:vendor", "country:ipsource:[ipsource]"])
def test_enrichment_attributes_are_checked(text: str) -> None:
    with pytest.raises(FlowSpecError, match="attribute"):
        parse_key(text)


def test_literals_with_special_characters_print_escaped_and_survive_every_context() -> None:
    tricky = Call("concat", (L(",:[]=!~&|()\\ x"), F("ipsource"), F("agent")))
    text = str(tricky)
    assert text == "concat:\\,\\:\\[\\]\\=\\!\\~\\&\\|\\(\\)\\\\ x:ipsource:agent"
    assert parse_key(text) == tricky
    spec = FlowSpec.from_json("f", {"keys": f"{text},agent", "value": "bytes",
                                    "filter": f"{text}=a|agent=b"})
    assert spec.ir.keys == (tricky, F("agent"))
    assert spec.ir.filter == Or((Compare(tricky, "=", ("a",)), Compare(F("agent"), "=", ("b",))))


@pytest.mark.parametrize(
    ("text", "value", "canonical"),
    [
        ("bytes", Value("sum", F("bytes")), "bytes"),
        ("rate:bytes", Value("sum", F("bytes")), "bytes"),
        ("avg:ipbytes", Value("avg", F("ipbytes")), None),
        ("min:ipttl", Value("min", F("ipttl")), None),
        ("max:bytes", Value("max", F("bytes")), None),
        ("count:ipsource", Value("count", F("ipsource")), None),
        ("avg:null:tcprtt:0", Value("avg", Call("null", (F("tcprtt"), L("0")))), None),
        ("avg", Value("sum", F("avg")), None),  # a kind without a body is a key name
    ],
)
def test_value_expressions(text: str, value: Value, canonical: str | None) -> None:
    assert parse_value(text) == value
    assert str(value) == (text if canonical is None else canonical)
    assert parse_value(str(value)) == value


@pytest.mark.parametrize(
    ("text", "tree", "canonical"),
    [
        ("ipprotocol=6", Compare(F("ipprotocol"), "=", ("6",)), None),
        ("ipprotocol!=6,17", Compare(F("ipprotocol"), "!=", ("6", "17")), None),
        ("vxlanvni=null", Compare(F("vxlanvni"), "=", (None,)), None),
        ("name='null'", Compare(F("name"), "=", ("null",)), None),
        ("tcpflags~.......1.", Compare(F("tcpflags"), "~", (".......1.",)), None),
        ("stack!~.*(udp|tcp).*", Compare(F("stack"), "!~", (".*(udp|tcp).*",)),
         "stack!~'.*(udp|tcp).*'"),
        ("a=x\\,y", Compare(F("a"), "=", ("x,y",)), "a='x,y'"),
        ("a='it\\'s'", Compare(F("a"), "=", ("it's",)), None),
        ("'ipsource' = 10.0.0.1", Compare(F("ipsource"), "=", ("10.0.0.1",)), "ipsource=10.0.0.1"),
        ("range:bytes:0:63=true", Compare(Call("range", (F("bytes"), L("0"), L("63"))), "=",
                                          ("true",)), None),
        ("a=1&b=2", And((Compare(F("a"), "=", ("1",)), Compare(F("b"), "=", ("2",)))), None),
        ("a=1|b=2|c=3", Or(tuple(Compare(F(k), "=", (v,)) for k, v in
                                 (("a", "1"), ("b", "2"), ("c", "3")))), None),
        ("(a=1|b=2)&c=3", And((Or((Compare(F("a"), "=", ("1",)), Compare(F("b"), "=", ("2",)))),
                               Compare(F("c"), "=", ("3",)))), None),
        ("(a=1&b=2)|c=3", Or((And((Compare(F("a"), "=", ("1",)), Compare(F("b"), "=", ("2",)))),
                              Compare(F("c"), "=", ("3",)))), "a=1&b=2|c=3"),
        ("((a=1|b=2))|(c=3)", Or(tuple(Compare(F(k), "=", (v,)) for k, v in
                                       (("a", "1"), ("b", "2"), ("c", "3")))), "a=1|b=2|c=3"),
    ],
)
def test_filters_parse_print_and_reparse(text: str, tree: object, canonical: str | None) -> None:
    parsed = parse_filter(text)
    assert parsed == tree
    assert str(parsed) == (text if canonical is None else canonical)
    assert parse_filter(str(parsed)) == parsed


@pytest.mark.parametrize("value", ["", " x ", "a b", "null", "x and y=1", "(", "a\\", "a\\'b",
                                   "'", "a,b|c&d)", "\\\\"])
def test_any_equality_value_prints_back_to_itself(value: str) -> None:
    node = Compare(F("k"), "=", (value,))
    if value.endswith("\\") and " " in value:
        return  # an unquotable value with spaces: documented as unrepresentable
    assert parse_filter(str(node)) == node


def test_blank_filter_is_none_and_errors_keep_their_positions() -> None:
    assert parse_filter("  ") is None
    with pytest.raises(FilterError, match="expected a comparison such as ipprotocol=6 at"
                                          " column 5") as err:
        parse_filter("a=1&")
    assert err.value.position == 4
    with pytest.raises(FilterError, match="unbalanced regex: missing '\\]' at column 3"):
        parse_filter("a~[0-9")


def test_nodes_are_hashable_values() -> None:
    one = parse_flow(FlowSpec.from_json("a", {"keys": "ipsource,mask:ipdestination:24",
                                              "value": "rate:bytes", "filter": "ipprotocol=6"}))
    two = parse_flow(FlowSpec.from_json("b", {"keys": ["ipsource", "mask:ipdestination:0x18"],
                                              "value": "bytes", "filter": " ipprotocol = 6 "}))
    assert one == two and hash(one) == hash(two)
    assert len({one, two, parse_key("ipsource"), F("ipsource")}) == 2
    other = parse_flow(FlowSpec.from_json("c", {"keys": "ipsource", "value": "bytes"}))
    assert other != one
    with pytest.raises(AttributeError):
        one.fs = ";"  # type: ignore[misc]


def test_flow_ir_prints_as_a_definition_that_parses_back() -> None:
    spec = FlowSpec.from_json("f", {
        "keys": "ipsource,concat:\\,:a:b", "value": "avg:bytes", "values": ["frames"],
        "filter": "ipprotocol=6&(tcpdestinationport=80|tcpdestinationport=443)",
        "fs": "|", "dropped": True, "n": 7, "log": True,
    })
    ir = spec.ir
    body = json.loads(str(ir))
    assert body == {
        "keys": ["ipsource", "concat:\\,:a:b"], "value": "avg:bytes", "values": ["frames"],
        "filter": "ipprotocol=6&(tcpdestinationport=80|tcpdestinationport=443)",
        "fs": "|", "dropped": True,
    }
    assert FlowSpec.from_json("g", body).ir == ir
    assert ir.fields() == {"ipsource", "a", "b", "bytes", "frames", "ipprotocol",
                           "tcpdestinationport"}
    assert FlowIR(keys=(), value=Value("sum", F("frames"))).to_json()["filter"] == ""


def test_walk_visits_every_node() -> None:
    tree = parse_filter("group:[mask:ipsource:24]:lan=x&b=1")
    assert tree is not None
    names = [type(node).__name__ for node in walk(tree)]
    assert names == ["And", "Compare", "Call", "Call", "Field", "Literal", "Literal", "Compare",
                     "Field"]
