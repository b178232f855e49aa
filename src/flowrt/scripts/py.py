"""Python scripts: the same API as JavaScript, injected as globals, one thread per script.

A ``.py`` script is executed with every API function as a global of the same name
(``setFlow``, ``activeFlows``, ``setEventHandler(fn, ids)``...); handlers are plain
Python callables and receive plain dicts (copies, so a handler may change them).

Time budget: a Python thread cannot be killed from outside, but it can be interrupted
between bytecodes: a watchdog thread raises :class:`ScriptBudgetExceeded` in a script
thread whose handler (or top-level code) has run longer than the budget (wall time),
with ``PyThreadState_SetAsyncExc``, again every second if the script catches it.
This stops pure-Python loops; a script blocked inside one long C call (a huge regex, a
socket read without timeout) is interrupted only when that call returns. Python
scripts are trusted code in the server's process: there is no memory limit for them.
"""

from __future__ import annotations

import ctypes
import ipaddress
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from flowrt.scripts.hostapi import API_FUNCTIONS, HostApi
from flowrt.scripts.runtime import (
    THROWN_STATUS,
    ScriptRuntime,
    ScriptServices,
    ScriptStopped,
    start_http_async,
)

WATCHDOG_PERIOD = 0.2
RETHROW_SECONDS = 1.0


def _canonical(router: Any) -> str:
    """The router's address as the speaker names it in callbacks."""
    try:
        address = ipaddress.ip_address(str(router).strip())
    except ValueError:
        return str(router)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)


class ScriptBudgetExceeded(BaseException):
    """Raised inside a Python script that ran past its budget (BaseException: a bare
    ``except Exception`` in the script does not swallow it)."""


class _Watchdog:
    """One thread watching every busy Python script (see the module docstring)."""

    def __init__(self) -> None:
        self._busy: dict[int, tuple[float, float, PyScript]] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def enter(self, script: PyScript, budget: float) -> None:
        tid = threading.get_ident()
        with self._lock:
            self._busy[tid] = (time.monotonic() + budget, 0.0, script)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="flowrt-py-watchdog",
                                                daemon=True)
                self._thread.start()

    def leave(self) -> None:
        with self._lock:
            self._busy.pop(threading.get_ident(), None)

    def _run(self) -> None:
        while True:
            time.sleep(WATCHDOG_PERIOD)
            now = time.monotonic()
            with self._lock:
                for tid, (deadline, last_throw, script) in list(self._busy.items()):
                    if now >= deadline and now - last_throw >= RETHROW_SECONDS:
                        script.over_budget = True
                        self._busy[tid] = (deadline, now, script)
                        ctypes.pythonapi.PyThreadState_SetAsyncExc(
                            ctypes.c_ulong(tid), ctypes.py_object(ScriptBudgetExceeded))


_WATCHDOG = _Watchdog()


