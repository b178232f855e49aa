"""A served app for the export and web tests: the REST API, Prometheus and web routes over
a real Engine fed from a real capture, on a clock the test sets.

It lives at ``tests/`` (next to ``conftest.py``, whose folder pytest puts on ``sys.path``)
so both test folders import the one copy: ``from served_app import Served``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from conftest import udp_payloads
from flowrt.api import create_app
from flowrt.config import Properties
from flowrt.engine.core import Engine
from flowrt.export import prometheus
from flowrt.scripts import ScriptHost
from flowrt.scripts import install_routes as install_script_routes
from flowrt.web import routes

START = 1_700_000_000.0
STEP = 0.01  # seconds between replayed datagrams


def _loop() -> asyncio.AbstractEventLoop:
    """The running loop, or a fresh one: the script host only needs one to exist."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.new_event_loop()


class Served:
    """Engine + clock + the full app (API, script routes with no scripts, /prometheus, web UI)."""

    def __init__(self, props: dict[str, str] | None = None) -> None:
        self.props = Properties(props or {})
        self.now = START
        self.engine = Engine(self.props, now=START)

    def make_app(self) -> web.Application:
        """A fresh app over the same engine (an aiohttp app is bound to one loop)."""
        app = create_app(self.engine, lambda: self.now, self.props)
        install_script_routes(app, ScriptHost(self.engine, self.props, _loop()))
        prometheus.install_routes(app, self.engine, self.props)
        routes.install_routes(app, self.engine, self.props)
        return app

    def replay(self, capture: str, source: str = "127.0.0.1") -> int:
        payloads = udp_payloads(capture)
        for _, payload in payloads:
            self.engine.ingest_datagram(payload, source, self.now)
            self.now += STEP
        return len(payloads)

    def run(self, body: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
        async def main() -> None:
            async with TestClient(TestServer(self.make_app())) as client:
                await body(client)

        asyncio.run(main())


