"""The web UI's HTTP routes: pages, shared assets, the API explorer, the flow browser.

Everything served here is a file that ships with FlowRT or with a Python package it
depends on: nothing is built at run time. sFlow-RT apps' pages load shared assets from
``/inc/`` (jQuery, Bootstrap, jQuery UI, DataTables and InMon's chart widgets), so the
same names are served here (:mod:`flowrt.web.assets`), which lets pages written for
sFlow-RT render unchanged.

Routes: ``/`` redirects to ``http.html.redirect``; ``/html/...`` the UI pages;
``/inc/...`` shared assets; ``/api/`` the REST API explorer (Swagger UI) over
``/api-docs`` (the OpenAPI document of :mod:`flowrt.web.openapi`);
``/flowrt/browse-flows/json`` the flow browser's trend; and
``/app/browse-flows/html/index.html`` redirects to the built-in flow browser with the
same query, so browse-flows bookmarks keep working when that app is not installed (an
installed browse-flows app is served instead); ``/app/<name>/api/`` is the API explorer
over an installed app's ``api.yml``; sFlow-RT's legacy ``/agents/html``,
``/metrics/html``, ``/flows/html``, ``/thresholds/html``, ``/events/html`` and
``/analyzer/html`` redirect to FlowRT's pages.
With ``http.html=no`` only ``/api-docs`` is served; with ``http.rest=no`` nothing here is
(the pages are built on the REST API). With ``http.readonly=yes`` the flow browser
answers 403: it works by defining temporary flows, and a GET must not change state.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from flowrt.api import app_clock, rest_enabled
from flowrt.api.app import INSTALLED_APP
from flowrt.config import Properties
from flowrt.engine import Engine
from flowrt.web import assets
from flowrt.web.browse import BrowseError, FlowBrowser
from flowrt.web.openapi import openapi_document

STATIC_DIR = Path(__file__).parent / "static"
HTML_DIR = STATIC_DIR / "html"
DEFAULT_REDIRECT = "./html/index.html"
BROWSE_FLOWS_APP_PAGE = "/app/browse-flows/html/index.html"
BROWSE_FLOWS_PAGE = "/html/flows.html"

LEGACY_PAGES = {
    "/agents/html": "/html/agents.html",
    "/metrics/html": "/html/metrics.html",
    "/flows/html": "/html/flows.html",
    "/thresholds/html": "/html/thresholds.html",
    "/events/html": "/html/events.html",
    "/analyzer/html": "/html/index.html",
}
"""sFlow-RT's ``/<thing>/html`` pages, which apps and bookmarks link to: FlowRT's pages."""

Clock = Callable[[], float]
BROWSER = web.AppKey("flow_browser", FlowBrowser)
WEB_CLOCK: web.AppKey[Clock] = web.AppKey("web_clock")
BROWSE_READONLY = web.AppKey("browse_readonly", bool)


def _redirect_target(props: Properties) -> str:
    """``http.html.redirect`` made absolute (sFlow-RT's default is ``./html/index.html``)."""
    target = props.get("http.html.redirect") or DEFAULT_REDIRECT
    if target.startswith("./"):
        target = target[1:]
    elif not target.startswith(("/", "http://", "https://")):
        target = "/" + target
    return target


def install_routes(
    app: web.Application, engine: Engine, props: Properties, clock: Clock | None = None
) -> None:
    """Add the web UI to ``app`` (``clock``: the engine's now; see
    :func:`flowrt.api.app_clock` for the default)."""
    if not rest_enabled(props):
        return
    app[WEB_CLOCK] = clock if clock is not None else app_clock(app)
    browser = app[BROWSER] = FlowBrowser(engine)
    app[BROWSE_READONLY] = bool(props.get_bool("http.readonly"))
    r = app.router
    r.add_get("/api-docs", api_docs)
    if props.get_bool("http.html") is False:
        return
    target = _redirect_target(props)

    async def root(request: web.Request) -> web.Response:
        raise web.HTTPFound(target)

    r.add_get("/", root)
    r.add_get("/api", api_slash)
    r.add_get("/api/", api_index)
    r.add_get("/api/{name}", api_asset)
    r.add_get("/inc/{name:.+}", inc_asset)
    r.add_get("/html/{name:.*}", html_page)
    r.add_get("/flowrt/browse-flows/json", browse_flows)
    r.add_get(BROWSE_FLOWS_APP_PAGE, browse_flows_app)
    r.add_get("/app/{name}/api/", app_api_page)
    r.add_get("/app/{name}/api/api.yml", app_api_yml)
    for legacy, page in LEGACY_PAGES.items():
        r.add_get(legacy, _redirect_to(page))

    async def close_browser(_: web.Application) -> None:
        browser.close()

    app.on_shutdown.append(close_browser)


def _file(path: Path | None) -> web.FileResponse:
    if path is None or not path.is_file():
        raise web.HTTPNotFound(text="not found")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache"})


async def api_docs(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(), dumps=lambda o: json.dumps(o, indent=1))


async def api_slash(request: web.Request) -> web.Response:
    raise web.HTTPFound("/api/")


async def api_index(request: web.Request) -> web.FileResponse:
    return _file(HTML_DIR / "api.html")


async def api_asset(request: web.Request) -> web.FileResponse:
    return _file(assets.swagger_file(request.match_info["name"]))


async def inc_asset(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    shim = assets.SHIMS.get(name)
    if shim is not None:
        return web.Response(text=shim, content_type="application/javascript")
    return _file(assets.inc_file(name))


async def html_page(request: web.Request) -> web.FileResponse:
    name = request.match_info["name"] or "index.html"
    return _file(assets.safe_join(HTML_DIR, name))


def _installed_app(request: web.Request, name: str) -> Path | None:
    """The folder of the installed app ``name``, or None."""
    lookup = request.app.get(INSTALLED_APP)
    return None if lookup is None else lookup(name)


async def browse_flows_app(request: web.Request) -> web.StreamResponse:
    """An installed browse-flows app always wins; without it, the built-in browser."""
    directory = _installed_app(request, "browse-flows")
    if directory is not None:
        return _file(directory / "html" / "index.html")
    query = request.query_string
    raise web.HTTPFound(BROWSE_FLOWS_PAGE + (f"?{query}" if query else ""))


async def app_api_page(request: web.Request) -> web.FileResponse:
    """``/app/<name>/api/``: the API explorer over the app's own ``api.yml``."""
    directory = _installed_app(request, request.match_info["name"])
    if directory is None or not (directory / "api.yml").is_file():
        raise web.HTTPNotFound(text="this app ships no API description")
    return _file(HTML_DIR / "app-api.html")


async def app_api_yml(request: web.Request) -> web.FileResponse:
    directory = _installed_app(request, request.match_info["name"])
    return _file(None if directory is None else directory / "api.yml")


def _redirect_to(page: str) -> Callable[[web.Request], Any]:
    async def redirect(request: web.Request) -> web.Response:
        query = request.query_string
        raise web.HTTPFound(page + (f"?{query}" if query else ""))

    return redirect


async def browse_flows(request: web.Request) -> web.Response:
    if request.app[BROWSE_READONLY]:
        return web.json_response(
            {"error": "the flow browser defines temporary flows, which http.readonly=yes"
                      " forbids; query a defined flow with /activeflows/ALL/<name>/json"},
            status=403)
    q = request.query
    after: int | None = None
    if q.get("after"):
        try:
            after = int(float(q["after"]))
        except (ValueError, OverflowError):  # not a number, or inf / 1e400
            return web.json_response({"error": f"after={q['after']!r} is not a time"}, status=400)
    try:
        body = request.app[BROWSER].trend(
            q.get("keys", ""), q.get("value", ""), q.get("filter", ""), after,
            request.app[WEB_CLOCK](),
        )
    except BrowseError as err:
        return web.json_response({"error": str(err)}, status=400)
    return web.json_response(body)


__all__ = ["install_routes"]
