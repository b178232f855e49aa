"""The ``flowrt`` command.

``flowrt decode`` is the everyday debugging tool: it prints datagrams from a capture
file or a live UDP port in sflowtool's text format (what sFlow users already read),
or as one JSON object per datagram (a faithful dump of what our decoder produced, for
scripts and bug reports). ``flowrt run`` starts the collector (engine, sFlow
source and the sFlow-RT compatible REST API; see :mod:`flowrt.server`).

Exit status: 0 done (for the listeners, Ctrl-C is the normal way to stop), 1 a file
or socket that cannot be used (one line on stderr, never a traceback), 2 bad usage,
130 a file decode interrupted by Ctrl-C before it finished.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Iterable
from typing import Any

from flowrt import __version__
from flowrt.sflow import DecodeError, decode_datagram, tag_text
from flowrt.sflow.model import (
    SAMPLE_COUNTERS,
    SAMPLE_COUNTERS_EXPANDED,
    SAMPLE_DISCARD,
    SAMPLE_FLOW,
    SAMPLE_FLOW_EXPANDED,
    CounterSample,
    Datagram,
    DiscardSample,
    FlowSample,
)
from flowrt.sources import (
    CapturedDatagram,
    CaptureError,
    ReceivedDatagram,
    UdpReceiver,
    read_pcap,
)

PROG = "flowrt"
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_SFLOW_PORT = 6343
STDIN_NAME = "-"

# Examples in ``flowrt run --help`` (sFlow-RT property names).
PROP_SFLOW_PORT = "sflow.port"
PROP_HTTP_PORT = "http.port"


# -- JSON dump -------------------------------------------------------------------------

# Samples carry no tag attribute: the tag is the sample type plus the encoding used.
_SAMPLE_TAGS: dict[tuple[type, bool], tuple[int, str]] = {
    (FlowSample, False): (SAMPLE_FLOW, "flow_sample"),
    (FlowSample, True): (SAMPLE_FLOW_EXPANDED, "flow_sample_expanded"),
    (CounterSample, False): (SAMPLE_COUNTERS, "counters_sample"),
    (CounterSample, True): (SAMPLE_COUNTERS_EXPANDED, "counters_sample_expanded"),
    (DiscardSample, False): (SAMPLE_DISCARD, "discarded_packet"),
}


def to_json(value: Any) -> Any:
    """A JSON-ready copy of a decoded value: dataclasses become dicts, bytes hex.

    Every dataclass gets ``type`` (its class name); records and samples also get
    ``tag`` (``enterprise:format``) and, where known, ``name`` (the spec's structure
    name), so the dump says what each object is without our source code at hand.
    """
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, DecodeError):
        return {
            "reason": value.reason,
            "offset": value.offset,
            "tag": None if value.tag is None else tag_text(value.tag),
            "length": value.length,
            "sample_index": value.sample_index,
        }
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, Any] = {"type": type(value).__name__}
        out.update(_tag_and_name(value))
        for f in dataclasses.fields(value):
            if f.name == "tag" and "tag" in out:
                continue  # UnknownRecord/UnknownSample: already written as text
            out[f.name] = to_json(getattr(value, f.name))
        return out
    return value


def _tag_and_name(value: Any) -> dict[str, str]:
    kind = _SAMPLE_TAGS.get((type(value), getattr(value, "expanded", False)))
    if kind is not None:
        return {"tag": tag_text(kind[0]), "name": kind[1]}
    tag = getattr(type(value), "TAG", None)
    if tag is None and not isinstance(value, Datagram):
        tag = getattr(value, "tag", None)  # unknown records and samples keep theirs raw
    if not isinstance(tag, int):
        return {}
    name = getattr(type(value), "NAME", None)
    return {"tag": tag_text(tag), "name": name} if name else {"tag": tag_text(tag)}


def json_line(envelope: dict[str, Any], payload: bytes) -> str:
    """One datagram as a JSON line: the envelope plus ``datagram`` or ``error``."""
    out = dict(envelope, size=len(payload))
    try:
        out["datagram"] = to_json(decode_datagram(payload))
    except DecodeError as err:
        out["error"] = to_json(err)
    return json.dumps(out)


def text_lines(payload: bytes, **envelope: Any) -> list[str]:
    """sflowtool's text for one datagram (``envelope``: source_ip, pcap/receive time)."""
    try:
        from flowrt.sflow.sflowtool import format_datagram
    except ModuleNotFoundError as err:  # only while the printer is being written
        raise _Failure(f"text output is unavailable ({err}); use --json") from None
    try:
        dgram: Datagram | None = decode_datagram(payload)
        error = None
    except DecodeError as err:
        dgram, error = None, err
    return format_datagram(dgram, size=len(payload), raw=payload, error=error, **envelope)


# -- commands --------------------------------------------------------------------------


def _decode_file(args: argparse.Namespace) -> int:
    with read_pcap(sys.stdin.buffer if args.file == STDIN_NAME else args.file, args.port) as reader:
        _print_datagrams(reader, args.json, args.count, flush=False)
    return EXIT_OK


def _decode_live(args: argparse.Namespace) -> int:
    with _listen(args.bind, args.port) as receiver:
        # Ctrl-C is how a listener is stopped. Flush per datagram: someone is watching.
        with contextlib.suppress(KeyboardInterrupt):
            _print_datagrams(receiver, args.json, args.count, flush=True)
        _report_drops(receiver)
    return EXIT_OK


def _print_datagrams(
    items: Iterable[CapturedDatagram | ReceivedDatagram], as_json: bool, count: int | None,
    flush: bool,
) -> None:
    write = sys.stdout.write
    for n, item in enumerate(items, 1):
        write(render(item, as_json))
        if flush:
            sys.stdout.flush()
        if n == count:
            break


