"""Flow definitions lowered to the compiled core's programs (or refused, to Python).

A program is what the core runs per flow sample for one definition: a filter as postfix
bytecode over field ids, the key field ids joined with ``fs``, and a sum value field.
:func:`lower_flow` takes the flow language's parts as an IR (:class:`Compare`,
:class:`And`, :class:`Or`: the same shapes as the flow IR of ``flowrt.flowlang``, so the
switch to that package is a change of import) and returns a :class:`Plan`, or None when
the definition needs something the core does not do; that definition then runs on the
reference executor, alone (a flow's results never depend on which path computed them).

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

from flowrt.engine.filters import FilterError, _Parser
from flowrt.engine.flowspec import FlowSpec
from flowrt.engine.keyfuncs import KEY_NAME, VALUE_KINDS, unescape

MAX_FS = 64
"""Longest key separator the core joins (keys stay within its fixed key buffer)."""
OP_CMP, OP_AND, OP_OR = 0, 1, 2
VALUE_FRAMES = -1


@dataclass(frozen=True, slots=True)
class Compare:
    """``key op values``; a None in ``values`` is ``null``. ``key`` is the raw key text."""

    key: str
    op: str
    values: tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class And:
    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    parts: tuple[Node, ...]


Node = Compare | And | Or
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


class _TreeParser(_Parser):
    """The filter grammar of :mod:`flowrt.engine.filters`, building a tree, not closures.

    Used only on filters that already compiled (``setFlow`` validated them), so its
    errors never reach a user.
    """

    def or_(self) -> Node:  # type: ignore[override]
        parts = [self.and_()]
        while self.peek() == "|":
            self.pos += 1
            parts.append(self.and_())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def and_(self) -> Node:  # type: ignore[override]
        parts = [self.factor()]
        while self.peek() == "&":
            self.pos += 1
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def comparison(self) -> Node:  # type: ignore[override]
        key_text = self.key()
        operator = next(op for op in ("!=", "!~", "=", "~") if self.text.startswith(op, self.pos))
        self.pos += len(operator)
        regex = operator.endswith("~")
        values = [self.value(regex)[0]]
        while self.peek() == ",":
            self.pos += 1
            values.append(self.value(regex)[0])
        return Compare(key_text, operator, tuple(values))


def parse_filter(text: str) -> Node | None:
    """The filter as a tree (None for an empty filter); raises FilterError if malformed."""
    if not text.strip():
        return None
    return _TreeParser(text, None).parse()  # type: ignore[return-value]


def _plain(key_text: str) -> str | None:
    name = unescape(key_text)
    return name if KEY_NAME.fullmatch(name) else None


def _lower_filter(node: Node, fields: Mapping[str, tuple[int, bool]], out: list[Instr]) -> bool:
    """Append ``node`` as postfix instructions; False when the core cannot run it."""
    if isinstance(node, Compare):
        name = _plain(node.key)
        if node.op not in ("=", "!=") or name is None or name not in fields:
            return False
        wanted = tuple(v for v in node.values if v is not None)
        want_null = any(v is None for v in node.values)
        out.append((OP_CMP, fields[name][0], int(node.op == "!="), int(want_null), 0, wanted))
        return True
    for part in node.parts:
        if not _lower_filter(part, fields, out):
            return False
    out.append((OP_AND if isinstance(node, And) else OP_OR, 0, 0, 0, len(node.parts), ()))
    return True


def lower_flow(
    flow_id: int,
    keys: tuple[str, ...],
    value: str,
    flt: Node | None,
    fs: str,
    fields: Mapping[str, tuple[int, bool]],
    *,
    values: tuple[str, ...] = (),
    log: bool = False,
    dropped: bool = False,
) -> Plan | None:
    """The core's program for one definition, or None: it runs on the reference path."""
    if log or dropped or values or len(fs.encode()) > MAX_FS:
        return None
    key_ids = []
    for key in keys:
        if not KEY_NAME.fullmatch(key) or key not in fields:
            return None
        key_ids.append(fields[key][0])
    kind, _, name = value.partition(":")
    if kind in VALUE_KINDS and name:
        if kind != "rate":
            return None
    else:
        name = value
    if name == "frames":
        value_id = VALUE_FRAMES
    elif name in fields and not fields[name][1]:
        value_id = fields[name][0]
    else:
        return None
    code: list[Instr] = []
    if flt is not None and not _lower_filter(flt, fields, code):
        return None
    return Plan(flow_id, tuple(key_ids), fs, value_id, tuple(code))


def lower_spec(flow_id: int, spec: FlowSpec, fields: Mapping[str, tuple[int, bool]]) -> Plan | None:
    """:func:`lower_flow` over today's :class:`FlowSpec` (keys as strings)."""
    try:
        flt = parse_filter(spec.filter)
    except (FilterError, StopIteration):
        return None
    return lower_flow(
        flow_id, spec.keys, spec.value, flt, spec.fs, fields,
        values=spec.values, log=spec.log, dropped=spec.dropped,
    )  # fmt: skip


__all__ = ["And", "Compare", "Or", "Plan", "lower_flow", "lower_spec", "parse_filter"]
