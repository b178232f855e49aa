"""Sampled packet header parsing: real headers from the captures, checked against
sflowtool's decode of the same bytes, plus hand-built packets for what the captures
lack (ARP, IPv4 options and fragments, IPv6 extension headers, GRE, IP-in-IP, MPLS,
GENEVE) and truncation at every length.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterator
from functools import cache

import dpkt
import pytest

from conftest import SFLOW_TESTDATA, sflow_captures, udp_payloads
from flowrt.sflow import DecodeError, FlowSample, decode_datagram, packet
from flowrt.sflow.packet import (
    EXTRACTORS,
    HEADER_ETHERNET,
    HEADER_IPV4,
    HEADER_IPV6,
    HEADER_MPLS,
    extractor,
    locate,
    parse_header,
    walk_layers,
)
from flowrt.sflow.records.flow import SampledHeader

CAPTURES = sflow_captures()
MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")
IP_A, IP_B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
IP6_A = ipaddress.IPv6Address("2001:db8::1").packed
IP6_B = ipaddress.IPv6Address("2001:db8::2").packed


@cache
def headers(name: str) -> list[SampledHeader]:
    """Every sampled_header record of a capture, in capture order."""
    out = []
    for _, payload in udp_payloads(name):
        try:
            datagram = decode_datagram(payload)
        except DecodeError:
            continue
        for sample in datagram.samples:
            if isinstance(sample, FlowSample):
                out += [r for r in sample.records if isinstance(r, SampledHeader)]
    return out


def keys_of(name: str) -> list[dict[str, object]]:
    return [parse_header(h.protocol, h.header, h.frame_length, h.stripped) for h in headers(name)]


def sflowtool_by_header(name: str) -> dict[bytes, dict[str, str]]:
    """sflowtool's decoded fields of each sampled header, keyed by the header bytes."""
    text = (SFLOW_TESTDATA / f"{name}.sflowtool.txt").read_text()
    out: dict[bytes, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        field, _, value = line.partition(" ")
        if field == "headerBytes":
            current = out.setdefault(bytes.fromhex(value.replace("-", "")), {})
        elif field in ("endSample", "flowBlock_tag"):
            current = None
        elif current is not None:
            current[field] = value
    return out


# --- real captures -------------------------------------------------------------------


def test_qinq_vlans_in_order_outer_first() -> None:
    (keys,) = keys_of("akvorado-data-qinq")
    assert keys["stack"] == "eth.q.q.ip.tcp"
    assert (keys["vlan"], keys["vlan.1"]) == (1062, 1493)
    assert (keys["priority"], keys["priority.1"]) == (2, 2)
    assert keys["ethernetprotocol"] == 2048
    assert keys["ip_offset"] == 22
    assert (keys["ipsource"], keys["ipdestination"]) == ("49.49.49.2", "49.49.49.109")
    assert (keys["tcpsourceport"], keys["tcpdestinationport"]) == (32017, 443)
    assert keys["tcpflags"] == "000010000"  # ACK
    assert keys["ipflags"] == "010"  # DF
    assert keys["macdestination"] == "000110621493"


def test_vxlan_inner_headers_get_depth_suffix() -> None:
    (keys,) = keys_of("akvorado-data-encap-vxlan")
    assert keys["stack"] == "eth.ip.udp.vxlan.eth.ip6.icmp6"
    assert keys["udpdestinationport"] == 4789
    assert keys["vxlanvni"] == 100
    assert keys["ipsource"] == "192.168.108.40"
    assert keys["macsource"] == "0017087D7742"
    assert keys["macsource.1"] == "CA6E98F8498F"
    assert keys["macdestination.1"] == "010203040506"
    assert keys["ismulticast.1"] == "true"
    assert keys["ethernetprotocol.1"] == 0x86DD
    # the first IPv6 header is the inner one: per-kind depth, so no suffix
    assert (keys["ip6source"], keys["ip6destination"]) == ("2001:db8:4::1", "2001:db8:4::3")
    assert keys["icmp6type"] == 128
    assert "ipsource.1" not in keys


def test_icmp_type_and_code() -> None:
    (v4,) = keys_of("akvorado-data-icmpv4")
    assert (v4["stack"], v4["icmptype"], v4["icmpcode"], v4["icmpseqno"]) == (
        "eth.ip.icmp",
        8,
        0,
        1,
    )
    (v6,) = keys_of("akvorado-data-icmpv6")
    assert (v6["stack"], v6["icmp6type"], v6["icmp6code"]) == ("eth.ip6.icmp6", 135, 0)
    assert v6["ip6source"] == "fe80::d05b:45ff:feee:5ecf"


def test_raw_ipv4_header_protocol_11() -> None:
    records = headers("akvorado-data-sflow-raw-ipv4")
    assert [h.protocol for h in records] == [HEADER_IPV4, HEADER_IPV4]
    keys = keys_of("akvorado-data-sflow-raw-ipv4")
    assert [k["ipdestination"] for k in keys] == ["92.222.186.1", "92.222.184.1"]
    for k in keys:
        assert k["stack"] == "ip.icmp"
        assert k["ip_offset"] == 0
        assert "macsource" not in k
        assert k["ip_offset"] + k["ipbytes"] + k["stripped"] == k["bytes"]


def test_ipv6_tcp_ssh() -> None:
    keys = keys_of("akvorado-data-1140")
    ssh = [k for k in keys if k.get("tcpdestinationport") == 22 or k.get("tcpsourceport") == 22]
    assert ssh
    assert all(k["stack"] == "eth.ip6.tcp" and k["ip6nexthdr"] == 6 for k in ssh)
    assert any(k.get("tcpsourceport") == 443 for k in keys)


def test_ndpi_vlan_32() -> None:
    (keys,) = keys_of("ndpi-sflow")
    assert (keys["stack"], keys["vlan"], keys["ip_offset"]) == ("eth.q.ip.icmp", 32, 18)


def test_mld_report_behind_hop_by_hop_options() -> None:
    keys = keys_of("telegraf-sflow_issue_15918")
    (mld,) = [k for k in keys if k.get("ip6destination") == "ff02::16"]
    assert mld["stack"] == "eth.ip6.icmp6"
    assert (mld["ip6nexthdr"], mld["icmp6type"]) == (58, 143)
    assert (mld["ismulticast"], mld["isbroadcast"], mld["isunicast"]) == ("true", "false", "false")


def test_ovs_iperf3_ports_and_sizes() -> None:
    keys = keys_of("ovs-netns")
    assert len(keys) == 839
    assert any(5201 in (k.get("tcpsourceport"), k.get("tcpdestinationport")) for k in keys)
    assert any(k.get("udpdestinationport") == 5201 for k in keys)
    assert {k["stack"] for k in keys} <= {"eth.ip.tcp", "eth.ip.udp", "eth.ip.icmp"}
    # sFlow-RT's sflow-test invariant: bytes = ip_offset + ipbytes + stripped (no padding)
    big = [k for k in keys if k["bytes"] >= 68]
    assert big
    assert all(k["ip_offset"] + k["ipbytes"] + k["stripped"] == k["bytes"] for k in big)
    assert any(k["bytes"] == 1518 and k["ipbytes"] == 1500 for k in keys)


def test_hsflowd_ipv6_http() -> None:
    keys = keys_of("hsflowd-2.1.25-veth-local")
    http6 = [k for k in keys if k.get("tcpdestinationport") == 8099 and "ip6source" in k]
    assert http6
    assert {(k["ip6source"], k["ip6destination"]) for k in http6} == {
        ("2001:db8::1", "2001:db8::2")
    }


SFLOWTOOL_INT_FIELDS = {
    "decodedVLAN": "vlan",
    "decodedVLAN.1": "vlan.1",
    "decodedPriority": "priority",
    "TCPSrcPort": "tcpsourceport",
    "TCPDstPort": "tcpdestinationport",
    "UDPSrcPort": "udpsourceport",
    "UDPDstPort": "udpdestinationport",
    "ip.tot_len": "ipbytes",
}


@pytest.mark.parametrize("name", CAPTURES)
def test_agrees_with_sflowtool(name: str) -> None:
    """Every field sflowtool decodes from a header, we decode to the same value."""
    reference = sflowtool_by_header(name)
    checked = set()
    for h in headers(name):
        ref = reference.get(h.header)
        if ref is None:
            continue
        keys = parse_header(h.protocol, h.header, h.frame_length, h.stripped)
        for field, key in SFLOWTOOL_INT_FIELDS.items():
            if field in ref:
                assert keys[key] == int(ref[field]), (field, ref)
        if "dstMAC" in ref:
            assert keys["macdestination"] == ref["dstMAC"].upper()
            assert keys["macsource"] == ref["srcMAC"].upper()
        if "srcIP" in ref:
            assert (keys["ipsource"], keys["ipdestination"]) == (ref["srcIP"], ref["dstIP"])
            assert (keys["ipprotocol"], keys["iptos"]) == (
                int(ref["IPProtocol"]),
                int(ref["IPTOS"]),
            )
            assert keys["ipttl"] == int(ref["IPTTL"])
        if "srcIP6" in ref:
            assert ipaddress.ip_address(keys["ip6source"]) == ipaddress.ip_address(ref["srcIP6"])
            assert keys["ip6bytes"] == int(ref["IPV6_payloadLen"]) + 40
            assert keys["ip6flowlabel"] == int(ref["IP6_label"], 16)
            assert keys["ip6tos"] == int(ref["IPTOS"])
            if "IPProtocol" in ref:
                assert keys["ip6nexthdr"] == int(ref["IPProtocol"])
        if "TCPFlags" in ref:
            assert int(keys["tcpflags"], 2) & 0xFF == int(ref["TCPFlags"])
        if "ICMPType" in ref:
            icmp = "icmp6" if "srcIP6" in ref else "icmp"
            assert keys[f"{icmp}type"] == int(ref["ICMPType"])
            assert keys[f"{icmp}code"] == int(ref["ICMPCode"])
        checked.add(h.header)
    assert checked == set(reference)


@pytest.mark.parametrize("name", CAPTURES)
def test_extractors_agree_with_parse_header(name: str) -> None:
    for h in headers(name):
        assert_consistent(h.protocol, h.header)


@pytest.mark.parametrize("name", CAPTURES)
def test_locate_fast_path_matches_the_general_walk(name: str) -> None:
    for h in headers(name):
        assert as_tuples(locate(h.protocol, h.header)) == as_tuples(
            walk_layers(h.protocol, h.header)
        )


@pytest.mark.parametrize("name", CAPTURES)
def test_uncompiled_fallback_matches_parse_header(name: str) -> None:
    """Past its cache limit parse_header uses the layer-by-layer path: same answers."""
    for h in headers(name):
        kinds, offs, aux = locate(h.protocol, h.header)
        slow = packet._parse_layers(kinds, h.header, offs, aux, h.frame_length, h.stripped)
        assert slow == parse_header(h.protocol, h.header, h.frame_length, h.stripped)


def as_tuples(layers: tuple) -> tuple:
    return layers[0], tuple(layers[1]), tuple(layers[2])


def assert_consistent(protocol: int, header: bytes) -> dict[str, object]:
    """parse_header's keys equal what EXTRACTORS give, and no extractor finds more."""
    keys = parse_header(protocol, header, 1000, 4)
    layers = locate(protocol, header)
    from_extractors = {k: f(header, layers) for k, f in EXTRACTORS.items()}
    from_extractors = {k: v for k, v in from_extractors.items() if v is not None}
    assert from_extractors == {k: v for k, v in keys.items() if k not in ("bytes", "stripped")}
    return keys


# --- hand-built packets --------------------------------------------------------------


def eth(data: bytes | dpkt.Packet, etype: int, dst: bytes = MAC_B) -> bytes:
    # by hand: dpkt.ethernet re-parses a bytes payload by its type and may rewrite it
    return dst + MAC_A + struct.pack("!H", etype) + bytes(data)


def ip4(data: bytes | dpkt.Packet, proto: int, **kw: object) -> dpkt.ip.IP:
    kw.setdefault("src", IP_A)
    kw.setdefault("dst", IP_B)
    packet = dpkt.ip.IP(p=proto, data=bytes(data), **kw)
    packet.hl = (20 + len(packet.opts)) // 4
    packet.len = 20 + len(packet.opts) + len(bytes(data))
    return packet


def ip6(payload: bytes, nxt: int, tclass: int = 0, flow: int = 0) -> bytes:
    first = 6 << 28 | tclass << 20 | flow
    return struct.pack("!IHBB", first, len(payload), nxt, 64) + IP6_A + IP6_B + payload


def tcp(sport: int = 40000, dport: int = 80, flags: int = dpkt.tcp.TH_SYN) -> bytes:
    return bytes(dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags))


