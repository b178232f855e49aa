"""The script host: loads ``script.file`` scripts and apps, feeds them, reports on them.

Integration (the composition root calls these, on the engine's loop)::

    host = ScriptHost(engine, props, loop, clock=clock.now)
    install_routes(app, host)      # flowrt.scripts.routes, before the app starts
    host.start()                   # after the HTTP server is up
    ...
    host.stop()                    # on shutdown; never blocks the loop

What it loads: each file of ``script.file`` (comma separated, ``.js`` or ``.py``), then
every directory under ``flowrt.app.dir`` (default ``app``) as an app: each ``.js``/``.py``
directly in its ``scripts/`` runs (``scripts/inc/`` holds helpers for ``include``), and
its ``html/`` is served at ``/app/<name>/html/``. A script that fails to load is reported
in ``/scripts/json`` and makes ``/status`` answer 503; the others run on.

The host subscribes once to the engine's event log and flow log; each new event or
flow record is offered to every script with a matching handler (see
:mod:`flowrt.scripts.runtime`: offering never blocks the loop).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowrt.bgp import BgpSpeaker
from flowrt.config import Properties
from flowrt.engine import Engine
from flowrt.scripts.bridge import LoopBridge
from flowrt.scripts.runtime import (
    BUDGET_PROPERTY,
    DEFAULT_BUDGET,
    DEFAULT_INBOX,
    DEFAULT_MEMORY_MB,
    INBOX_PROPERTY,
    MEMORY_PROPERTY,
    ScriptRuntime,
    ScriptServices,
)

log = logging.getLogger("flowrt.script")

SCRIPT_SUFFIXES = (".js", ".py")
APP_ENTRY = "/html/"


LOAD_POLL_SECONDS = 0.01


def _runtime_class(path: Path) -> type[ScriptRuntime]:
    if path.suffix == ".py":
        from flowrt.scripts.py import PyScript
        return PyScript
    from flowrt.scripts.js import JsScript
    return JsScript


class ScriptHost:
    """Every script of one process (see the module docstring)."""

    def __init__(self, engine: Engine, props: Properties, loop: asyncio.AbstractEventLoop,
                 clock: Callable[[], float] | None = None,
                 bgp: BgpSpeaker | None = None) -> None:
        self.engine = engine
        self.props = props
        self.bridge = LoopBridge(loop)
        self.services = ScriptServices(
            engine=engine, props=props, bridge=self.bridge, clock=clock or time.time, bgp=bgp,
            store_root=Path(props.get("script.store") or "store"),
            inbox_size=max(1, props.get_int(INBOX_PROPERTY, DEFAULT_INBOX) or DEFAULT_INBOX),
            budget=props.get_float(BUDGET_PROPERTY, DEFAULT_BUDGET) or DEFAULT_BUDGET,
            memory_bytes=(props.get_int(MEMORY_PROPERTY, DEFAULT_MEMORY_MB)
                          or DEFAULT_MEMORY_MB) * 1024 * 1024,
        )
        self.scripts: dict[str, ScriptRuntime] = {}
        self.apps: dict[str, Path] = {}
        self._unsubscribe: list[Callable[[], None]] = []
        self._flow_cursor = 0

    # --- lifecycle (loop thread) -------------------------------------------------------
    def start(self) -> None:
        """Subscribe to the engine and start every script; returns at once."""
        self.bridge.bind_thread()
        events = self.engine.thresholds.events
        flow_log = self.engine.flows.log
        self._flow_cursor = flow_log.last_id
        self._unsubscribe = [events.subscribe(self._on_event),
                             flow_log.subscribe(self._on_flow_logged)]
        for item in (self.props.get("script.file") or "").split(","):
            if item.strip():
                path = Path(item.strip())
                self._add(path, path.name, None)
        app_dir = Path(self.props.get("flowrt.app.dir") or "app")
        if app_dir.is_dir():
            for app in sorted(p for p in app_dir.iterdir() if p.is_dir()):
                self.apps[app.name] = app
                scripts = app / "scripts"
                if scripts.is_dir():
                    for path in sorted(scripts.iterdir()):
                        if path.is_file() and path.suffix in SCRIPT_SUFFIXES:
                            self._add(path, f"{app.name}/scripts/{path.name}", app.name)
        for runtime in self.scripts.values():
            runtime.start()

    async def wait_loaded(self, timeout: float) -> bool:
        """Wait (on the loop, without blocking it) until every script ran its top level.

        A replayed capture must not start before scripts have defined their flows and
        thresholds, or a fast replay would be over before they exist. Their setFlow calls
        are served by this same loop, so this polls instead of blocking.
        """
        deadline = time.monotonic() + timeout
        while not all(rt.loaded.is_set() for rt in self.scripts.values()):
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(LOAD_POLL_SECONDS)
        return True

    def add_script(self, path: Path, app: str | None = None) -> ScriptRuntime:
        """Start one more script now (tests, tools); same naming as :meth:`start`."""
        name = f"{app}/scripts/{path.name}" if app else path.name
        runtime = self._add(path, name, app)
        runtime.start()
        return runtime

    def _add(self, path: Path, name: str, app: str | None) -> ScriptRuntime:
        path = path.resolve()  # scriptdir() is absolute, so include(scriptdir()+...) works
        runtime = _runtime_class(path)(self.services, path, name, app)
        if name in self.scripts:
            log.warning("two scripts named %s; the later one (%s) replaces the earlier",
                        name, path)
            self.scripts[name].stop()
        self.scripts[name] = runtime
        return runtime

    def stop(self) -> None:
        """Stop every script and stop feeding them; never waits for a script thread."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe = []
        self.bridge.closed = True
        for runtime in self.scripts.values():
            runtime.stop()
        self.services.http_pool.shutdown(wait=False, cancel_futures=True)

    def join(self, timeout: float = 5.0) -> bool:
        """Wait (off the loop) for every script thread to end; True if all did."""
        deadline = time.monotonic() + timeout
        return all(rt.join(max(0.0, deadline - time.monotonic()))
                   for rt in self.scripts.values())

    # --- engine callbacks (loop thread; must be cheap) ---------------------------------
    def _on_event(self, event: dict[str, Any]) -> None:
        for runtime in self.scripts.values():
            runtime.offer_event(event)

    def _on_flow_logged(self) -> None:
        flow_log = self.engine.flows.log
        new = flow_log.last_id - self._flow_cursor
        self._flow_cursor = flow_log.last_id
        if new <= 0:
            return
        for record in reversed(flow_log.after(flow_log.last_id - new, None, new)):
            for runtime in self.scripts.values():
                runtime.offer_flow(record)

    # --- reports ----------------------------------------------------------------------
    def status_json(self) -> dict[str, dict[str, Any]]:
        """``/scripts/json``."""
        return {name: runtime.status() for name, runtime in self.scripts.items()}

    def apps_json(self) -> dict[str, dict[str, Any]]:
        """``/apps/json``: entry page (when the app has html/) and script names."""
        out: dict[str, dict[str, Any]] = {}
        for name, directory in self.apps.items():
            entry: dict[str, Any] = {"scripts": [
                script for script, rt in self.scripts.items() if rt.app == name]}
            if (directory / "html").is_dir():
                entry["entry"] = APP_ENTRY
            out[name] = entry
        return out

    @staticmethod
    def healthy(runtimes: list[ScriptRuntime]) -> bool:
        return all(rt.alive or (rt.graceful_exit and not rt.failed) for rt in runtimes)

    def installed_app(self, name: str) -> Path | None:
        """The folder of the installed app ``name``, or None."""
        return self.apps.get(name)

    def app_status(self, name: str) -> bool | None:
        """``/app/{name}/status``: True OK, False unavailable, None no such app."""
        if name not in self.apps:
            return None
        return self.healthy([rt for rt in self.scripts.values() if rt.app == name])

    def overall_status(self) -> bool:
        """``/status``: every script alive or exited gracefully."""
        return self.healthy(list(self.scripts.values()))

    def script_for(self, app: str | None, script: str) -> ScriptRuntime | None:
        """The script serving ``/app/<app>/scripts/<script>/...`` (or ``/script/<script>``)."""
        name = f"{app}/scripts/{script}" if app else script
        return self.scripts.get(name)
