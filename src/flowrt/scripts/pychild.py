"""The process a Python script runs in: the script API as stubs over a JSON-lines pipe.

Started by :class:`flowrt.scripts.py.PyScript` as ``python -P pychild.py`` (by path, so
this file imports only the standard library and starts fast). The parent writes one JSON
object per line to our stdin and reads ours from our stdout; the script's own ``print``
goes to stderr (the protocol keeps the real stdout to itself). The exchange is strictly
one request at a time, and it is always the parent that asks:

* parent → child: ``{"op": "init", "path", "names"}`` (once), ``{"op": "load"}`` (run
  the script's top-level code), ``{"op": "run", "kind", "arg"}`` (deliver events, flow
  records, an interval tick, an ``httpAsync`` answer or an HTTP request), ``{"op":
  "exit"}``;
* while it works, the child may ask the host: ``{"op": "api", "fn", "args"}``, answered
  with ``{"op": "ret", "r"}`` or ``{"op": "err", "e"}`` (the stub raises
  :class:`ScriptError`, which the script can catch, as in sFlow-RT);
* the child ends each request with ``{"op": "done", ...}`` (handler errors, the HTTP
  answer) or ``{"op": "fatal", "msg"}`` (the top-level code failed).

Handlers (``setEventHandler(fn, ids)``...) stay here, as ``httpAsync`` callbacks do;
the parent only learns which kinds of delivery the script wants. ``include`` asks the
parent for the file, which confines it to the script's or app's folder. Nothing here
enforces the time budget: the parent kills this process (SIGKILL) when a request
outlives it, or when the script is stopped, whatever the script catches.
"""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, BinaryIO

PR_SET_PDEATHSIG = 1



def _canonical(router: Any) -> str:
    """The router's address as the BGP speaker names it in callbacks (IPv4-mapped
    IPv6 addresses as IPv4)."""
    try:
        address = ipaddress.ip_address(str(router).strip())
    except ValueError:
        return str(router)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)

class ScriptError(Exception):
    """A host API call failed (bad arguments, engine refusal): the script may catch it."""


