"""Hostile HTTP clients against a real ``flowrt run`` (127.0.0.1 only, every wait bounded).

What an operator exposing port 8008 worries about: clients that hold connections
(slowloris, hundreds of long-polls, polls abandoned mid-wait), oversized or malformed
requests (huge headers and bodies, invalid UTF-8, pipelined garbage) and, with
``http.readonly=yes``, any request that could still change state. The server must keep
answering everyone else promptly, refuse with a 4xx instead of hanging, and keep its
memory bounded (VmRSS from /proc/<pid>/status).
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest
import requests

from flowrt.web.openapi import ENDPOINTS

if TYPE_CHECKING:
    from flowrt_process import FlowrtProcess

Start = Callable[..., "FlowrtProcess"]
pytest_plugins = ["flowrt_process"]  # the ``flowrt`` fixture (see flowrt_process.flowrt)

LOCALHOST = "127.0.0.1"
PROMPT_SECONDS = 0.5
"""Longest acceptable answer to a small GET while hostile clients are connected."""
SOCKET_TIMEOUT = 5.0
CONCURRENT_POLLS = 200
ABANDONED_POLLS = 1000
POLL_RSS_LIMIT_KIB = 32 * 1024
ABANDON_GROWTH_LIMIT_KIB = 8 * 1024
"""RSS growth allowed between the first and the last round of abandoned polls: released
polls leave nothing behind, so any steady growth is a leak."""
SLOWLORIS_CLIENTS = 100
STATUS_LINE = re.compile(rb"HTTP/1\.[01] (\d{3}) ")
"""A status line; pipelined responses follow each other's bodies with no separator."""
PAIR = {"keys": "ipsource,ipdestination", "value": "bytes"}
POLL = b"GET /events/json?thresholdID=nosuch&timeout=30 HTTP/1.1\r\nHost: t\r\n\r\n"


# --- helpers -------------------------------------------------------------------------------
def connect(server: FlowrtProcess) -> socket.socket:
    return socket.create_connection((LOCALHOST, server.http_port), timeout=SOCKET_TIMEOUT)


@contextmanager
def connections(server: FlowrtProcess, count: int) -> Iterator[list[socket.socket]]:
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            socks.append(connect(server))
        yield socks
    finally:
        for sock in socks:
            sock.close()


def read_all(sock: socket.socket, limit: float = SOCKET_TIMEOUT) -> bytes:
    """Everything the server sends until it closes the connection (bounded in time)."""
    sock.settimeout(limit)
    chunks: list[bytes] = []
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def statuses(raw: bytes) -> list[int]:
    """Status codes of every HTTP/1.x response in ``raw``, in order (aiohttp answers a
    request it could not parse as HTTP/1.0)."""
    return [int(code) for code in STATUS_LINE.findall(raw)]


def read_head(sock: socket.socket, limit: float = SOCKET_TIMEOUT) -> bytes:
    """The first response's head (for a server that keeps reading our request body)."""
    sock.settimeout(limit)
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        if not chunk:
            break
        raw += chunk
    return raw


def slowest_answer(server: FlowrtProcess, count: int = 20) -> float:
    """The worst latency of ``count`` small GETs (each checked to be a real answer)."""
    worst = 0.0
    session = requests.Session()
    for _ in range(count):
        started = time.monotonic()
        response = session.get(server.url("/analyzer/json"), timeout=SOCKET_TIMEOUT)
        worst = max(worst, time.monotonic() - started)
        assert response.status_code == 200 and "uptime" in response.json()
    return worst


