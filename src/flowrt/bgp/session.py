"""One BGP session with a router that connected to the speaker.

The speaker is passive: the router opens the TCP connection (to ``bgp.port``), both
sides send OPEN, each confirms with KEEPALIVE, and the session is Established. Then the
speaker announces every route and flow rule installed for this neighbor, followed by an
End-of-RIB marker per family, and from then on sends each change as it is made.

Timers: the hold time is the smaller of ours and the router's (0 = none); KEEPALIVE
goes every third of it; a session that hears nothing for the hold time is closed with
a "hold timer expired" NOTIFICATION. Before Established, a router gets
:data:`OPEN_WAIT` seconds to send its OPEN and KEEPALIVE.

Anything malformed from the router (bad marker or length, unknown type, a bad OPEN, an
UPDATE whose lengths do not add up, a second OPEN) is answered with the NOTIFICATION
that names the fault and the connection is closed; the neighbor stays configured and
its routes stay installed for when the router connects again. All of this runs on the
engine's loop; :meth:`Session.send` never waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from flowrt.bgp import wire
from flowrt.bgp.updates import (
    SessionParams,
    announce_flow,
    announce_route,
    flow_family,
    route_family,
    withdraw_flow,
    withdraw_route,
)
from flowrt.bgp.wire import Family, MessageError

if TYPE_CHECKING:
    from flowrt.bgp.counters import BgpCounters
    from flowrt.bgp.flowspec import FlowRule
    from flowrt.bgp.routes import IPNetwork, Route
    from flowrt.bgp.speaker import Neighbor

log = logging.getLogger("flowrt.bgp")

OPEN_WAIT = 30.0
"""Seconds a connected router has to complete OPEN and its KEEPALIVE."""
MAX_SEND_BUFFER = 4 * 1024 * 1024
"""Bytes queued for a router that does not read before the session is dropped."""

IDLE, OPEN_SENT, OPEN_CONFIRM, ESTABLISHED, CLOSED = (
    "idle", "opensent", "openconfirm", "established", "closed")


class _HoldExpired(Exception):
    pass


class Session:
    """One TCP connection to one neighbor (see the module docstring)."""

    def __init__(self, neighbor: Neighbor, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, counters: BgpCounters, hold_time: int,
                 on_state: Callable[[Session, bool], None]) -> None:
        self.neighbor = neighbor
        self.reader = reader
        self.writer = writer
        self.counters = counters
        self.hold_time = hold_time
        self.on_state = on_state
        self.state = IDLE
        self.peer_as = 0
        self.peer_id = ""
        self.families: set[Family] = set()
        self.params = SessionParams(neighbor.local_as, True, True)
        self.established_at = 0.0
        self.messages_sent = 0
        self.messages_received = 0
        self.last_error = ""
        self._keepalive_task: asyncio.Task[None] | None = None

    # --- sending (loop thread, never blocks) ---------------------------------------------
    def send(self, message: bytes) -> None:
        if self.state == CLOSED or self.writer.is_closing():
            return
        if self.writer.transport.get_write_buffer_size() > MAX_SEND_BUFFER:
            self.last_error = "router stopped reading"
            self.close()
            return
        self.writer.write(message)
        self.messages_sent += 1
        if message[18] == wire.UPDATE:
            self.counters.updates_sent += 1
        elif message[18] == wire.NOTIFICATION:
            self.counters.notifications_sent += 1

    def route_added(self, route: Route) -> None:
        if self.state == ESTABLISHED and route_family(route.prefix) in self.families:
            self.send(announce_route(route, self.params))

    def route_removed(self, prefix: IPNetwork) -> None:
        if self.state == ESTABLISHED and route_family(prefix) in self.families:
            self.send(withdraw_route(prefix))

    def flow_added(self, rule: FlowRule) -> None:
        if self.state == ESTABLISHED and flow_family(rule) in self.families:
            self.send(announce_flow(rule, self.params))

    def flow_removed(self, rule: FlowRule) -> None:
        if self.state == ESTABLISHED and flow_family(rule) in self.families:
            self.send(withdraw_flow(rule))

    def advertise_all(self, only: Family | None = None) -> None:
        """Every installed route and rule (of one family), then End-of-RIB markers."""
        for route in list(self.neighbor.routes.values()):
            if only is None or route_family(route.prefix) == only:
                self.route_added(route)
        for rule in list(self.neighbor.flows.values()):
            if only is None or flow_family(rule) == only:
                self.flow_added(rule)
        for family in sorted(self.families):
            if only is None or family == only:
                self.send(wire.end_of_rib(family))

    def close(self, code: int | None = None, subcode: int = 0, data: bytes = b"") -> None:
        """Send a NOTIFICATION (when ``code`` is given) and close the connection."""
        if self.state == CLOSED:
            return
        if code is not None:
            self.send(wire.notification(code, subcode, data))
        was_up = self.state == ESTABLISHED
        self.state = CLOSED
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
        self.writer.close()
        if was_up:
            self.on_state(self, False)

    # --- the session's task ----------------------------------------------------------------
    async def run(self) -> None:
        router = self.neighbor.router
        try:
            self.send(wire.Open(self.neighbor.local_as, self.hold_time, self.neighbor.router_id,
                                self.neighbor.families(), as4=True).encode())
            self.state = OPEN_SENT
            await self._open_phase()
            while self.state == ESTABLISHED:
                kind, body = await self._read(self._hold or None)
                self._handle(kind, body)
        except MessageError as err:
            self.counters.malformed_messages += 1
            self.last_error = f"malformed message: {err}"
            log.warning("BGP %s: %s; sent NOTIFICATION %s", router, err,
                        wire.describe_error(err.code, err.subcode))
            self.close(err.code, err.subcode, err.data)
        except _HoldExpired:
            self.last_error = "hold timer expired"
            log.warning("BGP %s: hold timer expired", router)
            self.close(wire.HOLD_EXPIRED, 0)
        except (asyncio.IncompleteReadError, ConnectionError, OSError) as err:
            if self.state != CLOSED:
                self.last_error = self.last_error or f"connection lost: {err or 'closed'}"
                log.info("BGP %s: connection closed by the router", router)
        finally:
            self.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()

    @property
    def _hold(self) -> float:
        return float(self.hold_time)

    async def _read(self, timeout: float | None) -> tuple[int, bytes]:
        try:
            header = await asyncio.wait_for(self.reader.readexactly(wire.HEADER_LEN), timeout)
            length, kind = wire.parse_header(header)
            body = await asyncio.wait_for(
                self.reader.readexactly(length - wire.HEADER_LEN), timeout)
        except TimeoutError:
            raise _HoldExpired() from None
        self.messages_received += 1
        return kind, body

    async def _open_phase(self) -> None:
        deadline = time.monotonic() + OPEN_WAIT
        kind, body = await self._read(OPEN_WAIT)
        if kind == wire.NOTIFICATION:
            self._notified(body)
        if kind != wire.OPEN:
            raise MessageError(wire.FSM_ERROR, 1, f"expected OPEN, got {wire.MESSAGE_NAMES[kind]}")
        peer = wire.decode_open(body)
        self.peer_as, self.peer_id = peer.asn, peer.identifier
        self.hold_time = min(self.hold_time, peer.hold_time)
        offered = peer.families or {wire.IPV4_UNICAST}
        self.families = self.neighbor.families() & offered
        self.params = SessionParams(self.neighbor.local_as, peer.asn == self.neighbor.local_as,
                                    peer.as4)
        self.send(wire.keepalive())
        self.state = OPEN_CONFIRM
        kind, body = await self._read(max(0.1, deadline - time.monotonic()))
        if kind == wire.NOTIFICATION:
            self._notified(body)
        if kind != wire.KEEPALIVE:
            raise MessageError(wire.FSM_ERROR, 2,
                               f"expected KEEPALIVE, got {wire.MESSAGE_NAMES[kind]}")
        self.state = ESTABLISHED
        self.established_at = time.time()
        if self.hold_time:
            self._keepalive_task = asyncio.get_running_loop().create_task(self._keepalives())
        self.on_state(self, True)
        self.advertise_all()

    def _notified(self, body: bytes) -> None:
        self.counters.notifications_received += 1
        code, subcode, _ = wire.decode_notification(body)
        self.last_error = f"router sent NOTIFICATION {wire.describe_error(code, subcode)}"
        log.warning("BGP %s: %s", self.neighbor.router, self.last_error)
        raise ConnectionResetError(self.last_error)

    def _handle(self, kind: int, body: bytes) -> None:
        if kind == wire.KEEPALIVE:
            return
        if kind == wire.UPDATE:
            self.counters.updates_received += 1
            wire.check_update(body)
        elif kind == wire.NOTIFICATION:
            self._notified(body)
        elif kind == wire.ROUTE_REFRESH:
            family = wire.decode_route_refresh(body)
            if family in self.families:
                self.advertise_all(family)
        else:  # a second OPEN
            raise MessageError(wire.FSM_ERROR, 3, f"unexpected {wire.MESSAGE_NAMES[kind]}")

    async def _keepalives(self) -> None:
        interval = self.hold_time / 3
        while self.state == ESTABLISHED:
            await asyncio.sleep(interval)
            self.send(wire.keepalive())

    def to_json(self) -> dict[str, object]:
        return {
            "state": self.state, "peerAS": self.peer_as, "peerID": self.peer_id,
            "holdTime": self.hold_time, "ibgp": self.params.ibgp,
            "families": sorted(wire.FAMILY_NAMES.get(f, str(f)) for f in self.families),
            "uptime": int(time.time() - self.established_at) if self.established_at else 0,
            "messagesSent": self.messages_sent, "messagesReceived": self.messages_received,
        }
