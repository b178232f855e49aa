"""Flow key expressions and key functions (§2.4), compiled once into per-sample closures.

Syntax: a plain key (``ipsource``, ``ipsource.1``) or ``<func>:<arg>:<arg>...``; an
argument that is itself an expression is wrapped in square brackets
(``prefix:[uri:httpurl:path]:/:2``); a backslash makes the next character literal
(``concat:\\::a:b`` joins with ``:``). Compiled results return text or None (null).

Decisions where the digest is silent or UNCERTAIN (each covered by a test):

- Unknown plain key names are accepted: new keys appear as traffic is decoded (custom
  rtflow fields, tunnel depths), so a typo simply yields null. Names are checked for
  characters only (letters, digits, ``_ . -``).
- ``country``, ``asn``, ``oui``, ``dns`` and ``host`` parse but raise
  :class:`FlowSpecError` at compile time ("not available yet") rather than silently
  producing nulls, so ``setFlow`` tells the operator immediately.
- ``link:<ifindex key>`` is the name of the topology link on (the sample's agent, that
  ifIndex), or null: no topology, a port on no link (``link:inputifindex=null`` selects
  edge ingress), or a value that is not an ifIndex (``internal``, ``multiple``). It reads
  the engine's current topology per sample, so a later ``PUT /topology/json`` applies.
- ``group``/``map`` sets are looked up by name per sample, so a set defined after the flow
  takes effect; an undefined set yields null.
- ``prefix``/``suffix`` keep the first/last n delimiter-separated tokens, empty tokens
  included: ``prefix:/metrics/json:/:2`` → ``/metrics``; ``suffix`` of ``www.example.com.``
  with ``.`` and 2 → ``com.`` (the TLD, as the flow-trend "top level domains" shortcut
  expects from DNS names that end in a dot).
- ``mask`` returns the network address without ``/len`` (``10.1.2.0``); bits beyond the
  address size are clamped.
- ``range:<key>:<lo>[:<hi>]`` is inclusive at both ends; ``eq`` is null if either side is
  null; ``if:<cond>:<match>:<then>:<else>`` takes ``else`` when cond is null, and
  ``then``/``else`` are key expressions; ``first`` returns the earliest token of the value
  (outermost protocol of a stack) that is in the list; ``concat`` is null if any part is.
- ``uri`` parts follow java.net.URI: ``port`` only when explicit; empty parts are null.
"""

from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flowrt.engine.flowspec import FlowSpecError
from flowrt.engine.groups import Lookups, format_address, parse_address

if TYPE_CHECKING:
    from flowrt.engine.flowspec import SampleView

KeyFn = Callable[["SampleView"], str | None]
ValueFn = Callable[["SampleView"], float | None]

MAX_EXPRESSION_LENGTH = 1024
MAX_NESTING = 16
KEY_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
UNAVAILABLE = frozenset({"country", "asn", "oui", "dns", "host"})
URI_PARTS = frozenset({
    "normalized", "scheme", "user", "authority", "host", "port", "path", "file",
    "extension", "query", "fragment", "isabsolute", "isopaque",
})  # fmt: skip
VALUE_KINDS = ("rate", "avg", "count", "min", "max")
"""Value modifiers (§2.4); ``rate:`` is the plain sum, the others are not summed."""
DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}


