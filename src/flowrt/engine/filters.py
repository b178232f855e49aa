"""The flow filter language (§2.3), compiled once into a per-sample predicate.

Grammar (whitespace around tokens is ignored)::

    filter     := or
    or         := and ('|' and)*
    and        := factor ('&' factor)*
    factor     := '(' or ')' | comparison
    comparison := key op value (',' value)*
    op         := '=' | '!=' | '~' | '!~'

``key`` is a flow key or key-function expression (``group:ipsource:lan``,
``[range:bytes:0:63]`` style nesting allowed), optionally wrapped in single quotes. Each
``value`` is text; the bare word ``null`` means "key missing" (``vxlanvni=null``), while
``'null'`` is the four letters. A list means any-of: ``ipprotocol=1,6,17``.

Decisions where the digest is UNCERTAIN (each covered by a test):

- ``~`` patterns must match the *whole* value (Java ``String.matches``, which sFlow-RT's
  JVM heritage and examples such as ``tcpflags~.......1.`` imply), Python ``re`` syntax.
- ``!=`` and ``!~`` are the exact negations of ``=`` and ``~``: a missing key is
  ``!=`` anything but ``null``.
- A backslash makes the next character literal in ``=`` values (``a=x\\,y`` is one value);
  in ``~`` patterns it is passed to the regex untouched (``\\.`` stays an escaped dot and
  ``\\,`` matches a comma), and ``( )``, ``[ ]`` and ``{ }`` inside a pattern are kept
  together so ``(a|b)``, ``[,|]`` and ``{1,3}`` need no quoting.
- Single quotes make a token literal up to the next unescaped quote.
- Booleans are the text ``true``/``false`` that boolean key functions produce.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from flowrt.engine.flowspec import FlowSpecError
from flowrt.engine.keyfuncs import KEY_NAME, KeyFn, as_text, compile_key, unescape

if TYPE_CHECKING:
    from flowrt.engine.flowspec import SampleView
    from flowrt.engine.groups import Lookups

Predicate = Callable[["SampleView"], bool]

MAX_FILTER_LENGTH = 65_536
"""Long address lists are legitimate (ddos-protect style), megabytes are not."""
MAX_NESTING = 32
MAX_PATTERN_LENGTH = 1024
NULL = "null"
OPERATORS = ("!=", "!~", "=", "~")
KEY_END = frozenset("=!~&|()")
VALUE_END = frozenset(",&|)")
WORD_CONNECTIVE = re.compile(r"\s(?:and|or)\s+[\w.:\[\]-]+\s*!?[=~]", re.IGNORECASE)
"""``6 and tcpdestinationport=80``: a second comparison joined with a word."""
REGEX_OPEN = {"(": ")", "[": "]", "{": "}"}


class FilterError(FlowSpecError):
    """A filter that cannot be compiled; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at column {position + 1}")
        self.position = position


def always(_view: SampleView) -> bool:
    """The predicate of an empty filter."""
    return True


def compile_filter(text: str, lookups: Lookups | None = None) -> Predicate:
    """Compile filter ``text``; FilterError says what was expected and where."""
    if not isinstance(text, str):
        raise FilterError("filter must be a string", 0)
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"filter longer than {MAX_FILTER_LENGTH} characters", 0)
    if not text.strip():
        return always
    return _Parser(text, lookups).parse()


