"""Flow key and value expressions (text → IR), and the key functions' signatures.

Syntax: a plain key (``ipsource``, ``ipsource.1``) or ``<func>:<arg>:<arg>...``; an
argument that is itself an expression is wrapped in square brackets
(``prefix:[uri:httpurl:path]:/:2``); a backslash makes the next character literal
(``concat:\\::a:b`` joins with ``:``). Parsing gives a :class:`~flowrt.flowlang.ir.Field`
or :class:`~flowrt.flowlang.ir.Call`; every argument is checked here (arity, literal or
key, integers, ranges), so an executor can trust the tree it is given. What each
function computes is in :mod:`flowrt.flowlang.functions`.

Decisions where sFlow-RT's documentation is silent or unclear (each covered by a test):

- Unknown plain key names are accepted: new keys appear as traffic is decoded (custom
  rtflow fields, tunnel depths), so a typo simply yields null. Names are checked for
  characters only (letters, digits, ``_ . -``).
- ``host`` parses but raises :class:`FlowSpecError` ("not available yet") rather than
  silently producing nulls, so ``setFlow`` tells the operator immediately.
- ``country:<key>[:code|name|both]``, ``asn:<key>[:number|name|descr|both]``,
  ``oui:<key>[:number|name]`` and ``dns:<key>`` ask the enrichment services behind
  :class:`~flowrt.flowlang.lookups.KeyLookups` (values documented in ``flowrt.enrich``:
  ``US``, ``15169``, ``001B21``/``Intel Corporate``, ``dns.google.``); an unknown
  attribute is refused here.
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

import re
from collections.abc import Callable
from dataclasses import dataclass

from flowrt.flowlang.errors import FlowSpecError
from flowrt.flowlang.ir import Call, Expr, Field, Key, Literal, Value
from flowrt.flowlang.view import as_number

MAX_EXPRESSION_LENGTH = 1024
MAX_NESTING = 16
KEY_NAME = re.compile(r"[A-Za-z0-9_.\-]+")
UNAVAILABLE = frozenset({"host"})
"""Enrichment functions that need a data source FlowRT does not have yet."""
URI_PARTS = frozenset({
    "normalized", "scheme", "user", "authority", "host", "port", "path", "file",
    "extension", "query", "fragment", "isabsolute", "isopaque",
})  # fmt: skip
COUNTRY_ATTRS = ("code", "name", "both")
ASN_ATTRS = ("number", "name", "descr", "both")
OUI_ATTRS = ("number", "name")
TEXT_KINDS = ("rate", "avg", "count", "min", "max")
"""Value modifiers as written; ``rate:`` is the plain sum, the others are not summed."""
UI_ONLY_VALUES = {"bps": "bytes", "Bps": "bytes", "fps": "frames"}
"""browse-flows' display units: its page multiplies bytes by 8 before asking the engine."""


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


# --- the key functions' signatures ----------------------------------------------------------
KEY, TEXT, INT, NUMBER = "key", "text", "int", "number"
"""Argument kinds: a key expression, or a literal (any text, an integer, a number)."""

Param = tuple[str, str]
"""(argument kind, what the argument is called in error messages)."""


@dataclass(frozen=True, slots=True)
class Signature:
    """What a key function accepts: ``params`` then any number of ``rest`` arguments.

    ``check`` adds the function's own constraints on its (parsed) arguments.
    """

    usage: str
    params: tuple[Param, ...]
    rest: Param | None = None
    least: int = 0
    most: int | None = 0
    check: Callable[[tuple[Expr, ...]], None] | None = None

    def param(self, index: int) -> Param:
        if index < len(self.params):
            return self.params[index]
        assert self.rest is not None  # arity was checked
        return self.rest


def _literal(arg: Expr) -> str:
    assert isinstance(arg, Literal)
    return arg.text


def _check_tokens(usage: str) -> Callable[[tuple[Expr, ...]], None]:
    def check(args: tuple[Expr, ...]) -> None:
        if not _literal(args[1]) or int(_literal(args[2])) < 1:
            raise FlowSpecError(f"usage: {usage} (non-empty delimiter, count >= 1)")

    return check


def _check_mask(args: tuple[Expr, ...]) -> None:
    bits = int(_literal(args[1]))
    if not 0 <= bits <= 128:
        raise FlowSpecError(f"mask bits must be 0..128, got {bits}")


def _check_first(args: tuple[Expr, ...]) -> None:
    if not _literal(args[1]):
        raise FlowSpecError("first: delimiter must not be empty")


def _check_uri(args: tuple[Expr, ...]) -> None:
    part = _literal(args[1])
    if part not in URI_PARTS:
        raise FlowSpecError(f"unknown uri part {part!r}; one of {sorted(URI_PARTS)}")


def _check_attr(function: str, allowed: tuple[str, ...]) -> Callable[[tuple[Expr, ...]], None]:
    def check(args: tuple[Expr, ...]) -> None:
        if len(args) > 1 and _literal(args[1]) not in allowed:
            raise FlowSpecError(
                f"{function}: unknown attribute {_literal(args[1])!r}; one of {list(allowed)}")

    return check


def _sig(usage: str, *params: Param, rest: Param | None = None, least: int | None = None,
         most: int | None = -1, check: Callable[[tuple[Expr, ...]], None] | None = None
         ) -> Signature:
    return Signature(
        usage, params, rest,
        least=len(params) if least is None else least,
        most=(len(params) if rest is None else None) if most == -1 else most,
        check=check,
    )  # fmt: skip