def refused_json(response: requests.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    message = response.json()["error"]
    assert isinstance(message, str) and message
    return message


# --- connection hogs -----------------------------------------------------------------------
def test_200_long_polls_leave_the_server_responsive(flowrt: Start) -> None:
    server = flowrt()
    baseline = server.rss_kib()
    with connections(server, CONCURRENT_POLLS) as polls:
        for sock in polls:
            sock.sendall(POLL)
        time.sleep(0.5)
        for sock in polls[:5]:  # parked, not answered
            sock.settimeout(0.05)
            with pytest.raises(TimeoutError):
                sock.recv(1)
        worst = slowest_answer(server)
        growth = server.rss_kib() - baseline
        print(f"{CONCURRENT_POLLS} parked polls: worst GET {worst * 1000:.0f} ms,"
              f" RSS +{growth} kB")
        assert worst < PROMPT_SECONDS
        assert growth < POLL_RSS_LIMIT_KIB
        # news releases them all at once
        assert server.put("/flow/pair/json", PAIR).status_code == 204
        assert server.put("/threshold/nosuch/json",
                          {"metric": "ifinoctets", "value": -1}).status_code == 204
    assert server.alive()


def abandon_polls(server: FlowrtProcess, count: int) -> None:
    for _ in range(count):
        with connect(server) as sock:
            sock.sendall(POLL)


def test_abandoned_long_polls_do_not_accumulate(flowrt: Start) -> None:
    """1,000 clients that hang up mid-poll, three times over: memory and latency flat."""
    server = flowrt()
    abandon_polls(server, ABANDONED_POLLS)
    time.sleep(2.0)  # released within DISCONNECT_CHECK_SECONDS
    first = server.rss_kib()
    for _ in range(2):
        abandon_polls(server, ABANDONED_POLLS)
    time.sleep(2.0)
    growth = server.rss_kib() - first
    worst = slowest_answer(server)
    print(f"{3 * ABANDONED_POLLS} abandoned polls: RSS +{growth} kB after the first"
          f" {ABANDONED_POLLS}, worst GET {worst * 1000:.0f} ms")
    assert growth < ABANDON_GROWTH_LIMIT_KIB
    assert worst < PROMPT_SECONDS
    assert server.alive()


def test_slowloris_clients_do_not_starve_others(flowrt: Start) -> None:
    server = flowrt()
    with connections(server, SLOWLORIS_CLIENTS) as hogs:
        for sock in hogs:
            sock.sendall(b"GET /analyzer/json HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        for _ in range(5):  # dribble one byte each, for a while
            for sock in hogs:
                sock.sendall(b"a")
            assert slowest_answer(server, 5) < PROMPT_SECONDS
            time.sleep(0.2)
        # a completed slow request is then served normally
        hogs[0].sendall(b"\r\nConnection: close\r\n\r\n")
        assert statuses(read_all(hogs[0])) == [200]
    assert server.alive()


# --- oversized and malformed requests ------------------------------------------------------
def test_huge_headers_are_refused_not_hung(flowrt: Start) -> None:
    server = flowrt()
    cases = [
        b"GET /analyzer/json HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n",
        b"GET /analyzer/json HTTP/1.1\r\nHost: t\r\n"
        + b"".join(b"X-%d: 1\r\n" % i for i in range(20_000)) + b"\r\n",
        b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: t\r\n\r\n",
    ]
    for raw in cases:
        with connect(server) as sock:
            started = time.monotonic()
            sock.sendall(raw)
            answer = read_all(sock)
            codes = statuses(answer)
            assert codes and 400 <= codes[0] < 500, answer[:200]
            assert time.monotonic() - started < 5  # refused at once, not after a read timeout
    assert slowest_answer(server, 5) < PROMPT_SECONDS
    assert server.alive()


def test_huge_bodies_are_413_json(flowrt: Start) -> None:
    server = flowrt()
    url = server.url("/map/m/json")
    big = b'{"a": ["' + b"1" * (2 * 1024 * 1024) + b'"]}'
    assert "too large" in refused_json(requests.put(url, data=big, timeout=10), 413)

    def chunks() -> Iterator[bytes]:  # chunked: no Content-Length to refuse up front
        yield b'{"a": ["'
        for _ in range(64):
            yield b"1" * 65536
        yield b'"]}'

    assert "too large" in refused_json(requests.put(url, data=chunks(), timeout=10), 413)
    with connect(server) as sock:  # 10 GB announced, one byte sent: answered at once
        started = time.monotonic()
        sock.sendall(b"PUT /map/m/json HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000000"
                     b"\r\n\r\n{")
        answer = read_head(sock)
        assert statuses(answer) == [413] and b"Connection: close" in answer
        assert time.monotonic() - started < 5  # at once, not after waiting for 10 GB
    assert server.get_json("/map/json") == {}
    assert server.alive()


def test_invalid_utf8_in_path_query_and_body(flowrt: Start) -> None:
    server = flowrt()
    with connect(server) as sock:
        sock.sendall(b"GET /flow/\xff\xfe/json HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        answer = read_all(sock)
        codes = statuses(answer)
        assert codes and 400 <= codes[0] < 500, answer[:200]
    response = requests.get(server.url("/activeflows/ALL/pair/json?maxFlows=%ff%fe"), timeout=10)
    assert response.status_code in (400, 404)
    assert response.headers["Content-Type"].startswith("application/json")
    assert "not UTF-8" in refused_json(
        requests.put(server.url("/flow/f/json"), data=b'{"keys": "\xff", "value": "bytes"}',
                     timeout=10), 400)
    assert server.get_json("/flow/json") == {}
    assert server.alive()


def test_pipelined_requests_and_garbage(flowrt: Start) -> None:
    server = flowrt()
    get = b"GET /analyzer/json HTTP/1.1\r\nHost: t\r\n\r\n"
    with connect(server) as sock:  # three pipelined requests: three answers, in order
        sock.sendall(get + b"GET /nosuch HTTP/1.1\r\nHost: t\r\n\r\n" + get[:-2]
                     + b"Connection: close\r\n\r\n")
        assert statuses(read_all(sock)) == [200, 404, 200]
    with connect(server) as sock:  # a good request, then garbage: answered, then refused
        sock.sendall(get)
        assert statuses(read_head(sock)) == [200]
        sock.sendall(b"\x00\x01\x02 garbage \xff\r\n\r\n")
        codes = statuses(read_all(sock))
        assert len(codes) == 1 and 400 <= codes[0] < 500, codes
    with connect(server) as sock:  # both in one packet: aiohttp refuses the lot (400)
        sock.sendall(get + b"\x00\x01\x02 garbage \xff\r\n\r\n")
        codes = statuses(read_all(sock))
        assert codes and all(code == 200 or 400 <= code < 500 for code in codes), codes
    for garbage in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(64),  # TLS hello
                    b"\r\n" * 1000, b"GET / HTTP/9.9\r\n\r\n", b"GET\r\n\r\n"):
        with connect(server) as sock:
            sock.sendall(garbage)
            answer = read_all(sock, 3.0)
            codes = statuses(answer)
            assert not codes or (400 <= codes[0] < 600 and codes[0] != 500), answer[:200]
    assert slowest_answer(server, 5) < PROMPT_SECONDS
    assert server.alive()


LOGGED_WITH_TRACEBACK = (
    b"GET / HTTP/9.9\r\n\r\n",
    b"GET /flow/\xff\xfe/json HTTP/1.1\r\nHost: t\r\n\r\n",
    b"GET / HTTP/1.1\r\nX: " + b"a" * 100_000 + b"\r\n\r\n",
)


def test_malformed_requests_do_not_put_tracebacks_in_the_log(flowrt: Start) -> None:
    server = flowrt()
    for raw in LOGGED_WITH_TRACEBACK:
        with connect(server) as sock:
            sock.sendall(raw)
            assert statuses(read_all(sock, 2.0))[0] == 400
    time.sleep(0.3)
    assert "Traceback" not in server.log


# --- read-only mode ------------------------------------------------------------------------
MUTATING = ("PUT", "POST", "DELETE", "PATCH", "PROPPATCH", "MKCOL")
"""Methods aiohttp's parser knows (an invented one such as FOO is refused by the parser
with 400 before any route sees it)."""
SCRIPT_ROUTES = ("/script/s.js/x", "/app/a/scripts/s.js/x")
"""Script and app handlers accept any method: read-only must cover them too."""


def concrete(path: str) -> str:
    return (path.replace("{agent}", "ALL").replace("{metric}", "ifinoctets")
            .replace("{name}", "n"))


def test_readonly_blocks_every_mutating_method_on_every_route(flowrt: Start) -> None:
    server = flowrt("-Dhttp.readonly=yes")
    session = requests.Session()
    paths = sorted({concrete(ep.path) for ep in ENDPOINTS} | set(SCRIPT_ROUTES))
    body = json.dumps(PAIR)
    for path in paths:
        for method in MUTATING:
            response = session.request(method, server.url(path), data=body, timeout=10)
            message = refused_json(response, 403)
            assert "read-only" in message and method in message
    for kind in ("flow", "threshold", "group", "map"):
        assert server.get_json(f"/{kind}/json") == {}
    assert server.get_json("/analyzer/json")["sFlowDatagramsReceived"] == 0
    assert server.alive()
