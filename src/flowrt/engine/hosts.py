"""Host location: where each MAC address attaches to the fabric (``topologyLocateHostMac``).

A host's frames enter the network at one edge port: the ingress port of a flow_sample
whose source MAC (``macsource`` of its sampled_header) is the host, taken at a port that
the topology does not put on an inter-switch link. The same MAC seen at a core port is
transit traffic and says nothing about where the host is.

How it is learned, the same on both ingest paths
    While a topology is set, the flow engine keeps three *internal* definitions (never
    listed in ``/flow/json``, not counted against ``flowrt.flows.max``) keyed by plain
    sample keys: ``macsource,inputifindex`` (every frame), and the same with
    ``ipsource`` and ``ip6source`` (the host's addresses). Plain keys are what the
    compiled core can count (``flowrt._core.lower``), so learning adds no per-sample
    Python work of its own on the native path once topology-aware ingest runs there;
    today an active topology sends every definition to the reference path, where these
    are three more definitions. Once a tick, :meth:`HostLocator.tick` reads the keys
    updated since they were last read and keeps those whose (agent, input ifIndex) is an
    EDGE port of the topology (:meth:`flowrt.engine.topology.TopologyStore.port_class`).
    The definitions' tables are top-N tables (``n`` = :data:`TABLE_N`, so about
    ``20 * TABLE_N`` MACs per data source); a port with more active MACs than that may
    miss some.

Bounds and age
    At most ``flowrt.hosts.max`` locations (MAC, agent, ifIndex) are kept; a new one
    past the cap is refused and counted (``hostLocationsRejected``) until expiry frees
    room. A location not refreshed for ``flowrt.hosts.timeout`` seconds is dropped
    (``hostLocationsExpired``), as is every location when the topology is cleared and
    a location whose port is no longer an edge port after a topology change.

Choices where sFlow-RT's documentation is silent
    * MACs are reported as flow keys spell them (12 upper-case hex digits); lookups
      accept any case and ``:``, ``-`` or ``.`` separators.
    * A MAC seen at several edge ports (a multi-homed or moving host) has one location
      per port, most recently seen first; each expires on its own.
    * ``ipaddress`` / ``ip6address`` are the latest source address seen from the MAC at
      that port (a global IPv6 address is preferred over a link-local one); ``vlan`` is
      not learned (null). ``ouiname`` is the MAC's vendor from the ``oui:`` registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flowrt.engine.flows import FlowEngine
from flowrt.engine.topology import EDGE, TopologyStore, parse_ifindex

DEFAULT_MAX_HOSTS = 10_000
DEFAULT_TIMEOUT = 300.0
TABLE_N = 50
"""``n`` of the internal definitions (each data source's table tracks ``20 * n`` keys)."""
TABLE_T = 1.0
"""``t`` of the internal definitions: their tables drop a key 10 s after its last
sample; :meth:`HostLocator.tick` reads them every second, well within that."""
FS = ","
MAC_FLOW, IP_FLOW, IP6_FLOW = "flowrt-hosts-mac", "flowrt-hosts-ip", "flowrt-hosts-ip6"
DEFINITIONS: dict[str, dict[str, Any]] = {
    MAC_FLOW: {"keys": "macsource,inputifindex"},
    IP_FLOW: {"keys": "macsource,inputifindex,ipsource"},
    IP6_FLOW: {"keys": "macsource,inputifindex,ip6source"},
}
for _body in DEFINITIONS.values():
    _body.update({"value": "frames", "n": TABLE_N, "t": TABLE_T, "fs": FS})
HEX_DIGITS = frozenset("0123456789ABCDEF")

Where = tuple[str, int]
"""(agent, ifIndex) of an edge port."""


@dataclass(slots=True)
class HostLocation:
    """One MAC at one edge port: when it was last seen there and its addresses."""

    agent: str
    ifindex: int
    last_seen: float
    ip: tuple[float, str] | None = None  # (when, address): the latest wins
    ip6: tuple[bool, float, str] | None = None  # (global?, when, address)


@dataclass
class HostCounters:
    """Bounds hit by the locator (declared in :mod:`flowrt.engine.selfmetrics`)."""

    rejected: int = 0  # new locations refused: flowrt.hosts.max reached
    expired: int = 0  # locations dropped: idle past flowrt.hosts.timeout, or no longer edge


def normalize_mac(mac: object) -> str | None:
    """``00:1a:2B-...`` → ``001A2B...`` (the ``macsource`` spelling), None if not a MAC."""
    if not isinstance(mac, str):
        return None
    text = mac.upper().replace(":", "").replace("-", "").replace(".", "")
    return text if len(text) == 12 and set(text) <= HEX_DIGITS else None


class HostLocator:
    """Learns MAC locations at edge ports from the internal definitions' tables."""

    def __init__(self, flows: FlowEngine, topology: TopologyStore, *,
                 max_hosts: int = DEFAULT_MAX_HOSTS, timeout: float = DEFAULT_TIMEOUT,
                 vendor: Callable[[str], str | None] | None = None) -> None:
        if max_hosts < 0 or timeout <= 0:
            raise ValueError("flowrt.hosts.max must be >= 0 and flowrt.hosts.timeout > 0")
        self.flows = flows
        self.topology = topology
        self.max_hosts = max_hosts
        self.timeout = timeout
        self.vendor = vendor
        self.counters = HostCounters()
        self._hosts: dict[str, dict[Where, HostLocation]] = {}
        #: locations (MAC, agent, ifIndex) held now (a gauge: ``hostsLocated``)
        self.located = 0
        self._defined = False
        self._read_until = -float("inf")  # keys updated before this were read already
        self._topology_version = topology.version

    # --- learning ---------------------------------------------------------------------
    def sync(self) -> None:
        """Define the internal definitions while a topology is set, drop them (and every
        location) when it is cleared. Called on each topology change and each tick."""
        active = self.topology.active
        if active and not self._defined:
            for name, body in DEFINITIONS.items():
                self.flows.set_internal(name, body)
            self._defined = True
            self._read_until = -float("inf")
        elif not active and self._defined:
            for name in DEFINITIONS:
                self.flows.delete_internal(name)
            self._defined = False
        if not active and self._hosts:
            self.counters.expired += self.located
            self._hosts.clear()
            self.located = 0

    def tick(self, now: float) -> None:
        """Read keys updated since the last tick, then expire idle locations."""
        self.sync()
        if not self._defined:
            return
        if self.topology.version != self._topology_version:
            self._topology_version = self.topology.version
            self._drop_non_edge()
        since = self._read_until
        newest = since
        tables = self.flows._internal
        for name in DEFINITIONS:
            flow = tables.get(name)
            if flow is None:
                continue
            for (agent, _ds), table in flow.tables.items():
                for key, when in table.updates():
                    if when >= since:
                        self._learn(name, agent, key, when, when > since)
                        newest = max(newest, when)
        # additions are applied at their batch's time, never earlier than this tick's
        # (the server flushes the native core before each tick): re-reading keys of the
        # newest instant is harmless, missing some would not be
        self._read_until = newest
        self._expire(now)

    def _learn(self, name: str, agent: str, key: str, when: float, fresh: bool) -> None:
        """Note one key read from an internal table (``fresh``: not read before)."""
        parts = key.split(FS)
        ifindex = parse_ifindex(parts[1]) if len(parts) > 1 else None
        if ifindex is None or self.topology.port_class(agent, str(ifindex)) != EDGE:
            return  # not an interface (internal, multiple...) or not where hosts attach
        mac = parts[0]
        ports = self._hosts.get(mac)
        where = (agent, ifindex)
        location = ports.get(where) if ports is not None else None
        if location is None:
            if self.located >= self.max_hosts:
                if fresh:  # each refused update once, not again when re-read
                    self.counters.rejected += 1
                return
            location = HostLocation(agent, ifindex, when)
            self._hosts.setdefault(mac, {})[where] = location
            self.located += 1
        elif when > location.last_seen:
            location.last_seen = when
        if len(parts) != 3:
            return
        address = parts[2]
        if name == IP_FLOW:
            candidate = (when, address)
            if location.ip is None or candidate > location.ip:
                location.ip = candidate
        elif name == IP6_FLOW:
            ranked = (not address.lower().startswith("fe80:"), when, address)
            if location.ip6 is None or ranked > location.ip6:
                location.ip6 = ranked

    def _expire(self, now: float) -> None:
        oldest = now - self.timeout
        self._drop(lambda location: location.last_seen < oldest)

    def _drop_non_edge(self) -> None:
        port_class = self.topology.port_class
        self._drop(lambda loc: port_class(loc.agent, str(loc.ifindex)) != EDGE)

    def _drop(self, gone: Callable[[HostLocation], bool]) -> None:
        for mac in list(self._hosts):
            ports = self._hosts[mac]
            for where in [w for w, location in ports.items() if gone(location)]:
                del ports[where]
                self.located -= 1
                self.counters.expired += 1
            if not ports:
                del self._hosts[mac]

    # --- questions --------------------------------------------------------------------
    def macs(self, agent: str | None = None, ifindex: object = None) -> list[str]:
        """Located MACs, sorted; with ``agent`` (and ``ifindex``) those located there."""
        if agent is None:
            return sorted(self._hosts)
        number = parse_ifindex(ifindex) if ifindex is not None else None
        if ifindex is not None and number is None:
            return []
        return sorted(mac for mac, ports in self._hosts.items()
                      if any(w[0] == agent and (number is None or w[1] == number)
                             for w in ports))

    def locate_mac(self, mac: object) -> list[dict[str, Any]] | None:
        """The MAC's locations, most recently seen first, or None when it is not located."""
        key = normalize_mac(mac)
        ports = self._hosts.get(key) if key is not None else None
        if not ports:
            return None
        ordered = sorted(ports.values(), key=lambda loc: (-loc.last_seen, loc.agent, loc.ifindex))
        return [self._describe(key, location) for location in ordered]  # type: ignore[arg-type]

    def locate_address(self, address: object, version: int) -> list[dict[str, Any]] | None:
        """Locations whose latest IPv4 (``version`` 4) or IPv6 source is ``address``."""
        if not isinstance(address, str):
            return None
        wanted = address.strip().lower()
        found = []
        for mac, ports in self._hosts.items():
            for location in ports.values():
                seen = location.ip[1] if version == 4 and location.ip else (
                    location.ip6[2] if version == 6 and location.ip6 else None)
                if seen is not None and seen.lower() == wanted:
                    found.append((mac, location))
        if not found:
            return None
        found.sort(key=lambda item: (-item[1].last_seen, item[0], item[1].agent))
        return [self._describe(mac, location) for mac, location in found]

    def _describe(self, mac: str, location: HostLocation) -> dict[str, Any]:
        port = self.topology.port_of(location.agent, location.ifindex)
        nodes = self.topology.nodes_for_agent(location.agent, str(location.ifindex))
        return {
            "mac": mac,
            "agent": location.agent,
            "ifindex": str(location.ifindex),
            "node": port[0] if port is not None else (nodes[0] if len(nodes) == 1 else None),
            "port": port[1] if port is not None else None,
            "vlan": None,
            "ipaddress": location.ip[1] if location.ip is not None else None,
            "ip6address": location.ip6[2] if location.ip6 is not None else None,
            "ouiname": self.vendor(mac) if self.vendor is not None else None,
        }
