"""Real sFlow agents for whole-process tests: network namespaces, veths, a private
Open vSwitch, iperf3, and a UDP relay between the agent and the collectors.

Why these pieces (each avoids a known pitfall of running these peers by hand):

* There is no OVS kernel module and no systemd here, so each test run starts its own
  ``ovsdb-server`` and ``ovs-vswitchd`` as child processes in a private run directory and
  uses bridges with ``datapath_type=netdev`` (the userspace datapath).
* A userspace switch forwards frames whose TCP checksum the kernel left to the NIC, so
  TX checksum offload is turned off inside every namespace (else TCP stalls).
* OVS sends sFlow from a *connected* UDP socket: when nothing listens, the ICMP port
  unreachable makes every other send fail. The :class:`SflowRelay` listens before OVS is
  configured, so the agent never sees a closed port, and it copies every datagram to
  each collector (FlowRT and a peer collector see exactly the same sFlow), optionally
  dropping every Nth one to create sequence gaps on purpose.

Cleanup is by PID for processes (every one is a child of this process) and by name for
what the tests create (namespaces, veths and bridges all start with ``frt-``/``frtbr``),
including leftovers of an earlier run that was killed. Traffic only goes to 127.0.0.1
and to addresses inside the namespaces created here.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

COMMAND_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
OVS_SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
APT_HINT = "install the Debian packages in packages.apt (`make setup` does it)"
PACKAGES = {
    "ip": "iproute2", "ethtool": "ethtool", "iperf3": "iperf3",
    "ovsdb-tool": "openvswitch-switch", "ovsdb-server": "openvswitch-switch",
    "ovs-vswitchd": "openvswitch-switch", "ovs-vsctl": "openvswitch-switch",
}
NETNS_PROBE = f"frt-probe-{os.getpid()}"
_netns_verdict: list[str | None] = []


# --- preconditions -------------------------------------------------------------------------
def namespaces_forbidden() -> str | None:
    """Why this machine cannot run namespace tests (``None`` when it can); probed once."""
    if not _netns_verdict:
        _netns_verdict.append(_probe_namespaces())
    return _netns_verdict[0]


def _probe_namespaces() -> str | None:
    if shutil.which("ip") is None:
        return None  # let require_commands report the missing package instead
    made = subprocess.run(["ip", "netns", "add", NETNS_PROBE], capture_output=True, text=True,
                          timeout=COMMAND_TIMEOUT, check=False)
    if made.returncode != 0:
        return f"the kernel forbids network namespaces here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", NETNS_PROBE], capture_output=True,
                   timeout=COMMAND_TIMEOUT, check=False)
    return None


def require(*commands: str) -> None:
    """Skip where namespaces are forbidden; fail (not skip) when a package is missing,
    because `make test` installs them and a silent skip would hide a broken setup."""
    reason = namespaces_forbidden()
    if reason:
        pytest.skip(reason)
    missing = [c for c in (*PACKAGES, *commands) if shutil.which(c) is None]
    if missing:
        pytest.fail(f"missing commands {missing}: {APT_HINT}")


def run(*args: str, timeout: float = COMMAND_TIMEOUT, check: bool = True,
        env: dict[str, str] | None = None) -> str:
    """Run a short command; its stdout, or AssertionError with its stderr."""
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                          check=False, env=env)
    if check and done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done.stdout


# --- processes -----------------------------------------------------------------------------
class Processes:
    """Background children, each stopped by its PID (never by name)."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, args: Sequence[str], *, stdout: int | Path = subprocess.DEVNULL,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        out = open(stdout, "wb") if isinstance(stdout, Path) else stdout  # noqa: SIM115
        try:
            proc = subprocess.Popen(list(args), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, env=env)
        finally:
            if isinstance(stdout, Path):
                out.close()  # type: ignore[union-attr]
        self.procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM,
             timeout: float = STOP_TIMEOUT) -> int | None:
        """Signal ``proc`` (by PID), then SIGKILL if it has not exited in ``timeout``."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        return proc.returncode

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)
        self.procs.clear()


# --- namespaces ----------------------------------------------------------------------------
@dataclass
class Namespace:
    """A namespace ``name`` whose ``eth0`` is the peer of root-side veth ``veth``."""

    name: str
    veth: str
    address: str  # with prefix, e.g. 10.99.61.1/24

    @property
    def ip(self) -> str:
        return self.address.split("/")[0]

    def create(self) -> Namespace:
        delete_namespaces([self.name], [self.veth])
        run("ip", "netns", "add", self.name)
        run("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0",
            "netns", self.name)
        run("ip", "link", "set", self.veth, "up")
        self.run("ip", "link", "set", "lo", "up")
        self.run("ip", "addr", "add", self.address, "dev", "eth0")
        self.run("ip", "link", "set", "eth0", "up")
        self.run("ethtool", "-K", "eth0", "tx", "off")  # gotcha 2: userspace switch
        return self

    def cmd(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def run(self, *args: str, timeout: float = COMMAND_TIMEOUT) -> str:
        return run(*self.cmd(*args), timeout=timeout)

    @property
    def ifindex(self) -> int:
        """ifIndex of the root-side veth: the OVS port's sFlow data source."""
        return int(Path(f"/sys/class/net/{self.veth}/ifindex").read_text())

    def switch_counters(self) -> tuple[int, int, int, int]:
        """(rx_bytes, rx_packets, tx_bytes, tx_packets) of the root-side veth, i.e. what
        the switch received from and sent to this namespace (read without a process)."""
        base = Path(f"/sys/class/net/{self.veth}/statistics")
        return tuple(  # type: ignore[return-value]
            int((base / name).read_text())
            for name in ("rx_bytes", "rx_packets", "tx_bytes", "tx_packets")
        )


