"""Record declarations against real agents: every record sflowtool decodes, we decode too,
with the same values.

The oracle is each capture's sflowtool output (``NAME.sflowtool.txt``) and the tag
counts sflowtool reported (``NAME.expected.json``). Layout mistakes show up three ways:
a tag left as UnknownRecord, a re-encoded datagram whose length differs from the wire
(a field too many or too few, or an agent extension we ignore), and values that differ
from sflowtool's.
"""

from __future__ import annotations

import dataclasses
import struct
from collections import Counter
from typing import Any

import pytest

from conftest import SFLOW_TESTDATA, expected, sflow_captures, udp_payloads
from flowrt.sflow.decode import decode_datagram
from flowrt.sflow.drops import DROP_CODES, DROP_REASONS, reason_name
from flowrt.sflow.encode import encode_datagram
from flowrt.sflow.errors import DecodeError
from flowrt.sflow.model import CounterSample, Datagram, DiscardSample, FlowSample
from flowrt.sflow.records.app import (
    AppInitiator,
    AppOperation,
    AppTarget,
    ExtendedSocketIPv4,
    ExtendedTcpInfo,
)
from flowrt.sflow.records.app_counters import AppOperations, AppResources, AppWorkers, OvsDpStats
from flowrt.sflow.records.counters_ext import LagPortStats, SfpCounters, SfpLane
from flowrt.sflow.records.flow import SampledEthernet, SampledIPv4
from flowrt.sflow.records.flow_ext import (
    ExtendedEgressQueue,
    ExtendedIPv4TunnelIngress,
    ExtendedL2TunnelEgress,
    ExtendedTimestamp,
)
from flowrt.sflow.records.host import (
    HostCpu,
    HostMemory,
    HostNetIO,
    Mib2IcmpGroup,
    Mib2IpGroup,
    Mib2TcpGroup,
    Mib2UdpGroup,
)
from flowrt.sflow.records.vendor import BstPortBuffers
from flowrt.sflow.records.virt import JvmStatistics
from flowrt.sflow.registry import COUNTER_RECORDS, FLOW_RECORDS, UnknownRecord, tag_text

HSFLOWD = "hsflowd-2.1.25-veth-local"
OVS = "ovs-netns"
TELEGRAF_DROP = "telegraf-sflow_issue_15375-drop"

pytestmark = pytest.mark.usefixtures("sflow_testdata")


def decoded(name: str) -> list[Datagram]:
    """Every sFlow v5 datagram of a capture (NetFlow and other strays on 6343 dropped)."""
    out = []
    for _, payload in udp_payloads(name):
        try:
            out.append(decode_datagram(payload))
        except DecodeError:
            continue
    return out


# --- tag coverage and counts -------------------------------------------------------

_SCOPES = (
    ("flow_record_tag_counts", FlowSample, FLOW_RECORDS),
    ("counter_record_tag_counts", CounterSample, COUNTER_RECORDS),
    ("discard_record_tag_counts", DiscardSample, FLOW_RECORDS),
)


@pytest.mark.parametrize("name", sflow_captures())
def test_every_registered_tag_decodes_as_often_as_sflowtool_saw_it(name: str) -> None:
    truth = expected(name)["sflowtool"]
    datagrams = decoded(name)
    for key, sample_type, table in _SCOPES:
        decoded_counts: Counter[str] = Counter()
        unknown: Counter[str] = Counter()
        for dgram in datagrams:
            for sample in dgram.samples:
                if type(sample) is not sample_type:
                    continue
                for rec in sample.records:
                    if isinstance(rec, UnknownRecord):
                        unknown[tag_text(rec.tag)] += 1
                    else:
                        assert table[rec.TAG].cls is type(rec)
                        decoded_counts[tag_text(rec.TAG)] += 1
        want = {
            tag: n for tag, n in truth[key].items()
            if _tag_number(tag) in table
        }
        assert dict(decoded_counts) == want, key
        assert not set(unknown) & set(want), f"{key}: left unknown {unknown}"


def _tag_number(text: str) -> int:
    enterprise, fmt = text.split(":")
    return (int(enterprise) << 12) | int(fmt)


