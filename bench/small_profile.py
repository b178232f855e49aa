"""Resident memory of a real ``flowrt run`` on a small machine: 50 agents, 20 flows.

The question a Raspberry Pi (or a 256 MB container limit) asks: with the properties of
the small-machine profile (docs/deploy.md), does FlowRT stay under 256 MB? This script

* starts the real server (``flowrt run`` on free 127.0.0.1 ports, read from its
  ``flowrt: listening ...`` line) with the profile's properties, or the defaults;
* defines ``FLOW_COUNT`` flows over the REST API, as a dashboard or an app would;
* sends sFlow over UDP to 127.0.0.1 from ``--agents`` distinct agents: the agent
  address is the field inside each datagram (built with ``flowrt.sflow.encode``), each
  agent with ``--ports`` data sources sending flow samples (``sampled_header`` of
  Ethernet/IPv4 or IPv6 TCP/UDP frames, addresses drawn from wide pools so flow tables
  fill) and ``generic_interface``/``ethernet`` counters every ``COUNTER_SECONDS``;
* reads the server's VmRSS and VmHWM from ``/proc/<pid>/status`` as it goes, then
  asks the REST API what it holds (agents, metrics, flow keys) so the figure says what
  it was measured against.

Run: ``.venv/bin/python bench/small_profile.py`` (about two minutes; ``--seconds`` to
change), ``--profile default`` to measure without the profile. One ``name value`` per
line; RSS figures in MiB. Nothing here asserts: it is a measurement.
"""

from __future__ import annotations

import argparse
import random
import socket
import struct
import time
from pathlib import Path
from typing import Any

from flowrt.sflow import Datagram, encode_datagram
from flowrt.sflow.model import CounterSample, FlowSample
from flowrt.sflow.records.counters import EthernetCounters, GenericInterfaceCounters
from flowrt.sflow.records.flow import HEADER_ETHERNET, SampledHeader
from flowrt_server import LOCALHOST, mib
from flowrt_server import FlowrtServer as Server

SMALL_PROFILE = (
    # docs/deploy.md "Small machines": every table that grows with traffic gets a cap
    # sized for a small site instead of a data centre.
    "-Dflowrt.agents.max=200",
    "-Dflowrt.datasources.max=256",
    "-Dflowrt.datasources.total.max=5000",
    "-Devents.max=200",
    "-Dflows.max=200",
    "-Dflowrt.script.memory=32",
    "-Dflowrt.script.queue=2000",
    "-Dsflow.rcvpktsbuffer=1000",
)
PROFILES = {"small": SMALL_PROFILE, "default": ()}
FLOWS: dict[str, dict[str, Any]] = {
    "pair": {"keys": "ipsource,ipdestination", "value": "bytes"},
    "src": {"keys": "ipsource", "value": "bytes"},
    "dst": {"keys": "ipdestination", "value": "bytes"},
    "pair_frames": {"keys": "ipsource,ipdestination", "value": "frames"},
    "proto": {"keys": "ipprotocol", "value": "frames"},
    "tcp_dst": {"keys": "tcpdestinationport", "value": "bytes", "filter": "ipprotocol=6"},
    "tcp_src": {"keys": "tcpsourceport", "value": "bytes", "filter": "ipprotocol=6"},
    "udp_dst": {"keys": "udpdestinationport", "value": "bytes", "filter": "ipprotocol=17"},
    "udp_src": {"keys": "udpsourceport", "value": "bytes", "filter": "ipprotocol=17"},
    "tcp_5tuple": {
        "keys": "ipsource,ipdestination,tcpsourceport,tcpdestinationport", "value": "bytes",
    },
    "v6_pair": {"keys": "ip6source,ip6destination", "value": "bytes"},
    "mac_pair": {"keys": "macsource,macdestination", "value": "frames"},
    "ethertype": {"keys": "ethernetprotocol", "value": "frames"},
    "in_if": {"keys": "inputifindex", "value": "bytes"},
    "out_if": {"keys": "outputifindex", "value": "bytes"},
    "dscp": {"keys": "ipdscp", "value": "bytes"},
    "ttl": {"keys": "ipttl", "value": "frames"},
    "total_bytes": {"value": "bytes"},
    "total_frames": {"value": "frames"},
    "web": {"keys": "ipdestination", "value": "bytes", "filter": "tcpdestinationport=443"},
}
FLOW_COUNT = len(FLOWS)
SAMPLING_RATE = 1024
HEADER_BYTES = 128
FCS_BYTES = 4
SAMPLES_PER_DATAGRAM = 6
COUNTER_SECONDS = 20
CLIENTS = 65536  # wide address pools: keys keep changing, tables fill to their caps
SERVERS = 4096
SERVICES = ((443, 6), (80, 6), (22, 6), (53, 17), (123, 17), (4500, 17))
RSS_EVERY_SECONDS = 5.0


