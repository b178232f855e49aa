"""End-to-end over real UDP: FlowRT beside sfcapd, sfacctd and sflowtool, one harness.

Every collector gets the same treatment: it runs pinned to one core (``COLLECTOR_CPU``),
a paced ``sendmmsg`` sender (``bench/udp_pace.c``, compiled here with gcc) pinned to the
other core (``SENDER_CPU``) replays a traffic set to it on 127.0.0.1 for
``--seconds``, and the highest lossless rate is searched (grow x1.4 until a run
fails, then bisect). A run is **lossless** when

* the flow samples the collector counted are within ``LOSS_LIMIT`` (0.1 %) of the flow
  samples sent (kernel drops are samples nobody counted, so they are inside this), and
* the collector's socket queue (``rx_queue`` of ``/proc/net/udp``) was empty within
  ``DRAIN_SLACK_SECONDS`` of the last send: a receive buffer of megabytes would
  otherwise hide a collector that falls behind during a short run.

What each collector counted (its own output, read after the run):

* FlowRT (``flowrt run``, native path when the core is built): ``sFlowFlowSamples`` of
  ``/analyzer/json``; 3 or 20 flows defined over REST (``bench/native.py``'s sets);
* sfcapd (nfdump-sflow): the ``Flows:`` total it logs when it stops (one record per
  flow sample); ``-B`` 8 MB socket buffer as FlowRT's default;
* sfacctd (pmacct): the print plugin's CSV (aggregate ``src_host, dst_host``, no
  renormalisation, so ``PACKETS`` sums to the flow samples), ``sfacctd_pipe_size`` 8 MB;
* sflowtool (built by hand, on PATH or in ``$SFLOWTOOL``; a note when absent): ``-l``
  output lines starting with ``FLOW``; it keeps the OS default socket buffer.

Peers are restarted for every run (they count from zero); FlowRT keeps one server per
search and the sender keeps one sequence stream per server (``udp_pace`` state file).

Traffic: ``ovs`` is the flow datagrams of the real Open vSwitch capture
(tests/data/sflow/ovs-netns.pcap, ~6 flow samples each) and ``generated`` is
``bench/ingest.py``'s access-switch mix (6-8 flow samples, one datagram in five with a
counter sample); the sender renumbers datagram and sample sequence numbers and uptime so
every collector sees one healthy agent. Before the searches the sender's own ceiling is
measured (unpaced, into a socket nobody reads).

At FlowRT's best 3-flow rate one more run polls ``/activeflows`` every 50 ms for its
latency. One ``name value`` per line; ratios are same-run figures.

Run: ``.venv/bin/python bench/e2e.py`` (~10 min); ``--collectors flowrt,sfcapd``,
``--traffic ovs``, ``--flows 3`` narrow it.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import ingest
import native

HERE = Path(__file__).resolve().parent
SENDER_CPU, COLLECTOR_CPU = 0, 1
LOSS_LIMIT = 0.001
DRAIN_SLACK_SECONDS = 0.25
SENDER_SHORTFALL = 0.98  # a run that sent less than this share of its rate is sender-limited
SETTLE_SECONDS = 1.0
SEARCH_GROWTH = 1.4
BISECT_STEPS = 4
RCVBUF = 8 * 1024 * 1024
LOCALHOST = "127.0.0.1"
START_RATES = {"ovs": 20_000.0, "generated": 10_000.0}  # datagrams/s


def pinned(cpu: int) -> Any:
    return lambda: os.sched_setaffinity(0, {cpu})


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOCALHOST, 0))
        return int(s.getsockname()[1])


def udp_sockets(port: int) -> list[list[str]]:
    """/proc/net/udp and udp6 rows of the sockets bound to ``port`` (any address)."""
    suffix = f":{port:04X}"
    rows = []
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        with open(table) as f:
            rows += [cols for cols in (line.split() for line in f.readlines()[1:])
                     if cols[1].endswith(suffix)]
    return rows


def udp_queue(port: int) -> tuple[int, int]:
    """(bytes queued, drops) of the UDP socket bound to ``port`` (0, 0 if none)."""
    for cols in udp_sockets(port):
        return int(cols[4].split(":")[1], 16), int(cols[-1])
    return 0, 0


class Sender:
    """udp_pace compiled once into a temporary directory."""

    def __init__(self, workdir: Path) -> None:
        self.binary = workdir / "udp_pace"
        subprocess.run(["gcc", "-O2", "-o", str(self.binary), str(HERE / "udp_pace.c")],
                       check=True)

    def send(self, data: Path, port: int, rate: float, seconds: float,
             state: Path | None) -> tuple[int, int, float]:
        """(datagrams, flow samples, seconds) sent."""
        args = [str(self.binary), str(data), LOCALHOST, str(port), f"{rate:.0f}", str(seconds)]
        if state is not None:
            args.append(str(state))
        out = subprocess.run(args, check=True, capture_output=True, text=True,
                             preexec_fn=pinned(SENDER_CPU)).stdout.split()
        return int(out[1]), int(out[3]), float(out[4])

    def ceiling(self, data: Path, seconds: float = 2.0) -> tuple[float, float]:
        """Unpaced (datagrams/s, flow samples/s) into a socket nobody reads."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
            sink.bind((LOCALHOST, 0))
            datagrams, samples, elapsed = self.send(data, sink.getsockname()[1], 0, seconds, None)
        return datagrams / elapsed, samples / elapsed


