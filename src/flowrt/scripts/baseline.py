"""``baselineCreate/Check/Statistics/Reset``: a rolling outlier detector for scripts.

A baseline keeps the last ``window`` values. Until the window is full it answers
``learning``; then a value more than ``sensitivity`` standard deviations above (below)
the window's mean is an outlier, and ``repeat`` consecutive outliers on the same side
answer ``high`` (``low``); anything else answers ``normal``. Outliers are still added
to the window, so a lasting change of level becomes the new normal after a while, as
an operator expects of a baseline rather than of a fixed threshold.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

MAX_WINDOW = 100_000
MAX_BASELINES = 10_000


class BaselineError(ValueError):
    """Bad baseline arguments, or an unknown baseline name."""


class Baseline:
    """One named detector (see the module docstring)."""

    def __init__(self, window: int, sensitivity: float, repeat: int) -> None:
        if not 2 <= window <= MAX_WINDOW:
            raise BaselineError(f"baseline window must be 2..{MAX_WINDOW}, got {window}")
        if not sensitivity > 0:
            raise BaselineError(f"baseline sensitivity must be above 0, got {sensitivity}")
        if repeat < 1:
            raise BaselineError(f"baseline repeat must be at least 1, got {repeat}")
        self.window = window
        self.sensitivity = sensitivity
        self.repeat = repeat
        self._values: deque[float] = deque(maxlen=window)
        self._run = 0  # consecutive outliers: > 0 above, < 0 below

    def reset(self) -> None:
        self._values.clear()
        self._run = 0

    def check(self, value: float) -> str:
        verdict = "learning"
        if len(self._values) >= self.window:
            mean, sdev = self._mean_sdev()
            if value > mean + self.sensitivity * sdev:
                self._run = self._run + 1 if self._run > 0 else 1
            elif value < mean - self.sensitivity * sdev:
                self._run = self._run - 1 if self._run < 0 else -1
            else:
                self._run = 0
            verdict = "normal"
            if self._run >= self.repeat:
                verdict = "high"
            elif -self._run >= self.repeat:
                verdict = "low"
        self._values.append(float(value))
        return verdict

    def _mean_sdev(self) -> tuple[float, float]:
        values = self._values
        mean = math.fsum(values) / len(values)
        var = math.fsum((x - mean) ** 2 for x in values) / len(values)
        return mean, math.sqrt(var)

    def statistics(self) -> dict[str, Any]:
        values = self._values
        if not values:
            return {"count": 0, "window": self.window}
        mean, sdev = self._mean_sdev()
        return {"mean": mean, "sdev": sdev, "min": min(values), "max": max(values),
                "count": len(values), "window": self.window}