def test_the_rich_captures_leave_nothing_unknown() -> None:
    """hsflowd and Open vSwitch send only standard records: all of them are declared."""
    for name in (HSFLOWD, OVS, TELEGRAF_DROP):
        for dgram in decoded(name):
            assert dgram.errors == []
            for sample in dgram.samples:
                assert not [r for r in sample.records if isinstance(r, UnknownRecord)]


# Bytes between a sample's tag+length and its record count, by sample tag.
_SAMPLE_HEADER_BYTES = {1: 28, 2: 8, 3: 40, 4: 12, 5: 28}
_COUNTER_SAMPLE_TAGS = (2, 4)


def wire_records(payload: bytes) -> list[tuple[int, dict[int, Any], bytes]]:
    """``(tag, table, body)`` of every record, found by walking the TLV framing alone.

    Independent of the decoder on purpose: it tells us where each record ends on the
    wire, which is what the declared layouts must agree with.
    """
    (addr_type,) = struct.unpack_from(">I", payload, 4)
    off = 8 + (4 if addr_type == 1 else 16) + 12
    (n_samples,) = struct.unpack_from(">I", payload, off)
    off += 4
    out = []
    for _ in range(n_samples):
        tag, length = struct.unpack_from(">II", payload, off)
        start, off = off + 8, off + 8 + length
        if tag not in _SAMPLE_HEADER_BYTES:
            continue
        table = COUNTER_RECORDS if tag in _COUNTER_SAMPLE_TAGS else FLOW_RECORDS
        pos = start + _SAMPLE_HEADER_BYTES[tag]
        (n_records,) = struct.unpack_from(">I", payload, pos)
        pos += 4
        for _ in range(n_records):
            rtag, rlen = struct.unpack_from(">II", payload, pos)
            out.append((rtag, table, payload[pos + 8 : pos + 8 + rlen]))
            pos += 8 + ((rlen + 3) & ~3)
    return out


@pytest.mark.parametrize("name", sflow_captures())
def test_declared_layouts_cover_each_record_exactly(name: str) -> None:
    """Each record re-encodes to exactly its length on the wire: none is declared shorter
    (an agent extension we would silently drop) or longer than what agents send. Bytes
    may differ only in XDR padding, which hsflowd does not zero."""
    seen = 0
    for _, payload in udp_payloads(name):
        try:
            dgram = decode_datagram(payload)
        except DecodeError:
            continue
        if dgram.errors:
            continue
        for tag, table, body in wire_records(payload):
            codec = table.get(tag)
            if codec is None:
                continue
            record = codec.decode(body, 0, len(body))
            again = codec.encode(record)
            assert len(again) == len(body), tag_text(tag)
            assert codec.decode(again, 0, len(again)) == record
            seen += 1
        assert decode_datagram(encode_datagram(dgram)) == dgram
    truth = expected(name)["sflowtool"]
    assert seen == sum(
        n for key, _, table in _SCOPES for tag, n in truth[key].items()
        if _tag_number(tag) in table
    )


# --- values against sflowtool ------------------------------------------------------


def sflowtool_records(name: str) -> list[list[list[tuple[str, dict[str, str]]]]]:
    """sflowtool's text as datagrams -> samples -> records ``(tag, {field: text})``."""
    datagrams: list[list[list[tuple[str, dict[str, str]]]]] = []
    record: dict[str, str] | None = None
    for line in (SFLOW_TESTDATA / f"{name}.sflowtool.txt").read_text().splitlines():
        key, _, value = line.partition(" ")
        if key == "startDatagram":
            datagrams.append([])
        elif key == "startSample":
            datagrams[-1].append([])
        elif key == "endSample":
            record = None
        elif key.endswith("flowBlock_tag") or key == "counterBlock_tag":
            record = {}
            datagrams[-1][-1].append((value, record))
        elif record is not None:
            record[key.removeprefix("discarded_")] = value
    return datagrams