class Collector:
    """One collector under test; ``begin``/``end`` bracket a run, ``end`` returns its count."""

    name = ""
    restart_per_run = True
    port = 0

    def begin(self) -> None: ...

    def end(self) -> int:
        raise NotImplementedError

    def close(self) -> None: ...


class ProcessCollector(Collector):
    """A peer restarted for every run; subclasses say how to start it and read its count."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir / self.name
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def begin(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir.mkdir(parents=True)
        self.port = free_udp_port()
        self.prepare()
        with open(self.workdir / "stdout", "wb") as out, open(self.workdir / "stderr", "wb") as err:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL,
                                         preexec_fn=pinned(COLLECTOR_CPU), cwd=self.workdir)
        deadline = time.monotonic() + 10
        while not self.listening():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit(f"{self.name} did not start: {self.command()}")
            time.sleep(0.05)
        time.sleep(0.3)

    def listening(self) -> bool:
        return bool(udp_sockets(self.port))

    def prepare(self) -> None: ...

    def stop(self, sig: int = signal.SIGTERM, wait: float = 10.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def close(self) -> None:
        self.stop(signal.SIGKILL)


class Sfcapd(ProcessCollector):
    name = "sfcapd"

    def command(self) -> list[str]:
        return ["sfcapd", "-b", LOCALHOST, "-p", str(self.port), "-w", str(self.workdir),
                "-t", "3600", "-B", str(RCVBUF)]

    def end(self) -> int:
        self.stop()
        log = (self.workdir / "stdout").read_text() + (self.workdir / "stderr").read_text()
        return sum(int(line.split("Flows:")[1].split(",")[0]) for line in log.splitlines()
                   if "Flows:" in line)


class Sfacctd(ProcessCollector):
    name = "sfacctd"

    def prepare(self) -> None:
        (self.workdir / "sfacctd.conf").write_text(
            "daemonize: false\n"
            f"sfacctd_ip: {LOCALHOST}\nsfacctd_port: {self.port}\nsfacctd_pipe_size: {RCVBUF}\n"
            "plugins: print[agg]\naggregate[agg]: src_host, dst_host\nprint_output[agg]: csv\n"
            f"print_output_file[agg]: {self.workdir}/agg.csv\n"
            "print_output_file_append[agg]: true\nprint_refresh_time[agg]: 1\n"
        )

    def command(self) -> list[str]:
        return ["sfacctd", "-f", str(self.workdir / "sfacctd.conf")]

    def end(self) -> int:
        time.sleep(1.5)  # past one print refresh
        self.stop(signal.SIGINT, 15.0)  # pmacct flushes on SIGINT
        total = 0
        path = self.workdir / "agg.csv"
        for line in path.read_text().splitlines() if path.exists() else []:
            cols = line.split(",")
            if len(cols) >= 3 and cols[2].isdigit():
                total += int(cols[2])
        return total


class Sflowtool(ProcessCollector):
    name = "sflowtool"

    def __init__(self, workdir: Path, binary: str) -> None:
        super().__init__(workdir)
        self.binary = binary

    def command(self) -> list[str]:
        return [self.binary, "-p", str(self.port), "-l"]

    def end(self) -> int:
        self.stop()
        with open(self.workdir / "stdout", "rb") as f:
            return sum(1 for line in f if line.startswith(b"FLOW,"))


class FlowRT(Collector):
    """One ``flowrt run`` for a whole search; counts ``sFlowFlowSamples``."""

    restart_per_run = False

    def __init__(self, flows: dict[str, dict[str, Any]]) -> None:
        self.name = f"flowrt_{len(flows)}_flows"
        self.flows = flows
        self.server: ingest.Server | None = None
        self.base = 0

    def start(self) -> None:
        self.server = ingest.Server()
        os.sched_setaffinity(self.server.proc.pid, {COLLECTOR_CPU})
        for task in os.listdir(f"/proc/{self.server.proc.pid}/task"):
            os.sched_setaffinity(int(task), {COLLECTOR_CPU})
        self.port = self.server.udp_port
        for name, body in self.flows.items():
            self.server.request("PUT", f"/flow/{name}/json", body)
        analyzer = self.server.request("GET", "/analyzer/json")
        print(f"# {self.name}: ingestPath {analyzer.get('ingestPath')}", flush=True)

    def samples(self) -> int:
        assert self.server is not None
        return int(self.server.request("GET", "/analyzer/json")["sFlowFlowSamples"])

    def begin(self) -> None:
        if self.server is None:
            self.start()
        self.base = self.samples()

    def end(self) -> int:
        return self.samples() - self.base

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()
            self.server = None


class Harness:
    def __init__(self, sender: Sender, data: Path, seconds: float, workdir: Path) -> None:
        self.sender = sender
        self.data = data
        self.seconds = seconds
        self.workdir = workdir

    def run(self, collector: Collector, rate: float, state: Path,
            poll: ingest.Server | None = None) -> tuple[bool, float, float, list[float]]:
        """One paced run: (lossless, datagrams/s and flow samples/s sent, /activeflows
        latencies in ms). A run where the sender fell short of the rate is not lossless:
        the rate is past the sender's ceiling, not measured."""
        collector.begin()
        _queued, drops0 = udp_queue(collector.port)
        latencies: list[float] = []
        stop = threading.Event()

        def poller() -> None:
            assert poll is not None
            conn = http.client.HTTPConnection(LOCALHOST, poll.http_port, timeout=30)
            path = f"/activeflows/ALL/{next(iter(ingest.FLOWS))}/json?maxFlows=20"
            while not stop.wait(0.05):
                started = time.perf_counter()
                conn.request("GET", path)
                conn.getresponse().read()
                latencies.append((time.perf_counter() - started) * 1000)

        thread = threading.Thread(target=poller) if poll is not None else None
        if thread is not None:
            thread.start()
        datagrams, samples, elapsed = self.sender.send(
            self.data, collector.port, rate, self.seconds, state)
        sent_at = time.monotonic()
        stop.set()
        if thread is not None:
            thread.join()
        lag = float("inf")
        while time.monotonic() - sent_at < SETTLE_SECONDS + 4:
            queued, _drops = udp_queue(collector.port)
            if queued == 0:
                lag = time.monotonic() - sent_at
                break
            time.sleep(0.01)
        drops = udp_queue(collector.port)[1] - drops0
        time.sleep(SETTLE_SECONDS)
        counted = collector.end()
        loss = (samples - counted) / samples if samples else 1.0
        short = datagrams < SENDER_SHORTFALL * rate * self.seconds
        ok = loss <= LOSS_LIMIT and lag <= DRAIN_SLACK_SECONDS and not short
        print(f"# {collector.name}: rate {rate:.0f} dgram/s sent {datagrams} dgrams"
              f" {samples} flow samples in {elapsed:.2f}s counted {counted}"
              f" loss {loss * 100:.3f}% socket_drops {drops} drain_lag {lag:.2f}s"
              f" {'SENDER-LIMITED' if short else 'ok' if ok else 'LOSS'}", flush=True)
        return ok, datagrams / elapsed, samples / elapsed, latencies

    def search(self, collector: Collector, start: float) -> tuple[float, float]:
        """(datagrams/s, flow samples/s) sent in the best lossless run."""
        state = self.workdir / f"seq-{collector.name}"
        state.unlink(missing_ok=True)
        best = (0.0, 0.0)

        def attempt(rate: float) -> bool:
            nonlocal best
            if collector.restart_per_run:
                state.unlink(missing_ok=True)
            ok, dgram_rate, samples_rate, _ = self.run(collector, rate, state)
            if ok and samples_rate > best[1]:
                best = (dgram_rate, samples_rate)
            return ok

        good, bad = 0.0, start
        while attempt(bad):
            good, bad = bad, bad * SEARCH_GROWTH
        while good == 0.0 and bad > 200:  # even the first rate failed: come down
            if attempt(bad / 2):
                good = bad / 2
            else:
                bad /= 2
        for _ in range(BISECT_STEPS if good else 0):
            middle = (good + bad) / 2
            if attempt(middle):
                good = middle
            else:
                bad = middle
        return best


