"""Script API throughput: event-handler calls/s and activeFlows calls/s, JS and Python.

Builds a real Engine with a ``pair`` flow fed the ``ovs-netns`` capture, a
:class:`~flowrt.scripts.ScriptHost` on an asyncio loop, and measures:

* ``*_event_handler_calls_per_s``: events offered by the loop (as the threshold engine
  offers them) until the script's handler has run for all of them: inbox, batching,
  JSON crossing and the handler call. Baseline: the same events handed to a plain
  Python function subscribed to the event log (what an in-process handler costs);
* ``*_active_flows_calls_per_s``: ``activeFlows('ALL', 'pair', 10)`` in a loop inside a
  script (each call crosses to the engine's loop and back). Baseline: the same query
  called directly on the engine from the loop's thread.

Run: ``.venv/bin/python bench/scripts.py [events] [calls]``. One ``name value`` per line.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from flowrt.config import Properties
from flowrt.engine.core import Engine
from flowrt.scripts import ScriptHost
from flowrt.sources import read_pcap

CAPTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "sflow" / "ovs-netns.pcap"
EVENT = {"eventID": 1, "timestamp": 0, "thresholdID": "bench", "metric": "pair",
         "threshold": 1, "value": 2.0, "agent": "192.0.2.1", "dataSource": "3",
         "flowKey": "10.0.0.1,10.0.0.2"}

EVENTS_JS = """
var n = 0;
setEventHandler(function (evt) { n++; if (n === %d) sharedSet('%s', n); });
"""
EVENTS_PY = """
n = 0
def on_event(evt):
    global n
    n += 1
    if n == %d:
        sharedSet('%s', n)
setEventHandler(on_event)
"""
FLOWS_JS = """
var t0 = Date.now();
for (var i = 0; i < %d; i++) activeFlows('ALL', 'pair', 10);
sharedSet('%s', Date.now() - t0);
"""
FLOWS_PY = """
import time
t0 = time.perf_counter()
for i in range(%d):
    activeFlows('ALL', 'pair', 10)
sharedSet('%s', (time.perf_counter() - t0) * 1000)
"""


async def wait_shared(host: ScriptHost, key: str, timeout: float = 120.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = host.services.shared.get(key)
        if value is not None:
            return float(value)
        await asyncio.sleep(0.001)
    raise TimeoutError(key)


async def run(events: int, calls: int) -> list[tuple[str, float]]:
    work = Path(tempfile.mkdtemp(prefix="flowrt-bench-"))
    scripts = {
        "events.js": EVENTS_JS % (events, "events.js"),
        "events.py": EVENTS_PY % (events, "events.py"),
        "flows.js": FLOWS_JS % (calls, "flows.js"),
        "flows.py": FLOWS_PY % (calls, "flows.py"),
    }
    for name, text in scripts.items():
        (work / name).write_text(text)
    props = Properties({"script.store": str(work / "store"), "flowrt.app.dir": str(work / "app"),
                        "flowrt.script.queue": str(events + 10),
                        "flowrt.script.timeout": "600"})
    engine = Engine(props, now=0)
    engine.set_flow("pair", {"keys": "ipsource,ipdestination", "value": "bytes", "t": 2})
    now = 0.0
    for dgram in read_pcap(CAPTURE):
        now = dgram.timestamp
        engine.ingest_datagram(dgram.payload, dgram.source, now)
    host = ScriptHost(engine, props, asyncio.get_running_loop(), clock=lambda: now)
    out: list[tuple[str, float]] = []

    # baselines, on the loop's thread
    heard = []
    unsubscribe = engine.thresholds.events.subscribe(heard.append)
    t0 = time.perf_counter()
    for _ in range(events):
        engine.thresholds.events.append(dict(EVENT))
    direct_events = events / (time.perf_counter() - t0)
    unsubscribe()
    t0 = time.perf_counter()
    for _ in range(calls):
        engine.active_flows("ALL", "pair", now, max_flows=10)
    direct_flows = calls / (time.perf_counter() - t0)

    for lang in ("js", "py"):
        rt = host.add_script(work / f"events.{lang}")
        await asyncio.to_thread(rt.loaded.wait, 30)
        t0 = time.perf_counter()
        for _ in range(events):
            rt.offer_event(EVENT)
        await wait_shared(host, f"events.{lang}")
        rate = events / (time.perf_counter() - t0)
        out.append((f"{lang}_event_handler_calls_per_s", rate))
    out.append(("direct_python_event_handler_calls_per_s", direct_events))
    for lang in ("js", "py"):
        host.add_script(work / f"flows.{lang}")
        ms = await wait_shared(host, f"flows.{lang}")
        out.append((f"{lang}_active_flows_calls_per_s", calls / (ms / 1000)))
    out.append(("direct_active_flows_calls_per_s", direct_flows))
    host.stop()
    values = dict(out)
    for lang in ("js", "py"):
        out.append((f"ratio_{lang}_events_vs_direct",
                    values[f"{lang}_event_handler_calls_per_s"] / direct_events))
        out.append((f"ratio_{lang}_active_flows_vs_direct",
                    values[f"{lang}_active_flows_calls_per_s"] / direct_flows))
    return out


def main() -> None:
    events = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 5_000
    for name, value in asyncio.run(run(events, calls)):
        print(f"{name} {value:.3f}" if name.startswith("ratio") else f"{name} {value:.0f}")


if __name__ == "__main__":
    main()
