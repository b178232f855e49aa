"""The sflowtool text format: one ``key value`` line per decoded field.

``sflowtool -r capture.pcap`` output is what sFlow users read, diff and grep, so
``flowrt decode`` prints the same text for the same datagram, line for line (checked
against sflowtool 6.11 on every capture in the shared test data). Records are printed
by small functions in two tables keyed by record tag (flow and counter records live in
separate tag spaces), so adding a record type is one table entry.

Decisions that follow sflowtool rather than taste:

* A record tag sflowtool does not decode is printed as it prints an unknown element
  (``skipping unknown flow_sample_element: 0:1037 len=12``), even when our decoder
  understands it: the text stays comparable. :data:`SFLOWTOOL_SILENT_FLOW_TAGS` and
  :data:`SFLOWTOOL_SILENT_COUNTER_TAGS` list those.
* Strings are cut where sflowtool's fixed buffers cut them and at the first NUL.
* On the first decode failure sflowtool abandons the whole datagram (it longjmps out):
  we print what it printed up to that point, then ``endDatagram``, and nothing of the
  samples after it, although our decoder resumes there.
* Times are printed in the local time zone, as sflowtool does (``TZ=UTC`` gives the
  reference files' ``+0000``).

Known differences, all in datagrams no real agent sends: sFlow v2/v4 datagrams (we
print the envelope and stop; sflowtool decodes them), a sample whose records do not
fill its declared length exactly (sflowtool aborts, we do not), address type 0 in a
record (sflowtool aborts), the 80211 payload record (sflowtool re-reads it as a sampled
header), and non-UTF-8 bytes in strings (we print U+FFFD).
"""

from __future__ import annotations

import dataclasses
import re
import struct
import time
from collections.abc import Callable
from functools import cache
from ipaddress import IPv6Address, ip_address
from typing import Any

from flowrt.sflow import records as _record_types  # noqa: F401  (fills the registry)
from flowrt.sflow.errors import DecodeError
from flowrt.sflow.model import (
    CounterSample,
    Datagram,
    DiscardSample,
    FlowSample,
    UnknownSample,
)
from flowrt.sflow.registry import (
    COUNTER_DECODERS,
    COUNTER_RECORDS,
    FLOW_DECODERS,
    FLOW_RECORDS,
    UnknownRecord,
    make_tag,
    tag_text,
)
from flowrt.sflow.sflowtool_header import header_lines, ipv6_text, mac_text, signed32

START_DATAGRAM = "startDatagram ================================="
END_DATAGRAM = "endDatagram   ================================="
START_SAMPLE = "startSample ----------------------"
END_SAMPLE = "endSample   ----------------------"

# sample tags (enterprise 0)
_SAMPLE_TYPES = {1: "FLOWSAMPLE", 2: "COUNTERSSAMPLE", 3: "FLOWSAMPLE", 4: "COUNTERSSAMPLE",
                 5: "DISCARD"}
DISCARD_PREFIX = "discarded_"
SFSTR_CAPACITY = 2048  # sflowtool formats each value into a 2048-byte buffer
HEX_BYTES_MAX = (SFSTR_CAPACITY - 1) // 3  # "XX-" per byte: longer headers are cut
UNKNOWN_PERCENT = 0xFFFFFFFF
_VERSION_IN_ERROR = re.compile(r"unsupported sFlow version (\d+)")
_U32 = struct.Struct(">I")
_F32 = struct.Struct(">f")

Printer = Callable[[Any, "_Out"], None]


class _Out:
    """Collects lines; ``field`` applies the key prefix stack (``discarded_`` etc.)."""

    __slots__ = ("lines", "prefix")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.prefix = ""

    def field(self, key: str, value: object) -> None:
        self.lines.append(f"{self.prefix}{key} {value}")

    def log(self, text: str) -> None:
        """A free-text line: sflowtool prints these without the key prefix."""
        self.lines.append(text)


# --- value formats -------------------------------------------------------------------


def _c_string(value: str, max_len: int) -> str:
    """What sflowtool keeps of a string: ``max_len - 1`` bytes, up to the first NUL."""
    raw = value.encode("utf-8")[: max_len - 1]
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _addr(value: str | None) -> str:
    """sflowtool's address text: dotted quad, or IPv6 with every group in full."""
    if value is None:
        return "-"
    return ipv6_text(value) if ":" in value else value


def _u32(value: int) -> str:
    return str(value & 0xFFFFFFFF)


def _f32(value: float) -> float:
    (rounded,) = _F32.unpack(_F32.pack(value))
    return float(rounded)


def _percent(value: int) -> str:
    """Hundredths of a percent as sflowtool's ``%.2f`` (float arithmetic), or unknown."""
    hundredths = value & 0xFFFFFFFF
    if hundredths == UNKNOWN_PERCENT:
        return "unknown"
    return f"{_f32(_f32(hundredths) / 100.0):.2f}"


def _load(value: float) -> str:
    return f"{value:.3f}"


def _dpid(value: int) -> str:
    return f"{value:016x}"


def _url_encode(text: str) -> str:
    """sflowtool's URLEncode: alphanumerics kept, spaces to '+', the rest %XX."""
    out = []
    for b in text.encode("utf-8"):
        c = chr(b)
        if c.isascii() and c.isalnum():
            out.append(c)
        elif c in " \t\n\v\f\r":
            out.append("+")
        else:
            out.append(f"%{b:02X}")
    return "".join(out)


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


def _values(record: Any) -> list[Any]:
    """A record's field values in declaration (= wire) order."""
    cls: type = type(record)
    return [getattr(record, name) for name in _field_names(cls)]