_K: Param = (KEY, "key")
FUNCTIONS: dict[str, Signature] = {
    "group": _sig("group:<key>:<groupset>[:<groupset>...]", _K, rest=(TEXT, "group set name"),
                  least=2),
    "map": _sig("map:<key>:<mapname>", _K, (TEXT, "map name")),
    "prefix": _sig("prefix:<key>:<delim>:<n>", _K, (TEXT, "delimiter"), (INT, "token count"),
                   check=_check_tokens("prefix:<key>:<delim>:<n>")),
    "suffix": _sig("suffix:<key>:<delim>:<n>", _K, (TEXT, "delimiter"), (INT, "token count"),
                   check=_check_tokens("suffix:<key>:<delim>:<n>")),
    "mask": _sig("mask:<key>:<bits>", _K, (INT, "mask bits"), check=_check_mask),
    "range": _sig("range:<key>:<lo>[:<hi>]", _K, (NUMBER, "range low"),
                  (NUMBER, "range high"), least=2),
    "null": _sig("null:<key>[:<default>]", _K, (TEXT, "default"), least=1),
    "or": _sig("or:<key>:<key>[:<key>...]", _K, rest=_K, least=2),
    "eq": _sig("eq:<key>:<key>", _K, _K),
    "if": _sig("if:<cond>:<match>:<then>:<else>", _K, (TEXT, "if match"), _K, _K),
    "first": _sig("first:<key>:<delim>:<token>[:<token>...]", _K, (TEXT, "delimiter"),
                  rest=(TEXT, "token"), least=3, check=_check_first),
    "concat": _sig("concat:<sep>:<key>[:<key>...]", (TEXT, "separator"), rest=_K, least=2),
    "bits": _sig("bits:<key>:<mask>", _K, (INT, "bit mask")),
    "link": _sig("link:<ifindex key>", _K),
    "uri": _sig("uri:<key>:<part>", _K, (TEXT, "uri part"), check=_check_uri),
    "country": _sig("country:<key>[:code|name|both]", _K, (TEXT, "country attribute"),
                    least=1, check=_check_attr("country", COUNTRY_ATTRS)),
    "asn": _sig("asn:<key>[:number|name|descr|both]", _K, (TEXT, "asn attribute"), least=1,
                check=_check_attr("asn", ASN_ATTRS)),
    "oui": _sig("oui:<key>[:number|name]", _K, (TEXT, "oui attribute"), least=1,
                check=_check_attr("oui", OUI_ATTRS)),
    "dns": _sig("dns:<key>", _K),
}
"""Every key function the language has, by name (the executors implement each one)."""


def format_number(value: float) -> str:
    """A number literal's canonical text: ``10`` for 10.0, ``1.5`` for 1.5."""
    return str(int(value)) if value.is_integer() else repr(value)


# --- the parser -------------------------------------------------------------------------------
def _expression(expr: str, depth: int) -> Key:
    if depth > MAX_NESTING:
        raise FlowSpecError(f"key expression nested more than {MAX_NESTING} deep")
    args = split_args(expr)
    if len(args) == 1:
        return _key_arg(args[0], depth)
    head = args[0]
    name = head.text
    if head.bracketed or (name not in FUNCTIONS and name not in UNAVAILABLE):
        raise FlowSpecError(f"unknown key function {name!r} in {expr!r}")
    if name in UNAVAILABLE:
        raise FlowSpecError(
            f"key function {name!r} is not available yet (no enrichment data source); "
            f"in {expr!r}"
        )
    try:
        return _call(name, FUNCTIONS[name], args[1:], depth)
    except (IndexError, ValueError) as exc:
        if isinstance(exc, FlowSpecError):
            raise
        raise FlowSpecError(f"bad arguments to {name!r} in {expr!r}: {exc}") from None


def _call(name: str, sig: Signature, args: list[Arg], depth: int) -> Call:
    if len(args) < sig.least or (sig.most is not None and len(args) > sig.most):
        raise FlowSpecError(f"usage: {sig.usage}")
    parsed: list[Expr] = []
    for i, arg in enumerate(args):
        kind, what = sig.param(i)
        parsed.append(_key_arg(arg, depth) if kind == KEY else _literal_arg(arg, kind, what))
    out = tuple(parsed)
    if sig.check is not None:
        sig.check(out)
    return Call(name, out)


def _key_arg(arg: Arg, depth: int) -> Key:
    """An argument that names a key or holds a bracketed expression."""
    if arg.bracketed:
        return _expression(arg.raw, depth + 1)
    name = arg.text.strip()
    if not KEY_NAME.fullmatch(name):
        raise FlowSpecError(f"invalid flow key name {name!r}")
    return Field(name)


def _literal_arg(arg: Arg, kind: str, what: str) -> Literal:
    if arg.bracketed:
        raise FlowSpecError(f"{what} must be a literal, not an expression")
    if kind == INT:
        text = arg.text.strip()
        try:
            return Literal(str(int(text, 0)))
        except ValueError:
            raise FlowSpecError(f"{what} must be an integer, got {text!r}") from None
    if kind == NUMBER:
        value = as_number(arg.text.strip())
        if value is None:
            raise FlowSpecError(f"{what} must be a number, got {arg.text!r}")
        return Literal(format_number(value))
    return Literal(arg.text)


def parse_key(expr: str) -> Key:
    """Parse one key expression; FlowSpecError names the problem and the expression."""
    if not isinstance(expr, str) or not expr.strip():
        raise FlowSpecError("empty key expression")
    if len(expr) > MAX_EXPRESSION_LENGTH:
        raise FlowSpecError(f"key expression longer than {MAX_EXPRESSION_LENGTH} characters")
    return _expression(expr.strip(), 0)


def parse_value(expr: str) -> Value:
    """Parse a value expression: ``bytes``, ``frames``, any numeric key, ``rate:``/
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
    if kind not in TEXT_KINDS or not body:
        kind, body = "sum", text
    return Value("sum" if kind == "rate" else kind, parse_key(body))
