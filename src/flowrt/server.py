"""The composition root: one process = one engine, one sFlow source, one HTTP server.

Everything runs on one asyncio loop, which owns the engine (DESIGN.md): the UDP socket
is drained from a loop reader callback, a timer calls :meth:`Engine.tick` about once a
second, and aiohttp serves the REST API. The source is either the UDP port
(``sflow.hostname``:``sflow.port``) or, with ``sflow.file``, a capture replayed at
``flowrt.replay.speed``.

Time: the engine is given "now" by an :class:`EngineClock`. Live, that is wall time.
During a replay it is the capture's own timeline laid over the wall clock starting at
the moment the replay begins, running ``speed`` times faster than the wall (or jumping
from datagram to datagram at speed 0), so rates computed from a 10x replay read the
same as at capture pace. When the replay ends the clock carries on at wall pace from
where the capture stopped, so flows then decay as they would after a real silence.

Log lines go to stderr, one per notable event, each starting with ``flowrt:``.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import logging
import math
import os
import signal
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from flowrt import logline
from flowrt.api import create_app, rest_enabled
from flowrt.api.connections import ConnectionGuard, GuardedSite, HttpLimits
from flowrt.bgp import BgpSpeaker, SpeakerLimits
from flowrt.config import ConfigError, Properties
from flowrt.engine import Engine, NativeIngest, ReplayCounters, native_ingest_for
from flowrt.export import prometheus
from flowrt.logline import limit_handler, rate_limited, say_rt, suppressed_lines, write_line
from flowrt.progress import Progress
from flowrt.scripts import ScriptHost
from flowrt.scripts import install_routes as install_script_routes
from flowrt.sources import CaptureError, PcapReader, ReceivedDatagram, UdpReceiver, read_pcap
from flowrt.sources.batch_udp import Batch, BatchReceiver
from flowrt.sources.udp import DEFAULT_RCVBUF
from flowrt.web import routes as web_routes

PROG = "flowrt"
TICK_SECONDS = 1.0
"""Engine time between ticks (threshold evaluation, flow log flushes, expiry)."""
TICK_POLL_SECONDS = 0.5
"""Wall time between checks whether a tick is due: a tick is never more than half a
second late, and a replay's fast clock gets its ticks from the replay loop itself."""
DROPS_POLL_SECONDS = 5.0
ERROR_REPORT_SECONDS = 10.0
"""At most one decode-error summary line per this many seconds: a broken agent sending
thousands of bad datagrams must not flood the log."""
RCVBUF_DATAGRAM_BYTES = 2048
"""``sflow.rcvpktsbuffer`` counts datagrams of about this size (sFlow-RT's unit)."""
REPLAY_YIELD_EVERY = 64
"""At speed 0 the replay yields to the loop this often so the API stays responsive."""
HTTP_SHUTDOWN_SECONDS = 2.0
MAX_PORT = 65535
REPLAY_DELAY_PROPERTY = "flowrt.replay.delay"
"""Seconds to wait before a replay starts, so flows and thresholds can be defined over
the REST API first (sFlow-RT users define them in startup scripts instead)."""
INTERNAL_ERROR_LOG_LIMIT = 10


def say(message: str) -> None:
    """One log line on stderr, flushed at once (tests and supervisors read it live)."""
    write_line(f"{PROG}: {message}")


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host or '*'}:{port}"


class EngineClock:
    """The engine's notion of now: wall time, or a replay timeline laid over it.

    ``rate`` is engine seconds per wall second (1 live, N during a paced replay, 0 when
    the replay drives the clock with :meth:`advance_to`). The clock never goes back.
    """

    def __init__(self) -> None:
        self._anchor_wall = time.time()
        self._anchor_value = self._anchor_wall
        self.rate = 1.0

    def now(self) -> float:
        return self._anchor_value + (time.time() - self._anchor_wall) * self.rate

    def set_rate(self, rate: float) -> None:
        """Change the pace from now on, without a jump."""
        self._anchor_value, self._anchor_wall = self.now(), time.time()
        self.rate = rate

    def advance_to(self, value: float) -> None:
        """Jump forward to ``value`` (ignored if the clock is already past it)."""
        if value > self.now():
            self._anchor_value, self._anchor_wall = value, time.time()


