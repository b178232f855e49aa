"""Long-polls (``/flows/json``, ``/events/json``): answer at once, or when news arrives.

sFlow-RT clients tail the flow and event logs with a cursor and a ``timeout``: records
newer than the cursor come back immediately; if there are none the request is held
until one is appended or the timeout passes (then ``[]``). Holding a request costs one
parked future, no polling: the engine's log calls :meth:`Wakeup.notify` (through the
``subscribe`` hook) on every append, which wakes every waiting request, and each one
re-runs its query. Waking everyone is simpler than per-cursor bookkeeping and cheap at
the number of concurrent long-polls a collector sees (tens).

On shutdown :meth:`Wakeup.close` releases every waiter so the server stops at once
instead of waiting out minute-long polls. A client that hangs up mid-poll is noticed
within :data:`DISCONNECT_CHECK_SECONDS` (aiohttp's server does not cancel handlers on
disconnect by default), so a thousand abandoned polls do not stay parked for a minute.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DISCONNECT_CHECK_SECONDS = 1.0
"""How often a parked poll checks that its client is still connected: one cheap
wake-up per poll per second, against up to MAX_TIMEOUT seconds of a dead poll."""


class Wakeup:
    """Wake every coroutine waiting for "the log changed"; one per log."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()
        self.closed = False

    def notify(self, *_args: object) -> None:
        """Called by the engine (same thread, same loop) whenever records are appended."""
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def close(self) -> None:
        """Release every waiter now and any later one at once (server shutdown)."""
        self.closed = True
        self.notify()

    async def wait(self, timeout: float) -> None:
        """Return on the next :meth:`notify`, on close, or after ``timeout`` seconds."""
        if self.closed or timeout <= 0:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait_for(asyncio.shield(waiter), timeout)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)
            if not waiter.done():
                waiter.cancel()

    @property
    def waiting(self) -> int:
        """How many requests are parked (for tests and diagnostics)."""
        return len(self._waiters)


def _always() -> bool:
    return True


async def long_poll(
    query: Callable[[], list[T]], wakeup: Wakeup, timeout: float,
    connected: Callable[[], bool] = _always,
) -> list[T]:
    """Run ``query``; while it finds nothing, wait for news until ``timeout`` seconds pass
    or ``connected()`` turns false (the client left: nobody would read the answer)."""
    deadline = time.monotonic() + timeout
    while True:
        found = query()
        remaining = deadline - time.monotonic()
        if found or remaining <= 0 or wakeup.closed or not connected():
            return found
        await wakeup.wait(min(remaining, DISCONNECT_CHECK_SECONDS))