def paired_records(name: str) -> list[tuple[Any, dict[str, str]]]:
    """Our records side by side with sflowtool's, in wire order."""
    ours = decoded(name)
    theirs = sflowtool_records(name)
    assert len(ours) == len(theirs)
    pairs = []
    for dgram, t_dgram in zip(ours, theirs, strict=True):
        for sample, t_sample in zip(dgram.samples, t_dgram, strict=True):
            for rec, (t_tag, fields) in zip(sample.records, t_sample, strict=True):
                assert tag_text(rec.TAG) == t_tag
                pairs.append((rec, fields))
    return pairs


# Records whose sflowtool lines are exactly their fields, in order, as plain numbers.
POSITIONAL = (
    Mib2IpGroup, Mib2IcmpGroup, Mib2TcpGroup, Mib2UdpGroup, HostMemory, HostNetIO,
    AppResources, AppWorkers, AppOperations, OvsDpStats,
)

# Of those, the ones whose sflowtool labels are the MIB object names ours spell in
# snake_case: their names are checked too, so a swapped pair of fields cannot pass.
MIB_NAMED = (Mib2IpGroup, Mib2IcmpGroup, Mib2TcpGroup, Mib2UdpGroup, HostMemory)
SFLOWTOOL_LABELS = {"tcp_in_csum_errs": "tcpInCsumErrors"}  # the spec says tcpInCsumErrs


def _squash(name: str) -> str:
    return name.replace("_", "").lower()


# sflowtool field -> our field, for records it prints with extra or derived lines.
NAMED: dict[type, dict[str, str]] = {
    ExtendedTcpInfo: {
        "tcpinfo_send_mss": "snd_mss", "tcpinfo_receive_mss": "rcv_mss",
        "tcpinfo_unacked_pkts": "unacked", "tcpinfo_lost_pkts": "lost",
        "tcpinfo_retrans_pkts": "retrans", "tcpinfo_path_mtu": "pmtu",
        "tcpinfo_rtt_uS": "rtt_us", "tcpinfo_rtt_uS_var": "rttvar_us",
        "tcpinfo_send_congestion_win": "snd_cwnd", "tcpinfo_reordering": "reordering",
        "tcpinfo_rtt_uS_min": "min_rtt_us",
    },
    ExtendedTimestamp: {"timestamp_nS": "timestamp"},
    HostCpu: {
        "cpu_proc_run": "proc_run", "cpu_proc_total": "proc_total", "cpu_num": "cpu_num",
        "cpu_speed": "cpu_speed", "cpu_uptime": "uptime", "cpu_user": "cpu_user",
        "cpu_system": "cpu_system", "cpu_idle": "cpu_idle", "cpu_wio": "cpu_wio",
        "cpu_sintr": "cpu_sintr", "cpuinterrupts": "interrupts", "cpu_contexts": "contexts",
        "cpu_steal": "cpu_steal", "cpu_guest": "cpu_guest", "cpu_guest_nice": "cpu_guest_nice",
    },
    ExtendedSocketIPv4: {
        "socket4_ip_protocol": "protocol", "socket4_local_ip": "local_ip",
        "socket4_remote_ip": "remote_ip", "socket4_local_port": "local_port",
        "socket4_remote_port": "remote_port",
    },
    AppInitiator: {"actor_initiator": "actor"},
    AppTarget: {"actor_target": "actor"},
    AppOperation: {
        "application": "application", "operation": "operation", "attributes": "attributes",
        "status_descr": "status_descr", "request_bytes": "req_bytes",
        "response_bytes": "resp_bytes", "duration_uS": "duration_us",
    },
    ExtendedEgressQueue: {"egress_queue_id": "queue"},
}


