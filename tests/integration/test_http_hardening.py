"""Hostile input on the HTTP side against a real ``flowrt run`` (127.0.0.1, bounded waits).

Each test reproduces a defect seen on an exposed collector: catastrophic regular
expressions and globs that held the event loop (and then SIGTERM), half-sent request
heads that held file descriptors, a GET that defined flows in read-only mode, JSON
nesting that reached Python's recursion limit as a 500, a 405 without ``Allow``, and
write access without any credential. Every wait is bounded by a socket or HTTP timeout;
nothing asserts how long something took.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import requests
from traffic import Agent, Conversation

from flowrt.sflow import CounterSample, Datagram, encode_datagram
from flowrt.sflow.records.host import HostDescr

if TYPE_CHECKING:
    from flowrt_process import FlowrtProcess

Start = Callable[..., "FlowrtProcess"]
pytest_plugins = ["flowrt_process"]

LOCALHOST = "127.0.0.1"
ANSWER_TIMEOUT = 30.0
"""Bound on one request that used to hang for hours (a stalled loop): a failure, not a
measurement."""
SOCKET_TIMEOUT = 15.0
STUCK_PATTERN = "(.*.*.*)*x"
"""Takes Python's backtracking ``re`` minutes on a 14-character address; RE2 none."""
HOST_NAME = "a" * 60
STUCK_GLOB = "*a" * 14 + "*b"
"""``.*a.*a...b`` as a backtracking regex: C(60, 14) tries on a 60-character name."""
PAIR = {"keys": "ipsource,ipdestination", "value": "bytes"}
SOURCE = "10.100.200.255"


def get(server: FlowrtProcess, path: str, **params: str) -> requests.Response:
    return requests.get(server.url(path), params=params or None, timeout=ANSWER_TIMEOUT)


def send_traffic(server: FlowrtProcess) -> None:
    agent = Agent("192.0.2.10")
    conversation = Conversation(SOURCE, "10.0.0.2", 2_000_000.0)
    for _ in range(5):
        server.send(agent.interval(1.0, [conversation]))


def send_host_name(server: FlowrtProcess, name: str) -> None:
    host = HostDescr(name, bytes(16), 0, 0, "")
    sample = CounterSample(1, 2, 100000, [host])
    server.send([encode_datagram(Datagram("192.0.2.20", 0, 1, 1000, [sample]))])


# --- 1. patterns and globs run in linear time -----------------------------------------------
def test_catastrophic_patterns_and_globs_answer_and_the_server_still_stops(
        flowrt: Start) -> None:
    server = flowrt()
    assert server.put("/flow/pairs/json", PAIR).status_code == 204
    send_traffic(server)
    rows = server.wait_for("/activeflows/ALL/pairs/json", bool, 10)
    assert rows[0]["key"].startswith(SOURCE)

    # a query filter over the flow's keys
    answer = get(server, "/activeflows/ALL/pairs/json", filter=f"ipsource~{STUCK_PATTERN}")
    assert (answer.status_code, answer.json()) == (200, [])
    # a flow whose filter meets the traffic
    assert server.put("/flow/stuck/json", {**PAIR, "filter": f"ipsource~{STUCK_PATTERN}"}
                      ).status_code == 204
    send_traffic(server)
    assert get(server, "/activeflows/ALL/stuck/json").json() == []
    # the flow browser
    answer = get(server, "/flowrt/browse-flows/json", keys="ipsource", value="bytes",
                 filter=f"ipsource~{STUCK_PATTERN}")
    assert answer.status_code == 200
    # a metric glob against an agent-chosen host name
    send_host_name(server, HOST_NAME)
    server.wait_for("/metric/ALL/host_name/json", lambda rows: any(
        r.get("metricValue") == HOST_NAME for r in rows), 10)
    for path in ("/metric/ALL/host_name/json", "/dump/ALL/host_name/json"):
        answer = get(server, path, host_name=STUCK_GLOB)
        assert answer.status_code == 200
    matching = get(server, "/dump/ALL/host_name/json", host_name="*a*a").json()
    assert [row["metricValue"] for row in matching] == [HOST_NAME]
    # features RE2 lacks are refused with a reason
    answer = get(server, "/activeflows/ALL/pairs/json", filter="ipsource~(1)\\1")
    assert answer.status_code == 400
    assert "backreferences" in answer.json()["error"]
    assert get(server, "/version").status_code == 200
    assert server.stop() == 0


