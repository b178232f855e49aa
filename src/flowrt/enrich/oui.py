"""``oui:``: the IEEE OUI (first three octets) of a MAC address, or its vendor's name.

``oui:<mac key>`` (and ``oui:<mac key>:number``) gives the OUI as six upper-case hex
digits, the way FlowRT writes MACs (``001B21`` for ``001B21AABBCC``); ``oui:<key>:name``
the organisation the IEEE registered it to (``Intel Corporate``), or null when the OUI
is not registered. A MAC may be written with or without ``:``/``-``/``.`` separators;
anything else is null and counted in ``invalid``.

Names come from the IEEE MA-L registry that the ``netaddr`` package ships, or from
the file named by sFlow-RT's ``oui.names`` property: the IEEE ``oui.txt`` layout
(``00-1B-21   (hex)   Intel Corporate``) or one ``<6 hex digits><tab, comma or
spaces><name>`` per line. The registry is read once, on the first ``:name`` lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from flowrt.enrich.cache import MISS, BoundedCache

OUI_ATTRS = frozenset({"number", "name"})
_IEEE_LINE = re.compile(r"^\s*([0-9A-Fa-f]{2})-([0-9A-Fa-f]{2})-([0-9A-Fa-f]{2})\s+\(hex\)\s+(.*)$")
_PLAIN_LINE = re.compile(r"^\s*([0-9A-Fa-f]{6})\s*[,\t ]\s*(.+)$")
_SEPARATORS = str.maketrans("", "", ":-.")
_HEX = frozenset("0123456789ABCDEF")
MAX_NAMES = 1_000_000


class OuiError(ValueError):
    """An ``oui.names`` file that cannot be read."""


def bundled_registry() -> Path:
    """The IEEE MA-L registry text that ``netaddr`` ships."""
    import netaddr.eui

    return Path(netaddr.eui.__file__).parent / "oui.txt"


def read_registry(path: Path) -> dict[str, str]:
    """OUI (6 upper-case hex digits) → organisation, from either file layout."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise OuiError(f"cannot read oui.names file {path}: {exc.strerror}") from exc
    names: dict[str, str] = {}
    for line in text.splitlines():
        match = _IEEE_LINE.match(line)
        if match:
            oui, name = "".join(match.group(1, 2, 3)).upper(), match.group(4)
        else:
            plain = _PLAIN_LINE.match(line)
            if plain is None:
                continue
            oui, name = plain.group(1).upper(), plain.group(2)
        name = name.strip()
        if name and oui not in names:
            names[oui] = name
            if len(names) > MAX_NAMES:
                raise OuiError(f"{path}: more than {MAX_NAMES} OUIs")
    if not names:
        raise OuiError(f"{path}: no OUI entries (expected IEEE oui.txt lines)")
    return names


def oui_of(mac: str) -> str | None:
    """The OUI of a MAC's text, or None when the text is not a MAC address."""
    digits = mac.translate(_SEPARATORS).upper()
    if len(digits) != 12 or not _HEX.issuperset(digits):
        return None
    return digits[:6]


@dataclass
class OuiCounters:
    lookups: int = 0
    invalid: int = 0


class OuiService:
    """MAC → OUI / vendor name, with a bounded cache of answers."""

    def __init__(self, names_file: str | None = None, cache_size: int = 65536) -> None:
        self.path = Path(names_file) if names_file else None
        self._names: dict[str, str] | None = None
        if self.path is not None:
            self._names = read_registry(self.path)  # a bad file stops startup, named
        self.cache: BoundedCache[str | None] = BoundedCache(cache_size)
        self.counters = OuiCounters()

    @property
    def names(self) -> dict[str, str]:
        if self._names is None:
            self._names = read_registry(bundled_registry())
        return self._names

    def lookup(self, mac: str, attr: str = "number") -> str | None:
        key = attr + mac
        cached = self.cache.get(key)
        if cached is not MISS:
            return cached  # type: ignore[return-value]
        self.counters.lookups += 1
        oui = oui_of(mac)
        if oui is None:
            self.counters.invalid += 1
            answer = None
        else:
            answer = oui if attr == "number" else self.names.get(oui)
        self.cache.put(key, answer)
        return answer

    def describe(self) -> str:
        return str(self.path) if self.path is not None else f"netaddr ({bundled_registry()})"
