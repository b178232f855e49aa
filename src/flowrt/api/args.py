"""Query arguments and request bodies, checked with messages that name the argument.

sFlow-RT's query arguments are few and typed (``maxFlows=100``, ``timeout=60``,
``minValue=0.5``); a typo must come back as a 400 that says which argument and why,
not as a silently ignored default. Limits clamp rather than refuse (``maxFlows=100000``
gives the cap) because dashboards ask for "everything" with huge numbers.
"""

from __future__ import annotations

import json
import math
from typing import Any

from aiohttp import web

from flowrt.api.errors import bad_request


def int_arg(
    request: web.Request, name: str, default: int, *, minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """An integer query argument (``default`` when absent), clamped to ``maximum``."""
    raw = request.query.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise bad_request(f"query argument {name}={raw!r} is not an integer") from None
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
    try:
        value = float(raw.strip())
    except ValueError:
        raise bad_request(f"query argument {name}={raw!r} is not a number") from None
    if not math.isfinite(value):
        raise bad_request(f"query argument {name}={raw!r} is not a finite number")
    if minimum is not None and value < minimum:
        raise bad_request(f"query argument {name}={value:g} is below the minimum {minimum:g}")
    return value if maximum is None else min(value, maximum)


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
    """Metric endpoints read every query argument as a data source filter (§1.1):
    ``?os_name=linux&os_name=windows&cpu_num=2`` → ``{os_name: [linux, windows], ...}``."""
    if not request.query:
        return None
    return {key: request.query.getall(key) for key in request.query}


async def json_body(request: web.Request) -> Any:
    """The request body as JSON; 400 naming the parse error (413 comes from aiohttp)."""
    raw = await request.read()
    if not raw.strip():
        raise bad_request("request body is empty; expected a JSON document")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise bad_request("request body is not UTF-8 text") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as err:
        raise bad_request(
            f"request body is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}"
        ) from None
    except RecursionError:
        raise bad_request("request body is nested too deeply") from None


def _reject_constant(name: str) -> Any:
    """``NaN``/``Infinity`` are not JSON and would poison rates and comparisons."""
    raise bad_request(f"request body is not valid JSON: {name} is not a number JSON allows")


async def json_object(request: web.Request, what: str) -> dict[str, Any]:
    """A JSON body that must be an object (a flow, threshold, group or map definition)."""
    body = await json_body(request)
    if not isinstance(body, dict):
        raise bad_request(f"{what} must be a JSON object, got {type(body).__name__}")
    return body
