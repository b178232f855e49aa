"""Write the fuzz target's seed corpus into a directory.

* every UDP payload of the sFlow captures in tests/data: real datagrams let the fuzzer
  start deep inside samples and records instead of rediscovering the sFlow header;
* one datagram per registered flow and counter record (src/flowrt/sflow/registry.py),
  in an expanded and a compact flow or counter sample, and each flow record in a
  discard sample too: the captures do not carry every record, and a seed that does lets
  the fuzzer reach that record's decoder, printer and flow keys at once;
* bare sampled headers (``H``, header_protocol, bytes: see ``decode_paths``): those of
  the captures, and a few shapes they lack (QinQ, ARP, IPv4 options and fragments,
  ICMP unreachable, IPv6 extension headers and fragments, GRE, IP-in-IP, VXLAN, Geneve,
  MPLS over Ethernet and raw, 802.11).

The record values are Hypothesis's minimal examples of tests/sflow/strategies.py
(deterministic). Usage: ``python fuzz/make_corpus.py corpus/``.
"""

from __future__ import annotations

import hashlib
import struct
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))
sys.path.insert(0, str(REPO_ROOT / "tests" / "sflow"))

from hypothesis import HealthCheck, find, settings  # noqa: E402
from strategies import codec_strategy  # noqa: E402

from conftest import sflow_captures, udp_payloads  # noqa: E402  (needs the path above)
from flowrt.sflow import Datagram, DecodeError, decode_datagram, encode_datagram  # noqa: E402
from flowrt.sflow.model import CounterSample, DiscardSample, FlowSample  # noqa: E402
from flowrt.sflow.records.flow import SampledHeader  # noqa: E402
from flowrt.sflow.registry import COUNTER_RECORDS, FLOW_RECORDS  # noqa: E402

HEADER_MODE = b"H"
MAC = bytes.fromhex("020000000002020000000001")
FIND = settings(database=None, max_examples=50, suppress_health_check=list(HealthCheck))


def minimal(codec: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return find(codec_strategy(codec), lambda _r: True, settings=FIND)


def datagram(*samples: Any) -> bytes:
    return encode_datagram(Datagram("192.0.2.1", 0, 1, 1000, list(samples)))


def record_seeds() -> Iterator[bytes]:
    for tag in sorted(FLOW_RECORDS):
        record = minimal(FLOW_RECORDS[tag])
        for expanded in (False, True):
            yield datagram(FlowSample(1, 0, 3, 256, 256, 0, 0, 3, 0, 4, [record],
                                      expanded=expanded))
        yield datagram(DiscardSample(1, 0, 3, 0, 3, 0, 258, [record]))
    for tag in sorted(COUNTER_RECORDS):
        record = minimal(COUNTER_RECORDS[tag])
        for expanded in (False, True):
            yield datagram(CounterSample(1, 0, 3, [record], expanded=expanded))


def ip4(proto: int, body: bytes, options: bytes = b"", frag: int = 0x4000) -> bytes:
    ihl = 5 + len(options) // 4
    return struct.pack(">BBHHHBBH4s4s", 0x40 | ihl, 0xB8, 20 + len(options) + len(body), 1,
                       frag, 64, proto, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
                       ) + options + body


def ip6(nxt: int, body: bytes) -> bytes:
    return struct.pack(">IHBB", 0x60000000, len(body), nxt, 64) + bytes(15) + b"\1" + \
        bytes(15) + b"\2" + body


TCP = struct.pack(">HHIIBBHHH", 40000, 443, 1, 0, 0x50, 0x12, 65535, 0, 0)


def udp(dport: int, body: bytes = b"") -> bytes:
    return struct.pack(">HHHH", 40000, dport, 8 + len(body), 0) + body


def header_seeds() -> Iterator[bytes]:
    """Sampled headers of shapes the captures lack (header_protocol 1 unless said)."""
    eth4, eth6 = MAC + b"\x08\x00", MAC + b"\x86\xdd"
    inner = MAC + b"\x08\x00" + ip4(6, TCP)
    label = (16 << 12 | 1 << 8 | 64).to_bytes(4, "big")
    shapes = {
        1: [
            MAC + b"\x88\xa8\x00\x0a\x81\x00\x00\x14\x08\x00" + ip4(17, udp(53)),
            MAC + b"\x08\x06" + struct.pack(">HHBBH", 1, 0x0800, 6, 4, 1) + bytes(20),
            eth4 + ip4(6, TCP, options=b"\x01\x01\x01\x00"),
            eth4 + ip4(17, udp(53), frag=0x2000),
            eth4 + ip4(17, b"\0" * 8, frag=0x0010),
            eth4 + ip4(1, b"\x03\x03\0\0\0\0\0\0" + ip4(17, udp(33434))),
            eth4 + ip4(1, b"\x08\x00\0\0\0\1\0\7"),
            eth6 + ip6(0, b"\x2b\x00" + bytes(6)[:6] + TCP),
            eth6 + ip6(44, struct.pack(">BBHI", 17, 0, 8, 1) + udp(53)),
            eth6 + ip6(58, b"\x01\x04\0\0\0\0\0\0" + ip6(17, udp(53))),
            eth4 + ip4(47, struct.pack(">HHI", 0x2000, 0x6558, 7) + inner),
            eth4 + ip4(47, struct.pack(">HH", 0, 0x0800) + ip4(6, TCP)),
            eth4 + ip4(4, ip4(6, TCP)),
            eth4 + ip4(41, ip6(6, TCP)),
            eth4 + ip4(17, udp(4789, struct.pack(">II", 0x08000000, 42 << 8) + inner)),
            eth4 + ip4(17, udp(6081, struct.pack(">HHI", 0, 0x6558, 42 << 8) + inner)),
            MAC + b"\x88\x47" + label + ip4(6, TCP),
        ],
        11: [ip4(6, TCP)],
        12: [ip6(17, udp(53))],
        13: [label + ip4(17, udp(53))],
        2: [struct.pack("<HH", 0x0208, 0) + MAC + MAC[:6] + bytes(4) + ip4(6, TCP)],
    }
    for protocol, headers in shapes.items():
        for header in headers:
            yield HEADER_MODE + bytes([protocol]) + header


def capture_header_seeds(payloads: list[bytes]) -> Iterator[bytes]:
    for payload in payloads:
        try:
            dgram = decode_datagram(payload)
        except DecodeError:  # the hostile seeds
            continue
        for sample in dgram.samples:
            for record in getattr(sample, "records", ()):
                if isinstance(record, SampledHeader):
                    yield HEADER_MODE + bytes([record.protocol & 0xFF]) + record.header


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "corpus")
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    payloads = [
        payload
        for name in sflow_captures()
        for trust in (True, False)  # the hostile capture differs between the two
        for _, payload in udp_payloads(name, trust_udp_length=trust)
    ]
    for seeds in (payloads, record_seeds(), header_seeds(), capture_header_seeds(payloads)):
        for payload in seeds:
            (out / hashlib.sha1(payload).hexdigest()).write_bytes(payload)
            written += 1
    print(f"{written} seeds ({len(list(out.iterdir()))} distinct) in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
