"""Rewrite the Nashorn/Rhino idioms of older sFlow-RT scripts into standard JavaScript.

sFlow-RT 1.x/2.x ran scripts on Rhino and Nashorn, and InMon's apps (and many users'
scripts) still use two non-standard forms that QuickJS rejects:

* ``for each (var x in obj)`` iterates over *values*: rewritten to
  ``for (var x of __each(obj))`` where the prelude's ``__each`` yields an array's
  items or an object's property values;
* expression closures ``function(a) a + 1`` (a body without braces): rewritten to
  ``function(a) { return a + 1 }``; the body runs to the first ``,``, ``;``, ``)``,
  ``]`` or ``}`` at its own nesting depth, or the end of the line.

The rewrite is a single scan that skips string literals, template literals and
comments, and never adds or removes a newline, so line numbers in error messages
still point into the user's file. Regular expression literals are not recognised; a
regex containing a quote could confuse the scan (none of InMon's apps has one).
"""

from __future__ import annotations

import re

_FOR_EACH = re.compile(r"for\s+each\s*\(")
_FUNCTION = re.compile(r"function\b\s*[\w$]*\s*\(")
_IDENT_BEFORE = re.compile(r"[\w$.]$")
_OPEN = "([{"
_CLOSE = ")]}"
_BODY_END = ",;)]}"


def _skip_literal(src: str, i: int) -> int:
    """Index just past the string/template/comment starting at ``i`` (else ``i``)."""
    ch = src[i]
    if ch in "'\"`":
        j = i + 1
        while j < len(src):
            c = src[j]
            if c == "\\":
                j += 2
                continue
            if c == ch:
                return j + 1
            if c == "\n" and ch != "`":
                return j
            j += 1
        return len(src)
    if src.startswith("//", i):
        end = src.find("\n", i)
        return len(src) if end < 0 else end
    if src.startswith("/*", i):
        end = src.find("*/", i + 2)
        return len(src) if end < 0 else end + 2
    return i


def _match_close(src: str, i: int) -> int:
    """Index of the bracket closing the one at ``i`` (``len(src)`` when unbalanced)."""
    depth = 0
    j = i
    while j < len(src):
        nxt = _skip_literal(src, j)
        if nxt != j:
            j = nxt
            continue
        c = src[j]
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
            if depth == 0:
                return j
        j += 1
    return len(src)


def _expression_end(src: str, i: int) -> int:
    """End of an expression-closure body starting at ``i`` (see the module docstring)."""
    depth = 0
    j = i
    while j < len(src):
        nxt = _skip_literal(src, j)
        if nxt != j:
            if src.startswith("//", j) and depth == 0:
                return j
            j = nxt
            continue
        c = src[j]
        if c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            if depth == 0:
                return j
            depth -= 1
        elif depth == 0 and (c in _BODY_END or c == "\n"):
            return j
        j += 1
    return len(src)


def _rewrite_for_each(src: str, start: int, head_end: int) -> str | None:
    """``for each (decl x in expr)`` → ``for (decl x of __each(expr))`` (None: no match)."""
    close = _match_close(src, head_end - 1)
    head = src[head_end:close]
    m = re.match(r"(\s*(?:var|let|const)?\s*[\w$]+\s+)in\b", head)
    if m is None or close >= len(src):
        return None
    return f"for ({m.group(1)}of __each({head[m.end():]}))"


def rewrite_legacy(src: str) -> str:
    """The standard-JavaScript equivalent of ``src`` (unchanged when nothing applies)."""
    if "each" not in src and "function" not in src:
        return src
    out: list[str] = []
    i = 0
    n = len(src)
    while i < n:
        nxt = _skip_literal(src, i)
        if nxt != i:
            out.append(src[i:nxt])
            i = nxt
            continue
        at_word = i == 0 or not _IDENT_BEFORE.search(src[i - 1])
        if at_word and src.startswith("for", i):
            m = _FOR_EACH.match(src, i)
            if m is not None:
                close = _match_close(src, m.end() - 1)
                replaced = _rewrite_for_each(src, i, m.end())
                if replaced is not None:
                    out.append(rewrite_legacy(replaced))
                    i = close + 1
                    continue
        if at_word and src.startswith("function", i):
            m = _FUNCTION.match(src, i)
            if m is not None:
                params_close = _match_close(src, m.end() - 1)
                j = params_close + 1
                while j < n and src[j] in " \t":
                    j += 1
                if params_close < n and j < n and src[j] not in "{\n\r":
                    end = _expression_end(src, j)
                    body = rewrite_legacy(src[j:end]).rstrip()
                    out.append(f"{src[i:params_close + 1]} {{ return {body}; }}")
                    i = end
                    continue
        out.append(src[i])
        i += 1
    return "".join(out)
