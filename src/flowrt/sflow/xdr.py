"""XDR wire types and a compiler from annotated dataclasses to fast codecs.

Every sFlow record is declared once, as a dataclass whose field annotations name the
XDR wire type (``U32``, ``U64``, ``IPv4``, ``String`` ...). :func:`compile_codec` turns
that declaration into a decoder and an encoder. Runs of fixed-size fields become one
precompiled :class:`struct.Struct`, so a fixed-size record (extended_switch, the
generic interface counters) decodes with a single ``unpack_from`` call; variable
fields (strings, opaques, addresses, arrays) are read by small step functions. Because
the decoder and the encoder come from the same declaration, they cannot disagree.

Decoders never read past the ``end`` they are given and bound every count by the bytes
that remain, so a hostile length or count raises :class:`DecodeError` instead of
allocating. Records may be longer than declared (the spec allows structures to grow
at the end): the codec decodes the declared prefix and the caller skips by length.
"""

from __future__ import annotations

import dataclasses
import socket
import struct
import typing
from collections.abc import Callable
from typing import Annotated, Any

from flowrt.sflow.codegen import run_generated
from flowrt.sflow.errors import DecodeError

_U32 = struct.Struct(">I")
_inet_ntop = socket.inet_ntop
_inet_pton = socket.inet_pton
_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6


def ipv4_text(raw: bytes) -> str:
    """Dotted-quad text of four address bytes."""
    return _inet_ntop(_AF_INET, raw)


def ipv6_text(raw: bytes) -> str:
    """RFC 5952 text of sixteen address bytes."""
    return _inet_ntop(_AF_INET6, raw)


def ipv4_bytes(text: str) -> bytes:
    return _inet_pton(_AF_INET, text)


def ipv6_bytes(text: str) -> bytes:
    return _inet_pton(_AF_INET6, text)


class Fixed:
    """A fixed-size field: a struct format plus optional value converters."""

    def __init__(
        self,
        fmt: str,
        size: int,
        to_python: Callable[[Any], Any] | None = None,
        to_wire: Callable[[Any], Any] | None = None,
    ) -> None:
        self.fmt = fmt
        self.size = size
        self.to_python = to_python
        self.to_wire = to_wire


class Variable:
    """A variable-size field, read and written by step functions.

    ``decode(buf, off, end)`` returns ``(value, next_offset)``; ``encode(value)``
    returns the padded wire bytes; ``min_size`` bounds array counts.
    """

    min_size = 4

    def decode(self, buf: bytes, off: int, end: int) -> tuple[Any, int]:
        raise NotImplementedError

    def encode(self, value: Any) -> bytes:
        raise NotImplementedError


def _pad(n: int) -> int:
    return (n + 3) & ~3


def _take_length(buf: bytes, off: int, end: int, what: str) -> tuple[int, int]:
    if off + 4 > end:
        raise DecodeError(f"{what} length runs past the end", off)
    (n,) = _U32.unpack_from(buf, off)
    off += 4
    if n > end - off:
        raise DecodeError(f"{what} of {n} bytes runs past the end", off)
    return n, off


class _Opaque(Variable):
    def decode(self, buf: bytes, off: int, end: int) -> tuple[bytes, int]:
        n, off = _take_length(buf, off, end, "opaque")
        return bytes(buf[off : off + n]), off + _pad(n)

    def encode(self, value: bytes) -> bytes:
        n = len(value)
        return _U32.pack(n) + bytes(value) + b"\0" * (_pad(n) - n)


class _String(Variable):
    def decode(self, buf: bytes, off: int, end: int) -> tuple[str, int]:
        n, off = _take_length(buf, off, end, "string")
        return bytes(buf[off : off + n]).decode("utf-8", "replace"), off + _pad(n)

    def encode(self, value: str) -> bytes:
        raw = value.encode("utf-8")
        n = len(raw)
        return _U32.pack(n) + raw + b"\0" * (_pad(n) - n)


ADDRESS_UNKNOWN, ADDRESS_IPV4, ADDRESS_IPV6 = 0, 1, 2  # sFlow v5 address_type


class _Address(Variable):
    """sFlow ``address`` union: IPv4 / IPv6 text, or ``None`` for type 0 (unknown)."""

    def decode(self, buf: bytes, off: int, end: int) -> tuple[str | None, int]:
        if off + 4 > end:
            raise DecodeError("address type runs past the end", off)
        (kind,) = _U32.unpack_from(buf, off)
        off += 4
        if kind == ADDRESS_IPV4:
            if off + 4 > end:
                raise DecodeError("IPv4 address runs past the end", off)
            return _inet_ntop(_AF_INET, buf[off : off + 4]), off + 4
        if kind == ADDRESS_IPV6:
            if off + 16 > end:
                raise DecodeError("IPv6 address runs past the end", off)
            return _inet_ntop(_AF_INET6, buf[off : off + 16]), off + 16
        if kind == ADDRESS_UNKNOWN:
            return None, off
        raise DecodeError(f"unknown address type {kind}", off - 4)

    def encode(self, value: str | None) -> bytes:
        if value is None:
            return _U32.pack(ADDRESS_UNKNOWN)
        if ":" in value:
            return _U32.pack(ADDRESS_IPV6) + ipv6_bytes(value)
        return _U32.pack(ADDRESS_IPV4) + ipv4_bytes(value)


