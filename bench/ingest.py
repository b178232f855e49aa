"""End-to-end ingest: the highest sFlow rate a real ``flowrt run`` keeps up with, losslessly.

Issue 3's benchmark. It starts the real server (``flowrt run -Dhttp.port=0
-Dsflow.port=0`` on 127.0.0.1, ports read from its ``flowrt: listening ...`` line),
defines three flows over the REST API (a typical address pair, a filtered port pair, a
keyless total: ``FLOWS``) and then searches the highest datagram rate that the server
ingests with **zero loss**:

* a paced sender in a *separate process* (so it does not steal the server's core)
  replays a fixed, seeded traffic mix (``build_traffic``) for ``RUN_SECONDS``, patching
  datagram and sample sequence numbers and uptime as it goes, so the server's loss
  accounting sees one healthy agent;
* a run is lossless when every datagram sent was received (``sFlowDatagramsReceived``
  of /analyzer/json), the agent reports no sequence gap (``sFlowDatagramsLost`` of
  /agents/json), the kernel dropped nothing (``sFlowSocketDrops``), and the server had
  processed everything within ``DRAIN_SLACK_SECONDS`` of the last send: the kernel's
  multi-megabyte receive buffer would otherwise hide a server that falls behind;
* the rate grows geometrically until a run fails, then is bisected; the best lossless
  rate is run once more, longer, while /activeflows is polled to get its REST latency.

Baselines measured in this process on the same datagrams: ``decode_datagram`` alone, and
``Engine.ingest_datagram`` with 0, 1 and 3 flows, so the ratio to decode is comparable
across machines. One ``name value`` per line.

Run: ``.venv/bin/python bench/ingest.py`` (about two minutes); ``--in-process`` for
the in-process figures only.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import socket
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flowrt.engine.core import Engine
from flowrt.sflow import Datagram, decode_datagram, encode_datagram
from flowrt.sflow.model import CounterSample, FlowSample
from flowrt.sflow.records.counters import EthernetCounters, GenericInterfaceCounters
from flowrt.sflow.records.flow import HEADER_ETHERNET, ExtendedSwitch, SampledHeader
from flowrt_server import LOCALHOST
from flowrt_server import FlowrtServer as Server

GOAL_SAMPLES_PER_S = 200_000  # issue 3: ingest with three flows, one core
FLOWS: dict[str, dict[str, Any]] = {
    "bench_pair": {"keys": "ipsource,ipdestination", "value": "bytes"},
    "bench_ports": {
        "keys": "tcpsourceport,tcpdestinationport", "value": "frames", "filter": "ipprotocol=6",
    },
    "bench_total": {"value": "bytes"},
}
AGENT = "10.0.0.1"
DATAGRAMS = 2000
HEADER_BYTES = 128
FCS_BYTES = 4
SAMPLING_RATE = 1024
TARGET_DATAGRAM_BYTES = 1450  # under the 1,472-byte UDP payload of a 1,500 MTU
COUNTER_EVERY = 5  # one datagram in five leads with a counter sample
PORTS = 48  # data sources (switch ports)
CLIENTS, SERVERS = 2000, 200  # address pools; popularity is Zipf-like (weight 1/rank)
SERVICES = [(443, 6, 50), (80, 6, 15), (22, 6, 5), (53, 17, 20), (123, 17, 5), (4500, 17, 5)]
FRAME_SIZES = [(40, 64), (15, 590), (45, 1518)]
IPV6_SHARE = 0.15

RUN_SECONDS = 3.0
CONFIRM_SECONDS = 6.0
DRAIN_SLACK_SECONDS = 0.25
"""A run passes only if the server had processed every datagram this soon after the
last send: more backlog means it was not keeping up, whatever the buffer absorbed."""
DRAIN_TIMEOUT_SECONDS = 20.0
SEARCH_GROWTH = 1.4
BISECT_STEPS = 4
POLL_SECONDS = 0.1
"""/activeflows poll period during a run (a busy dashboard polls every 1-2 s)."""
CONFIRM_POLL_SECONDS = 0.05

# sFlow v5 offsets (IPv4 agent): datagram sequence and uptime; sample sequence and pool.
DGRAM_SEQ_UPTIME = struct.Struct(">II")
DGRAM_SEQ_OFFSET = 16
SAMPLES_OFFSET = 28
_U32 = struct.Struct(">I")
_U32x2 = struct.Struct(">II")
FLOW_TAG, COUNTER_TAG = 1, 2
SAMPLE_SEQ = 8  # from the sample's tag: tag, length, sequence
FLOW_POOL = 20  # tag, length, sequence, source, rate, pool


# --- the traffic ----------------------------------------------------------------------------
def _zipf(rng: random.Random, size: int) -> Callable[[], int]:
    weights = [1.0 / (rank + 1) for rank in range(size)]
    population = range(size)
    return lambda: rng.choices(population, weights)[0]


def _frame(src: bytes, dst: bytes, sport: int, dport: int, l4: int, length: int) -> bytes:
    """The first bytes of an Ethernet/IP/TCP-or-UDP frame of ``length`` bytes."""
    macs = bytes(range(12))
    if l4 == 6:
        l4_header = struct.pack(">HHIIBBHHH", sport, dport, 1, 1, 0x50, 0x18, 65535, 0, 0)
    else:
        l4_header = struct.pack(">HHHH", sport, dport, max(8, length - 42), 0)
    if len(src) == 4:
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, length - 18, 1, 0x4000, 64, l4, 0, src, dst)
        eth = macs + b"\x08\x00"
    else:
        ip = struct.pack(">IHBB16s16s", 0x60000000, length - 58, l4, 64, src, dst)
        eth = macs + b"\x86\xdd"
    return (eth + ip + l4_header).ljust(length, b"\0")


@dataclass
class Traffic:
    """Seeded datagrams plus what the sender patches to replay them as a live agent."""

    datagrams: list[bytes]
    flow_samples: int
    # per datagram: (offset, first sequence, sequences per cycle, is a flow sample)
    patches: list[list[tuple[int, int, int, bool]]] = field(default_factory=list)

    @property
    def samples_per_datagram(self) -> float:
        return self.flow_samples / len(self.datagrams)


def build_traffic(count: int = DATAGRAMS, seed: int = 6343) -> Traffic:
    """``count`` datagrams from one agent with ``PORTS`` data sources, like an access switch.

    Addresses come from pools with Zipf-like popularity so flow tables see the usual mix
    of a few heavy and many light keys (not one new key per sample); each client sits on
    one access port (its data source); sequence numbers are consecutive per data source,
    as an agent sends them.
    """
    rng = random.Random(seed)
    client_of, server_of = _zipf(rng, CLIENTS), _zipf(rng, SERVERS)
    clients4 = [struct.pack(">I", 0x0A000000 + i + 1) for i in range(CLIENTS)]
    servers4 = [struct.pack(">I", 0xC6336400 + i + 1) for i in range(SERVERS)]
    clients6 = [b"\x20\x01\x0d\xb8" + bytes(10) + struct.pack(">H", i + 1) for i in range(CLIENTS)]
    servers6 = [b"\x20\x01\x0d\xb9" + bytes(10) + struct.pack(">H", i + 1) for i in range(SERVERS)]
    flow_seq: dict[int, int] = {}
    counter_seq: dict[int, int] = {}

    def flow_sample() -> FlowSample:
        port, l4, _ = rng.choices(SERVICES, [w for *_, w in SERVICES])[0]
        length = rng.choices([s for _, s in FRAME_SIZES], [w for w, _ in FRAME_SIZES])[0]
        c, s = client_of(), server_of()
        if rng.random() < IPV6_SHARE:
            src, dst, length = clients6[c], servers6[s], max(length, 86)
        else:
            src, dst = clients4[c], servers4[s]
        sport, dport = 1024 + (c * 7919 + s) % 60000, port
        if rng.random() < 0.5:  # the server's answer
            src, dst, sport, dport = dst, src, dport, sport
        header = _frame(src, dst, sport, dport, l4, length)[: min(HEADER_BYTES, length - 4)]
        ds = 1 + c % PORTS  # the client's access port
        seq = flow_seq[ds] = flow_seq.get(ds, 0) + 1
        records = [
            SampledHeader(HEADER_ETHERNET, length, FCS_BYTES, header),
            ExtendedSwitch(10, 0, 10, 0),
        ]
        out_port = PORTS + 1  # the uplink
        return FlowSample(seq, 0, ds, SAMPLING_RATE, seq * SAMPLING_RATE, 0, 0, ds, 0,
                          out_port, records)

    def counter_sample(n: int) -> CounterSample:
        ds = n // COUNTER_EVERY % PORTS + 1
        seq = counter_seq[ds] = counter_seq.get(ds, 0) + 1
        generic = GenericInterfaceCounters(ds, 6, 10_000_000_000, 1, 3, *([n * 1000] * 7),
                                           *([n * 1000] * 6), 0)
        return CounterSample(seq, 0, ds, [generic, EthernetCounters(*([0] * 13))])

    datagrams, flows = [], 0
    for n in range(count):
        samples: list[Any] = [counter_sample(n)] if n % COUNTER_EVERY == 0 else []
        while True:
            candidate = [*samples, flow_sample()]
            if len(encode_datagram(Datagram(AGENT, 0, n + 1, 0, candidate))) > (
                TARGET_DATAGRAM_BYTES
            ) and samples:
                # the extra sample is dropped: roll its sequence number back
                ds = candidate[-1].source_id_index
                flow_seq[ds] -= 1
                break
            samples = candidate
        flows += sum(1 for s in samples if type(s) is FlowSample)
        datagrams.append(encode_datagram(Datagram(AGENT, 0, n + 1, 0, samples)))
    traffic = Traffic(datagrams, flows)
    per_cycle = {("f", k): v for k, v in flow_seq.items()}
    per_cycle.update({("c", k): v for k, v in counter_seq.items()})
    for data in datagrams:
        plan, off = [], SAMPLES_OFFSET
        (nsamples,) = _U32.unpack_from(data, off - 4)
        for _ in range(nsamples):
            tag, length = _U32x2.unpack_from(data, off)
            (seq,) = _U32.unpack_from(data, off + SAMPLE_SEQ)
            (source,) = _U32.unpack_from(data, off + SAMPLE_SEQ + 4)
            kind = "f" if tag == FLOW_TAG else "c"
            plan.append((off, seq, per_cycle[(kind, source & 0xFFFFFF)], tag == FLOW_TAG))
            off += 8 + length
        traffic.patches.append(plan)
    return traffic


# --- in-process baselines ------------------------------------------------------------------
def decode_only(datagrams: list[bytes]) -> None:
    for data in datagrams:
        decode_datagram(data)


def engine_with(flows: int) -> Engine:
    engine = Engine(now=0.0)
    for name in list(FLOWS)[:flows]:
        engine.set_flow(name, FLOWS[name])
    return engine


def ingest_all(engine: Engine, datagrams: list[bytes], rate: float = 10_000.0) -> None:
    """Feed every datagram once, the clock advancing as if they came at ``rate`` per s."""
    ingest = engine.ingest_datagram
    step = 1.0 / rate
    now = 1000.0
    for data in datagrams:
        ingest(data, AGENT, now)
        now += step
    if engine.flows.specs():  # a read: anything deferred must be folded in and paid for
        engine.active_flows("ALL", next(iter(FLOWS)), now)


def in_process(traffic: Traffic, seconds: float) -> dict[str, float]:
    """Best-of-rounds flow samples per CPU second: decode alone, ingest with 0/1/3 flows.

    Rounds are interleaved so machine noise hits every figure alike; each ingest round
    uses a fresh engine (the sequence numbers of one pass are consistent).
    """
    data = traffic.datagrams
    figures: dict[str, Callable[[], None]] = {
        "decode_only": lambda: decode_only(data),
        **{f"ingest_{n}_flows": (lambda n=n: ingest_all(engine_with(n), data)) for n in (0, 1, 3)},
    }
    best = dict.fromkeys(figures, float("inf"))
    deadline = time.perf_counter() + seconds
    rounds = 0
    while rounds < 3 or time.perf_counter() < deadline:
        for name, run in figures.items():
            started = time.process_time()  # CPU time: other processes' load does not count
            run()
            best[name] = min(best[name], time.process_time() - started)
        rounds += 1
    return {name: traffic.flow_samples / elapsed for name, elapsed in best.items()}


# --- the sender process ---------------------------------------------------------------------
def send_paced(traffic: Traffic, port: int, rate: float, seconds: float, start: int,
               done: Any) -> None:
    """Send ``rate`` datagrams/s for ``seconds``, datagram numbers from ``start`` on.

    Datagram ``g`` is template ``g % n`` of cycle ``g // n``: its sequence numbers are
    moved on by whole cycles and its uptime is the time since ``start`` was 0, so the
    server sees one agent that never restarts. Reports the count sent through ``done``.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
    buffers = [bytearray(d) for d in traffic.datagrams]
    patches = traffic.patches
    count = len(buffers)
    pack_header, pack_u32 = DGRAM_SEQ_UPTIME.pack_into, _U32.pack_into
    address = (LOCALHOST, port)
    sent = 0
    started = time.perf_counter()
    uptime_base = start  # one ms of uptime per datagram: increasing, never wraps here
    while True:
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            break
        due = min(int(rate * elapsed) + 1, int(rate * seconds))
        if sent >= due:
            time.sleep(0.0002)
            continue
        while sent < due:
            g = start + sent
            cycle, i = divmod(g, count)
            buf = buffers[i]
            pack_header(buf, DGRAM_SEQ_OFFSET, g + 1, uptime_base + sent)
            for off, seq, period, is_flow in patches[i]:
                s = seq + cycle * period
                pack_u32(buf, off + SAMPLE_SEQ, s)
                if is_flow:
                    pack_u32(buf, off + FLOW_POOL, (s * SAMPLING_RATE) & 0xFFFFFFFF)
            try:
                sock.sendto(buf, address)
            except BlockingIOError:
                continue
            sent += 1
    sock.close()
    done.send(sent)


