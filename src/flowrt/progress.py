"""A terminal progress bar for long work (replaying a large capture).

Shown only when the stream is a terminal: logs, pipes and CI output stay free of
carriage-return noise. Redrawn at most every :data:`REDRAW_SECONDS`, so calling
:meth:`Progress.update` once per datagram costs a clock read, nothing more.

Usage (server replay loop)::

    bar = Progress(total=reader_size_bytes, label="replay")
    ... bar.update(bytes_done) ...
    bar.close()
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

REDRAW_SECONDS = 0.2
BAR_WIDTH = 30


def _size(value: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


class Progress:
    """``label [#####-----] 42% 12.3 MB/29.1 MB 3.2 MB/s`` on one rewritten line."""

    def __init__(self, total: int, label: str = "", stream: TextIO | None = None,
                 force: bool = False) -> None:
        self.total = max(0, total)
        self.label = label
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = force or bool(isatty and isatty())
        self.started = time.monotonic()
        self._next_draw = 0.0
        self._done = 0
        self._drawn = False

    def update(self, done: int) -> None:
        """Record progress (``done`` out of ``total``); redraws when it is time."""
        self._done = done
        if not self.enabled:
            return
        now = time.monotonic()
        if now >= self._next_draw:
            self._next_draw = now + REDRAW_SECONDS
            self._draw(now)

    def line(self, now: float | None = None) -> str:
        now = time.monotonic() if now is None else now
        fraction = min(1.0, self._done / self.total) if self.total else 0.0
        filled = round(fraction * BAR_WIDTH)
        elapsed = max(now - self.started, 1e-9)
        rate = self._done / elapsed
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        prefix = f"{self.label} " if self.label else ""
        return (f"{prefix}[{bar}] {fraction * 100:3.0f}% {_size(self._done)}/"
                f"{_size(self.total)} {_size(rate)}/s")

    def _draw(self, now: float) -> None:
        self.stream.write("\r" + self.line(now) + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        """Draw the final state and end the line (nothing when not a terminal)."""
        if self.enabled:
            self._draw(time.monotonic())
            self.stream.write("\n")
            self.stream.flush()
