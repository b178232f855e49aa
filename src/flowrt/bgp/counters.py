"""What the BGP speaker counts about itself (exported as self-metrics, see
:mod:`flowrt.engine.selfmetrics`: the engine owns one instance, the speaker writes it)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class BgpCounters:
    """Cumulative counts, plus ``sessions_established`` (a level, set by the speaker)."""

    sessions_opened: int = 0  # sessions that reached Established
    sessions_closed: int = 0  # Established sessions that ended, for any reason
    connections_rejected: int = 0  # TCP connections from an address that is no neighbor
    updates_sent: int = 0
    updates_received: int = 0
    notifications_sent: int = 0
    notifications_received: int = 0
    malformed_messages: int = 0  # peer messages that broke the protocol (answered, closed)
    routes_refused: int = 0  # bgpAddRoute refused: bad definition or table full
    flows_refused: int = 0  # bgpAddFlow refused: bad definition or table full
    sessions_established: int = 0  # gauge: sessions up now
