"""FlowRT's OpenAPI description, served at ``/api-docs`` and browsed at ``/api/``.

sFlow-RT ships an OpenAPI file for its REST API; FlowRT's is generated from the table
below, one row per (method, path). A test builds the real aiohttp application and
compares its routes with this table, so a route added without documentation (or
documentation of a route that is gone) fails the build rather than drifting.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from flowrt import __version__
from flowrt.api.args import MAX_BODY_BYTES

OPENAPI_VERSION = "3.0.3"
JSON, TEXT = "application/json", "text/plain"
_PATH_PARAM = re.compile(r"{(\w+)}")

PARAM_DOCS = {
    "agent": "agent address, several joined by ';', or ALL, TOPOLOGY, EDGE, CORE",
    "metric": "metric names joined by ',' (optionally agg:ds.name), or ALL",
    "name": "name of the definition",
    "router": "the router's address, as given to bgpAddNeighbor",
}


STRING: dict[str, Any] = {"type": "string"}
QUERY_SCHEMAS: dict[str, dict[str, Any]] = {
    "maxFlows": {"type": "integer", "minimum": 0},
    "maxEvents": {"type": "integer", "minimum": 0},
    "flowID": {"type": "integer", "minimum": -1},
    "eventID": {"type": "integer", "minimum": -1},
    "minValue": {"type": "number"},
    "timeout": {"type": "number", "minimum": 0},
    "after": {"type": "number"},
    "aggMode": {"type": "string", "enum": ["max", "sum", "edge", "core", "agent"]},
}
"""Each query argument's real type, as :mod:`flowrt.api.args` checks it (the rest are
text), so generated clients and API fuzzers send what the server reads."""


@dataclass(frozen=True)
class Endpoint:
    """One documented operation."""

    method: str
    path: str
    tag: str
    summary: str
    query: tuple[tuple[str, str], ...] = ()
    body: str | None = None  # what a PUT/POST body holds
    produces: str = JSON
    responses: dict[str, str] = field(default_factory=dict)


def _crud(kind: str, tag: str, what: str) -> list[Endpoint]:
    return [
        Endpoint("GET", f"/{kind}/json", tag, f"all {what}s"),
        Endpoint("GET", f"/{kind}/{{name}}/json", tag, f"one {what}"),
        Endpoint("PUT", f"/{kind}/{{name}}/json", tag, f"create or replace a {what}",
                 body=f"the {what}"),
        Endpoint("DELETE", f"/{kind}/{{name}}/json", tag, f"delete a {what}"),
    ]


FILTER = (("filter", "metric filter: any query argument name=value (repeat to OR)"),)
ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/version", "server", "FlowRT version", produces=TEXT),
    Endpoint("GET", "/license/json", "server", "license (FlowRT is open source)"),
    Endpoint("GET", "/analyzer/json", "server", "collector statistics and health"),
    Endpoint("GET", "/agents/json", "agents", "agents with datagram and sample loss",
             query=(("agent", "restrict to these agents"),)),
    Endpoint("GET", "/metrics/json", "metrics", "metric names and their age (ms)"),
    Endpoint("GET", "/metric/{agent}/json", "metrics", "every metric of one agent"),
    Endpoint("GET", "/metric/{agent}/{metric}/json", "metrics",
             "one statistic per metric over the agents", query=FILTER),
    Endpoint("GET", "/dump/{agent}/{metric}/json", "metrics", "every matching value",
             query=FILTER),
    Endpoint("GET", "/table/{agent}/{metric}/json", "metrics", "one row per data source",
             query=FILTER),
    Endpoint("GET", "/flowkeys/json", "flows", "flow keys seen recently"),
    *_crud("flow", "flows", "flow definition"),
    Endpoint("GET", "/activeflows/{agent}/{name}/json", "flows", "largest flows now",
             query=(("maxFlows", "most flows (100)"), ("minValue", "smallest value"),
                    ("aggMode", "max, sum, edge or core"),
                    ("filter", "filter over the flow's key names, e.g. ipsource=10.0.0.1"))),
    Endpoint("GET", "/flowvalue/{agent}/{name}/json", "flows",
             "value of one key at one data source ({name} is <ds>.<flow>)",
             query=(("key", "the flow key"),)),
    Endpoint("GET", "/flowlocations/{agent}/{name}/json", "flows",
             "data sources where one flow key is seen now, largest first",
             query=(("key", "the flow key"),)),
    Endpoint("GET", "/flows/json", "flows", "logged flows (long-poll)",
             query=(("flowID", "after this id"), ("name", "one flow"),
                    ("maxFlows", "most records (100; capped at 1000)"),
                    ("timeout", "seconds to wait (0; capped at 60)"))),
    *_crud("threshold", "thresholds", "threshold"),
    Endpoint("GET", "/events/json", "thresholds", "threshold events (long-poll)",
             query=(("eventID", "after this id"), ("thresholdID", "one threshold"),
                    ("maxEvents", "most events (100; capped at 1000)"),
                    ("timeout", "seconds to wait (0; capped at 60)"))),
    *_crud("group", "groups", "address group set"),
    *_crud("map", "groups", "value map"),
    Endpoint("GET", "/topology/json", "topology",
             "the network topology as PUT ({} when none); version in X-FlowRT-Topology-Version"),
    Endpoint("PUT", "/topology/json", "topology",
             "replace the network topology ({} clears it)",
             body="the topology: {nodes: {name: {agent, ports: {name: {ifindex}}}}, "
                  "links: {name: {node1, port1, node2, port2}}}"),
    Endpoint("GET", "/prometheus/metrics/{agent}/{metric}/txt", "prometheus",
             "metrics in Prometheus text format", query=FILTER, produces=TEXT),
    Endpoint("GET", "/scripts/json", "scripts", "each script's counters, liveness and error"),
    Endpoint("GET", "/apps/json", "scripts", "installed apps: entry page and scripts"),
    Endpoint("GET", "/status", "scripts", "OK (200) when every script is alive, else 503",
             produces=TEXT),
    Endpoint("GET", "/app/{name}/status", "scripts", "OK (200) or UNAVAILABLE (503) for one app",
             produces=TEXT),
    Endpoint("GET", "/bgp/neighbors/json", "bgp",
             "BGP neighbors: configuration, session state, families, counts (bgp.start=yes)"),
    Endpoint("GET", "/bgp/routepusher/{router}/json", "bgp",
             "routes installed for one BGP neighbor (bgpAddRoute)"),
    Endpoint("GET", "/bgp/flowspec/{router}/json", "bgp",
             "FlowSpec rules installed for one BGP neighbor (bgpAddFlow)"),
    Endpoint("GET", "/prometheus/analyzer/txt", "prometheus",
             "collector health in Prometheus text format", produces=TEXT),
    Endpoint("GET", "/flowrt/browse-flows/json", "web",
             "flow browser trend (defines a temporary flowrt_browse_* flow; 403 when"
             " http.readonly=yes)",
             query=(("keys", "flow keys"), ("value", "value"), ("filter", "flow filter"),
                    ("after", "only points after this time (ms)"))),
)


def _operation(ep: Endpoint) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"},
         "description": PARAM_DOCS.get(p, p)}
        for p in _PATH_PARAM.findall(ep.path)
    ]
    params += [{"name": q, "in": "query", "required": False,
                "schema": dict(QUERY_SCHEMAS.get(q, STRING)), "description": doc}
               for q, doc in ep.query]
    ok = "204" if ep.method in ("PUT", "DELETE") else "200"
    responses: dict[str, Any] = {
        ok: {"description": "success"} if ok == "204" else {
            "description": "success", "content": {ep.produces: {"schema": {}}}},
        "400": {"description": "bad request ({error: message} naming the argument)"},
    }
    if "{name}" in ep.path or ep.method == "DELETE":
        responses["404"] = {"description": "no such name"}
    if ep.method != "GET":
        responses["401"] = {"description": "http.token is set and the request lacks"
                                           " 'Authorization: Bearer <token>'"}
        responses["403"] = {"description": "read-only server (http.readonly=yes)"}
    if ep.body:
        responses["413"] = {"description": f"body over {MAX_BODY_BYTES} bytes"}
    op: dict[str, Any] = {"tags": [ep.tag], "summary": ep.summary, "parameters": params,
                          "responses": responses,
                          "operationId": f"{ep.method.lower()}{_op_id(ep.path)}"}
    if ep.body:
        op["requestBody"] = {"required": True, "description": ep.body,
                             "content": {JSON: {"schema": {"type": "object"}}}}
    return op


def _op_id(path: str) -> str:
    return "".join(part.strip("{}").title() for part in re.split(r"[/\-]", path) if part)


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3 document for every REST resource in :data:`ENDPOINTS`."""
    paths: dict[str, dict[str, Any]] = {}
    for ep in ENDPOINTS:
        paths.setdefault(ep.path, {})[ep.method.lower()] = _operation(ep)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "FlowRT REST API", "version": __version__,
                 "description": "sFlow-RT compatible REST API of FlowRT."},
        "paths": paths,
    }


def documented_routes() -> set[tuple[str, str]]:
    """(METHOD, path) of every documented operation: what the route test compares."""
    return {(ep.method, ep.path) for ep in ENDPOINTS}