# --- the traffic ----------------------------------------------------------------------------
def _frame(rng: random.Random, length: int) -> tuple[bytes, int]:
    """The first bytes of a random Ethernet/IP/TCP-or-UDP frame of ``length`` bytes."""
    port, l4 = rng.choice(SERVICES)
    sport = rng.randrange(1024, 65536)
    macs = rng.randbytes(12)
    if l4 == 6:
        l4_header = struct.pack(">HHIIBBHHH", sport, port, 1, 1, 0x50, 0x18, 65535, 0, 0)
    else:
        l4_header = struct.pack(">HHHH", sport, port, max(8, length - 42), 0)
    if rng.random() < 0.15:
        src = b"\x20\x01\x0d\xb8" + bytes(8) + struct.pack(">I", rng.randrange(CLIENTS))
        dst = b"\x20\x01\x0d\xb9" + bytes(8) + struct.pack(">I", rng.randrange(SERVERS))
        length = max(length, 86)
        ip = struct.pack(">IHBB16s16s", 0x60000000, length - 58, l4, 64, src, dst)
        eth = macs + b"\x86\xdd"
    else:
        src = struct.pack(">I", 0x0A000000 + rng.randrange(CLIENTS))
        dst = struct.pack(">I", 0xC6330000 + rng.randrange(SERVERS))
        tos = rng.choice((0, 0, 0, 0x28, 0xB8))
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, tos, length - 18, 1, 0x4000,
                         rng.choice((64, 63, 128)), l4, 0, src, dst)
        eth = macs + b"\x08\x00"
    return (eth + ip + l4_header).ljust(length, b"\0")[: min(HEADER_BYTES, length - 4)], length


class Agent:
    """One sFlow agent (its address is the datagram's agent field) with ``ports`` ports."""

    def __init__(self, address: str, ports: int, rng: random.Random) -> None:
        self.address, self.ports, self.rng = address, ports, rng
        self.sequence = 0
        self.flow_seq = [0] * (ports + 1)
        self.counter_seq = [0] * (ports + 1)
        self.octets = [0] * (ports + 1)
        self.started = time.monotonic()

    def _uptime_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000) + 1000

    def flow_datagram(self) -> bytes:
        samples: list[Any] = []
        for _ in range(SAMPLES_PER_DATAGRAM):
            ds = self.rng.randrange(1, self.ports + 1)
            header, length = _frame(self.rng, self.rng.choice((64, 590, 1518)))
            self.flow_seq[ds] += 1
            self.octets[ds] += length * SAMPLING_RATE
            seq = self.flow_seq[ds]
            record = SampledHeader(HEADER_ETHERNET, length, FCS_BYTES, header)
            samples.append(FlowSample(seq, 0, ds, SAMPLING_RATE, seq * SAMPLING_RATE, 0,
                                      0, ds, 0, self.ports + 1, [record]))
        return self._datagram(samples)

    def counter_datagrams(self) -> list[bytes]:
        """Every port's counters, a few ports per datagram (as agents batch them)."""
        out, batch = [], []
        for ds in range(1, self.ports + 1):
            self.counter_seq[ds] += 1
            octets = self.octets[ds] & 0xFFFFFFFFFFFFFFFF
            packets = octets // 700 & 0xFFFFFFFF
            generic = GenericInterfaceCounters(
                ds, 6, 1_000_000_000, 1, 3, octets, packets, 0, 0, 0, 0, 0,
                octets, packets, 0, 0, 0, 0, 0,
            )
            batch.append(CounterSample(self.counter_seq[ds], 0, ds,
                                       [generic, EthernetCounters(*([0] * 13))]))
            if len(batch) == 8:
                out.append(self._datagram(batch))
                batch = []
        if batch:
            out.append(self._datagram(batch))
        return out

    def _datagram(self, samples: list[Any]) -> bytes:
        self.sequence += 1
        return encode_datagram(Datagram(self.address, 0, self.sequence, self._uptime_ms(),
                                        samples))


