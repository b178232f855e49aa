"""The reference executor: a flow's IR compiled once into the functions run per sample.

Two forms, one meaning:

* **closures** over any :class:`~flowrt.flowlang.view.SampleView`
  (:func:`compile_key`, :func:`compile_value`, :func:`compile_filter`,
  :class:`CompiledFlow`): each IR node becomes one small function; this is the readable
  definition of what a flow computes, used for filters over dict views and as the oracle
  of the generated form;
* **generated code** over the engine's
  :class:`~flowrt.flowlang.sampleview.FlowSampleView` (:func:`generate_counter`): at
  ``setFlow`` time the whole definition becomes one straight-line Python function: the
  filter, each plain key read with its header extractor on the view's located layers
  (no per-view cache, no closure per key), keys joined inline, the value(s) read and
  coerced, then the caller's *tail* (the engine's table update) in the same function.
  Key functions and filters keep their compiled closures. The source is registered with
  ``linecache`` (``<flow NAME digest>``), so tracebacks show it.

Both give the same (key, value, values) for every sample: ``tests/engine/
test_flow_counter.py`` compares them on every capture, and ``tests/flowlang/
test_ir_property.py`` compares random definitions with a tree-walking interpreter.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flowrt.flowlang.errors import FlowSpecError
from flowrt.flowlang.filters import parse_filter
from flowrt.flowlang.functions import BUILDERS, CompiledArg, KeyFn, plain_key
from flowrt.flowlang.ir import And, Call, Compare, Field, Filter, FlowIR, Key, Literal, Or, Value
from flowrt.flowlang.keys import parse_key, parse_value
from flowrt.flowlang.lookups import NO_LOOKUPS, KeyLookups
from flowrt.flowlang.patterns import compile_pattern
from flowrt.flowlang.sampleview import key_getter
from flowrt.flowlang.view import SampleView, as_number, as_text
from flowrt.sflow.codegen import run_generated

Predicate = Callable[[SampleView], bool]
ValueFn = Callable[[SampleView], Any]
"""A compiled value: a number (sum/avg/min/max) or the item text (count), None if absent."""
Extract = Callable[[SampleView], "tuple[str, Any, tuple[Any, ...] | None] | None"]

ZERO_DEFAULT_KINDS = frozenset({"sum", "avg"})
"""Value kinds whose missing per-sample value counts as 0 rather than being skipped."""


# --- expressions --------------------------------------------------------------------------
def compile_key(expr: str | Key, lookups: KeyLookups | None = None) -> KeyFn:
    """A key expression (text or IR) as a per-sample function returning text or None."""
    node = parse_key(expr) if isinstance(expr, str) else expr
    return _compile_expr(node, NO_LOOKUPS if lookups is None else lookups)


def _compile_expr(node: Key | Literal, lookups: KeyLookups) -> KeyFn:
    if isinstance(node, Field):
        return plain_key(node.name)
    if isinstance(node, Call):
        builder = BUILDERS.get(node.fn)
        if builder is None:
            raise FlowSpecError(f"unknown key function {node.fn!r} in {str(node)!r}")
        args: tuple[CompiledArg, ...] = tuple(
            arg.text if isinstance(arg, Literal) else _compile_expr(arg, lookups)
            for arg in node.args
        )
        try:
            return builder(args, lookups)
        except (IndexError, TypeError, ValueError) as exc:
            raise FlowSpecError(f"bad arguments to {node.fn!r} in {str(node)!r}: {exc}") from None
    raise FlowSpecError(f"a literal ({str(node)!r}) is not a key expression")


@dataclass(frozen=True, slots=True)
class ValueExpr:
    """A compiled ``value``/``values`` entry.

    ``kind`` says how the engine aggregates the per-sample numbers: ``sum`` (plain key or
    ``rate:``; scaled by the sampling rate, reported per second), ``avg`` (weighted mean per
    sample), ``min``/``max`` (extremes per sample), ``count`` (distinct values of ``key``:
    ``extract`` then yields the key's *text*, the item to count, or None when absent; the
    engine's :mod:`~flowrt.engine.topn` estimators say how each kind is smoothed).
    """

    value: Value
    extract: ValueFn
    key: KeyFn

    @property
    def kind(self) -> str:
        return self.value.kind

    @property
    def expression(self) -> str:
        """The value's canonical text."""
        return str(self.value)


def compile_value(expr: str | Value, lookups: KeyLookups | None = None) -> ValueExpr:
    """A value expression (text or IR) compiled into its per-sample extractor."""
    value = parse_value(expr) if isinstance(expr, str) else expr
    key = _compile_expr(value.expr, NO_LOOKUPS if lookups is None else lookups)
    if value.kind == "count":
        return ValueExpr(value, key, key)  # the item, not a number
    node = value.expr
    if isinstance(node, Field):  # plain key: skip the text round trip
        name = node.name

        def extract(view: SampleView) -> float | None:
            number = view.get(name)
            if number.__class__ is int or number.__class__ is float:
                return number
            return as_number(number)

    else:

        def extract(view: SampleView) -> float | None:
            return as_number(key(view))

    return ValueExpr(value, extract, key)


# --- filters ------------------------------------------------------------------------------
def always(_view: SampleView) -> bool:
    """The predicate of an empty filter."""
    return True


def compile_filter(text: str | Filter | None, lookups: KeyLookups | None = None) -> Predicate:
    """A filter (text or IR; empty or None: every sample) compiled into a predicate."""
    node = parse_filter(text) if isinstance(text, str) else text
    if node is None:
        return always
    return _compile_filter(node, NO_LOOKUPS if lookups is None else lookups)


def _compile_filter(node: Filter, lookups: KeyLookups) -> Predicate:
    if isinstance(node, Compare):
        predicate = _compare(node, lookups)
        return _negate(predicate) if node.op.startswith("!") else predicate
    parts = tuple(_compile_filter(part, lookups) for part in node.parts)
    if isinstance(node, And):
        return parts[0] if len(parts) == 1 else _all(parts)
    if isinstance(node, Or):
        return parts[0] if len(parts) == 1 else _any(parts)
    raise FlowSpecError(f"not a filter node: {node!r}")


def _all(parts: tuple[Predicate, ...]) -> Predicate:
    if len(parts) == 2:
        a, b = parts
        return lambda view: a(view) and b(view)
    return lambda view: all(part(view) for part in parts)


def _any(parts: tuple[Predicate, ...]) -> Predicate:
    if len(parts) == 2:
        a, b = parts
        return lambda view: a(view) or b(view)
    return lambda view: any(part(view) for part in parts)


def _negate(a: Predicate) -> Predicate:
    return lambda view: not a(view)


def _compare(node: Compare, lookups: KeyLookups) -> Predicate:
    want_null = any(v is None for v in node.values)
    texts = tuple(v for v in node.values if v is not None)
    key_fn = _compile_expr(node.key, lookups)
    if node.op.endswith("~"):
        regexes = tuple(compile_pattern(text) for text in texts)

        def matches(view: SampleView) -> bool:
            value = key_fn(view)
            if value is None:
                return want_null
            return any(match(value) for match in regexes)

        return matches
    wanted = frozenset(texts)
    if isinstance(node.key, Field):  # plain key: read the view directly, skip the closure
        name = node.key.name

        def equals_key(view: SampleView) -> bool:
            value = view.get(name)
            if value is None:
                return want_null
            return (value if value.__class__ is str else as_text(value)) in wanted

        return equals_key

    def equals(view: SampleView) -> bool:
        value = key_fn(view)
        return want_null if value is None else value in wanted

    return equals


# --- whole definitions --------------------------------------------------------------------
class CompiledFlow:
    """A flow's IR compiled into per-sample closures.

    ``extract(view)`` does the whole per-sample job in one call: it returns ``(key, value,
    values)`` or None when the sample does not count: the filter rejects it, any key is
    null (wrap a key in ``null:<key>:<default>`` to count such samples), or the value is
    missing or not a number. Missing ``sum``/``avg`` entries of ``values`` count as 0 so
    the flow still counts; missing ``min``/``max``/``count`` entries are None (a 0 would be
    a false minimum or a false distinct item) and the estimators skip them. Values are raw
    per-sample numbers (``count:`` yields the item text): the engine scales sums by the
    sampling rate (see ``value_expr.kind`` and ``values_exprs``).
    """

    __slots__ = ("extract", "filter", "ir", "key_fns", "value_expr", "values_exprs")

    def __init__(self, ir: FlowIR, lookups: KeyLookups | None = None) -> None:
        lookups = NO_LOOKUPS if lookups is None else lookups
        self.ir = ir
        self.key_fns: tuple[KeyFn, ...] = tuple(_compile_expr(k, lookups) for k in ir.keys)
        self.value_expr = compile_value(ir.value, lookups)
        self.values_exprs = tuple(compile_value(v, lookups) for v in ir.values)
        self.filter: Predicate | None = (
            None if ir.filter is None else _compile_filter(ir.filter, lookups)
        )
        self.extract: Extract = self._build_extract()

    def _build_extract(self) -> Extract:
        key_fns, fs, flt = self.key_fns, self.ir.fs, self.filter
        value_fn = self.value_expr.extract
        values_fns = tuple(v.extract for v in self.values_exprs)
        defaults = self.values_defaults()
        single = key_fns[0] if len(key_fns) == 1 else None

        def extract(view: SampleView) -> tuple[str, Any, tuple[Any, ...] | None] | None:
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


# --- generated code over FlowSampleView ----------------------------------------------------
CONSTANT_FIELDS = {"frames": "1"}
"""Plain keys whose value is the same in every sample (a sample is one frame)."""


def generate_counter(
    compiled: CompiledFlow,
    *,
    name: str,
    params: Sequence[str],
    tail: Sequence[str],
    env: Mapping[str, object],
) -> Callable[..., None]:
    """One generated function ``f(view, *params)`` over a ``FlowSampleView``.

    The body computes, or returns early when the sample does not count (exactly when
    ``compiled.extract(view)`` is None): ``key`` (the joined flow key), ``v`` (the raw
    main value: a number, or the item text for ``count``) and ``values`` (the raw
    ``values`` with their defaults, or None); then the caller's ``tail`` lines run with
    those names, ``view``, the ``params`` and the caller's ``env`` in scope.
    """
    ir = compiled.ir
    scope: dict[str, Any] = {"_as_text": as_text, "_as_number": as_number, "_fs": ir.fs}
    body: list[str] = []
    if compiled.filter is not None:
        scope["_flt"] = compiled.filter
        body += ["if not _flt(view):", "    return"]
    uses_header = False

    def fetch(var: str, field: str) -> None:
        """Lines that set ``var`` to ``view.get(field)`` without the view's cache."""
        nonlocal uses_header
        extract, resolve = key_getter(field)
        scope[f"_R_{var}"] = resolve
        if extract is None:
            body.append(f"{var} = _R_{var}(view)")
            return
        uses_header = True
        scope[f"_X_{var}"] = extract
        body.append(f"{var} = _X_{var}(h, L) if h is not None else _R_{var}(view)")

    parts = []
    for i, (key, key_fn) in enumerate(zip(ir.keys, compiled.key_fns, strict=True)):
        var = f"k{i}"
        if isinstance(key, Field):
            fetch(var, key.name)
            body += [f"if {var} is None:", "    return", f"if {var}.__class__ is not str:",
                     f"    {var} = _as_text({var})"]
        else:
            scope[f"_K_{var}"] = key_fn
            body += [f"{var} = _K_{var}(view)", f"if {var} is None:", "    return"]
        parts.append(var)
    value, node = ir.value, ir.value.expr
    if not isinstance(node, Field):  # a key function: its compiled extractor
        scope["_V"] = compiled.value_expr.extract
        body += ["v = _V(view)", "if v is None:", "    return"]
    elif value.kind == "count":
        fetch("v", node.name)
        body += ["if v is None:", "    return", "if v.__class__ is not str:",
                 "    v = _as_text(v)"]
    elif node.name in CONSTANT_FIELDS:
        body.append(f"v = {CONSTANT_FIELDS[node.name]}")
    else:
        if node.name == "bytes":  # the sampled_header's frame_length, without a lookup
            scope["_R_bytes"] = key_getter("bytes")[1]
            body += ["s = view.sampled", "v = s.frame_length if s is not None else _R_bytes(view)"]
        else:
            fetch("v", node.name)
        body += ["if v.__class__ is not int and v.__class__ is not float:",
                 "    v = _as_number(v)", "    if v is None:", "        return"]
    if compiled.values_exprs:
        scope["_values"] = tuple(expr.extract for expr in compiled.values_exprs)
        defaults = compiled.values_defaults()
        if all(default == 0.0 for default in defaults):
            body.append("values = tuple([0.0 if (x := fn(view)) is None else x"
                        " for fn in _values])")
        else:
            scope["_values_d"] = tuple(zip(scope["_values"], defaults, strict=True))
            body.append("values = tuple([d if (x := fn(view)) is None else x"
                        " for fn, d in _values_d])")
    else:
        body.append("values = None")
    body.append(f"key = {' + _fs + '.join(parts) if parts else repr('')}")
    if uses_header:
        body[:0] = ["h = view.header", "L = view._layers"]
    clash = set(scope) & set(env)
    if clash:
        raise ValueError(f"generated code names taken by the caller: {sorted(clash)}")
    scope.update(env)
    lines = [f"def counter({', '.join(['view', *params])}):"]
    lines += [f"    {line}" for line in [*body, *tail]]
    return run_generated("\n".join(lines) + "\n", "flow", name, scope)[  # type: ignore[no-any-return]
        "counter"
    ]
