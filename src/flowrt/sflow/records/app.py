"""Application-layer flow records (0:2100-0:2210): sockets, transactions, HTTP, TCP.

Application agents (hsflowd's JSON port, mod-sflow, memcached, nginx, proxies) describe
*transactions* rather than packets: a flow sample then carries app_operation (2202) with
the actors (2204/2205) and the socket (2100/2101) it ran over. extended_tcp_info (2209)
rides on ordinary packet samples from hsflowd and reports the kernel's view of the TCP
connection the packet belongs to.

Not declared, so skipped by length: 0:2000-2003 (early host transaction records, unused)
and 0:2208 extended_nav_timing (layout not published with the other structures).
"""

from __future__ import annotations

from dataclasses import dataclass

from flowrt.sflow.registry import flow_record
from flowrt.sflow.xdr import I32, U32, U64, IPv4, IPv6, String

# --- sockets (sflow_application) --------------------------------------------------


@flow_record(0, 2100, "extended_socket_ipv4")
@dataclass(slots=True)
class ExtendedSocketIPv4:
    protocol: U32
    local_ip: IPv4
    remote_ip: IPv4
    local_port: U32
    remote_port: U32


@flow_record(0, 2101, "extended_socket_ipv6")
@dataclass(slots=True)
class ExtendedSocketIPv6:
    protocol: U32
    local_ip: IPv6
    remote_ip: IPv6
    local_port: U32
    remote_port: U32


@flow_record(0, 2102, "extended_proxy_socket_ipv4")
@dataclass(slots=True)
class ExtendedProxySocketIPv4:
    """The downstream socket of a proxied transaction."""

    protocol: U32
    local_ip: IPv4
    remote_ip: IPv4
    local_port: U32
    remote_port: U32


@flow_record(0, 2103, "extended_proxy_socket_ipv6")
@dataclass(slots=True)
class ExtendedProxySocketIPv6:
    """The downstream socket of a proxied transaction."""

    protocol: U32
    local_ip: IPv6
    remote_ip: IPv6
    local_port: U32
    remote_port: U32


# --- memcache (sflow_memcache) ----------------------------------------------------

MEMCACHE_PROTOCOLS = ("other", "ascii", "binary")
MEMCACHE_COMMANDS = (
    "other", "set", "add", "replace", "append", "prepend", "cas", "get", "gets", "incr",
    "decr", "delete", "stats", "flush", "version", "quit", "touch",
)
MEMCACHE_STATUSES = (
    "unknown", "ok", "error", "client_error", "server_error", "stored", "not_stored",
    "exists", "not_found", "deleted",
)


@flow_record(0, 2200, "memcached_operation")
@dataclass(slots=True)
class MemcachedOperation:
    """Enumerations index :data:`MEMCACHE_PROTOCOLS`, ``_COMMANDS``, ``_STATUSES``."""

    protocol: U32
    cmd: U32
    key: String
    nkeys: U32
    value_bytes: U32
    duration_us: U32
    status: U32


# --- HTTP (sflow_http) ------------------------------------------------------------

HTTP_METHODS = ("OTHER", "OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT")


@flow_record(0, 2201, "http_request_deprecated")
@dataclass(slots=True)
class HttpRequestDeprecated:
    """The first http_request: no X-Forwarded-For, no request size. Prefer 2206."""

    method: U32
    protocol: U32
    uri: String
    host: String
    referer: String
    useragent: String
    authuser: String
    mime_type: String
    resp_bytes: U64
    duration_us: U32
    status: I32


@flow_record(0, 2206, "http_request")
@dataclass(slots=True)
class HttpRequest:
    """``method`` indexes :data:`HTTP_METHODS`; ``protocol`` is major*1000+minor (1001)."""

    method: U32
    protocol: U32
    uri: String
    host: String
    referer: String
    useragent: String
    xff: String
    authuser: String
    mime_type: String
    req_bytes: U64
    resp_bytes: U64
    duration_us: U32
    status: I32


@flow_record(0, 2207, "extended_proxy_request")
@dataclass(slots=True)
class ExtendedProxyRequest:
    """The request as rewritten by a proxy."""

    uri: String
    host: String


# --- generic application transactions (sflow_application) -------------------------

# app_operation status (also the order of the app_operations counters)
APP_STATUSES = (
    "SUCCESS", "OTHER", "TIMEOUT", "INTERNAL_ERROR", "BAD_REQUEST", "FORBIDDEN", "TOO_LARGE",
    "NOT_IMPLEMENTED", "NOT_FOUND", "UNAVAILABLE", "UNAUTHORIZED",
)


@flow_record(0, 2202, "app_operation")
@dataclass(slots=True)
class AppOperation:
    """One transaction. The spec's nested ``context`` struct is flattened into the first
    three fields (application, operation, attributes); ``status`` indexes APP_STATUSES."""

    application: String
    operation: String
    attributes: String
    status_descr: String
    req_bytes: U64
    resp_bytes: U64
    duration_us: U32
    status: U32


@flow_record(0, 2203, "app_parent_context")
@dataclass(slots=True)
class AppParentContext:
    """The enclosing operation's context (flattened like AppOperation's)."""

    application: String
    operation: String
    attributes: String


@flow_record(0, 2204, "app_initiator")
@dataclass(slots=True)
class AppInitiator:
    actor: String


@flow_record(0, 2205, "app_target")
@dataclass(slots=True)
class AppTarget:
    actor: String


# --- TCP and entities -------------------------------------------------------------

# extended_tcp_info direction
TCP_DIRECTION_UNKNOWN, TCP_DIRECTION_RECEIVED, TCP_DIRECTION_SENT = 0, 1, 2


@flow_record(0, 2209, "extended_tcp_info")
@dataclass(slots=True)
class ExtendedTcpInfo:
    """Linux ``struct tcp_info`` of the packet's socket; RTTs in microseconds."""

    direction: U32
    snd_mss: U32
    rcv_mss: U32
    unacked: U32
    lost: U32
    retrans: U32
    pmtu: U32
    rtt_us: U32
    rttvar_us: U32
    snd_cwnd: U32
    reordering: U32
    min_rtt_us: U32


@flow_record(0, 2210, "extended_entities")
@dataclass(slots=True)
class ExtendedEntities:
    """Data sources (class, index) of the packet's source and destination entities."""

    src_ds_class: U32
    src_ds_index: U32
    dst_ds_class: U32
    dst_ds_index: U32

