"""An API under test: the real aiohttp app over a real Engine, on a clock the test moves.

pytest-aiohttp is not a dependency, so :func:`api_test` runs the test body inside
``asyncio.run`` with aiohttp's own ``TestServer``/``TestClient`` (a real socket on
127.0.0.1, real HTTP).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from flowrt.api import create_app
from flowrt.config import Properties
from flowrt.engine.core import Engine

START = 1_700_000_000.0
AGENT = "192.0.2.1"


class Harness:
    """The engine, its clock and an HTTP client talking to the app serving it."""

    def __init__(self, props: Properties | None = None) -> None:
        self.props = props if props is not None else Properties()
        self.now = START
        self.engine = Engine(self.props, now=START)
        self.app = create_app(self.engine, lambda: self.now, self.props)
        self.client: TestClient[Any, Any] | None = None

    @property
    def http(self) -> TestClient[Any, Any]:
        assert self.client is not None
        return self.client

    def feed(self, datagrams: list[bytes], source: str = AGENT) -> None:
        for payload in datagrams:
            self.engine.ingest_datagram(payload, source, self.now)

    def advance(self, seconds: float) -> None:
        """Move the clock, ticking the engine once per second as the server does."""
        end = self.now + seconds
        while self.now + 1.0 <= end:
            self.now += 1.0
            self.engine.tick(self.now)
        self.now = end
        self.engine.tick(self.now)

    async def json(self, path: str, status: int = 200, **params: Any) -> Any:
        response = await self.http.get(path, params=params or None)
        assert response.status == status, await response.text()
        assert response.content_type == "application/json"
        return await response.json()

    async def put(self, path: str, body: Any, status: int = 204) -> Any:
        response = await self.http.put(path, json=body)
        assert response.status == status, await response.text()
        return None if status == 204 else await response.json()

    async def delete(self, path: str, status: int = 204) -> Any:
        response = await self.http.delete(path)
        assert response.status == status, await response.text()
        return None if status == 204 else await response.json()


def api_test(
    body: Callable[[Harness], Awaitable[None]], props: dict[str, str] | None = None
) -> Harness:
    """Run ``body`` against a fresh harness; returns it for after-the-fact checks."""
    harness = Harness(Properties(props) if props else None)

    async def main() -> None:
        async with TestClient(TestServer(harness.app)) as client:
            harness.client = client
            await body(harness)

    asyncio.run(main())
    return harness
