"""``formatNumber(n, pattern)``: numbers as sFlow-RT's scripts format them.

sFlow-RT hands the pattern to a decimal-format engine; apps use the plain subset:
``#,##0 seconds``, ``#,### datagrams``, ``0'%' difference``, ``#,##0.00``. This module
reads that subset: an optional prefix and suffix of literal text (``'...'`` quotes
text, ``''`` is a quote), then a number part of ``#``, ``0``, ``,`` and ``.``:

* ``,`` turns grouping on, in groups of the digits after the last ``,`` (3 usually);
* ``0`` before the ``.`` sets the fewest integer digits; after it, the fewest fraction
  digits; ``#`` after it allows more fraction digits (trailing zeros dropped);
* an unquoted ``%`` in the prefix or suffix multiplies by 100 (quoted it is literal);
* rounding is half-even, as in that engine; a negative number gets ``-`` before the
  prefix.

A JavaScript ``NaN`` (``Date.now() - undefined``, or ``undefined`` itself, as sflow-test
formats before a test starts) prints ``NaN`` and an infinity ``∞`` (with the pattern's
prefix and suffix), as that engine prints them; the JavaScript binding passes them as
the strings ``"NaN"`` and ``"Infinity"`` (JSON has no such numbers).

Anything else in the number part (exponents, ``;`` negative sub-patterns) is refused
with a clear message rather than formatted wrongly.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

MAX_PATTERN_CHARS = 200
_NUMBER_CHARS = frozenset("#0,.")
NAN_TEXT, INFINITY_TEXT = "NaN", "\u221e"


class NumberFormatError(ValueError):
    """A pattern outside the supported subset, or a value that is not a number."""


def _split(pattern: str) -> tuple[str, str, str, bool]:
    """(prefix, number part, suffix, percent) of ``pattern``."""
    prefix: list[str] = []
    number: list[str] = []
    suffix: list[str] = []
    percent = False
    target = prefix
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "'":
            if target is number:
                target = suffix
            end = pattern.find("'", i + 1)
            if end < 0:
                raise NumberFormatError(f"formatNumber: unclosed quote in {pattern!r}")
            target.append("'" if end == i + 1 else pattern[i + 1:end])
            i = end + 1
            continue
        if ch in _NUMBER_CHARS and target is not suffix:
            target = number
            number.append(ch)
        else:
            if target is number:
                target = suffix
            if ch in ";E":
                raise NumberFormatError(
                    f"formatNumber: {ch!r} patterns are not supported, got {pattern!r}")
            if ch == "%":
                percent = True
            target.append(ch)
        i += 1
    if not number:
        raise NumberFormatError(f"formatNumber: no digits (# or 0) in {pattern!r}")
    return "".join(prefix), "".join(number), "".join(suffix), percent


def _group(digits: str, size: int) -> str:
    if size <= 0:
        return digits
    head = len(digits) % size or size
    parts = [digits[:head]] + [digits[i:i + size] for i in range(head, len(digits), size)]
    return ",".join(parts)


def format_number(value: Any, pattern: Any = None) -> str:
    """``value`` formatted by ``pattern`` (see the module docstring)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise NumberFormatError(f"formatNumber: expected a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise NumberFormatError(f"formatNumber: expected a number, got {value!r}") from None
    if number.is_nan():
        return NAN_TEXT  # the one value printed without the pattern's prefix and suffix
    if pattern is None:
        pattern = "#,##0.###"
    pattern = str(pattern)
    if len(pattern) > MAX_PATTERN_CHARS:
        raise NumberFormatError(f"formatNumber: pattern longer than {MAX_PATTERN_CHARS}")
    prefix, spec, suffix, percent = _split(pattern)
    if number.is_infinite():
        return f"{'-' if number < 0 else ''}{prefix}{INFINITY_TEXT}{suffix}"
    if percent:
        number *= 100
    whole, _, fraction = spec.partition(".")
    if "," in fraction or "." in fraction:
        raise NumberFormatError(f"formatNumber: bad number part {spec!r} in {pattern!r}")
    group = len(whole) - whole.rfind(",") - 1 if "," in whole else 0
    min_int = whole.replace(",", "").count("0")
    min_frac = fraction.count("0")
    max_frac = len(fraction)
    negative = number < 0
    rounded = abs(number).quantize(Decimal(1).scaleb(-max_frac), rounding=ROUND_HALF_EVEN)
    text = f"{rounded:f}"
    int_part, _, frac_part = text.partition(".")
    int_part = int_part.lstrip("0").rjust(min_int, "0")
    frac_part = frac_part.rstrip("0").ljust(min_frac, "0")
    body = _group(int_part, group) + ("." + frac_part if frac_part else "")
    if not body:
        body = "0"
    sign = "-" if negative and rounded != 0 else ""
    return f"{sign}{prefix}{body}{suffix}"


__all__ = ["NumberFormatError", "format_number"]
