"""The flow language: key names, key functions, values and filters, as data.

A flow definition (``keys``, ``value``, ``values``, ``filter``, ``fs``, ``dropped``) is
parsed once into a typed tree, the IR (:mod:`~flowrt.flowlang.ir`), which can be
printed, compared, hashed and executed. Modules, each with one job:

* :mod:`~flowrt.flowlang.ir` — the nodes and their canonical text;
* :mod:`~flowrt.flowlang.keys` — key and value expressions (text → IR), the key
  functions' signatures; :mod:`~flowrt.flowlang.filters` — the filter grammar;
* :mod:`~flowrt.flowlang.spec` — :class:`FlowSpec` (the validated JSON definition) and
  :func:`parse_flow` (spec → :class:`~flowrt.flowlang.ir.FlowIR`);
* :mod:`~flowrt.flowlang.executor` — the reference executor (closures and generated
  code), with :mod:`~flowrt.flowlang.functions` (what each key function computes);
* :mod:`~flowrt.flowlang.view` — :class:`SampleView`, what executors read;
  :mod:`~flowrt.flowlang.sampleview` — :class:`FlowSampleView`, the view of an sFlow
  flow/discard sample (what each key name means in sFlow records);
* :mod:`~flowrt.flowlang.lookups` — the protocols through which ``group:``, ``map:`` and
  ``link:`` reach state the engine owns.

The package imports only :mod:`flowrt.sflow` and the standard library: no engine state.
"""

from flowrt.flowlang.errors import FilterError, FlowSpecError
from flowrt.flowlang.executor import CompiledFlow, compile_filter, compile_key, compile_value
from flowrt.flowlang.ir import (
    And,
    Call,
    Compare,
    Expr,
    Field,
    Filter,
    FlowIR,
    Key,
    Literal,
    Or,
    Value,
)
from flowrt.flowlang.lookups import KeyLookups
from flowrt.flowlang.spec import FlowSpec, parse_flow
from flowrt.flowlang.view import DictSampleView, SampleView

__all__ = [
    "And", "Call", "Compare", "CompiledFlow", "DictSampleView", "Expr", "Field", "Filter",
    "FilterError", "FlowIR", "FlowSpec", "FlowSpecError", "Key", "KeyLookups", "Literal", "Or",
    "SampleView", "Value", "compile_filter", "compile_key", "compile_value", "parse_flow",
]  # fmt: skip
