"""Query arguments and request bodies, checked with messages that name the argument.

sFlow-RT's query arguments are few and typed (``maxFlows=100``, ``timeout=60``,
``minValue=0.5``); a typo must come back as a 400 that says which argument and why,
not as a silently ignored default. Limits clamp rather than refuse (``maxFlows=100000``
gives the cap) because dashboards ask for "everything" with huge numbers.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import sys
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError

from flowrt.api import jsobject
from flowrt.api.errors import ApiError, bad_request

INTEGER_SYNTAX = re.compile(r"[+-]?[0-9]+")
NUMBER_SYNTAX = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
"""ASCII decimal only: Python's int()/float() also take '1_000' and other scripts' digits
('٣'), which no sFlow-RT client sends and which would hide a mangled argument."""
MAX_BODY_NUMBER_DIGITS = 400
"""Longer integers in a body are beyond any float (and Python refuses > 4300 digits with
an unhelpful ValueError); no definition field needs more than a few digits."""
MAX_BODY_BYTES = 1024 * 1024
"""Largest request body (a definition); the app passes the same value to aiohttp."""
MAX_JSON_DEPTH = 64
"""Deepest nesting of arrays and objects a body may have. Definitions need a handful of
levels; a body thousands deep would otherwise reach Python's recursion limit somewhere
after parsing (copying a topology, converting a script handler's argument) as a 500."""
DEFAULT_BODY_TIMEOUT = 30.0
BODY_TIMEOUT = web.AppKey("body_timeout", float)
"""Seconds a client has to send a body once its head is in (``http.body.timeout``)."""
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_DEPTH_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


def json_depth(text: str) -> int:
    """How deeply arrays and objects nest in JSON ``text`` (brackets inside strings do not
    count), without parsing it. With few brackets in all, their count is returned (an
    upper bound that is already within the limit); otherwise one linear pass."""
    if text.count("[") + text.count("{") <= MAX_JSON_DEPTH:
        return text.count("[") + text.count("{")
    skeleton = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    return max(itertools.accumulate(_DEPTH_STEP[c] for c in skeleton), default=0)


def check_json_depth(text: str) -> None:
    """400 when ``text`` nests deeper than :data:`MAX_JSON_DEPTH`."""
    if json_depth(text) > MAX_JSON_DEPTH:
        raise bad_request(
            f"request body is nested too deeply: more than {MAX_JSON_DEPTH} levels of"
            " arrays and objects"
        )


async def read_body(request: web.Request) -> bytes:
    """The whole body, within ``http.body.timeout`` seconds (408 and close after that:
    a client trickling a body must not hold the handler)."""
    limit = request.app.get(BODY_TIMEOUT, DEFAULT_BODY_TIMEOUT)
    try:
        async with asyncio.timeout(limit):
            return await request.read()
    except TimeoutError:
        request.content.feed_eof()
        raise ApiError(408, f"request body not received within {limit:g} s"
                       " (http.body.timeout)", close_connection=True) from None


def int_arg(
    request: web.Request, name: str, default: int, *, minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """An integer query argument (``default`` when absent), clamped to ``maximum``."""
    raw = request.query.get(name)
    if raw is None or raw.strip() == "":
        return default
    if not INTEGER_SYNTAX.fullmatch(raw.strip()):
        raise bad_request(
            f"query argument {name}={raw!r} is not an integer (expected decimal digits, e.g. 100)"
        )
    value = int(raw.strip())
    if minimum is not None and value < minimum:
        raise bad_request(f"query argument {name}={value} is below the minimum {minimum}")
    return value if maximum is None else min(value, maximum)


def float_arg(
    request: web.Request, name: str, default: float, *, minimum: float | None = None,
    maximum: float | None = None,
) -> float:
    """A finite number query argument (``default`` when absent), clamped to ``maximum``."""
    raw = request.query.get(name)
    if raw is None or raw.strip() == "":
        return default
    text = raw.strip()
    if text.lstrip("+-").lower() in NON_FINITE_WORDS:
        raise bad_request(f"query argument {name}={raw!r} is not a finite number")
    if not NUMBER_SYNTAX.fullmatch(text):
        raise bad_request(
            f"query argument {name}={raw!r} is not a number (expected decimal, e.g. 0.5 or 1e3)"
        )
    value = float(text)
    if not math.isfinite(value):
        raise bad_request(f"query argument {name}={raw!r} is not a finite number")
    if minimum is not None and value < minimum:
        raise bad_request(f"query argument {name}={value:g} is below the minimum {minimum:g}")
    return value if maximum is None else min(value, maximum)


NON_FINITE_WORDS = frozenset({"nan", "inf", "infinity"})


def choice_arg(request: web.Request, name: str, choices: frozenset[str]) -> str | None:
    """A keyword argument compared case-insensitively (``aggMode=SUM`` = ``sum``)."""
    raw = request.query.get(name)
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip().lower()
    if value not in choices:
        raise bad_request(
            f"query argument {name}={raw!r}: expected one of {', '.join(sorted(choices))}"
        )
    return value


def list_arg(request: web.Request, name: str) -> list[str]:
    """Every value of a repeatable argument; each may also be a ``;`` list (agent=a;b)."""
    out: list[str] = []
    for raw in request.query.getall(name, []):
        out.extend(part.strip() for part in raw.split(";") if part.strip())
    return out


def metric_filter(request: web.Request) -> dict[str, list[str]] | None:
    """Metric endpoints read every query argument as a data source filter:
    ``?os_name=linux&os_name=windows&cpu_num=2`` → ``{os_name: [linux, windows], ...}``."""
    if not request.query:
        return None
    return {key: request.query.getall(key) for key in request.query}


async def json_body(request: web.Request) -> Any:
    """The request body as JSON; 400 naming the parse error, 413 when too large.

    A declared ``Content-Length`` over the limit is refused before reading anything, so
    a client announcing a huge body and then trickling it cannot hold the request open;
    a chunked body is refused by aiohttp once it passes the limit. A body that cannot
    be read (bad ``Content-Encoding``, truncated chunking) is the client's fault: 400.
    """
    declared = request.content_length
    if declared is not None and declared > MAX_BODY_BYTES:
        raise ApiError(
            413, f"request body too large: {declared} bytes declared, the limit is"
            f" {MAX_BODY_BYTES}", close_connection=True,
        )
    try:
        raw = await read_body(request)
    except RequestPayloadError as err:
        # The payload keeps its error; aiohttp's lingering read after our answer would
        # raise it again and log an "Unhandled exception" traceback per bad request.
        # Marking the stream finished ends that read (the connection is closed anyway).
        request.content.feed_eof()
        raise ApiError(
            400, f"request body could not be read: {_first_line(err)}", close_connection=True
        ) from None
    if not raw.strip():
        raise bad_request("request body is empty; expected a JSON document")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise bad_request("request body is not UTF-8 text") from None
    try:
        return _strict(text)
    except json.JSONDecodeError as err:
        try:  # sFlow-RT also reads JavaScript object literals: {keys:'ipsource'}
            return _strict(jsobject.to_json(text))
        except (jsobject.NotAnObjectLiteral, json.JSONDecodeError, RecursionError):
            pass
        raise bad_request(
            f"request body is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    except RecursionError:
        raise bad_request("request body is nested too deeply") from None


def _strict(text: str) -> Any:
    check_json_depth(text)
    return json.loads(
        text, parse_constant=_reject_constant, parse_int=_bounded_int,
        parse_float=_finite_float,
    )


def _first_line(err: Exception) -> str:
    """aiohttp's payload errors read "400, message:\n  <reason>"; keep the reason."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_BODY_NUMBER_DIGITS:
        raise bad_request(
            f"request body holds a {len(text)}-digit integer; numbers must fit a double"
        )
    value = int(text)
    if abs(value) > sys.float_info.max:
        raise bad_request("request body holds an integer too large for a double")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise bad_request(f"request body holds {text[:40]}, beyond the range of a double")
    return value


def _reject_constant(name: str) -> Any:
    """``NaN``/``Infinity`` are not JSON and would poison rates and comparisons."""
    raise bad_request(f"request body is not valid JSON: {name} is not a number JSON allows")


async def json_object(request: web.Request, what: str) -> dict[str, Any]:
    """A JSON body that must be an object (a flow, threshold, group or map definition)."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise bad_request(f"{what} must be a JSON object, got {type(body).__name__}")
    return body
