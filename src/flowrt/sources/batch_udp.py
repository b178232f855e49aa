"""A receive thread for the compiled core: recvmmsg batches with the GIL released.

The native ingest path receives in its own thread: ``Core.recv`` waits for the socket
and takes up to ``BATCH`` datagrams with one ``recvmmsg`` call, both without the GIL, so
HTTP, scripts and the tick keep the interpreter while the thread waits in the kernel.
Batches are handed to the event loop (which owns the engine) through a queue and one
"pump" callback that ingests at most ``LOOP_CHUNK`` datagrams (a slice of one batch, at
one ``now``, then flushed) and, if more wait, schedules itself again behind whatever else
became ready meanwhile. So at most one slice's work ever stands between a ready HTTP
callback and its turn: with one callback per batch, every hop of a request's handling
(socket readable, task step, response write) could wait behind all the batches in
flight, which was most of /activeflows' p99 at the highest lossless rate.

Backpressure is bounded: at most ``MAX_IN_FLIGHT`` batches wait for the loop; past that
the thread stops receiving and the kernel buffer absorbs, then drops (counted through
``SO_RXQ_OVFL``, as on the reference path). The bound is small on purpose: queued
batches are memory and staleness, while the kernel buffer, not the queue, absorbs bursts.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Callable
from typing import Any

BATCH = 256
POLL_MS = 100
MAX_IN_FLIGHT = 4
LOOP_CHUNK = 64  # datagrams ingested per loop turn (one now and one flush each)

Batch = list[tuple[bytes, str, int]]


class BatchReceiver:
    """Receives on ``sock_fd`` with ``core.recv`` and calls ``on_batch(batch, drops)``
    on ``loop``; ``drops`` is the socket's cumulative kernel drop count (-1: unknown)."""

    def __init__(
        self, core: Any, sock_fd: int, loop: asyncio.AbstractEventLoop,
        on_batch: Callable[[Batch, int], None],
    ) -> None:
        self._core = core
        self._fd = sock_fd
        self._loop = loop
        self._on_batch = on_batch
        self._stop = threading.Event()
        self._slots = threading.Semaphore(MAX_IN_FLIGHT)
        self._queue: collections.deque[tuple[Batch, int]] = collections.deque()
        self._lock = threading.Lock()
        self._pumping = False  # a _pump callback is scheduled (guarded by _lock)
        self.receive_errors = 0  # recvmmsg failures (the server exports them)
        self._thread = threading.Thread(target=self._run, name="flowrt-recv", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _pump(self) -> None:
        """On the loop: ingest one slice of the first queued batch, then yield to the loop
        if more wait."""
        with self._lock:
            if not self._queue:
                self._pumping = False
                return
            batch, drops = self._queue.popleft()
            rest = batch[LOOP_CHUNK:]
            if rest:  # the rest of this batch goes first next turn
                self._queue.appendleft((rest, drops))
        try:
            self._on_batch(batch[:LOOP_CHUNK] if rest else batch, drops)
        finally:
            if not rest:
                self._slots.release()  # the whole batch is in
            with self._lock:
                more = bool(self._queue)
                if not more:
                    self._pumping = False
            if more:
                self._loop.call_soon(self._pump)

    def _run(self) -> None:
        recv = self._core.recv
        while not self._stop.is_set():
            try:
                batch, drops = recv(self._fd, BATCH, POLL_MS)
            except OSError:
                if self._stop.is_set():
                    return
                self.receive_errors += 1
                self._stop.wait(0.01)
                continue
            if not batch:
                continue
            while not self._slots.acquire(timeout=0.1):
                if self._stop.is_set():
                    return
            with self._lock:
                self._queue.append((batch, drops))
                wake = not self._pumping
                self._pumping = True
            if wake:
                try:
                    self._loop.call_soon_threadsafe(self._pump)
                except RuntimeError:  # the loop is closed: we are shutting down
                    return

    def stop(self) -> None:
        """Stop and wait for the thread (at most one poll interval)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
