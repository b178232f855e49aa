"""Extended flow records 0:1008-0:1043: MPLS, VLAN stacks, 802.11, tunnels, drop context.

These come from the sFlow extension documents (MPLS, 802.11, tunnels, drops, transit
delay). Most are rare on the wire; the drop-context records (1036-1043) travel inside
discard samples, and hsflowd puts an extended_timestamp (1043) on every packet sample.

Not declared here, so they stay :class:`~flowrt.sflow.registry.UnknownRecord` and are
skipped by length: 1016 extended_80211_aggregation (a nested list of flow-record lists,
which the declarative codec cannot express), and 1017-1019, 1031-1035, whose layouts the
sFlow v5 structure definitions available to us do not give.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowrt.sflow.records.flow import EthernetLayout, IPv4Layout, IPv6Layout
from flowrt.sflow.registry import flow_record
from flowrt.sflow.xdr import MAC, U32, U64, Opaque, String, U32List

# --- MPLS (sflow_mpls) ------------------------------------------------------------


@flow_record(0, 1008, "extended_mpls_tunnel")
@dataclass(slots=True)
class ExtendedMplsTunnel:
    tunnel_lsp_name: String
    tunnel_id: U32
    tunnel_cos: U32


@flow_record(0, 1009, "extended_mpls_vc")
@dataclass(slots=True)
class ExtendedMplsVc:
    vc_instance_name: String
    vll_vc_id: U32
    vc_label_cos: U32


@flow_record(0, 1010, "extended_mpls_FTN")
@dataclass(slots=True)
class ExtendedMplsFtn:
    mpls_ftn_descr: String
    mpls_ftn_mask: U32


@flow_record(0, 1011, "extended_mpls_LDP_FEC")
@dataclass(slots=True)
class ExtendedMplsLdpFec:
    mpls_fec_addr_prefix_length: U32


@flow_record(0, 1012, "extended_vlantunnel")
@dataclass(slots=True)
class ExtendedVlanTunnel:
    """Stripped 802.1Q tags, outermost first, each word ``TPID << 16 | TCI``."""

    stack: U32List


# --- IEEE 802.11 (sflow_80211) ----------------------------------------------------

# extended_80211_rx/tx version
IEEE80211_A, IEEE80211_B, IEEE80211_G, IEEE80211_N = 1, 2, 3, 4


@flow_record(0, 1013, "extended_80211_payload")
@dataclass(slots=True)
class Extended80211Payload:
    """``cipher_suite`` is ``OUI << 8 | suite type``; ``data`` is the decrypted LLC onward."""

    cipher_suite: U32
    data: Opaque


@flow_record(0, 1014, "extended_80211_rx")
@dataclass(slots=True)
class Extended80211Rx:
    """``speed`` in bit/s; ``packet_duration_us`` is air time of the received frame."""

    ssid: String
    bssid: MAC
    version: U32
    channel: U32
    speed: U64
    rsni: U32
    rcpi: U32
    packet_duration_us: U32


@flow_record(0, 1015, "extended_80211_tx")
@dataclass(slots=True)
class Extended80211Tx:
    """``transmissions``: 0 unknown, 1 sent first time, n = n-1 retries; power in mW."""

    ssid: String
    bssid: MAC
    version: U32
    transmissions: U32
    packet_duration_us: U32
    retrans_duration_us: U32
    channel: U32
    speed: U64
    power_mw: U32


@flow_record(0, 1020, "extended_nat_port")
@dataclass(slots=True)
class ExtendedNatPort:
    """Translated ports, the companion of extended_nat (1007)."""

    src_port: U32
    dst_port: U32


# --- tunnels (sflow_tunnels) ------------------------------------------------------
# Each tunnel record carries the *outer* header in the layout of sampled_ethernet /
# sampled_ipv4 / sampled_ipv6: they share those layout classes, but are not subclasses
# of SampledEthernet & co., so ``isinstance(r, SampledIPv4)`` never mistakes a tunnel's
# outer header for the sampled packet itself.


@flow_record(0, 1021, "extended_L2_tunnel_egress")
@dataclass(slots=True)
class ExtendedL2TunnelEgress(EthernetLayout):
    """Outer Ethernet header the packet leaves with."""


@flow_record(0, 1022, "extended_L2_tunnel_ingress")
@dataclass(slots=True)
class ExtendedL2TunnelIngress(EthernetLayout):
    """Outer Ethernet header the packet arrived with."""


@flow_record(0, 1023, "extended_ipv4_tunnel_egress")
@dataclass(slots=True)
class ExtendedIPv4TunnelEgress(IPv4Layout):
    """Outer IPv4 header the packet leaves with."""


@flow_record(0, 1024, "extended_ipv4_tunnel_ingress")
@dataclass(slots=True)
class ExtendedIPv4TunnelIngress(IPv4Layout):
    """Outer IPv4 header the packet arrived with."""


@flow_record(0, 1025, "extended_ipv6_tunnel_egress")
@dataclass(slots=True)
class ExtendedIPv6TunnelEgress(IPv6Layout):
    """Outer IPv6 header the packet leaves with."""


@flow_record(0, 1026, "extended_ipv6_tunnel_ingress")
@dataclass(slots=True)
class ExtendedIPv6TunnelIngress(IPv6Layout):
    """Outer IPv6 header the packet arrived with."""


@flow_record(0, 1027, "extended_decapsulate_egress")
@dataclass(slots=True)
class ExtendedDecapsulateEgress:
    """Offset of the inner header within the sampled_header bytes."""

    inner_header_offset: U32


@flow_record(0, 1028, "extended_decapsulate_ingress")
@dataclass(slots=True)
class ExtendedDecapsulateIngress:
    """Offset of the inner header within the sampled_header bytes."""

    inner_header_offset: U32


@flow_record(0, 1029, "extended_vni_egress")
@dataclass(slots=True)
class ExtendedVniEgress:
    """VXLAN / GENEVE / NVGRE virtual network id."""

    vni: U32


@flow_record(0, 1030, "extended_vni_ingress")
@dataclass(slots=True)
class ExtendedVniIngress:
    """VXLAN / GENEVE / NVGRE virtual network id."""

    vni: U32


# --- drops, queues and transit (sflow_drops, sflow_transit) -----------------------

# extended_acl direction
ACL_DIRECTION_UNKNOWN, ACL_DIRECTION_INGRESS, ACL_DIRECTION_EGRESS = 0, 1, 2
TRANSIT_DELAY_SATURATED = 0xFFFFFFFF  # extended_transit: delay at or above this value


@flow_record(0, 1036, "extended_egress_queue")
@dataclass(slots=True)
class ExtendedEgressQueue:
    queue: U32


@flow_record(0, 1037, "extended_acl")
@dataclass(slots=True)
class ExtendedAcl:
    number: U32
    name: String
    direction: U32


@flow_record(0, 1038, "extended_function")
@dataclass(slots=True)
class ExtendedFunction:
    """The software function (symbol) that dropped the packet."""

    symbol: String


@flow_record(0, 1039, "extended_transit")
@dataclass(slots=True)
class ExtendedTransit:
    """Transit delay through the device in ns (0xFFFFFFFF = that much or more)."""

    delay: U32


@flow_record(0, 1040, "extended_queue")
@dataclass(slots=True)
class ExtendedQueue:
    """Depth in bytes of the egress queue (named by extended_egress_queue)."""

    depth: U32


@flow_record(0, 1041, "extended_hw_trap")
@dataclass(slots=True)
class ExtendedHwTrap:
    """Linux devlink trap group and trap name."""

    group: String
    trap: String


@flow_record(0, 1042, "extended_linux_drop_reason")
@dataclass(slots=True)
class ExtendedLinuxDropReason:
    """Kernel ``skb_drop_reason`` name, e.g. ``NO_SOCKET``."""

    reason: String


@flow_record(0, 1043, "extended_timestamp")
@dataclass(slots=True)
class ExtendedTimestamp:
    """When the packet was seen: ns since the Unix epoch."""

    timestamp: U64
