"""A real ``flowrt run`` process, driven the way sFlow-RT users drive sFlow-RT.

The process listens on free ports of 127.0.0.1 (``-Dhttp.port=0 -Dsflow.port=0``);
:meth:`FlowrtProcess.start` waits for its ``flowrt: listening ...`` line and reads the
real ports from it. Tests then send UDP datagrams to it and talk HTTP with
``requests``. Every wait has a timeout, and :meth:`FlowrtProcess.stop` always ends
the process (SIGTERM, then SIGKILL).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

READY = re.compile(r"flowrt: listening sFlow (?:udp \S+:(?P<udp>\d+)|file .*), http (?P<http>\S+)$")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
HTTP_TIMEOUT = 70.0
"""Longer than the longest long-poll (60 s) so a poll that times out is not an error."""
LOCALHOST = "127.0.0.1"


class FlowrtProcess:
    """One ``flowrt run`` child process; ``stderr_lines`` collects its log as it runs."""

    def __init__(self, workdir: Path, *properties: str) -> None:
        self.workdir = workdir
        self.args = [
            sys.executable, "-m", "flowrt.cli", "run",
            f"-Dhttp.hostname={LOCALHOST}", "-Dhttp.port=0",
            f"-Dsflow.hostname={LOCALHOST}", "-Dsflow.port=0", *properties,
        ]
        self.proc: subprocess.Popen[str] | None = None
        self.stderr_lines: list[str] = []
        self.http_port = 0
        self.udp_port: int | None = None
        self._ready = threading.Event()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> FlowrtProcess:
        env = {k: v for k, v in os.environ.items()
               if k != "RTPROP" and not k.startswith("FLOWRT_")}
        self.proc = subprocess.Popen(
            self.args, cwd=self.workdir, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        threading.Thread(target=self._read_stderr, daemon=True).start()
        if not self._ready.wait(START_TIMEOUT) or not self.http_port:
            self.stop()
            raise AssertionError(f"flowrt did not start: {''.join(self.stderr_lines)}")
        return self

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line)
            match = READY.search(line.rstrip("\n"))
            if match and not self._ready.is_set():
                self.http_port = int(match["http"].rsplit(":", 1)[1])
                self.udp_port = int(match["udp"]) if match["udp"] else None
                self._ready.set()
        self._ready.set()  # the process ended: release a waiting start()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit status."""
        self._sock.close()
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        return self.proc.returncode

    @property
    def log(self) -> str:
        return "".join(self.stderr_lines)

    def wait_log(self, text: str, timeout: float) -> str:
        """The first log line containing ``text``, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            for line in list(self.stderr_lines):
                if text in line:
                    return line.strip()
            if time.monotonic() > deadline:
                raise AssertionError(f"no log line with {text!r} in {timeout} s: {self.log}")
            time.sleep(0.05)

    # --- sFlow ----------------------------------------------------------------------------
    def send(self, payloads: Iterable[bytes]) -> int:
        """Send datagrams to the collector's UDP port (127.0.0.1 only); returns the count."""
        assert self.udp_port is not None, "this process replays a file; it has no UDP port"
        count = 0
        for payload in payloads:
            self._sock.sendto(payload, (LOCALHOST, self.udp_port))
            count += 1
        return count

    # --- HTTP -----------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"http://{LOCALHOST}:{self.http_port}{path}"

    def get(self, path: str, **params: Any) -> requests.Response:
        return requests.get(self.url(path), params=params or None, timeout=HTTP_TIMEOUT)

    def get_json(self, path: str, **params: Any) -> Any:
        response = self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()

    def put(self, path: str, body: Any) -> requests.Response:
        return requests.put(self.url(path), json=body, timeout=HTTP_TIMEOUT)

    def wait_for(self, path: str, done: Any, timeout: float, **params: Any) -> Any:
        """Poll ``path`` until ``done(body)`` is true; the last body, or AssertionError."""
        deadline = time.monotonic() + timeout
        while True:
            body = self.get_json(path, **params)
            if done(body):
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting on {path}; last answer: {body!r}")
            time.sleep(0.1)

    # --- memory ---------------------------------------------------------------------------
    def rss_kib(self) -> int:
        """Resident set size from /proc/<pid>/status (kB)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise AssertionError("no VmRSS line")


@pytest.fixture
def flowrt(tmp_path: Path) -> Iterator[Callable[..., FlowrtProcess]]:
    """``flowrt("-Dname=value", ...)`` → a started process (cwd: a fresh empty dir).

    Every process a test started is stopped at teardown, whatever the test did. Test
    modules import this fixture by name: a ``conftest.py`` in this directory would
    replace the shared ``tests/conftest.py`` module that other tests import helpers from
    (both are imported as ``conftest``).
    """
    started: list[FlowrtProcess] = []

    def start(*properties: str) -> FlowrtProcess:
        process = FlowrtProcess(tmp_path, *properties)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
