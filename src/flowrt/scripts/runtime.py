"""One script = one thread with a bounded inbox; the language-neutral part of running it.

The engine's loop never waits for a script: it *offers* events, flow records and HTTP
requests to each interested script's inbox (a bounded queue) and moves on. A script
that cannot keep up loses what does not fit, and the loss is counted (``eventsLost``,
``flowsLost``, ``requestsLost`` in ``/scripts/json``), so a slow or stuck script costs
the rest of the process nothing. The script thread drains its inbox in batches, hands
them to the language binding (:mod:`flowrt.scripts.js`, :mod:`flowrt.scripts.py`) and
runs the interval handler when it is due.

A handler that raises is logged with file and line and the script carries on. A
script that exceeds its time budget or memory limit is stopped (``alive: false``,
``error`` says why), and so is one whose top-level code fails.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowrt.bgp import BgpSpeaker
from flowrt.config import Properties
from flowrt.engine import Engine
from flowrt.logline import say_rt
from flowrt.scripts.bridge import HostUnavailable, LoopBridge
from flowrt.scripts.hostapi import ScriptStore, SharedState

log = logging.getLogger("flowrt.script")

INBOX_PROPERTY = "flowrt.script.queue"
DEFAULT_INBOX = 10_000
"""Events + flow records + requests waiting for one script before new ones are lost."""
BUDGET_PROPERTY = "flowrt.script.timeout"
DEFAULT_BUDGET = 10.0
"""Seconds one handler call (or a script's top-level code) may run before the script is
stopped. JavaScript counts process CPU time (QuickJS's clock), Python wall time."""
MEMORY_PROPERTY = "flowrt.script.memory"
DEFAULT_MEMORY_MB = 64
BATCH = 512
"""Events or flow records handed to the binding in one call."""
IDLE_WAIT = 1.0
HTTP_HANDLER_TIMEOUT = 30.0
MAX_PENDING_ASYNC = 1000
ASYNC_WORKERS = 4

Clock = Callable[[], float]


class ScriptStopped(Exception):
    """The script must stop: budget or memory exceeded, or the host is shutting down."""


@dataclass
class ScriptServices:
    """What every script of one process shares."""

    engine: Engine
    props: Properties
    bridge: LoopBridge
    clock: Clock
    bgp: BgpSpeaker | None = None  # the speaker when bgp.start=yes
    shared: SharedState = field(default_factory=SharedState)
    store_root: Path = Path("store")
    inbox_size: int = DEFAULT_INBOX
    budget: float = DEFAULT_BUDGET
    memory_bytes: int = DEFAULT_MEMORY_MB * 1024 * 1024
    http_pool: concurrent.futures.ThreadPoolExecutor = field(
        default_factory=lambda: concurrent.futures.ThreadPoolExecutor(
            ASYNC_WORKERS, thread_name_prefix="flowrt-script-http"))


@dataclass
class HttpJob:
    """One request for a script's HTTP handler; ``future`` gets (status, body, type)."""

    request: dict[str, Any]
    future: concurrent.futures.Future[tuple[int, Any, bool]]


class ScriptRuntime:
    """The thread, inbox, subscriptions and counters of one script (any language)."""

    language = "?"

    def __init__(self, services: ScriptServices, path: Path, name: str,
                 app: str | None = None) -> None:
        self.services = services
        self.path = path
        self.name = name
        self.app = app
        self.store = ScriptStore(services.store_root / f"{app or 'script'}~{path.name}")
        self.inbox: queue.Queue[tuple[str, Any]] = queue.Queue(services.inbox_size)
        self.filters: dict[str, frozenset[str] | None] = {}
        self.interval: float | None = None
        self._next_interval = 0.0
        self.pending_async = 0
        self.bgp_callbacks = False  # a neighbor calls this script back on open/close
        self.warned_no_bgp = False
        self.counters = {
            "flowsReceived": 0, "flowsLost": 0, "eventsReceived": 0, "eventsLost": 0,
            "requestsReceived": 0, "requestsLost": 0,
        }
        self.cpu_ms = 0
        self.alive = False
        self.graceful_exit = False
        self.error: str | None = None
        self.failed = False
        self.loaded = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None

    # --- lifecycle (any thread) ---------------------------------------------------------
    def start(self) -> None:
        self.alive = True
        self._thread = threading.Thread(
            target=self._main, name=f"flowrt-script-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to finish; it stops at its next inbox read."""
        self._stopping = True
        with contextlib.suppress(queue.Full):  # the flag is enough: checked after each batch
            self.inbox.put_nowait(("stop", None))

    def join(self, timeout: float | None = None) -> bool:
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def status(self) -> dict[str, Any]:
        """One entry of ``/scripts/json``."""
        return {**self.counters, "cpuMs": self.cpu_ms, "alive": self.alive,
                "gracefulExit": self.graceful_exit, "error": self.error}

    # --- subscriptions (script thread) ----------------------------------------------------
    def subscribe(self, kind: str, names: Any) -> None:
        if names is None:
            self.filters[kind] = None
        else:
            items = [names] if isinstance(names, str) else list(names)
            self.filters[kind] = frozenset(str(n) for n in items)

    def unsubscribe(self, kind: str) -> None:
        self.filters.pop(kind, None)

    def set_interval(self, seconds: float | None) -> None:
        if seconds is not None and not seconds > 0:
            raise ValueError(f"setIntervalHandler: interval must be above 0, got {seconds}")
        self.interval = seconds
        self._next_interval = time.monotonic() + (seconds or 0)

    # --- offers (engine loop thread: never block) -------------------------------------------
    def _offer(self, kind: str, item: Any, received: str, lost: str) -> bool:
        self.counters[received] += 1
        try:
            self.inbox.put_nowait((kind, item))
        except queue.Full:
            self.counters[lost] += 1
            return False
        return True

    def offer_event(self, event: dict[str, Any]) -> None:
        if "event" not in self.filters:
            return
        wanted = self.filters["event"]
        if wanted is not None and event.get("thresholdID") not in wanted:
            return
        self._offer("event", event, "eventsReceived", "eventsLost")

    def offer_flow(self, record: dict[str, Any]) -> None:
        if "flow" not in self.filters:
            return
        wanted = self.filters["flow"]
        if wanted is not None and record.get("name") not in wanted:
            return
        self._offer("flow", record, "flowsReceived", "flowsLost")

    def has_http_handler(self) -> bool:
        return self.alive and "http" in self.filters

    def offer_http(self, job: HttpJob) -> bool:
        return self._offer("http", job, "requestsReceived", "requestsLost")

    def offer_callback(self, payload: dict[str, Any]) -> None:
        """An httpAsync answer, from a pool thread; lost only if the inbox is full."""
        try:
            self.inbox.put_nowait(("callback", payload))
        except queue.Full:
            self.pending_async -= 1
            log.warning("%s: inbox full, httpAsync answer for %s lost", self.name,
                        payload.get("url"))

    def offer_bgp(self, payload: dict[str, Any]) -> None:
        """A BGP session opened or closed (engine loop): the script's onOpen/onClose."""
        try:
            self.inbox.put_nowait(("bgp", payload))
        except queue.Full:
            log.warning("%s: inbox full, BGP %s %s callback lost", self.name,
                        payload.get("router"), "open" if payload.get("open") else "close")

    # --- the script thread ------------------------------------------------------------------
    def _main(self) -> None:
        started = time.thread_time()
        try:
            try:
                self.setup()
                self.load()
                if self.app is not None:  # sFlow-RT's line, which operators grep for
                    say_rt(f"app/{self.name} started")
                else:
                    say_rt(f"{self.path} started")
            except OSError as err:  # the file itself: the operator's fix, not our bug
                raise ScriptStopped(
                    f"{self.name}: cannot read {err.filename or self.path}: {err.strerror}"
                ) from None
            finally:
                self.loaded.set()
            while not self._stopping:
                if self._idle():
                    self.graceful_exit = True
                    break
                self._step()
                self.cpu_ms = int((time.thread_time() - started) * 1000)
        except ScriptStopped as err:
            self._fail(str(err))
        except HostUnavailable as err:
            if not self._stopping:
                self._fail(f"{self.name}: {err}")
        except Exception as err:  # a binding bug must not pass silently
            log.exception("%s: script runtime failed", self.name)
            self._fail(f"{self.name}: internal error: {err}")
        finally:
            self.alive = False
            self.cpu_ms = int((time.thread_time() - started) * 1000)
            self._fail_waiting_requests()
            self.teardown()
            if self._stopping and not self.failed:
                self.graceful_exit = True

    def _idle(self) -> bool:
        """Nothing left to do: no handlers, no pending callbacks, nothing queued."""
        return (not self.filters and self.interval is None and self.pending_async <= 0
                and not self.bgp_callbacks and self.inbox.empty())

    def _fail(self, message: str) -> None:
        self.failed = True
        self.error = message
        log.error("script stopped: %s", message)

    def _fail_waiting_requests(self) -> None:
        while True:
            try:
                kind, item = self.inbox.get_nowait()
            except queue.Empty:
                return
            if kind == "http" and not item.future.done():
                item.future.set_result((503, "script stopped", False))

    def _step(self) -> None:
        wait = IDLE_WAIT
        if self.interval is not None:
            wait = max(0.0, min(wait, self._next_interval - time.monotonic()))
        try:
            first: tuple[str, Any] | None = self.inbox.get(timeout=wait)
        except queue.Empty:
            first = None
        if self.interval is not None and time.monotonic() >= self._next_interval:
            self._next_interval = max(self._next_interval + self.interval,
                                      time.monotonic() + self.interval / 2)
            self.handle_interval(int(self.services.clock() * 1000))
        if first is None:
            return
        kind, item = first
        if kind in ("event", "flow"):
            batch, leftover = [item], None
            while len(batch) < BATCH:
                try:
                    nxt = self.inbox.get_nowait()
                except queue.Empty:
                    break
                if nxt[0] != kind:
                    leftover = nxt
                    break
                batch.append(nxt[1])
            if kind in self.filters:
                self.handle_batch(kind, batch)
            if leftover is not None:
                self._handle_one(*leftover)
        else:
            self._handle_one(kind, item)

    def _handle_one(self, kind: str, item: Any) -> None:
        if kind == "stop":
            return
        if kind in ("event", "flow"):
            if kind in self.filters:
                self.handle_batch(kind, [item])
        elif kind == "http":
            job: HttpJob = item
            if job.future.done():  # the client gave up already
                return
            try:
                result = self.handle_http(job.request)
            except BaseException:
                job.future.set_result((503, "script stopped", False))
                raise
            job.future.set_result(result)
        elif kind == "callback":
            self.pending_async -= 1
            self.handle_callback(item)
        elif kind == "bgp":
            self.handle_bgp(item)

    def report_handler_error(self, where: str, message: str) -> None:
        """A handler threw: log it with file and line, keep the script running."""
        text = f"{self.name} {where} {message}".strip()
        self.error = text
        log.warning("script error: %s", text)

    # --- the binding's part -------------------------------------------------------------------
    def setup(self) -> None:
        """Build the interpreter state (on the script thread)."""

    def load(self) -> None:
        """Run the script's top-level code; raise ScriptStopped if it fails."""
        raise NotImplementedError

    def teardown(self) -> None:
        """Release the interpreter state (on the script thread)."""

    def handle_batch(self, kind: str, items: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def handle_interval(self, now_ms: int) -> None:
        raise NotImplementedError

    def handle_http(self, request: dict[str, Any]) -> tuple[int, Any, bool]:
        """(status, result, is_json): the handler's answer to one request."""
        raise NotImplementedError

    def handle_callback(self, payload: dict[str, Any]) -> None:
        raise NotImplementedError

    def handle_bgp(self, payload: dict[str, Any]) -> None:
        """Call the onOpen or onClose the script gave bgpAddNeighbor for this router."""
        raise NotImplementedError


THROWN_STATUS = {
    "bad_request": 400, "unauthorized": 401, "forbidden": 403, "not_found": 404,
    "method_not_allowed": 405, "not_acceptable": 406, "conflict": 409, "gone": 410,
    "unsupported_media_type": 415, "too_many_requests": 429,
    "internal_server_error": 500, "not_implemented": 501, "service_unavailable": 503,
}
"""A string an HTTP handler throws → the status the client gets (sFlow-RT's names)."""


def include_root(runtime: ScriptRuntime) -> Path:
    """The folder ``include()`` may read from: an app's folder (``app/<name>``, whose
    ``scripts/`` holds the script), or a single script's own directory."""
    folder = runtime.path.parent
    return folder.parent if runtime.app is not None else folder


def include_target(runtime: ScriptRuntime, path: Any) -> Path:
    """The file ``include(path)`` names, confined to :func:`include_root`.

    Relative paths are read from the script's directory, as before, and absolute ones
    only inside the folder (sFlow-RT's idiom ``include(scriptdir() + '/inc/x.js')``
    stays valid); any other absolute path, and a path that leads out of the folder
    (``..``, or a symbolic link out of it), is refused with an error the script can
    catch: a script (or an app downloaded from somewhere) must not read the server's
    other files, such as ``/etc/passwd`` or another app's secrets, by including them.
    """
    from flowrt.scripts.hostapi import ScriptApiError

    text = str(path)
    root = include_root(runtime).resolve()
    given = Path(text)
    target = (given if given.is_absolute() else runtime.path.parent / given).resolve()
    if target.is_relative_to(root):
        return target
    if given.is_absolute():
        raise ScriptApiError(
            f"include {text}: absolute path outside {root}; scripts may only include"
            " files from their own folder (give a path relative to the script)")
    raise ScriptApiError(
        f"include {text}: leads outside {root}; scripts may only include files from"
        " their own folder")


def include_source(runtime: ScriptRuntime, path: Any) -> dict[str, str]:
    """``{"file", "source"}`` of a confined include (see :func:`include_target`)."""
    from flowrt.scripts.hostapi import ScriptApiError

    target = include_target(runtime, path)
    try:
        source = target.read_text(encoding="utf-8")
    except OSError as err:
        raise ScriptApiError(f"include {path}: {err.strerror or err}") from None
    return {"file": str(target), "source": source}


def start_http_async(runtime: ScriptRuntime, token: Any, options: dict[str, Any]) -> None:
    """``httpAsync``: run the request on the shared pool, answer through the inbox.

    The callback payload is ``{id, ok, res}``: ``success`` gets ``{status, body, url}``;
    ``error`` gets a message string, as in sFlow-RT, on a network error or a non-2xx
    status (``"<url>: status 404"``).
    """
    from flowrt.scripts.hostapi import ScriptApiError, http_request

    if runtime.pending_async >= MAX_PENDING_ASYNC:
        raise ScriptApiError(f"httpAsync: at most {MAX_PENDING_ASYNC} requests in flight")
    url = options.get("url")

    def run() -> None:
        try:
            status, body = http_request(
                url, options.get("operation"), None, options.get("body"),
                options.get("user"), options.get("password"), None, options.get("headers"))
            ok = 200 <= status < 300
            res: Any = ({"status": status, "body": body, "url": url} if ok
                        else f"{url}: status {status}")
        except ScriptApiError as err:
            res, ok = str(err), False
        runtime.offer_callback({"id": token, "ok": ok, "res": res, "url": url})

    runtime.pending_async += 1
    runtime.services.http_pool.submit(run)
