"""How the REST API says "no": every failure is a 4xx (or 5xx) with ``{"error": "..."}``.

sFlow-RT clients are scripts (curl, Python ``requests``, dashboards); they print what
the server sends back. So every refusal carries one readable sentence saying what was
wrong, as JSON (``application/json``, like every other answer of the ``/json`` API),
and never a traceback. The engine raises typed errors; this module is the one place
that decides their status codes:

* malformed input (bad JSON, wrong types, unknown attributes, filter syntax, bad query
  arguments) → 400;
* an unknown flow, threshold, group, map or agent → 404;
* a mutation while ``http.readonly=yes`` → 403;
* a mutation without the ``http.token`` bearer token, when one is set → 401;
* a method the resource does not take → 405 with its ``Allow`` header;
* a body over the size limit → 413;
* a cap reached (too many flows, groups...) → 400 naming the cap (what an operator can
  act on; 507 would be accurate but clients treat 5xx as "server broken");
* anything unexpected → 500 ``{"error": "internal error"}``, logged with its traceback.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web

from flowrt.config import ConfigError
from flowrt.engine import INPUT_ERRORS as ENGINE_INPUT_ERRORS
from flowrt.engine import UnknownAgentError
from flowrt.logline import rate_limited

log = rate_limited("flowrt.api")
"""Rate limited: a client can make a broken handler fail on every request."""

JSON_TYPE = "application/json"
INTERNAL_ERROR = "internal error"
MAX_MESSAGE_CHARS = 500
"""Messages quote the client's input; a 20,000-key body or an 8 kB name must not come
back as a 100 kB error sentence."""
ELLIPSIS = "..."
BODY_TOO_LARGE = 413


class ApiError(Exception):
    """A refusal decided by a handler: HTTP status plus the message the client sees."""

    def __init__(self, status: int, message: str, *, close_connection: bool = False,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})
        self.close_connection = close_connection
        """True when the rest of the request cannot or should not be read (an unreadable
        or oversized body): answer with ``Connection: close`` instead of draining it."""


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def error_response(status: int, message: str, *, close_connection: bool = False,
                   headers: Mapping[str, str] | None = None) -> web.Response:
    """The one shape of every error body (long messages cut to MAX_MESSAGE_CHARS)."""
    if len(message) > MAX_MESSAGE_CHARS:
        message = message[: MAX_MESSAGE_CHARS - len(ELLIPSIS)] + ELLIPSIS
    response = web.Response(
        status=status, text=json.dumps({"error": message}), content_type=JSON_TYPE,
        headers=headers,
    )
    if close_connection:
        response.force_close()
    return response


INPUT_ERRORS: tuple[type[Exception], ...] = (*ENGINE_INPUT_ERRORS, ConfigError)
"""Typed errors raised for bad client input (all mean 400); any other ``ValueError``
subclass is still a 400 below."""

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Translate every exception leaving a handler into a JSON error response."""
    try:
        return await handler(request)
    except ApiError as err:
        return error_response(err.status, err.message, close_connection=err.close_connection,
                              headers=err.headers)
    except UnknownAgentError as err:
        return error_response(404, str(err.args[0]) if err.args else "unknown agent")
    except INPUT_ERRORS as err:
        return error_response(400, str(err))
    except web.HTTPException as err:
        if err.status < 400:
            raise  # redirects and 2xx/3xx raised as exceptions pass through unchanged
        message = _http_message(err, request)
        if err.status == 404 and isinstance(err, web.HTTPNotFound):
            message += await _route_hint(request)
        # a body over the limit is not drained (it may be gigabytes): close instead
        allow = err.headers.get("Allow")  # a 405 says which methods the resource takes
        return error_response(err.status, message,
                              close_connection=err.status == BODY_TOO_LARGE,
                              headers={"Allow": allow} if allow is not None else None)
    except ValueError as err:
        # Engine input errors not listed above (a new module's own ValueError subclass):
        # still the client's input, still a 400 with the engine's message.
        return error_response(400, str(err))
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return error_response(500, INTERNAL_ERROR)


REST_FORMATS = ("json", "txt")
"""The last path segment of every REST route (``/flow/{name}/json``)..."""
TEXT_ROUTES = frozenset({"/version", "/status"})
"""...but for these two."""


async def _route_hint(request: web.Request) -> str:
    """" (did you mean /flow/pair/json?)" for the usual slips on a REST route.

    Operators type a trailing slash, leave out the format segment or ask for the wrong
    one (``/prometheus/.../json``). A candidate is offered only when a REST route (one
    ending in a format segment, or ``/version``, ``/status``; not a catch-all such as
    ``/html/...``) answers it.
    """
    path = request.path
    base = path.rstrip("/")
    if not base:
        return ""
    head, _, last = base.rpartition("/")
    candidates = [base] if base != path else []
    if last in REST_FORMATS:
        candidates += [f"{head}/{other}" for other in REST_FORMATS if other != last]
    else:
        candidates += [f"{base}/{fmt}" for fmt in REST_FORMATS]
    for candidate in candidates:
        if await _is_rest_route(request, candidate):
            return f" (did you mean {candidate}?)"
    return ""


async def _is_rest_route(request: web.Request, path: str) -> bool:
    try:
        match = await request.app.router.resolve(request.clone(rel_url=path))
    except Exception:  # a hint must never turn a 404 into a 500
        return False
    if match.http_exception is not None:
        return False
    resource = getattr(match.route, "resource", None)
    canonical = getattr(resource, "canonical", "") or ""
    return canonical in TEXT_ROUTES or canonical.rpartition("/")[2] in REST_FORMATS


def _http_message(err: web.HTTPException, request: web.Request) -> str:
    """A sentence for aiohttp's own refusals (no route, wrong method, body too large)."""
    if err.status == 404:
        return f"no such resource: {request.path}"
    if err.status == 405:
        allowed = sorted(getattr(err, "allowed_methods", ()) or ())
        listed = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"method {request.method} not allowed on {request.path}{listed}"
    if err.status == 413:
        return f"request body too large: {err.text}"
    return err.reason or f"HTTP {err.status}"