def _port(props: Properties, name: str) -> int:
    port = props.get_int(name)
    if port is None or not 0 <= port <= MAX_PORT:
        raise ConfigError(f"property {name}={props.get(name)!r} is not a port (0..{MAX_PORT})")
    return port


@dataclass(frozen=True)
class Settings:
    """The properties the server itself uses, checked once, before anything is bound."""

    http_hostname: str
    http_port: int
    http_log: bool
    sflow_hostname: str
    sflow_port: int
    receive_packets: int
    replay_file: str | None
    replay_speed: float
    replay_delay: float
    http_limits: HttpLimits

    @classmethod
    def from_props(cls, props: Properties) -> Settings:
        speed = props.get_float("flowrt.replay.speed", 1.0)
        if speed is None or not 0 <= speed < math.inf:
            raise ConfigError(f"property flowrt.replay.speed={speed} must be 0 or more")
        delay = props.get_float(REPLAY_DELAY_PROPERTY, 0.0) or 0.0
        if not 0 <= delay < math.inf:
            raise ConfigError(f"property {REPLAY_DELAY_PROPERTY}={delay} must be 0 or more")
        return cls(
            http_hostname=props.get("http.hostname") or "",
            http_port=_port(props, "http.port"),
            http_log=bool(props.get_bool("http.log")),
            sflow_hostname=props.get("sflow.hostname") or "",
            sflow_port=_port(props, "sflow.port"),
            receive_packets=max(0, props.get_int("sflow.rcvpktsbuffer") or 0),
            replay_file=props.get("sflow.file") or None,
            replay_speed=speed,
            replay_delay=delay,
            http_limits=HttpLimits.from_props(props),
        )


@dataclass
class Endpoints:
    """Where the server ended up listening (ports resolved when 0 was asked for)."""

    http: tuple[str, int]
    sflow_udp: tuple[str, int] | None = None
    sflow_file: str | None = None
    bgp: int | None = None  # the BGP speaker's TCP port when bgp.start=yes

    def rt_lines(self) -> list[str]:
        """sFlow-RT's startup lines (see :mod:`flowrt.logline`)."""
        lines = [f"Listening, sFlow port {self.sflow_udp[1]}"] if self.sflow_udp else []
        lines += [f"Listening, BGP port {self.bgp}"] if self.bgp is not None else []
        return [*lines, f"Listening, HTTP port {self.http[1]}"]

    def ready_line(self) -> str:
        source = (f"udp {format_address(*self.sflow_udp)}" if self.sflow_udp
                  else f"file {self.sflow_file}")
        return f"listening sFlow {source}, http {format_address(*self.http)}"