def _each(*spec: str | tuple[str, Callable[[Any], str]] | None) -> Printer:
    """A printer for records sflowtool prints field by field, in wire order.

    Fields are matched by position, not name, so the printer depends only on the wire
    layout. A ``None`` entry skips a field printed elsewhere. Absent tail fields
    (``None`` values) are not printed: sflowtool reads them only when present.
    """
    keys = [(s, str) if isinstance(s, str) or s is None else s for s in spec]

    def show(record: Any, out: _Out) -> None:
        for (key, fmt), value in zip(keys, _values(record), strict=False):
            if key is not None and value is not None:
                out.field(key, fmt(value))

    return show


def _then(*printers: Printer) -> Printer:
    def show(record: Any, out: _Out) -> None:
        for printer in printers:
            printer(record, out)

    return show


def _label(key: str, value: str) -> Printer:
    """A constant line sflowtool prints before a record's fields (``extendedType X``)."""

    def show(record: Any, out: _Out) -> None:
        out.field(key, value)

    return show


def _string(key: str, index: int, max_len: int) -> Printer:
    """A string field, which sflowtool prints only when it is not empty."""

    def show(record: Any, out: _Out) -> None:
        value = _values(record)[index]
        if value:
            out.field(key, _c_string(value, max_len))

    return show


def _with_prefix(prefix: str, printer: Printer) -> Printer:
    def show(record: Any, out: _Out) -> None:
        saved = out.prefix
        out.prefix = saved + prefix
        try:
            printer(record, out)
        finally:
            out.prefix = saved

    return show


# --- flow records --------------------------------------------------------------------


def _sampled_header(rec: Any, out: _Out) -> None:
    out.field("flowSampleType", "HEADER")
    out.field("headerProtocol", rec.protocol)
    out.field("sampledPacketSize", rec.frame_length)
    out.field("strippedBytes", rec.stripped)
    header = rec.header
    out.field("headerLen", len(header))
    out.field("headerBytes", header[:HEX_BYTES_MAX].hex("-").upper())
    for key, value in header_lines(rec.protocol, rec.frame_length, rec.stripped, header):
        if key is None:
            out.log(value)
        else:
            out.field(key, value)


def _ethernet(prefix: str) -> Printer:
    def show(rec: Any, out: _Out) -> None:
        out.field("flowSampleType", f"{prefix}ETHERNET")
        saved = out.prefix
        out.prefix = saved + prefix
        out.field("ethernet_type", rec.eth_type)
        out.field("ethernet_len", rec.length)
        out.field("ethernet_src", mac_text(rec.src_mac))
        out.field("ethernet_dst", mac_text(rec.dst_mac))
        out.prefix = saved

    return show


def _ports(out: _Out, protocol: int, src: int, dst: int, flags: int) -> None:
    if protocol == 1:
        out.field("ICMPType", dst)  # sic: sflowtool takes the type from dst_port
    elif protocol == 6:
        out.field("TCPSrcPort", src)
        out.field("TCPDstPort", dst)
        out.field("TCPFlags", flags)
    elif protocol == 17:
        out.field("UDPSrcPort", src)
        out.field("UDPDstPort", dst)


def _ip_struct(prefix: str, version: int) -> Printer:
    """sampled_ipv4 / sampled_ipv6 and the tunnel records that share their layout."""

    def show(rec: Any, out: _Out) -> None:
        out.field("flowSampleType", f"{prefix}IPV{version}")
        saved = out.prefix
        out.prefix = saved + prefix
        src, dst, length, protocol, tos, tcp_flags, sport, dport = _ip_fields(rec)
        out.field("sampledPacketSize", length)
        out.field("IPSize", length)
        if version == 4:
            out.field("srcIP", src)
            out.field("dstIP", dst)
            out.field("IPProtocol", protocol)
            out.field("IPTOS", tos)
        else:
            out.field("srcIP6", ipv6_text(src))
            out.field("dstIP6", ipv6_text(dst))
            out.field("IPProtocol", protocol)
            out.field("priority", tos)
        _ports(out, protocol, sport, dport, tcp_flags)
        out.prefix = saved

    return show


def _ip_fields(rec: Any) -> tuple[Any, ...]:
    length, protocol, src, dst, sport, dport, flags, tos = _values(rec)
    return src, dst, length, protocol, tos, flags, sport, dport


def _gateway(rec: Any, out: _Out) -> None:
    out.field("extendedType", "GATEWAY")
    out.field("bgp_nexthop", _addr(rec.nexthop))
    out.field("my_as", rec.as_number)
    out.field("src_as", rec.src_as)
    out.field("src_peer_as", rec.src_peer_as)
    segments = rec.dst_as_path
    dst_as = dst_peer_as = 0
    if segments:
        path = []
        for seg in segments:
            text = "-".join(str(asn) for asn in seg.asns)
            path.append(f"({text})" if seg.type == 1 else text)  # 1 = AS_SET
        out.field("dst_as_path", "".join(path))  # sic: segments are not separated
        if segments[0].asns:
            dst_peer_as = segments[0].asns[0]
        if segments[-1].asns:
            dst_as = segments[-1].asns[-1]
    out.field("dst_as", dst_as)
    out.field("dst_peer_as", dst_peer_as)
    if rec.communities:
        out.field("BGP_communities", "-".join(str(c) for c in rec.communities))
    out.field("BGP_localpref", rec.local_pref)


def _user(rec: Any, out: _Out) -> None:
    out.field("extendedType", "USER")
    out.field("src_user_charset", rec.src_charset)
    out.field("dst_user_charset", rec.dst_charset)
    out.field("src_user", _c_string(_text(rec.src_user), 200))
    out.field("dst_user", _c_string(_text(rec.dst_user), 200))


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _url(rec: Any, out: _Out) -> None:
    out.field("extendedType", "URL")
    out.field("url_direction", rec.direction)
    out.field("url", _c_string(rec.url, 200))
    out.field("host", _c_string(rec.host, 200))


