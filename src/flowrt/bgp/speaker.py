"""The BGP speaker: neighbors a script configures, the routes and flow rules it installs
for each, and the TCP listener routers connect to.

sFlow-RT's model: with ``bgp.start=yes`` the speaker listens on ``bgp.port`` (1179 by
default, so it needs no privilege) and never dials out; each router is configured
with FlowRT's address as a neighbor on that port. A script names the routers it expects
with ``bgpAddNeighbor``; a connection from any other address is refused with a Cease
NOTIFICATION. Routes and rules are installed per neighbor and survive the session: they
are announced when the router connects, again after it restarts and reconnects, and
withdrawn only when the script removes them.

Every method here runs on the engine's event loop (script host calls cross to it
through the script bridge); nothing blocks. Bounds: neighbors, routes and rules per
neighbor are capped by properties (:class:`SpeakerLimits`); messages by
:data:`flowrt.bgp.wire.MAX_MESSAGE`; queued output by
:data:`flowrt.bgp.session.MAX_SEND_BUFFER`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flowrt.bgp import wire
from flowrt.bgp.counters import BgpCounters
from flowrt.bgp.flowspec import FlowRule, match_key, parse_flow
from flowrt.bgp.routes import IPNetwork, Route, RouteError, parse_prefix, parse_route
from flowrt.bgp.session import ESTABLISHED, Session

log = logging.getLogger("flowrt.bgp")

DEFAULT_PORT = 1179
Listener = Callable[[str, bool], None]
"""Called with (router, True) when a session opens and (router, False) when it closes."""


def _any_address_socket(port: int) -> socket.socket:
    """A listening TCP socket on every address: IPv6 ``::`` accepting IPv4 too, or
    ``0.0.0.0`` where IPv6 is unavailable."""
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        address: tuple[str, int] = ("0.0.0.0", port)
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        address = ("::", port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


@dataclass(frozen=True)
class SpeakerLimits:
    """Bounds from properties (``flowrt.bgp.*``)."""

    neighbors: int = 100
    routes: int = 10_000
    flows: int = 1_000
    hold_time: int = 90


@dataclass(frozen=True)
class NeighborOptions:
    """``bgpAddNeighbor``'s options: which families besides IPv4 unicast to offer."""

    ipv6: bool = False
    flowspec: bool = False
    flowspec6: bool = False

    @classmethod
    def parse(cls, options: Any) -> NeighborOptions:
        if options is None:
            return cls()
        if not isinstance(options, dict):
            raise RouteError(f"neighbor options must be an object, got {options!r}")
        return cls(**{name: _truthy(options.get(name)) for name in ("ipv6", "flowspec",
                                                                    "flowspec6")})

    def to_json(self) -> dict[str, bool]:
        return {"ipv6": self.ipv6, "flowspec": self.flowspec, "flowspec6": self.flowspec6}


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("yes", "true", "on", "1")
    return bool(value)


@dataclass
class Neighbor:
    """One configured router and what is installed for it."""

    router: str
    local_as: int
    router_id: str
    options: NeighborOptions
    listener: Listener | None = None
    routes: dict[IPNetwork, Route] = field(default_factory=dict)
    flows: dict[tuple[int, bytes], FlowRule] = field(default_factory=dict)
    session: Session | None = None

    def families(self) -> set[wire.Family]:
        out = {wire.IPV4_UNICAST}
        if self.options.ipv6:
            out.add(wire.IPV6_UNICAST)
        if self.options.flowspec:
            out.add(wire.IPV4_FLOWSPEC)
        if self.options.flowspec6:
            out.add(wire.IPV6_FLOWSPEC)
        return out

    @property
    def established(self) -> bool:
        return self.session is not None and self.session.state == ESTABLISHED


def router_key(router: Any) -> str:
    """A router's address in canonical text (IPv4-mapped IPv6 as plain IPv4)."""
    try:
        address = ipaddress.ip_address(str(router).strip().split("%")[0])
    except ValueError:
        raise RouteError(f"router must be an IP address, got {router!r}") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


def _as_number(value: Any) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise RouteError(f"AS must be a number, got {value!r}") from None
    if not 1 <= number <= 0xFFFFFFFF:
        raise RouteError(f"AS must be 1..4294967295, got {number}")
    return number