class _Parser:
    """Recursive descent over the filter text, building closures as it goes."""

    def __init__(self, text: str, lookups: Lookups | None) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0
        self.lookups = lookups

    # --- scanning helpers --------------------------------------------------------------------
    def peek(self) -> str:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def error(self, message: str, position: int | None = None) -> FilterError:
        return FilterError(message, self.pos if position is None else position)

    def quoted(self) -> str:
        """The text between single quotes at ``pos``; ``\\'`` is a quote inside."""
        start = self.pos
        self.pos += 1
        out = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.text[self.pos + 1 : self.pos + 2] == "'":
                out.append("'")
                self.pos += 2
                continue
            if char == "'":
                self.pos += 1
                return "".join(out)
            out.append(char)
            self.pos += 1
        raise self.error("unterminated quote", start)

    # --- grammar -----------------------------------------------------------------------------
    def parse(self) -> Predicate:
        predicate = self.or_()
        if self.peek():
            raise self.error(f"unexpected {self.text[self.pos]!r}")
        return predicate

    def or_(self) -> Predicate:
        predicate = self.and_()
        while self.peek() == "|":
            self.pos += 1
            predicate = _either(predicate, self.and_())
        return predicate

    def and_(self) -> Predicate:
        predicate = self.factor()
        while self.peek() == "&":
            self.pos += 1
            predicate = _both(predicate, self.factor())
        return predicate

    def factor(self) -> Predicate:
        char = self.peek()
        if char == "(":
            if self.depth >= MAX_NESTING:
                raise self.error(f"parentheses nested more than {MAX_NESTING} deep")
            self.depth += 1
            self.pos += 1
            predicate = self.or_()
            if self.peek() != ")":
                raise self.error("expected ')'")
            self.pos += 1
            self.depth -= 1
            return predicate
        if char in ("", "&", "|", ")"):
            raise self.error("expected a comparison such as ipprotocol=6")
        return self.comparison()

    def comparison(self) -> Predicate:
        key_start = self.pos
        key_text = self.key()
        if "<" in key_text or ">" in key_text:
            column = key_start + max(key_text.find("<"), key_text.find(">"))
            raise self.error(
                "'<' and '>' are not operators; use range:<key>:<lo>:<hi>=true", column
            )
        try:
            key_fn = compile_key(key_text, self.lookups)
        except FlowSpecError as exc:
            raise self.error(str(exc), key_start) from None
        op_start = self.pos
        operator = next((op for op in OPERATORS if self.text.startswith(op, self.pos)), None)
        if operator is None:
            raise self.error("expected '=', '!=', '~' or '!~'", op_start)
        self.pos += len(operator)
        if self.text.startswith("=", self.pos):
            raise self.error(f"'{operator}=' is not an operator; use '{operator}'", op_start)
        regex = operator.endswith("~")
        values: list[tuple[str | None, int]] = [self.value(regex)]
        while self.peek() == ",":
            self.pos += 1
            values.append(self.value(regex))
        name = unescape(key_text) if KEY_NAME.fullmatch(unescape(key_text)) else None
        if regex:
            predicate = _matches(key_fn, name, self.patterns(values))
        else:
            predicate = _equals(key_fn, name, values)
        return _negate(predicate) if operator.startswith("!") else predicate

    def key(self) -> str:
        """The left-hand side: raw text (escapes kept for the key-expression parser)."""
        if self.peek() == "'":
            start = self.pos
            key = self.quoted()
        else:
            start, depth = self.pos, 0
            while self.pos < len(self.text):
                char = self.text[self.pos]
                if char == "\\":
                    self.pos += 2
                    continue
                if char == "[":
                    depth += 1
                elif char == "]":
                    depth -= 1
                elif depth == 0 and char in KEY_END:
                    break
                self.pos += 1
            key = self.text[start : self.pos].strip()
        if not key:
            raise self.error("expected a flow key", start)
        self.peek()
        return key

    def value(self, regex: bool) -> tuple[str | None, int]:
        """One right-hand value and its position; None stands for the bare word ``null``."""
        char = self.peek()
        start = self.pos
        if char == "'":
            return self.quoted(), start
        out: list[str] = []
        closers: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                nxt = self.text[self.pos + 1]
                out.append(char + nxt if regex else nxt)
                self.pos += 2
                continue
            if regex and closers and char == closers[-1]:
                closers.pop()
            elif regex and char in REGEX_OPEN and (not closers or closers[-1] != "]"):
                closers.append(REGEX_OPEN[char])
            elif not closers and char in VALUE_END:
                break
            elif not regex and char == "(":  # almost always a misplaced group
                raise self.error("unexpected '(' in a value (quote the value to match it)")
            out.append(char)
            self.pos += 1
        if closers:
            raise self.error(f"unbalanced regex: missing {closers[-1]!r}", start)
        value = "".join(out).rstrip()
        if not value:
            raise self.error("expected a value", start)
        if not regex and WORD_CONNECTIVE.search(value):  # `a=1 and b=2`: not our grammar
            raise self.error("combine comparisons with & and | (not 'and'/'or'), or quote"
                             " the value to match it", start)
        return (None if value == NULL else value), start

    def patterns(self, values: list[tuple[str | None, int]]) -> list[re.Pattern[str] | None]:
        compiled: list[re.Pattern[str] | None] = []
        for pattern, position in values:
            if pattern is None:
                compiled.append(None)
                continue
            if len(pattern) > MAX_PATTERN_LENGTH:
                raise self.error(f"pattern longer than {MAX_PATTERN_LENGTH}", position)
            try:
                compiled.append(re.compile(pattern))
            except re.error as exc:
                raise self.error(f"bad pattern {pattern!r}: {exc.msg}", position) from None
        return compiled


# --- predicate builders ----------------------------------------------------------------------
def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda view: a(view) or b(view)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda view: a(view) and b(view)


def _negate(a: Predicate) -> Predicate:
    return lambda view: not a(view)


def _equals(key_fn: KeyFn, name: str | None, values: list[tuple[str | None, int]]) -> Predicate:
    wanted = frozenset(v for v, _ in values if v is not None)
    want_null = any(v is None for v, _ in values)
    if name is not None:  # plain key: read the view directly, skip the closure

        def equals_key(view: SampleView) -> bool:
            value = view.get(name)
            if value is None:
                return want_null
            return (value if value.__class__ is str else as_text(value)) in wanted

        return equals_key

    def equals(view: SampleView) -> bool:
        value = key_fn(view)
        return want_null if value is None else value in wanted

    return equals


def _matches(key_fn: KeyFn, name: str | None, patterns: list[re.Pattern[str] | None]) -> Predicate:
    regexes = tuple(p.fullmatch for p in patterns if p is not None)
    want_null = any(p is None for p in patterns)

    def matches(view: SampleView) -> bool:
        value = key_fn(view)
        if value is None:
            return want_null
        return any(match(value) is not None for match in regexes)

    return matches
