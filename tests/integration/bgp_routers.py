"""Real BGP routers for the speaker's tests: FRR ``bgpd`` and BIRD 2, each in its own
network namespace, peering with a FlowRT process in the root namespace.

Layout (names start with ``frt-bgp`` so no other test's namespaces collide)::

    root ns  frt-bgp-vf 10.99.14.1  <->  eth0 10.99.14.2  ns frt-bgp-frr   (FRR bgpd)
    root ns  frt-bgp-vb 10.99.15.1  <->  eth0 10.99.15.2  ns frt-bgp-bird  (BIRD 2)

Both routers are in AS 65000 (internal BGP with FlowRT, as ddos-protect's defaults
expect) and dial FlowRT's BGP port, the way sFlow-RT's docs tell operators to configure
them (``neighbor X port 1179``). FRR runs without zebra (``-Z``) and BIRD in the
foreground; both are children of the test, stopped by PID, and their namespaces and
veths are removed by name, including leftovers of an earlier run that was killed.
10.99.9.0/24 is only announced in BGP; nothing is sent to it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

COMMAND_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
APT_HINT = "install the Debian packages in packages.apt (`make setup` does it)"
FRR_BGPD = Path("/usr/lib/frr/bgpd")
ASN = 65000


def run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT,
                          check=check)


def require_tools() -> None:
    """A missing router is an error (never a skip): the packages are in packages.apt."""
    missing = [name for name, ok in (
        ("frr (/usr/lib/frr/bgpd)", FRR_BGPD.exists()), ("frr (vtysh)", shutil.which("vtysh")),
        ("bird2 (bird)", shutil.which("bird")), ("bird2 (birdc)", shutil.which("birdc")),
        ("iproute2 (ip)", shutil.which("ip"))) if not ok]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: {APT_HINT}")


def wait_until(check: Callable[[], bool], timeout: float,
               what: str | Callable[[], str]) -> None:
    """Poll ``check``; on timeout fail with ``what`` (a callable is evaluated then, so a
    message can carry the routers' logs as they are at the end of the wait)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            text = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g} s waiting for {text}")
        time.sleep(0.2)


@dataclass
class Namespace:
    """One namespace with a veth to the root namespace (root side addressed too)."""

    name: str
    veth: str
    root_address: str
    ns_address: str

    def create(self) -> None:
        self.delete()
        run("ip", "netns", "add", self.name)
        run("ip", "-n", self.name, "link", "set", "lo", "up")
        run("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0",
            "netns", self.name)
        run("ip", "addr", "add", f"{self.root_address}/24", "dev", self.veth)
        run("ip", "link", "set", self.veth, "up")
        run("ip", "-n", self.name, "addr", "add", f"{self.ns_address}/24", "dev", "eth0")
        run("ip", "-n", self.name, "link", "set", "eth0", "up")

    def delete(self) -> None:
        pids = run("ip", "netns", "pids", self.name, check=False).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        run("ip", "link", "del", self.veth, check=False)
        run("ip", "netns", "del", self.name, check=False)


@dataclass
class Router:
    """A router daemon in a namespace; ``start``/``stop`` by PID, ``restart`` both."""

    ns: Namespace
    workdir: Path
    speaker_port: int
    proc: subprocess.Popen[str] | None = None
    log_name: str = "router.log"
    extra: list[str] = field(default_factory=list)

    def command(self) -> list[str]:
        raise NotImplementedError

    def configure(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.configure()
        out = (self.workdir / self.log_name).open("a")
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns.name, *self.command()],
                                     stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, text=True)
        out.close()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)

    def log(self) -> str:
        texts = []
        for path in sorted(self.workdir.glob("*.log")):
            texts.append(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}")
        return "\n".join(texts)


class Frr(Router):
    """FRR bgpd without zebra, its vty socket in its own directory."""

    def configure(self) -> None:
        speaker = self.ns.root_address
        (self.workdir / "bgpd.conf").write_text(f"""frr defaults traditional
hostname frt-bgp-frr
log file {self.workdir}/bgpd.log
router bgp {ASN}
 bgp router-id {self.ns.ns_address}
 no bgp ebgp-requires-policy
 neighbor {speaker} remote-as {ASN}
 neighbor {speaker} port {self.speaker_port}
 neighbor {speaker} timers connect 1
 address-family ipv4 unicast
  neighbor {speaker} activate
 exit-address-family
 address-family ipv4 flowspec
  neighbor {speaker} activate
 exit-address-family
""")

    def command(self) -> list[str]:
        return [str(FRR_BGPD), "-f", str(self.workdir / "bgpd.conf"),
                "-i", str(self.workdir / "bgpd.pid"), "--vty_socket", str(self.workdir),
                "-Z", "-S", "-u", "root", "-g", "root", "-p", "0"]

    def vtysh(self, command: str) -> str:
        return run("vtysh", "--vty_socket", str(self.workdir), "-c", command,
                   check=False).stdout

    def established(self) -> bool:
        text = self.vtysh(f"show bgp neighbors {self.ns.root_address}")
        return "BGP state = Established" in text


class Bird(Router):
    """BIRD 2 in the foreground with IPv4 unicast and flow4 channels."""

    def configure(self) -> None:
        speaker = self.ns.root_address
        (self.workdir / "bird.conf").write_text(f"""log "{self.workdir}/bird.log" all;
router id {self.ns.ns_address};
protocol device {{ scan time 10; }}
protocol direct {{ ipv4; interface "eth0"; }}
flow4 table flowtab4;
protocol bgp flowrt {{
  local {self.ns.ns_address} as {ASN};
  neighbor {speaker} port {self.speaker_port} as {ASN};
  connect retry time 1;
  error wait time 1, 2;
  ipv4 {{ import all; export none; }};
  flow4 {{ table flowtab4; import all; export none; }};
}}
""")

    def command(self) -> list[str]:
        return ["bird", "-f", "-c", str(self.workdir / "bird.conf"),
                "-s", str(self.workdir / "bird.ctl"), "-P", str(self.workdir / "bird.pid")]

    def birdc(self, command: str) -> str:
        return run("birdc", "-s", str(self.workdir / "bird.ctl"), *command.split(),
                   check=False).stdout

    def established(self) -> bool:
        return "Established" in self.birdc("show protocols flowrt")
