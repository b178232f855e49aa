"""The one exception the sFlow decoder raises, so callers can count drops by reason."""

from __future__ import annotations


class DecodeError(ValueError):
    """A datagram (or part of one) that cannot be decoded.

    ``reason`` is a short, stable, human-readable sentence suitable for logs and drop
    counters; ``offset`` is the byte offset in the datagram where decoding stopped.
    ``tag`` and ``length`` name the structure being read when it failed (a sample or
    record tag as ``enterprise << 12 | format``), when known. ``sample_index`` is the
    index of the sample that failed, or ``None`` for a datagram-level failure.
    ``partial`` is true when the failing sample was kept with the records decoded before
    the fault (a record-level failure inside a well-framed sample).
    """

    def __init__(
        self,
        reason: str,
        offset: int = 0,
        *,
        tag: int | None = None,
        length: int | None = None,
        sample_index: int | None = None,
        partial: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset
        self.tag = tag
        self.length = length
        self.sample_index = sample_index
        self.partial = partial

    def __repr__(self) -> str:
        return f"DecodeError({self.reason!r}, offset={self.offset})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, DecodeError)
            and self.reason == other.reason
            and self.offset == other.offset
            and self.sample_index == other.sample_index
        )

    __hash__ = ValueError.__hash__
