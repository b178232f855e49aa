"""Shared test helpers: where the real captures live and how to get their UDP payloads.

The captures live in ``tests/data/sflow`` (origin and licence of each file in
``tests/data/README.md``). A missing file is a loud error, never a skip: a test that
cannot read its data has not passed. The pcap reader is deliberately tiny (classic pcap,
Ethernet with optional 802.1Q, IPv4/IPv6, UDP): it exists so decoder tests do not
depend on the pcap source that is being written separately.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SFLOW_TESTDATA = REPO_ROOT / "tests" / "data" / "sflow"

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_VLAN = 0x0800, 0x86DD, 0x8100
IPPROTO_UDP = 17


def testdata(name: str) -> Path:
    """The path of one file in ``tests/data/sflow``; raises if it is missing."""
    path = SFLOW_TESTDATA / name
    if not path.is_file():
        raise FileNotFoundError(f"test data file missing: {path} (see tests/data/README.md)")
    return path


testdata.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test, when imported


def sflow_captures() -> list[str]:
    """Names (without ``.pcap``) of every real sFlow capture, sorted for stable test ids."""
    names = sorted(p.stem for p in SFLOW_TESTDATA.glob("*.pcap"))
    if not names:
        raise FileNotFoundError(f"no sFlow captures in {SFLOW_TESTDATA}")
    return names


def expected(name: str) -> dict[str, Any]:
    """The ground truth (tshark + sflowtool) of capture ``name``."""
    return json.loads(testdata(f"{name}.expected.json").read_text())


def udp_payloads(name: str, *, trust_udp_length: bool = True) -> list[tuple[int, bytes]]:
    """``(frame_number, payload)`` of every UDP frame in capture ``name`` (frames from 1).

    With ``trust_udp_length`` the payload ends where the UDP length word says, which is
    what a socket would deliver; without it, it runs to the end of the captured frame,
    which is how sflowtool reads a pcap (it matters only for hostile frames).
    """
    raw = testdata(f"{name}.pcap").read_bytes()
    (magic,) = struct.unpack_from("<I", raw, 0)
    endian = "<" if magic in (PCAP_MAGIC_US, PCAP_MAGIC_NS) else ">"
    (linktype,) = struct.unpack_from(endian + "I", raw, 20)
    if linktype != LINKTYPE_ETHERNET:
        raise ValueError(f"{name}: linktype {linktype} is not Ethernet")
    out: list[tuple[int, bytes]] = []
    off, frame_no = 24, 0
    while off + 16 <= len(raw):
        _, _, caplen, _ = struct.unpack_from(endian + "IIII", raw, off)
        frame = raw[off + 16 : off + 16 + caplen]
        off += 16 + caplen
        frame_no += 1
        payload = _udp_payload(frame, trust_udp_length)
        if payload is not None:
            out.append((frame_no, payload))
    return out


def _udp_payload(frame: bytes, trust_udp_length: bool) -> bytes | None:
    (ethertype,) = struct.unpack_from(">H", frame, 12)
    off = 14
    while ethertype == ETHERTYPE_VLAN:
        (ethertype,) = struct.unpack_from(">H", frame, off + 2)
        off += 4
    if ethertype == ETHERTYPE_IPV4:
        proto = frame[off + 9]
        off += (frame[off] & 0x0F) * 4
    elif ethertype == ETHERTYPE_IPV6:
        proto = frame[off + 6]
        off += 40
    else:
        return None
    if proto != IPPROTO_UDP:
        return None
    (udp_len,) = struct.unpack_from(">H", frame, off + 4)
    stop = off + udp_len if trust_udp_length else len(frame)
    return frame[off + 8 : stop]


@pytest.fixture(scope="session")
def sflow_testdata() -> Path:
    """The directory of the sFlow captures; a missing directory is an error, not a skip."""
    if not SFLOW_TESTDATA.is_dir():
        raise FileNotFoundError(f"sFlow test data not found at {SFLOW_TESTDATA}")
    return SFLOW_TESTDATA
