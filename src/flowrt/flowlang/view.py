"""What flow definitions read: a sample as a map of flow key → value, and value coercions.

Every executor of the flow language sees a sample through :class:`SampleView`, so the
language does not depend on how a sample was decoded: the engine backs it with
:class:`~flowrt.flowlang.sampleview.FlowSampleView` (keys computed from sFlow records on
demand), tests and the activeFlows key filter with :class:`DictSampleView`.

Key values are text or numbers; flows and filters compare them as text
(:func:`as_text`), values aggregate them as numbers (:func:`as_number`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Protocol

KeyValue = str | int | float | None
"""A flow key's value in a sample: text, a number, or None when the sample lacks it."""


class SampleView(Protocol):
    """One flow (or discard) sample as flow definitions see it.

    ``get`` returns the value of a flow key (``ipsource``, ``tcpflags``, ``ipsource.1``,
    ``stack``, ``agent``, ``inputifindex``, ``bytes``, ``frames``, ...) or None when the
    sample does not carry it. Values are text or numbers.
    """

    def get(self, name: str) -> KeyValue: ...


class DictSampleView:
    """A :class:`SampleView` over a plain dict: for tests and for replaying logged samples."""

    __slots__ = ("fields",)

    def __init__(
        self, fields: Mapping[str, str | int | float] | None = None, **kw: str | int | float
    ) -> None:
        self.fields: dict[str, str | int | float] = dict(fields or {}, **kw)

    def get(self, name: str) -> KeyValue:
        return self.fields.get(name)

    def __repr__(self) -> str:
        return f"DictSampleView({self.fields!r})"


def as_text(value: KeyValue) -> str | None:
    """A key value as the text flows and filters compare: ``6`` → ``"6"``, ``2.0`` → ``"2"``."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def as_number(value: KeyValue) -> float | None:
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
