"""FlowRT fed by a Mininet network on Open vSwitch in user-space mode: three bridges,
each its own sFlow sub-agent of the same agent (127.0.0.1), which FlowRT must keep apart.

Mininet runs from Debian's ``/usr/bin/python3`` (where the package lives) through the
Mininet Python API, never the ``mn`` command: ``mn``'s cleanup kills processes and
deletes bridges by name machine-wide, and
``Mininet.stop()`` only removes what this network made. Names start with ``frt`` so
nothing collides with other tests; OVS is a private instance (:class:`netns.Ovs`).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

pytest.register_assert_rewrite("netns")
from netns import (  # noqa: E402 - after the rewrite registration
    DELIVERY,
    CounterRecorder,
    Namespace,
    Ovs,
    Processes,
    delete_bridges,
    delete_namespaces,
    require,
)

if TYPE_CHECKING:
    from flowrt_process import FlowrtProcess

pytest_plugins = ["flowrt_process", "netns"]  # flowrt; ovs_daemons (the one OVS)
DEBIAN_PYTHON = "/usr/bin/python3"
SWITCHES = ("frts1", "frts2", "frts3")
SAMPLING = 10
POLLING = 2
FLOW_T = 2.0
IPERF_SECONDS = 8
SNAPSHOT_AT = 6.5
MININET_TIMEOUT = 90
SCRIPT = r'''
import json, subprocess, sys, time
from functools import partial
from mininet.link import TCULink
from mininet.log import setLogLevel
from mininet.net import Mininet
from mininet.node import OVSBridge
from mininet.topo import Topo

target, sampling, polling, seconds = sys.argv[1:5]


class Tree(Topo):
    """frts1 at the root, frts2 (frth1, frth2) and frts3 (frth3, frth4) below."""
    def build(self):
        root = self.addSwitch("frts1", dpid="1")
        for i, leaf in ((1, "frts2"), (3, "frts3")):
            self.addSwitch(leaf, dpid=str(i + 1))
            self.addLink(leaf, root)
            for h in (i, i + 1):
                self.addHost("frth%d" % h, ip="10.99.62.%d/24" % h)
                self.addLink("frth%d" % h, leaf)


def say(**kw):
    print(json.dumps(kw), flush=True)


setLogLevel("warning")
# txo/rxo off (TCULink): a user-space switch needs TX checksum offload off on veths
net = Mininet(topo=Tree(), switch=partial(OVSBridge, datapath="user"), controller=None,
              link=TCULink, autoSetMacs=True)
server = None
try:
    net.start()
    say(pids=[h.pid for h in net.hosts])
    for s in net.switches:
        subprocess.run(["ovs-vsctl", "--", "--id=@s", "create", "sflow", "agent=lo",
                        'target="%s"' % target, "header=128", "sampling=" + sampling,
                        "polling=" + polling, "--", "set", "bridge", s.name, "sflow=@s"],
                       check=True, capture_output=True)
    say(ports={i.name: int(open("/sys/class/net/%s/ifindex" % i.name).read())
               for s in net.switches for i in s.intfList() if i.name != "lo"})
    loss = net.pingAll(timeout=1)
    h1, h4 = net.get("frth1"), net.get("frth4")
    server = h4.popen(["iperf3", "-s", "-1"])
    time.sleep(0.5)
    say(loss=loss, start=time.time())
    out = h1.cmd("iperf3 -c %s -t %s -b 20M --json" % (h4.IP(), seconds))
    server.wait(5)
    say(iperf=json.loads(out))
finally:
    if server is not None and server.poll() is None:
        server.kill()  # a one-shot iperf3 server whose client never came
    net.stop()
'''


def stop_mininet(proc: subprocess.Popen[str], host_pids: list[int]) -> None:
    """Stop the script (its net.stop() cleans up), then any host shell it left, by PID."""
    Processes.stop(proc, signal.SIGINT, timeout=15)  # type: ignore[arg-type]
    for pid in host_pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_mininet_bridges_are_separate_sub_agents(flowrt, ovs_daemons: Ovs,
                                                 tmp_path: Path) -> None:
    require("mn")
    if not Path(DEBIAN_PYTHON).exists():
        pytest.fail(f"{DEBIAN_PYTHON} (Debian's python3, where mininet lives) is missing")
    server: FlowrtProcess = flowrt()
    pair = {"keys": "ipsource,ipdestination", "value": "bytes", "t": FLOW_T}
    assert server.put("/flow/pair/json", pair).status_code == 204
    ovs = ovs_daemons
    links = [f"{s}-eth{i}" for s in SWITCHES for i in range(1, 4)] + list(SWITCHES)
    delete_namespaces([], links)
    script = tmp_path / "frt_mininet.py"
    script.write_text(SCRIPT)
    host_pids: list[int] = []
    proc = None
    recorder = None
    try:
        proc = subprocess.Popen(
            [DEBIAN_PYTHON, str(script), f"127.0.0.1:{server.udp_port}", str(SAMPLING),
             str(POLLING), str(IPERF_SECONDS)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ovs.env,
            cwd=tmp_path)
        said: dict = {}
        deadline = time.monotonic() + MININET_TIMEOUT
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("{"):
                said.update(json.loads(line))
                host_pids = said.get("pids", host_pids)
            if "start" in said and recorder is None:
                # the leaf port towards frth1 (frts2-eth2: eth1 is the uplink) is in the
                # root namespace: its counters are the ground truth
                port = Namespace("frth1", "frts2-eth2", "")
                recorder = CounterRecorder([port]).start()
                time.sleep(max(0.0, said["start"] + SNAPSHOT_AT - time.time()))
                snap_time = time.time()
                snapshot = server.get_json("/activeflows/127.0.0.1/pair/json", maxFlows=20)
                per_bridge = server.get_json("/activeflows/127.0.0.1/pair/json",
                                             maxFlows=20, aggMode="sum")
                recorder.stop()  # before net.stop() deletes the interface
            if time.monotonic() > deadline:
                break
        proc.wait(MININET_TIMEOUT)
        stderr = proc.stderr.read() if proc.stderr else ""
        assert "iperf" in said, f"mininet run failed:\n{stderr[-3000:]}\n{ovs.log()[-2000:]}"
        time.sleep(POLLING + DELIVERY)
        agent = server.get_json("/agents/json")["127.0.0.1"]
    finally:
        if recorder is not None:
            recorder.stop()
        if proc is not None:
            stop_mininet(proc, host_pids)
        delete_bridges(ovs, SWITCHES)
        delete_namespaces([], links)
    assert said["loss"] == 0
    subs = agent["sFlowSubAgents"]
    print("sub-agents (received, lost):",
          {k: (v["datagramsReceived"], v["datagramsLost"]) for k, v in subs.items()})
    # three bridges, three independent sequence streams: merged, they would show gaps,
    # out-of-order datagrams and restarts
    # (OVS numbers sub-agents per bridge configured in this ovs-vswitchd: ids vary)
    assert len(subs) == len(SWITCHES)
    for sub in subs.values():
        assert sub["datagramsReceived"] > 3
        assert sub["datagramsLost"] == sub["datagramsOutOfOrder"] == sub["restarts"] == 0
    assert agent["sFlowDatagramsLost"] == 0 and agent["sFlowFlowLostSamples"] == 0
    assert agent["sFlowCounterLostSamples"] == 0
    key = "10.99.62.1,10.99.62.4"
    rates = {f["key"]: f["value"] for f in snapshot}
    expected = sorted([recorder.ewma_rate("frth1", snap_time - DELIVERY, FLOW_T),
                       recorder.ewma_rate("frth1", snap_time, FLOW_T)])
    samples_per_s = expected[1] / 1518 / SAMPLING
    tol = 3 / math.sqrt(2 * FLOW_T * samples_per_s)
    print(f"mininet iperf3 20 Mb/s: FlowRT {rates[key] * 8 / 1e6:.2f} Mb/s, kernel "
          f"{expected[0] * 8 / 1e6:.2f}..{expected[1] * 8 / 1e6:.2f} Mb/s (±{tol:.1%})")
    assert expected[0] * (1 - tol) <= rates[key] <= expected[1] * (1 + tol)
    # the flow crosses all three bridges: summed over their data sources it counts ~3x
    summed = {f["key"]: f["value"] for f in per_bridge}[key]
    assert summed == pytest.approx(3 * rates[key], rel=0.35)
