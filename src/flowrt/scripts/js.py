"""JavaScript scripts on QuickJS (PyPI ``quickjs-ng``): one context, one thread per script.

Host calls: every API function is a small JS wrapper around one Python callable,
``__host(name, argsJSON) → resultJSON``. Values cross as JSON text (the binding cannot
return dicts or lists), and ``__host`` never raises: a failure comes back as
``{"e": message}`` and the wrapper throws ``Error(message)``, so ``try { setFlow(..) }
catch (e)`` works as in sFlow-RT. Handlers stay in JS; Python hands them batches.

Time budget. QuickJS's own limit (``set_time_limit``) refuses every call into Python
while it is set, and QuickJS installs its interrupt check only when a call *starts*
with a limit set. So each call into the script goes: set the limit, start the JS
(which installs the check with the budget), and let a helper thread
(:class:`_Unlocker`) clear the "limit set" flag so that host calls work; the JS spins in
``__spin()`` (catching the refusal) until they do. The check, once installed, keeps the
budget for the whole call, so a pure-JS ``while(true){}`` is interrupted (uncatchably)
and the script is stopped.

Race-free by design: the helper might clear the flag before QuickJS read it (a thread
switch between setting the limit and starting the call), and that call would then run
without a check. ``__spin`` proves it did not: it runs before any script code and
requires at least one *refused* host call; a refusal means the flag was still set after
the call started, hence when it started (only the helper clears it, once per call),
hence the check is installed. A call whose first host call was not refused throws
``__unbudgeted`` before running anything, and is simply made again (the top-level code
is run through ``__load``, an indirect ``eval`` behind ``__spin``, so nothing is declared
before the proof either). Promise reactions (``then``, ``await`` continuations), which
QuickJS runs as separate jobs that no ``__spin`` precedes, run with the flag set the
whole time: always under the budget, and a host call from one fails with a clear error.
A call that ends in time costs ~70 µs extra, which is why events and flow records are
delivered in batches. The budget is process CPU time (C ``clock()``), so a busy process
shortens it.

Memory: ``set_memory_limit`` per context; an "out of memory" error stops the script.
File names: QuickJS names all code ``<input>``, so each file is evaluated padded with
newlines to its own line range and error lines are mapped back to ``file#line``.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
from pathlib import Path
from typing import Any

import quickjs

from flowrt.scripts.hostapi import API_FUNCTIONS, HANDLER_FUNCTIONS, HostApi, ScriptApiError
from flowrt.scripts.rewrite import rewrite_legacy
from flowrt.scripts.runtime import (
    THROWN_STATUS,
    ScriptRuntime,
    ScriptServices,
    ScriptStopped,
    include_source,
    start_http_async,
)

log = logging.getLogger("flowrt.script")

STACK_BYTES = 1024 * 1024
_LINE = re.compile(r"<input>:(\d+)")
_INTERRUPTED = "interrupted"
_OUT_OF_MEMORY = "out of memory"

_PRELUDE = r"""
var __h = {event: null, flow: null, interval: null, http: null};
var __cb = {}, __cbNext = 1;
function __each(o) {
  if (o === null || o === undefined) return [];
  if (Array.isArray(o)) return o;
  if (typeof o !== 'string' && typeof o[Symbol.iterator] === 'function') return Array.from(o);
  return Object.keys(o).map(function (k) { return o[k]; });
}
function __call(n, a) {
  var s = JSON.stringify(a), t;
  try { t = __host(n, s); }
  catch (e) {  // only a promise job runs with the budget's flag set (see the module doc)
    if (String(e).indexOf('time limit') < 0) throw e;
    throw new Error(n + ': host functions cannot be called from a promise callback'
                    + ' (then/await); call them from the handler itself');
  }
  var r = JSON.parse(t);
  if (r.e !== undefined) throw new Error(r.e);
  return r.r;
}
function __msg(m) {
  if (m instanceof Error) return String(m);
  return m;
}
function logFine(m) { __call('logFine', [__msg(m)]); }
function logInfo(m) { __call('logInfo', [__msg(m)]); }
function logWarning(m) { __call('logWarning', [__msg(m)]); }
function logSevere(m) { __call('logSevere', [__msg(m)]); }
function __args(a) { return Array.prototype.slice.call(a); }
function __fn(name, f) {
  if (typeof f !== 'function') throw new Error(name + ': expected a function');
  return f;
}
function setEventHandler(f, ids) {
  __h.event = __fn('setEventHandler', f);
  __call('setEventHandler', [ids === undefined ? null : ids]);
}
function setFlowHandler(f, names) {
  __h.flow = __fn('setFlowHandler', f);
  __call('setFlowHandler', [names === undefined ? null : names]);
}
function setIntervalHandler(f, seconds) {
  __h.interval = __fn('setIntervalHandler', f);
  __call('setIntervalHandler', [seconds === undefined ? null : seconds]);
}
function setHttpHandler(f) { __h.http = __fn('setHttpHandler', f); __call('setHttpHandler', []); }
function clearEventHandler() { __h.event = null; __call('clearEventHandler', []); }
function clearFlowHandler() { __h.flow = null; __call('clearFlowHandler', []); }
function clearIntervalHandler() { __h.interval = null; __call('clearIntervalHandler', []); }
function clearHttpHandler() { __h.http = null; __call('clearHttpHandler', []); }
function include(path) { __call('include', [path]); }
function httpAsync(opts) {
  var id = __cbNext++, plain = {};
  __cb[id] = {success: opts.success, error: opts.error};
  for (var k in opts) if (typeof opts[k] !== 'function') plain[k] = opts[k];
  try { __call('httpAsync', [id, plain]); } catch (e) { delete __cb[id]; throw e; }
}
var __bgp = {};
function bgpAddNeighbor(router, as, id, opts, onOpen, onClose) {
  var has = typeof onOpen === 'function' || typeof onClose === 'function';
  if (has) __bgp[String(router)] = {open: onOpen, close: onClose};
  return __call('bgpAddNeighbor', [router, as, id, opts === undefined ? null : opts, has]);
}
function formatNumber(v, p, l) {  // JSON has no NaN or Infinity: send them as text
  // (undefined is NaN as a number: sflow-test formats counters it has not set yet)
  if (v === undefined || (typeof v === 'number' && !isFinite(v))) v = String(Number(v));
  return __call('formatNumber', __args(arguments).map(function (a, i) {
    return i === 0 ? v : a;
  }));
}
function print() { __call('logInfo', [__args(arguments).join(' ')]); }
var console = {
  log: print, info: print,
  warn: function () { __call('logWarning', [__args(arguments).join(' ')]); },
  error: function () { __call('logSevere', [__args(arguments).join(' ')]); }
};
function __err(e) {
  return {message: String(e), stack: (e && e.stack) ? String(e.stack) : '', thrown: typeof e};
}
function __canon(r) { return String(r).toLowerCase().replace(/^::ffff:/, ''); }
function __spin() {  // proves the time budget's check is installed (module doc)
  var refused = false;
  for (;;) { try { __ready(); break; } catch (e) { refused = true; } }
  if (!refused) throw new Error('__unbudgeted');
}
function __load(code) { __spin(); return (0, eval)(code); }
function __run(kind, payload) {
  __spin();
  var errors = [], i, f;
  if (kind === 'event' || kind === 'flow') {
    var items = JSON.parse(payload);
    for (i = 0; i < items.length; i++) {
      f = __h[kind];
      if (!f) break;
      try { f(items[i]); } catch (e) { errors.push(__err(e)); }
    }
  } else if (kind === 'interval') {
    try { if (__h.interval) __h.interval(payload); } catch (e) { errors.push(__err(e)); }
  } else if (kind === 'http') {
    try {
      if (!__h.http) return JSON.stringify({t: 'not_found'});
      var r = __h.http(JSON.parse(payload));
      return JSON.stringify(r === undefined ? {u: true} : {r: r});
    } catch (e) {
      if (typeof e === 'string') return JSON.stringify({t: e});
      return JSON.stringify({x: __err(e)});
    }
  } else if (kind === 'bgp') {
    var b = JSON.parse(payload), n = __bgp[b.router];
    for (var r in __bgp) if (!n && __bgp[r] && __canon(r) === b.router) n = __bgp[r];
    try { if (n) { f = b.open ? n.open : n.close; if (typeof f === 'function') f(b.router); } }
    catch (e) { errors.push(__err(e)); }
  } else if (kind === 'callback') {
    var p = JSON.parse(payload), c = __cb[p.id];
    delete __cb[p.id];
    try { if (c) { f = p.ok ? c.success : c.error; if (f) f(p.res); } }
    catch (e) { errors.push(__err(e)); }
  }
  return JSON.stringify(errors);
}
"""
_WRAPPER = "function {0}() {{ return __call('{0}', __args(arguments)); }}\n"
_UNBUDGETED = "__unbudgeted"
MAX_STARTS = 1000
"""Times a call is made again because its budget check could not be proven (each
retry needs the helper to win a thread switch race again: a handful at most)."""


class _Unlocker:
    """The helper thread that clears a context's "limit set" flag once its call started."""

    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def release_soon(self, ctx: Any) -> threading.Event:
        """Queue the clearing; the event is set once it is done."""
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="flowrt-js-unlocker", daemon=True)
                    self._thread.start()
        done = threading.Event()
        self._requests.put((ctx, done))
        return done

    def _run(self) -> None:
        while True:
            ctx, done = self._requests.get()
            ctx.set_time_limit(-1)
            done.set()


