"""In-process ingest: the compiled core (native) beside the reference path, per core.

Flow samples per CPU second for the whole ingest (walk/decode, header parse, sequence
accounting, 3 or 20 flows, table updates) on two traffic sets: ``bench/ingest.py``'s
generated access-switch mix (6-8 flow samples per datagram, one in five with a counter
sample) and the flow datagrams of the real Open vSwitch capture
(tests/data/sflow/ovs-netns.pcap, ~6 samples each, replayed with consecutive sequence
numbers). Rounds are interleaved and each figure keeps its best round; ratios are the
figures to quote on a shared machine. One ``name value`` per line.

Run: ``.venv/bin/python bench/native.py [seconds]`` (needs the built extension).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import ingest as base
from flowrt._core import load_native
from flowrt.engine.core import Engine
from flowrt.engine.native import NativeIngest
from flowrt.sflow.decode import decode_datagram
from flowrt.sflow.model import FlowSample
from flowrt.sources import read_pcap

REPO = Path(__file__).resolve().parent.parent
KEY_SETS = [
    "ipsource,ipdestination", "ipsource", "ipdestination", "ipprotocol",
    "tcpsourceport,tcpdestinationport", "udpsourceport,udpdestinationport", "macsource",
    "macdestination", "macsource,macdestination", "ipsource,tcpdestinationport",
    "inputifindex,outputifindex", "ipdscp", "ipttl", "ip6source,ip6destination", "vlan",
    "ipsource,ipdestination,ipprotocol", "tcpflags", "ethernetprotocol", "agent",
]


def twenty_flows() -> dict[str, dict[str, Any]]:
    flows = dict(base.FLOWS)
    for i, keys in enumerate(KEY_SETS[: 20 - len(flows)]):
        flows[f"extra{i}"] = {"keys": keys, "value": "bytes" if i % 2 else "frames"}
    return flows


def ovs_datagrams(copies: int = 20) -> list[bytes]:
    """The capture's flow-only datagrams, repeated with sequence numbers renumbered."""
    flows_only = [
        d.payload for d in read_pcap(REPO / "tests/data/sflow/ovs-netns.pcap")
        if all(s.__class__ is FlowSample for s in decode_datagram(d.payload).samples)
    ]
    out = []
    seq = 1
    per_source: dict[int, int] = {}
    for _ in range(copies):
        for payload in flows_only:
            data = bytearray(payload)
            data[16:20] = seq.to_bytes(4, "big")
            seq += 1
            off = 28
            for _sample in range(int.from_bytes(data[24:28], "big")):
                length = int.from_bytes(data[off + 4: off + 8], "big")
                source = int.from_bytes(data[off + 12: off + 16], "big")
                n = per_source.get(source, 0) + 1
                per_source[source] = n
                data[off + 8: off + 12] = n.to_bytes(4, "big")
                off += 8 + length
            out.append(bytes(data))
    return out


def run(datagrams: list[bytes], flows: dict[str, dict[str, Any]], native: bool) -> None:
    engine = Engine(now=0.0)
    for name, body in flows.items():
        engine.set_flow(name, body)
    driver = NativeIngest(engine) if native else None
    ingest = driver.ingest_datagram if driver is not None else engine.ingest_datagram
    now = 1000.0
    for i, data in enumerate(datagrams):
        ingest(data, base.AGENT, now)
        if i % 256 == 255:  # the live path: one ``now`` and one flush per received batch
            if driver is not None:
                driver.flush()
            now += 0.01
    if driver is not None:
        driver.flush()
    engine.active_flows("ALL", next(iter(flows)), now)


def samples_in(datagrams: list[bytes]) -> int:
    return sum(
        sum(1 for s in decode_datagram(d).samples if s.__class__ is FlowSample) for d in datagrams
    )


def main(argv: list[str]) -> int:
    seconds = float(argv[1]) if len(argv) > 1 else 8.0
    if load_native() is None:
        print("native core not available (not built, or FLOWRT_NO_EXTENSIONS set)")
        return 1
    sets = {"generated": base.build_traffic().datagrams, "ovs": ovs_datagrams()}
    flow_sets = {"3": dict(base.FLOWS), "20": twenty_flows()}
    runs: dict[str, tuple[Callable[[], None], int]] = {}
    for set_name, data in sets.items():
        count = samples_in(data)
        for n, flows in flow_sets.items():
            for path in ("reference", "native"):
                runs[f"{set_name}_{n}_flows_{path}"] = (
                    lambda d=data, f=flows, p=path: run(d, f, p == "native"), count
                )
    best = dict.fromkeys(runs, float("inf"))
    deadline = time.perf_counter() + seconds
    rounds = 0
    while rounds < 2 or time.perf_counter() < deadline:
        for name, (fn, _count) in runs.items():
            started = time.process_time()
            fn()
            best[name] = min(best[name], time.process_time() - started)
        rounds += 1
    rates = {name: runs[name][1] / best[name] for name in runs}
    for name, rate in rates.items():
        print(f"{name}_samples_per_s {rate:.0f}")
    for set_name in sets:
        for n in flow_sets:
            ratio = rates[f"{set_name}_{n}_flows_native"] / rates[f"{set_name}_{n}_flows_reference"]
            print(f"ratio_{set_name}_{n}_flows_native_vs_reference {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