def _label_stack(words: list[int]) -> str:
    words = [w & 0xFFFFFFFF for w in words]
    return "-".join(f"{w >> 12}.{(w >> 9) & 7}.{(w >> 8) & 1}.{w & 0xFF}" for w in words)


def _mpls(rec: Any, out: _Out) -> None:
    out.field("extendedType", "MPLS")
    out.field("mpls_nexthop", _addr(rec.nexthop))
    if rec.in_stack:
        out.field("mpls_input_stack", _label_stack(rec.in_stack))
    if rec.out_stack:
        out.field("mpls_output_stack", _label_stack(rec.out_stack))


def _nat(rec: Any, out: _Out) -> None:
    out.field("extendedType", "NAT")
    out.field("nat_src", _addr(rec.src_address))
    out.field("nat_dst", _addr(rec.dst_address))


def _vlan_tunnel(rec: Any, out: _Out) -> None:
    stack = _values(rec)[0]
    if stack:
        # sic: the TPID and the priority run together ("0x81000.0.100")
        out.field("vlan_tunnel", "-".join(
            f"0x{w >> 16:04x}{(w >> 13) & 7}.{(w >> 12) & 1}.{w & 0xFFF}" for w in stack
        ))


def _wifi(direction: str, names: tuple[str, ...]) -> Printer:
    def show(rec: Any, out: _Out) -> None:
        values = _values(rec)
        if values[0]:
            out.field(f"{direction}_SSID", _c_string(values[0], 256))
        out.field(f"{direction}_BSSID", mac_text(values[1]))
        for name, value in zip(names, values[2:], strict=True):
            out.field(f"{direction}_{name}", value)

    return show


def _socket(kind: str) -> Printer:
    def show(rec: Any, out: _Out) -> None:
        protocol, local, remote, lport, rport = _values(rec)
        out.field("extendedType", kind)
        out.field(f"{kind}_ip_protocol", protocol)
        out.field(f"{kind}_local_ip", _addr(local))
        out.field(f"{kind}_remote_ip", _addr(remote))
        out.field(f"{kind}_local_port", lport)
        out.field(f"{kind}_remote_port", rport)

    return show


def _memcache_op(rec: Any, out: _Out) -> None:
    protocol, cmd, key, nkeys, value_bytes, duration, status = _values(rec)
    out.field("flowSampleType", "memcache")
    out.field("memcache_op_protocol", protocol)
    out.field("memcache_op_cmd", cmd)
    if key:
        out.field("memcache_op_key", _url_encode(_c_string(key, 255)))
    out.field("memcache_op_nkeys", nkeys)
    out.field("memcache_op_value_bytes", value_bytes)
    out.field("memcache_op_duration_uS", duration)
    out.field("memcache_op_status", status)


def _http(with_xff: bool) -> Printer:
    def show(rec: Any, out: _Out) -> None:
        v = _values(rec)
        out.field("flowSampleType", "http")
        out.field("http_method", v[0])
        out.field("http_protocol", v[1])
        strings = [("http_uri", 255), ("http_host", 64), ("http_referrer", 255),
                   ("http_useragent", 128)]
        if with_xff:
            strings.append(("http_xff", 64))
        strings += [("http_authuser", 32), ("http_mimetype", 64)]
        for (key, max_len), value in zip(strings, v[2:], strict=False):
            if value:
                out.field(key, _c_string(value, max_len))
        rest = v[2 + len(strings):]
        if with_xff:
            out.field("http_request_bytes", rest.pop(0))
        out.field("http_bytes", rest[0])
        out.field("http_duration_uS", rest[1])
        out.field("http_status", _u32(rest[2]))

    return show


def _app_operation(rec: Any, out: _Out) -> None:
    from flowrt.sflow.records.app import APP_STATUSES

    application, operation, attributes, descr, req, resp, duration, status = _values(rec)
    out.field("flowSampleType", "applicationOperation")
    for key, value, max_len in (("application", application, 32), ("operation", operation, 32),
                                ("attributes", attributes, 255), ("status_descr", descr, 64)):
        if value:
            out.field(key, _c_string(value, max_len))
    out.field("request_bytes", req)
    out.field("response_bytes", resp)
    out.field("duration_uS", duration)
    name = APP_STATUSES[status] if status < len(APP_STATUSES) else f"<out-of-range={status}>"
    out.field("status", name)


_TCP_DIRECTIONS = ("unknown", "received", "sent")


def _tcp_info(rec: Any, out: _Out) -> None:
    values = _values(rec)
    direction = values[0]
    out.field("tcpinfo_direction",
              _TCP_DIRECTIONS[direction] if direction < len(_TCP_DIRECTIONS) else "<bad value>")
    names = ("send_mss", "receive_mss", "unacked_pkts", "lost_pkts", "retrans_pkts",
             "path_mtu", "rtt_uS", "rtt_uS_var", "send_congestion_win", "reordering",
             "rtt_uS_min")
    for name, value in zip(names, values[1:], strict=True):
        out.field(f"tcpinfo_{name}", value)


def _decap(side: str) -> Printer:
    return _then(_label("extendedType", f"{side}decap"),
                 _with_prefix(side, _each("decap_inner_header_offset")))


def _vni(side: str) -> Printer:
    return _then(_label("extendedType", f"{side}VNI"), _with_prefix(side, _each("VNI")))


