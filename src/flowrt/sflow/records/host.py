"""Host sFlow counter records (0:2000-0:2010): what hsflowd reports about a server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from flowrt.sflow.registry import counter_record
from flowrt.sflow.xdr import F32, I32, MAC, U32, U64, UUID, ArrayOf, String

# host_descr enumerations
MACHINE_TYPES = (
    "unknown", "other", "x86", "x86_64", "ia64", "sparc", "alpha", "powerpc", "m68k",
    "mips", "arm", "hppa", "s390",
)
OS_NAMES = (
    "unknown", "other", "linux", "windows", "darwin", "hpux", "aix", "dragonfly",
    "freebsd", "netbsd", "openbsd", "osf", "solaris",
)


@counter_record(0, 2000, "host_descr")
@dataclass(slots=True)
class HostDescr:
    """``uuid`` is 16 raw bytes with no length word, as hsflowd sends it."""

    hostname: String
    uuid: UUID
    machine_type: U32
    os_name: U32
    os_release: String


@dataclass(slots=True)
class HostAdapter:
    if_index: U32
    macs: Annotated[list[bytes], ArrayOf(MAC.__metadata__[0])]


@counter_record(0, 2001, "host_adapters")
@dataclass(slots=True)
class HostAdapters:
    adapters: Annotated[list[HostAdapter], ArrayOf(HostAdapter)]


@counter_record(0, 2002, "host_parent")
@dataclass(slots=True)
class HostParent:
    container_type: U32
    container_index: U32


@counter_record(0, 2003, "host_cpu", tail=("cpu_steal", "cpu_guest", "cpu_guest_nice"))
@dataclass(slots=True)
class HostCpu:
    """Times are ms; hsflowd appends steal/guest/guest_nice (None when absent)."""

    load_one: F32
    load_five: F32
    load_fifteen: F32
    proc_run: U32
    proc_total: U32
    cpu_num: U32
    cpu_speed: U32
    uptime: U32
    cpu_user: U32
    cpu_nice: U32
    cpu_system: U32
    cpu_idle: U32
    cpu_wio: U32
    cpu_intr: U32
    cpu_sintr: U32
    interrupts: U32
    contexts: U32
    cpu_steal: U32 | None = None
    cpu_guest: U32 | None = None
    cpu_guest_nice: U32 | None = None


@counter_record(0, 2004, "host_memory")
@dataclass(slots=True)
class HostMemory:
    mem_total: U64
    mem_free: U64
    mem_shared: U64
    mem_buffers: U64
    mem_cached: U64
    swap_total: U64
    swap_free: U64
    page_in: U32
    page_out: U32
    swap_in: U32
    swap_out: U32


@counter_record(0, 2005, "host_disk_io")
@dataclass(slots=True)
class HostDiskIO:
    """``part_max_used`` is percent x 100 of the fullest partition."""

    disk_total: U64
    disk_free: U64
    part_max_used: I32
    reads: U32
    bytes_read: U64
    read_time: U32
    writes: U32
    bytes_written: U64
    write_time: U32


@counter_record(0, 2006, "host_net_io")
@dataclass(slots=True)
class HostNetIO:
    bytes_in: U64
    pkts_in: U32
    errs_in: U32
    drops_in: U32
    bytes_out: U64
    pkts_out: U32
    errs_out: U32
    drops_out: U32


# --- MIB-II protocol groups (RFC 1213 / RFC 4293 names, snake_case) -----------------


@counter_record(0, 2007, "mib2_ip_group")
@dataclass(slots=True)
class Mib2IpGroup:
    ip_forwarding: U32
    ip_default_ttl: U32
    ip_in_receives: U32
    ip_in_hdr_errors: U32
    ip_in_addr_errors: U32
    ip_forw_datagrams: U32
    ip_in_unknown_protos: U32
    ip_in_discards: U32
    ip_in_delivers: U32
    ip_out_requests: U32
    ip_out_discards: U32
    ip_out_no_routes: U32
    ip_reasm_timeout: U32
    ip_reasm_reqds: U32
    ip_reasm_oks: U32
    ip_reasm_fails: U32
    ip_frag_oks: U32
    ip_frag_fails: U32
    ip_frag_creates: U32


@counter_record(0, 2008, "mib2_icmp_group")
@dataclass(slots=True)
class Mib2IcmpGroup:
    """Note the asymmetry of the spec: there is no icmp_in_timestamp_reps."""

    icmp_in_msgs: U32
    icmp_in_errors: U32
    icmp_in_dest_unreachs: U32
    icmp_in_time_excds: U32
    icmp_in_param_probs: U32
    icmp_in_src_quenchs: U32
    icmp_in_redirects: U32
    icmp_in_echos: U32
    icmp_in_echo_reps: U32
    icmp_in_timestamps: U32
    icmp_in_addr_masks: U32
    icmp_in_addr_mask_reps: U32
    icmp_out_msgs: U32
    icmp_out_errors: U32
    icmp_out_dest_unreachs: U32
    icmp_out_time_excds: U32
    icmp_out_param_probs: U32
    icmp_out_src_quenchs: U32
    icmp_out_redirects: U32
    icmp_out_echos: U32
    icmp_out_echo_reps: U32
    icmp_out_timestamps: U32
    icmp_out_timestamp_reps: U32
    icmp_out_addr_masks: U32
    icmp_out_addr_mask_reps: U32


@counter_record(0, 2009, "mib2_tcp_group")
@dataclass(slots=True)
class Mib2TcpGroup:
    """``tcp_rto_min``/``tcp_rto_max`` in ms; ``tcp_max_conn`` 0xFFFFFFFF = dynamic (-1)."""

    tcp_rto_algorithm: U32
    tcp_rto_min: U32
    tcp_rto_max: U32
    tcp_max_conn: U32
    tcp_active_opens: U32
    tcp_passive_opens: U32
    tcp_attempt_fails: U32
    tcp_estab_resets: U32
    tcp_curr_estab: U32
    tcp_in_segs: U32
    tcp_out_segs: U32
    tcp_retrans_segs: U32
    tcp_in_errs: U32
    tcp_out_rsts: U32
    tcp_in_csum_errs: U32


@counter_record(0, 2010, "mib2_udp_group")
@dataclass(slots=True)
class Mib2UdpGroup:
    udp_in_datagrams: U32
    udp_no_ports: U32
    udp_in_errors: U32
    udp_out_datagrams: U32
    udp_rcvbuf_errors: U32
    udp_sndbuf_errors: U32
    udp_in_csum_errors: U32
