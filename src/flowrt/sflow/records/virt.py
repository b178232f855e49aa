"""Virtualization (0:2100-0:2104) and Java VM (0:2105-0:2106) counter records.

A hypervisor adds virt_node to its own host sample; each guest (or container) is a
3:N data source with virt_cpu/memory/disk_io/net_io. A JVM agent reports jvm_runtime
and jvm_statistics for its process.
"""

from __future__ import annotations

from dataclasses import dataclass

from flowrt.sflow.registry import counter_record
from flowrt.sflow.xdr import U32, U64, String


@counter_record(0, 2100, "virt_node")
@dataclass(slots=True)
class VirtNode:
    """The hypervisor: CPU clock in MHz, memory in bytes, number of running domains."""

    mhz: U32
    cpus: U32
    memory: U64
    memory_free: U64
    num_domains: U32


@counter_record(0, 2101, "virt_cpu")
@dataclass(slots=True)
class VirtCpu:
    """``state`` is the libvirt virDomainState; ``cpu_time`` is ms of CPU used."""

    state: U32
    cpu_time: U32
    nr_virt_cpu: U32


@counter_record(0, 2102, "virt_memory")
@dataclass(slots=True)
class VirtMemory:
    """Bytes."""

    memory: U64
    max_memory: U64


@counter_record(0, 2103, "virt_disk_io")
@dataclass(slots=True)
class VirtDiskIO:
    """Sizes in bytes (capacity, allocation, physical)."""

    capacity: U64
    allocation: U64
    physical: U64
    rd_req: U32
    rd_bytes: U64
    wr_req: U32
    wr_bytes: U64
    errs: U32


@counter_record(0, 2104, "virt_net_io")
@dataclass(slots=True)
class VirtNetIO:
    rx_bytes: U64
    rx_packets: U32
    rx_errs: U32
    rx_drop: U32
    tx_bytes: U64
    tx_packets: U32
    tx_errs: U32
    tx_drop: U32


@counter_record(0, 2105, "jvm_runtime")
@dataclass(slots=True)
class JvmRuntime:
    vm_name: String
    vm_vendor: String
    vm_version: String


@counter_record(0, 2106, "jvm_statistics", tail=("fd_open_count", "fd_max_count"))
@dataclass(slots=True)
class JvmStatistics:
    """Memory in bytes, times in ms. The two fd counters came later: older agents send
    a 100-byte record without them (they are None then), as sflowtool also allows."""

    heap_initial: U64
    heap_used: U64
    heap_committed: U64
    heap_max: U64
    non_heap_initial: U64
    non_heap_used: U64
    non_heap_committed: U64
    non_heap_max: U64
    gc_count: U32
    gc_time: U32
    classes_loaded: U32
    classes_total: U32
    classes_unloaded: U32
    compilation_time: U32
    thread_num_live: U32
    thread_num_daemon: U32
    thread_num_started: U32
    fd_open_count: U32 | None = None
    fd_max_count: U32 | None = None
