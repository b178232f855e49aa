"""Fuzzing the compiled ingest core (flowrt._core._ingest) under ASan and UBSan.

Each input is one datagram plus a byte that picks the flow programs to run over it; the
property: ``walk`` returns None or a (datagram, shapes, python_samples) triple, then
``commit`` and ``drain`` run; on some inputs also ``scan``, ``account`` (FlowStream
accounting against data sources made on sight, with or without its commit), ``drain_to``
into a SumStore-backed NativeFlowTable (small capacity: sweeps) or a Python FlowTable,
top and expire, and ``format_text`` of address bytes against ``socket.inet_ntop``; and
the sanitizers see no memory or undefined-behaviour error. ``make fuzz`` builds the extension with
``-fsanitize=address,undefined`` (gcc, ``FLOWRT_SANITIZE=1``) into build/asan and runs
this with libasan preloaded.

Modes: with atheris installed and ``--atheris``, a coverage-guided run (coverage of the
Python side only: gcc cannot instrument the C for libFuzzer; clang could); by default a
mutation loop over the seed corpus (bit flips, lying length words, truncations, splices)
that reports inputs/second and stops after ``--runs`` inputs or ``--seconds``.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import socket
import sys
import time
from pathlib import Path
from types import ModuleType

from flowrt._core.lower import lower_spec
from flowrt.engine.native import record_rules
from flowrt.engine.topn import FlowTable, NativeFlowTable
from flowrt.flowlang.spec import FlowSpec
from flowrt.sflow.model import Datagram, FlowSample

FLOWS = [
    {"keys": "ipsource,ipdestination", "value": "bytes"},
    {"keys": "tcpsourceport,tcpdestinationport,tcpflags", "value": "frames",
     "filter": "ipprotocol=6|ip6nexthdr=6"},
    {"keys": "macsource,macdestination,vlan,vlan.1,mplslabel", "value": "ipbytes",
     "filter": "(ipsource!=null&isbroadcast=false)|ethernetprotocol=2048,34525"},
    {"keys": "ipsource.1,ip6source.1,vxlanvni,genevevni,grekey,inputifindex,outputifindex",
     "value": "ip6bytes", "filter": "ipecn!=00"},
    {"keys": "icmptype,icmpcode,icmp6type,icmp6code,ipflags,ipfragoffset,ip6flowlabel,agent",
     "value": "rate:bytes", "fs": "|"},
]  # fmt: skip


def load_core(path: str | None) -> ModuleType:
    """The extension at ``path`` (the sanitizer build), else the installed one."""
    if path:
        spec = importlib.util.spec_from_file_location("flowrt._core._ingest", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    from flowrt._core import _ingest  # type: ignore[attr-defined]

    return _ingest


class _Accounting:
    """A stand-in sub-agent stream and agent for Core.account: data sources made on
    sight, each with a FlowStream (the accounting's results are tests/core's business;
    here the sanitizers watch the memory)."""

    def __init__(self, native: ModuleType) -> None:
        from flowrt.engine.agents import AccountingTotals, DataSourceStats

        totals = AccountingTotals()
        self.restarts = 0
        self.by_code: dict[int, object] = {}
        self.make = lambda: DataSourceStats.new(totals, native.FlowStream)

    def know(self, light: object) -> None:
        for sample in getattr(light, "samples", ()):
            code = sample.source_id_type << 32 | sample.source_id_index
            if code not in self.by_code and len(self.by_code) < 256:
                self.by_code[code] = self.make()


ACCOUNTING: _Accounting
_inet_ntop, _AF_INET, _AF_INET6 = socket.inet_ntop, socket.AF_INET, socket.AF_INET6
NATIVE: ModuleType
TABLES: list = []  # a NativeFlowTable (SumStore, capacity 40: sweeps) and a FlowTable


def make_cores(native: ModuleType) -> list[object]:
    cores = []
    for i in range(len(FLOWS) + 1):
        core = native.Core(Datagram, FlowSample, record_rules())
        plans = [lower_spec(j, FlowSpec.from_json(f"f{j}", FLOWS[j]), native.FIELDS)
                 for j in range(i)]
        core.set_program([p.as_tuple() for p in plans if p is not None])
        cores.append(core)
    return cores


def run_one(cores: list, data: bytes) -> None:
    if not data:
        return
    core = cores[data[0] % len(cores)]
    walked = core.walk(data[1:])
    if walked is not None:
        dgram, shapes, python_samples = walked  # dgram None: counter samples ride along
        count = len(dgram.samples) if dgram is not None else 64
        assert len(shapes) <= count and len(python_samples) <= count
        mask = bytes(i % 2 for i in range(count)) if data[0] & 0x80 else None
        counted = core.commit(mask)
        assert isinstance(counted, int) and counted >= 0
    else:
        core.commit()
    if data[0] & 0x20:  # the accounting path: scan, FlowStream accounting, grouped drain
        scanned = core.scan(data[1:])
        if scanned is not None:
            header, shapes, python_samples = scanned
            assert len(header) == 5 and (header[4] is None or isinstance(header[4], bytes))
            if data[0] & 0x10:
                ACCOUNTING.know(core.light())
            walked_samples = core.walked_samples
            commit = bool(data[0] & 0x08)  # accounting and commit in one call
            mask = core.account(ACCOUNTING.by_code, ACCOUNTING, 0, header[3], 1.0, commit)
            assert mask is None or mask is False or len(mask) == walked_samples
            assert core.walked_samples == (0 if commit and mask is not False else walked_samples)
        core.commit()
        now = 1.0 + data[0]
        table = TABLES[data[0] & 1]
        core.drain_to(lambda f, a, c: None if f == 3 else table.bulk_target(now), now)
        if data[0] & 0x08:
            table.top(now)
            table.expire(now - 5.0)
    if data[0] & 0x40:
        for item in core.drain():
            assert len(item) == 6
    if len(data) >= 17 and data[0] & 0x04:  # the key text against the reference's
        assert NATIVE.format_text("ip6", data[1:17]) == _inet_ntop(_AF_INET6, data[1:17])
        assert NATIVE.format_text("ip4", data[1:5]) == _inet_ntop(_AF_INET, data[1:5])


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.randint(1, 6)):
        if not data:
            break
        pos = rng.randrange(len(data))
        how = rng.randrange(6)
        if how == 0:
            data[pos] ^= 1 << rng.randrange(8)
        elif how == 1:
            word = rng.choice([0, 1, 2, 3, 4, 8, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
                               0xFFFFFFF8, len(data), rng.getrandbits(32)])
            p = pos & ~3
            data[p:p + 4] = word.to_bytes(4, "big")
        elif how == 2:
            del data[pos:]
        elif how == 3:
            other = rng.choice(seeds)
            q = rng.randrange(len(other))
            data[pos:] = other[q:]
        elif how == 4:
            data[pos:pos] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 32)))
        else:
            data[pos] = rng.getrandbits(8)
    return bytes([rng.getrandbits(8)]) + bytes(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--runs", type=int, default=10_000_000)
    parser.add_argument("--seconds", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--atheris", action="store_true")
    args, rest = parser.parse_known_args()
    global ACCOUNTING, NATIVE
    NATIVE = load_core(os.environ.get("FLOWRT_CORE_SO"))
    ACCOUNTING = _Accounting(NATIVE)
    TABLES.extend([NativeFlowTable(5, 10.0, capacity=40, store_type=NATIVE.SumStore),
                   FlowTable(5, 10.0, capacity=40)])
    cores = make_cores(NATIVE)
    if args.atheris:
        import atheris

        atheris.Setup([sys.argv[0], str(args.corpus), *rest], lambda d: run_one(cores, d))
        atheris.Fuzz()
        return
    seeds = [p.read_bytes() for p in sorted(args.corpus.iterdir()) if p.is_file()]
    if not seeds:
        raise SystemExit(f"no seed inputs in {args.corpus} (run fuzz/make_corpus.py)")
    rng = random.Random(args.seed)
    started = time.monotonic()
    deadline = started + args.seconds if args.seconds else float("inf")
    done = 0
    for seed in seeds:
        for first in (0, 0x41, 0xC2, 0x45):
            run_one(cores, bytes([first]) + seed)
    while done < args.runs and (done & 1023 or time.monotonic() < deadline):
        run_one(cores, mutate(rng, seeds))
        done += 1
        if done % 1_000_000 == 0:
            rate = done / (time.monotonic() - started)
            print(f"core_fuzz: {done} inputs, {rate:,.0f}/s, no crash", flush=True)
    elapsed = time.monotonic() - started
    print(f"core_fuzz: done: {done} inputs in {elapsed:.0f} s, no crash")


if __name__ == "__main__":
    main()
