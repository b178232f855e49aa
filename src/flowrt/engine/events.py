"""The event log behind ``/events/json`` and scripts' ``setEventHandler``.

Thresholds append events here; readers page through them with an ``eventID`` cursor the
way sFlow-RT clients do (``tail_log.py``: ask with the last ``eventID`` seen, get the
newer events newest first, take ``events[0].eventID`` as the next cursor). The log is a
ring of the last ``events.max`` events, so memory stays bounded however noisy a
threshold is; subscribers (the API's long-poll waiters, script event handlers) are told
of each event as it is appended so nobody has to poll.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Event = dict[str, Any]
Subscriber = Callable[[Event], None]

START_CURSOR = -1
"""The cursor a client sends first: "every event you still have"."""


class EventLog:
    """The last ``size`` events, each with a monotonic ``eventID`` starting at 1.

    Stored events are shared with readers, not copied: treat them as read-only.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"event log size must be at least 1, got {size}")
        self.size = size
        self.last_id = 0
        self._events: deque[Event] = deque(maxlen=size)
        self._subscribers: list[Subscriber] = []

    def __len__(self) -> int:
        return len(self._events)

    def append(self, event: Event) -> Event:
        """Number ``event``, keep it (dropping the oldest when full) and tell subscribers.

        ``eventID`` comes first so the JSON reads like sFlow-RT's. A subscriber that
        raises is logged and skipped: one broken script handler must not stop the
        engine or starve the other subscribers.
        """
        self.last_id += 1
        stored = {"eventID": self.last_id, **event}
        self._events.append(stored)
        for callback in list(self._subscribers):
            try:
                callback(stored)
            except Exception:
                log.exception("event subscriber %r failed on event %d", callback, self.last_id)
        return stored

    def after(self, event_id: int, threshold_id: str | None, max_events: int) -> list[Event]:
        """``/events/json``: events with ``eventID > event_id``, newest first.

        ``-1`` (or any cursor below 1) means from the oldest event still kept. A cursor
        beyond the newest ID can only come from a client that outlived a restart of
        this process; it is treated as ``-1`` so such a client catches up at once
        instead of waiting for the IDs to climb back past its stale cursor.
        """
        if max_events <= 0:
            return []
        if event_id > self.last_id:
            event_id = START_CURSOR
        out: list[Event] = []
        for event in reversed(self._events):
            if event["eventID"] <= event_id:
                break
            if threshold_id is not None and event.get("thresholdID") != threshold_id:
                continue
            out.append(event)
            if len(out) >= max_events:
                break
        return out

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback`` with every new event; the returned function stops that.

        Unsubscribing twice is harmless, so callers can unsubscribe in ``finally``.
        """
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe
