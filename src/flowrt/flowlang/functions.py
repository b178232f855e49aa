"""What each key function computes: the reference executor's implementation of a Call.

:data:`BUILDERS` maps a function name (see :data:`flowrt.flowlang.keys.FUNCTIONS` for
the signatures and :mod:`flowrt.flowlang.keys` for the documented semantics) to a
builder that takes the compiled arguments (a key function for each key argument, the
text for each literal) and the lookups, and returns the per-sample function. Results
are text or None (null); a null argument makes most functions null.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Callable
from urllib.parse import urlsplit

from flowrt.flowlang.lookups import KeyLookups, format_address, parse_address
from flowrt.flowlang.view import SampleView, as_number, as_text

KeyFn = Callable[[SampleView], str | None]
"""A compiled key expression: the key's text in a sample, or None (null)."""
CompiledArg = KeyFn | str
"""A compiled Call argument: a key function, or a literal's text."""
Builder = Callable[[tuple[CompiledArg, ...], KeyLookups], KeyFn]

DEFAULT_PORTS = {"http": 80, "https": 443, "ftp": 21, "ws": 80, "wss": 443}


def plain_key(name: str) -> KeyFn:
    """The extractor of one named key: the hot path, so it avoids calls for text values."""

    def key(view: SampleView) -> str | None:
        value = view.get(name)
        if value is None or value.__class__ is str:
            return value
        return as_text(value)

    key.__name__ = f"key_{name}"
    return key


def _key(arg: CompiledArg) -> KeyFn:
    if isinstance(arg, str):
        raise TypeError("a key argument must be a key expression, not a literal")
    return arg


def _text(arg: CompiledArg) -> str:
    if not isinstance(arg, str):
        raise TypeError("a literal argument must be text, not a key expression")
    return arg


def group(args: tuple[CompiledArg, ...], lookups: KeyLookups) -> KeyFn:
    key, names = _key(args[0]), tuple(_text(a) for a in args[1:])
    groups = lookups.groups

    def group(view: SampleView) -> str | None:
        address = key(view)
        if address is None:
            return None
        for name in names:
            group_set = groups.get(name)
            if group_set is not None and (label := group_set.lookup(address)) is not None:
                return label
        return None

    return group


def map_(args: tuple[CompiledArg, ...], lookups: KeyLookups) -> KeyFn:
    key, name = _key(args[0]), _text(args[1])
    maps = lookups.maps

    def map_(view: SampleView) -> str | None:
        value = key(view)
        value_map = maps.get(name)
        return None if value is None or value_map is None else value_map.lookup(value)

    return map_


def prefix(args: tuple[CompiledArg, ...], _lookups: KeyLookups) -> KeyFn:
    key, delim, count = _key(args[0]), _text(args[1]), int(_text(args[2]))

    def prefix(view: SampleView) -> str | None:
        value = key(view)
        return None if value is None else delim.join(value.split(delim, count)[:count])

    return prefix


def suffix(args: tuple[CompiledArg, ...], _lookups: KeyLookups) -> KeyFn:
    key, delim, count = _key(args[0]), _text(args[1]), int(_text(args[2]))

    def suffix(view: SampleView) -> str | None:
        value = key(view)
        return None if value is None else delim.join(value.rsplit(delim, count)[-count:])

    return suffix


def mask(args: tuple[CompiledArg, ...], _lookups: KeyLookups) -> KeyFn:
    key, bits = _key(args[0]), int(_text(args[1]))

    def mask(view: SampleView) -> str | None:
        value = key(view)
        parsed = None if value is None else parse_address(value)
        if parsed is None:
            return None
        size, address = parsed
        host_bits = size - min(bits, size)
        return format_address(size, address >> host_bits << host_bits)

    return mask


def range_(args: tuple[CompiledArg, ...], _lookups: KeyLookups) -> KeyFn:
    key, low = _key(args[0]), float(_text(args[1]))
    high = float(_text(args[2])) if len(args) == 3 else math.inf

    def range_(view: SampleView) -> str | None:
        value = key(view)
        number = None if value is None else as_number(value)
        if number is None:
            return None
        return "true" if low <= number <= high else "false"

    return range_


def null(args: tuple[CompiledArg, ...], _lookups: KeyLookups) -> KeyFn:
    key = _key(args[0])
    # without a default a missing value reads as the text "null" (sflow-test relies on it)
    default = _text(args[1]) if len(args) > 1 else "null"

    def null(view: SampleView) -> str | None:
        value = key(view)
        return default if value is None else value

    return null


def or_(args: tuple[CompiledArg, ...], _lookups: KeyLookups) -> KeyFn:
    keys = tuple(_key(a) for a in args)

    def or_(view: SampleView) -> str | None:
        for key in keys:
            value = key(view)
            if value is not None:
                return value
        return None

    return or_


def eq(args: tuple[CompiledArg, ...], _lookups: KeyLookups) -> KeyFn:
    left, right = _key(args[0]), _key(args[1])

    def eq(view: SampleView) -> str | None:
        a, b = left(view), right(view)
        return None if a is None or b is None else ("true" if a == b else "false")

    return eq


def if_(args: tuple[CompiledArg, ...], _lookups: KeyLookups) -> KeyFn:
    cond, match = _key(args[0]), _text(args[1])
    then, other = _key(args[2]), _key(args[3])

    def if_(view: SampleView) -> str | None:
        return then(view) if cond(view) == match else other(view)

    return if_


