"""``~`` patterns, run by a linear-time regex engine (RE2) so no pattern can stall.

A flow filter or an ``/activeflows`` ``filter=`` query comes from whoever can reach the
HTTP port, and the values it is matched against (host names, URLs, DNS names) come from
the traffic. Python's backtracking ``re`` takes exponential time on patterns such as
``(a+)+$`` against a long value that does not match, and one such match holds the event
loop (every request, ingest and even SIGTERM's handler) for as long as it runs. RE2
matches in time linear in the value whatever the pattern, at the price of refusing the
few features that need backtracking: backreferences (``\\1``) and lookaround
(``(?=``, ``(?!``, ``(?<=``, ``(?<!``).

A pattern is checked twice: with Python's ``re`` first, so a malformed pattern keeps the
message operators know (``missing ), unterminated subpattern``), then with RE2, whose
refusal of a pattern Python accepts is reported as an unsupported feature. A pattern
matches only the *whole* value (Java ``String.matches``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

UNSUPPORTED_HINT = (
    "uses a feature the linear-time regex engine (RE2) does not support"
    " (backreferences such as \\1, lookaround such as (?=...) or (?<!...),"
    " possessive or atomic groups, or a repeat count over 1000)"
)

Matcher = Callable[[str], bool]


class PatternError(ValueError):
    """A pattern that cannot be compiled; the message says why (no position)."""


@functools.cache
def _re2() -> tuple[Any, Any]:
    """The RE2 module and its options, loaded on the first pattern: a server with no
    ``~`` pattern never initialises it (its C++ runtime was seen to upset QuickJS's
    time budget in the script tests, which is under investigation)."""
    import re2

    options = re2.Options()
    options.log_errors = False  # RE2 would print every refusal on stderr itself
    return re2, options


def compile_pattern(pattern: str) -> Matcher:
    """A predicate: whether the whole value matches ``pattern`` (linear time).

    Raises :class:`PatternError` for a malformed pattern (Python's message) or one that
    needs backtracking (a sentence naming the unsupported feature).
    """
    try:
        re.compile(pattern)
    except re.error as exc:
        raise PatternError(exc.msg) from None
    except (RecursionError, OverflowError):
        raise PatternError("pattern is nested too deeply") from None
    re2, options = _re2()
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as exc:
        detail = exc.args[0] if exc.args else ""
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        raise PatternError(f"{UNSUPPORTED_HINT}: {detail}") from None
    fullmatch = compiled.fullmatch

    def matches(value: str) -> bool:
        return fullmatch(value) is not None

    return matches


__all__ = ["PatternError", "compile_pattern"]
