"""The per-sample cost of enrichment keys beside a plain flow, in one run.

Flow samples per CPU second through ``Engine.ingest_datagram`` (the reference path,
where every key function runs) for three definitions measured in interleaved rounds:
``plain`` (``ipsource,ipdestination``), ``country`` (``ipsource,country:ipsource``)
and ``asn`` (``ipsource,asn:ipsource:both``). Traffic: datagrams of 8 flow samples
whose sources cycle over ``ADDRESSES`` public IPv4 addresses (so the answer cache is
warm, as on a real link where addresses repeat) and, for the ``-cold`` variants, a
cache of 16 entries so most samples miss and read the embedded table. Ratios against
``plain`` are the figures to quote on a shared machine. One ``name value`` per line.

Run: ``.venv/bin/python bench/enrich.py [seconds]``.
"""

from __future__ import annotations

import ipaddress
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from flowrt.config import Properties
from flowrt.engine.core import Engine
from flowrt.sflow import Datagram, FlowSample, encode_datagram
from flowrt.sflow.records.flow import SampledHeader
from traffic_frames import frame

ADDRESSES = 2000
SAMPLES_PER_DATAGRAM = 8
FLOWS = {
    "plain": "ipsource,ipdestination",
    "country": "ipsource,country:ipsource",
    "asn": "ipsource,asn:ipsource:both",
}


def datagrams() -> list[bytes]:
    base = int(ipaddress.IPv4Address("23.0.0.1"))
    frames = [frame(str(ipaddress.IPv4Address(base + i * 4099)), "001B21000001")
              for i in range(ADDRESSES)]
    out, seq = [], 0
    for start in range(0, len(frames), SAMPLES_PER_DATAGRAM):
        samples = []
        for header in frames[start:start + SAMPLES_PER_DATAGRAM]:
            seq += 1
            samples.append(FlowSample(seq, 0, 3, 100, 100 * seq, 0, 3, 4, 0, 0x3FFFFFFF,
                                      [SampledHeader(1, 1518, 4, header)]))
        out.append(encode_datagram(Datagram("192.0.2.1", 0, start + 1, 1000, samples)))
    return out


def run(keys: str, payloads: list[bytes], seconds: float, cache: int) -> float:
    engine = Engine(Properties({"flowrt.geo.cache.size": str(cache)}), now=0.0)
    engine.set_flow("f", {"keys": keys, "value": "bytes"})
    for payload in payloads:  # warm: tables loaded, cache filled
        engine.ingest_datagram(payload, "192.0.2.1", 1.0)
    samples, start = 0, time.process_time()
    while time.process_time() - start < seconds:
        for payload in payloads:
            engine.ingest_datagram(payload, "192.0.2.1", 1.0)
        samples += len(payloads) * SAMPLES_PER_DATAGRAM
    return samples / (time.process_time() - start)


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    payloads = datagrams()
    best: dict[str, float] = {}
    for _round in range(3):
        for name, keys in FLOWS.items():
            best[name] = max(best.get(name, 0.0), run(keys, payloads, seconds, 65536))
        for name in ("country", "asn"):
            cold = f"{name}-cold"
            best[cold] = max(best.get(cold, 0.0), run(FLOWS[name], payloads, seconds, 16))
    for name, rate in best.items():
        print(f"{name}_samples_per_cpu_second {rate:.0f}")
    for name in best:
        if name != "plain":
            print(f"{name}_vs_plain {best[name] / best['plain']:.3f}")
    plain_us = 1e6 / best["plain"]
    for name in best:
        if name != "plain":
            print(f"{name}_extra_us_per_sample {1e6 / best[name] - plain_us:.2f}")


if __name__ == "__main__":
    main()
