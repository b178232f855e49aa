"""Coverage-guided fuzzing of ``decode_datagram`` with atheris (libFuzzer for Python).

The property is the decoder's contract for bytes from the network: return a Datagram or
raise DecodeError. Any other exception, or a crash, is a bug; atheris saves the input
that caused it. The file name does not start with ``test_`` so pytest never collects it.
See fuzz/README.md for how to run it and build the seed corpus.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from flowrt.sflow import Datagram, DecodeError, decode_datagram


def TestOneInput(data: bytes) -> None:  # the name atheris expects
    try:
        result = decode_datagram(data)
    except DecodeError:
        return
    if not isinstance(result, Datagram):
        raise AssertionError(f"decode_datagram returned {type(result).__name__}")
    for err in result.errors:
        if not isinstance(err, DecodeError):
            raise AssertionError(f"errors holds a {type(err).__name__}")


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