def udp(sport: int = 40000, dport: int = 53, payload: bytes = b"") -> bytes:
    return bytes(dpkt.udp.UDP(sport=sport, dport=dport, ulen=8 + len(payload), data=payload))


def parse_eth(frame: bytes) -> dict[str, object]:
    return assert_consistent(HEADER_ETHERNET, frame)


def test_arp_request() -> None:
    arp = dpkt.arp.ARP(op=dpkt.arp.ARP_OP_REQUEST, sha=MAC_A, spa=IP_A, tha=b"\0" * 6, tpa=IP_B)
    keys = parse_eth(eth(arp, 0x0806, dst=b"\xff" * 6))
    assert keys["stack"] == "eth.arp"
    assert (keys["arpoperation"], keys["arpipsender"], keys["arpiptarget"]) == (
        1,
        "10.0.0.1",
        "10.0.0.2",
    )
    assert (keys["isbroadcast"], keys["ismulticast"], keys["isunicast"]) == (
        "true",
        "false",
        "false",
    )
    assert keys["ethernetprotocol"] == 2054
    assert "ip_offset" not in keys


def test_ipv4_options_tos_and_tcp_flags() -> None:
    syn_ns = bytearray(tcp(dport=443, flags=dpkt.tcp.TH_SYN | dpkt.tcp.TH_ECE))
    syn_ns[12] |= 1  # NS
    packet = ip4(bytes(syn_ns), 6, tos=0xB9, ttl=7, opts=b"\x01\x01\x01\x00")  # 4 option bytes
    keys = parse_eth(eth(packet, 0x0800))
    assert keys["stack"] == "eth.ip.tcp"
    assert keys["tcpdestinationport"] == 443
    assert keys["tcpflags"] == "101000010"  # NS, ECE, SYN
    assert (keys["iptos"], keys["ipdscp"], keys["ipecn"], keys["ipttl"]) == (0xB9, 46, "01", 7)
    assert keys["ipbytes"] == 24 + 20


