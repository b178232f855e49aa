"""REST bodies in JavaScript object syntax, as sFlow-RT accepts them."""

from __future__ import annotations

import json

import pytest

from flowrt.api.jsobject import NotAnObjectLiteral, to_json


def test_literals_become_json() -> None:
    text = "{keys:'ipsource,ipdestination', value:'bytes', n:10, log:true, f:null,}"
    assert json.loads(to_json(text)) == {
        "keys": "ipsource,ipdestination", "value": "bytes", "n": 10, "log": True, "f": None}
    assert json.loads(to_json("{$a:['x\\'y', \"z\"], b_1:{c:-1.5e3}}")) == {
        "$a": ["x'y", "z"], "b_1": {"c": -1500.0}}


@pytest.mark.parametrize("text", ["{a:undefined}", "{a:'open}", "{a:1+2}", "{a:0x10}",
                                  "{a: b}"])
def test_non_literals_refused(text: str) -> None:
    with pytest.raises(NotAnObjectLiteral):
        to_json(text)