@pytest.mark.parametrize("name", [HSFLOWD, OVS, TELEGRAF_DROP])
def test_record_values_match_sflowtool(name: str) -> None:
    checked: Counter[str] = Counter()
    for rec, fields in paired_records(name):
        cls = type(rec)
        if cls in POSITIONAL:
            names = [f.name for f in dataclasses.fields(rec)]
            assert [str(getattr(rec, n)) for n in names] == list(fields.values()), cls.__name__
            if cls in MIB_NAMED:
                ours = [_squash(SFLOWTOOL_LABELS.get(n, n)) for n in names]
                assert ours == [_squash(label) for label in fields], cls.__name__
        elif cls in NAMED:
            for theirs, ours in NAMED[cls].items():
                assert str(getattr(rec, ours)) == fields[theirs], (cls.__name__, ours)
        else:
            continue
        checked[cls.__name__] += 1
    assert checked, "nothing compared"
    if name == HSFLOWD:
        assert checked["ExtendedTcpInfo"] == 87
        assert checked["ExtendedTimestamp"] == 250
        assert checked["Mib2IcmpGroup"] == 7
        assert checked["AppOperation"] == 5


def test_hsflowd_spot_values() -> None:
    """A few values read off sflowtool's text by hand, so a broken pairing cannot hide."""
    pairs = paired_records(HSFLOWD)
    first_tcp = next(r for r, _ in pairs if isinstance(r, ExtendedTcpInfo))
    assert first_tcp == ExtendedTcpInfo(1, 1448, 536, 0, 0, 0, 1500, 46, 23, 10, 3, 46)
    first_ts = next(r for r, _ in pairs if isinstance(r, ExtendedTimestamp))
    assert first_ts.timestamp == 1795300520494773000
    cpu = next(r for r, _ in pairs if isinstance(r, HostCpu))
    assert (cpu.cpu_steal, cpu.cpu_num, round(cpu.load_one, 2)) == (800, 2, 1.57)
    ip = next(r for r, _ in pairs if isinstance(r, Mib2IpGroup))
    assert (ip.ip_forwarding, ip.ip_default_ttl, ip.ip_in_receives) == (2, 64, 2548135)
    tcp = next(r for r, _ in pairs if isinstance(r, Mib2TcpGroup))
    assert (tcp.tcp_rto_max, tcp.tcp_max_conn) == (120000, 0xFFFFFFFF)
    app = next(r for r, _ in pairs if isinstance(r, AppOperations))
    assert (app.application, app.success, app.timeout, app.not_found) == ("demoapp", 100, 2, 4)
    res = next(r for r, _ in pairs if isinstance(r, AppResources))
    assert res == AppResources(
        user_time=1000, system_time=200, mem_used=123456, mem_max=1000000,
        fd_open=12, fd_max=1024, conn_open=3, conn_max=100,
    )
    workers = next(r for r, _ in pairs if isinstance(r, AppWorkers))
    assert workers == AppWorkers(
        workers_active=2, workers_idle=6, workers_max=8, req_delayed=0, req_dropped=1
    )
    udp = next(r for r, _ in pairs if isinstance(r, Mib2UdpGroup))
    assert (udp.udp_in_datagrams, udp.udp_no_ports) == (1400722, 377798)
    op = next(r for r, _ in pairs if isinstance(r, AppOperation))
    assert op == AppOperation(
        application="demoapp", operation="get.item", attributes="id=7", status_descr="OK",
        req_bytes=127, resp_bytes=2007, duration_us=1507, status=0,
    )


def test_ovs_datapath_counters() -> None:
    stats = [r for r, _ in paired_records(OVS) if isinstance(r, OvsDpStats)]
    assert len(stats) == 5
    assert stats[0] == OvsDpStats(
        hits=1668, misses=10, lost=0, mask_hits=0xFFFFFFFF, flows=10, masks=0xFFFFFFFF
    )
    assert [s.hits for s in stats] == [1668, 28080, 45452, 51606, 52888]


def test_discard_sample_reason_and_queue() -> None:
    (dgram,) = decoded(TELEGRAF_DROP)
    (sample,) = dgram.samples
    assert isinstance(sample, DiscardSample)
    assert reason_name(sample.reason) == "host_unreachable"
    assert sample.records == [ExtendedEgressQueue(42)]


# --- layouts no capture exercises, built from the spec by hand ------------------------


def _decode(cls: type, body: bytes) -> Any:
    return (FLOW_RECORDS.get(cls.TAG) or COUNTER_RECORDS[cls.TAG]).decode(body, 0, len(body))


