"""FlowRT's BGP speaker: remotely triggered blackhole routes and FlowSpec rules that
scripts (InMon's ddos-protect among them) announce to routers. Standard library only;
it sits beside the datagram sources, below the engine and the script host."""

from flowrt.bgp.counters import BgpCounters
from flowrt.bgp.routes import RouteError
from flowrt.bgp.speaker import DEFAULT_PORT, BgpSpeaker, Listener, SpeakerLimits

__all__ = ["DEFAULT_PORT", "BgpCounters", "BgpSpeaker", "Listener", "RouteError",
           "SpeakerLimits"]