_UNLOCKER = _Unlocker()


class JsScript(ScriptRuntime):
    """A ``.js`` script (see the module docstring)."""

    language = "js"

    def __init__(self, services: ScriptServices, path: Path, name: str,
                 app: str | None = None) -> None:
        super().__init__(services, path, name, app)
        self.api = HostApi(self)
        self._ctx: Any = None
        self._run_fn: Any = None
        self._load_fn: Any = None
        self._next_line = 1
        self._chunks: list[tuple[int, int, str]] = []  # (first, last line, file)
        self.unbudgeted_starts = 0  # calls made again: their budget was not proven
        self._functions = {name: getattr(self.api, name) for name in API_FUNCTIONS}
        self._functions["include"] = self._include
        self._functions["httpAsync"] = lambda token, opts: start_http_async(self, token, opts)

    def status(self) -> dict[str, Any]:
        """``/scripts/json``, plus how many calls were made again (module docstring)."""
        return {**super().status(), "budgetRestarts": self.unbudgeted_starts}

    # --- setup -----------------------------------------------------------------------
    def setup(self) -> None:
        ctx = quickjs.Context()
        ctx.set_memory_limit(self.services.memory_bytes)
        ctx.set_max_stack_size(STACK_BYTES)
        ctx.add_callable("__host", self._host)
        ctx.add_callable("__ready", _ready)
        wrappers = "".join(_WRAPPER.format(name) for name in sorted(self._functions)
                           if name not in HANDLER_FUNCTIONS and name not in _JS_DEFINED)
        prelude = _PRELUDE + wrappers
        ctx.eval(prelude)
        self._next_line = prelude.count("\n") + 2
        self._run_fn = ctx.get("__run")
        self._load_fn = ctx.get("__load")
        self._ctx = ctx

    def teardown(self) -> None:
        self._run_fn = None
        self._load_fn = None
        self._ctx = None

    def _host(self, name: str, args_json: str) -> str:
        """The one callable JS reaches Python through; never raises (see module doc)."""
        try:
            fn = self._functions[name]
            result = fn(*json.loads(args_json))
            return json.dumps({"r": result})
        except Exception as err:  # becomes a JS exception in the wrapper
            return json.dumps({"e": str(err) or type(err).__name__})

    # --- code loading ------------------------------------------------------------------
    def _padded(self, source: str, file: str) -> str:
        """``source`` shifted to a fresh line range, remembered for error messages."""
        code = rewrite_legacy(source)
        first = self._next_line
        last = first + code.count("\n")
        self._chunks.append((first, last, file))
        self._next_line = last + 2
        return "\n" * (first - 1) + code + "\n"

    def where(self, stack: str) -> str:
        """``file#line`` of the innermost frame in ``stack`` that is script code."""
        for match in _LINE.finditer(stack):
            line = int(match.group(1))
            for first, last, file in self._chunks:
                if first <= line <= last:
                    return f"{file}#{line - first + 1}"
        return self.path.name

    def load(self) -> None:
        source = self.path.read_text(encoding="utf-8")
        code = self._padded(source, self.path.name)
        self._guarded(lambda: self._load_fn(code), top_level=True)
        self._run_pending_jobs()

    def _include(self, path: Any) -> None:
        """``include(file)``: evaluate another file in this script's global scope."""
        found = include_source(self, path)  # confined to the script's or app's folder
        code = self._padded(found["source"], Path(found["file"]).name)
        try:
            self._ctx.eval(code)  # nested in the current call: its budget still applies
        except quickjs.JSException as err:
            self._check_fatal(str(err))
            text = str(err).strip()
            raise ScriptApiError(f"{self.where(text)} {text.splitlines()[0]}") from None

    # --- calls into JS -------------------------------------------------------------------
    def _guarded(self, call: Any, top_level: bool = False) -> Any:
        """Run ``call`` under the time budget; budget or memory exhaustion stops the script.

        ``call`` must start with ``__spin()`` (``__run``, ``__load``): a start that could
        not prove its budget check is made again (see the module docstring).
        """
        ctx = self._ctx
        for _ in range(MAX_STARTS):
            ctx.set_time_limit(self.services.budget)
            done = _UNLOCKER.release_soon(ctx)
            try:
                return call()
            except quickjs.JSException as err:
                text = str(err).strip()
                if text.startswith(f"Error: {_UNBUDGETED}"):
                    self.unbudgeted_starts += 1
                    continue
                self._check_fatal(text)
                if top_level:
                    raise ScriptStopped(
                        f"{self.name} {self.where(text)} {text.splitlines()[0]}") from None
                raise ScriptStopped(f"{self.name}: {text.splitlines()[0]}") from None
            finally:
                done.wait()  # never leave a clearing request for the next call
                ctx.set_time_limit(-1)
        raise ScriptStopped(f"{self.name}: could not start a call under its time budget")

    def _check_fatal(self, text: str) -> None:
        first = text.splitlines()[0] if text else ""
        if _INTERRUPTED in first:
            raise ScriptStopped(f"{self.name} {self.where(text)} exceeded its time budget of "
                                f"{self.services.budget:g} s CPU")
        if _OUT_OF_MEMORY in first:
            raise ScriptStopped(f"{self.name} {self.where(text)} exceeded its memory limit of "
                                f"{self.services.memory_bytes // (1024 * 1024)} MB")

    def _dispatch(self, kind: str, payload: Any) -> str:
        # the interval's time goes as a float: the binding turns a Python int into a
        # 32-bit JS integer, which would cut a millisecond timestamp to garbage
        text = json.dumps(payload) if kind != "interval" else float(payload)
        answer = self._guarded(lambda: self._run_fn(kind, text))
        self._run_pending_jobs()
        return answer

    def _run_pending_jobs(self) -> None:
        """Run the promise reactions the call queued (``then`` callbacks, ``await``
        continuations): QuickJS runs them only when the host asks. Each job runs with
        the limit set and no helper clearing it, so it is always under the budget (and
        host calls from it are refused: see the module docstring)."""
        ctx = self._ctx
        while ctx is not None:
            ctx.set_time_limit(self.services.budget)
            try:
                ran = ctx.execute_pending_job()
            except quickjs.JSException as err:
                text = str(err).strip()
                self._check_fatal(text)
                self.report_handler_error(self.where(text), text.splitlines()[0])
                ran = True
            finally:
                ctx.set_time_limit(-1)
            if not ran:
                return

    def _report(self, errors_json: str) -> None:
        for err in json.loads(errors_json):
            self._check_fatal(err["message"])
            self.report_handler_error(self.where(err["stack"]), err["message"])

    def handle_batch(self, kind: str, items: list[dict[str, Any]]) -> None:
        self._report(self._dispatch(kind, items))

    def handle_interval(self, now_ms: int) -> None:
        if self._ctx is not None:
            self._report(self._dispatch("interval", now_ms))

    def handle_callback(self, payload: dict[str, Any]) -> None:
        self._report(self._dispatch("callback", payload))

    def handle_bgp(self, payload: dict[str, Any]) -> None:
        self._report(self._dispatch("bgp", payload))

    def handle_http(self, request: dict[str, Any]) -> tuple[int, Any, bool]:
        answer = json.loads(self._dispatch("http", request))
        if "u" in answer:
            return 204, None, False
        if "r" in answer:
            result = answer["r"]
            return 200, result, not isinstance(result, str)
        if "t" in answer:
            thrown = str(answer["t"])
            status = THROWN_STATUS.get(thrown)
            if status is None:
                self.report_handler_error(self.path.name, f"HTTP handler threw {thrown!r}")
                return 500, {"error": thrown}, True
            return status, {"error": thrown}, True
        err = answer["x"]
        self._check_fatal(err["message"])
        self.report_handler_error(self.where(err["stack"]), err["message"])
        return 500, {"error": err["message"]}, True


def _ready() -> bool:
    return True


_JS_DEFINED = frozenset({"include", "httpAsync", "bgpAddNeighbor", "clearEventHandler",
                         "clearFlowHandler", "clearIntervalHandler", "clearHttpHandler",
                         "logFine", "logInfo", "logWarning", "logSevere", "formatNumber"})
"""API functions the prelude defines in JS itself (they also keep JS-side state)."""