def write_datagrams(path: Path, datagrams: list[bytes]) -> None:
    path.write_bytes(b"".join(struct.pack(">I", len(d)) + d for d in datagrams))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--collectors", default="flowrt,sfcapd,sfacctd,sflowtool")
    parser.add_argument("--traffic", default="ovs,generated")
    parser.add_argument("--flows", default="3,20")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv[1:])
    if len(os.sched_getaffinity(0)) < 2:
        print("# fewer than two CPUs: sender and collector share one")
    workdir = Path(tempfile.mkdtemp(prefix="flowrt-e2e-"))
    try:
        sender = Sender(workdir)
        traffic = {"ovs": native.ovs_datagrams(copies=1),
                   "generated": ingest.build_traffic().datagrams}
        flow_sets = {"3": dict(ingest.FLOWS), "20": native.twenty_flows()}
        names = args.collectors.split(",")
        sflowtool = os.environ.get("SFLOWTOOL") or shutil.which("sflowtool")
        if "sflowtool" in names and not sflowtool:
            print("# sflowtool not found (PATH or $SFLOWTOOL): its figures are left out")
            names.remove("sflowtool")
        for missing in [n for n in ("sfcapd", "sfacctd") if n in names and not shutil.which(n)]:
            print(f"# {missing} not installed: its figures are left out")
            names.remove(missing)
        rates: dict[str, float] = {}
        for set_name in args.traffic.split(","):
            data = workdir / f"{set_name}.bin"
            write_datagrams(data, traffic[set_name])
            dgram_ceiling, sample_ceiling = sender.ceiling(data)
            print(f"sender_ceiling_{set_name}_datagrams_per_s {dgram_ceiling:.0f}")
            print(f"sender_ceiling_{set_name}_samples_per_s {sample_ceiling:.0f}", flush=True)
            harness = Harness(sender, data, args.seconds, workdir)
            collectors: list[Collector] = []
            if "flowrt" in names:
                collectors += [FlowRT(flow_sets[n]) for n in args.flows.split(",")]
            if "sfcapd" in names:
                collectors.append(Sfcapd(workdir))
            if "sfacctd" in names:
                collectors.append(Sfacctd(workdir))
            if "sflowtool" in names and sflowtool:
                collectors.append(Sflowtool(workdir, sflowtool))
            for collector in collectors:
                try:
                    best_rate, best_samples = harness.search(collector, START_RATES[set_name])
                    key = f"{set_name}_{collector.name}"
                    rates[key] = best_samples
                    print(f"{key}_max_lossless_datagrams_per_s {best_rate:.0f}")
                    print(f"{key}_max_lossless_samples_per_s {best_samples:.0f}", flush=True)
                    if isinstance(collector, FlowRT) and len(collector.flows) == 3 and best_rate:
                        state = workdir / f"seq-{collector.name}"
                        _ok, _d, _s, lat = harness.run(collector, best_rate, state,
                                                       poll=collector.server)
                        print(f"{key}_activeflows_p50_ms {percentile(lat, 0.5):.1f}")
                        print(f"{key}_activeflows_p99_ms {percentile(lat, 0.99):.1f}", flush=True)
                finally:
                    collector.close()
            for n in args.flows.split(","):
                ours = rates.get(f"{set_name}_flowrt_{n}_flows")
                for peer in ("sfcapd", "sflowtool", "sfacctd"):
                    theirs = rates.get(f"{set_name}_{peer}")
                    if ours is not None and theirs:
                        print(f"ratio_{set_name}_flowrt_{n}_flows_vs_{peer} {ours / theirs:.2f}")
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
