"""The network topology (``PUT /topology/json``): which ports are inter-switch links.

sFlow data sources know nothing of the fabric they sit in; a topology says which
(agent, ifIndex) ports face other switches. That one fact drives the topology-aware
features:

* ``TOPOLOGY`` / ``EDGE`` / ``CORE`` agent selectors of the metric and flow queries;
* ``aggMode`` ``edge`` / ``core`` of ``/activeflows``;
* the ``link:<ifindex key>`` key function (link name, or null for a port on no link).

Schema (sFlow-RT's "Topology"): ``{nodes: {name: {agent, dpid?, tags?, ports: {name:
{ifindex, ofport?, dpid?, tags?}}}}, links: {name: {node1, port1, node2, port2, tags?}}}``.
``nodes`` is optional: a link end whose node or port is not declared is resolved from
what the agents themselves report, the node name matched to a ``host_name`` metric
(→ agent) and the port name to an ``ifname`` metric (→ ifIndex) of that agent.

Rules (where sFlow-RT's documentation is silent, chosen and documented in docs/api.md):

* CORE ports: both ends of every resolved link. EDGE ports: every other interface (ifIndex)
  data source of a topology agent ("not on a link"), declared or not.
* Non-interface data sources (``2.1`` host, ``2.1000`` OVS bridge) belong to TOPOLOGY
  (all data sources of a topology agent) but to neither EDGE nor CORE.
* ``{}`` (no nodes, no links) clears the topology; without one, ``aggMode`` edge/core act
  like ``max`` and the agent tokens are refused (400).
* Unknown attributes inside nodes, ports and links are kept and returned (generators add
  their own), unknown top-level attributes are refused (a typo there would silently
  define an empty topology). Two links on one port, or two ports on one (agent, ifIndex),
  are refused: the link of a port must be unique.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from flowrt.engine.metric_query import MetricPoint

MAX_NODES = 10_000
MAX_PORTS = 200_000
"""Ports over all nodes (a 10,000-switch fabric at 20 ports each)."""
MAX_LINKS = 100_000
MAX_NAME_CHARS = 256
MAX_IFINDEX = 0xFFFFFFFF
EXACT_DIAMETER_NODES = 1000
"""Above this many linked nodes ``topologyDiameter`` uses the double sweep (see there)."""
LEARN_INTERVAL = 10.0
"""Seconds between two lookups of host_name/ifname for undeclared link ends."""
HOST_NAME_METRIC, IFNAME_METRIC = "host_name", "ifname"
EDGE, CORE = "edge", "core"
TOP_LEVEL = frozenset({"nodes", "links"})
LINK_ENDS = ("node1", "port1", "node2", "port2")

Interface = tuple[str, int]
"""(agent, ifIndex): where a port is seen in sFlow."""


class TopologyError(ValueError):
    """A topology body that cannot be used; the message names the bad item (a 400)."""


@dataclass(frozen=True, slots=True)
class Port:
    name: str
    ifindex: int | None


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    agent: str | None
    ports: Mapping[str, Port]


@dataclass(frozen=True, slots=True)
class Link:
    name: str
    node1: str
    port1: str
    node2: str
    port2: str


def _name(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TopologyError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > MAX_NAME_CHARS:
        raise TopologyError(f"{what} is longer than {MAX_NAME_CHARS} characters")
    return value


def _object(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise TopologyError(f"{what} must be a JSON object, got {type(value).__name__}")
    return value


def parse_ifindex(value: object) -> int | None:
    """An ifIndex as sent (``"3"`` in the schema, ``3`` also accepted) or None if not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    else:
        return None
    return number if 0 <= number <= MAX_IFINDEX else None