def test_catastrophic_filter_in_read_only_mode(flowrt: Start, tmp_path: Path) -> None:
    script = tmp_path / "pairs.js"
    script.write_text(f"setFlow('pairs', {json.dumps(PAIR)});\n")
    server = flowrt("-Dhttp.readonly=yes", f"-Dscript.file={script}")
    server.wait_for("/flow/json", lambda flows: "pairs" in flows, 10)
    send_traffic(server)
    server.wait_for("/activeflows/ALL/pairs/json", bool, 10)
    answer = get(server, "/activeflows/ALL/pairs/json", filter=f"ipsource~{STUCK_PATTERN}")
    assert (answer.status_code, answer.json()) == (200, [])
    assert server.stop() == 0


# --- stop signals ----------------------------------------------------------------------------
HELD_LOOP = """
import asyncio, sys, time
from flowrt.server import StopSignals

async def main():
    loop = asyncio.get_running_loop()
    signals = StopSignals(lambda: loop.call_soon_threadsafe(print, "never runs"),
                          grace=float(sys.argv[1]))
    signals.start()
    print("ready", flush=True)
    time.sleep(600)  # a handler that holds the loop: the loop never acts on a signal

asyncio.run(main())
"""


def held_loop(grace: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HELD_LOOP, str(grace)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def test_a_second_sigterm_ends_a_process_whose_loop_is_held() -> None:
    proc = held_loop(grace=600)
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.stderr is not None
        assert "SIGTERM received" in proc.stderr.readline()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(SOCKET_TIMEOUT) == 1
        assert "second stop signal" in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


def test_one_sigterm_ends_a_held_process_after_the_grace_period() -> None:
    proc = held_loop(grace=1)
    try:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(SOCKET_TIMEOUT) == 1
        assert proc.stderr is not None
        log = proc.stderr.read()
        assert "Timeout (" in log and "in main" in log  # every thread's stack, then exit
    finally:
        proc.kill()
        proc.wait()


def test_sigterm_stops_a_server_whose_stderr_pipe_was_closed(tmp_path: Path) -> None:
    """A supervisor that went away (its read end of the log pipe closed) must not leave
    the server deaf: the stop signal's log line used to raise BrokenPipeError in the
    signal thread, which then died before asking the loop to stop."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowrt.cli", "run", "-Dhttp.hostname=127.0.0.1",
         "-Dhttp.port=0", "-Dsflow.hostname=127.0.0.1", "-Dsflow.port=0"],
        cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:  # bounded: the process writes this line at start
            if "flowrt: listening sFlow" in line:
                break
        proc.stderr.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(SOCKET_TIMEOUT) == 0  # a clean stop, not the watchdog's exit
    finally:
        proc.kill()
        proc.wait()


# --- 2. slow clients -------------------------------------------------------------------------
HALF_HEAD = b"GET /version HTTP/1.1\r\nHost: t\r\nX-Slow: "
CAP = 20


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (bounded by the socket timeout)."""
    out = b""
    while chunk := sock.recv(4096):
        out += chunk
    return out


def test_half_sent_heads_are_closed_and_connections_over_the_cap_refused(
        flowrt: Start) -> None:
    server = flowrt(f"-Dhttp.connections.max={CAP}", "-Dhttp.header.timeout=1")
    slow = []
    try:
        for _ in range(CAP):
            sock = socket.create_connection((LOCALHOST, server.http_port), SOCKET_TIMEOUT)
            sock.sendall(HALF_HEAD)
            slow.append(sock)
        refused = []
        for _ in range(3):
            extra = socket.create_connection((LOCALHOST, server.http_port), SOCKET_TIMEOUT)
            refused.append(read_until_closed(extra))
            extra.close()
        assert all(answer.startswith(b"HTTP/1.1 503 ") for answer in refused)
        assert b"http.connections.max" in refused[0]
        # the server closes every half-sent head (recv sees the end, within the timeout)
        assert all(read_until_closed(sock) == b"" for sock in slow)
    finally:
        for sock in slow:
            sock.close()
    stats = server.wait_for("/analyzer/json", lambda a: a["httpConnections"] <= 1, 10)
    assert stats["httpConnectionsRefused"] == 3
    assert stats["httpHeaderTimeouts"] == CAP
    prometheus = get(server, "/prometheus/analyzer/txt").text
    assert "flowrt_http_header_timeouts_total 20" in prometheus
    # a flood makes a few log lines, not one per connection
    assert server.log.count("closed an HTTP connection") <= 6
    assert server.stop() == 0


# --- 3. read-only mode and the flow browser --------------------------------------------------
def test_no_get_changes_state_in_read_only_mode(flowrt: Start) -> None:
    server = flowrt("-Dhttp.readonly=yes")
    answer = get(server, "/flowrt/browse-flows/json", keys="ipsource", value="bytes")
    assert answer.status_code == 403
    assert "http.readonly" in answer.json()["error"]
    assert server.get_json("/flow/json") == {}
    assert server.stop() == 0


def test_the_flow_browser_never_replaces_a_users_flow(flowrt: Start) -> None:
    server = flowrt()
    mine = {"keys": "ipdestination", "value": "frames"}
    for name in ("flowrt_browse_1", "flowrt_browse_2"):
        assert server.put(f"/flow/{name}/json", mine).status_code == 204
    answer = get(server, "/flowrt/browse-flows/json", keys="ipsource", value="bytes")
    assert answer.status_code == 200
    flows = server.get_json("/flow/json")
    for name in ("flowrt_browse_1", "flowrt_browse_2"):
        assert (flows[name]["keys"], flows[name]["value"]) == ("ipdestination", "frames")
    browsed = [name for name, spec in flows.items() if spec["keys"] == "ipsource"]
    assert browsed == ["flowrt_browse_3"]
    assert server.stop() == 0


def test_rest_off(flowrt: Start) -> None:
    server = flowrt("-Dhttp.rest=no")
    for path in ("/version", "/flow/json", "/analyzer/json", "/api-docs",
                 "/prometheus/analyzer/txt", "/html/index.html", "/status"):
        assert get(server, path).status_code == 404, path
    assert server.put("/flow/pairs/json", PAIR).status_code == 404
    assert server.stop() == 0


# --- 4. errors that must be 4xx ---------------------------------------------------------------
def nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def test_deep_json_is_a_400_everywhere_and_405_says_allow(flowrt: Start,
                                                         tmp_path: Path) -> None:
    script = tmp_path / "echo.js"
    script.write_text("setHttpHandler(function (req) { return req.body; });\n")
    server = flowrt(f"-Dscript.file={script}")
    headers = {"Content-Type": "application/json"}
    answer = requests.put(server.url("/topology/json"), data=nested(500), headers=headers,
                          timeout=ANSWER_TIMEOUT)
    assert answer.status_code == 400
    assert "nested too deeply" in answer.json()["error"]
    answer = requests.post(server.url("/script/echo.js/json"), data="[" * 10000 + "]" * 10000,
                           headers=headers, timeout=ANSWER_TIMEOUT)
    assert answer.status_code == 400
    assert "nested too deeply" in answer.json()["error"]
    answer = requests.post(server.url("/script/echo.js/json"), data=nested(10), headers=headers,
                           timeout=ANSWER_TIMEOUT)
    assert (answer.status_code, answer.json()) == (200, json.loads(nested(10)))
    answer = requests.delete(server.url("/version"), timeout=ANSWER_TIMEOUT)
    assert answer.status_code == 405
    assert set(answer.headers["Allow"].split(",")) == {"GET", "HEAD"}
    assert server.stop() == 0


# --- 5. the access token ---------------------------------------------------------------------
def test_writes_need_the_token_reads_do_not(flowrt: Start) -> None:
    server = flowrt("-Dhttp.token=s3cret")
    url = server.url("/flow/pairs/json")
    answer = requests.put(url, json=PAIR, timeout=ANSWER_TIMEOUT)
    assert answer.status_code == 401
    assert "Authorization: Bearer" in answer.json()["error"]
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = {"Authorization": "Bearer nope"}
    assert requests.put(url, json=PAIR, headers=wrong, timeout=ANSWER_TIMEOUT
                        ).status_code == 401
    assert requests.delete(url, timeout=ANSWER_TIMEOUT).status_code == 401
    good = {"Authorization": "Bearer s3cret"}
    assert requests.put(url, json=PAIR, headers=good, timeout=ANSWER_TIMEOUT
                        ).status_code == 204
    assert server.get_json("/flow/pairs/json")["keys"] == PAIR["keys"]
    assert server.get_json("/analyzer/json")["httpUnauthorized"] == 3
    assert server.stop() == 0
