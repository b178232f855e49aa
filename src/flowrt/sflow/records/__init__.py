"""Record declarations. Importing this package registers every record type."""

from flowrt.sflow.records import (  # noqa: F401
    app,
    app_counters,
    counters,
    counters_ext,
    flow,
    flow_ext,
    host,
    vendor,
    virt,
)
