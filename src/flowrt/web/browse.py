"""The flow browser's backend: temporary flow definitions and their top-N trends.

sFlow-RT's browse-flows app asks for ``keys``/``value``/``filter`` and gets back a
trend of the top flows, one point a second; the definition behind it exists only while
someone is looking. This does the same inside FlowRT, bounded: at most
:data:`MAX_BROWSE_FLOWS` definitions, each deleted after :data:`IDLE_SECONDS` without a
query, each trend a ring of :data:`MAX_POINTS` points. Points are taken when queried
(the page polls every second), so an unwatched browser costs nothing.

The browser never touches a flow it did not define: its names carry
:data:`FLOW_PREFIX`, a name already taken (a user's flow that happens to look like
one of ours) is skipped, and a definition is deleted only while it is still the one the
browser made (a user who PUT over it keeps theirs). With ``http.readonly=yes`` the
routes refuse the browser altogether (it defines flows).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from flowrt.engine import Engine, FlowSpecError

FLOW_PREFIX = "flowrt_browse_"
SEPARATOR = "_SEP_"
"""Joins key fields: the chart widget splits legend columns on it (as browse-flows)."""
MAX_BROWSE_FLOWS = 20
IDLE_SECONDS = 10.0
MAX_POINTS = 300
POINT_SECONDS = 1.0
TOP_FLOWS = 10
MIN_VALUE = 0.01
SMOOTHING_SECONDS = 2
MAX_FIELD_CHARS = 2000


class BrowseError(ValueError):
    """A flow browser query that cannot be answered (a 400)."""


@dataclass
class _Browse:
    name: str
    last_query: float
    spec: object  # the engine's definition object: still ours while it is this one
    times: deque[int] = field(default_factory=lambda: deque(maxlen=MAX_POINTS))
    points: deque[dict[str, float]] = field(default_factory=lambda: deque(maxlen=MAX_POINTS))


class FlowBrowser:
    """Temporary flows keyed by (keys, value, filter), with their trends."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._flows: dict[tuple[str, str, str], _Browse] = {}
        self._serial = 0

    def __len__(self) -> int:
        return len(self._flows)

    def trend(self, keys: str, value: str, filter: str, after_ms: int | None,
              now: float) -> dict[str, Any]:
        """``{"trend": {"times", "trends": {"topn": [...]}, "maxPoints"}}`` after ``after_ms``."""
        if not keys.strip() or not value.strip():
            raise BrowseError("keys and value are required")
        if max(len(keys), len(value), len(filter)) > MAX_FIELD_CHARS:
            raise BrowseError(f"keys, value and filter are limited to {MAX_FIELD_CHARS} chars")
        self.expire(now)
        ident = (keys.strip(), value.strip(), filter.strip())
        browse = self._flows.get(ident)
        if browse is not None and self.engine.flows.specs().get(browse.name) is not browse.spec:
            del self._flows[ident]  # replaced or deleted through the REST API: not ours now
            browse = None
        if browse is None:
            browse = self._create(ident, now)
        browse.last_query = now
        now_ms = int(now * 1000)
        if not browse.times or now_ms - browse.times[-1] >= POINT_SECONDS * 1000:
            rows = self.engine.active_flows("ALL", browse.name, now, max_flows=TOP_FLOWS,
                                            min_value=MIN_VALUE)
            browse.times.append(now_ms)
            browse.points.append({row["key"]: row["value"] for row in rows})
        pairs = [(t, p) for t, p in zip(browse.times, browse.points, strict=True)
                 if after_ms is None or t > after_ms]
        return {"trend": {"times": [t for t, _ in pairs],
                          "trends": {"topn": [p for _, p in pairs]},
                          "maxPoints": MAX_POINTS}}

    def _create(self, ident: tuple[str, str, str], now: float) -> _Browse:
        if len(self._flows) >= MAX_BROWSE_FLOWS:
            oldest = min(self._flows, key=lambda k: self._flows[k].last_query)
            self._delete(oldest)
        taken = self.engine.flows.specs()
        self._serial += 1
        while f"{FLOW_PREFIX}{self._serial}" in taken:  # never replace someone else's flow
            self._serial += 1
        name = f"{FLOW_PREFIX}{self._serial}"
        keys, value, filter = ident
        body: dict[str, Any] = {"keys": keys, "value": value, "t": SMOOTHING_SECONDS,
                                "n": TOP_FLOWS, "fs": SEPARATOR}
        if filter:
            body["filter"] = filter
        try:
            self.engine.set_flow(name, body)
        except FlowSpecError as err:
            raise BrowseError(str(err)) from None
        browse = self._flows[ident] = _Browse(name, now, self.engine.flows.specs()[name])
        return browse

    def _delete(self, ident: tuple[str, str, str]) -> None:
        browse = self._flows.pop(ident)
        if self.engine.flows.specs().get(browse.name) is browse.spec:
            self.engine.delete_flow(browse.name)

    def expire(self, now: float) -> None:
        """Delete the flows nobody queried for :data:`IDLE_SECONDS`."""
        for ident in [k for k, b in self._flows.items() if now - b.last_query > IDLE_SECONDS]:
            self._delete(ident)

    def close(self) -> None:
        """Delete every temporary flow (server shutdown)."""
        for ident in list(self._flows):
            self._delete(ident)