def as_text(value: str | int | float | None) -> str | None:
    """A key value as the text flows and filters compare: ``6`` → ``"6"``, ``2.0`` → ``"2"``."""
    if value is None or value.__class__ is str:
        return value  # type: ignore[return-value]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def as_number(value: str | int | float | None) -> float | None:
    """A key value as a number, or None when missing or not numeric."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True, slots=True)
class Arg:
    """One ``:``-separated piece of an expression: raw text (escapes kept) or ``[...]``."""

    raw: str
    bracketed: bool
    offset: int

    @property
    def text(self) -> str:
        return unescape(self.raw)


def unescape(raw: str) -> str:
    """Resolve backslash escapes: ``\\x`` → ``x``."""
    return re.sub(r"\\(.)", r"\1", raw, flags=re.S) if "\\" in raw else raw


def split_args(expr: str) -> list[Arg]:
    """Split at top-level ``:``; a piece that is exactly ``[...]`` is a nested expression."""
    args: list[Arg] = []
    start = depth = 0
    i = 0
    while i < len(expr):
        char = expr[i]
        if char == "\\":
            if i + 1 >= len(expr):
                raise FlowSpecError(f"dangling backslash at column {i + 1} in {expr!r}")
            i += 2
            continue
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise FlowSpecError(f"unmatched ']' at column {i + 1} in {expr!r}")
        elif char == ":" and depth == 0:
            args.append(_make_arg(expr, start, i))
            start = i + 1
        i += 1
    if depth:
        raise FlowSpecError(f"missing ']' in {expr!r}")
    args.append(_make_arg(expr, start, len(expr)))
    return args


def _make_arg(expr: str, start: int, end: int) -> Arg:
    piece = expr[start:end]
    if piece.startswith("["):
        if not piece.endswith("]") or _closing_bracket(piece) != len(piece) - 1:
            raise FlowSpecError(f"text after ']' at column {start + 1} in {expr!r}")
        return Arg(piece[1:-1], True, start + 1)
    if "[" in piece.replace("\\[", ""):
        raise FlowSpecError(f"'[' must start an argument (column {start + 1} in {expr!r})")
    return Arg(piece, False, start)


def _closing_bracket(piece: str) -> int:
    depth, i = 0, 0
    while i < len(piece):
        if piece[i] == "\\":
            i += 2
            continue
        if piece[i] == "[":
            depth += 1
        elif piece[i] == "]":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


class _Compiler:
    """Turns parsed expressions into closures; one instance per top-level expression."""

    def __init__(self, lookups: Lookups) -> None:
        self.lookups = lookups

    def expression(self, expr: str, depth: int) -> KeyFn:
        if depth > MAX_NESTING:
            raise FlowSpecError(f"key expression nested more than {MAX_NESTING} deep")
        args = split_args(expr)
        if len(args) == 1:
            return self.key_arg(args[0], depth)
        head = args[0]
        name = head.text
        if head.bracketed or (not hasattr(self, f"fn_{name}") and name not in UNAVAILABLE):
            raise FlowSpecError(f"unknown key function {name!r} in {expr!r}")
        if name in UNAVAILABLE:
            raise FlowSpecError(
                f"key function {name!r} is not available yet (no enrichment data source); "
                f"in {expr!r}"
            )
        try:
            return getattr(self, f"fn_{name}")(args[1:], depth)
        except (IndexError, ValueError) as exc:
            if isinstance(exc, FlowSpecError):
                raise
            raise FlowSpecError(f"bad arguments to {name!r} in {expr!r}: {exc}") from None

    def key_arg(self, arg: Arg, depth: int) -> KeyFn:
        """An argument that names a key or holds a bracketed expression."""
        if arg.bracketed:
            return self.expression(arg.raw, depth + 1)
        name = arg.text.strip()
        if not KEY_NAME.fullmatch(name):
            raise FlowSpecError(f"invalid flow key name {name!r}")
        return plain_key(name)

    @staticmethod
    def literal(arg: Arg, what: str) -> str:
        if arg.bracketed:
            raise FlowSpecError(f"{what} must be a literal, not an expression")
        return arg.text

    def integer(self, arg: Arg, what: str) -> int:
        text = self.literal(arg, what).strip()
        try:
            return int(text, 0)
        except ValueError:
            raise FlowSpecError(f"{what} must be an integer, got {text!r}") from None

    def number(self, arg: Arg, what: str) -> float:
        value = as_number(self.literal(arg, what).strip())
        if value is None:
            raise FlowSpecError(f"{what} must be a number, got {arg.text!r}")
        return value

    @staticmethod
    def arity(args: list[Arg], least: int, most: int | None, usage: str) -> None:
        if len(args) < least or (most is not None and len(args) > most):
            raise FlowSpecError(f"usage: {usage}")

    # --- the key functions -------------------------------------------------------------------
    def fn_group(self, args: list[Arg], depth: int) -> KeyFn:
        self.arity(args, 2, None, "group:<key>:<groupset>[:<groupset>...]")
        key = self.key_arg(args[0], depth)
        names = tuple(self.literal(a, "group set name") for a in args[1:])
        groups = self.lookups.groups

        def group(view: SampleView) -> str | None:
            address = key(view)
            if address is None:
                return None
            for name in names:
                group_set = groups.get(name)
                if group_set is not None and (label := group_set.lookup(address)) is not None:
                    return label
            return None

        return group

    def fn_map(self, args: list[Arg], depth: int) -> KeyFn:
        self.arity(args, 2, 2, "map:<key>:<mapname>")
        key, name = self.key_arg(args[0], depth), self.literal(args[1], "map name")
        maps = self.lookups.maps

        def map_(view: SampleView) -> str | None:
            value = key(view)
            value_map = maps.get(name)
            return None if value is None or value_map is None else value_map.lookup(value)

        return map_

    def _tokens(self, args: list[Arg], depth: int, usage: str) -> tuple[KeyFn, str, int]:
        self.arity(args, 3, 3, usage)
        delim = self.literal(args[1], "delimiter")
        count = self.integer(args[2], "token count")
        if not delim or count < 1:
            raise FlowSpecError(f"usage: {usage} (non-empty delimiter, count >= 1)")
        return self.key_arg(args[0], depth), delim, count

    def fn_prefix(self, args: list[Arg], depth: int) -> KeyFn:
        key, delim, count = self._tokens(args, depth, "prefix:<key>:<delim>:<n>")

        def prefix(view: SampleView) -> str | None:
            value = key(view)
            return None if value is None else delim.join(value.split(delim, count)[:count])

        return prefix

    def fn_suffix(self, args: list[Arg], depth: int) -> KeyFn:
        key, delim, count = self._tokens(args, depth, "suffix:<key>:<delim>:<n>")

        def suffix(view: SampleView) -> str | None:
            value = key(view)
            return None if value is None else delim.join(value.rsplit(delim, count)[-count:])

        return suffix

    def fn_mask(self, args: list[Arg], depth: int) -> KeyFn:
        self.arity(args, 2, 2, "mask:<key>:<bits>")
        key, bits = self.key_arg(args[0], depth), self.integer(args[1], "mask bits")
        if not 0 <= bits <= 128:
            raise FlowSpecError(f"mask bits must be 0..128, got {bits}")

        def mask(view: SampleView) -> str | None:
            value = key(view)
            parsed = None if value is None else parse_address(value)
            if parsed is None:
                return None
            size, address = parsed
            host_bits = size - min(bits, size)
            return format_address(size, address >> host_bits << host_bits)

        return mask

    def fn_range(self, args: list[Arg], depth: int) -> KeyFn:
        self.arity(args, 2, 3, "range:<key>:<lo>[:<hi>]")
        key = self.key_arg(args[0], depth)
        low = self.number(args[1], "range low")
        high = self.number(args[2], "range high") if len(args) == 3 else math.inf

        def range_(view: SampleView) -> str | None:
            value = key(view)
            number = None if value is None else as_number(value)
            if number is None:
                return None
            return "true" if low <= number <= high else "false"

        return range_

    def fn_null(self, args: list[Arg], depth: int) -> KeyFn:
        self.arity(args, 1, 2, "null:<key>[:<default>]")
        key = self.key_arg(args[0], depth)
        # without a default a missing value reads as the text "null" (sflow-test relies on it)
        default = self.literal(args[1], "default") if len(args) == 2 else "null"

        def null(view: SampleView) -> str | None:
            value = key(view)
            return default if value is None else value

        return null

    def fn_or(self, args: list[Arg], depth: int) -> KeyFn:
        self.arity(args, 2, None, "or:<key>:<key>[:<key>...]")
        keys = tuple(self.key_arg(a, depth) for a in args)

        def or_(view: SampleView) -> str | None:
            for key in keys:
                value = key(view)
                if value is not None:
                    return value
            return None

        return or_

    def fn_eq(self, args: list[Arg], depth: int) -> KeyFn:
        self.arity(args, 2, 2, "eq:<key>:<key>")
        left, right = self.key_arg(args[0], depth), self.key_arg(args[1], depth)

        def eq(view: SampleView) -> str | None:
            a, b = left(view), right(view)
            return None if a is None or b is None else ("true" if a == b else "false")

        return eq

    def fn_if(self, args: list[Arg], depth: int) -> KeyFn:
        self.arity(args, 4, 4, "if:<cond>:<match>:<then>:<else>")
        cond, match = self.key_arg(args[0], depth), self.literal(args[1], "if match")
        then, other = self.key_arg(args[2], depth), self.key_arg(args[3], depth)

        def if_(view: SampleView) -> str | None:
            return then(view) if cond(view) == match else other(view)

        return if_

    def fn_first(self, args: list[Arg], depth: int) -> KeyFn:
        self.arity(args, 3, None, "first:<key>:<delim>:<token>[:<token>...]")
        key, delim = self.key_arg(args[0], depth), self.literal(args[1], "delimiter")
        if not delim:
            raise FlowSpecError("first: delimiter must not be empty")
        wanted = frozenset(self.literal(a, "token") for a in args[2:])

        def first(view: SampleView) -> str | None:
            value = key(view)
            if value is None:
                return None
            for token in value.split(delim):
                if token in wanted:
                    return token
            return None

        return first

    def fn_concat(self, args: list[Arg], depth: int) -> KeyFn:
        self.arity(args, 2, None, "concat:<sep>:<key>[:<key>...]")
        sep = self.literal(args[0], "separator")
        keys = tuple(self.key_arg(a, depth) for a in args[1:])

        def concat(view: SampleView) -> str | None:
            parts = []
            for key in keys:
                value = key(view)
                if value is None:
                    return None
                parts.append(value)
            return sep.join(parts)

        return concat

    def fn_bits(self, args: list[Arg], depth: int) -> KeyFn:
        self.arity(args, 2, 2, "bits:<key>:<mask>")
        key, mask = self.key_arg(args[0], depth), self.integer(args[1], "bit mask")

        def bits(view: SampleView) -> str | None:
            value = key(view)
            number = None if value is None else as_number(value)
            if number is None or not number.is_integer():
                return None
            return str(int(number) & mask)

        return bits

    def fn_link(self, args: list[Arg], depth: int) -> KeyFn:
        self.arity(args, 1, 1, "link:<ifindex key>")
        key, agent_of = self.key_arg(args[0], depth), plain_key("agent")
        topology = self.lookups.topology

        def link(view: SampleView) -> str | None:
            ifindex = key(view)
            if ifindex is None or not topology.active:
                return None
            agent = agent_of(view)
            return None if agent is None else topology.link_name(agent, ifindex)

        return link

    def fn_uri(self, args: list[Arg], depth: int) -> KeyFn:
        self.arity(args, 2, 2, "uri:<key>:<part>")
        key, part = self.key_arg(args[0], depth), self.literal(args[1], "uri part")
        if part not in URI_PARTS:
            raise FlowSpecError(f"unknown uri part {part!r}; one of {sorted(URI_PARTS)}")

        def uri(view: SampleView) -> str | None:
            value = key(view)
            return None if value is None else uri_part(value, part)

        return uri


def plain_key(name: str) -> KeyFn:
    """The extractor of one named key: the hot path, so it avoids calls for text values."""

    def key(view: SampleView) -> str | None:
        value = view.get(name)
        if value is None or value.__class__ is str:
            return value  # type: ignore[return-value]
        return as_text(value)

    key.__name__ = f"key_{name}"
    return key


def uri_part(text: str, part: str) -> str | None:
    """One java.net.URI-style component of ``text``; None when absent or unparseable."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower() or None
    result: str | int | None
    if part == "normalized":
        path = _remove_dot_segments(parts.path)
        host = (parts.hostname or "") if parts.netloc else ""
        if parts.username:
            host = f"{parts.username}@{host}"
        if port is not None and DEFAULT_PORTS.get(scheme or "") != port:
            host = f"{host}:{port}"
        result = (f"{scheme}:" if scheme else "") + (f"//{host}" if parts.netloc else "") + path
        result += (f"?{parts.query}" if parts.query else "") + (
            f"#{parts.fragment}" if parts.fragment else ""
        )
    elif part == "isabsolute":
        result = "true" if scheme else "false"
    elif part == "isopaque":
        opaque = scheme and not parts.netloc and not parts.path.startswith("/")
        result = "true" if opaque else "false"
    elif part == "file":
        result = parts.path.rsplit("/", 1)[-1]
    elif part == "extension":
        file = parts.path.rsplit("/", 1)[-1]
        result = file.rsplit(".", 1)[1] if "." in file else None
    else:
        result = {
            "scheme": scheme,
            "user": parts.username,
            "authority": parts.netloc,
            "host": parts.hostname,
            "port": port,
            "path": parts.path,
            "query": parts.query,
            "fragment": parts.fragment,
        }[part]
    return None if result is None or result == "" else str(result)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 in effect: ``/a/./b/../c`` → ``/a/c``, keeping a trailing slash."""
    if not path or ("/." not in path and not path.startswith(".")):
        return path
    normalized = posixpath.normpath(path)
    if normalized.startswith("//"):
        normalized = "/" + normalized.lstrip("/")
    if path.endswith(("/", "/.", "/..")) and not normalized.endswith("/"):
        normalized += "/"
    return normalized


def compile_key(expr: str, lookups: Lookups | None = None) -> KeyFn:
    """Compile one key expression; FlowSpecError names the problem and the expression."""
    if not isinstance(expr, str) or not expr.strip():
        raise FlowSpecError("empty key expression")
    if len(expr) > MAX_EXPRESSION_LENGTH:
        raise FlowSpecError(f"key expression longer than {MAX_EXPRESSION_LENGTH} characters")
    return _Compiler(lookups if lookups is not None else Lookups()).expression(expr.strip(), 0)


@dataclass(frozen=True, slots=True)
class ValueExpr:
    """A compiled ``value``/``values`` entry.

    ``kind`` says how the engine aggregates the per-sample numbers: ``sum`` (plain key or
    ``rate:``; scaled by the sampling rate, reported per second), ``avg`` (weighted mean per
    sample), ``min``/``max`` (extremes per sample), ``count`` (distinct values of ``key``:
    ``extract`` then yields the key's *text*, the item to count, or None when absent; the
    engine's :mod:`~flowrt.engine.topn` estimators say how each kind is smoothed).
    """

    kind: str
    expression: str
    extract: ValueFn
    key: KeyFn


UI_ONLY_VALUES = {"bps": "bytes", "Bps": "bytes", "fps": "frames"}
"""browse-flows' display units: its page multiplies bytes by 8 before asking the engine."""


def compile_value(expr: str, lookups: Lookups | None = None) -> ValueExpr:
    """Compile a value expression: ``bytes``, ``frames``, any numeric key, ``rate:``/
    ``avg:``/``count:``/``min:``/``max:`` + key expression. ``bps`` is not supported (it
    exists only in the browse-flows UI, which multiplies bytes by 8 itself)."""
    if not isinstance(expr, str) or not expr.strip():
        raise FlowSpecError("empty value expression")
    text = expr.strip()
    if text in UI_ONLY_VALUES:
        raise FlowSpecError(
            f"value {text!r} exists only in sFlow-RT's flow browser UI; define the flow with"
            f" {UI_ONLY_VALUES[text]!r} and scale it yourself"
        )
    kind, _, body = text.partition(":")
    if kind not in VALUE_KINDS or not body:
        kind, body = "sum", text
    kind = "sum" if kind == "rate" else kind
    key = compile_key(body, lookups)
    if kind == "count":
        return ValueExpr(kind, text, key, key)  # type: ignore[arg-type]  # the item, not a number
    if KEY_NAME.fullmatch(body):  # plain key: skip the text round trip
        name = body

        def extract(view: SampleView) -> float | None:
            value = view.get(name)
            if value.__class__ is int or value.__class__ is float:
                return value  # type: ignore[return-value]
            return as_number(value)

    else:

        def extract(view: SampleView) -> float | None:
            return as_number(key(view))

    return ValueExpr(kind, text, extract, key)