FLOW_PRINTERS: dict[int, Printer] = {
    make_tag(0, 1): _sampled_header,
    make_tag(0, 2): _ethernet(""),
    make_tag(0, 3): _ip_struct("", 4),
    make_tag(0, 4): _ip_struct("", 6),
    make_tag(0, 1001): _then(_label("extendedType", "SWITCH"),
                             _each("in_vlan", "in_priority", "out_vlan", "out_priority")),
    make_tag(0, 1002): _then(_label("extendedType", "ROUTER"),
                             _each(("nextHop", _addr), "srcSubnetMask", "dstSubnetMask")),
    make_tag(0, 1003): _gateway,
    make_tag(0, 1004): _user,
    make_tag(0, 1005): _url,
    make_tag(0, 1006): _mpls,
    make_tag(0, 1007): _nat,
    make_tag(0, 1008): _then(_string("mpls_tunnel_lsp_name", 0, 100),
                             _each(None, "mpls_tunnel_id", "mpls_tunnel_cos")),
    make_tag(0, 1009): _then(_string("mpls_vc_name", 0, 100),
                             _each(None, "mpls_vll_vc_id", "mpls_vc_cos")),
    make_tag(0, 1010): _then(_string("mpls_ftn_descr", 0, 100),
                             _each(None, "mpls_ftn_mask")),
    make_tag(0, 1011): _each("mpls_fec_addr_prefix_len"),
    make_tag(0, 1012): _vlan_tunnel,
    make_tag(0, 1013): _each("cipher_suite"),
    make_tag(0, 1014): _wifi("rx", ("version", "channel", "speed", "rsni", "rcpi",
                                    "packet_uS")),
    make_tag(0, 1015): _wifi("tx", ("version", "transmissions", "packet_uS", "retrans_uS",
                                    "channel", "speed", "power_mW")),
    make_tag(0, 1020): _then(_label("extendedType", "NAT PORT"),
                             _each("nat_src_port", "nat_dst_port")),
    make_tag(0, 1021): _ethernet("tunnel_l2_out_"),
    make_tag(0, 1022): _ethernet("tunnel_l2_in_"),
    make_tag(0, 1023): _ip_struct("tunnel_ipv4_out_", 4),
    make_tag(0, 1024): _ip_struct("tunnel_ipv4_in_", 4),
    make_tag(0, 1025): _ip_struct("tunnel_ipv6_out_", 6),
    make_tag(0, 1026): _ip_struct("tunnel_ipv6_in_", 6),
    make_tag(0, 1027): _decap("out_"),
    make_tag(0, 1028): _decap("in_"),
    make_tag(0, 1029): _vni("out_"),
    make_tag(0, 1030): _vni("in_"),
    make_tag(0, 1036): _then(_label("extendedType", "egress_queue"), _each("egress_queue_id")),
    make_tag(0, 1038): _then(_label("extendedType", "function"), _string("symbol", 0, 64)),
    make_tag(0, 1039): _then(_label("extendedType", "transit_delay"),
                             _each("transit_delay_nS")),
    make_tag(0, 1040): _then(_label("extendedType", "queue_depth"),
                             _each("queue_depth_bytes")),
    make_tag(0, 1041): _then(_label("extendedType", "hw_trap"),
                             _string("hw_trap_group", 0, 64), _string("hw_trap_name", 1, 64)),
    make_tag(0, 1042): _then(_label("extendedType", "linux_reason"),
                             _string("linux_drop_reason", 0, 64)),
    make_tag(0, 1043): _then(_label("extendedType", "timestamp"), _each("timestamp_nS")),
    make_tag(0, 2100): _socket("socket4"),
    make_tag(0, 2101): _socket("socket6"),
    make_tag(0, 2102): _socket("proxy_socket4"),
    make_tag(0, 2103): _socket("proxy_socket6"),
    make_tag(0, 2200): _memcache_op,
    make_tag(0, 2201): _http(with_xff=False),
    make_tag(0, 2202): _app_operation,
    make_tag(0, 2203): _then(_string("server_context_application", 0, 32),
                             _string("server_context_operation", 1, 32),
                             _string("server_context_attributes", 2, 255)),
    make_tag(0, 2204): _string("actor_initiator", 0, 64),
    make_tag(0, 2205): _string("actor_target", 0, 64),
    make_tag(0, 2206): _http(with_xff=True),
    make_tag(0, 2209): _tcp_info,
    make_tag(0, 2210): _then(_label("extendedType", "entities"),
                             _each("entities_src_class", "entities_src_index",
                                   "entities_dst_class", "entities_dst_index")),
}
"""Flow records as sflowtool 6.11 prints them, by tag."""


# --- counter records -----------------------------------------------------------------


def _adaptors(rec: Any, out: _Out) -> None:
    for i, adaptor in enumerate(rec.adapters):
        prefix = f"adaptor_{i}_"
        out.field(f"{prefix}ifIndex", adaptor.if_index)
        out.field(f"{prefix}MACs", len(adaptor.macs))
        for j, mac in enumerate(adaptor.macs):
            out.field(f"{prefix}MAC_{j}", mac_text(mac))


def _host_descr(rec: Any, out: _Out) -> None:
    hostname, uuid, machine_type, os_name, os_release = _values(rec)
    if hostname:
        out.field("hostname", _c_string(hostname, 64))
    u = uuid.hex()
    out.field("UUID", f"{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:]}")
    out.field("machine_type", machine_type)
    out.field("os_name", os_name)
    if os_release:
        out.field("os_release", _c_string(os_release, 32))


def _lacp(rec: Any, out: _Out) -> None:
    v = _values(rec)
    out.field("actorSystemID", mac_text(v[0]))
    out.field("partnerSystemID", mac_text(v[1]))
    out.field("attachedAggID", v[2])
    state = v[3]
    out.field("actorAdminPortState", (state >> 24) & 0xFF)
    out.field("actorOperPortState", (state >> 16) & 0xFF)
    out.field("partnerAdminPortState", (state >> 8) & 0xFF)
    out.field("partnerOperPortState", state & 0xFF)
    names = ("LACPDUsRx", "markerPDUsRx", "markerResponsePDUsRx", "unknownRx", "illegalRx",
             "LACPDUsTx", "markerPDUsTx", "markerResponsePDUsTx")
    for name, value in zip(names, v[4:], strict=True):
        out.field(name, value)