def first(args: tuple[CompiledArg, ...], _lookups: KeyLookups) -> KeyFn:
    key, delim = _key(args[0]), _text(args[1])
    wanted = frozenset(_text(a) for a in args[2:])

    def first(view: SampleView) -> str | None:
        value = key(view)
        if value is None:
            return None
        for token in value.split(delim):
            if token in wanted:
                return token
        return None

    return first


def concat(args: tuple[CompiledArg, ...], _lookups: KeyLookups) -> KeyFn:
    sep, keys = _text(args[0]), tuple(_key(a) for a in args[1:])

    def concat(view: SampleView) -> str | None:
        parts = []
        for key in keys:
            value = key(view)
            if value is None:
                return None
            parts.append(value)
        return sep.join(parts)

    return concat


def bits(args: tuple[CompiledArg, ...], _lookups: KeyLookups) -> KeyFn:
    key, mask = _key(args[0]), int(_text(args[1]))

    def bits(view: SampleView) -> str | None:
        value = key(view)
        number = None if value is None else as_number(value)
        if number is None or not number.is_integer():
            return None
        return str(int(number) & mask)

    return bits


def link(args: tuple[CompiledArg, ...], lookups: KeyLookups) -> KeyFn:
    key, agent_of = _key(args[0]), plain_key("agent")
    topology = lookups.topology

    def link(view: SampleView) -> str | None:
        ifindex = key(view)
        if ifindex is None or not topology.active:
            return None
        agent = agent_of(view)
        return None if agent is None else topology.link_name(agent, ifindex)

    return link


def uri(args: tuple[CompiledArg, ...], _lookups: KeyLookups) -> KeyFn:
    key, part = _key(args[0]), _text(args[1])

    def uri(view: SampleView) -> str | None:
        value = key(view)
        return None if value is None else uri_part(value, part)

    return uri


def country(args: tuple[CompiledArg, ...], lookups: KeyLookups) -> KeyFn:
    key, attr = _key(args[0]), _text(args[1]) if len(args) > 1 else "code"
    lookup = lookups.enrich.country

    def country(view: SampleView) -> str | None:
        address = key(view)
        return None if address is None else lookup(address, attr)

    return country


def asn(args: tuple[CompiledArg, ...], lookups: KeyLookups) -> KeyFn:
    key, attr = _key(args[0]), _text(args[1]) if len(args) > 1 else "number"
    lookup = lookups.enrich.asn

    def asn(view: SampleView) -> str | None:
        address = key(view)
        return None if address is None else lookup(address, attr)

    return asn


def oui(args: tuple[CompiledArg, ...], lookups: KeyLookups) -> KeyFn:
    key, attr = _key(args[0]), _text(args[1]) if len(args) > 1 else "number"
    lookup = lookups.enrich.oui_lookup

    def oui(view: SampleView) -> str | None:
        mac = key(view)
        return None if mac is None else lookup(mac, attr)

    return oui


def dns(args: tuple[CompiledArg, ...], lookups: KeyLookups) -> KeyFn:
    key = _key(args[0])
    lookup = lookups.enrich.dns_name

    def dns(view: SampleView) -> str | None:
        address = key(view)
        return None if address is None else lookup(address)

    return dns


BUILDERS: dict[str, Builder] = {
    "group": group, "map": map_, "prefix": prefix, "suffix": suffix, "mask": mask,
    "range": range_, "null": null, "or": or_, "eq": eq, "if": if_, "first": first,
    "concat": concat, "bits": bits, "link": link, "uri": uri, "country": country,
    "asn": asn, "oui": oui, "dns": dns,
}  # fmt: skip


def uri_part(text: str, part: str) -> str | None:
    """One java.net.URI-style component of ``text``; None when absent or unparseable."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower() or None
    result: str | int | None
    if part == "normalized":
        path = _remove_dot_segments(parts.path)
        host = (parts.hostname or "") if parts.netloc else ""
        if parts.username:
            host = f"{parts.username}@{host}"
        if port is not None and DEFAULT_PORTS.get(scheme or "") != port:
            host = f"{host}:{port}"
        result = (f"{scheme}:" if scheme else "") + (f"//{host}" if parts.netloc else "") + path
        result += (f"?{parts.query}" if parts.query else "") + (
            f"#{parts.fragment}" if parts.fragment else ""
        )
    elif part == "isabsolute":
        result = "true" if scheme else "false"
    elif part == "isopaque":
        opaque = scheme and not parts.netloc and not parts.path.startswith("/")
        result = "true" if opaque else "false"
    elif part == "file":
        result = parts.path.rsplit("/", 1)[-1]
    elif part == "extension":
        file = parts.path.rsplit("/", 1)[-1]
        result = file.rsplit(".", 1)[1] if "." in file else None
    else:
        result = {
            "scheme": scheme,
            "user": parts.username,
            "authority": parts.netloc,
            "host": parts.hostname,
            "port": port,
            "path": parts.path,
            "query": parts.query,
            "fragment": parts.fragment,
        }[part]
    return None if result is None or result == "" else str(result)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 in effect: ``/a/./b/../c`` → ``/a/c``, keeping a trailing slash."""
    if not path or ("/." not in path and not path.startswith(".")):
        return path
    normalized = posixpath.normpath(path)
    if normalized.startswith("//"):
        normalized = "/" + normalized.lstrip("/")
    if path.endswith(("/", "/.", "/..")) and not normalized.endswith("/"):
        normalized += "/"
    return normalized
