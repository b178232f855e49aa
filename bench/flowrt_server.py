"""The server under test for the benchmarks: one ``flowrt run`` child process.

Every benchmark that measures a real server (``ingest.py``, ``e2e.py``,
``small_profile.py``, ``agent_memory.py``, ``soak.py``) starts it the same way: on free
127.0.0.1 ports (``-Dhttp.port=0 -Dsflow.port=0``, the ports read from its ready line),
with the caller's properties and none of the caller's ``RTPROP``/``RTMEM``/``FLOWRT_*``
environment, so a benchmark measures exactly the configuration it prints.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

LOCALHOST = "127.0.0.1"
START_TIMEOUT = 30.0
READY = re.compile(r"flowrt: listening sFlow udp \S+:(?P<udp>\d+), http (?P<http>\S+)$")


class HttpStatusError(RuntimeError):
    """The server answered with an error status (``code``)."""

    def __init__(self, method: str, path: str, code: int, body: bytes) -> None:
        super().__init__(f"{method} {path}: {code} {body[:200]!r}")
        self.code = code


class FlowrtServer:
    """A ``flowrt run`` child process on free 127.0.0.1 ports, with extra properties."""

    def __init__(self, properties: Sequence[str] = (), workdir: Path | None = None) -> None:
        env = {k: v for k, v in os.environ.items()
               if k not in ("RTPROP", "RTMEM") and not k.startswith("FLOWRT_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flowrt.cli", "run", f"-Dhttp.hostname={LOCALHOST}",
             "-Dhttp.port=0", f"-Dsflow.hostname={LOCALHOST}", "-Dsflow.port=0", *properties],
            cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True,
        )
        self.log: list[str] = []
        self.http_port = self.udp_port = 0
        ready = threading.Event()

        def read() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.log.append(line)
                match = READY.search(line.rstrip("\n"))
                if match and not ready.is_set():
                    self.http_port = int(match["http"].rsplit(":", 1)[1])
                    self.udp_port = int(match["udp"])
                    ready.set()
            ready.set()

        threading.Thread(target=read, daemon=True).start()
        if not ready.wait(START_TIMEOUT) or not self.http_port:
            self.stop()
            raise SystemExit(f"flowrt did not start:\n{''.join(self.log)}")
        self.conn = http.client.HTTPConnection(LOCALHOST, self.http_port, timeout=60)

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One REST call on a kept-alive connection; the decoded JSON answer (or None).
        Raises :class:`HttpStatusError` for a status of 300 or more."""
        payload = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if payload else {}
        try:
            self.conn.request(method, path, payload, headers)
            response = self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            self.conn.close()  # stale keep-alive connection: retry once on a new one
            self.conn.request(method, path, payload, headers)
            response = self.conn.getresponse()
        data = response.read()
        if response.status >= 300:
            raise HttpStatusError(method, path, response.status, data)
        return json.loads(data) if data else None

    def counts(self) -> tuple[int, int, int]:
        """(datagrams received, kernel socket drops, agent datagrams lost)."""
        analyzer = self.request("GET", "/analyzer/json")
        agents = self.request("GET", "/agents/json")
        lost = sum(a.get("sFlowDatagramsLost", 0) for a in agents.values())
        return analyzer["sFlowDatagramsReceived"], analyzer["sFlowSocketDrops"], lost

    def memory_kib(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) of the server process, in kB, from /proc."""
        fields = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                fields[name] = int(rest.split()[0])
        return fields["VmRSS"], fields["VmHWM"]

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        conn = getattr(self, "conn", None)  # absent when the start failed
        if conn is not None:
            conn.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def mib(kib: int) -> str:
    return f"{kib / 1024:.1f}"
