"""Generated sFlow: real datagrams (``encode_datagram``) describing traffic we chose.

Tests need streams whose true rates are known: "pair A→B carries 2 MB/s sampled 1 in
100", "interface 3 receives 1 MB/s". :class:`Agent` builds the datagrams an sFlow agent
would send for that traffic: flow samples carrying real Ethernet/IPv4/TCP headers (so
the engine decodes ``ipsource``, ``tcpdestinationport``...) and generic interface
counter samples whose octet counters advance by exactly the chosen rate.
"""

from __future__ import annotations

import ipaddress
import socket
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from flowrt.sflow import CounterSample, Datagram, FlowSample, encode_datagram
from flowrt.sflow.records.counters import GenericInterfaceCounters
from flowrt.sflow.records.flow import SampledHeader

HEADER_PROTOCOL_ETHERNET = 1
FCS_BYTES = 4
ETH_HEADER, IPV4_HEADER, TCP_HEADER = 14, 20, 20
IF_TYPE_ETHERNET = 6
IF_SPEED = 10_000_000_000
SAMPLES_PER_DATAGRAM = 8
"""Few enough samples that a datagram stays far below the 1500-byte MTU."""


@dataclass(frozen=True)
class Conversation:
    """One TCP conversation: who talks to whom, how fast (bytes/s on the wire)."""

    src: str
    dst: str
    bytes_per_second: float
    frame_length: int = 1518
    sport: int = 40000
    dport: int = 5201

    @property
    def key(self) -> str:
        """Its ``ipsource,ipdestination`` flow key."""
        return f"{self.src},{self.dst}"


def tcp_frame(src: str, dst: str, sport: int, dport: int, frame_length: int) -> bytes:
    """The first 54 bytes of an Ethernet/IPv4/TCP frame of ``frame_length`` (with FCS)."""
    ip_total = frame_length - ETH_HEADER - FCS_BYTES
    eth = bytes.fromhex("020000000002" "020000000001") + struct.pack(">H", 0x0800)
    ip = struct.pack(
        ">BBHHHBBH4s4s", 0x45, 0, ip_total, 1, 0x4000, 64, socket.IPPROTO_TCP, 0,
        ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed,
    )
    tcp = struct.pack(">HHIIBBHHH", sport, dport, 1, 1, TCP_HEADER // 4 << 4, 0x10, 65535, 0, 0)
    return eth + ip + tcp


def interface_counters(if_index: int, in_octets: int, in_packets: int) -> GenericInterfaceCounters:
    return GenericInterfaceCounters(
        if_index=if_index, if_type=IF_TYPE_ETHERNET, if_speed=IF_SPEED, if_direction=1,
        if_status=3, if_in_octets=in_octets, if_in_ucast_pkts=in_packets & 0xFFFFFFFF,
        if_in_multicast_pkts=0, if_in_broadcast_pkts=0, if_in_discards=0, if_in_errors=0,
        if_in_unknown_protos=0, if_out_octets=0, if_out_ucast_pkts=0,
        if_out_multicast_pkts=0, if_out_broadcast_pkts=0, if_out_discards=0,
        if_out_errors=0, if_promiscuous_mode=0,
    )


class Agent:
    """One simulated sFlow agent: keeps sequence numbers, uptime and counters consistent.

    Call :meth:`interval` once per step of simulated time; it returns the datagrams the
    agent sends for that step, with flow samples spread so each conversation's sampled
    bytes times the sampling rate equal its rate times the step (fractional samples carry over).
    """

    def __init__(self, address: str, if_index: int = 3, sampling_rate: int = 100) -> None:
        self.address = address
        self.if_index = if_index
        self.sampling_rate = sampling_rate
        self.uptime_ms = 1_000_000
        self.datagram_seq = 0
        self.flow_seq = 0
        self.counter_seq = 0
        self.pool = 0
        self.in_octets = 0
        self.in_packets = 0
        self._carry: dict[Conversation, float] = {}

    def interval(
        self, seconds: float, conversations: Sequence[Conversation], *, counters: bool = False,
    ) -> list[bytes]:
        samples: list[FlowSample | CounterSample] = []
        for conv in conversations:
            packets = conv.bytes_per_second * seconds / conv.frame_length
            self.in_octets += round(conv.bytes_per_second * seconds)
            self.in_packets += round(packets)
            due = self._carry.get(conv, 0.0) + packets / self.sampling_rate
            whole = int(due)
            self._carry[conv] = due - whole
            header = tcp_frame(conv.src, conv.dst, conv.sport, conv.dport, conv.frame_length)
            for _ in range(whole):
                samples.append(self._flow_sample(header, conv.frame_length))
        self.uptime_ms += round(seconds * 1000)
        if counters:
            self.counter_seq += 1
            samples.append(CounterSample(
                self.counter_seq, 0, self.if_index,
                [interface_counters(self.if_index, self.in_octets, self.in_packets)],
            ))
        return self.datagrams(samples)

    def packets(self, frames: Iterable[bytes], frame_length: int = 1518) -> list[bytes]:
        """Datagrams carrying one flow sample per given frame header (any traffic mix)."""
        return self.datagrams(self._flow_sample(frame, frame_length) for frame in frames)

    def _flow_sample(self, header: bytes, frame_length: int) -> FlowSample:
        self.flow_seq += 1
        self.pool += self.sampling_rate
        record = SampledHeader(HEADER_PROTOCOL_ETHERNET, frame_length, FCS_BYTES, header)
        return FlowSample(
            self.flow_seq, 0, self.if_index, self.sampling_rate, self.pool, 0,
            0, self.if_index, 0, 0x3FFFFFFF, [record],
        )

    def datagrams(self, samples: Iterable[FlowSample | CounterSample]) -> list[bytes]:
        pending = list(samples)
        out = []
        while pending:
            chunk, pending = pending[:SAMPLES_PER_DATAGRAM], pending[SAMPLES_PER_DATAGRAM:]
            self.datagram_seq += 1
            out.append(encode_datagram(
                Datagram(self.address, 0, self.datagram_seq, self.uptime_ms, chunk)
            ))
        return out
