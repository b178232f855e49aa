"""The flow filter language (text → IR): :class:`Compare`, :class:`And`, :class:`Or`.

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

Decisions where sFlow-RT's documentation is unclear (each covered by a test):

- ``~`` patterns must match the *whole* value (Java ``String.matches``, which sFlow-RT's
  JVM heritage and examples such as ``tcpflags~.......1.`` imply), Python ``re`` syntax
  run by RE2 in linear time (:mod:`flowrt.flowlang.patterns`): backreferences and
  lookaround are refused with a message naming them.
- ``!=`` and ``!~`` are the exact negations of ``=`` and ``~``: a missing key is
  ``!=`` anything but ``null``.
- A backslash makes the next character literal in ``=`` values (``a=x\\,y`` is one value);
  in ``~`` patterns it is passed to the regex untouched (``\\.`` stays an escaped dot and
  ``\\,`` matches a comma), and ``( )``, ``[ ]`` and ``{ }`` inside a pattern are kept
  together so ``(a|b)``, ``[,|]`` and ``{1,3}`` need no quoting.
- Single quotes make a token literal up to the next unescaped quote.
- Booleans are the text ``true``/``false`` that boolean key functions produce.

Every regex is compiled here, so a bad pattern is a :class:`FilterError` with its
position, and executors can trust the tree.
"""

from __future__ import annotations

import re

from flowrt.flowlang.errors import FilterError, FlowSpecError
from flowrt.flowlang.ir import NULL, And, Compare, Filter, Or
from flowrt.flowlang.keys import parse_key
from flowrt.flowlang.patterns import PatternError, compile_pattern

MAX_FILTER_LENGTH = 65_536
"""Long address lists are legitimate (ddos-protect style), megabytes are not."""
MAX_NESTING = 32
MAX_PATTERN_LENGTH = 1024
OPERATORS = ("!=", "!~", "=", "~")
"""Longest first, as the scanner tries them."""
KEY_END = frozenset("=!~&|()")
VALUE_END = frozenset(",&|)")
WORD_CONNECTIVE = re.compile(r"\s(?:and|or)\s+[\w.:\[\]-]+\s*!?[=~]", re.IGNORECASE)
"""``6 and tcpdestinationport=80``: a second comparison joined with a word."""
REGEX_OPEN = {"(": ")", "[": "]", "{": "}"}


def parse_filter(text: str) -> Filter | None:
    """Parse filter ``text`` (None when blank); FilterError says what was expected and where."""
    if not isinstance(text, str):
        raise FilterError("filter must be a string", 0)
    if len(text) > MAX_FILTER_LENGTH:
        raise FilterError(f"filter longer than {MAX_FILTER_LENGTH} characters", 0)
    if not text.strip():
        return None
    return _Parser(text).parse()


def _joined(cls: type[And] | type[Or], parts: list[Filter]) -> Filter:
    """One node for ``parts`` joined by ``cls``, flattening nested nodes of the same kind."""
    if len(parts) == 1:
        return parts[0]
    flat: list[Filter] = []
    for part in parts:
        flat += part.parts if isinstance(part, cls) else (part,)
    return cls(tuple(flat))


class _Parser:
    """Recursive descent over the filter text, building the tree as it goes."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

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
    def parse(self) -> Filter:
        node = self.or_()
        if self.peek():
            raise self.error(f"unexpected {self.text[self.pos]!r}")
        return node

    def or_(self) -> Filter:
        parts = [self.and_()]
        while self.peek() == "|":
            self.pos += 1
            parts.append(self.and_())
        return _joined(Or, parts)

    def and_(self) -> Filter:
        parts = [self.factor()]
        while self.peek() == "&":
            self.pos += 1
            parts.append(self.factor())
        return _joined(And, parts)

    def factor(self) -> Filter:
        char = self.peek()
        if char == "(":
            if self.depth >= MAX_NESTING:
                raise self.error(f"parentheses nested more than {MAX_NESTING} deep")
            self.depth += 1
            self.pos += 1
            node = self.or_()
            if self.peek() != ")":
                raise self.error("expected ')'")
            self.pos += 1
            self.depth -= 1
            return node
        if char in ("", "&", "|", ")"):
            raise self.error("expected a comparison such as ipprotocol=6")
        return self.comparison()

    def comparison(self) -> Compare:
        key_start = self.pos
        key_text = self.key()
        if "<" in key_text or ">" in key_text:
            column = key_start + max(key_text.find("<"), key_text.find(">"))
            raise self.error(
                "'<' and '>' are not operators; use range:<key>:<lo>:<hi>=true", column
            )
        try:
            key = parse_key(key_text)
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
        if regex:
            self.check_patterns(values)
        return Compare(key, operator, tuple(value for value, _ in values))

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

    def check_patterns(self, values: list[tuple[str | None, int]]) -> None:
        for pattern, position in values:
            if pattern is None:
                continue
            if len(pattern) > MAX_PATTERN_LENGTH:
                raise self.error(f"pattern longer than {MAX_PATTERN_LENGTH}", position)
            try:
                compile_pattern(pattern)
            except PatternError as exc:
                raise self.error(f"bad pattern {pattern!r}: {exc}", position) from None
