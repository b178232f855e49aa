"""The compiled ingest core's Python face: is it here, and may we use it?

``flowrt._core._ingest`` is a C extension (see ``_ingest.c``) built by ``pip install``
when a compiler is available. It is optional: without it, or with
``FLOWRT_NO_EXTENSIONS=1`` in the environment (as aiohttp, yarl and msgspec honour),
FlowRT runs its pure-Python reference path, which defines what every result means.
:mod:`flowrt._core.lower` turns flow definitions into the core's programs;
:mod:`flowrt.engine.native` drives the core for the engine.
"""

from __future__ import annotations

import os
from types import ModuleType

NATIVE_PATH = "native"
REFERENCE_PATH = "reference"


def load_native() -> ModuleType | None:
    """The compiled module, or None when absent or disabled by ``FLOWRT_NO_EXTENSIONS``."""
    if os.environ.get("FLOWRT_NO_EXTENSIONS"):
        return None
    try:
        from flowrt._core import _ingest  # type: ignore[attr-defined]
    except ImportError:
        return None
    module: ModuleType = _ingest
    return module


__all__ = ["NATIVE_PATH", "REFERENCE_PATH", "load_native"]