class Topology:
    """One validated topology body: nodes, ports and links by name (immutable)."""

    def __init__(self, spec: dict[str, Any], nodes: dict[str, Node], links: dict[str, Link]):
        self.spec = spec
        self.nodes = nodes
        self.links = links

    @classmethod
    def from_json(cls, body: object) -> Topology:
        """Validate a ``PUT /topology/json`` body; raises :class:`TopologyError`."""
        body = _object(body, "topology")
        unknown = sorted(set(body) - TOP_LEVEL)
        if unknown:
            raise TopologyError(f"unknown topology attribute(s) {unknown}; expected nodes, links")
        nodes_in = _object(body.get("nodes", {}), "nodes")
        links_in = _object(body.get("links", {}), "links")
        if len(nodes_in) > MAX_NODES:
            raise TopologyError(f"too many nodes ({len(nodes_in)}; at most {MAX_NODES})")
        if len(links_in) > MAX_LINKS:
            raise TopologyError(f"too many links ({len(links_in)}; at most {MAX_LINKS})")
        nodes: dict[str, Node] = {}
        declared: dict[Interface, str] = {}
        total_ports = 0
        for node_name, raw in nodes_in.items():
            _name(node_name, "node name")
            node = _object(raw, f"node {node_name!r}")
            agent = node.get("agent")
            if agent is not None:
                agent = _name(agent, f"node {node_name!r} agent")
            ports_in = _object(node.get("ports", {}), f"node {node_name!r} ports")
            total_ports += len(ports_in)
            if total_ports > MAX_PORTS:
                raise TopologyError(f"too many ports (at most {MAX_PORTS} over all nodes)")
            ports: dict[str, Port] = {}
            for port_name, port_raw in ports_in.items():
                _name(port_name, f"node {node_name!r} port name")
                port = _object(port_raw, f"port {node_name}/{port_name}")
                ifindex = None
                if "ifindex" in port:
                    ifindex = parse_ifindex(port["ifindex"])
                    if ifindex is None:
                        raise TopologyError(
                            f"port {node_name}/{port_name}: ifindex must be an integer "
                            f"0..{MAX_IFINDEX} (a number or a string of digits), "
                            f"got {port['ifindex']!r}")
                if ifindex is not None and agent is not None:
                    where = (agent, ifindex)
                    if where in declared:
                        raise TopologyError(
                            f"ports {declared[where]} and {node_name}/{port_name} are both "
                            f"agent {agent} ifindex {ifindex}")
                    declared[where] = f"{node_name}/{port_name}"
                ports[port_name] = Port(port_name, ifindex)
            nodes[node_name] = Node(node_name, agent, ports)
        links: dict[str, Link] = {}
        used: dict[tuple[str, str], str] = {}
        for link_name, raw in links_in.items():
            _name(link_name, "link name")
            link = _object(raw, f"link {link_name!r}")
            missing = [end for end in LINK_ENDS if end not in link]
            if missing:
                raise TopologyError(f"link {link_name!r} lacks {', '.join(missing)}")
            ends = [_name(link[end], f"link {link_name!r} {end}") for end in LINK_ENDS]
            for node_name, port_name in (ends[0:2], ends[2:4]):
                end_node = nodes.get(node_name)
                if end_node is not None and end_node.ports and port_name not in end_node.ports:
                    raise TopologyError(
                        f"link {link_name!r}: node {node_name!r} has no port {port_name!r}")
                if (node_name, port_name) in used:
                    raise TopologyError(
                        f"port {node_name}/{port_name} is on links {used[node_name, port_name]!r}"
                        f" and {link_name!r}")
                used[node_name, port_name] = link_name
            links[link_name] = Link(link_name, *ends)
        return cls(copy.deepcopy(dict(body)), nodes, links)

    @property
    def empty(self) -> bool:
        return not self.nodes and not self.links

    def unresolved_names(self) -> tuple[frozenset[str], frozenset[str]]:
        """(node names, port names) that only host_name/ifname metrics can resolve."""
        nodes, ports = set(), set()
        for link in self.links.values():
            for node_name, port_name in ((link.node1, link.port1), (link.node2, link.port2)):
                node = self.nodes.get(node_name)
                if node is None or node.agent is None:
                    nodes.add(node_name)
                port = node.ports.get(port_name) if node is not None else None
                if port is None or port.ifindex is None:
                    ports.add(port_name)
        return frozenset(nodes), frozenset(ports)


