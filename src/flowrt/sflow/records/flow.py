"""Flow records (flow_data) of the sFlow v5 core spec: packet headers and forwarding info.

These travel inside flow samples and discard samples. Field names follow the spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from flowrt.sflow.registry import flow_record
from flowrt.sflow.xdr import (
    MAC,
    U32,
    Address,
    ArrayOf,
    IPv4,
    IPv6,
    Opaque,
    String,
    U32List,
)

# header_protocol values of sampled_header (sFlow v5, "header_protocol")
HEADER_ETHERNET = 1
HEADER_IPV4 = 11
HEADER_IPV6 = 12


@flow_record(0, 1, "sampled_header")
@dataclass(slots=True)
class SampledHeader:
    """The first bytes of a sampled packet, the record almost every flow sample carries.

    ``frame_length`` is the packet's length on the wire (for Ethernet including the
    FCS); ``stripped`` counts bytes removed before ``header`` was copied.
    """

    protocol: U32
    frame_length: U32
    stripped: U32
    header: Opaque


@dataclass(slots=True)
class EthernetLayout:
    """The sampled_ethernet body; tunnel records 1021/1022 reuse it for the outer header."""

    length: U32
    src_mac: MAC
    dst_mac: MAC
    eth_type: U32


@dataclass(slots=True)
class IPv4Layout:
    """The sampled_ipv4 body; tunnel records 1023/1024 reuse it for the outer header."""

    length: U32
    protocol: U32
    src_ip: IPv4
    dst_ip: IPv4
    src_port: U32
    dst_port: U32
    tcp_flags: U32
    tos: U32


@dataclass(slots=True)
class IPv6Layout:
    """The sampled_ipv6 body; tunnel records 1025/1026 reuse it for the outer header."""

    length: U32
    protocol: U32
    src_ip: IPv6
    dst_ip: IPv6
    src_port: U32
    dst_port: U32
    tcp_flags: U32
    priority: U32


@flow_record(0, 2, "sampled_ethernet")
@dataclass(slots=True)
class SampledEthernet(EthernetLayout):
    """The sampled packet's Ethernet header, when the agent cannot send header bytes."""


@flow_record(0, 3, "sampled_ipv4")
@dataclass(slots=True)
class SampledIPv4(IPv4Layout):
    """The sampled packet's IPv4 header fields, when the agent cannot send header bytes."""


@flow_record(0, 4, "sampled_ipv6")
@dataclass(slots=True)
class SampledIPv6(IPv6Layout):
    """The sampled packet's IPv6 header fields, when the agent cannot send header bytes."""


@flow_record(0, 1001, "extended_switch")
@dataclass(slots=True)
class ExtendedSwitch:
    src_vlan: U32
    src_priority: U32
    dst_vlan: U32
    dst_priority: U32


@flow_record(0, 1002, "extended_router")
@dataclass(slots=True)
class ExtendedRouter:
    nexthop: Address
    src_mask_len: U32
    dst_mask_len: U32


AS_SET, AS_SEQUENCE = 1, 2  # as_path_segment type


@dataclass(slots=True)
class AsPathSegment:
    type: U32
    asns: U32List


@flow_record(0, 1003, "extended_gateway")
@dataclass(slots=True)
class ExtendedGateway:
    """BGP view of the packet's route; ``dst_as_path`` is a list of segments."""

    nexthop: Address
    as_number: U32
    src_as: U32
    src_peer_as: U32
    dst_as_path: Annotated[list[AsPathSegment], ArrayOf(AsPathSegment)]
    communities: U32List
    local_pref: U32

    @property
    def dst_as(self) -> int:
        """The origin AS of the destination: last ASN of the last segment (as sflowtool)."""
        for seg in reversed(self.dst_as_path):
            if seg.asns:
                return seg.asns[-1]
        return 0

    @property
    def dst_peer_as(self) -> int:
        """The neighbour AS towards the destination: first ASN of the first segment."""
        for seg in self.dst_as_path:
            if seg.asns:
                return seg.asns[0]
        return 0


@flow_record(0, 1004, "extended_user")
@dataclass(slots=True)
class ExtendedUser:
    src_charset: U32
    src_user: String
    dst_charset: U32
    dst_user: String


@flow_record(0, 1005, "extended_url")
@dataclass(slots=True)
class ExtendedUrl:
    direction: U32
    url: String
    host: String


@flow_record(0, 1006, "extended_mpls")
@dataclass(slots=True)
class ExtendedMpls:
    nexthop: Address
    in_stack: U32List
    out_stack: U32List


@flow_record(0, 1007, "extended_nat")
@dataclass(slots=True)
class ExtendedNat:
    src_address: Address
    dst_address: Address
