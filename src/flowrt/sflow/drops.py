"""Drop (discard) reason codes of sflow_drops, as data.

The same code space serves two places: the ``reason`` of a discarded_packet sample
(0:5) and the value of an interface word in format 1 ("discarded") of a flow sample's
output. Codes 0-15 reuse the ICMP destination-unreachable codes; 256 upwards were
added for switch ASIC drops and Linux devlink traps (263-323) and Linux kernel drop
reasons (324-371). The names are those sflowtool prints, so our text output and
sFlow-RT-style keys match what users already know.

Two slips in sflowtool 6.11's table are *not* reproduced: it files ``dev_hdr`` under 33
and ``tc_egress`` under 36, where the sequence makes them 332 and 366. Code 12 follows
the spec spelling (``dst_host_tos_unreachable``) rather than sflowtool's
``dst_host_tos_unreacheable``.

Agents may send codes newer than this table: :func:`reason_name` returns ``None`` for
them and callers should fall back to the number.
"""

from __future__ import annotations

# ICMP destination unreachable codes (RFC 792, RFC 1812)
_ICMP_UNREACHABLE = (
    "net_unreachable",
    "host_unreachable",
    "protocol_unreachable",
    "port_unreachable",
    "frag_needed",
    "src_route_failed",
    "dst_net_unknown",
    "dst_host_unknown",
    "src_host_isolated",
    "dst_net_prohibited",
    "dst_host_prohibited",
    "dst_net_tos_unreachable",
    "dst_host_tos_unreachable",
    "comm_admin_prohibited",
    "host_precedence_violation",
    "precedence_cutoff",
)

DROP_UNKNOWN = 256  # first of the sflow_drops codes beyond ICMP

# 256 onwards, in code order: generic switch drops, then devlink traps (from 263), then
# Linux kernel drop reasons (from 324).
_SFLOW_DROPS = (
    "unknown",
    "ttl_exceeded",
    "acl",
    "no_buffer_space",
    "red",
    "traffic_shaping",
    "pkt_too_big",
    "src_mac_is_multicast",
    "vlan_tag_mismatch",
    "ingress_vlan_filter",
    "ingress_spanning_tree_filter",
    "port_list_is_empty",
    "port_loopback_filter",
    "blackhole_route",
    "non_ip",
    "uc_dip_over_mc_dmac",
    "dip_is_loopback_address",
    "sip_is_mc",
    "sip_is_loopback_address",
    "ip_header_corrupted",
    "ipv4_sip_is_limited_bc",
    "ipv6_mc_dip_reserved_scope",
    "ipv6_mc_dip_interface_local_scope",
    "unresolved_neigh",
    "mc_reverse_path_forwarding",
    "non_routable_packet",
    "decap_error",
    "overlay_smac_is_mc",
    "unknown_l2",
    "unknown_l3",
    "unknown_l3_exception",
    "unknown_buffer",
    "unknown_tunnel",
    "unknown_l4",
    "sip_is_unspecified",
    "mlag_port_isolation",
    "blackhole_arp_neigh",
    "src_mac_is_dmac",
    "dmac_is_reserved",
    "sip_is_class_e",
    "mc_dmac_mismatch",
    "sip_is_dip",
    "dip_is_local_network",
    "dip_is_link_local",
    "overlay_smac_is_dmac",
    "egress_vlan_filter",
    "uc_reverse_path_forwarding",
    "split_horizon",
    "locked_port",
    "dmac_filter",
    "blackhole_nexthop",
    "vxlan_parsing",
    "llc_snap_parsing",
    "vlan_parsing",
    "pppoe_ppp_parsing",
    "mpls_parsing",
    "arp_parsing",
    "ip_1_parsing",
    "ip_n_parsing",
    "gre_parsing",
    "udp_parsing",
    "tcp_parsing",
    "ipsec_parsing",
    "sctp_parsing",
    "dccp_parsing",
    "gtp_parsing",
    "esp_parsing",
    "unknown_parsing",
    "pkt_too_small",
    "unhandled_proto",
    "ipv6disabled",
    "invalid_proto",
    "ip_noproto",
    "skb_csum",
    "skb_ucopy_fault",
    "dev_ready",
    "dev_hdr",
    "dup_frag",
    "skb_gso_seg",
    "reverse_path_forwarding",
    "icmp_parsing",
    "tcp_md5notfound",
    "tcp_md5unexpected",
    "tcp_md5failure",
    "tcp_flags",
    "tcp_zerowindow",
    "tcp_old_data",
    "tcp_overwindow",
    "tcp_ofomerge",
    "tcp_rfc7323_paws",
    "tcp_invalid_sequence",
    "tcp_reset",
    "tcp_invalid_syn",
    "tcp_close",
    "tcp_fastopen",
    "tcp_old_ack",
    "tcp_too_old_ack",
    "tcp_ack_unsent_data",
    "tcp_ofo_queue_prune",
    "tcp_ofo_drop",
    "tcp_minttl",
    "ipv6_bad_exthdr",
    "ipv6_ndisc_frag",
    "ipv6_ndisc_hop_limit",
    "ipv6_ndisc_bad_code",
    "ipv6_ndisc_bad_options",
    "ipv6_ndisc_ns_otherhost",
    "tap_filter",
    "tap_txfilter",
    "tc_ingress",
    "tc_egress",
    "xdp",
    "cpu_backlog",
    "bpf_cgroup_egress",
    "xfrm_policy",
    "socket_filter",
)

DROP_REASONS: dict[int, str] = {
    **dict(enumerate(_ICMP_UNREACHABLE)),
    **{DROP_UNKNOWN + i: name for i, name in enumerate(_SFLOW_DROPS)},
}
"""Every known code and its name."""

DROP_CODES: dict[str, int] = {name: code for code, name in DROP_REASONS.items()}
"""The reverse table, for filters written with names (``reason=acl``)."""


def reason_name(code: int) -> str | None:
    """The name of a drop reason code, or ``None`` if this table does not know it."""
    return DROP_REASONS.get(code)
