"""Log lines in sFlow-RT's form: ``2024-05-01T12:00:00Z INFO: <message>``.

Operators' scripts and supervisors grep sFlow-RT's startup lines (``Listening, sFlow
port 6343``, ``Listening, HTTP port 8008``, ``app/<name>/scripts/<file> started``), so
FlowRT writes the same lines, to stderr and flushed at once, beside its own.
"""

from __future__ import annotations

import sys
import time


def rt_line(message: str, level: str = "INFO") -> str:
    """The line as sFlow-RT prints it (UTC time to the second)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return f"{stamp} {level}: {message}"


def say_rt(message: str, level: str = "INFO") -> None:
    print(rt_line(message, level), file=sys.stderr, flush=True)


__all__ = ["rt_line", "say_rt"]
