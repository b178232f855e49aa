"""Flow definitions: the validated spec (``PUT /flow/{name}/json``) and its compiled form.

A :class:`FlowSpec` is what a client sent, checked and with sFlow-RT's defaults filled in
(§2.1 of the API digest); ``to_json()`` is what ``GET /flow/{name}/json`` returns. A
:class:`CompiledFlow` turns it, once at ``setFlow`` time, into closures that run per
sample: filter predicate → key extractor → value extractor(s). Samples reach them as a
:class:`SampleView`, so the engine can back the view with whatever the packet decoder
produces without the flow code knowing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from flowrt.engine.groups import Lookups
    from flowrt.engine.keyfuncs import KeyFn, ValueExpr


class FlowSpecError(ValueError):
    """A flow definition (or one of its key/value expressions) that cannot be used."""


class SampleView(Protocol):
    """One flow (or discard) sample as flow definitions see it.

    ``get`` returns the value of a flow key (§2.2 names: ``ipsource``, ``tcpflags``,
    ``ipsource.1``, ``stack``, ``agent``, ``inputifindex``, ``bytes``, ``frames``, ...) or
    None when the sample does not carry it. Values are text or numbers.
    """

    def get(self, name: str) -> str | int | float | None: ...


class DictSampleView:
    """A :class:`SampleView` over a plain dict: for tests and for replaying logged samples."""

    __slots__ = ("fields",)

    def __init__(self, fields: Mapping[str, str | int | float] | None = None, **kw: Any) -> None:
        self.fields: dict[str, str | int | float] = dict(fields or {}, **kw)

    def get(self, name: str) -> str | int | float | None:
        return self.fields.get(name)

    def __repr__(self) -> str:
        return f"DictSampleView({self.fields!r})"


# --- defaults and limits (§2.1) --------------------------------------------------------------
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

ZERO_DEFAULT_KINDS = frozenset({"sum", "avg"})
"""Value kinds whose missing per-sample value counts as 0 rather than being skipped."""

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
    """A validated flow definition with every §2.1 default filled in.

    Decisions the digest leaves open: ``n`` and ``t`` out of range are clamped (as
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


class CompiledFlow:
    """A flow definition compiled into per-sample closures.

    ``extract(view)`` does the whole per-sample job in one call: it returns ``(key, value,
    values)`` or None when the sample does not count: the filter rejects it, any key is
    null (wrap a key in ``null:<key>:<default>`` to count such samples), or the value is
    missing or not a number. Missing ``sum``/``avg`` entries of ``values`` count as 0 so
    the flow still counts; missing ``min``/``max``/``count`` entries are None (a 0 would be
    a false minimum or a false distinct item) and the estimators skip them. Values are raw
    per-sample numbers (``count:`` yields the item text): the engine scales sums by the
    sampling rate (see ``value_expr.kind`` and ``values_exprs``).
    """

    __slots__ = ("extract", "filter", "key_fns", "spec", "value_expr", "values_exprs")

    def __init__(self, spec: FlowSpec, lookups: Lookups | None = None) -> None:
        # Imported here: keyfuncs and filters depend on FlowSpecError/SampleView above.
        from flowrt.engine.filters import compile_filter
        from flowrt.engine.groups import Lookups
        from flowrt.engine.keyfuncs import compile_key, compile_value

        lookups = lookups if lookups is not None else Lookups()
        self.spec = spec
        self.key_fns: tuple[KeyFn, ...] = tuple(compile_key(k, lookups) for k in spec.keys)
        self.value_expr: ValueExpr = compile_value(spec.value, lookups)
        self.values_exprs: tuple[ValueExpr, ...] = tuple(
            compile_value(v, lookups) for v in spec.values
        )
        self.filter: Callable[[SampleView], bool] | None = (
            compile_filter(spec.filter, lookups) if spec.filter else None
        )
        self.extract = self._build_extract()

    def _build_extract(
        self,
    ) -> Callable[[SampleView], tuple[str, float, tuple[float, ...] | None] | None]:
        key_fns, fs, flt = self.key_fns, self.spec.fs, self.filter
        value_fn = self.value_expr.extract
        values_fns = tuple(v.extract for v in self.values_exprs)
        defaults = self.values_defaults()
        single = key_fns[0] if len(key_fns) == 1 else None

        def extract(view: SampleView) -> tuple[str, float, tuple[float, ...] | None] | None:
            if flt is not None and not flt(view):
                return None
            if single is not None:
                key = single(view)
                if key is None:
                    return None
            else:
                parts = []
                for key_fn in key_fns:
                    part = key_fn(view)
                    if part is None:
                        return None
                    parts.append(part)
                key = fs.join(parts)
            value = value_fn(view)
            if value is None:
                return None
            if not values_fns:
                return key, value, None
            extras = tuple(
                default if (x := fn(view)) is None else x
                for fn, default in zip(values_fns, defaults, strict=True)
            )
            return key, value, extras

        return extract

    def values_defaults(self) -> tuple[float | None, ...]:
        """What a missing ``values`` entry counts as: 0.0 for sums/averages, else None."""
        return tuple(0.0 if v.kind in ZERO_DEFAULT_KINDS else None for v in self.values_exprs)