class Server:
    """Builds the engine, the sFlow source and the HTTP API from properties; runs them."""

    def __init__(self, props: Properties) -> None:
        self.props = props
        self.settings = Settings.from_props(props)  # ConfigError now, before binding anything
        self.clock = EngineClock()
        self.engine = Engine(props, now=self.clock.now())
        # the compiled ingest core when built and not disabled (FLOWRT_NO_EXTENSIONS=1)
        self.native: NativeIngest | None = native_ingest_for(self.engine)
        self._batch_receiver: BatchReceiver | None = None
        self.receiver: UdpReceiver | None = None
        self.endpoints: Endpoints | None = None
        self.replay_done = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._next_tick = 0.0
        self._reported_errors = 0
        self._stopping = False
        self.scripts: ScriptHost | None = None
        self.bgp: BgpSpeaker | None = None
        if props.get_bool("bgp.start"):
            self.bgp = BgpSpeaker(
                props.get("flowrt.bgp.hostname") or "", _port(props, "bgp.port"),
                _bgp_limits(props), counters=self.engine.bgp)

    # --- lifecycle ------------------------------------------------------------------------
    async def start(self) -> Endpoints:
        """Bind everything (failing fast on a bad port or file), then start the tasks."""
        settings = self.settings
        replay_path = settings.replay_file
        reader = read_pcap(Path(replay_path)) if replay_path else None
        try:
            bgp_port = await self._start_bgp()
            http = await self._start_http()
            if reader is None:
                udp = self._start_udp()
                self.endpoints = Endpoints(http, sflow_udp=udp)
            else:
                self.endpoints = Endpoints(http, sflow_file=replay_path)
            self.endpoints.bgp = bgp_port
        except BaseException:
            if reader is not None:
                reader.close()
            await self.stop()
            raise
        loop = asyncio.get_running_loop()
        if self.scripts is not None:
            self.scripts.start()  # before replay starts, so scripts' flows see all of it
        self._tasks.append(loop.create_task(self._tick_loop()))
        if reader is not None:
            self._tasks.append(loop.create_task(
                self._replay(reader, settings.replay_speed, settings.replay_delay)
            ))
        else:
            self.replay_done.set()
        return self.endpoints

    async def _start_bgp(self) -> int | None:
        if self.bgp is None:
            return None
        try:
            return await self.bgp.start()
        except OSError as err:
            where = format_address(self.bgp.host, self.bgp.port)
            hint = (" (ports below 1024 need CAP_NET_BIND_SERVICE; see docs/operations.md)"
                    if 0 < self.bgp.port < 1024 else "")
            raise OSError(f"cannot listen on BGP TCP {where}: {err.strerror or err}{hint}"
                          ) from None

    async def _start_http(self) -> tuple[str, int]:
        settings = self.settings
        app = create_app(self.engine, self.clock.now, self.props, bgp=self.bgp)
        self.scripts = ScriptHost(
            self.engine, self.props, asyncio.get_running_loop(), clock=self.clock.now,
            bgp=self.bgp,
        )
        # installed apps first: a real app under /app/<name>/ wins over the UI's shortcuts
        install_script_routes(app, self.scripts)
        if rest_enabled(self.props):
            prometheus.install_routes(app, self.engine, self.props)
        web_routes.install_routes(app, self.engine, self.props)
        access_log = logging.getLogger("aiohttp.access") if settings.http_log else None
        limits = settings.http_limits
        self._runner = web.AppRunner(
            app, access_log=access_log, shutdown_timeout=HTTP_SHUTDOWN_SECONDS,
            handler_cancellation=True,  # a client that hangs up frees its long-poll at once
            keepalive_timeout=limits.keepalive_timeout,
        )
        await self._runner.setup()
        host, port = settings.http_hostname or None, settings.http_port
        guard = ConnectionGuard(limits, self.engine.counters.http)
        site = GuardedSite(self._runner, host, port, guard)
        try:
            await site.start()
        except OSError as err:
            where = format_address(host or "*", port or 0)
            raise OSError(f"cannot listen on HTTP {where}: {err.strerror or err}") from None
        address = self._runner.addresses[0]
        return str(address[0]), int(address[1])

    def _start_udp(self) -> tuple[str, int]:
        settings = self.settings
        host, port = settings.sflow_hostname, settings.sflow_port
        rcvbuf = max(DEFAULT_RCVBUF, settings.receive_packets * RCVBUF_DATAGRAM_BYTES)
        try:
            self.receiver = UdpReceiver(host, port, rcvbuf)
        except OSError as err:
            raise OSError(
                f"cannot listen on UDP {format_address(host, port or 0)}: {err.strerror or err}"
            ) from None
        loop = asyncio.get_running_loop()
        if self.native is None:
            self.receiver.add_to_loop(loop, self._on_datagram)
        else:
            self._batch_receiver = BatchReceiver(
                self.native.core, self.receiver.sock.fileno(), loop, self._on_batch
            )
            self._batch_receiver.start()
        return self.receiver.address

    async def stop(self) -> None:
        """Stop ingest, the timer and the HTTP server; pending long-polls return at once."""
        if self._stopping:
            return
        self._stopping = True
        if self._batch_receiver is not None:
            self._batch_receiver.stop()
        if self.receiver is not None:
            self._update_socket_drops()
            self.receiver.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.scripts is not None:
            self.scripts.stop()
        if self.bgp is not None:
            await self.bgp.stop()
        if self._runner is not None:
            await self._runner.cleanup()
        self.engine.close()

    # --- ingest ---------------------------------------------------------------------------
    def _on_datagram(self, datagram: ReceivedDatagram) -> None:
        self._ingest(datagram.payload, datagram.source, self.clock.now())

    def _on_batch(self, batch: Batch, drops: int) -> None:
        """A batch from the native receive thread: one ``now``, then one flush."""
        if self._stopping:
            return
        now = self.clock.now()
        for payload, source, _port in batch:
            self._ingest(payload, source, now)
        self._flush_native()
        if drops >= 0 and self.receiver is not None:
            self.receiver.kernel_drops = drops
        if self._batch_receiver is not None:
            self.engine.counters.receive_errors = self._batch_receiver.receive_errors

    def _flush_native(self) -> None:
        if self.native is None:
            return
        try:
            self.native.flush()
        except Exception:
            self.engine.counters.internal_errors += 1
            if self.engine.counters.internal_errors <= INTERNAL_ERROR_LOG_LIMIT:
                rate_limited("flowrt.server").exception("internal error in native flush")

    def _ingest(self, payload: bytes, source: str, now: float) -> None:
        """Feed the engine; an engine bug is logged (a few times), never fatal to ingest."""
        try:
            if self.native is not None:
                self.native.ingest_datagram(payload, source, now)
            else:
                self.engine.ingest_datagram(payload, source, now)
        except Exception:
            self.engine.counters.internal_errors += 1
            if self.engine.counters.internal_errors <= INTERNAL_ERROR_LOG_LIMIT:
                rate_limited("flowrt.server").exception(
                    "internal error ingesting a datagram from %s", source
                )

    async def _replay(self, reader: PcapReader, speed: float, delay: float) -> None:
        """Feed a capture to the engine on the capture's own timeline (see module doc)."""
        if self.scripts is not None and not await self.scripts.wait_loaded(SCRIPT_LOAD_SECONDS):
            say(f"replay starts although some scripts are still loading after"
                f" {SCRIPT_LOAD_SECONDS:g} s")
        if delay > 0:
            await asyncio.sleep(delay)
        pace = f"{speed:g}x capture pace" if speed else "as fast as possible"
        say(f"replay of {reader.name} started ({pace})")
        clock = self.clock
        clock.set_rate(speed)
        started, count = time.monotonic(), 0
        first: float | None = None
        base = clock.now()
        bar = Progress(total=_file_size(reader.name), label="replay")
        try:
            for datagram in reader:
                bar.update(reader.bytes_read)
                if first is None:
                    first, base = datagram.timestamp, clock.now()
                target = base + (datagram.timestamp - first)
                if speed > 0:
                    wait = (target - clock.now()) / speed
                    if wait > 0:
                        await asyncio.sleep(wait)
                else:
                    clock.advance_to(target)
                    if count % REPLAY_YIELD_EVERY == 0:
                        await asyncio.sleep(0)
                now = clock.now()
                self._ingest(datagram.payload, datagram.source, now)
                self._flush_native()  # the API sees every datagram replayed so far
                if now >= self._next_tick:
                    _copy_replay_stats(reader, self.engine.counters.replay)
                self._tick_if_due(now)
                count += 1
        except CaptureError as err:
            say(f"replay stopped: {err}")
        finally:
            _copy_replay_stats(reader, self.engine.counters.replay)
            bar.close()
            reader.close()
            clock.set_rate(1.0)
            self.replay_done.set()
        say(f"replay of {reader.name} done: {count} datagrams in"
            f" {time.monotonic() - started:.1f} s")

    # --- timer ----------------------------------------------------------------------------
    def _tick_if_due(self, now: float) -> None:
        if now < self._next_tick:
            return
        self._next_tick = now + TICK_SECONDS
        self._flush_native()
        try:
            self.engine.tick(now)
        except Exception:
            self.engine.counters.internal_errors += 1
            if self.engine.counters.internal_errors <= INTERNAL_ERROR_LOG_LIMIT:
                rate_limited("flowrt.server").exception("internal error in engine tick")

    async def _tick_loop(self) -> None:
        next_drops = next_report = time.monotonic()
        while True:
            self._tick_if_due(self.clock.now())
            wall = time.monotonic()
            if self.receiver is not None:
                # SO_RXQ_OVFL keeps kernel_drops current for free; /proc is read less often
                self._update_socket_drops(read_proc=wall >= next_drops)
                if wall >= next_drops:
                    next_drops = wall + DROPS_POLL_SECONDS
            self.engine.counters.log_lines_suppressed = suppressed_lines()
            self.engine.counters.log_lines_unwritten = logline.unwritten_lines
            if wall >= next_report:
                self._report_decode_errors()
                next_report = wall + ERROR_REPORT_SECONDS
            await asyncio.sleep(TICK_POLL_SECONDS)

    def _update_socket_drops(self, read_proc: bool = True) -> None:
        receiver = self.receiver
        if receiver is None:
            return
        proc = receiver.proc_drops() if read_proc else None
        drops = max(receiver.kernel_drops, proc or 0)
        counters = self.engine.counters
        if drops > counters.socket_drops:
            say(f"the kernel dropped {drops - counters.socket_drops} sFlow datagrams"
                f" (receive buffer full; {drops} in all)")
        counters.socket_drops = max(counters.socket_drops, drops)

    def _report_decode_errors(self) -> None:
        total = self.engine.counters.decode_errors
        if total > self._reported_errors:
            say(f"{total - self._reported_errors} sFlow decode errors in the last"
                f" {ERROR_REPORT_SECONDS:g} s ({total} in all; see /agents/json)")
            self._reported_errors = total


