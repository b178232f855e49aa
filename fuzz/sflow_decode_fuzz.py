"""Coverage-guided fuzzing of every decode path with atheris (libFuzzer for Python).

Bytes from the network go through more than ``decode_datagram``: each flow and discard
sample's sampled_header is located and parsed (:mod:`flowrt.sflow.packet`), flow
definitions read its keys through the sample view (:mod:`flowrt.flowlang.sampleview`),
and ``flowrt sflowtool`` prints it all (:mod:`flowrt.sflow.sflowtool`). This target
drives all of them with each input and checks their contracts:

* ``decode_datagram`` returns a Datagram or raises DecodeError, nothing else;
* the sflowtool printer prints any decoded (or refused) datagram without raising;
* every flow key of every flow and discard sample resolves without raising, to a value
  of a JSON type (or None);
* every sampled_header parses (``parse_header``) without raising, and each key it
  yields equals what that key's extractor reads from the located layers (flow
  definitions use the extractors; ``/flowkeys`` and the reference path the parser).

An input starting with ``H`` is a bare sampled_header (byte 1 the header_protocol), so
libFuzzer can mutate packet headers without going through a datagram first.

Instrumentation: every ``flowrt`` module imported here is instrumented
(``atheris.instrument_imports``), and so is the code the decoder generates at run time
(the records' struct codecs, the header parsers and extractors, compiled from source by
:mod:`flowrt.sflow.codegen`), which is where most of the decoding happens.

The file name does not start with ``test_`` so pytest never collects it. See
fuzz/README.md for how to run it, build the seed corpus and measure its coverage.
"""

from __future__ import annotations

import gc
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import atheris

sys.path.insert(0, str(Path(__file__).parent))

with atheris.instrument_imports(include=["flowrt", "decode_paths"]):
    from decode_paths import run_one
    from flowrt.sflow import codegen

GENERATED_PREFIXES = ("<codec ", "<packet ")
_instrumented: dict[tuple[str, str], types.CodeType] = {}
"""Instrumented code by (pseudo-filename, function name). The filename holds a digest of
the generated source, so the same source compiled again (an extractor built per flow
definition) reuses the same instrumented code, hence the same edges: only source never
seen before is new coverage to libFuzzer."""


def _instrument_generated(func: Any) -> None:
    if not isinstance(func, types.FunctionType):
        return
    code = func.__code__
    if not code.co_filename.startswith(GENERATED_PREFIXES):
        return
    key = (code.co_filename, code.co_qualname)
    done = _instrumented.get(key)
    if done is None:
        atheris.instrument_func(func)
        _instrumented[key] = func.__code__
    elif done is not code and not code.co_freevars:
        func.__code__ = done


def instrument_generated_code() -> int:
    """Instrument the code generated so far, and whatever is generated from now on."""
    for obj in gc.get_objects():
        _instrument_generated(obj)
    original: Callable[..., dict[str, Any]] = codegen.run_generated

    def run_generated(source: str, kind: str, name: str, env: dict[str, Any]) -> dict[str, Any]:
        out = original(source, kind, name, env)
        for value in list(out.values()):
            _instrument_generated(value)
        return out

    for module in list(sys.modules.values()):
        if getattr(module, "run_generated", None) is original:
            module.run_generated = run_generated  # type: ignore[attr-defined]
    return len(_instrumented)


def TestOneInput(data: bytes) -> None:  # the name atheris expects
    run_one(data)


def main() -> None:
    count = instrument_generated_code()
    print(f"sflow_decode_fuzz: {count} generated functions instrumented", file=sys.stderr)
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
