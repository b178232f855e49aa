"""Interface counter records (counter_data) of the sFlow v5 core spec.

A switch polls every port and sends one counter sample per ifIndex carrying these.
Counters that the agent cannot supply are all ones of their width (see
:data:`UNKNOWN_U32`, :data:`UNKNOWN_U64`); rates must treat them as absent.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowrt.sflow.registry import counter_record
from flowrt.sflow.xdr import U32, U64, String

UNKNOWN_U32 = 0xFFFFFFFF
UNKNOWN_U64 = 0xFFFFFFFFFFFFFFFF


@counter_record(0, 1, "generic_interface")
@dataclass(slots=True)
class GenericInterfaceCounters:
    """if_counters: the IF-MIB view of one interface (RFC 2863 names, snake_case)."""

    if_index: U32
    if_type: U32
    if_speed: U64
    if_direction: U32
    if_status: U32
    if_in_octets: U64
    if_in_ucast_pkts: U32
    if_in_multicast_pkts: U32
    if_in_broadcast_pkts: U32
    if_in_discards: U32
    if_in_errors: U32
    if_in_unknown_protos: U32
    if_out_octets: U64
    if_out_ucast_pkts: U32
    if_out_multicast_pkts: U32
    if_out_broadcast_pkts: U32
    if_out_discards: U32
    if_out_errors: U32
    if_promiscuous_mode: U32


@counter_record(0, 2, "ethernet_interface")
@dataclass(slots=True)
class EthernetCounters:
    """dot3Stats from the EtherLike-MIB."""

    dot3_stats_alignment_errors: U32
    dot3_stats_fcs_errors: U32
    dot3_stats_single_collision_frames: U32
    dot3_stats_multiple_collision_frames: U32
    dot3_stats_sqe_test_errors: U32
    dot3_stats_deferred_transmissions: U32
    dot3_stats_late_collisions: U32
    dot3_stats_excessive_collisions: U32
    dot3_stats_internal_mac_transmit_errors: U32
    dot3_stats_carrier_sense_errors: U32
    dot3_stats_frame_too_longs: U32
    dot3_stats_internal_mac_receive_errors: U32
    dot3_stats_symbol_errors: U32


@counter_record(0, 1004, "of_port")
@dataclass(slots=True)
class OpenFlowPort:
    datapath_id: U64
    port_no: U32


@counter_record(0, 1005, "port_name")
@dataclass(slots=True)
class PortName:
    name: String
