"""Receive sFlow datagrams from a UDP socket, and say honestly how many were lost.

sFlow rides on UDP without retransmission, so a collector that falls behind loses
datagrams inside the kernel, silently. Two defences live here: a receive buffer as
large as the system allows (bursts from many agents land in it while we are busy),
and the kernel's own count of datagrams dropped on this socket, read through the
``SO_RXQ_OVFL`` control message (Linux) on every receive, or from ``/proc/net/udp``
when idle, so loss is reported instead of guessed.

One :class:`UdpReceiver` serves both users: the CLI iterates it (blocking), the
server attaches it to its asyncio loop with :meth:`UdpReceiver.add_to_loop`, which
drains up to ``DRAIN_BATCH`` queued datagrams per readiness event (no per-datagram task
or future) and then lets the loop serve HTTP before it continues.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:  # asyncio costs a CLI tens of milliseconds to import; only the server needs it
    import asyncio

DEFAULT_PORT = 6343  # IANA "sflow"
DEFAULT_RCVBUF = 8 * 1024 * 1024
MAX_DATAGRAM = 65535
DRAIN_BATCH = 32
"""Datagrams handled per readiness event before yielding to the loop: an agent sending
faster than we ingest must not starve the HTTP API (the socket stays readable, so the
loop comes straight back after serving whatever else is ready)."""

# Linux socket options the socket module does not name (asm-generic/socket.h values;
# the few architectures with other numbers are not ones we run on).
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)  # exceeds rmem_max with CAP_NET_ADMIN
SO_RXQ_OVFL = getattr(socket, "SO_RXQ_OVFL", 40)  # ancillary u32: drops so far on the socket
_IS_LINUX = sys.platform.startswith("linux")
_CMSG_SPACE = socket.CMSG_SPACE(4) if _IS_LINUX else 0
_U32 = struct.Struct("=I")
_IPV4_MAPPED_PREFIX = "::ffff:"


class ReceivedDatagram(NamedTuple):
    """One datagram as it came off the socket."""

    receive_time: float  # seconds since the epoch
    source: str
    source_port: int
    payload: bytes


def open_udp_socket(
    hostname: str = "", port: int = DEFAULT_PORT, rcvbuf: int = DEFAULT_RCVBUF
) -> socket.socket:
    """A bound UDP socket with a large receive buffer.

    An empty ``hostname`` listens on every address, IPv4 and IPv6 alike (one dual-stack
    ``::`` socket, or ``0.0.0.0`` where IPv6 is unavailable); otherwise the name is
    resolved and the first address used.
    """
    if hostname:
        info = socket.getaddrinfo(hostname, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
        family, address = info[0][0], info[0][4]
    elif socket.has_ipv6:
        family, address = socket.AF_INET6, ("::", port)
    else:
        family, address = socket.AF_INET, ("0.0.0.0", port)
    try:
        sock = socket.socket(family, socket.SOCK_DGRAM)
    except OSError:
        if hostname:
            raise
        family, address = socket.AF_INET, ("0.0.0.0", port)
        sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6 and not hostname:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        _grow_receive_buffer(sock, rcvbuf)
        if _IS_LINUX:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


def _grow_receive_buffer(sock: socket.socket, size: int) -> None:
    """Ask for ``size`` bytes; privileged processes may exceed net.core.rmem_max."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
        return
    except OSError:
        pass
    with contextlib.suppress(OSError):  # the kernel caps it at rmem_max; keep what we get
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)


class UdpReceiver:
    """A bound UDP socket yielding :class:`ReceivedDatagram` values, with loss counters.

    ``kernel_drops`` is the socket's cumulative drop count as of the last datagram
    received (Linux ``SO_RXQ_OVFL``); :meth:`proc_drops` reads it at any time.
    """

    def __init__(
        self, hostname: str = "", port: int = DEFAULT_PORT, rcvbuf: int = DEFAULT_RCVBUF
    ) -> None:
        self.sock = open_udp_socket(hostname, port, rcvbuf)
        self.kernel_drops = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def address(self) -> tuple[str, int]:
        """(address, port) actually bound: useful when asked for port 0."""
        host, port = self.sock.getsockname()[:2]
        return host, port

    @property
    def receive_buffer(self) -> int:
        """Receive buffer size the kernel granted (Linux reports twice the usable bytes)."""
        return self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)

    def receive(self) -> ReceivedDatagram:
        """Wait for one datagram (or raise BlockingIOError on a non-blocking socket)."""
        if _IS_LINUX:
            payload, ancillary, _flags, peer = self.sock.recvmsg(MAX_DATAGRAM, _CMSG_SPACE)
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(data) >= 4:
                    self.kernel_drops = _U32.unpack_from(data)[0]
        else:
            payload, peer = self.sock.recvfrom(MAX_DATAGRAM)
        source = peer[0]
        if source.startswith(_IPV4_MAPPED_PREFIX):
            source = source[len(_IPV4_MAPPED_PREFIX) :]  # IPv4 agent on a dual-stack socket
        return ReceivedDatagram(time.time(), source, peer[1], payload)

    def __iter__(self) -> Iterator[ReceivedDatagram]:
        """Blocking iteration until the socket is closed."""
        while True:
            try:
                yield self.receive()
            except OSError:
                if self.sock.fileno() < 0:
                    return
                raise

    def add_to_loop(
        self, loop: asyncio.AbstractEventLoop, on_datagram: Callable[[ReceivedDatagram], None]
    ) -> None:
        """Call ``on_datagram`` on ``loop`` for every datagram, until :meth:`close`."""
        self.sock.setblocking(False)
        receive = self.receive

        def drain() -> None:
            for _ in range(DRAIN_BATCH):
                try:
                    datagram = receive()
                except (BlockingIOError, InterruptedError):
                    return
                on_datagram(datagram)

        loop.add_reader(self.sock.fileno(), drain)
        self._loop = loop

    def proc_drops(self) -> int | None:
        """The socket's drop count from /proc/net/udp{,6}, or None where unavailable."""
        if not _IS_LINUX or self.sock.fileno() < 0:
            return None
        inode = str(os.fstat(self.sock.fileno()).st_ino)
        for table in ("/proc/net/udp", "/proc/net/udp6"):
            try:
                with open(table) as lines:
                    next(lines)  # header
                    for line in lines:
                        fields = line.split()
                        if len(fields) >= 13 and fields[9] == inode:
                            return int(fields[-1])  # the last column is "drops"
            except OSError:
                continue
        return None

    def close(self) -> None:
        if self._loop is not None and self.sock.fileno() >= 0:
            self._loop.remove_reader(self.sock.fileno())
            self._loop = None
        self.sock.close()

    def __enter__(self) -> UdpReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
