"""Where sFlow datagrams come from: capture files and the UDP socket.

Sources deliver raw UDP payloads with their envelope (who sent it, when); decoding is
left to :mod:`flowrt.sflow`, so a source never needs to understand sFlow.
"""

from flowrt.sources.pcap import CapturedDatagram, CaptureError, PcapReader, PcapStats, read_pcap
from flowrt.sources.udp import ReceivedDatagram, UdpReceiver, open_udp_socket

__all__ = [
    "CaptureError",
    "CapturedDatagram",
    "PcapReader",
    "PcapStats",
    "ReceivedDatagram",
    "UdpReceiver",
    "open_udp_socket",
    "read_pcap",
]
