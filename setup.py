"""Build the optional compiled ingest core, ``flowrt._core._ingest``.

Everything else is declared in pyproject.toml. The extension is optional: without a C
compiler (or with ``FLOWRT_NO_EXTENSIONS=1`` set at build time) the install succeeds
with the pure-Python reference path and a warning. ``FLOWRT_SANITIZE=1`` builds it with
AddressSanitizer and UndefinedBehaviorSanitizer for ``make fuzz``.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


class OptionalBuildExt(build_ext):
    """A build_ext whose failure is a warning: the reference path needs no compiler."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler, missing headers
            self._warn(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:
            self._warn(exc)

    @staticmethod
    def _warn(exc: BaseException) -> None:
        print(
            f"WARNING: flowrt's compiled ingest core was not built ({exc}); "
            "FlowRT will run on its pure-Python reference path",
            file=sys.stderr,
        )


def extensions() -> list[Extension]:
    if os.environ.get("FLOWRT_NO_EXTENSIONS"):
        print("FLOWRT_NO_EXTENSIONS is set: not building the compiled ingest core",
              file=sys.stderr)
        return []
    compile_args = ["-O2", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    link_args: list[str] = []
    if os.environ.get("FLOWRT_SANITIZE"):
        flags = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer", "-g", "-O1"]
        compile_args += [*flags, "-fno-sanitize-recover=undefined"]
        link_args += flags
    return [
        Extension(
            "flowrt._core._ingest",
            ["src/flowrt/_core/_ingest.c"],
            # a change to an included header rebuilds the core
            depends=["src/flowrt/_core/sumtable.h", "src/flowrt/_core/keyhash.h"],
            extra_compile_args=compile_args,
            extra_link_args=link_args,
            optional=True,
        )
    ]


setup(ext_modules=extensions(), cmdclass={"build_ext": OptionalBuildExt})
