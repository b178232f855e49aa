"""REST bodies written as JavaScript object literals, read as sFlow-RT reads them.

sFlow-RT parses request bodies with a lenient reader, so ``curl -d "{keys:'ipsource',
value:'bytes'}"`` works there and appears in blog posts and scripts. This module turns
such text into strict JSON text, which then goes through the same checks as any body
(:func:`flowrt.api.args.json_body`). It is only tried after strict JSON failed.

Accepted beyond JSON: unquoted keys (JavaScript identifiers, ``$`` and ``_`` included),
single-quoted strings (with ``\\'`` and the JSON escapes), and one trailing comma in an
object or array. Nothing is evaluated: anything else (comments, ``undefined``,
expressions, hex numbers) stays an error.
"""

from __future__ import annotations

import json
import re

_IDENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_WORDS = frozenset({"true", "false", "null"})
_NUMBER = re.compile(r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?")


class NotAnObjectLiteral(ValueError):
    """The text is not a JavaScript object literal of the accepted kind."""


def _string(text: str, i: int) -> tuple[str, int]:
    """The quoted string starting at ``text[i]`` as JSON text, and the index after it."""
    quote = text[i]
    out: list[str] = []
    i += 1
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return json.dumps("".join(out)), i + 1
        if ch == "\\":
            if i + 1 >= len(text):
                break
            nxt = text[i + 1]
            if nxt in "'\"":
                out.append(nxt)
                i += 2
                continue
            if nxt == "u" and i + 5 < len(text):
                out.append(json.loads(f'"{text[i:i + 6]}"'))
                i += 6
                continue
            try:
                out.append(json.loads(f'"\\{nxt}"'))
            except ValueError:
                raise NotAnObjectLiteral(f"bad escape \\{nxt}") from None
            i += 2
            continue
        if ch in "\n\r":
            break
        out.append(ch)
        i += 1
    raise NotAnObjectLiteral("unterminated string")


def to_json(text: str) -> str:
    """Strict JSON text for a JavaScript object literal; raises NotAnObjectLiteral."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r\n":
            i += 1
        elif ch in "{}[]:":
            if ch in "}]" and out and out[-1] == ",":
                out.pop()  # one trailing comma
            out.append(ch)
            i += 1
        elif ch == ",":
            out.append(ch)
            i += 1
        elif ch in "'\"":
            token, i = _string(text, i)
            out.append(token)
        else:
            word = _IDENT.match(text, i)
            if word is not None:
                name = word.group()
                after = text[word.end():].lstrip()
                if after.startswith(":"):
                    out.append(json.dumps(name))
                elif name in _WORDS:
                    out.append(name)
                else:
                    raise NotAnObjectLiteral(f"unexpected word {name!r}")
                i = word.end()
                continue
            number = _NUMBER.match(text, i)
            if number is None:
                raise NotAnObjectLiteral(f"unexpected character {ch!r}")
            out.append(number.group())
            i = number.end()
    return "".join(out)


__all__ = ["NotAnObjectLiteral", "to_json"]
