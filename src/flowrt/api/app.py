"""The sFlow-RT compatible REST API: routes, each one "parse arguments, ask the engine,
serialize".

Paths, query arguments, defaults and JSON shapes follow sFlow-RT's REST API,
so existing scripts, curl calls and dashboards work unchanged. The handlers hold no
state of their own: every answer is computed from the :class:`~flowrt.engine.core.Engine`
at the time the engine's ``clock`` says (wall time, or the replay clock when replaying a
capture). Refusals are raised as typed errors and turned into ``{"error": ...}`` bodies by
:mod:`flowrt.api.errors`.

Choices where sFlow-RT is silent or where bounded memory demands it:

* ``maxFlows``/``maxEvents`` are clamped to :data:`MAX_RECORDS` and long-poll ``timeout``
  to :data:`MAX_TIMEOUT` seconds (a client asking for more gets the cap, not an error);
* group sets and maps are capped at :data:`MAX_LOOKUP_SETS` each (each one is already
  bounded in size by :mod:`flowrt.engine.groups`);
* request bodies over :data:`MAX_BODY_BYTES` are refused with 413;
* with ``http.readonly=yes`` every method but GET/HEAD/OPTIONS is refused with 403, on
  every route of the application (script and app handlers included): an allow-list, so
  PATCH or an invented method cannot slip past;
* with ``http.token`` set, every method but GET/HEAD/OPTIONS needs
  ``Authorization: Bearer <token>``, on every route (401 otherwise, counted in
  ``httpUnauthorized``); reads stay open;
* with ``http.rest=no`` the REST routes are not installed (404);
* no GET changes state, in any mode.
* a long-poll whose client has gone away is released within
  :data:`~flowrt.api.longpoll.DISCONNECT_CHECK_SECONDS`, whatever the HTTP server's
  handler-cancellation setting.
"""

from __future__ import annotations

import hmac
import json
import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from flowrt import __version__
from flowrt.api import bgp as bgp_routes
from flowrt.api import engine_view
from flowrt.api.args import (
    BODY_TIMEOUT,
    DEFAULT_BODY_TIMEOUT,
    MAX_BODY_BYTES,
    choice_arg,
    float_arg,
    int_arg,
    json_object,
    list_arg,
    metric_filter,
)
from flowrt.api.errors import JSON_TYPE, ApiError, Handler, error_middleware, not_found
from flowrt.api.longpoll import Wakeup, long_poll
from flowrt.bgp import BgpSpeaker
from flowrt.config import ConfigError, Properties
from flowrt.engine import Engine

MAX_RECORDS = 1000
"""Most flows/events one request returns (= the default ``flows.max``/``events.max``)."""
DEFAULT_MAX_FLOWS = 100
DEFAULT_MAX_EVENTS = 100
MAX_TIMEOUT = 60.0
"""Longest long-poll; clients re-poll in a loop, so longer holds gain nothing."""
MAX_LOOKUP_SETS = 1000
AGG_MODES = frozenset({"max", "sum", "edge", "core", "agent"})  # as FlowSpec accepts
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""What ``http.readonly=yes`` still allows; everything else may change state."""
NO_CURSOR = -1

Clock = Callable[[], float]

ENGINE = web.AppKey("engine", Engine)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
FLOW_WAKEUP = web.AppKey("flow_wakeup", Wakeup)
EVENT_WAKEUP = web.AppKey("event_wakeup", Wakeup)
JSON_INDENT = web.AppKey("json_indent", int)
INSTALLED_APP: web.AppKey[Callable[[str], Path | None]] = web.AppKey("installed_app")
"""The folder of an installed app by name (set by the script host), so pages served by
other edges can let an installed app win without importing the script host."""


def app_clock(app: web.Application) -> Clock:
    """The engine clock the REST API was given for ``app``, or wall time: the routes other
    packages add to the API's application (scripts, /prometheus, the web UI) read the same
    now as the API, which during a replay is the capture's timeline."""
    return app.get(CLOCK, time.time)


