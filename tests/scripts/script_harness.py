"""Run a real Engine + ScriptHost on an asyncio loop, feed it a capture, wait for scripts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

from conftest import SFLOW_TESTDATA
from flowrt.config import Properties
from flowrt.engine.core import Engine
from flowrt.scripts import ScriptHost
from flowrt.sources import read_pcap

CAPTURE = "ovs-netns"


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_host(props: dict[str, str], tmp_path: Path) -> tuple[Engine, ScriptHost, Clock]:
    values = {"script.store": str(tmp_path / "store"), "flowrt.app.dir": str(tmp_path / "app"),
              **props}
    p = Properties(values)
    clock = Clock()
    engine = Engine(p, now=clock.now)
    host = ScriptHost(engine, p, asyncio.get_running_loop(), clock=clock)
    return engine, host, clock


async def wait_loaded(host: ScriptHost, timeout: float = 10.0) -> None:
    for runtime in host.scripts.values():
        assert await asyncio.to_thread(runtime.loaded.wait, timeout), runtime.name


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


async def replay(engine: Engine, clock: Clock, capture: str = CAPTURE) -> None:
    """Feed ``capture`` at its own timestamps, ticking once a second; yield to the loop."""
    next_tick = None
    for i, dgram in enumerate(read_pcap(SFLOW_TESTDATA / f"{capture}.pcap")):
        clock.now = dgram.timestamp
        if next_tick is None or clock.now >= next_tick:
            engine.tick(clock.now)
            next_tick = clock.now + 1.0
        engine.ingest_datagram(dgram.payload, dgram.source, clock.now)
        if i % 8 == 0:
            await asyncio.sleep(0)


class Lines(logging.Handler):
    """Collects the messages scripts log (logInfo and friends), from any thread."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self) -> Lines:
        logger = logging.getLogger("flowrt.script")
        logger.addHandler(self)
        logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("flowrt.script").removeHandler(self)
