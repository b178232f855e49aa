"""Log lines in sFlow-RT's form: ``2024-05-01T12:00:00Z INFO: <message>``.

Operators' scripts and supervisors grep sFlow-RT's startup lines (``Listening, sFlow
port 6343``, ``Listening, HTTP port 8008``, ``app/<name>/scripts/<file> started``), so
FlowRT writes the same lines, to stderr and flushed at once, beside its own.
"""

from __future__ import annotations

import logging
import sys
import threading
import time


def rt_line(message: str, level: str = "INFO") -> str:
    """The line as sFlow-RT prints it (UTC time to the second)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return f"{stamp} {level}: {message}"


def say_rt(message: str, level: str = "INFO") -> None:
    write_line(rt_line(message, level))


def write_line(line: str) -> None:
    """One whole line to stderr in a single write, flushed: ``print`` writes the text
    and its newline separately, so another thread's line could land between them.

    A line that cannot be written (the supervisor's pipe closed, stderr closed) is
    dropped and counted in :data:`unwritten_lines`: logging must never raise into the
    code that logs, least of all into the thread that takes the stop signals."""
    global unwritten_lines
    try:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # BrokenPipeError, or a closed stream
        unwritten_lines += 1


unwritten_lines = 0
"""Log lines :func:`write_line` could not write (stderr gone)."""


LOG_WINDOW_SECONDS = 10.0
LOG_BURST = 5
"""Lines of one kind let through per window; the rest are counted, then summarised."""
MAX_LOG_KINDS = 1024
"""Kinds remembered at once (the table is cleared when full: it bounds memory, and a
cleared kind only gets its burst again)."""


class RateLimit(logging.Filter):
    """Let through at most :data:`LOG_BURST` records of one kind per window.

    A kind is the logger's name plus the message template (``"refused %s"``, not the
    formatted line), so 20,000 clients each sending a bad request make one kind, and the
    log carries a few examples plus, when the window turns, a line saying how many were
    dropped. Installed on the stderr handler (every logger passes through it, aiohttp's
    and asyncio's included) and on FlowRT's own loggers with :func:`rate_limited`.
    Thread-safe: script threads log too.
    """

    def __init__(self, window: float = LOG_WINDOW_SECONDS, burst: int = LOG_BURST) -> None:
        super().__init__()
        self.window = window
        self.burst = burst
        self._lock = threading.Lock()
        self._kinds: dict[tuple[str, str], list[float]] = {}  # [window start, seen, dropped]

    def filter(self, record: logging.LogRecord) -> bool:
        verdict: bool | None = getattr(record, "flowrt_rate_limit", None)
        if verdict is not None:  # already judged by the logger's filter
            return verdict
        verdict = self._admit(record)
        record.flowrt_rate_limit = verdict
        return verdict

    def _admit(self, record: logging.LogRecord) -> bool:
        kind = (record.name, str(record.msg))
        now = time.monotonic()
        with self._lock:
            state = self._kinds.get(kind)
            if state is None or now - state[0] >= self.window:
                dropped = int(state[2]) if state is not None else 0
                if state is None and len(self._kinds) >= MAX_LOG_KINDS:
                    self._kinds.clear()
                self._kinds[kind] = [now, 1.0, 0.0]
                if dropped:
                    record.msg = f"{record.msg} ({dropped} similar lines suppressed)"
                return True
            state[1] += 1
            if state[1] <= self.burst:
                return True
            state[2] += 1
        _count_suppressed()
        return False


_suppressed = 0
_suppressed_lock = threading.Lock()


def _count_suppressed() -> None:
    global _suppressed
    with _suppressed_lock:
        _suppressed += 1


def suppressed_lines() -> int:
    """Log lines dropped by every :class:`RateLimit` since the process started."""
    return _suppressed


_SHARED = RateLimit()


def rate_limited(name: str) -> logging.Logger:
    """The logger ``name`` with the shared :class:`RateLimit` on it: for code whose lines
    a client or an agent can trigger at will (handler failures, refused input)."""
    logger = logging.getLogger(name)
    if _SHARED not in logger.filters:
        logger.addFilter(_SHARED)
    return logger


def limit_handler(handler: logging.Handler) -> None:
    """Put the shared :class:`RateLimit` on ``handler`` (every record it writes)."""
    if _SHARED not in handler.filters:
        handler.addFilter(_SHARED)


__all__ = ["RateLimit", "limit_handler", "rate_limited", "rt_line", "say_rt", "suppressed_lines"]