SCRIPT_LOAD_SECONDS = 10.0  # replay waits this long at most for scripts' top-level code


STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})
MEMORY_DUMP_SIGNAL = signal.SIGUSR2
"""Write a tracemalloc snapshot (when the process traces: ``PYTHONTRACEMALLOC=N``)."""
STOP_GRACE_SECONDS = 10.0
"""After SIGTERM the server has this long to stop cleanly before it is ended anyway."""
FORCED_EXIT_STATUS = 1
SIGNAL_POLL_SECONDS = 0.5


class StopSignals:
    """SIGINT and SIGTERM, received by a thread of their own rather than the event loop.

    The loop is the wrong place to receive them: a handler that holds it (a bug, a slow
    call) would leave the process deaf to the supervisor. Here the signals are blocked in
    every thread (threads started later inherit the mask) and a small thread takes them
    with ``sigtimedwait``. The first asks for a clean stop (``on_stop``, which must be
    thread-safe) and arms :mod:`faulthandler`'s watchdog, a C thread that needs no
    interpreter lock: if the process is still there after ``grace`` seconds it prints
    every thread's stack (where it was stuck) and exits. A second signal exits at once.

    SIGUSR2 writes a :mod:`tracemalloc` snapshot next to the system's temporary files
    when the process was started with ``PYTHONTRACEMALLOC=N`` (where the memory of a
    long-running server went, without stopping it).
    """

    def __init__(self, on_stop: Callable[[], None], grace: float = STOP_GRACE_SECONDS) -> None:
        self.on_stop = on_stop
        self.grace = grace
        self._closed = threading.Event()
        self._previous_mask: set[int | signal.Signals] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._previous_mask = signal.pthread_sigmask(
            signal.SIG_BLOCK, STOP_SIGNALS | {MEMORY_DUMP_SIGNAL}
        )
        self._thread = threading.Thread(target=self._run, name="flowrt-signals", daemon=True)
        self._thread.start()

    def _next_signal(self) -> int | None:
        """The next stop signal (memory dump requests are served on the way)."""
        while not self._closed.is_set():
            info = signal.sigtimedwait(STOP_SIGNALS | {MEMORY_DUMP_SIGNAL}, SIGNAL_POLL_SECONDS)
            if info is None:
                continue
            if info.si_signo == MEMORY_DUMP_SIGNAL:
                dump_memory_snapshot()
                continue
            return info.si_signo
        return None

    def _run(self) -> None:
        signum = self._next_signal()
        if signum is None:
            return
        # the watchdog and the stop request come before the log line: nothing that can
        # fail may stand between a stop signal and the stop
        arm_exit_watchdog(self.grace)
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            self.on_stop()
        say(f"{signal.Signals(signum).name} received: stopping (a second one, or"
            f" {self.grace:g} s without stopping, ends the process at once)")
        if self._next_signal() is not None:
            say("second stop signal: exiting now")
            os._exit(FORCED_EXIT_STATUS)

    def close(self) -> None:
        """The server stopped cleanly: disarm the watchdog, give the signals back."""
        self._closed.set()
        faulthandler.cancel_dump_traceback_later()
        if self._thread is not None:
            self._thread.join()
        if self._previous_mask is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._previous_mask)