# sic: the "%u" in several lane keys is printed literally by sflowtool
_SFP_LANE_KEYS = ("index", "tx_bias_current_uA", "tx_power_uW.%u", "tx_power_min_uW.%u",
                  "tx_power_max_uW.%u", "tx_wavelength_nM.%u", "rx_power_uW.%u",
                  "rx_power_min_uW.%u", "rx_power_max_uW.%u", "rx_wavelength_nM.%u")


def _sfp(rec: Any, out: _Out) -> None:
    module_id, total_lanes, voltage, temperature, lanes = _values(rec)
    out.field("sfp_module_id", module_id)
    out.field("sfp_module_total_lanes", total_lanes)
    out.field("sfp_module_supply_voltage", voltage)
    out.field("sfp_module_temperature", _u32(temperature))
    out.field("sfp_module_active_lanes", len(lanes))
    for n, lane in enumerate(lanes):
        for key, value in zip(_SFP_LANE_KEYS, _values(lane), strict=True):
            out.field(f"sfp_lane_{key}.{n}", value)


def _app_operations(rec: Any, out: _Out) -> None:
    values = _values(rec)
    if values[0]:
        out.field("application", _c_string(values[0], 32))
    names = ("status_OK", "errors_OTHER", "errors_TIMEOUT", "errors_INTERNAL_ERROR",
             "errors_BAD_REQUEST", "errors_FORBIDDEN", "errors_TOO_LARGE",
             "errors_NOT_IMPLEMENTED", "errors_NOT_FOUND", "errors_UNAVAILABLE",
             "errors_UNAUTHORIZED")
    for name, value in zip(names, values[1:], strict=True):
        out.field(name, value)


def _jvm(rec: Any, out: _Out) -> None:
    for key, value, max_len in zip(("jvm_name", "jvm_vendor", "jvm_version"), _values(rec),
                                   (64, 32, 32), strict=True):
        if value:
            out.field(key, _c_string(value, max_len))


_GENERIC = ("ifIndex", "networkType", "ifSpeed", "ifDirection", "ifStatus", "ifInOctets",
            "ifInUcastPkts", "ifInMulticastPkts", "ifInBroadcastPkts", "ifInDiscards",
            "ifInErrors", "ifInUnknownProtos", "ifOutOctets", "ifOutUcastPkts",
            "ifOutMulticastPkts", "ifOutBroadcastPkts", "ifOutDiscards", "ifOutErrors",
            "ifPromiscuousMode")
_DOT3 = ("AlignmentErrors", "FCSErrors", "SingleCollisionFrames", "MultipleCollisionFrames",
         "SQETestErrors", "DeferredTransmissions", "LateCollisions", "ExcessiveCollisions",
         "InternalMacTransmitErrors", "CarrierSenseErrors", "FrameTooLongs",
         "InternalMacReceiveErrors", "SymbolErrors")
_DOT5 = ("LineErrors", "BurstErrors", "ACErrors", "AbortTransErrors", "InternalErrors",
         "LostFrameErrors", "ReceiveCongestions", "FrameCopiedErrors", "TokenErrors",
         "SoftErrors", "HardErrors", "SignalLoss", "TransmitBeacons", "Recoverys",
         "LobeWires", "Removes", "Singles", "FreqErrors")
_DOT12 = ("InHighPriorityFrames", "InHighPriorityOctets", "InNormPriorityFrames",
          "InNormPriorityOctets", "InIPMErrors", "InOversizeFrameErrors", "InDataErrors",
          "InNullAddressedFrames", "OutHighPriorityFrames", "OutHighPriorityOctets",
          "TransitionIntoTrainings", "HCInHighPriorityOctets", "HCInNormPriorityOctets",
          "HCOutHighPriorityOctets")
_DOT11 = ("TransmittedFragmentCount", "MulticastTransmittedFrameCount", "FailedCount",
          "RetryCount", "MultipleRetryCount", "FrameDuplicateCount", "RTSSuccessCount",
          "RTSFailureCount", "ACKFailureCount", "ReceivedFragmentCount",
          "MulticastReceivedFrameCount", "FCSErrorCount", "TransmittedFrameCount",
          "WEPUndecryptableCount", "QoSDiscardedFragmentCount", "AssociatedStationCount",
          "QoSCFPollsReceivedCount", "QoSCFPollsUnusedCount", "QoSCFPollsUnusableCount",
          "QoSCFPollsLostCount")
_CPU = ("cpu_proc_run", "cpu_proc_total", "cpu_num", "cpu_speed", "cpu_uptime", "cpu_user",
        "cpu_nice", "cpu_system", "cpu_idle", "cpu_wio", "cpuintr", "cpu_sintr",
        "cpuinterrupts", "cpu_contexts", "cpu_steal", "cpu_guest", "cpu_guest_nice")
_MIB2_IP = ("ipForwarding", "ipDefaultTTL", "ipInReceives", "ipInHdrErrors", "ipInAddrErrors",
            "ipForwDatagrams", "ipInUnknownProtos", "ipInDiscards", "ipInDelivers",
            "ipOutRequests", "ipOutDiscards", "ipOutNoRoutes", "ipReasmTimeout",
            "ipReasmReqds", "ipReasmOKs", "ipReasmFails", "ipFragOKs", "ipFragFails",
            "ipFragCreates")
_ICMP = ("InMsgs", "InErrors", "InDestUnreachs", "InTimeExcds", "InParamProbs",
         "InSrcQuenchs", "InRedirects", "InEchos", "InEchoReps", "InTimestamps",
         "InAddrMasks", "InAddrMaskReps", "OutMsgs", "OutErrors", "OutDestUnreachs",
         "OutTimeExcds", "OutParamProbs", "OutSrcQuenchs", "OutRedirects", "OutEchos",
         "OutEchoReps", "OutTimestamps", "OutTimestampReps", "OutAddrMasks",
         "OutAddrMaskReps")