# --- the server under test ------------------------------------------------------------------



def run(args: argparse.Namespace) -> None:
    properties = PROFILES[args.profile]
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    server = Server(properties, workdir)
    try:
        print(f"profile {args.profile} {' '.join(properties) or '(defaults)'}")
        rss, _ = server.memory_kib()
        print(f"rss_started_mib {mib(rss)}")
        for name, spec in FLOWS.items():
            server.request("PUT", f"/flow/{name}/json", spec)
        rng = random.Random(6343)
        agents = [Agent(f"10.{100 + i // 250}.{i % 250}.1", args.ports, rng)
                  for i in range(args.agents)]
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        target = (LOCALHOST, server.udp_port)
        interval = 1.0 / args.rate
        started = time.monotonic()
        next_counters = started
        next_rss = started + RSS_EVERY_SECONDS
        sent, peak_rss, n = 0, 0, 0
        while (now := time.monotonic()) < started + args.seconds:
            if now >= next_counters:
                for agent in agents:
                    for payload in agent.counter_datagrams():
                        sock.sendto(payload, target)
                        sent += 1
                next_counters += COUNTER_SECONDS
            sock.sendto(agents[n % len(agents)].flow_datagram(), target)
            sent += 1
            n += 1
            if now >= next_rss:
                rss, _ = server.memory_kib()
                peak_rss = max(peak_rss, rss)
                print(f"# t={now - started:.0f}s rss {mib(rss)} MiB, {sent} datagrams sent",
                      flush=True)
                next_rss += RSS_EVERY_SECONDS
            delay = started + n * interval - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        sock.close()
        time.sleep(2.0)  # let the server drain its socket
        analyzer = server.request("GET", "/analyzer/json")
        keys = 0
        for name in FLOWS:
            keys += len(server.request("GET", f"/activeflows/ALL/{name}/json?maxFlows=100000"))
        metrics = server.request("GET", "/dump/ALL/ifspeed/json")
        rss, hwm = server.memory_kib()
        peak_rss = max(peak_rss, rss)
        print(f"agents_reporting {analyzer['sFlowAgents']}")
        print(f"datagrams_sent {sent}")
        print(f"datagrams_received {analyzer['sFlowDatagramsReceived']}")
        print(f"socket_drops {analyzer['sFlowSocketDrops']}")
        print(f"flow_samples {analyzer['sFlowFlowSamples']}")
        print(f"flows_defined {FLOW_COUNT}")
        print(f"interface_data_sources {len(metrics)}")
        print(f"active_flow_keys_all {keys}")
        print(f"rss_end_mib {mib(rss)}")
        print(f"rss_peak_sampled_mib {mib(peak_rss)}")
        print(f"rss_high_water_mib {mib(hwm)}")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="small")
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--ports", type=int, default=24, help="data sources per agent")
    parser.add_argument("--rate", type=float, default=200.0, help="flow datagrams per second")
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--workdir", default="/tmp/flowrt-small-profile",
                        help="the server's working directory (conf.d, store)")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
