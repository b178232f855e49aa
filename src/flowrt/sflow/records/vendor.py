"""Vendor-enterprise records: Broadcom switch ASIC buffers and tables (4413), NVIDIA GPUs
via NVML (5703).

Broadcom's percentages are of the buffer's capacity (i32, -1 unknown); the tables
record pairs each table's entries with its maximum.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowrt.sflow.registry import counter_record, flow_record
from flowrt.sflow.xdr import I32, U32, U64, I32List

BROADCOM = 4413
NVIDIA = 5703


@flow_record(BROADCOM, 1, "extended_bst_egress_queue")
@dataclass(slots=True)
class ExtendedBstEgressQueue:
    """Egress queue of the sampled packet, for matching Broadcom buffer statistics."""

    queue: U32


@counter_record(BROADCOM, 1, "bst_device_buffers")
@dataclass(slots=True)
class BstDeviceBuffers:
    uc_pc: I32
    mc_pc: I32


@counter_record(BROADCOM, 2, "bst_port_buffers")
@dataclass(slots=True)
class BstPortBuffers:
    """Per-queue lists hold up to eight percentages, one per egress queue."""

    ingress_uc_pc: I32
    ingress_mc_pc: I32
    egress_uc_pc: I32
    egress_mc_pc: I32
    egress_queue_uc_pc: I32List
    egress_queue_mc_pc: I32List


@counter_record(BROADCOM, 3, "hw_tables")
@dataclass(slots=True)
class BroadcomHwTables:
    host_entries: U32
    host_entries_max: U32
    ipv4_entries: U32
    ipv4_entries_max: U32
    ipv6_entries: U32
    ipv6_entries_max: U32
    ipv4_ipv6_entries: U32
    ipv4_ipv6_entries_max: U32
    long_ipv6_entries: U32
    long_ipv6_entries_max: U32
    total_routes: U32
    total_routes_max: U32
    ecmp_nexthops: U32
    ecmp_nexthops_max: U32
    mac_entries: U32
    mac_entries_max: U32
    ipv4_neighbors: U32
    ipv6_neighbors: U32
    ipv4_routes: U32
    ipv6_routes: U32
    acl_ingress_entries: U32
    acl_ingress_entries_max: U32
    acl_ingress_counters: U32
    acl_ingress_counters_max: U32
    acl_ingress_meters: U32
    acl_ingress_meters_max: U32
    acl_ingress_slices: U32
    acl_ingress_slices_max: U32
    acl_egress_entries: U32
    acl_egress_entries_max: U32
    acl_egress_counters: U32
    acl_egress_counters_max: U32
    acl_egress_meters: U32
    acl_egress_meters_max: U32
    acl_egress_slices: U32
    acl_egress_slices_max: U32


@counter_record(NVIDIA, 1, "nvidia_gpu")
@dataclass(slots=True)
class NvidiaGpu:
    """NVML totals over all GPUs: times in ms, memory in bytes, energy in mJ,
    temperature in degC, fan speed in percent."""

    device_count: U32
    processes: U32
    gpu_time: U32
    mem_time: U32
    mem_total: U64
    mem_free: U64
    ecc_errors: U32
    energy: U32
    temperature: U32
    fan_speed: U32