def arm_exit_watchdog(grace: float) -> None:
    """In ``grace`` seconds, print every thread's stack to stderr and exit, unless
    cancelled: :mod:`faulthandler`'s C thread, which needs no interpreter lock. With no
    usable stderr (closed, None) the stacks go to /dev/null but the exit still comes."""
    try:
        faulthandler.dump_traceback_later(grace, exit=True)
    except (RuntimeError, ValueError, OSError):  # no stderr file descriptor to write to
        global _watchdog_sink
        _watchdog_sink = open(os.devnull, "w")  # noqa: SIM115 (kept for the process's life)
        faulthandler.dump_traceback_later(grace, exit=True, file=_watchdog_sink)


_watchdog_sink: object = None


def dump_memory_snapshot() -> Path | None:
    """Write a tracemalloc snapshot to ``$TMPDIR/flowrt-<pid>-<n>.tracemalloc``."""
    if not tracemalloc.is_tracing():
        say("SIGUSR2: not tracing memory (start the server with PYTHONTRACEMALLOC=25)")
        return None
    global _memory_dumps
    _memory_dumps += 1
    path = Path(tempfile.gettempdir()) / f"flowrt-{os.getpid()}-{_memory_dumps}.tracemalloc"
    tracemalloc.take_snapshot().dump(str(path))
    say(f"SIGUSR2: memory snapshot written to {path}")
    return path