def create_app(engine: Engine, clock: Clock, props: Properties | None = None,
               bgp: BgpSpeaker | None = None) -> web.Application:
    """The aiohttp application serving ``engine``; ``clock()`` gives the engine's now;
    ``bgp`` is the BGP speaker when ``bgp.start=yes`` (its ``/bgp/...`` views)."""
    props = props if props is not None else engine.props
    middlewares: list[Any] = [error_middleware]
    token = props.get("http.token") or ""
    if token:
        middlewares.append(_token_middleware(token, engine))
    if props.get_bool("http.readonly"):
        middlewares.append(_readonly_middleware)
    body_timeout = props.get_float("http.body.timeout", DEFAULT_BODY_TIMEOUT)
    if body_timeout is None or not 0 < body_timeout < math.inf:
        raise ConfigError(f"property http.body.timeout={body_timeout} must be over 0")
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=middlewares)
    app[BODY_TIMEOUT] = body_timeout
    app[ENGINE] = engine
    app[CLOCK] = clock
    app[JSON_INDENT] = max(0, props.get_int("http.json.indent") or 0)
    app[FLOW_WAKEUP] = Wakeup()
    app[EVENT_WAKEUP] = Wakeup()
    engine_view.subscribe_flow_log(engine, app[FLOW_WAKEUP].notify)
    engine_view.subscribe_event_log(engine, app[EVENT_WAKEUP].notify)
    app.on_shutdown.append(_release_long_polls)
    if rest_enabled(props):
        _add_routes(app)
        bgp_routes.install_routes(app, bgp, json_response)
    return app


def rest_enabled(props: Properties) -> bool:
    """``http.rest`` (yes unless set to no): whether the REST API is served at all."""
    return props.get_bool("http.rest") is not False


BEARER = "bearer"


def _token_middleware(token: str, engine: Engine) -> Any:
    """Writes need ``Authorization: Bearer <token>`` (compared in constant time)."""
    expected = token.encode()

    @web.middleware
    async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in READ_METHODS:
            scheme, _, given = request.headers.get("Authorization", "").strip().partition(" ")
            if scheme.lower() != BEARER or not hmac.compare_digest(
                given.strip().encode(), expected
            ):
                engine.counters.http.unauthorized += 1
                why = "wrong token" if scheme.lower() == BEARER else "no bearer token"
                raise ApiError(
                    401, f"{request.method} needs 'Authorization: Bearer <token>' with the"
                    f" server's http.token ({why}); reads (GET) need none",
                    headers={"WWW-Authenticate": 'Bearer realm="flowrt"'},
                )
        return await handler(request)

    return require_token


async def _release_long_polls(app: web.Application) -> None:
    app[FLOW_WAKEUP].close()
    app[EVENT_WAKEUP].close()


@web.middleware
async def _readonly_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in READ_METHODS:
        raise ApiError(
            403, f"the REST API is read-only (http.readonly=yes): {request.method} refused;"
            " only GET, HEAD and OPTIONS are served"
        )
    return await handler(request)


def _add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/version", version)
    r.add_get("/license/json", license_json)
    r.add_get("/analyzer/json", analyzer)
    r.add_get("/agents/json", agents)
    r.add_get("/metrics/json", metrics)
    r.add_get("/metric/{agent}/json", agent_metrics)
    r.add_get("/metric/{agent}/{metric}/json", metric)
    r.add_get("/dump/{agent}/{metric}/json", dump)
    r.add_get("/table/{agent}/{metric}/json", table)
    r.add_get("/flowkeys/json", flow_keys)
    r.add_get("/flow/json", flows_defined)
    r.add_get("/flow/{name}/json", flow_get)
    r.add_put("/flow/{name}/json", flow_put)
    r.add_delete("/flow/{name}/json", flow_delete)
    r.add_get("/activeflows/{agent}/{name}/json", active_flows)
    r.add_get("/flowvalue/{agent}/{name}/json", flow_value)
    r.add_get("/flowlocations/{agent}/{name}/json", flow_locations)
    r.add_get("/flows/json", flow_log)
    r.add_get("/threshold/json", thresholds_defined)
    r.add_get("/threshold/{name}/json", threshold_get)
    r.add_put("/threshold/{name}/json", threshold_put)
    r.add_delete("/threshold/{name}/json", threshold_delete)
    r.add_get("/events/json", event_log)
    for kind in ("group", "map"):
        r.add_get(f"/{kind}/json", lookup_list)
        r.add_get(f"/{kind}/{{name}}/json", lookup_get)
        r.add_put(f"/{kind}/{{name}}/json", lookup_put)
        r.add_delete(f"/{kind}/{{name}}/json", lookup_delete)
    r.add_get("/topology/json", topology_get)
    r.add_put("/topology/json", topology_put)


