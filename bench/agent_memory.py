"""Bytes per sFlow agent and per data source, and the total with spoofed agent floods.

Anyone who can reach the sFlow port can claim any agent address (it is a field inside
the datagram), so the agent table, the metric store and the flow tables are only as
bounded as their caps. This script measures what one agent and one data source cost
on a real ``flowrt run``:

* starts the real server (``bench/small_profile.py``'s :class:`Server`) with the given
  properties (``-D...`` after ``--``), defines ``--flows`` flows over REST;
* sends, over UDP to 127.0.0.1, ``--agents`` distinct agent addresses (the field inside
  each datagram, built with ``flowrt.sflow.encode``), each with ``--ports`` data sources:
  every port's counters (``generic_interface`` + ``ethernet``) and one datagram of flow
  samples spread over its ports, paced at ``--rate`` datagrams a second;
* reads VmRSS from ``/proc/<pid>/status`` before and after, and asks ``/analyzer/json``
  what the server kept and refused (and how long that answer took).

Run it twice (``--ports 1`` and ``--ports 12``) to split the per-agent from the
per-data-source cost. One ``name value`` per line; nothing here asserts.

    .venv/bin/python bench/agent_memory.py --agents 20000 --ports 12 -- -Dflowrt.agents.max=100000
"""

from __future__ import annotations

import argparse
import random
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from flowrt_server import LOCALHOST, mib
from flowrt_server import FlowrtServer as Server
from small_profile import FLOWS, Agent

SETTLE_SECONDS = 3.0


def run(args: argparse.Namespace) -> None:
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    server = Server(tuple(args.properties), workdir)
    try:
        print(f"properties {' '.join(args.properties) or '(defaults)'}")
        for name in list(FLOWS)[: args.flows]:
            server.request("PUT", f"/flow/{name}/json", FLOWS[name])
        time.sleep(1.0)
        rss_start, _ = server.memory_kib()
        print(f"rss_start_mib {mib(rss_start)}")
        rng = random.Random(6343)
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        target = (LOCALHOST, server.udp_port)
        started = time.monotonic()
        sent = 0
        for i in range(args.agents):
            agent = Agent(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", args.ports, rng)
            for payload in [*agent.counter_datagrams(), agent.flow_datagram()]:
                sock.sendto(payload, target)
                sent += 1
                delay = started + sent / args.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
        sock.close()
        time.sleep(SETTLE_SECONDS)
        t0 = time.perf_counter()
        analyzer = server.request("GET", "/analyzer/json")
        analyzer_ms = (time.perf_counter() - t0) * 1000
        rss_end, hwm = server.memory_kib()
        grown = (rss_end - rss_start) * 1024
        kept = max(1, analyzer["sFlowAgents"])
        print(f"datagrams_sent {sent}")
        print(f"datagrams_received {analyzer['sFlowDatagramsReceived']}")
        print(f"socket_drops {analyzer['sFlowSocketDrops']}")
        for name in ("sFlowAgents", "sFlowDatasources", "sFlowAgentsRejected",
                     "sFlowDatasourcesRejected", "sFlowDatasourcesTotalRejected",
                     "metricSamplesRejected", "flowSourcesRejected"):
            if name in analyzer:
                print(f"{name} {analyzer[name]}")
        print(f"rss_end_mib {mib(rss_end)}")
        print(f"rss_high_water_mib {mib(hwm)}")
        print(f"rss_grown_mib {mib(rss_end - rss_start)}")
        print(f"bytes_per_agent_kept {grown / kept:.0f}")
        print(f"bytes_per_datasource_kept {grown / (kept * args.ports):.0f}")
        print(f"analyzer_json_ms {analyzer_ms:.1f}")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--ports", type=int, default=12, help="data sources per agent")
    parser.add_argument("--flows", type=int, default=4, help="flows defined (of small_profile's)")
    parser.add_argument("--rate", type=float, default=4000.0, help="datagrams per second")
    parser.add_argument("--workdir", default="/tmp/flowrt-agent-memory")
    parser.add_argument("properties", nargs="*", help="-Dname=value for the server")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
