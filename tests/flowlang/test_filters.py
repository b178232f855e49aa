"""The filter language: every operator, combinator, quoting rule, error and limit."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowrt.engine.groups import Lookups
from flowrt.flowlang.errors import FilterError
from flowrt.flowlang.executor import compile_filter
from flowrt.flowlang.filters import MAX_FILTER_LENGTH
from flowrt.flowlang.view import DictSampleView

TCP = DictSampleView(
    ipsource="10.0.0.1",
    ipdestination="10.0.0.2",
    ipprotocol=6,
    tcpflags="000000010",
    tcpdestinationport=443,
    bytes=1500,
    httpmimetype="image/png",
    httpurl="/a,b/login?x=1",
    bgpas=65000,
    bgpsourceas=65001,
)


def matches(text: str, view: DictSampleView = TCP, lookups: Lookups | None = None) -> bool:
    return compile_filter(text, lookups)(view)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", True),
        ("   ", True),
        ("ipprotocol=6", True),
        ("ipprotocol=17", False),
        ("ipprotocol=1,6,17", True),
        ("ipdestination!=10.0.0.1,10.0.0.3", True),
        ("ipdestination!=10.0.0.1,10.0.0.2", False),
        ("(ipsource=10.0.0.1|ipdestination=10.0.0.1)&ipprotocol=1,6,17", True),
        ("(ipsource=10.0.0.9|ipdestination=10.0.0.9)&ipprotocol=1,6,17", False),
        ("ipprotocol=17|ipprotocol=6&bytes=1500", True),  # & binds tighter than |
        ("(ipprotocol=17|ipprotocol=6)&bytes=1", False),
        (" ipprotocol = 6 & ( bytes = 1500 ) ", True),  # whitespace around tokens
        ("tcpflags~.......1.", True),  # SYN
        ("tcpflags~....1..1.", False),  # SYN-ACK
        ("httpmimetype~image/.*", True),
        ("httpmimetype~image", False),  # full match, not search
        ("httpmimetype!~video/.*,audio/.*", True),
        ("ipsource~10\\.0\\.0\\.[0-9]{1,3}", True),  # braces keep the comma inside
        ("ipsource~(10|11)\\..*", True),  # parentheses and | inside a pattern
        ("httpurl~[,]?/a\\,b/.*", True),  # \, in a pattern matches a comma
        ("httpurl=/a\\,b/login?x=1", True),  # \, in a value is a literal comma
        ("vxlanvni=null", True),
        ("vxlanvni!=null", False),
        ("ipsource=null", False),
        ("ipsource!=null", True),
        ("vxlanvni=null,5", True),
        ("vxlanvni!=5", True),  # != is the negation of =, also for missing keys
        ("vxlanvni~.*", False),
        ("vxlanvni!~.*", True),
        ("vxlanvni~null", True),
        ("'ipsource'='10.0.0.1'", True),  # browse-flows style quoting
        ("'ipsource'='null'", False),  # a quoted null is text
        ("'httpurl'='/a,b/login?x=1'", True),
        ("eq:bgpsourceas:bgpas=false", True),
        ("range:bytes:1519=true", False),
        ("range:bytes:64:1518=true", True),
        ("[range:bytes:64:1518]=true", True),
        ("prefix:httpurl:/:2=/a\\,b", True),
        ("nosuchkey=1", False),
    ],
)
def test_filter_semantics(text: str, expected: bool) -> None:
    assert matches(text) is expected


def test_key_functions_see_groups() -> None:
    registry = Lookups()
    registry.set_groups("lan", {"inside": ["10.0.0.0/24"]})
    assert matches("group:ipsource:lan=inside", lookups=registry)
    assert not matches("group:ipsource:lan=null", lookups=registry)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(ipprotocol=6", "expected '\\)' at column 14"),
        ("ipprotocol=6)", "unexpected '\\)' at column 13"),
        ("ipprotocol", "expected '=', '!=', '~' or '!~' at column 11"),
        ("ipprotocol>6", "'<' and '>' are not operators; use range:.* at column 11"),
        ("ipprotocol=", "expected a value at column 12"),
        ("ipprotocol=6,", "expected a value at column 14"),
        ("ipsource=(", "unexpected .\\(. in a value .* at column 10"),
        ("ipprotocol==6", "'==' is not an operator; use '=' at column 11"),
        ("ipprotocol!==6", "'!==' is not an operator; use '!=' at column 11"),
        ("ipprotocol=6 and tcpdestinationport=80", "combine comparisons with & and \\|"),
        ("ipprotocol=6&", "expected a comparison such as ipprotocol=6 at column 14"),
        ("&ipprotocol=6", "expected a comparison"),
        ("()", "expected a comparison"),
        ("=6", "expected a flow key at column 1"),
        ("bogus:ipsource=1", "unknown key function 'bogus'.* at column 1"),
        ("ipprotocol=6&mask:ipsource:99x=1", "mask bits must be an integer.* at column 14"),
        ("ipsource='10.0.0.1", "unterminated quote at column 10"),
        ("ipsource~(10", "unbalanced regex: missing '\\)' at column 10"),
        ("ipsource~a{2,1}", "bad pattern 'a\\{2,1\\}'.* at column 10"),
        ("ipsource~*", "bad pattern"),
    ],
)
def test_errors_say_what_and_where(text: str, message: str) -> None:
    with pytest.raises(FilterError, match=message):
        compile_filter(text)


def test_error_carries_position() -> None:
    with pytest.raises(FilterError) as caught:
        compile_filter("(ipsource=1|ipdestination=2")
    assert caught.value.position == len("(ipsource=1|ipdestination=2")


def test_pathological_inputs_are_rejected() -> None:
    with pytest.raises(FilterError, match="longer than"):
        compile_filter("a=" + "x" * MAX_FILTER_LENGTH)
    with pytest.raises(FilterError, match="nested more than"):
        compile_filter("(" * 100 + "a=1" + ")" * 100)
    with pytest.raises(FilterError, match="pattern longer than"):
        compile_filter("a~" + "x" * 5000)
    deep_but_fine = "(" * 30 + "ipprotocol=6" + ")" * 30
    assert matches(deep_but_fine)


def test_long_any_of_lists_work() -> None:
    addresses = ",".join(f"10.1.{i // 256}.{i % 256}" for i in range(5000))
    assert matches(f"ipsource={addresses},10.0.0.1")
    assert not matches(f"ipsource={addresses}")


values = st.one_of(st.none(), st.sampled_from(["x", "y", "z"]), st.integers(0, 3))


@given(a=values, b=values)
def test_or_of_two_comparisons_is_python_or(a: object, b: object) -> None:
    view = DictSampleView({k: v for k, v in (("a", a), ("b", b)) if v is not None})
    predicate = compile_filter("a=x|b=y")
    assert predicate(view) == (a == "x" or b == "y")
    both = compile_filter("a=x,1&b!=y")
    assert both(view) == (a in ("x", 1) and b != "y")