class ArrayOf(Variable):
    """XDR variable array ``T x<>``: a count, then the elements.

    The element is a :class:`Fixed` type or a record dataclass compiled by
    :func:`compile_codec`. The count is bounded by the bytes left divided by the
    smallest element size, so a hostile count cannot make us allocate.
    """

    def __init__(self, element: Any) -> None:
        self.element = element

    def _element_codec(self) -> tuple[Callable[..., Any], Callable[[Any], bytes], int]:
        el = self.element
        if isinstance(el, Fixed):
            st = struct.Struct(">" + el.fmt)
            conv_in, conv_out = el.to_python, el.to_wire

            def dec(buf: bytes, off: int, end: int) -> tuple[Any, int]:
                (v,) = st.unpack_from(buf, off)
                return (conv_in(v) if conv_in else v), off + el.size

            def enc(v: Any) -> bytes:
                return st.pack(conv_out(v) if conv_out else v)

            return dec, enc, el.size
        codec = codec_of(el)
        return codec.decode_at, codec.encode, codec.min_size

    def decode(self, buf: bytes, off: int, end: int) -> tuple[list[Any], int]:
        if off + 4 > end:
            raise DecodeError("array count runs past the end", off)
        (count,) = _U32.unpack_from(buf, off)
        off += 4
        dec, _, min_size = self._element_codec()
        if count * max(min_size, 1) > end - off:
            raise DecodeError(f"array count {count} exceeds the bytes left", off - 4)
        items = []
        for _ in range(count):
            item, off = dec(buf, off, end)
            items.append(item)
        return items, off

    def encode(self, value: list[Any]) -> bytes:
        _, enc, _ = self._element_codec()
        return _U32.pack(len(value)) + b"".join(enc(v) for v in value)


# --- the wire types, as annotations -------------------------------------------------
U32_WIRE = Fixed("I", 4)
I32_WIRE = Fixed("i", 4)
U64_WIRE = Fixed("Q", 8)
F32_WIRE = Fixed("f", 4)
U32 = Annotated[int, U32_WIRE]
I32 = Annotated[int, I32_WIRE]
U64 = Annotated[int, U64_WIRE]
F32 = Annotated[float, F32_WIRE]
IPv4 = Annotated[str, Fixed("4s", 4, ipv4_text, ipv4_bytes)]
IPv6 = Annotated[str, Fixed("16s", 16, ipv6_text, ipv6_bytes)]
MAC = Annotated[bytes, Fixed("6s2x", 8)]  # opaque[6]: six bytes padded to eight
UUID = Annotated[bytes, Fixed("16s", 16)]  # opaque[16], no length word
Opaque = Annotated[bytes, _Opaque()]
String = Annotated[str, _String()]
Address = Annotated[str | None, _Address()]
U32List = Annotated[list[int], ArrayOf(U32_WIRE)]
I32List = Annotated[list[int], ArrayOf(I32_WIRE)]


