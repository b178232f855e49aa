"""Real name servers for the dns: tests: dnsmasq with PTR records, one that never answers,
and one that answers garbage. Each listens on a free UDP port of 127.0.0.1 (no fixed
names or ports, so concurrent runs do not collide); temporary files are prefixed frt-dns.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOCALHOST = "127.0.0.1"
PTR_RECORDS = {
    "8.8.8.8": "dns.google",
    "1.1.1.1": "one.one.one.one",
    "192.0.2.10": "web1.frt-dns.test",
    "2001:db8::53": "ns6.frt-dns.test",
}
"""address → name; every other address gets NXDOMAIN (dnsmasq is authoritative here)."""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def _reverse_name(address: str) -> str:
    import ipaddress

    return ipaddress.ip_address(address).reverse_pointer


@contextmanager
def dnsmasq(records: dict[str, str] = PTR_RECORDS) -> Iterator[tuple[str, int]]:
    """A dnsmasq answering ``records`` (PTR) on 127.0.0.1:<free port>."""
    binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not Path(binary).exists():
        raise RuntimeError("dnsmasq is not installed (packages.apt: dnsmasq-base)")
    with tempfile.TemporaryDirectory(prefix="frt-dns-") as tmp:
        for _attempt in range(5):
            port = free_udp_port()
            args = [
                binary, "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv",
                "--no-hosts", "--bind-interfaces", f"--listen-address={LOCALHOST}",
                f"--port={port}", f"--pid-file={tmp}/frt-dns.pid", "--no-dhcp-interface=lo",
                "--user=root", "--log-facility=-",
                # authoritative "no" for every other reverse name, without forwarding
                "--local=/in-addr.arpa/", "--local=/ip6.arpa/",
                *(f"--ptr-record={_reverse_name(a)},{n}" for a, n in records.items()),
            ]
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
            if _wait_answering(port, proc):
                try:
                    yield LOCALHOST, port
                finally:
                    proc.terminate()
                    try:
                        proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
                return
            proc.kill()
            proc.wait()
        raise RuntimeError("dnsmasq did not start on any free port")


def _wait_answering(port: int, proc: subprocess.Popen[str], timeout: float = 10.0) -> bool:
    import dns.message
    import dns.query

    deadline = time.monotonic() + timeout
    query = dns.message.make_query(_reverse_name("8.8.8.8"), "PTR")
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            dns.query.udp(query, LOCALHOST, port=port, timeout=0.5)
            return True
        except Exception:
            time.sleep(0.1)
    return False


@contextmanager
def silent_server() -> Iterator[tuple[str, int]]:
    """A UDP socket that receives queries and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOCALHOST, 0))
        yield LOCALHOST, int(sock.getsockname()[1])


@contextmanager
def garbage_server() -> Iterator[tuple[str, int]]:
    """A UDP server answering every query with bytes that are not a DNS message (but
    carry the query's id, so a resolver cannot simply ignore them as unrelated)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((LOCALHOST, 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            sock.sendto(data[:2] + b"\x81\x80\xff\xff garbage \x00\x01", peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield LOCALHOST, int(sock.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=2)
        sock.close()
