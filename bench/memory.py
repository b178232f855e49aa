"""Memory of the flow tables: RSS for 100 flows x 10,000 keys (1,000,000 keys in all).

One process, the engine fed through the native driver (the reference path with
``FLOWRT_NO_EXTENSIONS=1``): 100 flow definitions keyed by ``ipsource,ipdestination``
and traffic with exactly 10,000 distinct address pairs spread over ``SOURCES`` data
sources (a table per data source holds at most ``n`` x 20 = 400 candidate keys, n being
capped at 20 as in sFlow-RT, so 200 keys per source are all kept and each flow holds
10,000), 6 flow samples per datagram, every
datagram in ONE batch (one ``now``, no flush until the end): the core's aggregation
table must stay bounded on its own (``AGG_LIMIT`` keys, then an early flush, counted in
``nativeEarlyFlushes``).

Prints RSS (``VmRSS``/``VmHWM`` of /proc/self/status) before and after, the keys held,
and bytes per key. Run: ``.venv/bin/python bench/memory.py [flows] [keys]``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import ingest
from flowrt.engine import Engine, native_ingest_for
from flowrt.sflow import Datagram, encode_datagram
from flowrt.sflow.model import FlowSample
from flowrt.sflow.records.flow import HEADER_ETHERNET, SampledHeader

SAMPLES_PER_DATAGRAM = 6
SOURCES = 50
LIMIT_BYTES = 1 << 30


def status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def datagrams(keys: int) -> list[bytes]:
    """``keys`` distinct IPv4 address pairs, one flow sample each."""
    out: list[bytes] = []
    samples: list[FlowSample] = []
    seqs = [0] * (SOURCES + 1)
    for i in range(keys):
        src = bytes([10, i >> 16 & 255, i >> 8 & 255, i & 255])
        dst = bytes([172, 16 + (i & 7), i >> 8 & 255, i & 255])
        header = ingest._frame(src, dst, 40000, 443, 6, 590)[:128]
        ds = 1 + i % SOURCES
        seq = seqs[ds] = seqs[ds] + 1
        samples.append(FlowSample(seq, 0, ds, 1024, seq * 1024, 0, 0, ds, 0, SOURCES + 1,
                                  [SampledHeader(HEADER_ETHERNET, 590, 4, header)]))
        if len(samples) == SAMPLES_PER_DATAGRAM or i == keys - 1:
            out.append(encode_datagram(Datagram(ingest.AGENT, 0, len(out) + 1, 1000, samples)))
            samples = []
    return out


def main(argv: list[str]) -> int:
    flows = int(argv[1]) if len(argv) > 1 else 100
    keys = int(argv[2]) if len(argv) > 2 else 10_000
    data = datagrams(keys)
    engine = Engine(now=0.0)
    for i in range(flows):
        engine.set_flow(f"mem{i}", {"keys": "ipsource,ipdestination", "value": "bytes",
                                    "n": 20})
    driver = native_ingest_for(engine)
    ingest_datagram = driver.ingest_datagram if driver else engine.ingest_datagram
    rss_before = status_kb("VmRSS")
    started = time.process_time()
    for payload in data:
        ingest_datagram(payload, ingest.AGENT, 100.0)
    if driver is not None:
        driver.flush()
    cpu = time.process_time() - started
    held = sum(len(table) for flow in engine.flows._flows.values()
               for table in flow.tables.values())
    rss_after, hwm = status_kb("VmRSS"), status_kb("VmHWM")
    print(f"ingest_path {engine.ingest_path}")
    print(f"flows {flows}")
    print(f"distinct_keys_per_flow {keys}")
    print(f"keys_held {held}")
    print(f"native_early_flushes {engine.counters.native_early_flushes}")
    print(f"rss_before_mb {rss_before / 1024:.0f}")
    print(f"rss_after_mb {rss_after / 1024:.0f}")
    print(f"rss_peak_mb {hwm / 1024:.0f}")
    print(f"bytes_per_key {(rss_after - rss_before) * 1024 / max(held, 1):.0f}")
    print(f"ingest_cpu_s {cpu:.1f}")
    print(f"under_1_gb {hwm * 1024 < LIMIT_BYTES}")
    return 0 if held == flows * keys else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