class Codec:
    """Decoder and encoder for one record dataclass.

    ``decode(buf, off, end)`` returns the record; ``decode_at`` also returns the
    offset after it (for records nested in arrays). Fields listed as *tail* are
    decoded only when the record is long enough for them (vendor extensions such as
    hsflowd's three extra host_cpu counters); they are ``None`` otherwise.
    """

    def __init__(self, cls: type, tail: tuple[str, ...] = ()) -> None:
        self.cls = cls
        hints = typing.get_type_hints(cls, include_extras=True)
        fields = [f.name for f in dataclasses.fields(cls) if f.init]
        wires = []
        for name in fields:
            wires.append(wire_of(hints[name], f"{cls.__name__}.{name}"))
        self.fields = list(zip(fields, wires, strict=True))
        head = [(n, w) for n, w in self.fields if n not in tail]
        self.tail = [(n, w) for n, w in zip(fields, wires, strict=True) if n in tail]
        tail_sizes = [w.size for _, w in self.tail if isinstance(w, Fixed)]
        if len(tail_sizes) != len(self.tail):
            raise TypeError("tail fields must be fixed-size")
        self.steps = _plan(head)
        self.tail_steps = [
            (_plan([f]), size) for f, size in zip(self.tail, tail_sizes, strict=True)
        ]
        self.min_size = sum(
            s[0].size if s[0] is not None else s[2].min_size for s in self.steps
        )
        self.fixed_size: int | None = self.min_size if all(s[0] for s in self.steps) else None
        self.decode_at, self.decode = self._generate()

    def _generate(self) -> tuple[Callable[..., Any], Callable[..., Any]]:
        """Write the decoder as straight-line Python and compile it.

        An interpreted loop over the steps costs several times more than the unpacking
        itself; generated code (as :mod:`dataclasses` does for ``__init__``) runs one
        ``unpack_from`` per run of fixed fields, inlines opaque and string reads, and
        calls out only for addresses and arrays.
        """
        env: dict[str, Any] = {"cls": self.cls, "DecodeError": DecodeError, "U32": _U32}
        name = self.cls.__name__
        body: list[str] = []
        names: list[str] = []

        def short(size: str) -> str:
            return (
                f"raise DecodeError(f'{name} needs {{{size}}} bytes, has {{end - off}}', off)"
            )

        length_read = False  # the next opaque's length word was unpacked with the run
        for k, (st, convs, var) in enumerate(self.steps):
            if st is not None:
                nxt = self.steps[k + 1][2] if k + 1 < len(self.steps) else None
                length_read = isinstance(nxt, _Opaque | _String)
                if length_read:  # one unpack and one bounds check for the run + length
                    st = struct.Struct(st.format + "I")
                env[f"S{k}"] = st
                count = len(st.unpack_from(bytes(st.size))) - length_read
                vs = [f"v{len(names) + i}" for i in range(count)]
                body.append(f"if off + {st.size} > end: {short(str(st.size))}")
                targets = ", ".join(vs + ["n"] * length_read)
                body.append(f"{targets}, = S{k}.unpack_from(buf, off)")
                for i, conv in convs:
                    env[f"C{k}_{i}"] = conv
                    body.append(f"{vs[i]} = C{k}_{i}({vs[i]})")
                body.append(f"off += {st.size}")
                names.extend(vs)
                continue
            v = f"v{len(names)}"
            names.append(v)
            if isinstance(var, _Opaque | _String):
                if not length_read:
                    body += [
                        f"if off + 4 > end: {short('4')}",
                        "n, = U32.unpack_from(buf, off)",
                        "off += 4",
                    ]
                body += [
                    f"if n > end - off: {short('n')}",
                    f"{v} = buf[off:off + n]",
                    "off += (n + 3) & ~3",
                ]
                if isinstance(var, _String):
                    body.append(f"{v} = {v}.decode('utf-8', 'replace')")
            else:
                env[f"V{k}"] = var
                body.append(f"{v}, off = V{k}.decode(buf, off, end)")
            length_read = False
        for t, (steps, size) in enumerate(self.tail_steps):
            st, convs, _ = steps[0]
            env[f"T{t}"] = st
            v = f"v{len(names)}"
            names.append(v)
            body.append(f"if off + {size} <= end:")
            body.append(f"    {v}, = T{t}.unpack_from(buf, off)")
            for i, conv in convs:
                env[f"TC{t}_{i}"] = conv
                body.append(f"    {v} = TC{t}_{i}({v})")
            body.append(f"    off += {size}")
            body.append("else:")
            body.append(f"    {v} = None")
        args = ", ".join(names)
        lines = "\n    ".join(body)
        src = (
            f"def decode_at(buf, off, end):\n    {lines}\n    return cls({args}), off\n"
            f"def decode(buf, off, end):\n    {lines}\n    return cls({args})\n"
        )
        run_generated(src, "codec", name, env)
        return env["decode_at"], env["decode"]

    def encode(self, record: Any) -> bytes:
        parts: list[bytes] = []
        for name, wire in self.fields:
            value = getattr(record, name)
            if isinstance(wire, Variable):
                parts.append(wire.encode(value))
            else:
                if value is None:  # an absent tail field: stop, like a short record
                    break
                if wire.to_wire:
                    value = wire.to_wire(value)
                parts.append(struct.pack(">" + wire.fmt, value))
        return b"".join(parts)


def wire_of(hint: Any, where: str) -> Fixed | Variable:
    """The wire type in an annotation, looking through ``Optional[...]`` of tail fields."""
    for candidate in (hint, *typing.get_args(hint)):
        meta = getattr(candidate, "__metadata__", None)
        if meta and isinstance(meta[0], Fixed | Variable):
            return meta[0]
    raise TypeError(f"{where} has no XDR wire type")


def _plan(fields: list[tuple[str, Fixed | Variable]]) -> list[tuple[Any, Any, Any]]:
    """Group consecutive fixed fields into Structs; keep variable fields as steps."""
    steps: list[tuple[Any, Any, Any]] = []
    run: list[Fixed] = []

    def flush() -> None:
        if run:
            st = struct.Struct(">" + "".join(w.fmt for w in run))
            convs = [(i, w.to_python) for i, w in enumerate(run) if w.to_python]
            steps.append((st, convs, None))
            run.clear()

    for _, wire in fields:
        if isinstance(wire, Fixed):
            run.append(wire)
        else:
            flush()
            steps.append((None, None, wire))
    flush()
    return steps


def compile_codec(cls: type, tail: tuple[str, ...] = ()) -> Codec:
    """Compile (once) and attach the codec of a record dataclass."""
    codec = Codec(cls, tail)
    cls._codec = codec  # type: ignore[attr-defined]
    return codec


def codec_of(cls: type) -> Codec:
    codec = cls.__dict__.get("_codec")
    if codec is None:
        codec = compile_codec(cls)
    return codec
