"""The BGP speaker against real routers: FRR and BIRD learn a blackhole route and a
FlowSpec rule from a FlowRT app that reacts to a flood, keep the session when they are
withdrawn, re-learn them after a restart; a hostile peer gets a NOTIFICATION.

The app (tests/data/apps/bgp-mitigate) does what InMon's ddos-protect does: a threshold
on a flow, an event that calls bgpAddRoute (community 65535:666) and bgpAddFlow
(traffic-rate 0), and release with bgpRemoveRoute/bgpRemoveFlow once the threshold
re-arms. The flood is generated sFlow (a simulated agent) sent to FlowRT's UDP port.
Every assertion reads the routers' own views (vtysh, birdc). Needs root (namespaces).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from bgp_routers import ASN, Bird, Frr, Namespace, require_tools, wait_until
from flowrt_process import FlowrtProcess, flowrt  # noqa: F401  (fixture)
from traffic import Agent, Conversation

from conftest import REPO_ROOT

APP = REPO_ROOT / "tests" / "data" / "apps" / "bgp-mitigate"
TARGET = "10.99.9.66"
FRR_NS = Namespace("frt-bgp-frr", "frt-bgp-vf", "10.99.14.1", "10.99.14.2")
BIRD_NS = Namespace("frt-bgp-bird", "frt-bgp-vb", "10.99.15.1", "10.99.15.2")
BGP_PORT = re.compile(r"Listening, BGP port (\d+)")
WAIT = 30.0

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def bgp_port(process: FlowrtProcess) -> int:
    for line in process.stderr_lines:
        match = BGP_PORT.search(line)
        if match:
            return int(match[1])
    raise AssertionError(f"no BGP port line in: {process.log}")


class Flood:
    """A simulated sFlow agent reporting a TCP flood to TARGET:80 while running."""

    def __init__(self, udp_port: int) -> None:
        self.agent = Agent("10.99.14.2", sampling_rate=100)
        self.conv = Conversation("203.0.113.7", TARGET, 10_000_000, dport=80)
        self.port = udp_port
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while not self._stop.is_set():
                for datagram in self.agent.interval(0.25, [self.conv]):
                    sock.sendto(datagram, ("127.0.0.1", self.port))
                self._stop.wait(0.25)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)


@pytest.fixture
def lab(tmp_path: Path, flowrt: Callable[..., FlowrtProcess]  # noqa: F811
        ) -> Iterator[tuple[FlowrtProcess, Frr, Bird]]:
    require_tools()
    shutil.copytree(APP, tmp_path / "app" / APP.name)
    routers = f"{FRR_NS.ns_address},{BIRD_NS.ns_address},127.0.0.1"
    process = flowrt("-Dbgp.start=yes", "-Dbgp.port=0", f"-Dmitigate.routers={routers}",
                     "-Dflowrt.bgp.holdtime=9")
    port = bgp_port(process)
    # routers connect only once the app has declared them: a connection from an address
    # that is not (yet) a neighbor is refused, and a router may then back off for long
    process.wait_for("/bgp/neighbors/json",
                     lambda body: FRR_NS.ns_address in body and BIRD_NS.ns_address in body, WAIT)
    FRR_NS.create()
    BIRD_NS.create()
    frr = Frr(FRR_NS, tmp_path / "frr", port)
    bird = Bird(BIRD_NS, tmp_path / "bird", port)
    try:
        frr.start()
        bird.start()
        yield process, frr, bird
    finally:
        frr.stop()
        bird.stop()
        FRR_NS.delete()
        BIRD_NS.delete()


def frr_blackhole(frr: Frr) -> bool:
    text = frr.vtysh(f"show bgp ipv4 unicast {TARGET}/32")
    return "Community: blackhole" in text and "localpref 100" in text


def frr_flowspec(frr: Frr) -> bool:
    text = frr.vtysh("show bgp ipv4 flowspec detail")
    return (f"Destination Address {TARGET}/32" in text and "IP Protocol = 6" in text
            and "Destination Port = 80" in text and "FS:rate 0.000000" in text)


def bird_blackhole(bird: Bird) -> bool:
    return "BGP.community: (65535,666)" in bird.birdc(f"show route for {TARGET}/32 all")


def bird_flowspec(bird: Bird) -> bool:
    text = bird.birdc("show route table flowtab4 all")
    return (f"flow4 {{ dst {TARGET}/32; proto 6; dport 80; }}" in text
            and "(generic, 0x80060000, 0x0)" in text)


def test_mitigation_reaches_frr_and_bird_and_is_withdrawn_after_the_flood(
        lab: tuple[FlowrtProcess, Frr, Bird]) -> None:
    process, frr, bird = lab
    wait_until(lambda: frr.established() and bird.established(), WAIT,
               lambda: "sessions: " + frr.log() + bird.log() + process.log)
    neighbors = process.get_json("/bgp/neighbors/json")
    for router in (FRR_NS.ns_address, BIRD_NS.ns_address):
        assert neighbors[router]["state"] == "established"
        assert neighbors[router]["peerAS"] == ASN and neighbors[router]["ibgp"] is True
        assert set(neighbors[router]["families"]) == {"ipv4", "flowspec"}
    assert neighbors["127.0.0.1"]["state"] == "idle"

    assert process.udp_port is not None
    flood = Flood(process.udp_port)
    flood.start()
    try:
        wait_until(lambda: frr_blackhole(frr) and frr_flowspec(frr), WAIT, "FRR routes")
        wait_until(lambda: bird_blackhole(bird) and bird_flowspec(bird), WAIT, "BIRD routes")
        state = process.get_json("/app/bgp-mitigate/scripts/mitigate.js/state/json")
        assert state["controls"][0]["key"] == f"{TARGET},80"
        assert state["controls"][0]["route"][FRR_NS.ns_address] is True
        assert state["routers"][FRR_NS.ns_address] == {
            "up": True, "opens": 1, "closes": 0, "routes": 1, "flows": 1}
        routes = process.get_json(f"/bgp/routepusher/{FRR_NS.ns_address}/json")
        assert routes == [{"prefix": f"{TARGET}/32", "nexthop": "192.0.2.1", "origin": "IGP",
                           "localpref": 100, "communities": "65535:666"}]
        flows = process.get_json(f"/bgp/flowspec/{BIRD_NS.ns_address}/json")
        assert flows[0]["match"]["destination-port"] == "=80"

        # FRR restarts while the flood goes on: it reconnects and learns both again
        frr.stop()
        wait_until(lambda: process.get_json("/bgp/neighbors/json")[FRR_NS.ns_address]
                   ["state"] != "established", WAIT, "FlowRT to see FRR go")
        frr.start()
        wait_until(lambda: frr.established() and frr_blackhole(frr) and frr_flowspec(frr),
                   WAIT, "FRR to re-learn after its restart: " + frr.log())
        state = process.get_json("/app/bgp-mitigate/scripts/mitigate.js/state/json")
        assert state["routers"][FRR_NS.ns_address]["opens"] == 2
        assert state["routers"][FRR_NS.ns_address]["closes"] == 1
    finally:
        flood.stop()

    # the flood is over: the app withdraws, the routers forget, the sessions stay up
    wait_until(lambda: not frr_blackhole(frr) and not frr_flowspec(frr), WAIT, "FRR withdraw")
    wait_until(lambda: not bird_blackhole(bird) and not bird_flowspec(bird), WAIT,
               "BIRD withdraw")
    assert "Network not in table" in frr.vtysh(f"show bgp ipv4 unicast {TARGET}/32")
    assert "flow4" not in bird.birdc("show route table flowtab4 all")
    assert frr.established() and bird.established()
    analyzer = process.get_json("/analyzer/json")
    assert analyzer["bgpSessionsEstablished"] == 2
    assert analyzer["bgpSessionsOpened"] == 3 and analyzer["bgpSessionsClosed"] == 1
    assert analyzer["bgpUpdatesSent"] >= 12 and analyzer["bgpMalformedMessages"] == 0
    assert process.alive()


def _read_message(sock: socket.socket) -> tuple[int, bytes]:
    header = b""
    while len(header) < 19:
        chunk = sock.recv(19 - len(header))
        if not chunk:
            raise ConnectionError("closed")
        header += chunk
    length, kind = struct.unpack("!HB", header[16:19])
    body = b""
    while len(body) < length - 19:
        body += sock.recv(length - 19 - len(body))
    return kind, body


def test_a_hostile_peer_gets_a_notification_and_flowrt_keeps_running(
        tmp_path: Path, flowrt: Callable[..., FlowrtProcess]) -> None:  # noqa: F811
    shutil.copytree(APP, tmp_path / "app" / APP.name)
    process = flowrt("-Dbgp.start=yes", "-Dbgp.port=0", "-Dmitigate.routers=127.0.0.1")
    port = bgp_port(process)
    process.wait_for("/bgp/neighbors/json", lambda body: "127.0.0.1" in body, WAIT)
    open_body = struct.pack("!BHH4sB", 4, ASN, 90, socket.inet_aton("127.0.0.9"), 0)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        kind, _ = _read_message(sock)
        assert kind == 1  # FlowRT's OPEN first
        sock.sendall(b"\xff" * 16 + struct.pack("!HB", 19 + len(open_body), 1) + open_body)
        assert _read_message(sock)[0] == 4  # KEEPALIVE: our OPEN was accepted
        sock.sendall(b"\x00" * 16 + b"\x00\x13\x04")  # garbage: a marker of zeros
        kind, body = _read_message(sock)
        assert (kind, body[0], body[1]) == (3, 1, 1)  # NOTIFICATION header/not synchronized
        assert sock.recv(100) == b""  # and the connection is closed
    # an address that is no neighbor is refused with Cease / connection rejected
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.bind(("127.0.0.2", 0))
        sock.connect(("127.0.0.1", port))
        kind, body = _read_message(sock)
        assert (kind, body[0], body[1]) == (3, 6, 5)
    analyzer = process.wait_for("/analyzer/json",
                                lambda a: a["bgpConnectionsRejected"] == 1, WAIT)
    assert analyzer["bgpMalformedMessages"] == 1 and analyzer["bgpNotificationsSent"] == 2
    assert analyzer["bgpSessionsOpened"] == 0
    assert process.get_json("/bgp/neighbors/json")["127.0.0.1"]["lastError"].startswith(
        "malformed message")
    assert process.alive() and process.get("/version").status_code == 200
