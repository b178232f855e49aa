"""One sample as flow definitions see it: a lazy, per-sample map of flow key → value.

Every flow definition asks the same sample for a few keys (``ipsource``, ``bytes``,
``tcpdestinationport``, ...). :class:`FlowSampleView` is built once per sample and shared
by all definitions, so the work behind a key is done at most once per sample:

* header keys come from :func:`flowrt.sflow.packet.locate` (run once, when the view is
  built: every sample's shape is noted for /flowkeys/json anyway) and
  ``packet.EXTRACTORS``: only the keys some definition needs are decoded, never the
  whole header;
* sample-context keys (agent, interfaces, sizes) and extended-record keys (switch, router,
  gateway, tcp_info, queue, ...) come from small resolver functions;
* every answer, None included, is cached in a small per-view dict (the engine's
  generated per-flow code, ``flows.compile_counter``, bypasses it via ``key_getter``).

Resolvers are looked up by key name in a module-level table built on first use of each
name (bounded), so ``get`` is a dict hit plus one call.

Samples without a sampled header (agents that send sampled_ipv4 / sampled_ipv6 /
sampled_ethernet records instead) still yield the address, protocol and port keys from
those records.

Key names and values follow sFlow-RT's flow keys; FlowRT choices where sFlow-RT's are
not public:

* ``inputifindex``/``outputifindex`` are text: the ifIndex, or ``internal``, ``discard``,
  ``multiple``, ``unknown`` (``interface_text``); ``0`` means unknown as sent;
* ``direction`` is ``ingress`` when the data source is the input ifIndex, ``egress`` when
  it is the output ifIndex, else absent;
* ``reason`` (discard samples, and flow samples whose output is "discarded") is the drop
  reason name (``flowrt.sflow.drops``), or the code as text when unnamed;
* tcp_info (0:2209) gives ``tcprtt``, ``tcprttvar``, ``tcprttmin`` (µs), ``tcpunacked``,
  ``tcplost``, ``tcpretrans``, ``tcppmtu``, ``tcpmss`` (send MSS), ``tcprcvmss``,
  ``tcpcwndsnd`` and ``tcpreordering``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flowrt.sflow import packet
from flowrt.sflow.drops import reason_name
from flowrt.sflow.model import DS_IFINDEX, IF_DISCARDED, DiscardSample, FlowSample, interface_text
from flowrt.sflow.records.app import ExtendedTcpInfo
from flowrt.sflow.records.flow import (
    ExtendedGateway,
    ExtendedRouter,
    ExtendedSwitch,
    SampledEthernet,
    SampledHeader,
    SampledIPv4,
    SampledIPv6,
)
from flowrt.sflow.records.flow_ext import (
    ExtendedEgressQueue,
    ExtendedFunction,
    ExtendedQueue,
    ExtendedTransit,
)

Value = str | int | float | None
Resolver = Callable[["FlowSampleView"], Value]

_MISSING = object()
_locate = packet.locate
MAX_RESOLVERS = 4096
"""Resolvers built for distinct key names (typos included); past this, built per call."""

IPPROTO_TCP, IPPROTO_UDP = 6, 17
_TCP_FLAGS = tuple(format(i, "09b") for i in range(512))
_ECN = ("00", "01", "10", "11")


class FlowSampleView:
    """A flow or discard sample with its flow keys computed on demand (a ``SampleView``).

    ``sampling_rate`` is the factor that scales a sample to the population: the flow
    sample's rate (0 from a broken agent counts as 1), and 1 for discard samples, which
    are rate-limited notifications rather than samples.
    """

    __slots__ = ("_cache", "_layers", "agent", "header", "sample", "sampled", "sampling_rate")

    def __init__(self, agent: str, sample: FlowSample | DiscardSample) -> None:
        # Built once per flow sample even when no flow is defined (every sample's shape
        # is noted for /flowkeys/json), so it does the least it can: module-level names,
        # no getattr with a default, and the key cache is made on the first ``get``.
        self.agent = agent
        self.sample = sample
        records = sample.records
        sampled = None
        if records and records[0].__class__ is SampledHeader:  # what agents send first
            sampled = records[0]
        else:
            for record in records:
                if record.__class__ is SampledHeader:
                    sampled = record
                    break
        self.sampled: SampledHeader | None = sampled
        if sampled is None:
            self.header: bytes | None = None
            self._layers: packet.Layers | None = None
        else:
            header = self.header = sampled.header
            self._layers = _locate(sampled.protocol, header)
        self.sampling_rate: int = (
            sample.sampling_rate if isinstance(sample, FlowSample) else 1
        ) or 1
        self._cache: dict[str, Value] | None = None

    def get(self, name: str) -> Value:
        """The value of flow key ``name`` in this sample, or None when it has none."""
        cache = self._cache
        if cache is None:
            cache = self._cache = {}
        value = cache.get(name, _MISSING)
        if value is _MISSING:
            resolve = _RESOLVERS.get(name) or resolver(name)
            value = cache[name] = resolve(self)
        return value  # type: ignore[return-value]  # not _MISSING once resolved

    def layers(self) -> packet.Layers | None:
        """The header's protocol layers (located when the view was built), or None."""
        return self._layers

    def shape(self) -> str:
        """The header's layer string ("e4t", ...; "" without header): what keys it has."""
        layers = self._layers
        return "" if layers is None else layers[0]

    def record(self, cls: type) -> Any:
        """The sample's first record of class ``cls``."""
        for rec in self.sample.records:
            if rec.__class__ is cls:
                return rec
        return None

    def __repr__(self) -> str:
        return f"FlowSampleView(agent={self.agent!r}, shape={self.shape()!r})"


