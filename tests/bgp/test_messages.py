"""BGP message and FlowSpec encodings, checked byte for byte against the worked examples
of the FlowSpec RFC (8955) and the BGP-4 message layout; malformed input raises the
error the speaker answers with."""

from __future__ import annotations

import ipaddress
import struct

import pytest

from flowrt.bgp import wire
from flowrt.bgp.flowspec import encode_nlri, match_key, parse_flow, parse_match
from flowrt.bgp.routes import RouteError, parse_communities, parse_route
from flowrt.bgp.updates import SessionParams, announce_flow, announce_route, withdraw_route


# --- FlowSpec NLRI: the RFC's three IPv4 examples -------------------------------------------
def test_rfc_example_destination_prefix_protocol_and_port() -> None:
    version, nlri = parse_match({"destination": "192.0.2.0/24", "protocol": "=6",
                                 "port": "=25"})
    assert version == 4
    assert nlri == bytes.fromhex("0b 01 18 c0 00 02 03 81 06 04 81 19")


def test_rfc_example_port_range_or_value() -> None:
    _, nlri = parse_match({"destination": "192.0.2.0/24", "source": "203.0.113.0/24",
                           "port": ">=137&<=139,=8080"})
    assert nlri == bytes.fromhex("12 01 18 c0 00 02 02 18 cb 00 71 04 03 89 45 8b 91 1f 90")
    assert parse_match({"destination": "192.0.2.0/24", "source": "203.0.113.0/24",
                        "port": "137-139|8080"})[1] == nlri


def test_rfc_example_fragment_bitmask() -> None:
    _, nlri = parse_match({"destination": "192.0.2.1", "fragment": "DF"})
    assert nlri == bytes.fromhex("09 01 20 c0 00 02 01 0c 80 05")


def test_ipv6_prefix_components_carry_an_offset_and_next_header() -> None:
    version, nlri = parse_match({"destination": "2001:db8::/32", "protocol": "=17",
                                 "version": "6"})
    assert version == 6
    assert nlri == bytes.fromhex("0a 01 20 00 20 01 0d b8 03 81 11")
    assert parse_match({"destination": "2001:db8::1"})[1][:4] == bytes.fromhex("13 01 80 00")


def test_tcp_flags_and_ddos_protect_forms() -> None:
    # ddos-protect's tcp_amplification rule: SYN+ACK replies from one source port
    _, nlri = parse_match({"destination": "10.0.0.1", "version": "4", "protocol": "=6",
                           "tcp-flags": "=SA", "source-port": "=443"})
    assert nlri.endswith(bytes.fromhex("06 91 01 bb 09 81 12"))
    _, nlri = parse_match({"destination": "10.0.0.1", "protocol": "=1", "icmp-type": "=8"})
    assert nlri.endswith(bytes.fromhex("03 81 01 07 81 08"))


def test_long_specifications_use_the_two_byte_length() -> None:
    component = bytes([0x81, 0x06]) * 130
    nlri = encode_nlri([(3, component)])
    assert nlri[:2] == struct.pack("!H", 0xF000 | 261)


@pytest.mark.parametrize("match", [
    {}, {"destination": "10.0.0.1", "bogus": "=1"}, {"protocol": "=300"},
    {"protocol": "~6"}, {"tcp-flags": "=SX"}, {"destination": "10.0.0.0/33"},
    {"destination": "10.0.0.1/8"}, {"version": "6", "destination": "10.0.0.1"},
    {"version": "5", "protocol": "=6"}, {"flow-label": "=1"},
    {"port": ",".join(["=1"] * 40)},
])
def test_bad_matches_are_refused_with_a_reason(match: dict[str, str]) -> None:
    with pytest.raises(RouteError):
        parse_match(match)


