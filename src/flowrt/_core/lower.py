"""Flow definitions lowered to the compiled core's programs (or refused, to Python).

A program is what the core runs per flow sample for one definition: a filter as postfix
bytecode over field ids, the key field ids joined with ``fs``, and a sum value field.
:func:`lower_flow` takes the definition's IR (:class:`flowrt.flowlang.ir.FlowIR`) and
returns a :class:`Plan`, or None when the definition needs something the core does not
do; that definition then runs on the reference executor, alone (a flow's results never
depend on which path computed them).

The core does: plain keys it extracts (``FIELDS``: addresses, ports, protocol, MACs,
VLAN, interfaces, agent, sizes, TCP flags, DSCP/ECN, TTL, tunnel ids, inner ``.1``/``.2``
header fields), filters of ``=``/``!=`` with value lists and ``null`` over those keys
combined with ``&``/``|``, and ``sum`` values (``bytes``, ``frames``, integer keys,
``rate:`` of them) scaled by the sampling rate. It does not do: key functions, ``~``
regexes, extended-record keys, ``values``, non-sum values, ``log:true`` (the flow log
tracks each sample), ``dropped:true`` (discard samples stay in Python).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from flowrt.flowlang.ir import And, Compare, Field, Filter, FlowIR
from flowrt.flowlang.spec import FlowSpec

MAX_FS = 64
"""Longest key separator the core joins (keys stay within its fixed key buffer)."""
OP_CMP, OP_AND, OP_OR = 0, 1, 2
VALUE_FRAMES = -1

Instr = tuple[int, int, int, int, int, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Plan:
    """One definition as the core runs it (see ``Core.set_program``)."""

    flow_id: int
    keys: tuple[int, ...]
    fs: str
    value: int
    code: tuple[Instr, ...]

    def as_tuple(self) -> tuple[int, tuple[int, ...], str, int, tuple[Instr, ...]]:
        return (self.flow_id, self.keys, self.fs, self.value, self.code)


def _lower_filter(node: Filter, fields: Mapping[str, tuple[int, bool]], out: list[Instr]) -> bool:
    """Append ``node`` as postfix instructions; False when the core cannot run it."""
    if isinstance(node, Compare):
        key = node.key
        if node.op not in ("=", "!=") or not isinstance(key, Field) or key.name not in fields:
            return False
        wanted = tuple(v for v in node.values if v is not None)
        want_null = any(v is None for v in node.values)
        out.append((OP_CMP, fields[key.name][0], int(node.op == "!="), int(want_null), 0, wanted))
        return True
    for part in node.parts:
        if not _lower_filter(part, fields, out):
            return False
    out.append((OP_AND if isinstance(node, And) else OP_OR, 0, 0, 0, len(node.parts), ()))
    return True


def lower_flow(
    flow_id: int, ir: FlowIR, fields: Mapping[str, tuple[int, bool]], *, log: bool = False
) -> Plan | None:
    """The core's program for one definition, or None: it runs on the reference path."""
    if log or ir.dropped or ir.values or len(ir.fs.encode()) > MAX_FS:
        return None
    key_ids = []
    for key in ir.keys:
        if not isinstance(key, Field) or key.name not in fields:
            return None
        key_ids.append(fields[key.name][0])
    value = ir.value
    if value.kind != "sum" or not isinstance(value.expr, Field):
        return None
    name = value.expr.name
    if name == "frames":
        value_id = VALUE_FRAMES
    elif name in fields and not fields[name][1]:
        value_id = fields[name][0]
    else:
        return None
    code: list[Instr] = []
    if ir.filter is not None and not _lower_filter(ir.filter, fields, code):
        return None
    return Plan(flow_id, tuple(key_ids), ir.fs, value_id, tuple(code))


def lower_spec(flow_id: int, spec: FlowSpec, fields: Mapping[str, tuple[int, bool]]) -> Plan | None:
    """:func:`lower_flow` over a validated definition (its IR, and whether it logs)."""
    return lower_flow(flow_id, spec.ir, fields, log=spec.log)


__all__ = ["Plan", "lower_flow", "lower_spec"]
