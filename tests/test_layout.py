"""The test tree's own rules, checked so a new file cannot silently break collection."""

from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def test_module_basenames_are_unique() -> None:
    """tests/ has no __init__.py files (modules import helpers with ``from conftest
    import ...``), so pytest imports every test module by its basename: two files with
    the same name in different folders would collide at collection."""
    names = Counter(p.name for p in TESTS.rglob("*.py"))
    assert [n for n, c in names.items() if c > 1] == []


def test_only_one_conftest() -> None:
    """A second conftest.py would shadow tests/conftest.py for ``from conftest import``."""
    assert [p.relative_to(TESTS) for p in TESTS.rglob("conftest.py")] == [Path("conftest.py")]
