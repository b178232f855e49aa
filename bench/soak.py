"""Soak: a real ``flowrt run`` under every kind of load at once, for an hour, watched.

The hardening bounds (docs/operations.md) are each tested alone; this runs them together
for long enough that a slow leak or a loss nobody counts would show. One server on
127.0.0.1 (the compiled ingest core when it is built), 20 flows defined over REST, and
at the same time:

* a healthy sFlow stream: the Open vSwitch capture's flow datagrams
  (tests/data/sflow/ovs-netns.pcap) replayed as one agent whose datagram and per-source
  sample sequence numbers keep counting up, paced at ``--rate`` datagrams a second by a
  sender in its own process (``--rate auto`` first probes rising rates for a few seconds
  each, under the other loads' absence, and soaks at ``--rate-fraction`` (default 1: the
  highest lossless rate) of the highest one with no loss);
* spoofed agents: a trickle (``--spoof-rate``) of counter and flow datagrams from ever-new
  agent addresses (``bench/small_profile.py``'s :class:`Agent`), against a small agent
  cap and short idle timeouts, so agents are refused and expire all along;
* slow HTTP clients: ``--slow-clients`` connections that send half a request head and
  wait to be closed (``http.header.timeout``), reconnecting, plus a burst past
  ``http.connections.max`` every ``BURST_EVERY`` seconds (refused connections);
* misbehaving scripts: an app whose JavaScript scripts loop forever and whose Python
  scripts enter a long C call or swallow ``BaseException`` in a loop, one of each every
  ``--misbehave-every`` seconds, each past ``flowrt.script.timeout`` (budget kills).

Every ``--every`` seconds it prints one line: VmRSS (/proc), /analyzer/json counters and
the time /activeflows took to answer. At the end it stops the senders, lets the server
drain, and prints a summary: RSS start/max/end and its slope over the last half, and the
books: datagrams sent = received + kernel socket drops, the healthy agent's flow samples
sent = counted + lost (sequence gaps), and the refusals, sheds, expiries and kills.

Run (about an hour; ``--seconds`` to change)::

    nice -n 10 .venv/bin/python bench/soak.py --rate auto > /tmp/soak.log 2>&1

Nothing here asserts: it is a measurement. One ``name value`` per summary line.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import selectors
import signal
import socket
import sys
import threading
import time
import tracemalloc
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from flowrt._core import load_native
from flowrt.sflow.decode import decode_datagram
from flowrt.sflow.model import FlowSample
from flowrt.sources import read_pcap
from flowrt_server import LOCALHOST, HttpStatusError, mib
from flowrt_server import FlowrtServer as Server
from native import twenty_flows
from small_profile import Agent

REPO = Path(__file__).resolve().parent.parent
CAPTURE = REPO / "tests/data/sflow/ovs-netns.pcap"
SCRIPT_BUDGET = 2
HEADER_TIMEOUT = 3
CONNECTIONS_MAX = 40
BURST_EVERY = 120.0
SETTLE_SECONDS = 5.0
PROBE_RATES = (1000, 2000, 4000, 8000, 12000, 16000, 24000, 32000, 48000, 64000)
PROBE_SECONDS = 8.0
SLOW_HEAD = b"GET /analyzer/json HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: "
ANALYZER_COUNTERS = (
    "sFlowDatagramsReceived", "sFlowSocketDrops", "sFlowReceiveErrors", "sFlowDatagramsLost",
    "sFlowFlowSamples", "sFlowFlowLostSamples", "sFlowAgents", "sFlowAgentsRejected",
    "sFlowAgentsExpired", "sFlowDatasources", "sFlowDatasourcesRejected",
    "sFlowDatasourcesTotalRejected", "sFlowDatasourcesExpired", "metricSamplesRejected",
    "flowSourcesRejected", "flowKeysEvicted", "flowSamplesShed", "flowEvaluationsShed",
    "flowLogRejected", "httpConnections", "httpConnectionsRefused", "httpHeaderTimeouts",
    "internalErrors", "logLinesSuppressed",
)


# --- the healthy stream ---------------------------------------------------------------------
def capture_templates() -> tuple[str, list[tuple[bytes, list[tuple[int, int]]]]]:
    """The capture's flow-only datagrams, each with its (sequence offset, source) pairs."""
    agent = ""
    out = []
    for record in read_pcap(CAPTURE):
        datagram = decode_datagram(record.payload)
        if not datagram.samples or any(s.__class__ is not FlowSample for s in datagram.samples):
            continue
        agent = datagram.agent or agent
        data = record.payload
        fields, off = [], 28
        for _ in range(int.from_bytes(data[24:28], "big")):
            length = int.from_bytes(data[off + 4: off + 8], "big")
            fields.append((off + 8, int.from_bytes(data[off + 12: off + 16], "big")))
            off += 8 + length
        out.append((data, fields))
    return agent, out


