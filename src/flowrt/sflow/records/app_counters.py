"""Application counter records (0:2201-0:2207): HTTP, generic apps, memcached, VDI, OVS.

An application data source (3:N, or the bridge's 2:N for Open vSwitch) sends these in
its own counter sample, usually with host_parent (2002) naming the host it runs on.

Not declared, so skipped by length: 0:2200, the first (deprecated) memcache counters,
whose published layout is incomplete (it names 30 fields; sflowtool reads 33).
"""

from __future__ import annotations

from dataclasses import dataclass

from flowrt.sflow.registry import counter_record
from flowrt.sflow.xdr import U32, U64, String


@counter_record(0, 2201, "http_counters")
@dataclass(slots=True)
class HttpCounters:
    method_option_count: U32
    method_get_count: U32
    method_head_count: U32
    method_post_count: U32
    method_put_count: U32
    method_delete_count: U32
    method_trace_count: U32
    method_connect_count: U32
    method_other_count: U32
    status_1xx_count: U32
    status_2xx_count: U32
    status_3xx_count: U32
    status_4xx_count: U32
    status_5xx_count: U32
    status_other_count: U32


@counter_record(0, 2202, "app_operations")
@dataclass(slots=True)
class AppOperations:
    """Operation counts by status (the order of ``records.app.APP_STATUSES``)."""

    application: String
    success: U32
    other: U32
    timeout: U32
    internal_error: U32
    bad_request: U32
    forbidden: U32
    too_large: U32
    not_implemented: U32
    not_found: U32
    unavailable: U32
    unauthorized: U32


@counter_record(0, 2203, "app_resources")
@dataclass(slots=True)
class AppResources:
    """CPU times in ms, memory in bytes; file descriptors and connections in use / max."""

    user_time: U32
    system_time: U32
    mem_used: U64
    mem_max: U64
    fd_open: U32
    fd_max: U32
    conn_open: U32
    conn_max: U32


@counter_record(0, 2204, "memcached_counters")
@dataclass(slots=True)
class MemcachedCounters:
    cmd_set: U32
    cmd_touch: U32
    cmd_flush: U32
    get_hits: U32
    get_misses: U32
    delete_hits: U32
    delete_misses: U32
    incr_hits: U32
    incr_misses: U32
    decr_hits: U32
    decr_misses: U32
    cas_hits: U32
    cas_misses: U32
    cas_badval: U32
    auth_cmds: U32
    auth_errors: U32
    threads: U32
    conn_yields: U32
    listen_disabled_num: U32
    curr_connections: U32
    rejected_connections: U32
    total_connections: U32
    connection_structures: U32
    evictions: U32
    reclaimed: U32
    curr_items: U32
    total_items: U32
    bytes_read: U64
    bytes_written: U64
    bytes: U64
    limit_maxbytes: U64


@counter_record(0, 2205, "vdi")
@dataclass(slots=True)
class VdiCounters:
    """Virtual desktop sessions (layout as sflowtool reads it); RTTs in ms."""

    sessions_current: U32
    sessions_total: U32
    sessions_duration: U32
    rx_bytes: U32
    tx_bytes: U32
    rx_packets: U32
    tx_packets: U32
    rx_packets_lost: U32
    tx_packets_lost: U32
    rtt_min_ms: U32
    rtt_max_ms: U32
    rtt_avg_ms: U32
    audio_rx_bytes: U32
    audio_tx_bytes: U32
    audio_tx_limit: U32
    img_rx_bytes: U32
    img_tx_bytes: U32
    img_frames: U32
    img_qual_min: U32
    img_qual_max: U32
    img_qual_avg: U32
    usb_rx_bytes: U32
    usb_tx_bytes: U32


@counter_record(0, 2206, "app_workers")
@dataclass(slots=True)
class AppWorkers:
    workers_active: U32
    workers_idle: U32
    workers_max: U32
    req_delayed: U32
    req_dropped: U32


@counter_record(0, 2207, "ovs_dp_stats")
@dataclass(slots=True)
class OvsDpStats:
    """Open vSwitch datapath totals; 0xFFFFFFFF where the datapath does not count."""

    hits: U32
    misses: U32
    lost: U32
    mask_hits: U32
    flows: U32
    masks: U32
