"""A deliberately simple interpreter of the flow IR: the test oracle of the executors.

It walks the tree for every sample, reading a :class:`DictSampleView`, and shares no code
with :mod:`flowrt.flowlang.executor` or :mod:`flowrt.flowlang.functions` except the
java.net.URI part extraction (a string helper, tested on its own in test_keyfuncs.py).
Slow and obvious on purpose.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Any

from flowrt.flowlang.functions import uri_part
from flowrt.flowlang.ir import And, Call, Compare, Field, Filter, FlowIR, Key, Literal, Or, Value
from flowrt.flowlang.lookups import KeyLookups
from flowrt.flowlang.view import DictSampleView


def text_of(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


def number_of(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def lit(node: object) -> str:
    assert isinstance(node, Literal)
    return node.text


def key(node: Key, view: DictSampleView, lookups: KeyLookups) -> str | None:
    """The text of a key expression in the sample, or None."""
    if isinstance(node, Field):
        return text_of(view.get(node.name))
    fn, args = node.fn, node.args

    def sub(i: int) -> str | None:
        arg = args[i]
        assert isinstance(arg, Field | Call)
        return key(arg, view, lookups)

    if fn == "or":
        values = [sub(i) for i in range(len(args))]
        return next((v for v in values if v is not None), None)
    if fn == "concat":
        parts = [sub(i) for i in range(1, len(args))]
        return None if None in parts else lit(args[0]).join(parts)  # type: ignore[arg-type]
    if fn == "eq":
        a, b = sub(0), sub(1)
        return None if a is None or b is None else str(a == b).lower()
    if fn == "if":
        return sub(2) if sub(0) == lit(args[1]) else sub(3)
    value = sub(0)
    if fn == "null":
        default = lit(args[1]) if len(args) > 1 else "null"
        return default if value is None else value
    if value is None:
        return None
    if fn == "group":
        for name in args[1:]:
            group = lookups.groups.get(lit(name))
            label = None if group is None else group.lookup(value)
            if label is not None:
                return label
        return None
    if fn == "map":
        table = lookups.maps.get(lit(args[1]))
        return None if table is None else table.lookup(value)
    if fn == "prefix":
        return lit(args[1]).join(value.split(lit(args[1]))[: int(lit(args[2]))])
    if fn == "suffix":
        return lit(args[1]).join(value.split(lit(args[1]))[-int(lit(args[2])):])
    if fn == "mask":
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            return None
        if "%" in value:
            return None
        bits = min(int(lit(args[1])), address.max_prefixlen)
        return str(ipaddress.ip_network((address, bits), strict=False).network_address)
    if fn == "range":
        number = number_of(value)
        high = float(lit(args[2])) if len(args) == 3 else math.inf
        return None if number is None else str(float(lit(args[1])) <= number <= high).lower()
    if fn == "first":
        tokens = [lit(a) for a in args[2:]]
        return next((t for t in value.split(lit(args[1])) if t in tokens), None)
    if fn == "bits":
        number = number_of(value)
        if number is None or number != int(number):
            return None
        return str(int(number) & int(lit(args[1])))
    if fn == "link":
        agent = text_of(view.get("agent"))
        if not lookups.topology.active or agent is None:
            return None
        return lookups.topology.link_name(agent, value)
    if fn == "uri":
        return uri_part(value, lit(args[1]))
    raise AssertionError(f"no such key function {fn}")


def holds(node: Filter, view: DictSampleView, lookups: KeyLookups) -> bool:
    if isinstance(node, And):
        return all(holds(part, view, lookups) for part in node.parts)
    if isinstance(node, Or):
        return any(holds(part, view, lookups) for part in node.parts)
    assert isinstance(node, Compare)
    text = key(node.key, view, lookups)
    if text is None:
        hit = None in node.values
    elif node.op.endswith("~"):
        hit = any(v is not None and re.fullmatch(v, text) for v in node.values)
    else:
        hit = text in node.values
    return not hit if node.op.startswith("!") else hit


def measure(value: Value, view: DictSampleView, lookups: KeyLookups) -> Any:
    if value.kind == "count":
        return key(value.expr, view, lookups)
    if isinstance(value.expr, Field):
        return number_of(view.get(value.expr.name))
    return number_of(key(value.expr, view, lookups))


def interpret(ir: FlowIR, view: DictSampleView, lookups: KeyLookups
              ) -> tuple[str, Any, tuple[Any, ...] | None] | None:
    """(key, value, values) of one sample, or None when it does not count."""
    if ir.filter is not None and not holds(ir.filter, view, lookups):
        return None
    parts = [key(k, view, lookups) for k in ir.keys]
    if None in parts:
        return None
    main = measure(ir.value, view, lookups)
    if main is None:
        return None
    if not ir.values:
        return ir.fs.join(parts), main, None  # type: ignore[arg-type]
    extras = []
    for value in ir.values:
        x = measure(value, view, lookups)
        extras.append(x if x is not None else (0.0 if value.kind in ("sum", "avg") else None))
    return ir.fs.join(parts), main, tuple(extras)  # type: ignore[arg-type]