def render(item: CapturedDatagram | ReceivedDatagram, as_json: bool) -> str:
    """One datagram's output, newline-terminated: a JSON line or sflowtool's text.

    The JSON envelope is every field the source knows (a capture's ``timestamp`` is
    called ``pcap_time``). sflowtool prints "-" as the source of a datagram read from a
    capture, so the text follows it.
    """
    fields = item._asdict()
    payload = fields.pop("payload")
    if as_json:
        if isinstance(item, CapturedDatagram):
            fields["pcap_time"] = fields.pop("timestamp")
        return json_line(fields, payload) + "\n"
    if isinstance(item, CapturedDatagram):
        lines = text_lines(payload, source_ip=None, pcap_time=item.timestamp)
    else:
        lines = text_lines(payload, source_ip=item.source, receive_time=item.receive_time)
    return "".join(f"{line}\n" for line in lines)


def _listen(hostname: str, port: int) -> UdpReceiver:
    try:
        receiver = UdpReceiver(hostname, port)
    except OSError as err:
        where = f"[{hostname}]:{port}" if ":" in hostname else f"{hostname or '*'}:{port}"
        raise _Failure(f"cannot listen on UDP {where}: {err.strerror or err}") from None
    host, bound = receiver.address
    print(
        f"{PROG}: listening on UDP {host or '*'} port {bound}"
        f" (receive buffer {receiver.receive_buffer} bytes)",
        file=sys.stderr,
        flush=True,
    )
    return receiver


def _report_drops(receiver: UdpReceiver) -> None:
    drops = receiver.proc_drops()
    if drops is None:
        drops = receiver.kernel_drops
    if drops:
        print(f"{PROG}: the kernel dropped {drops} datagrams on this socket", file=sys.stderr)


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Start the collector: engine, sFlow source and REST API (``flowrt.server``).

    Properties come from ``-Dname=value`` arguments, the environment and property
    files, as sFlow-RT reads them (:meth:`flowrt.config.Properties.load`).
    """
    import asyncio  # here, not at the top: the decode commands do not need it

    from flowrt.config import ConfigError, Properties, environment_warnings
    from flowrt.server import configure_logging, serve

    try:
        props, _rest = Properties.load([f"-D{define}" for define in args.define or ()])
        for warning in environment_warnings(os.environ):
            print(f"{PROG}: warning: {warning}", file=sys.stderr, flush=True)
        configure_logging()
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how the server stops
            asyncio.run(serve(props))
    except ConfigError as err:  # a bad -D value is a usage error, as a bad option is
        parser.error(str(err))
    except OSError as err:
        raise _Failure(str(err)) from None
    return EXIT_OK


# -- argument parsing ------------------------------------------------------------------


class _Failure(Exception):
    """An expected failure: reported as one line on stderr, exit status 1."""


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 0xFFFF:
        raise argparse.ArgumentTypeError(f"port out of range: {port}")
    return port


def _count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return count


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Real-time sFlow analytics.",
        epilog=f"'{PROG} COMMAND --help' describes a command; docs/operations.md lists the"
        " server properties.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    decode = commands.add_parser(
        "decode",
        help="print sFlow datagrams from a capture file or a UDP port",
        description="Print sFlow datagrams in sflowtool's text format, or as JSON lines.",
    )
    decode.add_argument(
        "file", nargs="?", metavar="FILE", help="pcap or pcapng capture ('-' for stdin)"
    )
    decode.add_argument(
        "--port", type=_port,
        help="without FILE: listen on this UDP port (like sflowtool -p);"
        " with FILE: only datagrams sent to this port",
    )
    decode.add_argument(
        "--bind", default="", metavar="ADDR",
        help="address to listen on (default: all, IPv4 and IPv6)",
    )
    decode.add_argument("--count", type=_count, metavar="N", help="stop after N datagrams")
    decode.add_argument("--json", action="store_true", help="one JSON object per datagram")
    decode.set_defaults(command_parser=decode)
    run = commands.add_parser(
        "run", help="start the collector",
        description="Start the sFlow collector: sFlow on UDP 6343 (or replay sflow.file),"
        " REST API and web UI on HTTP 8008.",
        epilog="Common properties: http.port, http.hostname, http.readonly, sflow.port,"
        " sflow.hostname, sflow.file, flowrt.replay.speed, flowrt.replay.delay,"
        " script.file, events.max, flows.max. Every property, and the other places"
        " they can be set (conf.d/*.conf, RTPROP, FLOWRT_<NAME>), is in"
        " docs/operations.md.",
    )
    run.add_argument(
        "-D", dest="define", action="append", metavar="NAME=VALUE",
        help=f"system property, e.g. -D{PROP_SFLOW_PORT}={DEFAULT_SFLOW_PORT}"
        f" -D{PROP_HTTP_PORT}=8008 (sFlow-RT names); repeat for each property",
    )
    run.set_defaults(command_parser=run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # usage errors found after parsing show the command's own usage line
    parser = getattr(args, "command_parser", parser)
    try:
        if args.command == "run":
            return _run(args, parser)
        if args.file is None and args.port is None:
            parser.error("decode needs a FILE or --port")
        if args.file is not None and args.bind:
            parser.error("--bind only applies when listening (no FILE)")
        return _decode_file(args) if args.file is not None else _decode_live(args)
    except (CaptureError, _Failure) as err:
        sys.stdout.flush()
        print(f"{PROG}: {err}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, and keep Python's exit-time
        # flush from hitting the closed pipe again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