_memory_dumps = 0


async def serve(props: Properties) -> None:
    """Run a server until SIGINT or SIGTERM (see :class:`StopSignals`)."""
    for warning in props.misspellings():
        say(f"warning: {warning}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def request_stop() -> None:
        loop.call_soon_threadsafe(stop.set)

    signals = StopSignals(request_stop)
    signals.start()  # first: the server's threads inherit the blocked signals
    try:
        server = Server(props)
        endpoints = await server.start()
        for line in endpoints.rt_lines():
            say_rt(line)
        say(endpoints.ready_line())
        try:
            await stop.wait()
        finally:
            say("stopping")
            await server.stop()
    finally:
        signals.close()


def configure_logging() -> None:
    """Library and access-log lines on stderr, in the same ``flowrt:`` style."""
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format=f"{PROG}: %(levelname)s %(message)s"
    )
    logging.getLogger("aiohttp.server").addFilter(_one_line_for_bad_requests)
    for handler in logging.getLogger().handlers:
        limit_handler(handler)  # a flood of bad requests or datagrams: a few lines, a count


def _one_line_for_bad_requests(record: logging.LogRecord) -> bool:
    """A malformed HTTP request is the client's fault: one line, not a traceback.

    aiohttp logs its parser's refusals (bad version, bad bytes, oversized lines) with a
    full traceback, so any client could flood the log. Other errors keep theirs.
    """
    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, HttpProcessingError):
        record.msg = "refused a malformed HTTP request: %s"
        record.args = (str(exc).splitlines()[0][:200],)
        record.exc_info = None
        record.exc_text = None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
    return True


def _bgp_limits(props: Properties) -> SpeakerLimits:
    """The speaker's bounds from ``flowrt.bgp.*`` (checked before anything is bound)."""
    values = {name: props.get_int(prop) for name, prop in (
        ("neighbors", "flowrt.bgp.neighbors.max"), ("routes", "flowrt.bgp.routes.max"),
        ("flows", "flowrt.bgp.flows.max"))}
    hold = props.get_int("flowrt.bgp.holdtime")
    for name, value in values.items():
        if value is None or value < 1:
            raise ConfigError(f"property flowrt.bgp.{name}.max={value} must be 1 or more")
    if hold is None or hold in (1, 2) or not 0 <= hold <= 65535:
        raise ConfigError(f"property flowrt.bgp.holdtime={hold} must be 0 or 3..65535")
    return SpeakerLimits(neighbors=values["neighbors"] or 1, routes=values["routes"] or 1,
                         flows=values["flows"] or 1, hold_time=hold)


def _copy_replay_stats(reader: PcapReader, replay: ReplayCounters) -> None:
    """Publish the reader's frame counts as the engine's replay self-metrics."""
    for item in fields(ReplayCounters):
        setattr(replay, item.name, getattr(reader.stats, item.name))


def _file_size(name: str) -> int:
    """The capture's size for the progress bar; 0 (no bar) when it is not a plain file."""
    try:
        return os.path.getsize(name)
    except OSError:
        return 0
