"""UPDATE messages for one session: a route or flow rule announced or withdrawn.

Each announcement goes in its own UPDATE: the speaker sends a handful of mitigation
routes, not a full table, and one message per change keeps a withdrawal exactly the
inverse of its announcement. IPv4 unicast uses the classic NLRI and NEXT_HOP fields;
IPv6 unicast and both FlowSpec families use MP_REACH_NLRI / MP_UNREACH_NLRI.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from flowrt.bgp.flowspec import FlowRule
from flowrt.bgp.routes import IPNetwork, Route
from flowrt.bgp.wire import (
    AFI_IPV4,
    AFI_IPV6,
    MP_REACH,
    MP_UNREACH,
    NEXT_HOP,
    OPTIONAL,
    SAFI_FLOWSPEC,
    SAFI_UNICAST,
    WELL_KNOWN,
    Family,
    attribute,
    prefix_nlri,
    update,
)


@dataclass(frozen=True)
class SessionParams:
    """What a session negotiated that changes how an UPDATE is written."""

    local_as: int
    ibgp: bool
    as4: bool


def route_family(prefix: IPNetwork) -> Family:
    return (AFI_IPV4 if prefix.version == 4 else AFI_IPV6, SAFI_UNICAST)


def flow_family(rule: FlowRule) -> Family:
    return (AFI_IPV4 if rule.version == 4 else AFI_IPV6, SAFI_FLOWSPEC)


def _mp_reach(family: Family, nexthop: bytes, nlri: bytes) -> bytes:
    value = struct.pack("!HBB", family[0], family[1], len(nexthop)) + nexthop + b"\x00" + nlri
    return attribute(MP_REACH, OPTIONAL, value)


def _mp_unreach(family: Family, nlri: bytes) -> bytes:
    return attribute(MP_UNREACH, OPTIONAL, struct.pack("!HB", family[0], family[1]) + nlri)


def announce_route(route: Route, params: SessionParams) -> bytes:
    attrs = route.attributes.encode(params.local_as, params.ibgp, params.as4)
    nlri = prefix_nlri(route.prefix)
    if route.prefix.version == 4:
        return update(attributes=attrs + attribute(NEXT_HOP, WELL_KNOWN, route.nexthop.packed),
                      nlri=nlri)
    nexthop = route.nexthop.packed + (route.nexthop_linklocal.packed
                                      if route.nexthop_linklocal else b"")
    return update(attributes=_mp_reach(route_family(route.prefix), nexthop, nlri) + attrs)


def withdraw_route(prefix: IPNetwork) -> bytes:
    if prefix.version == 4:
        return update(withdrawn=prefix_nlri(prefix))
    return update(attributes=_mp_unreach(route_family(prefix), prefix_nlri(prefix)))


def announce_flow(rule: FlowRule, params: SessionParams) -> bytes:
    attrs = rule.attributes.encode(params.local_as, params.ibgp, params.as4)
    nexthop = b"" if rule.nexthop is None else rule.nexthop.packed
    return update(attributes=_mp_reach(flow_family(rule), nexthop, rule.nlri) + attrs)


def withdraw_flow(rule: FlowRule) -> bytes:
    return update(attributes=_mp_unreach(flow_family(rule), rule.nlri))


__all__ = ["SessionParams", "announce_flow", "announce_route", "withdraw_flow",
           "withdraw_route"]