def send_healthy(port: int, rate: Any, stop: Any, datagrams: Any, samples: Any) -> None:
    """Paced sender (its own process): the capture, renumbered, at ``rate.value`` a second."""
    _agent, templates = capture_templates()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sequence = 0
    per_source: dict[int, int] = {}
    sent = sent_samples = 0
    started = booted = time.monotonic()
    current_rate = rate.value
    base = 0
    while not stop.is_set():
        if rate.value != current_rate:  # a new pace starts counting from now
            current_rate, started, base = rate.value, time.monotonic(), sent
        due = base + int((time.monotonic() - started) * current_rate)
        while sent < due:
            template, fields = templates[sent % len(templates)]
            data = bytearray(template)
            sequence += 1
            data[16:20] = sequence.to_bytes(4, "big")
            # sysUpTime must keep rising too: the capture's own values go back each time
            # it starts over, which the collector rightly reads as an agent restart (and
            # a restart resets sequence accounting, hiding losses from the books)
            uptime_ms = int((time.monotonic() - booted) * 1000) + 60_000
            data[20:24] = (uptime_ms & 0xFFFFFFFF).to_bytes(4, "big")
            for off, source in fields:
                n = per_source.get(source, 0) + 1
                per_source[source] = n
                data[off: off + 4] = (n & 0xFFFFFFFF).to_bytes(4, "big")
            sock.sendto(data, (LOCALHOST, port))
            sent += 1
            sent_samples += len(fields)
            if sent % 64 == 0:
                datagrams.value, samples.value = sent, sent_samples
        datagrams.value, samples.value = sent, sent_samples
        time.sleep(0.002)
    sock.close()


# --- spoofed agents -------------------------------------------------------------------------
def send_spoofed(port: int, rate: float, stop: Any, datagrams: Any) -> None:
    """Ever-new agent addresses (172.16.0.0/12), a counter and a flow datagram each."""
    rng = random.Random(6343)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    started = time.monotonic()
    sent = i = 0
    while not stop.is_set():
        agent = Agent(f"172.{16 + (i >> 16 & 15)}.{i >> 8 & 255}.{i & 255}", 2, rng)
        i += 1
        for payload in [*agent.counter_datagrams(), agent.flow_datagram()]:
            sock.sendto(payload, (LOCALHOST, port))
            sent += 1
        datagrams.value = sent
        delay = started + sent / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    sock.close()


# --- slow HTTP clients ----------------------------------------------------------------------
class SlowClients(threading.Thread):
    """``count`` connections that send half a head and wait to be closed, then reconnect;
    every ``BURST_EVERY`` s, ``burst`` more at once (past the connection cap)."""

    def __init__(self, port: int, count: int, burst: int) -> None:
        super().__init__(daemon=True)
        self.port, self.count, self.burst = port, count, burst
        self.stop = threading.Event()
        self.opened = self.closed_by_server = self.refused_503 = 0

    def _open(self, sel: selectors.BaseSelector) -> None:
        sock = socket.create_connection((LOCALHOST, self.port), timeout=5)
        sock.sendall(SLOW_HEAD)
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ)
        self.opened += 1

    def run(self) -> None:
        sel = selectors.DefaultSelector()
        next_burst = time.monotonic() + BURST_EVERY / 2
        while not self.stop.is_set():
            while len(sel.get_map()) < self.count:
                self._open(sel)
            if time.monotonic() >= next_burst:
                next_burst += BURST_EVERY
                for _ in range(self.burst):
                    self._open(sel)
            for key, _ in sel.select(0.5):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    answer = sock.recv(4096)
                except OSError:
                    answer = b""
                if answer.startswith(b"HTTP/1.1 503"):
                    self.refused_503 += 1
                elif not answer:
                    self.closed_by_server += 1
                if not answer or answer.startswith(b"HTTP/"):
                    sel.unregister(sock)
                    sock.close()
        for key in list(sel.get_map().values()):
            sel.unregister(key.fileobj)
            key.fileobj.close()  # type: ignore[union-attr]


