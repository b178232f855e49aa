"""The Nashorn rewrite and the baseline detector, on their own."""

from __future__ import annotations

import pytest

from flowrt.scripts.baseline import Baseline, BaselineError
from flowrt.scripts.rewrite import rewrite_legacy


@pytest.mark.parametrize(("legacy", "modern"), [
    ("for each (var x in o) { s += x; }", "for (var x of __each( o)) { s += x; }"),
    ("var f = function(a) a+1, g = 2;", "var f = function(a) { return a+1; }, g = 2;"),
    ("l.map(function(x) x.key).join(',')", "l.map(function(x) { return x.key; }).join(',')"),
    ("var s = 'for each (x in y)'; function ok(a) { return a }",
     "var s = 'for each (x in y)'; function ok(a) { return a }"),
    ("// function(a) a\nfunction f(a)\n{ return a }",
     "// function(a) a\nfunction f(a)\n{ return a }"),
])
def test_rewrite_legacy(legacy: str, modern: str) -> None:
    assert rewrite_legacy(legacy) == modern
    assert rewrite_legacy(legacy).count("\n") == legacy.count("\n")


def test_baseline_learns_then_flags_repeated_outliers() -> None:
    b = Baseline(window=4, sensitivity=1, repeat=2)
    assert [b.check(v) for v in (10, 11, 9, 10)] == ["learning"] * 4
    assert b.check(10) == "normal"
    assert b.check(100) == "normal"  # one outlier is not enough with repeat=2
    assert b.check(100) == "high"
    stats = b.statistics()
    assert stats["count"] == 4 and stats["max"] == 100
    b.reset()
    assert b.check(1) == "learning"
    with pytest.raises(BaselineError):
        Baseline(window=1, sensitivity=2, repeat=1)