# --- resolvers ----------------------------------------------------------------------------


def _header_resolver(extract: packet.Extractor, fallback: Resolver | None) -> Resolver:
    def resolve(view: FlowSampleView) -> Value:
        header = view.header
        if header is None:
            return None if fallback is None else fallback(view)
        return extract(header, view._layers)  # type: ignore[arg-type, return-value]

    return resolve


def _record_field(cls: type, get: Callable[[Any], Value]) -> Resolver:
    def resolve(view: FlowSampleView) -> Value:
        for rec in view.sample.records:
            if rec.__class__ is cls:
                return get(rec)
        return None

    return resolve


def _none(_view: FlowSampleView) -> Value:
    return None


def _interface(which: str) -> Resolver:
    discard_attr, fmt_attr, value_attr = f"{which}_ifindex", f"{which}_format", f"{which}_value"

    def resolve(view: FlowSampleView) -> Value:
        sample = view.sample
        if sample.__class__ is DiscardSample:
            return interface_text(0, getattr(sample, discard_attr))
        return interface_text(getattr(sample, fmt_attr), getattr(sample, value_attr))

    return resolve


def _bytes(view: FlowSampleView) -> Value:
    sampled = view.sampled
    if sampled is not None:
        return sampled.frame_length
    for cls in (SampledEthernet, SampledIPv4, SampledIPv6):
        rec = view.record(cls)
        if rec is not None:
            return rec.length  # type: ignore[no-any-return]
    return None


def _stripped(view: FlowSampleView) -> Value:
    sampled = view.sampled
    return None if sampled is None else sampled.stripped


def _direction(view: FlowSampleView) -> Value:
    sample = view.sample
    if sample.source_id_type != DS_IFINDEX:
        return None
    index = sample.source_id_index
    if isinstance(sample, DiscardSample):
        inp, out = sample.input_ifindex, sample.output_ifindex
    else:
        inp, out = sample.input_value, sample.output_value
    if index == inp:
        return "ingress"
    if index == out:
        return "egress"
    return None


def _reason(view: FlowSampleView) -> Value:
    sample = view.sample
    if isinstance(sample, DiscardSample):
        code = sample.reason
    elif sample.output_format == IF_DISCARDED:
        code = sample.output_value
    else:
        return None
    return reason_name(code) or str(code)


def _l4_field(proto: int, get: Callable[[Any], Value]) -> Resolver:
    """A port or flag of a sampled_ipv4/ipv6 record whose protocol is ``proto``."""

    def resolve(view: FlowSampleView) -> Value:
        for rec in view.sample.records:
            if rec.__class__ in _IP_RECORDS:
                return get(rec) if rec.protocol == proto else None
        return None

    return resolve


_IP_RECORDS = (SampledIPv4, SampledIPv6)


def _as_path(rec: ExtendedGateway) -> Value:
    return " ".join(str(asn) for seg in rec.dst_as_path for asn in seg.asns) or None


