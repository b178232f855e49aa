"""``/bgp/...``: the BGP speaker's neighbors and what is installed for each (read only).

``/bgp/neighbors/json`` is FlowRT's own (sFlow-RT shows session state only through
apps): every configured router with its session state, negotiated families, hold time,
message counts and last error. ``/bgp/routepusher/{router}/json`` and
``/bgp/flowspec/{router}/json`` list the routes and FlowSpec rules installed for one
router, in the forms ``bgpAddRoute`` and ``bgpAddFlow`` take. With the speaker off
(``bgp.start`` not yes) each answers 404 saying so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from flowrt.api.errors import not_found
from flowrt.bgp import BgpSpeaker

SPEAKER = web.AppKey("bgp_speaker", object)
RESPOND = web.AppKey("bgp_respond", object)
Respond = Callable[[web.Request, Any], web.Response]


def install_routes(app: web.Application, speaker: BgpSpeaker | None,
                   respond: Respond) -> None:
    """``respond(request, body)`` renders JSON the way the rest of the API does."""
    app[SPEAKER] = speaker
    app[RESPOND] = respond
    app.router.add_get("/bgp/neighbors/json", neighbors)
    app.router.add_get("/bgp/routepusher/{router}/json", routes)
    app.router.add_get("/bgp/flowspec/{router}/json", flows)


def _speaker(request: web.Request) -> BgpSpeaker:
    speaker = request.app[SPEAKER]
    if not isinstance(speaker, BgpSpeaker):
        raise not_found("the BGP speaker is off: start FlowRT with -Dbgp.start=yes")
    return speaker


def _json(request: web.Request, body: Any) -> web.Response:
    respond: Respond = request.app[RESPOND]  # type: ignore[assignment]
    return respond(request, body)


async def neighbors(request: web.Request) -> web.Response:
    return _json(request, _speaker(request).neighbors_json())


async def routes(request: web.Request) -> web.Response:
    router = request.match_info["router"]
    result = _speaker(request).routes_json(router)
    if result is None:
        raise not_found(f"no BGP neighbor {router} (bgpAddNeighbor)")
    return _json(request, result)


async def flows(request: web.Request) -> web.Response:
    router = request.match_info["router"]
    result = _speaker(request).flows_json(router)
    if result is None:
        raise not_found(f"no BGP neighbor {router} (bgpAddNeighbor)")
    return _json(request, result)
