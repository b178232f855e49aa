"""The analytics engine: agents, counter metrics, flows, thresholds and events.

Plain synchronous objects owned by one event loop; every method that depends on time
takes an explicit ``now`` (seconds) so tests control the clock.

This package's namespace is the engine's public face: the :class:`Engine` facade and the
types and errors the edges (REST API, scripts, exporters, web UI) and the composition root
need. Code outside the engine imports from ``flowrt.engine`` only, never from its modules
(``flowrt.engine.flows``, ``flowrt.engine.topn``...); the ``engine-facade`` contract in
pyproject.toml checks it, so the modules behind the facade can move without touching the
edges.
"""

from flowrt.engine.agents import AgentTable, datasource_name
from flowrt.engine.core import Engine, HttpCounters, IngestCounters, ReplayCounters
from flowrt.engine.groups import GroupError
from flowrt.engine.metric_query import MetricPoint, QueryError, UnknownAgentError
from flowrt.engine.metrics import MetricStore
from flowrt.engine.native import NativeIngest, native_ingest_for
from flowrt.engine.selfmetrics import GAUGE, SELF_METRICS, SelfMetric
from flowrt.engine.thresholds import ThresholdError
from flowrt.engine.topology import TopologyError
from flowrt.flowlang.errors import FlowSpecError

INPUT_ERRORS: tuple[type[ValueError], ...] = (
    FlowSpecError, GroupError, QueryError, ThresholdError, TopologyError,
)
"""The errors the engine raises for a caller's bad input (a definition, a query, a
selector): the edges answer them as the caller's mistake (a 400, a script exception)."""

__all__ = [
    "GAUGE",
    "INPUT_ERRORS",
    "SELF_METRICS",
    "AgentTable",
    "Engine",
    "FlowSpecError",
    "GroupError",
    "HttpCounters",
    "IngestCounters",
    "MetricPoint",
    "MetricStore",
    "NativeIngest",
    "QueryError",
    "ReplayCounters",
    "SelfMetric",
    "ThresholdError",
    "TopologyError",
    "UnknownAgentError",
    "datasource_name",
    "native_ingest_for",
]