class TopologyStore:
    """The engine's current topology, its version, and the port classes derived from it.

    One instance lives for the engine's life (compiled ``link:`` keys and the queries
    hold it), while the topology inside is replaced by each PUT.
    """

    def __init__(self) -> None:
        self.topology: Topology | None = None
        self.version = 0
        self._agents: frozenset[str] = frozenset()
        self._links: dict[Interface, str] = {}
        self._ports: dict[Interface, tuple[str, str]] = {}
        self._want_nodes: frozenset[str] = frozenset()
        self._want_ports: frozenset[str] = frozenset()
        self._host_agents: dict[str, str] = {}
        self._ifindexes: dict[tuple[str, str], int] = {}
        self._next_learn = -float("inf")
        self._diameter: int | None = None

    # --- changes ------------------------------------------------------------------------
    def set(self, body: object) -> Topology:
        """Replace the topology (``{}`` clears it); the old one stays on TopologyError."""
        topology = Topology.from_json(body)
        self.topology = None if topology.empty else topology
        self.version += 1
        self._diameter = None
        self._host_agents, self._ifindexes = {}, {}
        self._next_learn = -float("inf")
        if self.topology is None:
            self._want_nodes = self._want_ports = frozenset()
        else:
            self._want_nodes, self._want_ports = self.topology.unresolved_names()
        self._derive()
        return topology

    def to_json(self) -> dict[str, Any]:
        """What was PUT (``{}`` when there is none)."""
        return copy.deepcopy(self.topology.spec) if self.topology is not None else {}

    # --- learning names from metrics ----------------------------------------------------
    @property
    def needs_names(self) -> bool:
        return bool(self._want_nodes or self._want_ports)

    def learn(self, points: Iterable[MetricPoint], now: float) -> bool:
        """Resolve undeclared link ends from host_name/ifname metrics (at most every
        :data:`LEARN_INTERVAL` s); True when the derived port classes changed."""
        if not self.needs_names or now < self._next_learn:
            return False
        self._next_learn = now + LEARN_INTERVAL
        hosts: dict[str, str] = {}
        ifindexes: dict[tuple[str, str], int] = {}
        for point in points:
            if point.name == HOST_NAME_METRIC and point.value in self._want_nodes:
                hosts[point.value] = point.agent
            elif point.name == IFNAME_METRIC and point.value in self._want_ports:
                ifindex = parse_ifindex(point.datasource)
                if ifindex is not None:
                    ifindexes[point.agent, point.value] = ifindex
        if hosts == self._host_agents and ifindexes == self._ifindexes:
            return False
        self._host_agents, self._ifindexes = hosts, ifindexes
        self._derive()
        return True

    def _derive(self) -> None:
        """Recompute agents, port locations and link ends from the topology + names."""
        topo = self.topology
        agents: set[str] = set()
        ports: dict[Interface, tuple[str, str]] = {}
        links: dict[Interface, str] = {}
        if topo is not None:
            for node in topo.nodes.values():
                agent = node.agent or self._host_agents.get(node.name)
                if agent is None:
                    continue
                agents.add(agent)
                for port in node.ports.values():
                    ifindex = port.ifindex
                    if ifindex is None:
                        ifindex = self._ifindexes.get((agent, port.name))
                    if ifindex is not None:
                        ports[agent, ifindex] = (node.name, port.name)
            for link in topo.links.values():
                for node_name, port_name in ((link.node1, link.port1), (link.node2, link.port2)):
                    where = self._locate(topo, node_name, port_name)
                    if where is not None:
                        agents.add(where[0])
                        ports.setdefault(where, (node_name, port_name))
                        links.setdefault(where, link.name)
        self._agents, self._ports, self._links = frozenset(agents), ports, links

    def _locate(self, topo: Topology, node_name: str, port_name: str) -> Interface | None:
        node = topo.nodes.get(node_name)
        agent = (node.agent if node is not None else None) or self._host_agents.get(node_name)
        if agent is None:
            return None
        port = node.ports.get(port_name) if node is not None else None
        ifindex = port.ifindex if port is not None else None
        if ifindex is None:
            ifindex = self._ifindexes.get((agent, port_name))
        return None if ifindex is None else (agent, ifindex)

    # --- questions ----------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return self.topology is not None

    @property
    def agents(self) -> frozenset[str]:
        """Agents of the topology's nodes (declared or learned)."""
        return self._agents

    def link_name(self, agent: str, ifindex: object) -> str | None:
        """The link on (agent, ifIndex), or None (not on a link, or not an ifIndex)."""
        if not self._links:
            return None
        number = ifindex if ifindex.__class__ is int else parse_ifindex(ifindex)
        return None if number is None else self._links.get((agent, number))

    def has_port(self, agent: str, ifindex: int) -> bool:
        """Whether (agent, ifIndex) is a port the topology knows (declared or on a link)."""
        return (agent, ifindex) in self._ports

    def port_class(self, agent: str, datasource: str) -> str | None:
        """``core``, ``edge`` or None (no topology, not a topology agent, or not an
        interface data source)."""
        if agent not in self._agents:
            return None
        ifindex = parse_ifindex(datasource)
        if ifindex is None:
            return None
        return CORE if (agent, ifindex) in self._links else EDGE

    def port_of(self, agent: str, ifindex: int) -> tuple[str, str] | None:
        """(node, port) names of (agent, ifIndex) (``topologyInterfaceToPort``)."""
        return self._ports.get((agent, ifindex))

    # --- graph questions for the script API (``topologyNodeLinks`` and friends) -----
    def node_agent(self, node_name: str) -> str | None:
        """The agent of a node, declared or learned from ``host_name``."""
        topo = self.topology
        if topo is None:
            return None
        node = topo.nodes.get(node_name)
        agent = node.agent if node is not None else None
        return agent or self._host_agents.get(node_name)

    def node_names(self) -> list[str]:
        """Every node: declared ones and those only named by a link end."""
        topo = self.topology
        if topo is None:
            return []
        names = set(topo.nodes)
        for link in topo.links.values():
            names.update((link.node1, link.node2))
        return sorted(names)

    def node_links(self, node_name: str) -> list[str]:
        """Names of the links with an end on ``node_name``."""
        topo = self.topology
        if topo is None:
            return []
        return sorted(name for name, link in topo.links.items()
                      if node_name in (link.node1, link.node2))

    def nodes_for_agent(self, agent: str, datasource: object = None) -> list[str]:
        """Nodes whose agent is ``agent``; with a data source, the node that owns that
        port when one does (an agent may front several nodes)."""
        if datasource is not None:
            ifindex = parse_ifindex(datasource)
            where = self._ports.get((agent, ifindex)) if ifindex is not None else None
            if where is not None:
                return [where[0]]
        return [name for name in self.node_names() if self.node_agent(name) == agent]

    def link_ends(self, link_name: str) -> list[tuple[str, str, Interface | None]] | None:
        """``[(node, port, (agent, ifIndex) or None), ...]`` for both ends, or None."""
        topo = self.topology
        link = topo.links.get(link_name) if topo is not None else None
        if topo is None or link is None:
            return None
        return [(node, port, self._locate(topo, node, port))
                for node, port in ((link.node1, link.port1), (link.node2, link.port2))]

    def diameter(self) -> int:
        """The longest shortest path, in links, between two connected nodes (0 if none).

        Exact (a breadth-first search from every node) up to :data:`EXACT_DIAMETER_NODES`
        nodes; above that the double sweep (a search from the node farthest from any
        start), a lower bound that is exact on trees and typical on fabrics. Cached per
        topology: mininet-dashboard asks every second.
        """
        if self._diameter is not None:
            return self._diameter
        topo = self.topology
        neighbours: dict[str, set[str]] = {}
        for link in topo.links.values() if topo is not None else ():
            if link.node1 != link.node2:
                neighbours.setdefault(link.node1, set()).add(link.node2)
                neighbours.setdefault(link.node2, set()).add(link.node1)
        longest = 0
        if len(neighbours) <= EXACT_DIAMETER_NODES:
            starts: list[str] = list(neighbours)
        else:
            starts = [_farthest(neighbours, next(iter(neighbours)))[0]]
        for start in starts:
            longest = max(longest, _farthest(neighbours, start)[1])
        self._diameter = longest
        return longest


def _farthest(neighbours: Mapping[str, set[str]], start: str) -> tuple[str, int]:
    """The node farthest from ``start`` by breadth-first search, and its distance."""
    seen = {start: 0}
    frontier = [start]
    last = (start, 0)
    while frontier:
        following = []
        for node in frontier:
            for other in neighbours[node]:
                if other not in seen:
                    seen[other] = seen[node] + 1
                    following.append(other)
                    last = (other, seen[other])
        frontier = following
    return last