def _communities(rec: ExtendedGateway) -> Value:
    return " ".join(f"{c >> 16}:{c & 0xFFFF}" for c in rec.communities) or None


CONTEXT: dict[str, Resolver] = {
    "agent": lambda view: view.agent,
    "bytes": _bytes,
    "frames": lambda view: 1,
    "stripped": _stripped,
    "inputifindex": _interface("input"),
    "outputifindex": _interface("output"),
    "direction": _direction,
    "reason": _reason,
}
"""Keys of the sample itself (not of its packet or extended records)."""

# Extended records: key -> (record class, field getter)
RECORD_KEYS: dict[str, tuple[type, Callable[[Any], Value]]] = {
    "vlansource": (ExtendedSwitch, lambda r: r.src_vlan),
    "vlandestination": (ExtendedSwitch, lambda r: r.dst_vlan),
    "prioritysource": (ExtendedSwitch, lambda r: r.src_priority),
    "prioritydestination": (ExtendedSwitch, lambda r: r.dst_priority),
    "ipnexthoprouter": (ExtendedRouter, lambda r: r.nexthop),
    "ipsourcemaskbits": (ExtendedRouter, lambda r: r.src_mask_len),
    "ipdestinationmaskbits": (ExtendedRouter, lambda r: r.dst_mask_len),
    "bgpnexthop": (ExtendedGateway, lambda r: r.nexthop),
    "bgpas": (ExtendedGateway, lambda r: r.as_number),
    "bgpsourceas": (ExtendedGateway, lambda r: r.src_as),
    "bgpsourcepeeras": (ExtendedGateway, lambda r: r.src_peer_as),
    "bgpdestinationas": (ExtendedGateway, lambda r: r.dst_as),
    "bgpdestinationpeeras": (ExtendedGateway, lambda r: r.dst_peer_as),
    "bgpdestinationaspath": (ExtendedGateway, _as_path),
    "bgpcommunities": (ExtendedGateway, _communities),
    "bgplocalpref": (ExtendedGateway, lambda r: r.local_pref),
    "tcprtt": (ExtendedTcpInfo, lambda r: r.rtt_us),
    "tcprttvar": (ExtendedTcpInfo, lambda r: r.rttvar_us),
    "tcprttmin": (ExtendedTcpInfo, lambda r: r.min_rtt_us),
    "tcpunacked": (ExtendedTcpInfo, lambda r: r.unacked),
    "tcplost": (ExtendedTcpInfo, lambda r: r.lost),
    "tcpretrans": (ExtendedTcpInfo, lambda r: r.retrans),
    "tcppmtu": (ExtendedTcpInfo, lambda r: r.pmtu),
    "tcpmss": (ExtendedTcpInfo, lambda r: r.snd_mss),
    "tcprcvmss": (ExtendedTcpInfo, lambda r: r.rcv_mss),
    "tcpcwndsnd": (ExtendedTcpInfo, lambda r: r.snd_cwnd),
    "tcpreordering": (ExtendedTcpInfo, lambda r: r.reordering),
    "queueindex": (ExtendedEgressQueue, lambda r: r.queue),
    "queuedepth": (ExtendedQueue, lambda r: r.depth),
    "transitdelay": (ExtendedTransit, lambda r: r.delay),
    "function": (ExtendedFunction, lambda r: r.symbol),
}  # fmt: skip

# Header keys that sampled_ipv4 / sampled_ipv6 / sampled_ethernet records also carry.
FALLBACK: dict[str, Resolver] = {
    "ipsource": _record_field(SampledIPv4, lambda r: r.src_ip),
    "ipdestination": _record_field(SampledIPv4, lambda r: r.dst_ip),
    "ipprotocol": _record_field(SampledIPv4, lambda r: r.protocol),
    "iptos": _record_field(SampledIPv4, lambda r: r.tos),
    "ipdscp": _record_field(SampledIPv4, lambda r: r.tos >> 2),
    "ipecn": _record_field(SampledIPv4, lambda r: _ECN[r.tos & 3]),
    "ipbytes": _record_field(SampledIPv4, lambda r: r.length),
    "ip6source": _record_field(SampledIPv6, lambda r: r.src_ip),
    "ip6destination": _record_field(SampledIPv6, lambda r: r.dst_ip),
    "ip6nexthdr": _record_field(SampledIPv6, lambda r: r.protocol),
    "ip6bytes": _record_field(SampledIPv6, lambda r: r.length),
    "macsource": _record_field(SampledEthernet, lambda r: r.src_mac.hex().upper()),
    "macdestination": _record_field(SampledEthernet, lambda r: r.dst_mac.hex().upper()),
    "ethernetprotocol": _record_field(SampledEthernet, lambda r: r.eth_type),
}  # fmt: skip
for _proto, _l4 in ((IPPROTO_TCP, "tcp"), (IPPROTO_UDP, "udp")):
    FALLBACK[f"{_l4}sourceport"] = _l4_field(_proto, lambda r: r.src_port)
    FALLBACK[f"{_l4}destinationport"] = _l4_field(_proto, lambda r: r.dst_port)
