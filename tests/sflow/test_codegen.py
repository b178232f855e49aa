"""Generated code keeps its source: tracebacks through it show the generated lines."""

from __future__ import annotations

import linecache
import traceback
from collections import OrderedDict

import pytest

from flowrt.engine.flowlog import FlowLog
from flowrt.engine.flows import Flow
from flowrt.engine.groups import Lookups
from flowrt.flowlang.spec import FlowSpec
from flowrt.sflow import codegen, packet
from flowrt.sflow.codegen import run_generated


def test_a_generated_function_that_raises_shows_its_source_line() -> None:
    env = run_generated("def half(x):\n    y = x + 1\n    return 1 // (y - y)\n", "test",
                        "half", {})
    try:
        env["half"](3)
    except ZeroDivisionError:
        text = traceback.format_exc()
    else:
        pytest.fail("the generated function did not raise")
    assert "return 1 // (y - y)" in text
    assert '<test half ' in text


def test_a_flow_counter_traceback_shows_the_generated_line() -> None:
    spec = FlowSpec.from_json("shown", {"keys": "ipsource", "value": "bytes"})
    flow = Flow(spec, Lookups(), FlowLog(10))
    try:
        flow.counter(object(), ("192.0.2.1", "1"), 0.0)  # type: ignore[arg-type]
    except AttributeError:
        text = traceback.format_exc()
    else:
        pytest.fail("a view without a header did not raise")
    assert "<flow shown " in text
    assert "h = view.header" in text


def test_packet_extractors_register_their_source() -> None:
    extract = packet.extractor("tcpdestinationport")
    assert extract is not None
    filenames = {f for f in linecache.cache if f.startswith("<packet ")}
    assert filenames
    assert all(linecache.getline(f, 1).startswith("def ") for f in filenames)


def test_equal_sources_share_one_entry_and_the_registry_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one = run_generated("def f():\n    return 1\n", "test", "same", {})
    two = run_generated("def f():\n    return 1\n", "test", "same", {})
    assert one["f"].__code__.co_filename == two["f"].__code__.co_filename
    monkeypatch.setattr(codegen, "MAX_SOURCES", 3)
    monkeypatch.setattr(codegen, "_registered", OrderedDict())  # evict only this test's
    names = [run_generated(f"def f():\n    return {i}\n", "test", "bounded", {})["f"]
             .__code__.co_filename for i in range(5)]
    assert [name in linecache.cache for name in names] == [False, False, True, True, True]
