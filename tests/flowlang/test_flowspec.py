"""Flow definitions: validation, defaults, the GET shape, and per-sample extraction."""

from __future__ import annotations

import pytest

from flowrt.engine.groups import Lookups
from flowrt.flowlang.errors import FilterError, FlowSpecError
from flowrt.flowlang.executor import CompiledFlow
from flowrt.flowlang.spec import FlowSpec, split_keys
from flowrt.flowlang.view import DictSampleView

TCP = DictSampleView(
    ipsource="10.0.0.1",
    ipdestination="10.0.0.2",
    ipprotocol=6,
    tcpsourceport=33412,
    tcpdestinationport=80,
    bytes=1500,
    frames=1,
)


def test_defaults_are_filled_in_the_get_shape() -> None:
    spec = FlowSpec.from_json("pair", {"keys": "ipsource,ipdestination", "value": "bytes"})
    assert spec.to_json() == {
        "keys": "ipsource,ipdestination",
        "value": "bytes",
        "filter": "",
        "n": 5,
        "t": 2.0,
        "fs": ",",
        "log": False,
        "flowStart": False,
        "activeTimeout": 60,
        "dropped": False,
    }


def test_every_attribute_round_trips() -> None:
    body = {
        "keys": ["ipsource", "ipdestination"],
        "value": "bytes",
        "values": "frames,avg:bytes",
        "filter": "ipprotocol=6",
        "n": 10,
        "t": 10,
        "fs": "_SEP_",
        "log": True,
        "flowStart": True,
        "activeTimeout": 10,
        "dropped": True,
        "aggMode": "AGENT",
        "ipfixCollectors": ["10.0.0.1"],
    }
    spec = FlowSpec.from_json("all", body)
    out = spec.to_json()
    assert out["keys"] == "ipsource,ipdestination"
    assert out["values"] == ["frames", "avg:bytes"]
    assert (out["n"], out["t"], out["fs"], out["activeTimeout"]) == (10, 10.0, "_SEP_", 10)
    assert out["log"] and out["flowStart"] and out["dropped"]
    assert out["aggMode"] == "AGENT" and out["ipfixCollectors"] == ["10.0.0.1"]
    assert FlowSpec.from_json("all", out) == spec  # a GET body can be PUT back


@pytest.mark.parametrize(
    ("attribute", "given", "stored"),
    [("n", 1, 5), ("n", 100, 20), ("n", 7.6, 8), ("t", 0.01, 0.2), ("t", 9999, 600.0)],
)
def test_n_and_t_are_clamped(attribute: str, given: float, stored: float) -> None:
    spec = FlowSpec.from_json("f", {"value": "bytes", attribute: given})
    assert spec.to_json()[attribute] == stored


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "'value' is required"),
        ({"value": ""}, "'value' is required"),
        ({"value": 5}, "'value' is required"),
        ({"value": "bytes", "key": "ipsource"}, "unknown flow attribute\\(s\\): key"),
        ({"value": "bytes", "zz": 1, "aa": 2}, "unknown flow attribute\\(s\\): aa, zz"),
        ({"value": "bytes", "keys": 5}, "'keys' must be a string or a list"),
        ({"value": "bytes", "keys": ["a", 1]}, "'keys' must be a string or a list"),
        ({"value": "bytes", "n": "ten"}, "'n' must be a number"),
        ({"value": "bytes", "t": "inf"}, "'t' must be a number"),
        ({"value": "bytes", "t": True}, "'t' must be a number"),
        ({"value": "bytes", "log": "yes"}, "'log' must be true or false"),
        ({"value": "bytes", "filter": ["a=1"]}, "'filter' must be a string"),
        ({"value": "bytes", "fs": 1}, "'fs' must be a string"),
        ({"value": "bytes", "activeTimeout": 0}, "'activeTimeout' must be positive"),
        ({"value": "bytes", "aggMode": "median"}, "'aggMode' must be one of"),
        ({"value": "bytes", "ipfixCollectors": [1]}, "'ipfixCollectors' must be a list"),
    ],
)
def test_bad_specs_name_the_attribute(body: dict, message: str) -> None:
    with pytest.raises(FlowSpecError, match=message):
        FlowSpec.from_json("f", body)


def test_bad_names_and_bodies() -> None:
    with pytest.raises(FlowSpecError, match="invalid flow name"):
        FlowSpec.from_json("a.b", {"value": "bytes"})
    with pytest.raises(FlowSpecError, match="must be a JSON object"):
        FlowSpec.from_json("f", ["value", "bytes"])


def test_keys_split_honours_escapes_and_brackets() -> None:
    assert split_keys("ipsource,ipdestination") == ["ipsource", "ipdestination"]
    assert split_keys("concat:\\,:a:b,c") == ["concat:\\,:a:b", "c"]
    assert split_keys("a,,b, ") == ["a", "b"]
    assert split_keys("") == []


def test_compile_errors_surface_as_flowspec_errors() -> None:
    with pytest.raises(FlowSpecError, match="unknown key function"):
        CompiledFlow(FlowSpec.from_json("f", {"keys": "bogus:x", "value": "bytes"}).ir)
    with pytest.raises(FilterError, match="column"):
        CompiledFlow(FlowSpec.from_json("f", {"value": "bytes", "filter": "a=1&"}).ir)


def compiled(**body: object) -> CompiledFlow:
    return CompiledFlow(FlowSpec.from_json("f", body).ir, Lookups())


def test_extract_joins_keys_with_fs() -> None:
    flow = compiled(keys="ipsource,ipdestination,tcpdestinationport", value="bytes", fs="_SEP_")
    assert flow.extract(TCP) == ("10.0.0.1_SEP_10.0.0.2_SEP_80", 1500, None)


def test_keyless_flow_is_one_aggregate() -> None:
    assert compiled(value="frames").extract(TCP) == ("", 1, None)


def test_filter_rejects_samples() -> None:
    flow = compiled(keys="ipsource", value="bytes", filter="ipprotocol=17")
    assert flow.extract(TCP) is None


def test_null_key_skips_the_sample_unless_null_function_is_used() -> None:
    assert compiled(keys="ipsource,udpsourceport", value="bytes").extract(TCP) is None
    flow = compiled(keys="ipsource,null:udpsourceport:none", value="bytes")
    assert flow.extract(TCP) == ("10.0.0.1,none", 1500, None)


def test_missing_value_skips_and_missing_values_count_as_zero() -> None:
    assert compiled(keys="ipsource", value="duration").extract(TCP) is None
    flow = compiled(keys="ipsource", value="bytes", values=["frames", "duration"])
    assert flow.extract(TCP) == ("10.0.0.1", 1500, (1, 0.0))
    assert [v.kind for v in flow.values_exprs] == ["sum", "sum"]


def test_group_keys_use_the_shared_lookups() -> None:
    lookups = Lookups()
    flow = CompiledFlow(
        FlowSpec.from_json("g", {"keys": "group:ipsource:site", "value": "bytes"}).ir, lookups
    )
    assert flow.extract(TCP) is None  # group set not defined yet
    lookups.set_groups("site", {"lan": ["10.0.0.0/24"]})
    assert flow.extract(TCP) == ("lan", 1500, None)