# --- the server under test ------------------------------------------------------------------
@dataclass
class RunResult:
    rate: float
    sent: int
    received: int
    socket_drops: int
    lost: int
    lag: float
    latencies_ms: list[float]

    @property
    def lossless(self) -> bool:
        return (self.received == self.sent and self.socket_drops == 0 and self.lost == 0
                and self.lag <= DRAIN_SLACK_SECONDS)

    def __str__(self) -> str:
        verdict = "ok" if self.lossless else "LOSS"
        return (f"# rate {self.rate:.0f} dgram/s: sent {self.sent} received {self.received}"
                f" socket_drops {self.socket_drops} agent_lost {self.lost}"
                f" drain_lag {self.lag:.2f}s {verdict}")


class Bench:
    """Runs paced sends against one server, keeping sequence numbers continuous."""

    def __init__(self, server: Server, traffic: Traffic) -> None:
        self.server = server
        self.traffic = traffic
        self.next_datagram = 0
        self.ctx = multiprocessing.get_context("fork")

    def run(self, rate: float, seconds: float, poll: float) -> RunResult:
        server = self.server
        received0, drops0, lost0 = server.counts()
        receive_end, send_end = self.ctx.Pipe(duplex=False)
        sender = self.ctx.Process(target=send_paced, args=(
            self.traffic, server.udp_port, rate, seconds, self.next_datagram, send_end))
        sender.start()
        latencies = []
        path = f"/activeflows/ALL/{next(iter(FLOWS))}/json?maxFlows=20"
        while not receive_end.poll(poll):
            started = time.perf_counter()
            server.request("GET", path)
            latencies.append((time.perf_counter() - started) * 1000)
        sent = receive_end.recv()
        sent_at = time.perf_counter()
        sender.join()
        self.next_datagram += sent
        lag = 0.0
        while True:
            received, drops, lost = server.counts()
            if received - received0 >= sent:
                lag = time.perf_counter() - sent_at
                break
            if time.perf_counter() - sent_at > DRAIN_TIMEOUT_SECONDS:
                lag = float("inf")
                break
            time.sleep(0.02)
        time.sleep(0.6)  # let the server's socket drop counter catch up
        received, drops, lost = server.counts()
        return RunResult(rate, sent, received - received0, drops - drops0, lost - lost0, lag,
                         latencies)

    def search(self, start_rate: float) -> tuple[float, list[RunResult]]:
        """Grow the rate until a run loses, then bisect; the best lossless rate and runs."""
        runs: list[RunResult] = []

        def attempt(rate: float) -> bool:
            result = self.run(rate, RUN_SECONDS, POLL_SECONDS)
            runs.append(result)
            print(result, flush=True)
            return result.lossless

        good, bad = 0.0, None
        rate = start_rate
        while bad is None:
            if attempt(rate):
                good, rate = rate, rate * SEARCH_GROWTH
            else:
                bad = rate
                if good == 0.0:  # even the first rate lost: come down until one passes
                    while good == 0.0 and rate > 100:
                        rate /= 2
                        if attempt(rate):
                            good = rate
                        else:
                            bad = rate
        for _ in range(BISECT_STEPS):
            middle = (good + bad) / 2
            if attempt(middle):
                good = middle
            else:
                bad = middle
        return good, runs


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--in-process", action="store_true", help="skip the UDP search")
    parser.add_argument("--seconds", type=float, default=6.0,
                        help="time for the in-process figures")
    args = parser.parse_args(argv[1:])
    traffic = build_traffic()
    print(f"datagrams {len(traffic.datagrams)}")
    print(f"flow_samples_per_datagram {traffic.samples_per_datagram:.2f}")
    rates = in_process(traffic, args.seconds)
    decode_rate = rates["decode_only"]
    print(f"decode_only_samples_per_s {decode_rate:.0f}")
    for n in (0, 1, 3):
        rate = rates[f"ingest_{n}_flows"]
        print(f"in_process_ingest_{n}_flows_samples_per_s {rate:.0f}"
              f"  # {1e6 / rate:.2f} us/sample")
    if args.in_process:
        return 0
    server = Server()
    try:
        for name, spec in FLOWS.items():
            server.request("PUT", f"/flow/{name}/json", spec)
        bench = Bench(server, traffic)
        per_dgram = traffic.samples_per_datagram
        start = max(500.0, 0.5 * rates["ingest_3_flows"] / per_dgram)
        best, _runs = bench.search(start)
        confirm = bench.run(best, CONFIRM_SECONDS, CONFIRM_POLL_SECONDS) if best else None
        if confirm is not None:
            print(f"{confirm} (confirmation)", flush=True)
    finally:
        server.stop()
    samples = best * per_dgram
    print(f"max_lossless_datagrams_per_s {best:.0f}")
    print(f"max_lossless_samples_per_s {samples:.0f}")
    print(f"confirmation_lossless {bool(confirm and confirm.lossless)}".lower())
    latencies = confirm.latencies_ms if confirm else []
    print(f"activeflows_p50_ms {percentile(latencies, 0.5):.2f}")
    print(f"activeflows_p99_ms {percentile(latencies, 0.99):.2f}")
    print(f"activeflows_requests {len(latencies)}")
    print(f"ratio_ingest_vs_decode {samples / decode_rate:.3f}")
    print(f"ratio_ingest_vs_goal {samples / GOAL_SAMPLES_PER_S:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