def test_lag_port_stats_macs_are_padded_and_port_state_is_four_bytes() -> None:
    body = (
        bytes.fromhex("0011223344550000") + bytes.fromhex("66778899aabb0000")
        + struct.pack(">I", 7) + bytes([0x3D, 0x3F, 0x05, 0x07])
        + struct.pack(">8I", *range(1, 9))
    )
    lag = _decode(LagPortStats, body)
    assert lag.actor_system_id == bytes.fromhex("001122334455")
    assert lag.partner_oper_system_id == bytes.fromhex("66778899aabb")
    assert lag.attached_agg_id == 7
    assert (lag.actor_admin_state, lag.actor_oper_state) == (0x3D, 0x3F)
    assert (lag.partner_admin_state, lag.partner_oper_state) == (0x05, 0x07)
    assert lag.marker_response_pdus_tx == 8


def test_sfp_lanes_array() -> None:
    lane = struct.pack(">10I", 1, 6000, 500, 100, 900, 1310, 450, 90, 950, 1310)
    body = struct.pack(">IIIiI", 3, 4, 3300, -2500, 2) + lane + lane
    sfp = _decode(SfpCounters, body)
    assert sfp.temperature == -2500
    assert sfp.lanes == [SfpLane(1, 6000, 500, 100, 900, 1310, 450, 90, 950, 1310)] * 2


def test_jvm_statistics_fd_counters_are_optional() -> None:
    head = struct.pack(">8Q", *range(8)) + struct.pack(">9I", *range(9))
    old = _decode(JvmStatistics, head)
    new = _decode(JvmStatistics, head + struct.pack(">II", 42, 1024))
    assert (old.fd_open_count, old.fd_max_count) == (None, None)
    assert (new.fd_open_count, new.fd_max_count) == (42, 1024)
    assert new.thread_num_started == 8


def test_broadcom_port_buffers_signed_queue_lists() -> None:
    body = struct.pack(">4i", 1, 2, 3, -1) + struct.pack(">I3i", 3, 10, -1, 30)
    body += struct.pack(">I", 0)
    bst = _decode(BstPortBuffers, body)
    assert bst.egress_mc_pc == -1
    assert bst.egress_queue_uc_pc == [10, -1, 30]
    assert bst.egress_queue_mc_pc == []


def test_tunnel_headers_are_not_mistaken_for_the_sampled_packet() -> None:
    """Same bytes as sampled_ethernet/ipv4, but a different type per tag."""
    eth = _decode(ExtendedL2TunnelEgress, bytes(24))
    ip4 = _decode(ExtendedIPv4TunnelIngress, struct.pack(">II4s4s4I", 50, 17, b"\x0a\0\0\1",
                                                         b"\x0a\0\0\2", 4789, 4789, 0, 0))
    assert not isinstance(eth, SampledEthernet)
    assert not isinstance(ip4, SampledIPv4)
    assert (ip4.src_ip, ip4.dst_port) == ("10.0.0.1", 4789)


# --- drop reasons --------------------------------------------------------------------


def test_drop_reason_table_spans_the_spec() -> None:
    assert reason_name(0) == "net_unreachable"
    assert reason_name(15) == "precedence_cutoff"
    assert reason_name(256) == "unknown"
    assert reason_name(262) == "pkt_too_big"
    assert reason_name(288) == "unknown_tunnel"
    assert reason_name(303) == "split_horizon"
    assert reason_name(307) == "vxlan_parsing"
    assert reason_name(365) == "tc_ingress"
    assert reason_name(371) == "socket_filter"
    assert sorted(DROP_REASONS) == [*range(16), *range(256, 372)]


def test_drop_reason_table_fixes_sflowtools_slips() -> None:
    assert reason_name(366) == "tc_egress"
    assert reason_name(332) == "dev_hdr"
    assert reason_name(36) is None
    assert reason_name(33) is None
    assert reason_name(372) is None


def test_drop_reason_names_are_unique() -> None:
    assert len(DROP_CODES) == len(DROP_REASONS)
    assert DROP_CODES["acl"] == 258