# --- misbehaving scripts --------------------------------------------------------------------
JS_SPIN = """// loops forever once its time comes: stopped at flowrt.script.timeout (CPU)
var started = Date.now();
setIntervalHandler(function (now) {
  activeFlows('ALL', 'bench_pair', 5);
  if (Date.now() - started > %(delay)d * 1000) { while (true) {} }
}, 1);
"""
PY_C_CALL = """# one long C call once its time comes: killed at flowrt.script.timeout (wall)
import time
started = time.time()
def tick(*args):
    activeFlows('ALL', 'bench_pair', 5)
    if time.time() - started > %(delay)d:
        sum(range(10 ** 13))
setIntervalHandler(tick, 1)
"""
PY_SWALLOW = """# swallows BaseException in a loop once its time comes: killed at the budget
import time
started = time.time()
def tick(*args):
    activeFlows('ALL', 'bench_pair', 5)
    if time.time() - started > %(delay)d:
        while True:
            try:
                time.sleep(0.01)
            except BaseException:
                pass
setIntervalHandler(tick, 1)
"""


def write_app(app_dir: Path, seconds: float, every: float) -> list[int]:
    """The misbehaving app; returns when each script turns bad (s after it starts)."""
    scripts = app_dir / "misbehave" / "scripts"
    scripts.mkdir(parents=True, exist_ok=True)
    for old in scripts.iterdir():
        old.unlink()
    n = max(1, int(seconds // every))
    delays = []
    for k in range(n):
        delay = int(every * (k + 1) - every / 2)
        (scripts / f"spin{k:02d}.js").write_text(JS_SPIN % {"delay": delay})
        body = PY_C_CALL if k % 2 == 0 else PY_SWALLOW
        (scripts / f"stuck{k:02d}.py").write_text(body % {"delay": delay + int(every / 4)})
        delays += [delay, delay + int(every / 4)]
    return delays


# --- watching -------------------------------------------------------------------------------
def request(server: Server, method: str, path: str, body: Any = None) -> Any:
    """Server.request, retried while a connection burst fills the cap."""
    for attempt in range(50):
        try:
            return server.request(method, path, body)
        except (HttpStatusError, OSError) as err:
            if attempt == 49 or getattr(err, "code", 503) != 503:
                raise
            time.sleep(0.2)
    return None


def script_kills(server: Server) -> int:
    scripts = request(server, "GET", "/scripts/json")
    return sum(1 for s in scripts.values() if "time budget" in str(s.get("error") or ""))


def healthy_counts(server: Server, agent: str) -> tuple[int, int]:
    """(flow samples counted, flow samples lost) for the healthy agent."""
    body = request(server, "GET", "/agents/json").get(agent, {})
    return body.get("sFlowFlowSamples", 0), body.get("sFlowFlowLostSamples", 0)


def healthy_restarts(server: Server, agent: str) -> int:
    """Restarts the collector saw in the healthy agent's stream (0: none, as sent)."""
    body = request(server, "GET", "/agents/json").get(agent, {})
    return int(body.get("sFlowDatagramRestarts", 0))


def slope_mib_per_hour(points: list[tuple[float, float]]) -> float:
    n = len(points)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in points) / n
    mr = sum(r for _, r in points) / n
    den = sum((t - mt) ** 2 for t, _ in points)
    return 0.0 if den == 0 else sum((t - mt) * (r - mr) for t, r in points) / den * 3600


def probe(server: Server, agent: str, rate: Any, fraction: float, sent_dgrams: Any) -> float:
    """The highest of PROBE_RATES with no lost sample and no socket drop (and all lower
    ones clean too), times ``fraction``; the sender's own ceiling counts as a failure
    (a rate it cannot reach is not a rate the server took)."""
    best = PROBE_RATES[0] * fraction
    for candidate in PROBE_RATES:
        before = request(server, "GET", "/analyzer/json")["sFlowSocketDrops"], \
            healthy_counts(server, agent)[1]
        sent_before = sent_dgrams.value
        rate.value = candidate
        time.sleep(PROBE_SECONDS)
        rate.value = 0
        time.sleep(1.0)
        after = request(server, "GET", "/analyzer/json")["sFlowSocketDrops"], \
            healthy_counts(server, agent)[1]
        reached = (sent_dgrams.value - sent_before) / PROBE_SECONDS
        clean = after == before and reached >= 0.95 * candidate
        print(f"# probe rate {candidate}/s: sent {reached:.0f}/s, socket drops "
              f"+{after[0] - before[0]}, lost samples +{after[1] - before[1]}", flush=True)
        if not clean:
            break
        best = candidate * fraction
    return best


def print_memory_growth(workdir: Path, pid: int, samples: int) -> None:
    """Where traced memory grew between the snapshot taken at a quarter of the run (past
    warm-up: caps filled, first expiries done) and the last one: the ten largest growths
    by allocating line, as ``# memory ...`` lines."""
    first = workdir / f"flowrt-{pid}-{max(1, samples // 4)}.tracemalloc"
    last = workdir / f"flowrt-{pid}-{samples}.tracemalloc"
    deadline = time.monotonic() + 30
    while not last.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    if not (first.exists() and last.exists()):
        print(f"# memory: snapshots {first.name} / {last.name} missing")
        return
    old, new = tracemalloc.Snapshot.load(str(first)), tracemalloc.Snapshot.load(str(last))
    total = sum(s.size for s in new.statistics("filename"))
    print(f"traced_mib_quarter {sum(s.size for s in old.statistics('filename')) / 2**20:.1f}")
    print(f"traced_mib_end {total / 2**20:.1f}")
    for stat in new.compare_to(old, "lineno")[:10]:
        print(f"# memory {stat}")


def run(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    turns_bad = write_app(workdir / "app", args.seconds, args.misbehave_every)
    properties = (
        f"-Dflowrt.app.dir={workdir / 'app'}", f"-Dflowrt.script.timeout={SCRIPT_BUDGET}",
        f"-Dhttp.header.timeout={HEADER_TIMEOUT}", f"-Dhttp.connections.max={CONNECTIONS_MAX}",
        "-Dflowrt.agents.max=1000", "-Dflowrt.agents.timeout=120",
        "-Dflowrt.datasources.timeout=120", *args.properties,
    )
    if args.trace_memory:  # the server inherits these; snapshots land in the workdir
        os.environ["PYTHONTRACEMALLOC"] = str(args.trace_memory)
        os.environ["TMPDIR"] = str(workdir)
    server = Server(properties, workdir)
    server_started = time.monotonic()
    stop = mp.Event()
    rate = mp.Value("d", 0.0)
    sent_dgrams, sent_samples, spoof_dgrams = mp.Value("q", 0), mp.Value("q", 0), mp.Value("q", 0)
    procs: list[mp.Process] = []
    slow = SlowClients(server.http_port, args.slow_clients, CONNECTIONS_MAX)
    try:
        print(f"# properties {' '.join(properties)}")
        print(f"# native core: {'yes' if load_native() is not None else 'no'}", flush=True)
        for name, spec in twenty_flows().items():
            request(server, "PUT", f"/flow/{name}/json", spec)
        agent, _ = capture_templates()
        procs.append(mp.Process(target=send_healthy, daemon=True,
                                args=(server.udp_port, rate, stop, sent_dgrams, sent_samples)))
        procs[-1].start()
        soak_rate = (probe(server, agent, rate, args.rate_fraction, sent_dgrams)
                     if args.rate == "auto" else float(args.rate))
        print(f"# soak rate {soak_rate:.0f} datagrams/s of the healthy agent {agent}", flush=True)
        procs.append(mp.Process(target=send_spoofed, daemon=True,
                                args=(server.udp_port, args.spoof_rate, stop, spoof_dgrams)))
        procs[-1].start()
        slow.start()
        rate.value = soak_rate
        started = time.monotonic()
        rss_points: list[tuple[float, float]] = []
        rss0, _ = server.memory_kib()
        rss_max = rss0
        latencies: list[float] = []
        print("t_s rss_mib dgrams_rx sock_drops flow_samples lost agents agents_rej "
              "agents_exp ds_exp http_refused header_timeouts shed kills af_ms", flush=True)
        next_sample = started
        while True:
            now = time.monotonic()
            if now < next_sample:
                time.sleep(min(1.0, next_sample - now))
                continue
            elapsed = now - started
            rss, _ = server.memory_kib()
            rss_max = max(rss_max, rss)
            rss_points.append((elapsed, rss / 1024))
            a = request(server, "GET", "/analyzer/json")
            t0 = time.perf_counter()
            request(server, "GET", "/activeflows/ALL/bench_pair/json?maxFlows=20")
            latency = (time.perf_counter() - t0) * 1000
            latencies.append(latency)
            print(f"{elapsed:.0f} {mib(rss)} {a['sFlowDatagramsReceived']} "
                  f"{a['sFlowSocketDrops']} {a['sFlowFlowSamples']} "
                  f"{a['sFlowFlowLostSamples']} {a['sFlowAgents']} {a['sFlowAgentsRejected']} "
                  f"{a['sFlowAgentsExpired']} {a['sFlowDatasourcesExpired']} "
                  f"{a['httpConnectionsRefused']} {a['httpHeaderTimeouts']} "
                  f"{a['flowSamplesShed']} {script_kills(server)} {latency:.1f}", flush=True)
            if args.trace_memory:
                server.proc.send_signal(signal.SIGUSR2)
            if elapsed >= args.seconds or server.proc.poll() is not None:
                break
            next_sample += args.every
        # --- the books ----------------------------------------------------------------------
        stop.set()
        for proc in procs:
            proc.join(10)
        slow.stop.set()
        slow.join(10)
        time.sleep(SETTLE_SECONDS)
        a = request(server, "GET", "/analyzer/json")
        counted, lost = healthy_counts(server, agent)
        restarts = healthy_restarts(server, agent)
        rss_end, hwm = server.memory_kib()
        half = [p for p in rss_points if p[0] >= args.seconds / 2]
        total_sent = sent_dgrams.value + spoof_dgrams.value
        received, drops = a["sFlowDatagramsReceived"], a["sFlowSocketDrops"]
        print(f"seconds {time.monotonic() - started:.0f}")
        print(f"healthy_rate_datagrams_per_s {soak_rate:.0f}")
        print(f"rss_start_mib {mib(rss0)}")
        print(f"rss_max_sampled_mib {mib(rss_max)}")
        print(f"rss_high_water_mib {mib(hwm)}")
        print(f"rss_end_mib {mib(rss_end)}")
        print(f"rss_slope_last_half_mib_per_hour {slope_mib_per_hour(half):.2f}")
        print(f"datagrams_sent {total_sent}")
        print(f"datagrams_sent_healthy {sent_dgrams.value}")
        print(f"datagrams_sent_spoofed {spoof_dgrams.value}")
        print(f"datagrams_received {received}")
        print(f"socket_drops {drops}")
        print(f"receive_errors {a['sFlowReceiveErrors']}")
        print(f"datagrams_unexplained {total_sent - received - drops}")
        print(f"healthy_flow_samples_sent {sent_samples.value}")
        print(f"healthy_flow_samples_counted {counted}")
        print(f"healthy_flow_samples_lost {lost}")
        print(f"healthy_flow_samples_unexplained {sent_samples.value - counted - lost}")
        print(f"healthy_agent_restarts {restarts}")
        for name in ANALYZER_COUNTERS[6:]:
            if name in a:
                print(f"{name} {a[name]}")
        print(f"slow_connections_opened {slow.opened}")
        print(f"slow_connections_closed_by_server {slow.closed_by_server}")
        print(f"slow_connections_refused_503 {slow.refused_503}")
        print(f"script_budget_kills {script_kills(server)}")
        lived = time.monotonic() - server_started - SCRIPT_BUDGET
        print(f"script_budget_kills_due {sum(1 for t in turns_bad if t < lived)}")
        latencies.sort()
        print(f"activeflows_ms_median {latencies[len(latencies) // 2]:.1f}")
        print(f"activeflows_ms_max {latencies[-1]:.1f}")
        print(f"server_alive {server.proc.poll() is None}")
        if args.trace_memory:
            print_memory_growth(workdir, server.proc.pid, len(rss_points))
        errors = [line for line in server.log if "ERROR" in line and "script stopped" not in line]
        print(f"server_error_lines {len(errors)}")
        for line in errors[:10]:
            print(f"# {line.rstrip()}")
    finally:
        stop.set()
        slow.stop.set()
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
        server.stop()


def exit_on_sigterm(signum: int, _frame: object) -> None:
    """SIGTERM unwinds like Ctrl-C, so the server and the senders are stopped too."""
    raise SystemExit(128 + signum)


def main() -> None:
    signal.signal(signal.SIGTERM, exit_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=3600.0)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--rate", default="auto",
                        help="healthy datagrams per second, or auto (probe rising rates)")
    parser.add_argument("--rate-fraction", type=float, default=1.0,
                        help="with --rate auto: soak at this fraction of the highest "
                             "lossless probe rate")
    parser.add_argument("--spoof-rate", type=float, default=20.0,
                        help="spoofed-agent datagrams per second")
    parser.add_argument("--slow-clients", type=int, default=16)
    parser.add_argument("--misbehave-every", type=float, default=300.0,
                        help="seconds between script budget overruns (one JS, one Python)")
    parser.add_argument("--workdir", default="/tmp/flowrt-soak")
    parser.add_argument("--trace-memory", type=int, default=0, metavar="FRAMES",
                        help="trace the server's allocations (PYTHONTRACEMALLOC=FRAMES), "
                             "snapshot them at each sample and print the growth at the end")
    parser.add_argument("properties", nargs="*", help="-Dname=value for the server")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
