"""Further interface and device counter records: token ring, 100BaseVG, VLAN, 802.11,
LACP, optics, PFC, processor and radio.

Like the generic counters, each comes in a counter sample of one data source (a port,
a VLAN, a radio, the device). Not declared, so skipped by length: 0:8 slow_path_counts,
0:9 ib_counters and 0:1003 queue_length, whose layouts are not published with the other structures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from flowrt.sflow.registry import counter_record
from flowrt.sflow.xdr import I32, MAC, U32, U64, ArrayOf


@counter_record(0, 3, "tokenring")
@dataclass(slots=True)
class TokenRingCounters:
    """dot5Stats from the Token Ring MIB (RFC 1748)."""

    dot5_stats_line_errors: U32
    dot5_stats_burst_errors: U32
    dot5_stats_ac_errors: U32
    dot5_stats_abort_trans_errors: U32
    dot5_stats_internal_errors: U32
    dot5_stats_lost_frame_errors: U32
    dot5_stats_receive_congestions: U32
    dot5_stats_frame_copied_errors: U32
    dot5_stats_token_errors: U32
    dot5_stats_soft_errors: U32
    dot5_stats_hard_errors: U32
    dot5_stats_signal_loss: U32
    dot5_stats_transmit_beacons: U32
    dot5_stats_recoverys: U32
    dot5_stats_lobe_wires: U32
    dot5_stats_removes: U32
    dot5_stats_singles: U32
    dot5_stats_freq_errors: U32


@counter_record(0, 4, "vg")
@dataclass(slots=True)
class VgCounters:
    """dot12 counters of 100BaseVG-AnyLAN (RFC 2020)."""

    dot12_in_high_priority_frames: U32
    dot12_in_high_priority_octets: U64
    dot12_in_norm_priority_frames: U32
    dot12_in_norm_priority_octets: U64
    dot12_in_ipm_errors: U32
    dot12_in_oversize_frame_errors: U32
    dot12_in_data_errors: U32
    dot12_in_null_addressed_frames: U32
    dot12_out_high_priority_frames: U32
    dot12_out_high_priority_octets: U64
    dot12_transition_into_trainings: U32
    dot12_hc_in_high_priority_octets: U64
    dot12_hc_in_norm_priority_octets: U64
    dot12_hc_out_high_priority_octets: U64


@counter_record(0, 5, "vlan")
@dataclass(slots=True)
class VlanCounters:
    vlan_id: U32
    octets: U64
    ucast_pkts: U32
    multicast_pkts: U32
    broadcast_pkts: U32
    discards: U32


@counter_record(0, 6, "ieee80211")
@dataclass(slots=True)
class Ieee80211Counters:
    """dot11Counters of one radio (IEEE 802.11 MIB)."""

    dot11_transmitted_fragment_count: U32
    dot11_multicast_transmitted_frame_count: U32
    dot11_failed_count: U32
    dot11_retry_count: U32
    dot11_multiple_retry_count: U32
    dot11_frame_duplicate_count: U32
    dot11_rts_success_count: U32
    dot11_rts_failure_count: U32
    dot11_ack_failure_count: U32
    dot11_received_fragment_count: U32
    dot11_multicast_received_frame_count: U32
    dot11_fcs_error_count: U32
    dot11_transmitted_frame_count: U32
    dot11_wep_undecryptable_count: U32
    dot11_qos_discarded_fragment_count: U32
    dot11_associated_station_count: U32
    dot11_qos_cf_polls_received_count: U32
    dot11_qos_cf_polls_unused_count: U32
    dot11_qos_cf_polls_unusable_count: U32
    dot11_qos_cf_polls_lost_count: U32


@counter_record(0, 7, "lag_port_stats")
@dataclass(slots=True)
class LagPortStats:
    """IEEE 802.1AX LACP state of one aggregated port.

    ``port_state`` is four one-byte LACP state bitmaps packed into one XDR word (actor
    admin, actor oper, partner admin, partner oper); the properties unpack them.
    """

    actor_system_id: MAC
    partner_oper_system_id: MAC
    attached_agg_id: U32
    port_state: U32
    lacpdus_rx: U32
    marker_pdus_rx: U32
    marker_response_pdus_rx: U32
    unknown_rx: U32
    illegal_rx: U32
    lacpdus_tx: U32
    marker_pdus_tx: U32
    marker_response_pdus_tx: U32

    @property
    def actor_admin_state(self) -> int:
        return (self.port_state >> 24) & 0xFF

    @property
    def actor_oper_state(self) -> int:
        return (self.port_state >> 16) & 0xFF

    @property
    def partner_admin_state(self) -> int:
        return (self.port_state >> 8) & 0xFF

    @property
    def partner_oper_state(self) -> int:
        return self.port_state & 0xFF


@dataclass(slots=True)
class SfpLane:
    """One optical lane: currents in uA, powers in uW, wavelengths in nm."""

    index: U32  # 1-based; 0 = unknown
    tx_bias_current: U32
    tx_power: U32
    tx_power_min: U32
    tx_power_max: U32
    tx_wavelength: U32
    rx_power: U32
    rx_power_min: U32
    rx_power_max: U32
    rx_wavelength: U32


@counter_record(0, 10, "sfp")
@dataclass(slots=True)
class SfpCounters:
    """Optical module gauges: ``supply_voltage`` in mV, ``temperature`` in milli-degC."""

    module_id: U32
    module_num_lanes: U32
    supply_voltage: U32
    temperature: I32
    lanes: Annotated[list[SfpLane], ArrayOf(SfpLane)]


@counter_record(0, 11, "pfc")
@dataclass(slots=True)
class PfcCounters:
    """IEEE 802.1Qbb priority flow control (layout as sflowtool reads it)."""

    requests: U32
    indications: U32
    pause_duration: U32
    storm_detected: U32
    storm_restored: U32


@counter_record(0, 1001, "processor")
@dataclass(slots=True)
class ProcessorCounters:
    """CPU load as percent x 100 (-1 unknown) over 5 s, 1 min, 5 min; memory in bytes."""

    cpu_5s: I32
    cpu_1m: I32
    cpu_5m: I32
    total_memory: U64
    free_memory: U64


@counter_record(0, 1002, "radio_utilization")
@dataclass(slots=True)
class RadioUtilization:
    """Times in ms over the polling interval."""

    elapsed_time: U32
    on_channel_time: U32
    on_channel_busy_time: U32