class BgpSpeaker:
    """See the module docstring."""

    def __init__(self, host: str = "", port: int = DEFAULT_PORT,
                 limits: SpeakerLimits | None = None,
                 counters: BgpCounters | None = None) -> None:
        self.host = host
        self.port = port
        self.limits = limits or SpeakerLimits()
        self.counters = counters if counters is not None else BgpCounters()
        self.neighbors: dict[str, Neighbor] = {}
        self._server: asyncio.base_events.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # --- lifecycle (loop) ---------------------------------------------------------------
    async def start(self) -> int:
        """Listen; returns the bound port (``port`` 0 picks a free one)."""
        if self.host:
            self._server = await asyncio.start_server(
                self._on_connection, self.host, self.port, reuse_address=True)
        else:
            # one dual-stack socket: with port 0, asyncio's one-socket-per-family
            # listeners would each get a different free port, and only one is reported
            self._server = await asyncio.start_server(
                self._on_connection, sock=_any_address_socket(self.port))
        sockets = self._server.sockets or ()
        self.port = int(sockets[0].getsockname()[1]) if sockets else self.port
        return self.port

    async def stop(self) -> None:
        """Close the listener and every session (Cease, administrative shutdown)."""
        if self._server is not None:
            self._server.close()
        for neighbor in self.neighbors.values():
            if neighbor.session is not None:
                neighbor.session.close(wire.CEASE, wire.ADMIN_SHUTDOWN)
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def _on_connection(self, reader: asyncio.StreamReader,
                             writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            peer = writer.get_extra_info("peername")
            neighbor = self.neighbors.get(router_key(peer[0])) if peer else None
            if neighbor is None:
                self.counters.connections_rejected += 1
                self.counters.notifications_sent += 1
                log.warning("BGP connection from %s refused: not a neighbor (bgpAddNeighbor)",
                            peer[0] if peer else "?")
                writer.write(wire.notification(wire.CEASE, wire.CONNECTION_REJECTED))
                writer.close()
                return
            if neighbor.session is not None:  # the router restarted: the new one wins
                neighbor.session.close(wire.CEASE, wire.COLLISION)
            session = Session(neighbor, reader, writer, self.counters, self.limits.hold_time,
                              self._session_state)
            neighbor.session = session
            await session.run()
        finally:
            if task is not None:
                self._tasks.discard(task)

    def _session_state(self, session: Session, up: bool) -> None:
        neighbor = session.neighbor
        if up:
            self.counters.sessions_opened += 1
            families = sorted(wire.FAMILY_NAMES.get(f, str(f)) for f in session.families)
            log.info("BGP %s: session established (AS %d, %s)", neighbor.router,
                     session.peer_as, ", ".join(families))
        else:
            self.counters.sessions_closed += 1
            log.info("BGP %s: session closed%s", neighbor.router,
                     f" ({session.last_error})" if session.last_error else "")
        self.counters.sessions_established = sum(
            1 for n in self.neighbors.values() if n.established)
        if neighbor.listener is not None:
            neighbor.listener(neighbor.router, up)

    # --- neighbors (loop) ---------------------------------------------------------------
    def add_neighbor(self, router: Any, local_as: Any, router_id: Any, options: Any = None,
                     listener: Listener | None = None) -> bool:
        """Configure (or reconfigure) a router; False at the neighbor cap."""
        key = router_key(router)
        asn = _as_number(local_as)
        try:
            ident = str(ipaddress.IPv4Address(str(router_id).strip()))
        except ValueError:
            raise RouteError(f"router id must be an IPv4 address, got {router_id!r}") from None
        opts = NeighborOptions.parse(options)
        neighbor = self.neighbors.get(key)
        if neighbor is None:
            if len(self.neighbors) >= self.limits.neighbors:
                log.warning("BGP neighbor %s refused: at most %d neighbors "
                            "(flowrt.bgp.neighbors.max)", key, self.limits.neighbors)
                return False
            self.neighbors[key] = Neighbor(key, asn, ident, opts, listener)
            return True
        changed = (neighbor.local_as, neighbor.router_id, neighbor.options) != (asn, ident, opts)
        neighbor.local_as, neighbor.router_id, neighbor.options = asn, ident, opts
        neighbor.listener = listener
        if changed and neighbor.session is not None:
            neighbor.session.close(wire.CEASE, 6)  # other configuration change
        elif neighbor.established and listener is not None:
            listener(key, True)
        return True

    def remove_neighbor(self, router: Any) -> bool:
        neighbor = self.neighbors.pop(router_key(router), None)
        if neighbor is None:
            return False
        if neighbor.session is not None:
            neighbor.session.close(wire.CEASE, wire.PEER_DECONFIGURED)
        return True

    def _neighbor(self, router: Any) -> Neighbor | None:
        try:
            return self.neighbors.get(router_key(router))
        except RouteError:
            return None

    # --- routes and flow rules (loop) ---------------------------------------------------------
    def add_route(self, router: Any, spec: Any) -> bool:
        """Install and announce; replaces a route for the same prefix. False for an unknown
        neighbor or a full table; a bad definition raises RouteError."""
        neighbor = self._neighbor(router)
        if neighbor is None:
            return False
        try:
            route = parse_route(spec)
        except RouteError:
            self.counters.routes_refused += 1
            raise
        if route.prefix not in neighbor.routes and len(neighbor.routes) >= self.limits.routes:
            self.counters.routes_refused += 1
            log.warning("BGP %s: route %s refused: at most %d routes (flowrt.bgp.routes.max)",
                        neighbor.router, route.prefix, self.limits.routes)
            return False
        if neighbor.routes.get(route.prefix) == route:
            return True
        neighbor.routes[route.prefix] = route
        if neighbor.session is not None:
            neighbor.session.route_added(route)
        return True

    def remove_route(self, router: Any, prefix: Any) -> bool:
        neighbor = self._neighbor(router)
        if neighbor is None:
            return False
        network = parse_prefix(prefix)
        if neighbor.routes.pop(network, None) is None:
            return False
        if neighbor.session is not None:
            neighbor.session.route_removed(network)
        return True

    def add_flow(self, router: Any, spec: Any) -> bool:
        neighbor = self._neighbor(router)
        if neighbor is None:
            return False
        try:
            rule = parse_flow(spec)
        except RouteError:
            self.counters.flows_refused += 1
            raise
        key = (rule.version, rule.nlri)
        if key not in neighbor.flows and len(neighbor.flows) >= self.limits.flows:
            self.counters.flows_refused += 1
            log.warning("BGP %s: flow rule refused: at most %d rules (flowrt.bgp.flows.max)",
                        neighbor.router, self.limits.flows)
            return False
        old = neighbor.flows.get(key)
        if old is not None and (old.attributes, old.nexthop) == (rule.attributes, rule.nexthop):
            return True
        neighbor.flows[key] = rule
        if neighbor.session is not None:
            neighbor.session.flow_added(rule)
        return True

    def remove_flow(self, router: Any, spec: Any) -> bool:
        neighbor = self._neighbor(router)
        if neighbor is None:
            return False
        rule = neighbor.flows.pop(match_key(spec), None)
        if rule is None:
            return False
        if neighbor.session is not None:
            neighbor.session.flow_removed(rule)
        return True

    def route_count(self, router: Any) -> int:
        neighbor = self._neighbor(router)
        return 0 if neighbor is None else len(neighbor.routes)

    def flow_count(self, router: Any) -> int:
        neighbor = self._neighbor(router)
        return 0 if neighbor is None else len(neighbor.flows)

    # --- views (loop) ---------------------------------------------------------------------
    def neighbors_json(self) -> dict[str, dict[str, Any]]:
        """``/bgp/neighbors/json``: each router's configuration and session state."""
        out: dict[str, dict[str, Any]] = {}
        for key, neighbor in sorted(self.neighbors.items()):
            entry: dict[str, Any] = {
                "localAS": neighbor.local_as, "routerID": neighbor.router_id,
                "options": neighbor.options.to_json(), "routes": len(neighbor.routes),
                "flows": len(neighbor.flows), "state": "idle",
            }
            if neighbor.session is not None:
                entry.update(neighbor.session.to_json())
                if neighbor.session.last_error:
                    entry["lastError"] = neighbor.session.last_error
            out[key] = entry
        return out

    def routes_json(self, router: Any) -> list[dict[str, Any]] | None:
        neighbor = self._neighbor(router)
        if neighbor is None:
            return None
        return [route.to_json() for route in neighbor.routes.values()]

    def flows_json(self, router: Any) -> list[dict[str, Any]] | None:
        neighbor = self._neighbor(router)
        if neighbor is None:
            return None
        return [rule.to_json() for rule in neighbor.flows.values()]