def delete_namespaces(names: Sequence[str], links: Sequence[str] = ()) -> None:
    """Delete namespaces (killing, by PID, whatever still runs in them) and links, by name;
    quiet when they do not exist, so it also clears an earlier run's leftovers."""
    existing = run("ip", "netns", "list", check=False)
    present = {line.split()[0] for line in existing.splitlines() if line.strip()}
    for name in names:
        if name not in present:
            continue
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = run("ip", "netns", "pids", name, check=False).split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), sig)
            if pids:
                time.sleep(0.2)
        run("ip", "netns", "del", name, check=False)
    for link in links:
        if Path(f"/sys/class/net/{link}").exists():
            run("ip", "link", "del", link, check=False)


# --- Open vSwitch --------------------------------------------------------------------------
class Ovs:
    """A private ovsdb-server + ovs-vswitchd under ``workdir`` (userspace datapath)."""

    def __init__(self, workdir: Path, processes: Processes) -> None:
        self.workdir = workdir
        self.processes = processes
        self.run_dir, self.log_dir, self.db_dir = (workdir / d for d in ("run", "log", "db"))
        self.socket = self.run_dir / "db.sock"
        self.vswitchd: subprocess.Popen[bytes] | None = None
        self.ovsdb: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment that points plain ``ovs-vsctl`` (and Mininet) at this instance."""
        return {**os.environ, "OVS_RUNDIR": str(self.run_dir), "OVS_LOGDIR": str(self.log_dir),
                "OVS_DBDIR": str(self.db_dir)}

    def start(self) -> Ovs:
        self.stop_leftovers()
        shutil.rmtree(self.workdir, ignore_errors=True)
        for d in (self.run_dir, self.log_dir, self.db_dir):
            d.mkdir(parents=True)
        db = self.db_dir / "conf.db"
        run("ovsdb-tool", "create", str(db), str(OVS_SCHEMA))
        self.ovsdb = self.processes.start(
            ["ovsdb-server", str(db), f"--remote=punix:{self.socket}",
             f"--pidfile={self.run_dir}/ovsdb-server.pid",
             f"--log-file={self.log_dir}/ovsdb-server.log"], env=self.env)
        _wait_for(self.socket.exists, 5.0, "ovsdb-server socket")
        self.vsctl("--no-wait", "init")
        self.vswitchd = self.processes.start(
            ["ovs-vswitchd", f"unix:{self.socket}", f"--pidfile={self.run_dir}/ovs-vswitchd.pid",
             f"--log-file={self.log_dir}/ovs-vswitchd.log"], env=self.env)
        _wait_for((self.run_dir / "ovs-vswitchd.pid").exists, 5.0, "ovs-vswitchd pidfile")
        return self

    def vsctl(self, *args: str) -> str:
        return run("ovs-vsctl", f"--db=unix:{self.socket}", "--timeout=10", *args, env=self.env)

    def add_bridge(self, bridge: str, ports: Sequence[str]) -> None:
        self.vsctl("--may-exist", "add-br", bridge, "--", "set", "bridge", bridge,
                   "datapath_type=netdev")
        for port in ports:
            self.vsctl("add-port", bridge, port)

    def set_sflow(self, bridge: str, targets: Sequence[str], sampling: int, polling: int,
                  header: int = 128, agent: str = "lo") -> None:
        """sFlow on ``bridge``; ``agent=lo`` makes the agent address 127.0.0.1."""
        target_list = "[" + ",".join(f'"{t}"' for t in targets) + "]"
        self.vsctl("--", "--id=@s", "create", "sflow", f"agent={agent}",
                   f"targets={target_list}", f"header={header}", f"sampling={sampling}",
                   f"polling={polling}", "--", "set", "bridge", bridge, "sflow=@s")

    def log(self) -> str:
        path = self.log_dir / "ovs-vswitchd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Delete our bridges (userspace bridges are tap devices that outlive the daemon),
        then stop the daemons by PID and remove the run directory."""
        bridges: list[str] = []
        if self.socket.exists() and self.ovsdb is not None and self.ovsdb.poll() is None:
            with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                bridges = self.vsctl("list-br").split()
                for bridge in bridges:
                    self.vsctl("--if-exists", "del-br", bridge)
        for proc in (self.vswitchd, self.ovsdb):
            if proc is not None:
                Processes.stop(proc)
        for bridge in bridges:
            delete_namespaces([], [bridge])
        shutil.rmtree(self.workdir, ignore_errors=True)

    def stop_leftovers(self) -> None:
        """Stop daemons an earlier, killed run left in this workdir (by their pidfiles)."""
        for name in ("ovs-vswitchd", "ovsdb-server"):
            pidfile = self.run_dir / f"{name}.pid"
            with contextlib.suppress(OSError, ValueError):
                pid = int(pidfile.read_text().strip())
                if Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].endswith(
                        name.encode()):
                    os.kill(pid, signal.SIGKILL)


