"""formatNumber patterns as InMon's apps write them."""

from __future__ import annotations

import pytest

from flowrt.scripts.numformat import NumberFormatError, format_number


@pytest.mark.parametrize("value,pattern,text", [
    (1234567, "#,##0 seconds", "1,234,567 seconds"),
    (0, "#,### datagrams", "0 datagrams"),
    (1234, "#,### datagrams", "1,234 datagrams"),
    (12.5, "0'%' difference", "12% difference"),  # half-even: 12.5 -> 12
    (13.5, "0'%' difference", "14% difference"),
    (1234.5678, "#,##0.00", "1,234.57"),
    (0.25, "0%", "25%"),
    (-1234.5, "#,##0.0", "-1,234.5"),
    (7, "000", "007"),
    (2.5, "0.###", "2.5"),
    (float("nan"), "#,##0 seconds", "NaN"),  # JavaScript's NaN, from Python or as text
    ("NaN", "#,##0 seconds", "NaN"),
    ("-Infinity", "#,##0 seconds", "-\u221e seconds"),
    (float("inf"), "0%", "\u221e%"),
])
def test_patterns(value: float, pattern: str, text: str) -> None:
    assert format_number(value, pattern) == text


@pytest.mark.parametrize("value,pattern", [("x", "0"), (1, "0.0E0"), (1, "seconds"),
                                           (1, "'open")])
def test_refused(value: object, pattern: str) -> None:
    with pytest.raises(NumberFormatError):
        format_number(value, pattern)