# --- responses -------------------------------------------------------------------------------
def json_response(request: web.Request, body: Any) -> web.Response:
    indent = request.app[JSON_INDENT] or None
    return web.Response(text=json.dumps(body, indent=indent), content_type=JSON_TYPE)


def no_content() -> web.Response:
    """What sFlow-RT answers to a successful PUT or DELETE."""
    return web.Response(status=204)


def _engine(request: web.Request) -> tuple[Engine, float]:
    return request.app[ENGINE], request.app[CLOCK]()


# --- server ----------------------------------------------------------------------------------
async def version(request: web.Request) -> web.Response:
    return web.Response(text=__version__, content_type="text/plain")


async def license_json(request: web.Request) -> web.Response:
    """sFlow-RT's status page reads a license; an open-source server has a fixed one."""
    return json_response(request, {
        "license": {"type": "open-source", "license": "Apache-2.0", "product": "flowrt",
                    "host_ok": True, "max_bps": 0, "max_bps_ok": True, "expires_ok": True},
    })


async def analyzer(request: web.Request) -> web.Response:
    engine, now = _engine(request)
    return json_response(request, engine.analyzer(now))


async def agents(request: web.Request) -> web.Response:
    engine, now = _engine(request)
    selected = list_arg(request, "agent")
    return json_response(request, engine.agents.to_json(now, selected or None))


# --- metrics ---------------------------------------------------------------------------------
async def metrics(request: web.Request) -> web.Response:
    engine, now = _engine(request)
    return json_response(request, engine.metrics.metrics_json(now))


async def agent_metrics(request: web.Request) -> web.Response:
    engine, now = _engine(request)
    return json_response(request, engine.metrics.agent_metrics(request.match_info["agent"], now))


async def metric(request: web.Request) -> web.Response:
    engine, now = _engine(request)
    m = request.match_info
    return json_response(
        request, engine.metrics.metric_query(m["agent"], m["metric"], metric_filter(request), now)
    )


async def dump(request: web.Request) -> web.Response:
    engine, now = _engine(request)
    m = request.match_info
    return json_response(
        request, engine.dump_metrics(m["agent"], m["metric"], metric_filter(request), now)
    )


async def table(request: web.Request) -> web.Response:
    engine, now = _engine(request)
    m = request.match_info
    return json_response(
        request, engine.metrics.table_query(m["agent"], m["metric"], metric_filter(request), now)
    )


# --- flows -----------------------------------------------------------------------------------
async def flow_keys(request: web.Request) -> web.Response:
    engine, now = _engine(request)
    return json_response(request, engine_view.flow_keys(engine, now))


async def flows_defined(request: web.Request) -> web.Response:
    engine, _ = _engine(request)
    return json_response(request, engine_view.flow_specs(engine))


async def flow_get(request: web.Request) -> web.Response:
    engine, _ = _engine(request)
    name = request.match_info["name"]
    spec = engine_view.flow_specs(engine).get(name)
    if spec is None:
        raise not_found(f"no flow named {name!r}")
    return json_response(request, spec)


async def flow_put(request: web.Request) -> web.Response:
    engine, _ = _engine(request)
    body = await json_object(request, "flow definition")
    engine.set_flow(request.match_info["name"], body)
    return no_content()


