"""Run a function on the engine's event loop from a script thread and wait for the result.

The engine is owned by one asyncio loop (DESIGN.md) and is not thread-safe, so every
host function that touches it is handed to the loop with ``call_soon_threadsafe`` and
the script thread waits on a :class:`concurrent.futures.Future`. The loop only ever
runs the short engine call itself; it never waits for a script. A script waiting on a
loop that has stopped gets :class:`HostUnavailable` after :data:`CALL_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

CALL_TIMEOUT = 10.0
"""Longest a host call waits for the loop; only a stopped or wedged loop takes this long."""


class HostUnavailable(RuntimeError):
    """The engine's loop did not run a host call (stopping, or overloaded past reason)."""


class LoopBridge:
    """``call(fn, *args)`` runs ``fn`` on ``loop``'s thread and returns its result."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._loop_thread: int | None = None
        self.closed = False

    def bind_thread(self) -> None:
        """Remember the loop's thread (call from it) so calls from there run inline."""
        self._loop_thread = threading.get_ident()

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        if threading.get_ident() == self._loop_thread:
            return fn(*args)
        if self.closed:
            raise HostUnavailable("the script host is stopping")
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(fn(*args))
            except BaseException as err:  # handed to the script thread, re-raised there
                future.set_exception(err)

        try:
            self.loop.call_soon_threadsafe(run)
        except RuntimeError:
            raise HostUnavailable("the engine's event loop is closed") from None
        try:
            return future.result(timeout=CALL_TIMEOUT)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise HostUnavailable(
                f"the engine did not answer within {CALL_TIMEOUT:g} s") from None
