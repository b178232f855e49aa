"""The flow language as data: a small typed tree that can be printed, compared, hashed and run.

A flow definition's text (``keys``, ``value``, ``values``, ``filter``) is parsed once, at
``setFlow`` time, into these nodes (:mod:`flowrt.flowlang.keys`,
:mod:`flowrt.flowlang.filters`, :func:`flowrt.flowlang.spec.parse_flow`). Executors
then run the tree: the reference executor in :mod:`flowrt.flowlang.executor`, and any
other executor (a compiled ingest core) that lowers the nodes it knows to its own program.
Every node is a frozen, hashable dataclass; equal definitions give equal trees, so a tree
can key a cache or be compared across executors.

``str(node)`` is the node's canonical text in the flow language: parsing it gives back an
equal node (for every tree the parser produces). Canonical means: numeric literals in
decimal, ``rate:`` written as the plain sum, special characters of literals escaped with
a backslash, filter values quoted only when they must be, nested ``&``/``|`` flattened.

Expressions (key and value expressions):

* :class:`Field` — a plain flow key read from the sample (``ipsource``,
  ``tcpdestinationport``, ``bytes``, ``ipsource.1``); null when the sample lacks it.
* :class:`Literal` — a literal argument of a key function (a group set name, a
  delimiter, a count, a default); always text, numbers validated by the parser.
* :class:`Call` — a key function applied to its arguments (``mask:ipsource:24`` is
  ``Call("mask", (Field("ipsource"), Literal("24")))``); a nested key expression is a
  ``Call`` argument (written in ``[...]`` in the text).

Values: :class:`Value` — how a per-sample number is aggregated (``sum``, ``avg``,
``min``, ``max``) or, for ``count``, which item's distinct values are counted.

Filters: :class:`Compare` (a key against a list of values, any of which matches),
:class:`And`, :class:`Or`.

The whole definition: :class:`FlowIR`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

VALUE_KINDS = ("sum", "avg", "min", "max", "count")
"""How values aggregate; ``rate:`` in the text is ``sum``."""
OPERATORS = ("=", "!=", "~", "!~")
"""Filter comparisons: equality and whole-value regex match, and their negations."""
NULL = "null"
"""The bare word that stands for "key missing" in filter values (None in the IR)."""

_LITERAL_SPECIAL = re.compile(r"([\\:\[\],=!~&|()])")
"""Characters that end or split a token in some context (key lists, key expressions,
filter keys): escaping them in every literal makes one canonical text valid everywhere."""
_PLAIN_VALUE = re.compile(r"[^\s,&|()'\\]+")
_PLAIN_PATTERN = re.compile(r"[^\s,&|()'\[\]{}]+")


@dataclass(frozen=True, slots=True)
class Field:
    """A plain flow key: its value in the sample, or null when the sample lacks it."""

    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class Literal:
    """A literal argument of a key function, as text (escapes resolved)."""

    text: str

    def __str__(self) -> str:
        return _LITERAL_SPECIAL.sub(r"\\\1", self.text)


@dataclass(frozen=True, slots=True)
class Call:
    """A key function (``fn``) over its arguments; :mod:`flowrt.flowlang.keys` lists them."""

    fn: str
    args: tuple[Expr, ...]

    def __str__(self) -> str:
        parts = [self.fn]
        parts += (f"[{arg}]" if isinstance(arg, Call) else str(arg) for arg in self.args)
        return ":".join(parts)


Expr = Field | Literal | Call
"""Any node of a key expression."""
Key = Field | Call
"""What a flow key (or a filter's left side) can be: never a bare literal."""


@dataclass(frozen=True, slots=True)
class Value:
    """A ``value``/``values`` entry: ``kind`` (one of :data:`VALUE_KINDS`) over ``expr``.

    ``sum``: the number per sample, scaled by the sampling rate and reported per second;
    ``avg``: the sampling-weighted mean per sample; ``min``/``max``: extremes per sample;
    ``count``: the number of distinct texts of ``expr``.
    """

    kind: str
    expr: Key

    def __str__(self) -> str:
        return str(self.expr) if self.kind == "sum" else f"{self.kind}:{self.expr}"


@dataclass(frozen=True, slots=True)
class Compare:
    """``key op value[,value...]``: true when the key's text matches any of ``values``.

    ``op`` is ``=`` (equal text), ``~`` (a regex matching the whole text), or their
    negations ``!=``/``!~``. A None value is the bare word ``null`` (key missing).
    """

    key: Key
    op: str
    values: tuple[str | None, ...]

    def __str__(self) -> str:
        regex = self.op.endswith("~")
        return f"{self.key}{self.op}" + ",".join(_filter_value(v, regex) for v in self.values)


@dataclass(frozen=True, slots=True)
class And:
    """True when every part is (evaluated left to right, stopping at the first false)."""

    parts: tuple[Filter, ...]

    def __str__(self) -> str:
        return "&".join(f"({part})" if isinstance(part, Or) else str(part) for part in self.parts)


@dataclass(frozen=True, slots=True)
class Or:
    """True when any part is (evaluated left to right, stopping at the first true)."""

    parts: tuple[Filter, ...]

    def __str__(self) -> str:
        return "|".join(str(part) for part in self.parts)


Filter = Compare | And | Or


@dataclass(frozen=True, slots=True)
class FlowIR:
    """Everything an executor needs to turn a sample into (key, value, values).

    ``keys`` are joined with ``fs`` into the flow key (no keys: one keyless flow); a
    sample counts only when ``filter`` (None: every sample) holds, no key is null and the
    main ``value`` is present. ``dropped`` says the flow counts discard samples instead of
    flow samples. Table parameters (``n``, ``t``, the flow log) are the engine's, not the
    language's, and stay in :class:`~flowrt.flowlang.spec.FlowSpec`.
    """

    keys: tuple[Key, ...]
    value: Value
    values: tuple[Value, ...] = ()
    filter: Filter | None = None
    fs: str = ","
    dropped: bool = False

    def to_json(self) -> dict[str, Any]:
        """The canonical flow definition (a body ``PUT /flow/{name}/json`` accepts)."""
        return {
            "keys": [str(key) for key in self.keys],
            "value": str(self.value),
            "values": [str(value) for value in self.values],
            "filter": "" if self.filter is None else str(self.filter),
            "fs": self.fs,
            "dropped": self.dropped,
        }

    def __str__(self) -> str:
        return json.dumps(self.to_json())

    def fields(self) -> frozenset[str]:
        """The plain keys the definition reads (what a sample must be parsed for)."""
        roots: list[Expr | Filter] = [*self.keys, self.value.expr]
        roots += (value.expr for value in self.values)
        if self.filter is not None:
            roots.append(self.filter)
        return frozenset(node.name for root in roots for node in walk(root)
                         if isinstance(node, Field))


def walk(node: Expr | Filter) -> Iterator[Expr | Filter]:
    """``node`` and every node below it, depth first."""
    yield node
    if isinstance(node, Call):
        for arg in node.args:
            yield from walk(arg)
    elif isinstance(node, Compare):
        yield from walk(node.key)
    elif isinstance(node, And | Or):
        for part in node.parts:
            yield from walk(part)


def _filter_value(value: str | None, regex: bool) -> str:
    """One filter value as text the filter parser reads back to ``value``.

    Plain text stays as it is; anything else is single-quoted (a quote inside is ``\\'``).
    A value ending in a backslash cannot be quoted (``\\'`` would escape the closing
    quote): an ``=`` value is then backslash-escaped, a regex (invalid anyway) left raw.
    """
    if value is None:
        return NULL
    plain = _PLAIN_PATTERN if regex else _PLAIN_VALUE
    if value != NULL and plain.fullmatch(value) and not value.endswith("\\"):
        return value
    if not value.endswith("\\"):
        return "'" + value.replace("'", "\\'") + "'"
    return value if regex else re.sub(r"([\s,&|()'\\])", r"\\\1", value)
