"""The errors of the flow language: what ``setFlow`` and the REST API report as 400s."""

from __future__ import annotations


class FlowSpecError(ValueError):
    """A flow definition (or one of its key/value expressions) that cannot be used."""


class FilterError(FlowSpecError):
    """A filter that cannot be parsed; ``position`` is the 0-based offset of the problem."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at column {position + 1}")
        self.position = position
