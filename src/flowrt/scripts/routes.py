"""HTTP routes of scripts and apps (/scripts, /apps, /app/{name}/..., setHttpHandler).

* ``/app/{name}/html/{path}``: the app's static files (``index.html`` for a directory);
* ``/app/{name}/scripts/{script}/{p1}/.../{format}``: the script's ``setHttpHandler``,
  with ``req = {method, path: [p1, ...], format, query: {k: [v, ...]}, body, error}``;
  ``/script/{script}/...`` does the same for ``script.file`` scripts;
* ``/scripts/json``, ``/apps/json``; ``/app/{name}/status`` and ``/status`` answer
  ``OK`` (200) or ``UNAVAILABLE`` (503).

A handler's answer: an object or array → JSON; a string → sent as is (``text/plain``,
or ``application/json`` for the ``json`` format, since scripts often return JSON they
built themselves); nothing → 204. A thrown ``'not_found'``, ``'bad_request'``, ... →
that status (see :data:`~flowrt.scripts.runtime.THROWN_STATUS`); a Python script raises
``Exception('not_found')``. A script that does not answer within
:data:`~flowrt.scripts.runtime.HTTP_HANDLER_TIMEOUT` gets the client a 503; a full inbox
too (``requestsLost``). A JSON body nested deeper than
:data:`~flowrt.api.args.MAX_JSON_DEPTH` is refused with a 400 before the script sees it,
and a body not sent within ``http.body.timeout`` with a 408 (the REST API's own limits).
With ``http.rest=no`` the status and listing routes (part of the REST API) are not
served; apps' pages and script handlers are.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import mimetypes
import time
from typing import Any

from aiohttp import web

from flowrt.api import error_response, rest_enabled
from flowrt.api.app import INSTALLED_APP
from flowrt.api.args import check_json_depth, read_body
from flowrt.scripts.host import ScriptHost
from flowrt.scripts.runtime import HTTP_HANDLER_TIMEOUT, HttpJob

SCRIPT_HOST = web.AppKey("script_host", ScriptHost)
MAX_REQUEST_BYTES = 1024 * 1024
TEXT_TYPES = {"json": "application/json", "txt": "text/plain", "html": "text/html",
              "csv": "text/csv", "xml": "application/xml"}


def install_routes(app: web.Application, host: ScriptHost) -> None:
    """Add the script and app routes to ``app`` (call before the app is frozen)."""
    app[SCRIPT_HOST] = host
    app[INSTALLED_APP] = host.installed_app
    r = app.router
    if rest_enabled(host.props):
        r.add_get("/scripts/json", scripts_json)
        r.add_get("/apps/json", apps_json)
        r.add_get("/status", status)
        r.add_get("/app/{name}/status", app_status)
    r.add_get("/app/{name}/html/{path:.*}", app_html)
    r.add_route("*", "/app/{name}/scripts/{script}/{tail:.*}", app_script)
    r.add_route("*", "/script/{script}/{tail:.*}", standalone_script)


def _json(body: Any) -> web.Response:
    return web.Response(text=json.dumps(body), content_type="application/json")


_error = error_response  # one shape for every refusal, the REST API's and the scripts' alike


async def scripts_json(request: web.Request) -> web.Response:
    return _json(request.app[SCRIPT_HOST].status_json())


async def apps_json(request: web.Request) -> web.Response:
    return _json(request.app[SCRIPT_HOST].apps_json())


def _ok(healthy: bool) -> web.Response:
    return web.Response(status=200 if healthy else 503, text="OK" if healthy else "UNAVAILABLE",
                        content_type="text/plain")


async def status(request: web.Request) -> web.Response:
    return _ok(request.app[SCRIPT_HOST].overall_status())


async def app_status(request: web.Request) -> web.Response:
    verdict = request.app[SCRIPT_HOST].app_status(request.match_info["name"])
    if verdict is None:
        return _error(404, f"no app named {request.match_info['name']!r}")
    return _ok(verdict)


async def app_html(request: web.Request) -> web.StreamResponse:
    host = request.app[SCRIPT_HOST]
    directory = host.apps.get(request.match_info["name"])
    if directory is None:
        return _error(404, f"no app named {request.match_info['name']!r}")
    root = (directory / "html").resolve()
    target = (root / request.match_info["path"]).resolve()
    if target != root and root not in target.parents:
        return _error(404, "no such file")
    if target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return _error(404, "no such file")
    kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return web.FileResponse(target, headers={"Content-Type": kind})


async def app_script(request: web.Request) -> web.StreamResponse:
    m = request.match_info
    return await _dispatch(request, m["name"], m["script"], m["tail"])


async def standalone_script(request: web.Request) -> web.StreamResponse:
    m = request.match_info
    return await _dispatch(request, None, m["script"], m["tail"])


async def _request_object(request: web.Request, tail: str) -> dict[str, Any]:
    parts = [p for p in tail.split("/") if p]
    fmt = parts.pop() if parts else ""
    query: dict[str, list[str]] = {}
    for key, value in request.query.items():
        query.setdefault(key, []).append(value)
    req: dict[str, Any] = {"method": request.method, "path": parts, "format": fmt,
                           "query": query}
    raw = await read_body(request) if request.can_read_body else b""
    if raw:
        text = raw.decode("utf-8", "replace")
        check_json_depth(text)
        try:
            req["body"] = json.loads(text)
        except ValueError:
            req["body"] = text
            req["error"] = True
    return req


LOAD_WAIT_SECONDS = 5.0
LOAD_POLL_SECONDS = 0.01


async def _dispatch(request: web.Request, app: str | None, script: str,
                    tail: str) -> web.StreamResponse:
    host = request.app[SCRIPT_HOST]
    runtime = host.script_for(app, script)
    if runtime is not None and not runtime.loaded.is_set():
        # still running its top level (where setHttpHandler usually is): wait, briefly
        deadline = time.monotonic() + LOAD_WAIT_SECONDS
        while not runtime.loaded.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(LOAD_POLL_SECONDS)
    if runtime is None or not runtime.has_http_handler():
        return _error(404, f"no HTTP handler for script {script!r}")
    if request.content_length and request.content_length > MAX_REQUEST_BYTES:
        return _error(413, f"request body over {MAX_REQUEST_BYTES} bytes")
    req = await _request_object(request, tail)
    future: concurrent.futures.Future[tuple[int, Any, bool]] = concurrent.futures.Future()
    if not runtime.offer_http(HttpJob(req, future)):
        return _error(503, f"script {script!r} is busy (requestsLost)")
    try:
        status_code, body, is_json = await asyncio.wait_for(
            asyncio.wrap_future(future), HTTP_HANDLER_TIMEOUT)
    except TimeoutError:
        future.cancel()
        return _error(503, f"script {script!r} did not answer within "
                           f"{HTTP_HANDLER_TIMEOUT:g} s")
    if body is None:
        return web.Response(status=status_code)
    if status_code >= 400 and isinstance(body, dict) and isinstance(body.get("error"), str):
        return _error(status_code, body["error"])  # thrown: rendered as the REST API's are
    if is_json or req["format"] == "json":
        # a string answer to a .../json request is sent as a JSON string, as sFlow-RT
        # does ($.getJSON('version/json') reads it)
        return web.Response(status=status_code, text=json.dumps(body),
                            content_type="application/json")
    return web.Response(status=status_code, text=str(body),
                        content_type=TEXT_TYPES.get(req["format"], "text/plain"))