class Child:
    """The script's globals, handlers and the pipe to the host."""

    def __init__(self, inp: BinaryIO, out: BinaryIO) -> None:
        self.inp, self.out = inp, out
        self.handlers: dict[str, Any] = {}
        self.callbacks: dict[int, dict[str, Any]] = {}
        self.bgp: dict[str, tuple[Any, Any]] = {}
        self.next_token = 1
        self.files: set[str] = set()
        self.path = Path(".")
        self.globals: dict[str, Any] = {}

    # --- the pipe --------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        self.out.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        self.out.flush()

    def receive(self) -> dict[str, Any]:
        line = self.inp.readline()
        if not line:
            raise SystemExit(0)  # the host closed the pipe: nothing left to do
        message: dict[str, Any] = json.loads(line)
        return message

    def call(self, fn: str, args: list[Any]) -> Any:
        """One host API call, answered before anything else happens."""
        try:
            self.send({"op": "api", "fn": fn, "args": args})
        except TypeError as err:
            raise ScriptError(f"{fn}: arguments are not JSON data ({err})") from None
        answer = self.receive()
        if answer["op"] == "err":
            raise ScriptError(answer["e"])
        return answer["r"]

    # --- the script's globals ----------------------------------------------------------
    def setup(self, path: str, names: list[str]) -> None:
        self.path = Path(path)
        self.files.add(path)
        g: dict[str, Any] = {"__name__": "__flowrt_script__", "__file__": path,
                             "ScriptError": ScriptError}
        for name in names:
            g[name] = self._stub(name)
        for kind in ("event", "flow", "interval", "http"):
            g[f"set{kind.title()}Handler"] = self._setter(kind)
            g[f"clear{kind.title()}Handler"] = self._clearer(kind)
        g["include"] = self.include
        g["httpAsync"] = self.http_async
        g["bgpAddNeighbor"] = self.bgp_add_neighbor
        self.globals = g

    def _stub(self, name: str) -> Any:
        def stub(*args: Any) -> Any:
            return self.call(name, list(args))
        stub.__name__ = name
        return stub

    def _setter(self, kind: str) -> Any:
        name = f"set{kind.title()}Handler"

        def set_handler(handler: Any, *args: Any) -> None:
            if not callable(handler):
                raise TypeError(f"{name}: expected a function")
            self.handlers[kind] = handler
            self.call(name, list(args))
        return set_handler

    def _clearer(self, kind: str) -> Any:
        name = f"clear{kind.title()}Handler"

        def clear_handler() -> None:
            self.handlers.pop(kind, None)
            self.call(name, [])
        return clear_handler

    def include(self, path: str) -> None:
        found = self.call("include", [str(path)])
        self.files.add(found["file"])
        exec(compile(found["source"], found["file"], "exec"), self.globals)

    def http_async(self, options: dict[str, Any]) -> None:
        token = self.next_token
        self.next_token += 1
        plain = {k: v for k, v in options.items() if not callable(v)}
        self.callbacks[token] = {"success": options.get("success"), "error": options.get("error")}
        try:
            self.call("httpAsync", [token, plain])
        except BaseException:
            del self.callbacks[token]
            raise

    def bgp_add_neighbor(self, router: Any, local_as: Any = None, router_id: Any = None,
                         options: Any = None, on_open: Any = None, on_close: Any = None) -> Any:
        """sFlow-RT's bgpAddNeighbor: the callbacks stay here, keyed by the router's
        address as the speaker names it in callbacks."""
        has = on_open is not None or on_close is not None
        ok = self.call("bgpAddNeighbor", [router, local_as, router_id, options, has])
        if ok and has:
            self.bgp[_canonical(router)] = (on_open, on_close)
        return ok

    # --- requests ------------------------------------------------------------------------
    def where(self, err: BaseException) -> str:
        for frame in reversed(traceback.extract_tb(err.__traceback__)):
            if frame.filename in self.files:
                return f"{Path(frame.filename).name}#{frame.lineno}"
        return self.path.name

    def failure(self, err: BaseException) -> list[str]:
        return [self.where(err), f"{type(err).__name__}: {err}"]

    def load(self) -> dict[str, Any]:
        try:
            code = compile(self.path.read_text(encoding="utf-8"), str(self.path), "exec")
            exec(code, self.globals)
        except OSError as err:
            return {"op": "fatal", "oserror": err.strerror or str(err),
                    "file": err.filename or str(self.path)}
        except Exception as err:
            where, message = self.failure(err)
            return {"op": "fatal", "msg": f"{where} {message}"}
        return {"op": "done"}

    def run(self, kind: str, arg: Any) -> dict[str, Any]:
        errors: list[list[str]] = []
        if kind in ("event", "flow"):
            for item in arg:
                handler = self.handlers.get(kind)
                if handler is None:
                    break
                try:
                    handler(item)
                except Exception as err:
                    errors.append(self.failure(err))
        elif kind == "interval":
            handler = self.handlers.get("interval")
            try:
                if handler is not None:
                    handler(arg)
            except Exception as err:
                errors.append(self.failure(err))
        elif kind == "callback":
            callbacks = self.callbacks.pop(arg["id"], {})
            fn = callbacks.get("success" if arg["ok"] else "error")
            try:
                if fn is not None:
                    fn(arg["res"])
            except Exception as err:
                errors.append(self.failure(err))
        elif kind == "bgp":
            pair = self.bgp.get(str(arg["router"]))
            fn = None if pair is None else pair[0 if arg["open"] else 1]
            try:
                if fn is not None:
                    fn(arg["router"])
            except Exception as err:
                errors.append(self.failure(err))
        elif kind == "http":
            return {"op": "done", "http": self.http(arg)}
        return {"op": "done", "errors": errors}

    def http(self, request: dict[str, Any]) -> dict[str, Any]:
        handler = self.handlers.get("http")
        if handler is None:
            return {"none": True}
        try:
            result = handler(request)
        except Exception as err:
            thrown = str(err.args[0]) if err.args else ""
            where, message = self.failure(err)
            return {"raised": {"thrown": thrown, "where": where, "message": message,
                               "text": str(err)}}
        try:
            json.dumps(result)
        except (TypeError, ValueError) as err:
            return {"raised": {"thrown": "", "where": self.path.name,
                               "message": f"TypeError: {err}", "text": str(err)}}
        return {"result": result}

    def serve(self) -> None:
        while True:
            request = self.receive()
            op = request["op"]
            if op == "init":
                self.setup(request["path"], request["names"])
                answer: dict[str, Any] = {"op": "done"}
            elif op == "load":
                answer = self.load()
            elif op == "run":
                answer = self.run(request["kind"], request["arg"])
            elif op == "exit":
                return
            else:
                answer = {"op": "fatal", "msg": f"unknown request {op!r}"}
            self.send(answer)


def _die_with_parent() -> None:
    """Linux: SIGKILL us when the host thread that started us ends (a crashed host
    must not leave a busy script running)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def main() -> None:
    _die_with_parent()
    # the protocol owns the real stdin/stdout; the script's print() goes to stderr
    inp = os.fdopen(os.dup(0), "rb")
    out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    with contextlib.suppress(BrokenPipeError, KeyboardInterrupt):
        Child(inp, out).serve()


if __name__ == "__main__":
    main()
