"""Running generated Python source so that tracebacks still show it.

Struct codecs (:mod:`flowrt.sflow.xdr`), packet extractors (:mod:`flowrt.sflow.packet`)
and flows' per-sample counters (:mod:`flowrt.flowlang.executor`) are straight-line code
generated at run time. :func:`run_generated` compiles such source under a pseudo-filename
(``<kind name digest>``) and registers the source with :mod:`linecache`, so a traceback
through generated code prints the generated line, as for a file on disk.

The digest makes the filename unique per source (two ``<packet get>`` extractors with
different bodies must not share lines). The registry is bounded: past
:data:`MAX_SOURCES` the oldest entries leave the line cache (their code still runs; only
their tracebacks lose the source lines).
"""

from __future__ import annotations

import hashlib
import linecache
from collections import OrderedDict
from typing import Any

MAX_SOURCES = 4096
"""Generated sources kept in the line cache (flows redefined in a loop must not grow it)."""

_registered: OrderedDict[str, None] = OrderedDict()


def run_generated(source: str, kind: str, name: str, env: dict[str, Any]) -> dict[str, Any]:
    """Execute ``source`` in ``env`` under a linecache-registered pseudo-filename; ``env``
    (now holding what the source defined) is returned."""
    digest = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()[:12]
    filename = f"<{kind} {name} {digest}>"
    code = compile(source, filename, "exec")
    register_source(filename, source)
    exec(code, env)
    return env


def register_source(filename: str, source: str) -> None:
    """Make ``linecache`` (hence ``traceback``) answer ``source``'s lines for ``filename``."""
    lines = source.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    linecache.cache[filename] = (len(source), None, lines, filename)
    _registered[filename] = None
    _registered.move_to_end(filename)
    while len(_registered) > MAX_SOURCES:
        old, _ = _registered.popitem(last=False)
        linecache.cache.pop(old, None)
