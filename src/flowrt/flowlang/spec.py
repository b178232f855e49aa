"""Flow definitions as clients send them (``PUT /flow/{name}/json``), validated, and their IR.

A :class:`FlowSpec` is what a client sent, checked and with sFlow-RT's defaults filled in;
``to_json()`` is what ``GET /flow/{name}/json`` returns (the client's own expression
text, not the canonical one). :func:`parse_flow` (also ``FlowSpec.ir``) parses its
expressions into a :class:`~flowrt.flowlang.ir.FlowIR`, which executors run.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flowrt.flowlang.errors import FlowSpecError
from flowrt.flowlang.filters import parse_filter
from flowrt.flowlang.ir import FlowIR
from flowrt.flowlang.keys import parse_key, parse_value

# --- defaults and limits  --------------------------------------------------------------
DEFAULT_N = 5
MIN_N, MAX_N = 5, 20
DEFAULT_T = 2.0
MIN_T, MAX_T = 0.2, 600.0
DEFAULT_FS = ","
DEFAULT_ACTIVE_TIMEOUT = 60
MAX_KEYS = 32
"""More keys than this is almost certainly a mistake, and each costs per-sample work."""
MAX_VALUES = 16
AGG_MODES = frozenset({"max", "sum", "edge", "core", "agent"})
"""aggMode values seen in InMon apps (``AGENT`` in upper case); compared case-insensitively."""
FLOW_NAME = re.compile(r"[A-Za-z0-9_\-]{1,128}")
"""Flow names become metric names and URL path segments; ``.`` would clash with
``<dataSource>.<name>`` in ``flowValue``."""

ATTRIBUTES = (
    "keys", "value", "values", "filter", "n", "t", "dropped", "fs", "log", "flowStart",
    "activeTimeout", "ipfixCollectors", "aggMode",
)  # fmt: skip


def split_keys(text: str) -> list[str]:
    """Split a ``keys`` string at commas that are not escaped (``\\,``) nor inside ``[...]``.

    Escapes are kept: the key-expression parser resolves them, so ``concat:\\,:a:b`` stays
    one key whose separator is a comma. Empty pieces are dropped (``"a,,b"`` = ``a,b``).
    """
    keys: list[str] = []
    start = depth = 0
    i = 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif char == "," and depth == 0:
            keys.append(text[start:i])
            start = i + 1
        i += 1
    keys.append(text[start:])
    return [key.strip() for key in keys if key.strip()]


def _expression_list(name: str, raw: object) -> list[str]:
    """``keys``/``values`` given as a comma string or a list of strings."""
    if raw is None:
        return []
    if isinstance(raw, str):
        return split_keys(raw)
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        return [item.strip() for item in raw if item.strip()]
    raise FlowSpecError(f"'{name}' must be a string or a list of strings")


_NUMERIC_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
"""A number written as text (no ``inf``/``nan``/``0x``: those stay refused)."""


def _number(name: str, raw: object, default: float) -> float:
    if raw is None:
        return float(default)
    if isinstance(raw, str) and _NUMERIC_TEXT.fullmatch(raw.strip()):
        raw = float(raw)  # sFlow-RT takes '2' (query strings, apps' settings) like 2
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise FlowSpecError(f"'{name}' must be a number, got {raw!r}")
    try:
        value = float(raw)  # an int beyond a double raises OverflowError here
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise FlowSpecError(f"'{name}' must be a finite number, got {raw!r:.40}")
    return value


def _flag(name: str, raw: object) -> bool:
    if raw is None:
        return False
    if not isinstance(raw, bool):
        raise FlowSpecError(f"'{name}' must be true or false, got {raw!r}")
    return raw


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """A validated flow definition with every sFlow-RT default filled in.

    Decisions sFlow-RT's documentation leaves open: ``n`` and ``t`` out of range are clamped (as
    define_flow.php says), a non-integral ``n`` is rounded; ``keys`` is stored and returned
    as one comma-joined string (clients such as topflows.py split ``spec['keys']`` on the
    separator) and ``values`` as a list; ``ipfixCollectors`` is accepted and stored but
    nothing exports IPFIX yet; ``aggMode`` must be one of max/sum/edge/core/agent (any case)
    and is stored as given; a ``name`` attribute in the body is ignored (the name comes
    from the URL or the ``setFlow`` argument).
    """

    name: str
    keys: tuple[str, ...]
    value: str
    values: tuple[str, ...] = ()
    filter: str = ""
    n: int = DEFAULT_N
    t: float = DEFAULT_T
    fs: str = DEFAULT_FS
    log: bool = False
    flow_start: bool = False
    active_timeout: float = DEFAULT_ACTIVE_TIMEOUT
    dropped: bool = False
    agg_mode: str | None = None
    ipfix_collectors: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, name: str, body: object) -> FlowSpec:
        """Validate a JSON body; FlowSpecError names the offending attribute."""
        if not isinstance(name, str) or not FLOW_NAME.fullmatch(name):
            raise FlowSpecError(f"invalid flow name {name!r} (letters, digits, '_' and '-')")
        if not isinstance(body, Mapping):
            raise FlowSpecError("flow definition must be a JSON object")
        unknown = sorted(set(body) - set(ATTRIBUTES) - {"name"})
        if unknown:
            raise FlowSpecError(f"unknown flow attribute(s): {', '.join(map(str, unknown))}")
        keys = _expression_list("keys", body.get("keys"))
        values = _expression_list("values", body.get("values"))
        value = body.get("value")
        if not isinstance(value, str) or not value.strip():
            raise FlowSpecError("'value' is required and must be a non-empty string")
        if len(keys) > MAX_KEYS or len(values) > MAX_VALUES:
            raise FlowSpecError(f"at most {MAX_KEYS} keys and {MAX_VALUES} values")
        flt = body.get("filter")
        if flt is not None and not isinstance(flt, str):
            raise FlowSpecError("'filter' must be a string")
        fs = body.get("fs", DEFAULT_FS)
        if not isinstance(fs, str):
            raise FlowSpecError("'fs' must be a string")
        n = round(_number("n", body.get("n"), DEFAULT_N))
        t = _number("t", body.get("t"), DEFAULT_T)
        active_timeout = _number("activeTimeout", body.get("activeTimeout"), DEFAULT_ACTIVE_TIMEOUT)
        if active_timeout <= 0:
            raise FlowSpecError("'activeTimeout' must be positive")
        agg_mode = body.get("aggMode")
        if agg_mode is not None and (
            not isinstance(agg_mode, str) or agg_mode.lower() not in AGG_MODES
        ):
            raise FlowSpecError(f"'aggMode' must be one of {sorted(AGG_MODES)}, got {agg_mode!r}")
        collectors = body.get("ipfixCollectors")
        if isinstance(collectors, str):
            collectors = [collectors]
        if collectors is not None and not (
            isinstance(collectors, list) and all(isinstance(c, str) for c in collectors)
        ):
            raise FlowSpecError("'ipfixCollectors' must be a list of strings")
        return cls(
            name=name,
            keys=tuple(keys),
            value=value.strip(),
            values=tuple(values),
            filter=(flt or "").strip(),
            n=min(MAX_N, max(MIN_N, n)),
            t=min(MAX_T, max(MIN_T, t)),
            fs=fs,
            log=_flag("log", body.get("log")),
            flow_start=_flag("flowStart", body.get("flowStart")),
            active_timeout=int(active_timeout) if active_timeout.is_integer() else active_timeout,
            dropped=_flag("dropped", body.get("dropped")),
            agg_mode=agg_mode,
            ipfix_collectors=tuple(collectors or ()),
        )

    def to_json(self) -> dict[str, Any]:
        """The GET shape: every attribute, defaults filled; ``from_json`` accepts it back."""
        out: dict[str, Any] = {
            "keys": ",".join(self.keys),
            "value": self.value,
            "filter": self.filter,
            "n": self.n,
            "t": self.t,
            "fs": self.fs,
            "log": self.log,
            "flowStart": self.flow_start,
            "activeTimeout": self.active_timeout,
            "dropped": self.dropped,
        }
        if self.values:
            out["values"] = list(self.values)
        if self.agg_mode is not None:
            out["aggMode"] = self.agg_mode
        if self.ipfix_collectors:
            out["ipfixCollectors"] = list(self.ipfix_collectors)
        return out

    @property
    def ir(self) -> FlowIR:
        """The definition's expressions parsed (see :func:`parse_flow`)."""
        return parse_flow(self)


def parse_flow(spec: FlowSpec) -> FlowIR:
    """Parse a definition's keys, value, values and filter (in that order) into its IR;
    FlowSpecError (FilterError for the filter) names the first problem."""
    return FlowIR(
        keys=tuple(parse_key(key) for key in spec.keys),
        value=parse_value(spec.value),
        values=tuple(parse_value(value) for value in spec.values),
        filter=parse_filter(spec.filter) if spec.filter else None,
        fs=spec.fs,
        dropped=spec.dropped,
    )