_TCP = ("RtoAlgorithm", "RtoMin", "RtoMax", "MaxConn", "ActiveOpens", "PassiveOpens",
        "AttemptFails", "EstabResets", "CurrEstab", "InSegs", "OutSegs", "RetransSegs",
        "InErrs", "OutRsts", "InCsumErrors")
_UDP = ("InDatagrams", "NoPorts", "InErrors", "OutDatagrams", "RcvbufErrors", "SndbufErrors",
        "InCsumErrors")
_MEMCACHE = ("cmd_set", "cmd_touch", "cmd_flush", "get_hits", "get_misses", "delete_hits",
             "delete_misses", "incr_hits", "incr_misses", "decr_hits", "decr_misses",
             "cas_hits", "cas_misses", "cas_badval", "auth_cmds", "auth_errors", "threads",
             "conn_yields", "listen_disabled_num", "curr_connections", "rejected_connections",
             "total_connections", "connection_structures", "evictions", "reclaimed",
             "curr_items", "total_items", "bytes_read", "bytes_written", "bytes",
             "limit_maxbytes")
_HTTP_COUNTS = ("method_option_count", "method_get_count", "method_head_count",
                "method_post_count", "method_put_count", "method_delete_count",
                "method_trace_count", "methd_connect_count",  # sic
                "method_other_count", "status_1XX_count", "status_2XX_count",
                "status_3XX_count", "status_4XX_count", "status_5XX_count",
                "status_other_count")
_VDI = ("sessions_current", "sessions_total", "sessions_duration", "rx_bytes", "tx_bytes",
        "rx_packets", "tx_packets", "rx_packets_lost", "tx_packets_lost", "rtt_min_ms",
        "rtt_max_ms", "rtt_avg_ms", "audio_rx_bytes", "audio_tx_bytes", "audio_tx_limit",
        "img_rx_bytes", "img_tx_bytes", "img_frames", "img_qual_min", "img_qual_max",
        "img_qual_avg", "usb_rx_bytes", "usb_tx_bytes")
_BCM = ("asic_host_entries", "host_entries_max", "ipv4_entries", "ipv4_entries_max",
        "ipv6_entries", "ipv6_entries_max", "ipv4_ipv6_entries", "ipv4_ipv6_entries_max",
        "long_ipv6_entries", "long_ipv6_entries_max", "total_routes", "total_routes_max",
        "ecmp_nexthops", "ecmp_nexthops_max", "mac_entries", "mac_entries_max",
        "ipv4_neighbors", "ipv6_neighbors", "ipv4_routes", "ipv6_routes",
        "acl_ingress_entries", "acl_ingress_entries_max", "acl_ingress_counters",
        "acl_ingress_counters_max", "acl_ingress_meters", "acl_ingress_meters_max",
        "acl_ingress_slices", "acl_ingress_slices_max", "acl_egress_entries",
        "acl_egress_entries_max", "acl_egress_counters", "acl_egress_counters_max",
        "acl_egress_meters", "acl_egress_meters_max", "acl_egress_slices",
        "acl_egress_slices_max")


