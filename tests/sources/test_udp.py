"""The UDP receiver, with real datagrams over loopback."""

from __future__ import annotations

import asyncio
import socket
import sys
import time
from collections.abc import Iterator

import pytest

from conftest import testdata
from flowrt.sources.pcap import read_pcap
from flowrt.sources.udp import DEFAULT_RCVBUF, ReceivedDatagram, UdpReceiver

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux socket API")


def _ipv6_loopback_works() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


needs_ipv6 = pytest.mark.skipif(not _ipv6_loopback_works(), reason="no IPv6 loopback")


@pytest.fixture
def sender() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        yield s


@pytest.fixture
def sflow_payloads() -> list[bytes]:
    """Real sFlow datagrams to send (a missing capture is an error)."""
    path = testdata("ovs-netns.pcap")
    return [d.payload for d in read_pcap(path)][:20]


def _receive(receiver: UdpReceiver, timeout: float = 5.0) -> ReceivedDatagram:
    receiver.sock.settimeout(timeout)
    return receiver.receive()


def test_receives_payload_and_sender(sender: socket.socket, sflow_payloads: list[bytes]) -> None:
    with UdpReceiver("127.0.0.1", 0) as receiver:
        host, port = receiver.address
        assert host == "127.0.0.1" and port > 0
        before = time.time()
        for payload in sflow_payloads[:3]:
            sender.sendto(payload, (host, port))
        got = [_receive(receiver) for _ in range(3)]
    assert [d.payload for d in got] == sflow_payloads[:3]
    assert {(d.source, d.source_port) for d in got} == {sender.getsockname()}
    assert before - 1 <= got[0].receive_time <= time.time()


@needs_ipv6
def test_empty_hostname_is_dual_stack(sender: socket.socket) -> None:
    """IPv4 senders show as plain dotted quads, not ::ffff:-mapped addresses."""
    with UdpReceiver("", 0) as receiver, socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as v6:
        port = receiver.address[1]
        assert receiver.address[0] == "::"
        sender.sendto(b"from v4", ("127.0.0.1", port))
        first = _receive(receiver)
        v6.sendto(b"from v6", ("::1", port))
        second = _receive(receiver)
    assert (first.source, first.payload) == ("127.0.0.1", b"from v4")
    assert (second.source, second.payload) == ("::1", b"from v6")


@needs_ipv6
def test_ipv6_hostname() -> None:
    with UdpReceiver("::1", 0) as receiver, socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.sendto(b"x" * 1400, receiver.address)
        got = _receive(receiver)
    assert got.payload == b"x" * 1400 and got.source == "::1"


@linux_only
def test_receive_buffer_is_enlarged() -> None:
    with open("/proc/sys/net/core/rmem_max") as f:
        rmem_max = int(f.read())
    with UdpReceiver("127.0.0.1", 0) as receiver:
        granted = receiver.receive_buffer
    # Linux doubles the request for bookkeeping; unprivileged requests stop at rmem_max.
    assert granted >= 2 * min(DEFAULT_RCVBUF, rmem_max)
    with UdpReceiver("127.0.0.1", 0, rcvbuf=65536) as receiver:
        assert receiver.receive_buffer == 2 * 65536


@linux_only
def test_kernel_drops_are_reported(sender: socket.socket) -> None:
    """Overflow a tiny buffer: the next datagram carries the kernel's drop count."""
    with UdpReceiver("127.0.0.1", 0, rcvbuf=4096) as receiver:
        for _ in range(100):
            sender.sendto(bytes(1000), receiver.address)
        assert receiver.proc_drops() > 0
        receiver.sock.setblocking(False)
        drained = 0
        while True:
            try:
                receiver.receive()
            except BlockingIOError:
                break
            drained += 1
        sender.sendto(b"after", receiver.address)
        last = _receive(receiver)
        assert last.payload == b"after"
        assert receiver.kernel_drops == receiver.proc_drops() == 100 - drained


def test_asyncio_delivery(sender: socket.socket, sflow_payloads: list[bytes]) -> None:
    async def scenario() -> list[ReceivedDatagram]:
        loop = asyncio.get_running_loop()
        got: list[ReceivedDatagram] = []
        done = asyncio.Event()

        def on_datagram(datagram: ReceivedDatagram) -> None:
            got.append(datagram)
            if len(got) == len(sflow_payloads):
                done.set()

        receiver = UdpReceiver("127.0.0.1", 0)
        receiver.add_to_loop(loop, on_datagram)
        try:
            for payload in sflow_payloads:
                sender.sendto(payload, receiver.address)
            await asyncio.wait_for(done.wait(), 5)
        finally:
            receiver.close()
        assert receiver.sock.fileno() == -1
        return got

    got = asyncio.run(scenario())
    assert [d.payload for d in got] == sflow_payloads
    assert {d.source for d in got} == {"127.0.0.1"}


def test_blocking_iteration(sender: socket.socket) -> None:
    with UdpReceiver("127.0.0.1", 0) as receiver:
        receiver.sock.settimeout(5)
        for i in range(3):
            sender.sendto(bytes([i]) * 10, receiver.address)
        got = []
        for datagram in receiver:
            got.append(datagram.payload)
            if len(got) == 3:
                break
    assert got == [bytes([i]) * 10 for i in range(3)]


def test_port_in_use_raises_oserror() -> None:
    with UdpReceiver("127.0.0.1", 0) as first, pytest.raises(OSError):
        UdpReceiver("127.0.0.1", first.address[1])
