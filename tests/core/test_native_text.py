"""The core's hand-formatted key text against the reference extractors' text.

The core formats IPv4/IPv6 addresses, MACs and integers itself (no snprintf/inet_ntop
per sample); keys must stay byte-identical to the reference path's, which takes them from
``flowrt.sflow.packet`` (``socket.inet_ntoa``/``inet_ntop``, ``bytes.hex().upper()``)
and ``str(int)``. Edge cases (zero runs, ties, IPv4-mapped/compatible forms, extremes)
plus many random values, then the same addresses end to end through both ingest paths.
"""

from __future__ import annotations

import os
import random
import socket
import struct
from typing import Any

import pytest

from flowrt._core import load_native
from flowrt.sflow import packet
from flowrt.sflow.encode import encode_datagram
from flowrt.sflow.model import Datagram, FlowSample
from flowrt.sflow.records.flow import SampledHeader

if os.environ.get("FLOWRT_NO_EXTENSIONS"):
    pytest.skip("reference-path run: no native text to compare", allow_module_level=True)
native: Any = load_native()
if native is None:
    raise ImportError("flowrt._core._ingest is not built: run `make test` (pip install -e .)")

from test_native_differential import assert_same, feed  # noqa: E402  (needs the core)


def ip6(text: str) -> bytes:
    return socket.inet_pton(socket.AF_INET6, text)


EDGE_IP6 = [ip6(t) for t in [
    "::", "::1", "1::", "::ffff:1.2.3.4", "::1.2.3.4", "::0.1.0.0", "::ffff:0.0.0.0",
    "::ffff:0:1", "::fffe:1.2.3.4", "1:0:2:3:4:5:6:7", "1:2:3:4:5:6:7:0",
    "0:1:2:3:4:5:6:7", "1:0:0:2:0:0:3:4", "1:0:0:2:3:0:0:0", "1:0:0:0:2:0:0:0",
    "0:0:1:0:0:0:1:0", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe80::1",
    "2001:db8::ff00:42:8329", "2001:db8:0:0:1:0:0:1", "0:0:0:0:0:ffff:ffff:ffff",
    "0:0:0:0:1:ffff:1.2.3.4", "0:0:0:0:0:0:ffff:1", "a:b:c:d:e:f:10:1000", "::100:0",
    "0:0:0:0:0:1:0:0", "::ffff", "::ffff:1",
]] + [bytes(16), b"\xff" * 16]


def random_ip6(rng: random.Random) -> bytes:
    """Groups mostly zero or small, so zero runs, ties and the IPv4 forms come up."""
    groups = []
    for _ in range(8):
        pick = rng.random()
        groups.append(0 if pick < 0.45 else 0xFFFF if pick < 0.55 else
                      rng.randrange(16) if pick < 0.7 else rng.randrange(0x10000))
    return struct.pack("!8H", *groups)


def test_ip6_text_is_the_references() -> None:
    rng = random.Random(5952)
    cases = EDGE_IP6 + [random_ip6(rng) for _ in range(30000)] + [
        rng.randbytes(16) for _ in range(5000)]
    for raw in cases:
        assert native.format_text("ip6", raw) == packet._ip6_text(raw), raw.hex()


def test_ip4_text_is_the_references() -> None:
    rng = random.Random(4)
    cases = [bytes(4), b"\xff" * 4, bytes([1, 10, 100, 255]), bytes([9, 99, 199, 0])]
    cases += [bytes(rng.choice([0, 9, 10, 99, 100, 255, rng.randrange(256)]) for _ in range(4))
              for _ in range(20000)]
    for raw in cases:
        assert native.format_text("ip4", raw) == packet._ip4_text(raw), raw.hex()


def test_mac_text_is_the_references() -> None:
    rng = random.Random(6)
    for raw in [bytes(6), b"\xff" * 6, bytes(range(0xA0, 0xA6))] + [
            rng.randbytes(6) for _ in range(5000)]:
        assert native.format_text("mac", raw) == packet._mac_text(raw), raw.hex()