def _prefixed(prefix: str, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(prefix + name for name in names)


COUNTER_PRINTERS: dict[int, Printer] = {
    make_tag(0, 1): _each(*_GENERIC),
    make_tag(0, 2): _each(*_prefixed("dot3Stats", _DOT3)),
    make_tag(0, 3): _each(*_prefixed("dot5Stats", _DOT5)),
    make_tag(0, 4): _each(*_prefixed("dot12", _DOT12)),
    make_tag(0, 5): _each("in_vlan", "octets", "ucastPkts", "multicastPkts", "broadcastPkts",
                          "discards"),
    make_tag(0, 6): _each(*_prefixed("dot11", _DOT11)),
    make_tag(0, 7): _lacp,
    make_tag(0, 10): _sfp,
    make_tag(0, 1001): _each(("5s_cpu", _percent), ("1m_cpu", _percent), ("5m_cpu", _percent),
                             "total_memory_bytes", "free_memory_bytes"),
    make_tag(0, 1002): _each("radio_elapsed_time", "radio_on_channel_time",
                             "radio_on_channel_busy_time"),
    make_tag(0, 1004): _each(("openflow_datapath_id", _dpid), "openflow_port"),
    make_tag(0, 1005): _string("ifName", 0, 256),
    make_tag(0, 2000): _host_descr,
    make_tag(0, 2001): _adaptors,
    make_tag(0, 2002): _each("parent_dsClass", "parent_dsIndex"),
    make_tag(0, 2003): _each(("cpu_load_one", _load), ("cpu_load_five", _load),
                             ("cpu_load_fifteen", _load), *_CPU),
    make_tag(0, 2004): _each("mem_total", "mem_free", "mem_shared", "mem_buffers", "mem_cached",
                             "swap_total", "swap_free", "page_in", "page_out", "swap_in",
                             "swap_out"),
    make_tag(0, 2005): _each("disk_total", "disk_free", ("disk_partition_max_used", _percent),
                             "disk_reads", "disk_bytes_read", "disk_read_time", "disk_writes",
                             "disk_bytes_written", "disk_write_time"),
    make_tag(0, 2006): _each("nio_bytes_in", "nio_pkts_in", "nio_errs_in", "nio_drops_in",
                             "nio_bytes_out", "nio_pkts_out", "nio_errs_out", "nio_drops_out"),
    make_tag(0, 2007): _each(*_MIB2_IP),
    make_tag(0, 2008): _each(*_prefixed("icmp", _ICMP)),
    make_tag(0, 2009): _each(*_prefixed("tcp", _TCP)),
    make_tag(0, 2010): _each(*_prefixed("udp", _UDP)),
    make_tag(0, 2100): _each("vnode_mhz", "vnode_cpus", "vnode_memory", "vnode_memory_free",
                             "vnode_num_domains"),
    make_tag(0, 2101): _each("vcpu_state", "vcpu_cpu_mS", "vcpu_cpuCount"),
    make_tag(0, 2102): _each("vmem_memory", "vmem_maxMemory"),
    make_tag(0, 2103): _each("vdsk_capacity", "vdsk_allocation", "vdsk_available",
                             "vdsk_rd_req", "vdsk_rd_bytes", "vdsk_wr_req", "vdsk_wr_bytes",
                             "vdsk_errs"),
    make_tag(0, 2104): _each("vnio_bytes_in", "vnio_pkts_in", "vnio_errs_in", "vnio_drops_in",
                             "vnio_bytes_out", "vnio_pkts_out", "vnio_errs_out",
                             "vnio_drops_out"),
    make_tag(0, 2105): _jvm,
    make_tag(0, 2106): _each("heap_mem_initial", "heap_mem_used", "heap_mem_committed",
                             "heap_mem_max", "non_heap_mem_initial", "non_heap_mem_used",
                             "non_heap_mem_committed", "non_heap_mem_max", "gc_count", "gc_mS",
                             "classes_loaded", "classes_total", "classes_unloaded",
                             "compilation_mS", "threads_live", "threads_daemon",
                             "threads_started", "fds_open", "fds_max"),
    make_tag(0, 2201): _each(*_prefixed("http_", _HTTP_COUNTS)),
    make_tag(0, 2202): _app_operations,
    make_tag(0, 2203): _each("user_time", "system_time", "memory_used", "memory_max",
                             "files_open", "files_max", "connections_open", "connections_max"),
    make_tag(0, 2204): _each(*_prefixed("memcache_", _MEMCACHE)),
    make_tag(0, 2205): _each(*_prefixed("vdi_", _VDI)),
    make_tag(0, 2206): _each("workers_active", "workers_idle", "workers_max",
                             "requests_delayed", "requests_dropped"),
    make_tag(0, 2207): _each("OVS_dp_hits", "OVS_dp_misses", "OVS_dp_lost", "OVS_dp_mask_hits",
                             "OVS_dp_flows", "OVS_dp_masks"),
    make_tag(4413, 3): _each(*_prefixed("bcm_", _BCM)),
    make_tag(5703, 1): _each("nvml_device_count", "nvml_processes", "nvml_gpu_mS",
                             "nvml_mem_mS", "nvml_mem_bytes_total", "nvml_mem_bytes_free",
                             "nvml_ecc_errors", "nvml_energy_mJ", "nvml_temperature_C",
                             "nvml_fan_speed_pc"),
}
"""Counter records as sflowtool 6.11 prints them, by tag."""

SFLOWTOOL_SILENT_FLOW_TAGS = frozenset(set(FLOW_RECORDS) - set(FLOW_PRINTERS))
"""Flow records we decode but sflowtool skips as unknown (so we print them that way)."""
SFLOWTOOL_SILENT_COUNTER_TAGS = frozenset(set(COUNTER_RECORDS) - set(COUNTER_PRINTERS))
"""Counter records we decode but sflowtool skips as unknown."""

_FLOW_SCOPE = ("flowBlock_tag", "flow_sample_element", FLOW_PRINTERS, FLOW_RECORDS)
_COUNTER_SCOPE = ("counterBlock_tag", "counters_sample_element", COUNTER_PRINTERS,
                  COUNTER_RECORDS)


# --- samples and datagrams -----------------------------------------------------------


def _record_tag(record: Any) -> int:
    return record.tag if isinstance(record, UnknownRecord) else record.TAG


def _record(record: Any, scope: tuple[Any, ...], out: _Out) -> None:
    tag_key, element, printers, codecs = scope
    tag = _record_tag(record)
    out.field(tag_key, tag_text(tag))
    printer = printers.get(tag)
    if printer is not None and not isinstance(record, UnknownRecord):
        printer(record, out)
        return
    if isinstance(record, UnknownRecord):
        length = len(record.data)
    else:  # decoded by us, unknown to sflowtool: it skips by the record's length
        length = len(codecs[tag].encode(record))
    out.log(f"skipping unknown {element}: {tag_text(tag)} len={signed32(length)}")


def _interface(fmt: int, value: int) -> str:
    """sflowtool's printInOutPort: an empty string for formats it has no name for."""
    if fmt == 0:
        return str(value)
    if fmt == 1:
        return f"dropCode {value}"
    if fmt == 2:
        return f"multiple {value}"
    if fmt == 3:
        return f"format==3 {value}"
    return ""


def _sample_head(sample: Any, tag: int, out: _Out) -> tuple[Any, ...] | None:
    """The lines before a sample's records; returns the record scope (None: no records)."""
    out.log(START_SAMPLE)
    out.field("sampleType_tag", tag_text(tag))
    if isinstance(sample, UnknownSample):
        out.log(f"skipping unknown sample: {tag_text(tag)} len={signed32(len(sample.data))}")
        return None
    out.field("sampleType", _SAMPLE_TYPES[tag])
    out.field("sampleSequenceNo", sample.sequence)
    out.field("sourceId", f"{sample.source_id_type}:{sample.source_id_index}")
    if isinstance(sample, FlowSample):
        out.field("meanSkipCount", sample.sampling_rate)
        out.field("samplePool", sample.sample_pool)
        out.field("dropEvents", sample.drops)
        out.field("inputPort", _interface(sample.input_format, sample.input_value))
        out.field("outputPort", _interface(sample.output_format, sample.output_value))
        return _FLOW_SCOPE
    if isinstance(sample, DiscardSample):
        out.field("dropEvents", sample.drops)
        out.field("inputPort", sample.input_ifindex)
        out.field("outputPort", sample.output_ifindex)
        out.field("discardCode", sample.reason)
        out.field("discardReason", _reason_name(sample.reason) or "NotFound")
        out.prefix = DISCARD_PREFIX
        return _FLOW_SCOPE
    return _COUNTER_SCOPE


def _reason_name(code: int) -> str | None:
    from flowrt.sflow.drops import reason_name  # another module's table, loaded on use

    return reason_name(code)


def _sample_tag(sample: Any) -> int:
    if isinstance(sample, UnknownSample):
        return sample.tag
    if isinstance(sample, FlowSample):
        return 3 if sample.expanded else 1
    if isinstance(sample, CounterSample):
        return 4 if sample.expanded else 2
    return 5


def _sample(sample: Any, out: _Out) -> None:
    scope = _sample_head(sample, _sample_tag(sample), out)
    if scope is not None:
        for record in sample.records:
            _record(record, scope, out)
    out.prefix = ""
    out.log(END_SAMPLE)


def _failed_sample(sample: Any, error: DecodeError, raw: bytes | None, out: _Out) -> None:
    """A sample whose record ``error.tag`` failed: what sflowtool prints before aborting.

    sflowtool bounds its reads by the datagram, not by the sample or record, so a known
    record whose length word lies is still printed when its fields fit in the datagram;
    an unknown one is "skipped", which runs past the end and aborts.
    """
    scope = _sample_head(sample, _sample_tag(sample), out)
    if scope is None:
        return
    for record in sample.records:
        _record(record, scope, out)
    tag = error.tag
    if tag is None:
        return
    tag_key, element, printers, _ = scope
    out.field(tag_key, tag_text(tag))
    if tag not in printers:
        out.log(f"skipping unknown {element}: {tag_text(tag)} len={signed32(error.length or 0)}")
        return
    decoders = FLOW_DECODERS if scope is _FLOW_SCOPE else COUNTER_DECODERS
    if raw is None or tag not in decoders or "runs past the end" not in error.reason:
        return
    try:
        record = decoders[tag](raw, error.offset + 8, len(raw))
    except DecodeError:
        return
    printers[tag](record, out)


def _is_record_error(error: DecodeError) -> bool:
    """Record-level failures keep a partial sample (see decode.py's error policy)."""
    return error.partial


def _time_text(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(seconds))


def _split_time(t: float) -> tuple[int, int]:
    micros = round(t * 1_000_000)
    return micros // 1_000_000, micros % 1_000_000


def _source_text(source_ip: str | None) -> str:
    if source_ip is None:
        return "-"
    addr = ip_address(source_ip)
    if isinstance(addr, IPv6Address):
        mapped = addr.ipv4_mapped
        return str(mapped) if mapped is not None else addr.exploded
    return str(addr)


def _envelope(size: int, source_ip: str | None, pcap_time: float | None,
              receive_time: float | None, out: _Out) -> None:
    out.log(START_DATAGRAM)
    out.field("datagramSourceIP", _source_text(source_ip))
    out.field("datagramSize", size)
    seconds, micros = _split_time(receive_time) if receive_time is not None else (0, 0)
    out.field("unixSecondsUTC", seconds)
    out.field("unixSecondsUTC_uS", micros)
    out.field("localtime", _time_text(seconds))
    if pcap_time is not None:
        seconds, micros = _split_time(pcap_time)
        out.field("pcapTimestamp", _time_text(seconds))
        out.field("pcapTimestamp_uS", micros)


def _unusable_header(raw: bytes | None, error: DecodeError | None, out: _Out) -> None:
    """A datagram the decoder refused: sflowtool prints the version word, then stops."""
    version: int | None = None
    if raw is not None and len(raw) >= 4:
        (version,) = _U32.unpack_from(raw, 0)
    elif error is not None:
        match = _VERSION_IN_ERROR.search(error.reason)
        version = int(match.group(1)) if match else None
    if version is not None:
        out.field("datagramVersion", version)


def format_datagram(dgram: Datagram | None, *, size: int, source_ip: str | None = None,
                    pcap_time: float | None = None, receive_time: float | None = None,
                    raw: bytes | None = None, error: DecodeError | None = None) -> list[str]:
    """sflowtool's text for one datagram, ``startDatagram`` to ``endDatagram``.

    ``size`` is the UDP payload length sflowtool reports; ``source_ip`` the sender (None
    when read from a pcap, printed "-"); ``pcap_time`` the capture timestamp (adds the
    pcapTimestamp lines); ``receive_time`` the wall clock at reception (0 when None).
    ``dgram`` None with ``error`` is a datagram the decoder refused. ``raw`` (the UDP
    payload) lets the printer report what the decoded objects do not keep: the sample
    count of a truncated datagram and the fields of a record whose length word lies.
    """
    out = _Out()
    _envelope(size, source_ip, pcap_time, receive_time, out)
    if dgram is None:
        _unusable_header(raw, error, out)
        out.log(END_DATAGRAM)
        return out.lines
    out.field("datagramVersion", dgram.version)
    if dgram.agent is None:  # address type 0: sflowtool gives up on the datagram here
        out.log(END_DATAGRAM)
        return out.lines
    out.field("agentSubId", dgram.sub_agent_id)
    out.field("agent", _addr(dgram.agent))
    out.field("packetSequenceNo", dgram.sequence)
    out.field("sysUpTime", dgram.uptime)
    out.field("samplesInPacket", dgram.announced_samples)
    first = dgram.errors[0] if dgram.errors else None
    stop = first.sample_index if first is not None and first.sample_index is not None else None
    for index, sample in enumerate(dgram.samples):
        if stop is not None and index >= stop:
            break
        _sample(sample, out)
    if first is not None and stop is not None and _is_record_error(first) and stop < len(
        dgram.samples
    ):
        _failed_sample(dgram.samples[stop], first, raw, out)
    out.prefix = ""
    out.log(END_DATAGRAM)
    return out.lines