def test_ipv4_fragments() -> None:
    first = ip4(udp(dport=5000, payload=b"x" * 40), 17, mf=1)
    keys = parse_eth(eth(first, 0x0800))
    assert (keys["ipflags"], keys["ipfragoffset"], keys["udpdestinationport"]) == ("001", 0, 5000)
    later = ip4(b"x" * 40, 17, offset=185)
    keys = parse_eth(eth(later, 0x0800))
    assert (keys["stack"], keys["ipflags"], keys["ipfragoffset"]) == ("eth.ip", "000", 185)
    assert keys["ipprotocol"] == 17
    assert not any(k.startswith("udp") for k in keys)


def ext(nxt: int, body: bytes = b"\0" * 6) -> bytes:
    """An IPv6 extension header in 8-octet units (hop-by-hop, routing, dest-opts)."""
    return bytes([nxt, (len(body) + 2) // 8 - 1]) + body


def frag6(nxt: int, offset: int, more: bool) -> bytes:
    return struct.pack("!BBHI", nxt, 0, offset << 3 | more, 0x1234)


def test_ipv6_extension_headers_are_skipped() -> None:
    chain = ext(43) + ext(60, b"\0" * 14) + ext(44) + frag6(51, 0, True)
    ah = bytes([6, 4]) + b"\0" * 22  # AH: payload length 4 -> (4 + 2) * 4 = 24 bytes
    keys = parse_eth(eth(ip6(chain + ah + tcp(dport=22), 0, tclass=0xB8, flow=0x12345), 0x86DD))
    assert keys["stack"] == "eth.ip6.tcp"
    assert (keys["ip6nexthdr"], keys["tcpdestinationport"]) == (6, 22)
    assert (keys["ip6fragm"], keys["ip6fragoffset"]) == ("yes", 0)
    assert (keys["ip6tos"], keys["ip6dscp"], keys["ip6ecn"]) == (0xB8, 46, "00")
    assert keys["ip6flowlabel"] == 0x12345
    assert keys["ip6source"] == "2001:db8::1"


def test_ipv6_non_first_fragment_has_no_l4() -> None:
    keys = parse_eth(eth(ip6(frag6(17, 100, False) + b"x" * 16, 44), 0x86DD))
    assert (keys["stack"], keys["ip6nexthdr"]) == ("eth.ip6", 17)
    assert (keys["ip6fragm"], keys["ip6fragoffset"]) == ("no", 100)
    assert "udpsourceport" not in keys


def test_gre_transparent_ethernet_bridging_with_key() -> None:
    inner = eth(ip4(udp(dport=123), 17), 0x0800, dst=MAC_A)
    gre = struct.pack("!HHI", 0x2000, 0x6558, 0xABCDEF01) + inner
    keys = parse_eth(eth(ip4(gre, 47), 0x0800))
    assert keys["stack"] == "eth.ip.gre.eth.ip.udp"
    assert (keys["grekey"], keys["grevsid"]) == (0xABCDEF01, 0xABCDEF)
    assert (keys["macdestination.1"], keys["ipsource.1"]) == ("020000000001", "10.0.0.1")
    assert keys["udpdestinationport"] == 123  # first UDP layer is the inner one


def test_gre_ipv4_without_key() -> None:
    gre = struct.pack("!HH", 0, 0x0800) + bytes(ip4(tcp(dport=8080), 6))
    keys = parse_eth(eth(ip4(gre, 47), 0x0800))
    assert keys["stack"] == "eth.ip.gre.ip.tcp"
    assert "grekey" not in keys and "grevsid" not in keys
    assert keys["tcpdestinationport"] == 8080


def test_ip_in_ip_4_and_41() -> None:
    inner4 = bytes(ip4(tcp(dport=25), 6, src=IP_B, dst=IP_A))
    keys = parse_eth(eth(ip4(inner4, 4), 0x0800))
    assert keys["stack"] == "eth.ip.ip.tcp"
    assert (keys["ipsource"], keys["ipsource.1"]) == ("10.0.0.1", "10.0.0.2")
    assert (keys["ipprotocol"], keys["ipprotocol.1"]) == (4, 6)
    assert keys["ip_offset"] == 14
    keys = parse_eth(eth(ip4(ip6(udp(dport=9), 17), 41), 0x0800))
    assert keys["stack"] == "eth.ip.ip6.udp"
    assert (keys["ip6destination"], keys["udpdestinationport"]) == ("2001:db8::2", 9)


def mpls_label(label: int, bottom: bool, ttl: int = 64) -> bytes:
    return struct.pack("!I", label << 12 | bottom << 8 | ttl)


def test_mpls_label_stack_over_ethernet_and_raw() -> None:
    labels = mpls_label(16, False) + mpls_label(1000, True)
    keys = parse_eth(eth(labels + bytes(ip4(udp(dport=4000), 17)), 0x8847))
    assert keys["stack"] == "eth.mpls.mpls.ip.udp"
    assert (keys["mplslabel"], keys["mplslabel.1"]) == (16, 1000)
    assert (keys["ethernetprotocol"], keys["ip_offset"]) == (0x8847, 22)
    raw = assert_consistent(HEADER_MPLS, mpls_label(3, True) + ip6(tcp(), 6))
    assert (raw["stack"], raw["mplslabel"], raw["ip_offset"]) == ("mpls.ip6.tcp", 3, 4)


def test_8021ad_outer_tag() -> None:
    tags = struct.pack("!HHH", 100 | 5 << 13, 0x8100, 200) + struct.pack("!H", 0x86DD)
    frame = eth(b"", 0x88A8)[:12] + struct.pack("!H", 0x88A8) + tags + ip6(udp(), 17)
    keys = parse_eth(frame)
    assert keys["stack"] == "eth.q.q.ip6.udp"
    assert (keys["vlan"], keys["priority"], keys["vlan.1"]) == (100, 5, 200)
    assert keys["ethernetprotocol"] == 0x86DD


def test_geneve_and_raw_ipv6() -> None:
    inner = eth(ip4(tcp(), 6), 0x0800)
    geneve = struct.pack("!BBHI", 1, 0, 0x6558, 0x00ABCD00) + b"\0" * 4 + inner  # 4B options
    keys = parse_eth(eth(ip4(udp(dport=6081, payload=geneve), 17), 0x0800))
    assert keys["stack"] == "eth.ip.udp.geneve.eth.ip.tcp"
    assert (keys["genevevni"], keys["ipsource.1"]) == (0xABCD, "10.0.0.1")
    raw6 = assert_consistent(HEADER_IPV6, ip6(udp(dport=443), 17))
    assert (raw6["stack"], raw6["udpdestinationport"], raw6["ip_offset"]) == ("ip6.udp", 443, 0)


def test_unknown_protocols_yield_only_record_fields() -> None:
    assert parse_header(15, b"\x88" * 64, 90, 4) == {"bytes": 90, "stripped": 4}
    keys = parse_eth(eth(b"\0" * 40, 0x88CC))  # LLDP: Ethernet keys only
    assert (keys["stack"], keys["ethernetprotocol"]) == ("eth", 0x88CC)
    assert parse_header(HEADER_IPV4, ip6(udp(), 17), 80, 0) == {"bytes": 80, "stripped": 0}


def test_extractor_for_any_depth_and_unknown_keys() -> None:
    packet = eth(ip4(ip4(ip4(tcp(), 6), 4), 4), 0x0800)
    layers = locate(HEADER_ETHERNET, packet)
    assert extractor("ipprotocol.2")(packet, layers) == 6
    assert extractor("ipprotocol.3")(packet, layers) is None
    assert extractor("ipsource") is EXTRACTORS["ipsource"]
    for key in ("nosuchkey", "ipsource.0", "ipsource.x", "bytes"):
        assert extractor(key) is None


# --- truncation ----------------------------------------------------------------------


def sample_packets() -> Iterator[tuple[int, bytes]]:
    yield HEADER_ETHERNET, eth(ip4(ip4(tcp(), 6, opts=b"\x01" * 4), 4), 0x0800)
    yield HEADER_ETHERNET, eth(ip6(ext(0) + frag6(6, 0, True) + tcp(), 43), 0x86DD)
    labels = mpls_label(16, False) + mpls_label(17, True)
    yield HEADER_ETHERNET, eth(labels + bytes(ip4(udp(dport=4789, payload=b"\x08" + b"\0" * 7
        + eth(ip4(tcp(), 6), 0x0800)), 17)), 0x8847)  # fmt: skip
    gre = struct.pack("!HHII", 0xA000, 0x6558, 0, 7) + eth(ip4(udp(), 17), 0x0800)
    yield HEADER_ETHERNET, eth(ip4(gre, 47), 0x0800)
    arp = dpkt.arp.ARP(op=2, sha=MAC_A, spa=IP_A, tha=MAC_B, tpa=IP_B)
    yield HEADER_ETHERNET, eth(arp, 0x0806)
    yield HEADER_IPV4, bytes(ip4(dpkt.icmp.ICMP(type=3, code=3, data=b"\0" * 4
        + bytes(ip4(udp(dport=33434), 17))), 1))  # fmt: skip
    for name in ("akvorado-data-qinq", "akvorado-data-encap-vxlan", "ndpi-sflow"):
        for h in headers(name):
            yield h.protocol, h.header


@pytest.mark.parametrize("sample", list(sample_packets()))
def test_truncation_at_every_length_keeps_only_present_fields(sample: tuple[int, bytes]) -> None:
    protocol, full_header = sample
    full = parse_header(protocol, full_header, 1000, 4)
    for length in range(len(full_header) + 1):
        cut = full_header[:length]
        keys = assert_consistent(protocol, cut)
        stack = keys.pop("stack", "")
        assert full["stack"].startswith(stack)
        for key, value in keys.items():
            assert full[key] == value, (length, key)


def test_icmp_unreachable_quotes_the_port() -> None:
    quoted = bytes(ip4(udp(dport=33434), 17))
    icmp = dpkt.icmp.ICMP(type=3, code=3, data=b"\0" * 4 + quoted)
    keys = assert_consistent(HEADER_IPV4, bytes(ip4(icmp, 1)))
    assert (keys["icmptype"], keys["icmpcode"], keys["icmpunreachableport"]) == (3, 3, 33434)
    assert "icmpseqno" not in keys
    icmp = dpkt.icmp.ICMP(type=3, code=1, data=b"\0" * 4 + quoted)
    keys = assert_consistent(HEADER_IPV4, bytes(ip4(icmp, 1)))
    assert keys["icmpunreachablehost"] == "10.0.0.2"