def _wait_for(ready: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not ready():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


# --- sFlow relay ---------------------------------------------------------------------------
FLOW_SAMPLE_TYPES = (1, 3)
COUNTER_SAMPLE_TYPES = (2, 4)


@dataclass
class DroppedSamples:
    datagrams: int = 0
    flow_samples: int = 0
    counter_samples: int = 0


def sample_types(datagram: bytes) -> list[int]:
    """Sample type of each sample in an sFlow v5 datagram, parsed here with struct so the
    relay's count is independent of FlowRT's decoder."""
    address_type = struct.unpack_from("!I", datagram, 4)[0]
    offset = 8 + (4 if address_type == 1 else 16) + 12
    (count,) = struct.unpack_from("!I", datagram, offset)
    offset += 4
    types = []
    for _ in range(count):
        sample_type, length = struct.unpack_from("!II", datagram, offset)
        types.append(sample_type & 0xFFF)
        offset += 8 + length
    return types


@dataclass
class SflowRelay:
    """Copies every datagram from the agent to each target; drops every ``drop_every``-th
    datagram while that is non-zero (counting what it dropped)."""

    targets: list[tuple[str, int]] = field(default_factory=list)
    drop_every: int = 0
    forwarded: int = 0
    dropped: DroppedSamples = field(default_factory=DroppedSamples)

    def __post_init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self._out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._stop = threading.Event()
        self._seen_while_dropping = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        host, port = self._sock.getsockname()
        return f"{host}:{port}"

    def set_drop_every(self, n: int) -> None:
        with self._lock:
            self.drop_every, self._seen_while_dropping = n, 0

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                datagram = self._sock.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                if self.drop_every:
                    self._seen_while_dropping += 1
                    if self._seen_while_dropping % self.drop_every == 0:
                        types = sample_types(datagram)
                        self.dropped.datagrams += 1
                        self.dropped.flow_samples += sum(t in FLOW_SAMPLE_TYPES for t in types)
                        self.dropped.counter_samples += sum(
                            t in COUNTER_SAMPLE_TYPES for t in types)
                        continue
                self.forwarded += 1
                targets = list(self.targets)
            for target in targets:
                with contextlib.suppress(OSError):  # a collector not (yet) listening
                    self._out.sendto(datagram, target)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._sock.close()
        self._out.close()


def free_udp_port() -> int:
    """A UDP port of 127.0.0.1 that nothing uses right now (for daemons that need a
    fixed port in their configuration)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- traffic ground truth ------------------------------------------------------------------
class CounterRecorder:
    """Samples the switch-side veth counters of some namespaces every ``period`` seconds:
    the exact ground truth of what crossed each OVS port, to compare estimates with."""

    def __init__(self, namespaces: Sequence[Namespace], period: float = 0.1) -> None:
        self.namespaces = list(namespaces)
        self.period = period
        self.series: list[tuple[float, dict[str, tuple[int, int, int, int]]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def start(self) -> CounterRecorder:
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                reading = {ns.name: ns.switch_counters() for ns in self.namespaces}
            except OSError:
                return  # the interface is gone: the traffic is over
            self.series.append((time.time(), reading))
            self._stop.wait(self.period)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2)

    def at(self, when: float, name: str) -> tuple[int, int, int, int]:
        """Counters of namespace ``name`` at the last reading not after ``when``."""
        last = self.series[0][1][name]
        for stamp, values in list(self.series):
            if stamp > when:
                break
            last = values[name]
        return last

    def ewma_rate(self, name: str, when: float, t: float, rx: bool = True) -> float:
        """What an exponentially smoothed (time constant ``t``) estimator of the sFlow
        ``bytes`` rate (frame + 4 bytes FCS per packet) received by the switch from
        ``name`` should read at ``when``: Σ Δbytes·exp(-(when - tᵢ)/t) / t."""
        total, prev = 0.0, None
        for stamp, values in list(self.series):
            if stamp > when:
                break
            rb, rp, tb, tp = values[name]
            now_bytes = (rb + 4 * rp) if rx else (tb + 4 * tp)
            if prev is not None:
                total += (now_bytes - prev) * pow(2.718281828459045, -(when - stamp) / t)
            prev = now_bytes
        return total / t

    def first_time_above(self, name: str, bytes_per_second: float) -> float | None:
        """When the switch first received more than this rate from ``name``."""
        series = list(self.series)
        for (t0, v0), (t1, v1) in itertools.pairwise(series):
            if (v1[name][0] - v0[name][0]) / max(t1 - t0, 1e-6) > bytes_per_second:
                return t0
        return None


# --- the shared OVS scenario (session fixture; modules load it with pytest_plugins) --------
SAMPLING = 16
"""1-in-16: ~270 samples/s from a 50 Mb/s TCP flow, enough for a ~2% (1 sigma) total."""
POLLING = 2
FLOW_T = 2.0
TCP_BPS = 50_000_000
UDP_BPS = 5_000_000
UDP_LEN = 1000
IPERF_SECONDS = 10
SNAPSHOT_AT = 8.0
"""Seconds into the iperf3 runs when rates are read: 4 time constants of smoothing."""
ELEPHANT = 2_000_000
"""bytes/s: TCP at 50 Mb/s (6.6 MB/s on the wire) is an elephant, UDP 5 Mb/s and ping not."""
HTTP_FILE_BYTES = 256 * 1024
HTTP_GETS = 4
DELIVERY = 1.0
"""OVS sends a datagram when it is full or about once a second: a sample is that late."""
AGENT = "127.0.0.1"
OVS_DIR = Path("/tmp/frt-ovs-accuracy")
BRIDGE = "frtbr0"
HOSTS = {f"h{i}": Namespace(f"frt-ovs-h{i}", f"frt-ovs-p{i}", f"10.99.61.{i}/24")
         for i in range(1, 5)}
FLOWS = {
    "pair": {"keys": "ipsource,ipdestination", "value": "bytes", "values": ["frames"],
             "t": FLOW_T, "log": True},
    "tcp": {"keys": "ipsource,ipdestination,tcpsourceport,tcpdestinationport",
            "value": "bytes", "values": ["frames"], "t": FLOW_T, "log": True},
    "udp": {"keys": "ipsource,ipdestination,udpsourceport,udpdestinationport",
            "value": "bytes", "values": ["frames"], "t": FLOW_T, "log": True},
    "inport": {"keys": "inputifindex", "value": "bytes", "values": ["frames"], "t": FLOW_T,
               "log": True},
}


@dataclass
class OvsRun:
    """Everything the OVS tests assert on: live handles plus what was read during the run."""

    flowrt: object  # flowrt_process.FlowrtProcess
    relay: SflowRelay
    ovs: Ovs
    hosts: dict[str, Namespace]
    recorder: CounterRecorder
    iperf: dict[str, dict]
    tcp_start: float = 0.0
    snapshot_time: float = 0.0
    snapshot: dict[str, object] = field(default_factory=dict)
    counter_polls: list[tuple[float, list[dict]]] = field(default_factory=list)
    records: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    agents: dict[str, dict] = field(default_factory=dict)
    sfacctd_csv: Path | None = None
    sfacctd_log: str = ""
    forwarded_to_sfacctd: int = 0

    def totals(self, name: str) -> dict[str, tuple[float, float]]:
        """Per key of flow ``name``: (bytes, frames) summed over its log records.

        A record's ``value``/``values`` are averages over max(1 s, end - start) (flowlog.py),
        so value * that duration restores the renormalised total (to the ms rounding of
        start and end)."""
        out: dict[str, tuple[float, float]] = {}
        for rec in self.records:
            if rec["name"] != name:
                continue
            seconds = max(1.0, (rec["end"] - rec["start"]) / 1000)
            b, f = out.get(rec["flowKeys"], (0.0, 0.0))
            out[rec["flowKeys"]] = (b + rec["value"] * seconds, f + rec["values"][0] * seconds)
        return out


def start_sfacctd(workdir: Path, port: int, processes: Processes) -> tuple[subprocess.Popen, Path]:
    """pmacct's sfacctd on 127.0.0.1:``port``: renormalised per 5-tuple CSV totals."""
    csv, conf = workdir / "sfacctd.csv", workdir / "sfacctd.conf"
    conf.write_text("\n".join([
        "daemonize: false", "sfacctd_ip: 127.0.0.1", f"sfacctd_port: {port}",
        "plugins: print[agg]", "aggregate[agg]: src_host, dst_host, proto, src_port, dst_port",
        "print_output[agg]: csv", f"print_output_file[agg]: {csv}",
        "print_output_file_append[agg]: true", "print_refresh_time[agg]: 2",
        "sfacctd_renormalize: true", f"logfile: {workdir}/sfacctd.log", ""]))
    proc = processes.start(["sfacctd", "-f", str(conf)])
    return proc, csv


def _http_gets(client: Namespace, url: str, count: int, gap: float) -> None:
    for _ in range(count):
        run(*client.cmd("curl", "-s", "-m", "5", "-o", "/dev/null", url), check=False)
        time.sleep(gap)


@pytest.fixture(scope="session")
def ovs_daemons():
    """The session's one private OVS: userspace datapaths share a tap device named
    ``ovs-netdev``, so two ovs-vswitchd instances on one machine cannot both forward."""
    require()
    processes = Processes()
    ovs = Ovs(OVS_DIR, processes)
    try:
        yield ovs.start()
    finally:
        ovs.stop()
        processes.stop_all()


def delete_bridges(ovs: Ovs, bridges: Sequence[str]) -> None:
    for bridge in bridges:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            ovs.vsctl("--if-exists", "del-br", bridge)
    delete_namespaces([], bridges)


@pytest.fixture(scope="session")
def ovs_run(tmp_path_factory: pytest.TempPathFactory, ovs_daemons: Ovs):
    """One private OVS (bridge frtbr0, 4 namespaces), FlowRT and sfacctd fed the same sFlow
    through a relay, and 10 s of iperf3 TCP + UDP, ping and HTTP between the namespaces."""
    import json

    from flowrt_process import FlowrtProcess

    require("curl", "ping")
    h1, h2, h3, h4 = HOSTS.values()
    names = [ns.name for ns in HOSTS.values()]
    links = [ns.veth for ns in HOSTS.values()] + [BRIDGE]
    processes = Processes()
    workdir = tmp_path_factory.mktemp("frt-ovs")
    delete_namespaces(names, links)
    flowrt = FlowrtProcess(workdir)
    relay = SflowRelay()
    ovs = ovs_daemons
    recorder = CounterRecorder(list(HOSTS.values()))
    sfacctd = None
    try:
        flowrt.start()
        for name, spec in FLOWS.items():
            assert flowrt.put(f"/flow/{name}/json", spec).status_code == 204
        threshold = {"metric": "pair", "value": ELEPHANT, "byFlow": True, "timeout": 1}
        assert flowrt.put("/threshold/elephant/json", threshold).status_code == 204
        relay.targets.append(("127.0.0.1", int(flowrt.udp_port)))  # type: ignore[arg-type]
        csv = None
        if shutil.which("sfacctd"):
            sfa_port = free_udp_port()
            sfacctd, csv = start_sfacctd(workdir, sfa_port, processes)
            time.sleep(0.5)
            relay.targets.append(("127.0.0.1", sfa_port))
        for ns in HOSTS.values():
            ns.create()
        ovs.add_bridge(BRIDGE, [ns.veth for ns in HOSTS.values()])
        ovs.set_sflow(BRIDGE, [relay.address], SAMPLING, POLLING)
        deadline = time.monotonic() + 10
        while " 0% packet loss" not in run(*h1.cmd("ping", "-c", "1", "-W", "1", h2.ip),
                                             check=False):
            if time.monotonic() > deadline:
                raise AssertionError(f"no connectivity through OVS:\n{ovs.log()[-3000:]}")
        www = workdir / "www"
        www.mkdir()
        (www / "blob").write_bytes(os.urandom(HTTP_FILE_BYTES))
        processes.start(h2.cmd("iperf3", "-s", "-1", "-p", "5201"))
        processes.start(h2.cmd("iperf3", "-s", "-1", "-p", "5202"))
        processes.start(h2.cmd(sys.executable, "-m", "http.server", "8080", "--bind", h2.ip,
                               "--directory", str(www)))
        recorder.start()
        result = OvsRun(flowrt, relay, ovs, dict(HOSTS), recorder, {})
        stop_polls = threading.Event()

        def poll_counters() -> None:
            while not stop_polls.is_set():
                body = flowrt.get_json(f"/dump/{AGENT}/ifinoctets;ifoutoctets/json")
                result.counter_polls.append((time.time(), body))
                stop_polls.wait(0.5)

        poller = threading.Thread(target=poll_counters, daemon=True)
        poller.start()
        ports = {str(ns.ifindex) for ns in HOSTS.values()}
        _wait_for(lambda: result.counter_polls and ports <= {
            e["dataSource"] for e in result.counter_polls[-1][1]}, 15.0, "counter rates")
        time.sleep(POLLING + DELIVERY)  # one whole quiet counter interval before the traffic
        ping = processes.start(h4.cmd("ping", "-i", "0.2", "-c", str(5 * (IPERF_SECONDS + 3)),
                                      h2.ip))
        result.tcp_start = time.time()
        tcp = processes.start(h1.cmd("iperf3", "-c", h2.ip, "-p", "5201", "-t",
                                     str(IPERF_SECONDS), "-b", str(TCP_BPS), "--json"),
                              stdout=workdir / "tcp.json")
        udp = processes.start(h3.cmd("iperf3", "-c", h2.ip, "-p", "5202", "-u", "-t",
                                     str(IPERF_SECONDS), "-b", str(UDP_BPS), "-l", str(UDP_LEN),
                                     "--json"), stdout=workdir / "udp.json")
        http = threading.Thread(target=_http_gets, daemon=True, args=(
            h4, f"http://{h2.ip}:8080/blob", HTTP_GETS, 1.5))
        http.start()
        time.sleep(max(0.0, result.tcp_start + SNAPSHOT_AT - time.time()))
        result.snapshot_time = time.time()
        for name in FLOWS:
            result.snapshot[name] = flowrt.get_json(f"/activeflows/{AGENT}/{name}/json",
                                                    maxFlows=50)
        result.snapshot["counters"] = flowrt.get_json(
            f"/dump/{AGENT}/ifinoctets;ifoutoctets/json")
        for proc in (tcp, udp):
            proc.wait(IPERF_SECONDS + 15)
        http.join(15)
        result.iperf = {name: json.loads((workdir / f"{name}.json").read_text())
                        for name in ("tcp", "udp")}
        Processes.stop(ping)
        time.sleep(2 * POLLING + DELIVERY)  # the last counter polls and samples arrive
        stop_polls.set()
        poller.join(5)
        if sfacctd is not None:
            result.forwarded_to_sfacctd = relay.forwarded
            relay.targets.pop()
            Processes.stop(sfacctd, signal.SIGINT, timeout=10)  # gotcha 6: SIGINT flushes
            result.sfacctd_csv = csv
            log = workdir / "sfacctd.log"
            result.sfacctd_log = log.read_text(errors="replace") if log.exists() else ""
        # log:true records close after max(2 s, 2t) idle, at the next engine tick
        deadline = time.time() + 10
        while True:
            result.records = flowrt.get_json("/flows/json", maxFlows=1000)
            keys = {r["flowKeys"] for r in result.records if r["name"] == "pair"}
            if f"{h1.ip},{h2.ip}" in keys or time.time() > deadline:
                break
            time.sleep(0.5)
        time.sleep(1.5)  # the other keys close in the same or the next tick
        result.records = flowrt.get_json("/flows/json", maxFlows=1000)
        result.events = flowrt.get_json("/events/json", maxEvents=100)
        result.agents = flowrt.get_json("/agents/json")
        yield result
    finally:
        recorder.stop()
        processes.stop_all()
        delete_bridges(ovs, [BRIDGE])
        delete_namespaces(names, links)
        relay.close()
        flowrt.stop()