# --- FlowSpec actions -------------------------------------------------------------------------
def test_actions_become_extended_communities() -> None:
    rule = parse_flow({"match": {"destination": "10.0.0.1", "protocol": "=17"},
                       "then": {"traffic-rate": "0"}})
    assert rule.attributes.communities.extended == (bytes.fromhex("80 06 00 00 00 00 00 00"),)
    rate = parse_flow({"match": {"destination": "10.0.0.1"}, "then": {"traffic-rate": 12500}})
    assert rate.attributes.communities.extended[0][4:] == struct.pack("!f", 12500.0)
    marks = {"le": 1, "ef": 46, "af41": 34, "cs1": 8, "12": 12}
    for name, dscp in marks.items():
        rule = parse_flow({"match": {"destination": "10.0.0.1"},
                           "then": {"traffic-marking": name}})
        assert rule.attributes.communities.extended[0] == bytes([0x80, 0x09, 0, 0, 0, 0, 0,
                                                                  dscp])
    redirect = parse_flow({"match": {"destination": "10.0.0.1"},
                           "then": {"redirect-as": "65000:666", "redirect-as4": "4200000001:6",
                                    "redirect-ip": "192.0.2.1:666"}})
    assert redirect.attributes.communities.extended == (
        bytes.fromhex("80 08 fd e8 00 00 02 9a"), bytes.fromhex("82 08 fa 56 ea 01 00 06"),
        bytes.fromhex("81 08 c0 00 02 01 02 9a"))
    # ddos-protect's default flowspec community 128:6:0 is traffic-rate 0 as a community
    community = parse_flow({"match": {"destination": "10.0.0.1"},
                            "then": {"communities": "128:6:0"}})
    assert community.attributes.communities.extended == (bytes.fromhex("80 06" + "00" * 6),)
    nexthop = parse_flow({"match": {"destination": "10.0.0.1"},
                          "then": {"redirect-nexthop": "192.0.2.1"}})
    assert nexthop.nexthop == ipaddress.ip_address("192.0.2.1")


def test_remove_matches_on_the_match_alone() -> None:
    spec = {"match": {"destination": "10.0.0.1", "protocol": "=6"}, "then": {"traffic-rate": 0}}
    rule = parse_flow(spec)
    assert match_key({"match": spec["match"]}) == (rule.version, rule.nlri)


# --- routes and UPDATE messages ----------------------------------------------------------------
def test_blackhole_route_update_bytes() -> None:
    route = parse_route({"prefix": "10.99.9.66", "nexthop": "192.0.2.1",
                         "communities": "65535:666", "localpref": "100"})
    message = announce_route(route, SessionParams(65000, ibgp=True, as4=True))
    assert message[:16] == wire.MARKER and message[18] == wire.UPDATE
    assert struct.unpack("!H", message[16:18])[0] == len(message)
    body = message[19:]
    assert body[:2] == b"\x00\x00"  # nothing withdrawn
    attrs_len = struct.unpack("!H", body[2:4])[0]
    attrs = body[4:4 + attrs_len]
    assert attrs == bytes.fromhex(
        "40 01 01 00"  # ORIGIN IGP
        "40 02 00"  # AS_PATH empty (internal peer)
        "40 05 04 00 00 00 64"  # LOCAL_PREF 100
        "c0 08 04 ff ff 02 9a"  # COMMUNITIES 65535:666
        "40 03 04 c0 00 02 01")  # NEXT_HOP 192.0.2.1
    assert body[4 + attrs_len:] == bytes.fromhex("20 0a 63 09 42")  # 10.99.9.66/32
    assert withdraw_route(route.prefix)[19:] == bytes.fromhex("00 05 20 0a 63 09 42 00 00")


def test_external_peers_get_our_as_first_and_no_local_pref() -> None:
    route = parse_route({"prefix": "2001:db8::1", "nexthop": "100::1", "localpref": 200})
    message = announce_route(route, SessionParams(4200000001, ibgp=False, as4=False))
    # 2-byte peer: AS_TRANS in AS_PATH, the true AS in AS4_PATH; no LOCAL_PREF
    assert bytes.fromhex("40 02 04 02 01 5b a0") in message
    assert bytes.fromhex("c0 11 06 02 01 fa 56 ea 01") in message
    assert b"\x40\x05\x04" not in message
    # IPv6 rides in MP_REACH_NLRI: AFI 2 SAFI 1, 16-byte next hop, /128
    assert bytes.fromhex("80 0e 26 00 02 01 10") in message
    nlri = bytes.fromhex("00 80") + ipaddress.ip_address("2001:db8::1").packed  # reserved, /128
    assert nlri in message


def test_flow_update_uses_mp_reach_for_safi_133() -> None:
    rule = parse_flow({"match": {"destination": "192.0.2.0/24", "protocol": "=6",
                                 "port": "=25"}, "then": {"traffic-rate": "0"}})
    message = announce_flow(rule, SessionParams(65000, ibgp=True, as4=True))
    # AFI 1, SAFI 133, no next hop, reserved, then the RFC example's NLRI
    assert bytes.fromhex("80 0e 11 00 01 85 00 00 0b 01 18 c0 00 02 03 81 06 04 81 19") \
        in message
    assert bytes.fromhex("c0 10 08 80 06 00 00 00 00 00 00") in message