async def flow_delete(request: web.Request) -> web.Response:
    engine, _ = _engine(request)
    name = request.match_info["name"]
    if not engine.delete_flow(name):
        raise not_found(f"no flow named {name!r}")
    return no_content()


async def active_flows(request: web.Request) -> web.Response:
    engine, now = _engine(request)
    name = request.match_info["name"]
    max_flows = int_arg(request, "maxFlows", DEFAULT_MAX_FLOWS, minimum=0, maximum=MAX_RECORDS)
    min_value = float_arg(request, "minValue", 0.0)
    agg_mode = choice_arg(request, "aggMode", AGG_MODES)
    key_filter = request.query.get("filter") or None
    if name not in engine_view.flow_specs(engine):
        raise not_found(f"no flow named {name!r}")
    return json_response(request, engine.active_flows(
        request.match_info["agent"], name, now, max_flows=max_flows, min_value=min_value,
        agg_mode=agg_mode, key_filter=key_filter,
    ))


async def flow_locations(request: web.Request) -> web.Response:
    """``/flowlocations/{agent}/{name}/json?key=k1,k2``: where a flow is seen now."""
    engine, now = _engine(request)
    name = request.match_info["name"]
    key = request.query.get("key")
    if key is None:
        raise ApiError(400, "query argument key is required (the flow key, fields joined by fs)")
    if name not in engine_view.flow_specs(engine):
        raise not_found(f"no flow named {name!r}")
    return json_response(
        request, engine.flow_locations(request.match_info["agent"], name, key, now)
    )


async def flow_value(request: web.Request) -> web.Response:
    """``/flowvalue/{agent}/{ds}.{flow}/json?key=k1,k2``: one key's value, a JSON number."""
    engine, now = _engine(request)
    qualified = request.match_info["name"]
    datasource, dot, name = qualified.rpartition(".")
    if not dot or not datasource or not name:
        raise ApiError(400, f"expected <dataSource>.<flow> in the path, got {qualified!r}")
    key = request.query.get("key")
    if key is None:
        raise ApiError(400, "query argument key is required (the flow key, fields joined by fs)")
    if name not in engine_view.flow_specs(engine):
        raise not_found(f"no flow named {name!r}")
    value = engine_view.flow_value(engine, request.match_info["agent"], datasource, name, key, now)
    return json_response(request, value)


async def flow_log(request: web.Request) -> web.Response:
    """``/flows/json``: logged flows newer than ``flowID``, newest first; long-polls."""
    engine, _ = _engine(request)
    name = request.query.get("name") or None
    if name is not None and name not in engine_view.flow_specs(engine):
        # 404 rather than an empty list a client would long-poll forever
        raise not_found(f"no flow named {name!r}")
    cursor = int_arg(request, "flowID", NO_CURSOR, minimum=NO_CURSOR)
    limit = int_arg(request, "maxFlows", DEFAULT_MAX_FLOWS, minimum=0, maximum=MAX_RECORDS)
    timeout = float_arg(request, "timeout", 0.0, minimum=0.0, maximum=MAX_TIMEOUT)
    records = await long_poll(
        lambda: engine_view.flow_records(engine, cursor, name, limit),
        request.app[FLOW_WAKEUP], timeout, connected=lambda: _connected(request),
    )
    return json_response(request, records)


def _connected(request: web.Request) -> bool:
    """Whether the client is still there to read the answer (aiohttp drops the transport
    when the peer closes; without handler cancellation the handler is not told)."""
    transport = request.transport
    return transport is not None and not transport.is_closing()


# --- thresholds and events -------------------------------------------------------------------
async def thresholds_defined(request: web.Request) -> web.Response:
    engine, _ = _engine(request)
    return json_response(request, engine_view.threshold_specs(engine))


async def threshold_get(request: web.Request) -> web.Response:
    engine, _ = _engine(request)
    name = request.match_info["name"]
    spec = engine_view.threshold_specs(engine).get(name)
    if spec is None:
        raise not_found(f"no threshold named {name!r}")
    return json_response(request, spec)


