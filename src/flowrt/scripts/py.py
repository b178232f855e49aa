"""Python scripts: the same API as JavaScript, each script in its own process.

A ``.py`` script sees every API function as a global of the same name (``setFlow``,
``activeFlows``, ``setEventHandler(fn, ids)``...); handlers are plain Python callables
and receive plain dicts. The script runs in a child process
(:mod:`flowrt.scripts.pychild`), not in the server: the script's thread here (a
:class:`~flowrt.scripts.runtime.ScriptRuntime`, as for JavaScript) sends it one request
at a time over a pipe (JSON lines) and answers its host API calls while it waits, by
calling the same :class:`~flowrt.scripts.hostapi.HostApi` on this side. Values cross as
JSON, as they do for JavaScript.

Why a process: a thread cannot be stopped from outside. A script inside one long C call
(``sum(range(10**10))``, a regular expression that backtracks for minutes) holds the
interpreter lock and freezes the whole server, and a script that catches
``BaseException`` survives any exception sent to stop it. A process can always be
killed: when a request (the top-level code, a handler, a batch of events) outlives the
time budget (``flowrt.script.timeout``, wall time), or when the script is stopped
while busy, the child gets SIGKILL and the script is stopped with the reason in
``/scripts/json``. Meanwhile the server only waits on a pipe, so ingest and the REST
API carry on. There is no memory limit for Python scripts (the process's own memory
is the operating system's to bound).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from flowrt.scripts.bridge import HostUnavailable
from flowrt.scripts.hostapi import API_FUNCTIONS, HANDLER_FUNCTIONS, HostApi
from flowrt.scripts.runtime import (
    THROWN_STATUS,
    ScriptRuntime,
    ScriptServices,
    ScriptStopped,
    include_source,
    start_http_async,
)

CHILD = Path(__file__).with_name("pychild.py")
START_SECONDS = 30.0
"""How long the child may take to start (the interpreter and its imports)."""
EXIT_SECONDS = 1.0
"""How long a child asked to exit may take before it is killed."""
READ_BYTES = 1 << 16
LATE_READS = 16
"""Reads of what is already in the pipe once a request's deadline has passed (an answer
sent in time but not yet read); a child still writing after that many is over budget."""
_CLEARERS = frozenset({"clearEventHandler", "clearFlowHandler", "clearIntervalHandler",
                       "clearHttpHandler"})


class _ChildGone(Exception):
    """The child process ended (killed, crashed or exited) while we waited for it."""


class _OverBudget(Exception):
    """A request outlived its deadline; the child has been killed."""


class PyScript(ScriptRuntime):
    """A ``.py`` script (see the module docstring)."""

    language = "py"

    def __init__(self, services: ScriptServices, path: Path, name: str,
                 app: str | None = None) -> None:
        super().__init__(services, path, name, app)
        self.api = HostApi(self)
        self.proc: subprocess.Popen[bytes] | None = None
        self._buffer = bytearray()
        self._busy = False
        self._killed_on_stop = False
        self._functions: dict[str, Any] = {
            name: getattr(self.api, name) for name in API_FUNCTIONS}
        self._functions["include"] = lambda path: include_source(self, path)
        self._functions["httpAsync"] = lambda token, opts: start_http_async(self, token, opts)
        # onOpen/onClose stay in the child; the speaker calls back through handle_bgp
        self._functions["bgpAddNeighbor"] = self.api.bgpAddNeighbor

    # --- the child process -------------------------------------------------------------
    def setup(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-P", str(CHILD)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            close_fds=True,
        )
        names = [n for n in API_FUNCTIONS if n not in HANDLER_FUNCTIONS and n not in _CLEARERS]
        self._request({"op": "init", "path": str(self.path), "names": names}, START_SECONDS)

    def teardown(self) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                self._send({"op": "exit"})
                proc.wait(EXIT_SECONDS)
            except (OSError, subprocess.TimeoutExpired):
                self._kill()
        self._kill()
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()

    def _kill(self) -> None:
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()

    def stop(self) -> None:
        """Ask the script to stop; one busy in a request is killed now (it may never
        return: a loop that catches every exception, a call that runs for hours)."""
        super().stop()
        if self._busy:
            self._killed_on_stop = True
            proc = self.proc
            if proc is not None and proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)

    def status(self) -> dict[str, Any]:
        """``/scripts/json``: cpuMs adds the child's CPU time (read from /proc)."""
        out = super().status()
        out["cpuMs"] += _child_cpu_ms(self.proc)
        return out

    # --- the pipe ------------------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> None:
        proc = self.proc
        assert proc is not None and proc.stdin is not None
        try:
            proc.stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
            proc.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            raise _ChildGone from None

    def _receive(self, deadline: float) -> dict[str, Any]:
        proc = self.proc
        assert proc is not None and proc.stdout is not None
        fd = proc.stdout.fileno()
        late_reads = 0
        while True:
            cut = self._buffer.find(b"\n")
            if cut >= 0:
                line = bytes(self._buffer[:cut])
                del self._buffer[: cut + 1]
                message: dict[str, Any] = json.loads(line)
                return message
            left = deadline - time.monotonic()
            if left <= 0:
                # Late: but an answer the child sent in time may be waiting in the pipe
                # (this thread was not scheduled, or the GIL was busy, while it arrived).
                # Read what is there now; kill only if no whole answer is.
                ready, _, _ = select.select([fd], [], [], 0)
                if not ready or late_reads >= LATE_READS:
                    self._kill()
                    raise _OverBudget
                late_reads += 1
                chunk = os.read(fd, READ_BYTES)
                if not chunk:
                    raise _ChildGone
                self._buffer += chunk
                continue
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(fd, READ_BYTES)
                if not chunk:
                    raise _ChildGone
                self._buffer += chunk

    def _request(self, message: dict[str, Any], budget: float) -> dict[str, Any]:
        """Send one request and serve the child's host calls until it is done."""
        deadline = time.monotonic() + budget
        self._busy = True  # before reading _stopping: stop() sets it, then reads _busy
        try:
            if self._stopping:
                raise HostUnavailable("the script host is stopping")  # a quiet stop
            self._send(message)
            while True:
                answer = self._receive(deadline)
                if answer["op"] != "api":
                    return answer
                self._send(self._host_call(answer["fn"], answer["args"]))
        except _OverBudget:
            raise ScriptStopped(f"{self.name} exceeded its time budget of "
                                f"{self.services.budget:g} s") from None
        except _ChildGone:
            self._kill()
            if self._killed_on_stop:
                raise ScriptStopped(
                    f"{self.name} was killed: still running when it was stopped") from None
            code = self.proc.returncode if self.proc is not None else None
            raise ScriptStopped(f"{self.name}: script process exited ({code})") from None
        finally:
            self._busy = False

    def _host_call(self, name: str, args: list[Any]) -> dict[str, Any]:
        fn = self._functions.get(name)
        if fn is None:
            return {"op": "err", "e": f"{name}: no such function"}
        try:
            result = fn(*args)
            json.dumps(result)  # anything the child could not read is an error here
        except (ScriptStopped, HostUnavailable):
            raise
        except Exception as err:
            return {"op": "err", "e": str(err) or type(err).__name__}
        return {"op": "ret", "r": result}

    def _run(self, kind: str, arg: Any) -> dict[str, Any]:
        answer = self._request({"op": "run", "kind": kind, "arg": arg}, self.services.budget)
        for where, message in answer.get("errors", ()):
            self.report_handler_error(where, message)
        return answer

    # --- the runtime's hooks ---------------------------------------------------------------
    def load(self) -> None:
        answer = self._request({"op": "load"}, self.services.budget)
        if answer["op"] != "fatal":
            return
        if "oserror" in answer:
            raise ScriptStopped(f"{self.name}: cannot read {answer['file']}: {answer['oserror']}")
        raise ScriptStopped(f"{self.name} {answer['msg']}")

    def handle_batch(self, kind: str, items: list[dict[str, Any]]) -> None:
        self._run(kind, items)

    def handle_interval(self, now_ms: int) -> None:
        self._run("interval", now_ms)

    def handle_callback(self, payload: dict[str, Any]) -> None:
        self._run("callback", payload)

    def handle_bgp(self, payload: dict[str, Any]) -> None:
        """A BGP session to ``payload["router"]`` opened or closed: the child calls the
        script's onOpen/onClose."""
        self._run("bgp", payload)

    def handle_http(self, request: dict[str, Any]) -> tuple[int, Any, bool]:
        answer = self._run("http", request)["http"]
        if "none" in answer:
            return 404, {"error": "not_found"}, True
        if "raised" in answer:
            raised = answer["raised"]
            status = THROWN_STATUS.get(raised["thrown"])
            if status is not None:
                return status, {"error": raised["thrown"]}, True
            self.report_handler_error(raised["where"], raised["message"])
            return 500, {"error": raised["text"]}, True
        result = answer["result"]
        if result is None:
            return 204, None, False
        return 200, result, not isinstance(result, str)


def _child_cpu_ms(proc: subprocess.Popen[bytes] | None) -> int:
    """User + system CPU of a live child, from ``/proc/<pid>/stat`` (0 if unreadable)."""
    if proc is None or proc.poll() is not None:
        return 0
    try:
        stat = Path(f"/proc/{proc.pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks * 1000 // os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0
