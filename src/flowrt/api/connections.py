"""The HTTP listener's own defences: a connection cap and a request-head deadline.

aiohttp serves whoever connects, for as long as they like: a client that opens a
connection and sends half a request head holds a file descriptor and a parser until the
keep-alive timer (an hour by default) fires, and 20,000 of them exhaust the process's
descriptors. So the listening socket's protocol factory is wrapped: each accepted
connection first passes a :class:`ConnectionGuard`, which

* closes it at once with a ``503`` when :attr:`HttpLimits.max_connections` are open
  already (``http.connections.max``; counted in ``httpConnectionsRefused``);
* closes it when no complete request head arrived within
  :attr:`HttpLimits.header_timeout` seconds of connecting (``http.header.timeout``;
  counted in ``httpHeaderTimeouts``): a slowloris client or one that connects and says
  nothing.

Between requests on a kept-alive connection aiohttp's own keep-alive timer
(``http.keepalive.timeout``) closes the idle connection, and also one whose next head is
still incomplete when the timer fires. Everything else is aiohttp's: the wrapper only
forwards the transport's calls to aiohttp's request handler.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from flowrt.config import ConfigError, Properties
from flowrt.engine import HttpCounters
from flowrt.logline import rate_limited

log = rate_limited("flowrt.http")

DEFAULT_MAX_CONNECTIONS = 512
DEFAULT_HEADER_TIMEOUT = 5.0
DEFAULT_KEEPALIVE_TIMEOUT = 15.0
DEFAULT_BACKLOG = 1024
MAX_BACKLOG = 65535


def _busy_response(limit: int) -> bytes:
    body = json.dumps({"error": f"too many HTTP connections (http.connections.max={limit});"
                                " try again shortly"}).encode()
    head = ("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n")
    return head.encode() + body


@dataclass(frozen=True)
class HttpLimits:
    """The listener's bounds, from properties (checked before anything is bound)."""

    max_connections: int = DEFAULT_MAX_CONNECTIONS
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT
    backlog: int = DEFAULT_BACKLOG

    @classmethod
    def from_props(cls, props: Properties) -> HttpLimits:
        max_connections = props.get_int("http.connections.max", DEFAULT_MAX_CONNECTIONS)
        if max_connections is None or max_connections < 1:
            raise ConfigError(f"property http.connections.max={max_connections} must be 1"
                              " or more")
        backlog = props.get_int("http.backlog", DEFAULT_BACKLOG)
        if backlog is None or not 1 <= backlog <= MAX_BACKLOG:
            raise ConfigError(f"property http.backlog={backlog} must be 1..{MAX_BACKLOG}")
        timeouts = {}
        for name, default in (("http.header.timeout", DEFAULT_HEADER_TIMEOUT),
                              ("http.keepalive.timeout", DEFAULT_KEEPALIVE_TIMEOUT)):
            value = props.get_float(name, default)
            if value is None or not 0 < value <= 3600:
                raise ConfigError(f"property {name}={value} must be a number of seconds"
                                  " over 0 (at most 3600)")
            timeouts[name] = value
        return cls(max_connections, timeouts["http.header.timeout"],
                   timeouts["http.keepalive.timeout"], backlog)


class ConnectionGuard:
    """Counts open connections and wraps each new one in a :class:`GuardedConnection`."""

    def __init__(self, limits: HttpLimits, counters: HttpCounters) -> None:
        self.limits = limits
        self.counters = counters
        self.busy_response = _busy_response(limits.max_connections)

    def factory(self, make_handler: Callable[[], RequestHandler]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory for ``loop.create_server`` around aiohttp's."""
        return lambda: GuardedConnection(self, make_handler)


def _heads_received(handler: RequestHandler) -> int:
    """How many request heads aiohttp has parsed on this connection (a large number when
    this aiohttp does not say: then only the keep-alive timer applies)."""
    count = getattr(handler, "_request_count", None)
    return count if isinstance(count, int) else 1 << 30


class GuardedConnection(asyncio.Protocol):
    """One accepted connection: admitted (forwarded to aiohttp) or refused at once."""

    def __init__(self, guard: ConnectionGuard, make_handler: Callable[[], RequestHandler]):
        self.guard = guard
        self._make_handler = make_handler
        self.handler: RequestHandler | None = None
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        guard, counters = self.guard, self.guard.counters
        if counters.connections >= guard.limits.max_connections:
            counters.connections_refused += 1
            log.warning("refused an HTTP connection: %d open, the cap is"
                        " http.connections.max=%d", counters.connections,
                        guard.limits.max_connections)
            if isinstance(transport, asyncio.WriteTransport):
                transport.write(guard.busy_response)
            transport.close()
            return
        counters.connections += 1
        self.handler = self._make_handler()
        self.handler.connection_made(transport)
        loop = asyncio.get_running_loop()
        self._deadline = loop.call_later(guard.limits.header_timeout, self._head_overdue)

    def _head_overdue(self) -> None:
        self._deadline = None
        handler = self.handler
        if handler is None or handler.transport is None or _heads_received(handler):
            return
        self.guard.counters.header_timeouts += 1
        log.warning("closed an HTTP connection: no complete request head within"
                    " http.header.timeout=%gs", self.guard.limits.header_timeout)
        handler.force_close()

    def data_received(self, data: bytes) -> None:
        handler = self.handler
        if handler is None:
            return
        handler.data_received(data)
        if self._deadline is not None and _heads_received(handler):
            self._deadline.cancel()
            self._deadline = None

    def eof_received(self) -> bool | None:
        if self.handler is not None:
            self.handler.eof_received()
        return None  # aiohttp's answer too: let the transport close

    def pause_writing(self) -> None:
        if self.handler is not None:
            self.handler.pause_writing()

    def resume_writing(self) -> None:
        if self.handler is not None:
            self.handler.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        handler, self.handler = self.handler, None
        if handler is not None:
            self.guard.counters.connections -= 1
            handler.connection_lost(exc)


class GuardedSite(web.BaseSite):
    """aiohttp's TCP site, listening through a :class:`ConnectionGuard` with the
    configured listen backlog."""

    def __init__(self, runner: web.BaseRunner, host: str | None, port: int,
                 guard: ConnectionGuard) -> None:
        super().__init__(runner, backlog=guard.limits.backlog)
        self._host = host
        self._port = port
        self._guard = guard

    @property
    def name(self) -> str:
        return f"http://{self._host or '0.0.0.0'}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._guard.factory(server), self._host, self._port, backlog=self._backlog,
        )


__all__ = ["ConnectionGuard", "GuardedSite", "HttpLimits"]