def test_communities_forms() -> None:
    parsed = parse_communities("65535:666 no-export,100:300-100:250")
    assert parsed.standard == (0xFFFF029A, 0xFFFFFF01, (100 << 16) | 300, (100 << 16) | 250)
    assert parse_communities(["L:65000:1:2"]).large == ((65000, 1, 2),)
    for bad in ("65536:1", "a:b", "1:2:3:4:5"):
        with pytest.raises(RouteError):
            parse_communities(bad)


@pytest.mark.parametrize("spec", [
    None, {"prefix": "10.0.0.1"}, {"prefix": "10.0.0.1", "nexthop": "2001:db8::1"},
    {"prefix": "nonsense", "nexthop": "192.0.2.1"},
    {"prefix": "10.0.0.1", "nexthop": "192.0.2.1", "localpref": "high"},
    {"prefix": "10.0.0.1", "nexthop": "192.0.2.1", "origin": "BGP"},
])
def test_bad_routes_are_refused(spec: object) -> None:
    with pytest.raises(RouteError):
        parse_route(spec)


# --- OPEN and framing ------------------------------------------------------------------------
def test_open_round_trip_with_capabilities() -> None:
    message = wire.Open(4200000001, 90, "0.6.6.6",
                        {wire.IPV4_UNICAST, wire.IPV4_FLOWSPEC, wire.IPV6_FLOWSPEC},
                        as4=True).encode()
    length, kind = wire.parse_header(message[:19])
    assert (length, kind) == (len(message), wire.OPEN)
    decoded = wire.decode_open(message[19:])
    assert decoded.asn == 4200000001 and decoded.as4 and decoded.route_refresh
    assert decoded.hold_time == 90 and decoded.identifier == "0.6.6.6"
    assert decoded.families == {wire.IPV4_UNICAST, wire.IPV4_FLOWSPEC, wire.IPV6_FLOWSPEC}
    assert message[20:22] == struct.pack("!H", wire.AS_TRANS)


@pytest.mark.parametrize(("header", "subcode"), [
    (b"\x00" * 16 + b"\x00\x13\x04", wire.NOT_SYNCHRONIZED),
    (wire.MARKER + b"\x00\x12\x04", wire.BAD_LENGTH),
    (wire.MARKER + b"\x10\x01\x02", wire.BAD_LENGTH),
    (wire.MARKER + b"\x00\x14\x04", wire.BAD_LENGTH),
    (wire.MARKER + b"\x00\x13\x09", wire.BAD_TYPE),
])
def test_bad_headers_name_their_notification(header: bytes, subcode: int) -> None:
    with pytest.raises(wire.MessageError) as caught:
        wire.parse_header(header)
    assert (caught.value.code, caught.value.subcode) == (wire.HEADER_ERROR, subcode)


@pytest.mark.parametrize(("body", "subcode"), [
    (struct.pack("!BHH4sB", 3, 65000, 90, b"\x01\x02\x03\x04", 0), wire.UNSUPPORTED_VERSION),
    (struct.pack("!BHH4sB", 4, 65000, 2, b"\x01\x02\x03\x04", 0), wire.UNACCEPTABLE_HOLD),
    (struct.pack("!BHH4sB", 4, 65000, 90, b"\x00\x00\x00\x00", 0), wire.BAD_IDENTIFIER),
    (struct.pack("!BHH4sB", 4, 65000, 90, b"\x01\x02\x03\x04", 9) + b"\x02\x07\x01", 0),
])
def test_bad_opens_name_their_notification(body: bytes, subcode: int) -> None:
    with pytest.raises(wire.MessageError) as caught:
        wire.decode_open(body)
    assert (caught.value.code, caught.value.subcode) == (wire.OPEN_ERROR, subcode)


def test_update_lengths_must_add_up() -> None:
    wire.check_update(bytes.fromhex("0000 0000"))
    with pytest.raises(wire.MessageError):
        wire.check_update(bytes.fromhex("0010 0000"))
    with pytest.raises(wire.MessageError):
        wire.check_update(bytes.fromhex("0000 0040 4001"))
