"""Address range tables: the embedded country and ASN data, and their file format.

A :class:`RangeTable` answers "which value holds this address?" for one address family
with a sorted array of range starts and a parallel array of value indexes (0 = no
value, so the gaps between allocations are rows too): one ``bisect`` per lookup, a few
bytes per range, and loading is a copy of the arrays (no parsing at startup).

IPv6 ranges are kept by their upper 64 bits: registries allocate and routers announce
IPv6 space in blocks of /64 or larger, so the lower half never splits a range (the
builder checks this and reports any range it had to widen).

File format (gzip): one JSON header line (``format``, ``kind``, ``source``,
``version``, ``licence``, ``values`` — the value table, index 0 unused — and the row
counts ``v4``/``v6``), then the IPv4 starts (uint32), IPv4 value indexes (uint32),
IPv6 starts (uint64 upper halves) and IPv6 value indexes (uint32), little-endian.
"""

from __future__ import annotations

import gzip
import json
import sys
from array import array
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = 1
V4_MAX = (1 << 32) - 1
V6_HALF = 64


class TableError(ValueError):
    """A table file that cannot be read (names the file and the problem)."""


def _array(code: str, data: bytes = b"") -> array[int]:
    out = array(code)
    out.frombytes(data)
    if sys.byteorder != "little":
        out.byteswap()
    return out


def _bytes(values: array[int]) -> bytes:
    if sys.byteorder != "little":
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


@dataclass
class RangeTable:
    """One kind of data (country or ASN) for both address families."""

    kind: str
    values: list[Any]  # index 0 is "no value"
    v4_starts: array[int] = field(default_factory=lambda: array("I"))
    v4_values: array[int] = field(default_factory=lambda: array("I"))
    v6_starts: array[int] = field(default_factory=lambda: array("Q"))
    v6_values: array[int] = field(default_factory=lambda: array("I"))
    meta: dict[str, Any] = field(default_factory=dict)

    def lookup_v4(self, address: int) -> Any:
        """The value of the range holding IPv4 ``address`` (an integer), or None."""
        i = bisect_right(self.v4_starts, address) - 1
        return None if i < 0 else self.values[self.v4_values[i]]

    def lookup_v6(self, address: int) -> Any:
        """The value of the range holding IPv6 ``address`` (an integer), or None."""
        i = bisect_right(self.v6_starts, address >> V6_HALF) - 1
        return None if i < 0 else self.values[self.v6_values[i]]

    @property
    def rows(self) -> int:
        return len(self.v4_starts) + len(self.v6_starts)

    def save(self, path: Path) -> None:
        header = {
            **self.meta, "format": FORMAT, "kind": self.kind, "values": self.values,
            "v4": len(self.v4_starts), "v6": len(self.v6_starts),
        }  # fmt: skip
        with gzip.open(path, "wb", compresslevel=9) as out:
            out.write(json.dumps(header, separators=(",", ":")).encode() + b"\n")
            for values in (self.v4_starts, self.v4_values, self.v6_starts, self.v6_values):
                out.write(_bytes(values))

    @classmethod
    def load(cls, path: Path) -> RangeTable:
        try:
            with gzip.open(path, "rb") as src:
                header = json.loads(src.readline())
                body = src.read()
        except (OSError, ValueError, EOFError) as exc:
            raise TableError(f"cannot read range table {path}: {exc}") from exc
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise TableError(f"{path}: not a FlowRT range table (format {FORMAT})")
        n4, n6 = int(header.pop("v4")), int(header.pop("v6"))
        sizes = (4 * n4, 4 * n4, 8 * n6, 4 * n6)
        if len(body) != sum(sizes):
            raise TableError(f"{path}: truncated ({len(body)} bytes, expected {sum(sizes)})")
        parts, offset = [], 0
        for size in sizes:
            parts.append(body[offset:offset + size])
            offset += size
        values = header.pop("values")
        kind = header.pop("kind")
        header.pop("format")
        return cls(kind, values, _array("I", parts[0]), _array("I", parts[1]),
                   _array("Q", parts[2]), _array("I", parts[3]), header)


class RangeBuilder:
    """Collects ``(first, last, value)`` ranges of one family and writes the rows."""

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.ranges: list[tuple[int, int, int]] = []
        self.widened = 0

    def add(self, first: int, last: int, value: int) -> None:
        if self.bits == 128:
            low_mask = (1 << V6_HALF) - 1
            if first & low_mask or (last & low_mask) != low_mask:
                self.widened += 1
            first, last = first >> V6_HALF, last >> V6_HALF
        self.ranges.append((first, last, value))

    def rows(self) -> tuple[list[int], list[int]]:
        """Starts and values, gaps as value 0, neighbours with one value merged."""
        starts: list[int] = []
        values: list[int] = []
        end = -1  # last address covered so far
        for first, last, value in sorted(self.ranges):
            if last <= end:
                continue  # inside an earlier range (the earlier, wider one wins)
            first = max(first, end + 1)
            if first > end + 1 and (not values or values[-1] != 0):
                starts.append(end + 1)
                values.append(0)
            if values and values[-1] == value and starts[-1] <= first:
                pass  # extends the previous row
            else:
                starts.append(first)
                values.append(value)
            end = last
        if starts and end < (1 << (32 if self.bits == 32 else 64)) - 1:
            starts.append(end + 1)
            values.append(0)
        return starts, values