def test_integer_text_is_str() -> None:
    rng = random.Random(10)
    cases = [0, 1, 9, 10, 99, 100, 101, 999, 1000, 65535, 0x3FFFFFFF, 2**32 - 1, 2**32,
             2**63 - 1, -1, -10, -(2**63)]
    cases += [10**k + d for k in range(19) for d in (-1, 0, 1)]
    cases += [rng.randrange(-(2**63), 2**63) for _ in range(5000)]
    cases += [rng.randrange(10 ** rng.randrange(1, 12)) for _ in range(5000)]
    for x in cases:
        assert native.format_text("int", x) == str(x), x


def test_format_text_refuses_bad_input() -> None:
    for kind, value in [("ip6", bytes(4)), ("ip4", bytes(16)), ("mac", b""), ("x", b"")]:
        with pytest.raises(ValueError):
            native.format_text(kind, value)
    with pytest.raises(TypeError):
        native.format_text("ip4", "1.2.3.4")


def _ip6_udp_frame(src: bytes, dst: bytes, mac: bytes, port: int) -> bytes:
    eth = b"\x02\x00\x00\x00\x00\x01" + mac + b"\x86\xdd"
    udp = struct.pack("!HHHH", port, 53, 8, 0)
    ip = struct.pack("!IHBB", 6 << 28, len(udp), 17, 64) + src + dst
    return eth + ip + udp


def _ip4_udp_frame(src: bytes, dst: bytes, port: int) -> bytes:
    eth = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"
    udp = struct.pack("!HHHH", port, 53, 8, 0)
    ip = struct.pack("!BBHHHBBH", 0x45, 0, 28, 0, 0, 64, 17, 0) + src + dst
    return eth + ip + udp


def test_edge_addresses_give_the_same_keys_on_both_paths() -> None:
    """The edge addresses as sample fields and as IPv6 agents, through both paths: the
    same table keys (fails if any native text differs from the reference's)."""
    rng = random.Random(7)
    payloads = []
    addrs = EDGE_IP6 + [random_ip6(rng) for _ in range(200)]
    for n, src in enumerate(addrs):
        dst = addrs[(n * 7 + 3) % len(addrs)]
        agent = socket.inet_ntop(socket.AF_INET6, addrs[(n * 5 + 1) % len(addrs)])
        frames = [_ip6_udp_frame(src, dst, rng.randbytes(6), rng.randrange(65536)),
                  _ip4_udp_frame(rng.randbytes(4), bytes([n % 256, 0, 10, 255]),
                                 rng.randrange(65536))]
        samples = [FlowSample(2 * n + i + 1, 0, 3, 10 + n, 100, 0, 0, 3 + i, 0, 0x3FFFFFFF,
                              [SampledHeader(1, 1518, 4, frame)])
                   for i, frame in enumerate(frames)]
        payload = encode_datagram(Datagram(agent, 0, n + 1, 1000 + n, samples))
        payloads.append((payload, "192.0.2.1", 1.0 + n / 1000))
    flows = {
        "pair6": {"keys": "ip6source,ip6destination", "value": "bytes"},
        "agent": {"keys": "agent,macsource", "value": "frames"},
        "v4": {"keys": "ipsource,ipdestination,udpsourceport,inputifindex", "value": "frames"},
        "ints": {"keys": "ip6flowlabel,ip6nexthdr,outputifindex,ipttl", "value": "bytes",
                 "filter": "ip6source!=::1"},
    }
    ref, nat = feed(payloads, flows, False), feed(payloads, flows, True)
    assert_same(ref, nat, flows, 2.0)
    rows = nat.active_flows("ALL", "pair6", 2.0, max_flows=1000)
    assert {row["key"].split(",")[0] for row in rows} == {packet._ip6_text(a) for a in addrs}
