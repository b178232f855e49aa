"""oui: from the IEEE registry netaddr ships, and from an oui.names file."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowrt.config import ConfigError, Properties
from flowrt.engine import Engine
from flowrt.enrich.oui import OuiService, oui_of


@pytest.mark.parametrize(
    ("mac", "oui"),
    [("001B21AABBCC", "001B21"), ("00:1b:21:aa:bb:cc", "001B21"), ("00-1B-21-AA-BB-CC", "001B21"),
     ("001b.21aa.bbcc", "001B21"), ("001B21", None), ("zz1B21AABBCC", None), ("", None)],
)
def test_oui_of(mac: str, oui: str | None) -> None:
    assert oui_of(mac) == oui


def test_bundled_registry_names() -> None:
    service = OuiService()
    assert service.lookup("001B21AABBCC") == "001B21"
    assert service.lookup("001B21AABBCC", "number") == "001B21"
    assert service.lookup("001B21AABBCC", "name") == "Intel Corporate"
    assert service.lookup("000C29123456", "name") == "VMware, Inc."
    assert service.lookup("020000000001", "name") is None  # locally administered
    assert service.lookup("not-a-mac", "name") is None
    assert service.counters.invalid == 1


def test_oui_names_file_in_either_layout(tmp_path: Path) -> None:
    path = tmp_path / "oui.txt"
    path.write_text("00-1B-21   (hex)\t\tExample NIC Maker\n001B21     (base 16)\t\tx\n"
                    "AABBCC,Plain Layout Inc.\n")
    service = OuiService(str(path))
    assert service.lookup("001B21000001", "name") == "Example NIC Maker"
    assert service.lookup("AABBCC000001", "name") == "Plain Layout Inc."
    assert service.lookup("000C29123456", "name") is None  # only the file is used


def test_the_cache_is_bounded_and_counted() -> None:
    service = OuiService(cache_size=2)
    for mac in ("001B21000001", "001B21000001", "000C29000001", "AABBCC000001"):
        service.lookup(mac, "name")
    assert (service.cache.hits, service.cache.misses, service.cache.evictions) == (1, 3, 1)
    assert len(service.cache) == 2


def test_an_unreadable_or_empty_oui_file_is_refused_at_startup(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read oui\.names file"):
        Engine(Properties({"oui.names": str(tmp_path / "missing.txt")}))
    (tmp_path / "empty.txt").write_text("nothing here\n")
    with pytest.raises(ConfigError, match="no OUI entries"):
        Engine(Properties({"oui.names": str(tmp_path / "empty.txt")}))