FALLBACK["tcpflags"] = _l4_field(IPPROTO_TCP, lambda r: _TCP_FLAGS[r.tcp_flags & 0x1FF])

_RESOLVERS: dict[str, Resolver] = {}


def key_getter(name: str) -> tuple[packet.Extractor | None, Resolver]:
    """How generated per-flow code reads plain key ``name`` without the view's cache.

    ``(extract, resolve)``: with ``extract`` (a header key), the value is
    ``extract(view.header, view.layers())`` when the view has a header, else
    ``resolve(view)`` (the sampled_ipv4/ipv6/ethernet fallback); without it, always
    ``resolve(view)``. Either way the value equals ``view.get(name)``.
    """
    if name in CONTEXT or name in RECORD_KEYS:
        return None, resolver(name)
    extract = packet.extractor(name)
    if extract is None:
        return None, _none
    return extract, FALLBACK.get(name, _none)


def resolver(name: str) -> Resolver:
    """The function computing key ``name`` from a view (memoised, bounded)."""
    found = _RESOLVERS.get(name)
    if found is not None:
        return found
    if name in CONTEXT:
        found = CONTEXT[name]
    elif name in RECORD_KEYS:
        found = _record_field(*RECORD_KEYS[name])
    else:
        extract = packet.extractor(name)
        found = _none if extract is None else _header_resolver(extract, FALLBACK.get(name))
    if len(_RESOLVERS) < MAX_RESOLVERS:
        _RESOLVERS[name] = found
    return found


# --- which keys exist (for /flowkeys/json) -------------------------------------------------

_SHAPE_KEYS: dict[str, tuple[str, ...]] = {}
_MAX_SHAPES = 1024
RECORD_KEY_NAMES: dict[type, tuple[str, ...]] = {}
for _name, (_cls, _get) in RECORD_KEYS.items():
    RECORD_KEY_NAMES[_cls] = (*RECORD_KEY_NAMES.get(_cls, ()), _name)
RECORD_KEY_NAMES[SampledIPv4] = (
    "ipsource", "ipdestination", "ipprotocol", "iptos", "ipdscp", "ipecn", "ipbytes",
)  # fmt: skip
RECORD_KEY_NAMES[SampledIPv6] = ("ip6source", "ip6destination", "ip6nexthdr", "ip6bytes")
RECORD_KEY_NAMES[SampledEthernet] = ("macsource", "macdestination", "ethernetprotocol")


def shape_keys(kinds: str) -> tuple[str, ...]:
    """Header key names a layer string can yield ("e4t" → macsource, ..., tcpflags)."""
    keys = _SHAPE_KEYS.get(kinds)
    if keys is not None:
        return keys
    names: list[str] = ["stack"] if kinds else []
    if packet.IP in kinds or packet.IP6 in kinds:
        names.append("ip_offset")
    seen: dict[str, int] = {}
    for kind in kinds:
        depth = seen.get(kind, 0)
        seen[kind] = depth + 1
        names += [packet.key_name(field, depth) for field, _, _ in packet.LAYER_FIELDS[kind]]
    keys = tuple(names)
    if len(_SHAPE_KEYS) < _MAX_SHAPES:
        _SHAPE_KEYS[kinds] = keys
    return keys


def record_keys(records: Iterable[type]) -> set[str]:
    """Key names that extended/sampled records of these classes yield."""
    out: set[str] = set()
    for cls in records:
        out.update(RECORD_KEY_NAMES.get(cls, ()))
    return out
