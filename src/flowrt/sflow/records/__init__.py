"""Record declarations. Importing this package registers every record type."""

from flowrt.sflow.records import counters, flow, host  # noqa: F401