class PyScript(ScriptRuntime):
    """A ``.py`` script (see the module docstring)."""

    language = "py"

    def __init__(self, services: ScriptServices, path: Path, name: str,
                 app: str | None = None) -> None:
        super().__init__(services, path, name, app)
        self.api = HostApi(self)
        self.handlers: dict[str, Any] = {}
        self.over_budget = False
        self._async: dict[int, dict[str, Any]] = {}
        self._async_next = 1
        self._bgp: dict[str, tuple[Any, Any]] = {}
        self._files = {str(path)}
        self.globals: dict[str, Any] = {}

    def setup(self) -> None:
        g: dict[str, Any] = {"__name__": "__flowrt_script__", "__file__": str(self.path)}
        for name in API_FUNCTIONS:
            g[name] = getattr(self.api, name)
        g.update({
            "setEventHandler": self._setter("event", self.api.setEventHandler),
            "setFlowHandler": self._setter("flow", self.api.setFlowHandler),
            "setIntervalHandler": self._setter("interval", self.api.setIntervalHandler),
            "setHttpHandler": self._setter("http", self.api.setHttpHandler),
            "include": self._include,
            "httpAsync": self._http_async,
            "bgpAddNeighbor": self._bgp_add_neighbor,
        })
        self.globals = g

    def _setter(self, kind: str, register: Any) -> Any:
        def set_handler(handler: Any, *args: Any) -> None:
            if not callable(handler):
                raise TypeError(f"set{kind.title()}Handler: expected a function")
            self.handlers[kind] = handler
            register(*args)
        return set_handler

    def _include(self, path: str) -> None:
        target = Path(path)
        if not target.is_absolute():
            target = self.path.parent / target
        self._files.add(str(target))
        exec(compile(target.read_text(encoding="utf-8"), str(target), "exec"), self.globals)

    def _http_async(self, options: dict[str, Any]) -> None:
        token = self._async_next
        self._async_next += 1
        self._async[token] = {"success": options.get("success"), "error": options.get("error")}
        plain = {k: v for k, v in options.items() if not callable(v)}
        start_http_async(self, token, plain)

    def _bgp_add_neighbor(self, router: Any, local_as: Any = None, router_id: Any = None,
                          options: Any = None, on_open: Any = None,
                          on_close: Any = None) -> bool:
        ok = self.api.bgpAddNeighbor(router, local_as, router_id, options,
                                     on_open is not None or on_close is not None)
        if ok and (on_open is not None or on_close is not None):
            self._bgp[_canonical(router)] = (on_open, on_close)
        return ok

    def handle_bgp(self, payload: dict[str, Any]) -> None:
        callbacks = self._bgp.get(str(payload["router"]))
        fn = None if callbacks is None else callbacks[0 if payload["open"] else 1]
        if fn is None:
            return
        try:
            self._guarded(fn, payload["router"])
        except ScriptStopped:
            raise
        except Exception as err:
            self.report_handler_error(self.where(err), f"{type(err).__name__}: {err}")

    # --- running code under the budget ---------------------------------------------------
    def _guarded(self, fn: Any, *args: Any) -> Any:
        """Call ``fn``; a handler error is reported, an exceeded budget stops the script."""
        _WATCHDOG.enter(self, self.services.budget)
        try:
            return fn(*args)
        except ScriptBudgetExceeded:
            raise ScriptStopped(f"{self.name} exceeded its time budget of "
                                f"{self.services.budget:g} s") from None
        finally:
            _WATCHDOG.leave()

    def where(self, err: BaseException) -> str:
        for frame in reversed(traceback.extract_tb(err.__traceback__)):
            if frame.filename in self._files:
                return f"{Path(frame.filename).name}#{frame.lineno}"
        return self.path.name

    def _call_handler(self, kind: str, arg: Any) -> tuple[bool, Any]:
        handler = self.handlers.get(kind)
        if handler is None:
            return False, None
        try:
            return True, self._guarded(handler, arg)
        except ScriptStopped:
            raise
        except Exception as err:
            self.report_handler_error(self.where(err), f"{type(err).__name__}: {err}")
            return False, err

    def load(self) -> None:
        try:
            code = compile(self.path.read_text(encoding="utf-8"), str(self.path), "exec")
            self._guarded(exec, code, self.globals)
        except ScriptStopped:
            raise
        except Exception as err:
            raise ScriptStopped(
                f"{self.name} {self.where(err)} {type(err).__name__}: {err}") from None

    def handle_batch(self, kind: str, items: list[dict[str, Any]]) -> None:
        for item in items:
            if kind not in self.handlers:
                return
            self._call_handler(kind, dict(item))

    def handle_interval(self, now_ms: int) -> None:
        self._call_handler("interval", now_ms)

    def handle_callback(self, payload: dict[str, Any]) -> None:
        callbacks = self._async.pop(payload["id"], {})
        fn = callbacks.get("success" if payload["ok"] else "error")
        if fn is not None:
            try:
                self._guarded(fn, payload["res"])
            except ScriptStopped:
                raise
            except Exception as err:
                self.report_handler_error(self.where(err), f"{type(err).__name__}: {err}")

    def handle_http(self, request: dict[str, Any]) -> tuple[int, Any, bool]:
        handler = self.handlers.get("http")
        if handler is None:
            return 404, {"error": "not_found"}, True
        try:
            result = self._guarded(handler, request)
        except ScriptStopped:
            raise
        except Exception as err:
            thrown = str(err.args[0]) if err.args else ""
            status = THROWN_STATUS.get(thrown)
            if status is not None:
                return status, {"error": thrown}, True
            self.report_handler_error(self.where(err), f"{type(err).__name__}: {err}")
            return 500, {"error": str(err)}, True
        if result is None:
            return 204, None, False
        return 200, result, not isinstance(result, str)