async def threshold_put(request: web.Request) -> web.Response:
    engine, _ = _engine(request)
    body = await json_object(request, "threshold definition")
    engine.set_threshold(request.match_info["name"], body)
    return no_content()


async def threshold_delete(request: web.Request) -> web.Response:
    engine, _ = _engine(request)
    name = request.match_info["name"]
    if not engine.delete_threshold(name):
        raise not_found(f"no threshold named {name!r}")
    return no_content()


async def event_log(request: web.Request) -> web.Response:
    """``/events/json``: events newer than ``eventID``, newest first; long-polls."""
    engine, _ = _engine(request)
    threshold = request.query.get("thresholdID") or None
    cursor = int_arg(request, "eventID", NO_CURSOR, minimum=NO_CURSOR)
    limit = int_arg(request, "maxEvents", DEFAULT_MAX_EVENTS, minimum=0, maximum=MAX_RECORDS)
    timeout = float_arg(request, "timeout", 0.0, minimum=0.0, maximum=MAX_TIMEOUT)
    records = await long_poll(
        lambda: engine_view.event_records(engine, cursor, threshold, limit),
        request.app[EVENT_WAKEUP], timeout, connected=lambda: _connected(request),
    )
    return json_response(request, records)


# --- groups and maps -------------------------------------------------------------------------
def _lookup_kind(request: web.Request) -> str:
    """``group`` or ``map``: the first path segment, which the route table guarantees."""
    return request.path.split("/", 2)[1]


def _lookup_table(engine: Engine, kind: str) -> Mapping[str, Any]:
    return engine.lookups.groups if kind == "group" else engine.lookups.maps


async def lookup_list(request: web.Request) -> web.Response:
    engine, _ = _engine(request)
    table = _lookup_table(engine, _lookup_kind(request))
    return json_response(request, {name: entry.spec for name, entry in table.items()})


async def lookup_get(request: web.Request) -> web.Response:
    engine, _ = _engine(request)
    kind, name = _lookup_kind(request), request.match_info["name"]
    entry = _lookup_table(engine, kind).get(name)
    if entry is None:
        raise not_found(f"no {kind} named {name!r}")
    return json_response(request, entry.spec)


async def lookup_put(request: web.Request) -> web.Response:
    engine, _ = _engine(request)
    kind, name = _lookup_kind(request), request.match_info["name"]
    body = await json_object(request, f"{kind} definition")
    table = _lookup_table(engine, kind)
    if name not in table and len(table) >= MAX_LOOKUP_SETS:
        raise ApiError(400, f"too many {kind}s (the limit is {MAX_LOOKUP_SETS}); delete one first")
    if kind == "group":
        engine.lookups.set_groups(name, body)
    else:
        engine.lookups.set_map(name, body)
    return no_content()


async def lookup_delete(request: web.Request) -> web.Response:
    engine, _ = _engine(request)
    kind, name = _lookup_kind(request), request.match_info["name"]
    found = (engine.lookups.delete_groups(name) if kind == "group"
             else engine.lookups.delete_map(name))
    if not found:
        raise not_found(f"no {kind} named {name!r}")
    return no_content()


# --- topology --------------------------------------------------------------------------------
TOPOLOGY_VERSION_HEADER = "X-FlowRT-Topology-Version"
"""The body is exactly what was PUT (clients GET, edit and PUT it back), so the version
(``topologyVersion()`` in scripts) travels in a header."""


async def topology_get(request: web.Request) -> web.Response:
    """``/topology/json``: the topology as PUT, ``{}`` when none is defined."""
    engine, _ = _engine(request)
    response = json_response(request, engine.get_topology())
    response.headers[TOPOLOGY_VERSION_HEADER] = str(engine.topology.version)
    return response


async def topology_put(request: web.Request) -> web.Response:
    """Replace the topology (``{}`` clears it); a bad body is a 400 naming the item."""
    engine, _ = _engine(request)
    engine.set_topology(await json_object(request, "topology"))
    return no_content()
