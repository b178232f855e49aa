"""FlowRT: a real-time sFlow analytics engine with an sFlow-RT compatible API."""

__version__ = "0.1.0"
