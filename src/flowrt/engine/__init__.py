"""The analytics engine: agents, counter metrics, flows, thresholds and events.

Plain synchronous objects owned by one event loop; every method that depends on time
takes an explicit ``now`` (seconds) so tests control the clock.
"""

from flowrt.engine.agents import AgentTable, datasource_name
from flowrt.engine.metric_query import MetricPoint, QueryError, UnknownAgentError
from flowrt.engine.metrics import MetricStore

__all__ = [
    "AgentTable",
    "MetricPoint",
    "MetricStore",
    "QueryError",
    "UnknownAgentError",
    "datasource_name",
]
