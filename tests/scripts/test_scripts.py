"""Scripts end to end on a real Engine: handlers, apps over HTTP, state, isolation."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from script_harness import Lines, make_host, replay, until, wait_loaded

from conftest import SFLOW_TESTDATA
from flowrt.api.errors import MAX_MESSAGE_CHARS, error_response
from flowrt.config import Properties
from flowrt.engine.core import Engine
from flowrt.scripts import install_routes
from flowrt.sources import read_pcap

ELEPHANT_JS = """
setFlow('pair', {keys: 'ipsource,ipdestination', value: 'bytes', t: 2});
setThreshold('elephant', {metric: 'pair', value: 1, byFlow: true, timeout: 60});
setEventHandler(function (evt) {
  logInfo('pair ' + evt.flowKey + ' ' + evt.agent + ' ' + evt.dataSource + ' ' + evt.thresholdID);
}, ['elephant']);
"""

ELEPHANT_PY = """
setFlow('pair', {'keys': 'ipsource,ipdestination', 'value': 'bytes', 't': 2})
setThreshold('elephant', {'metric': 'pair', 'value': 1, 'byFlow': True, 'timeout': 60})
def on_event(evt):
    logInfo('pair %s %s %s %s' % (evt['flowKey'], evt['agent'], evt['dataSource'],
                                  evt['thresholdID']))
setEventHandler(on_event, ['elephant'])
"""


def expected_pairs() -> list[str]:
    """The same flow and threshold set directly on an engine fed the same capture."""
    engine = Engine(Properties(), now=0)
    engine.set_flow("pair", {"keys": "ipsource,ipdestination", "value": "bytes", "t": 2})
    engine.set_threshold("elephant", {"metric": "pair", "value": 1, "byFlow": True,
                                      "timeout": 60})
    heard: list[str] = []
    engine.thresholds.events.subscribe(lambda e: heard.append(
        f"pair {e['flowKey']} {e['agent']} {e['dataSource']} elephant"))
    next_tick = None
    for dgram in read_pcap(SFLOW_TESTDATA / "ovs-netns.pcap"):
        if next_tick is None or dgram.timestamp >= next_tick:
            engine.tick(dgram.timestamp)
            next_tick = dgram.timestamp + 1.0
        engine.ingest_datagram(dgram.payload, dgram.source, dgram.timestamp)
    return heard


def run_elephant(tmp_path: Path, name: str, source: str) -> list[str]:
    script = tmp_path / name
    script.write_text(source)

    async def main() -> list[str]:
        with Lines() as lines:
            engine, host, clock = make_host({"script.file": str(script)}, tmp_path)
            host.start()
            await wait_loaded(host)
            assert "pair" in engine.flows.specs()
            await replay(engine, clock)
            want = len(expected_pairs())
            await until(lambda: len([m for m in lines.messages if " pair " in m]) >= want)
            status = host.status_json()[name]
            host.stop()
            assert status["alive"] and status["error"] is None, status
            assert status["eventsReceived"] == want and status["eventsLost"] == 0
            return [m.split(": ", 1)[1] for m in lines.messages if " pair " in m]

    return asyncio.run(main())


def test_elephant_js_logs_each_flow_key_that_crosses(tmp_path: Path) -> None:
    want = expected_pairs()
    assert len(want) >= 2
    assert run_elephant(tmp_path, "elephant.js", ELEPHANT_JS) == want


def test_elephant_py_logs_the_same_pairs(tmp_path: Path) -> None:
    assert run_elephant(tmp_path, "elephant.py", ELEPHANT_PY) == expected_pairs()


APP_JS = """
include(scriptdir() + '/inc/helper.js');
var ticks = 0;
setIntervalHandler(function (now) { ticks++; sharedSet('ticks', ticks); }, 0.1);
setHttpHandler(function (req) {
  if (req.path[0] === 'missing') throw 'not_found';
  if (req.path[0] === 'text') return 'plain text';
  if (req.path[0] === 'flows') return activeFlows('ALL', 'pair', 5);
  return {twice: twice(21), method: req.method, path: req.path, format: req.format,
          query: req.query, body: req.body || null, ticks: ticks};
});
"""
HELPER_JS = "function twice(x) x * 2\n"  # Nashorn expression closure, rewritten


async def serve(host) -> TestClient:
    app = web.Application()
    install_routes(app, host)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


def test_app_http_interval_include_and_html(tmp_path: Path) -> None:
    app = tmp_path / "app" / "demo"
    (app / "scripts" / "inc").mkdir(parents=True)
    (app / "html").mkdir()
    (app / "scripts" / "main.js").write_text(APP_JS)
    (app / "scripts" / "inc" / "helper.js").write_text(HELPER_JS)
    (app / "html" / "index.html").write_text("<h1>demo</h1>")

    async def main() -> None:
        engine, host, clock = make_host({}, tmp_path)
        engine.set_flow("pair", {"keys": "ipsource,ipdestination", "value": "bytes"})
        host.start()
        await wait_loaded(host)
        assert list(host.scripts) == ["demo/scripts/main.js"]  # inc/ is not started
        client = await serve(host)
        try:
            resp = await client.post("/app/demo/scripts/main.js/a/b/json?x=1&x=2",
                                     json={"k": 1})
            assert resp.status == 200
            body = await resp.json()
            assert body["twice"] == 42 and body["method"] == "POST"
            assert body["path"] == ["a", "b"] and body["format"] == "json"
            assert body["query"] == {"x": ["1", "2"]} and body["body"] == {"k": 1}
            resp = await client.get("/app/demo/scripts/main.js/missing/json")
            assert resp.status == 404
            resp = await client.get("/app/demo/scripts/main.js/text/txt")
            assert (resp.status, await resp.text()) == (200, "plain text")
            await replay(engine, clock)
            resp = await client.get("/app/demo/scripts/main.js/flows/json")
            flows = await resp.json()
            assert flows and set(flows[0]) >= {"key", "value", "agent", "dataSource"}
            assert flows == engine.active_flows("ALL", "pair", clock.now, max_flows=5)
            assert await until(lambda: (host.services.shared.get("ticks") or 0) >= 3)
            resp = await client.get("/app/demo/html/")
            assert (resp.status, await resp.text()) == (200, "<h1>demo</h1>")
            resp = await client.get("/app/demo/html/../scripts/main.js")
            assert resp.status == 404
            assert (await (await client.get("/apps/json")).json()) == {
                "demo": {"entry": "/html/", "scripts": ["demo/scripts/main.js"]}}
            resp = await client.get("/app/demo/status")
            assert (resp.status, await resp.text()) == (200, "OK")
            scripts = await (await client.get("/scripts/json")).json()
            assert scripts["demo/scripts/main.js"]["requestsReceived"] == 4
        finally:
            host.stop()
            await client.close()

    asyncio.run(main())


FAILING_JS = """
setHttpHandler(function (req) {
  if (req.path[0] === 'long') throw new Error('x'.repeat(2000));
  throw 'not_found';
});
"""


def test_handler_errors_have_the_rest_apis_error_shape(tmp_path: Path) -> None:
    """A script's refusal is rendered by the REST API's error renderer: the same
    ``{"error": ...}`` body, content type and message cap as any REST error."""
    app = tmp_path / "app" / "failing" / "scripts"
    app.mkdir(parents=True)
    (app / "main.js").write_text(FAILING_JS)

    async def main() -> None:
        _, host, _ = make_host({}, tmp_path)
        host.start()
        await wait_loaded(host)
        client = await serve(host)
        try:
            for tail, status, message in (("missing/json", 404, "not_found"),
                                          ("long/json", 500, "Error: " + "x" * 2000)):
                resp = await client.get(f"/app/failing/scripts/main.js/{tail}")
                want = error_response(status, message)
                assert resp.status == status
                assert resp.content_type == want.content_type == "application/json"
                assert await resp.text() == want.text
            assert len(json.loads(want.text)["error"]) == MAX_MESSAGE_CHARS
        finally:
            host.stop()
            await client.close()

    asyncio.run(main())


def test_store_survives_restart_and_shared_is_seen_by_another_script(tmp_path: Path) -> None:
    writer = tmp_path / "writer.js"
    writer.write_text("storeSet('count', (storeGet('count') || 0) + 1);"
                      "sharedSet('greeting', {text: 'hello', n: storeGet('count')});")
    reader = tmp_path / "reader.py"
    reader.write_text(
        "def tick(now):\n"
        "    value = sharedGet('greeting')\n"
        "    if value:\n"
        "        storeSet('seen', value)\n"
        "        clearIntervalHandler()\n"
        "setIntervalHandler(tick, 0.05)\n")

    async def main() -> dict:
        _, host, _ = make_host({"script.file": f"{writer},{reader}"}, tmp_path)
        host.start()
        await wait_loaded(host)
        assert await until(lambda: not host.scripts["reader.py"].alive)
        host.stop()
        return host.status_json()

    first = asyncio.run(main())
    assert first["writer.js"]["gracefulExit"] and first["reader.py"]["gracefulExit"]
    asyncio.run(main())  # a restart: the store keeps the count
    store = tmp_path / "store"
    assert json.loads((store / "script~writer.js" / "count").read_text()) == 2
    assert json.loads((store / "script~reader.py" / "seen").read_text()) == {
        "text": "hello", "n": 2}


def test_faulty_scripts_are_reported_while_engine_and_rest_keep_answering(
        tmp_path: Path) -> None:
    (tmp_path / "throws.js").write_text(
        "\nsetIntervalHandler(function () {\n  null.boom;\n}, 0.05);\n")
    (tmp_path / "loop.js").write_text("setIntervalHandler(function () { while (true) {} }, 0.05);")
    (tmp_path / "hog.js").write_text(
        "var a = []; setIntervalHandler(function () {"
        " for (;;) a.push(new Array(100000).fill(1)); }, 0.05);")
    (tmp_path / "loop.py").write_text(
        "def spin(now):\n    while True:\n        pass\nsetIntervalHandler(spin, 0.05)\n")
    files = ",".join(str(tmp_path / n) for n in ("throws.js", "loop.js", "hog.js", "loop.py"))

    async def main() -> None:
        engine, host, clock = make_host({"script.file": files, "flowrt.script.timeout": "1",
                                         "flowrt.script.memory": "16"}, tmp_path)
        host.start()
        client = await serve(host)
        try:
            # ingest and REST keep going while the scripts misbehave
            await replay(engine, clock)
            assert engine.counters.datagrams == 153
            resp = await client.get("/scripts/json")
            assert resp.status == 200
            stopped = ("loop.js", "hog.js", "loop.py")
            assert await until(lambda: all(not host.scripts[n].alive for n in stopped), 20)
            status = (await (await client.get("/scripts/json")).json())
            assert "time budget" in status["loop.js"]["error"]
            assert "memory limit" in status["hog.js"]["error"]
            assert "time budget" in status["loop.py"]["error"]
            assert status["throws.js"]["alive"]
            assert status["throws.js"]["error"].startswith("throws.js throws.js#3 TypeError")
            resp = await client.get("/status")
            assert (resp.status, await resp.text()) == (503, "UNAVAILABLE")
        finally:
            host.stop()
            await client.close()

    asyncio.run(main())


def test_flow_handler_gets_every_logged_record(tmp_path: Path) -> None:
    script = tmp_path / "logflows.js"
    script.write_text(
        "setFlow('pairlog', {keys: 'ipsource,ipdestination', value: 'bytes', log: true,"
        " activeTimeout: 10});\n"
        "setFlowHandler(function (rec) {\n"
        "  logInfo('rec ' + rec.flowID + ' ' + rec.name + ' ' + rec.flowKeys);\n"
        "}, ['pairlog']);\n")

    async def main() -> None:
        with Lines() as lines:
            engine, host, clock = make_host({"script.file": str(script)}, tmp_path)
            host.start()
            await wait_loaded(host)
            await replay(engine, clock)
            for _ in range(30):  # let idle flows close
                clock.now += 1
                engine.tick(clock.now)
            records = list(reversed(engine.flows.log.after(-1, None, 1000)))
            assert records
            want = [f"rec {r['flowID']} pairlog {r['flowKeys']}" for r in records]
            await until(lambda: len([m for m in lines.messages if " rec " in m]) >= len(want))
            host.stop()
            got = [m.split(": ", 1)[1] for m in lines.messages if " rec " in m]
            assert got == want
            assert host.status_json()["logflows.js"]["flowsReceived"] == len(want)

    asyncio.run(main())


TOPOLOGY_JS = """
var ok = setTopology({
  nodes: {s1: {agent: '10.0.0.1', ports: {p1: {ifindex: '1'}, p2: {ifindex: '2'}}},
          s2: {agent: '10.0.0.2', ports: {p1: {ifindex: '1'}}}},
  links: {l1: {node1: 's1', port1: 'p2', node2: 's2', port2: 'p1'}}});
var bad = setTopology({links: {x: {node1: 's1'}}});
logInfo(JSON.stringify({ok: ok, bad: bad, version: topologyVersion(),
  nodes: topologyNodeNames(), links: topologyLinkNames(),
  node: topologyNode('s2').agent, port: topologyInterfaceToPort('10.0.0.1', 2),
  link: topologyInterfaceToLink('10.0.0.2', 1).linkname,
  edge: topologyInterfaceToLink('10.0.0.1', 1)}));
"""


def test_topology_functions_share_the_rest_topology(tmp_path: Path) -> None:
    """setTopology and friends read and write the same store as /topology/json."""
    script = tmp_path / "topo.js"
    script.write_text(TOPOLOGY_JS)

    async def main() -> tuple[dict, Engine]:
        with Lines() as lines:
            engine, host, _ = make_host({"script.file": str(script)}, tmp_path)
            host.start()
            await wait_loaded(host)
            assert await until(lambda: any(m.startswith("topo.js: {") for m in lines.messages))
            host.stop()
        message = next(m for m in lines.messages if m.startswith("topo.js: {"))
        return json.loads(message.split(": ", 1)[1]), engine

    result, engine = asyncio.run(main())
    assert result == {
        "ok": True, "bad": False, "version": 1, "nodes": ["s1", "s2"], "links": ["l1"],
        "node": "10.0.0.2", "port": {"node": "s1", "port": "p2"}, "link": "l1", "edge": None,
    }
    assert set(engine.get_topology()["nodes"]) == {"s1", "s2"}  # the refused one left it


NON_FINITE_JS = """
var started;  // undefined, as sflow-test's test.start before a test runs
logInfo(JSON.stringify({
  nan: formatNumber((Date.now() - started) / 1000, '#,##0 seconds'),
  inf: formatNumber(-1 / 0, '#,##0 seconds'), plain: formatNumber(1234.5),
  pattern: formatNumber(0.5, "0'%' done"), unset: formatNumber(started, '#,### samples')}));
"""


def test_format_number_of_javascript_non_finite_numbers(tmp_path: Path) -> None:
    """JSON carries no NaN: the binding sends it as text, formatted as sFlow-RT does."""
    script = tmp_path / "fmt.js"
    script.write_text(NON_FINITE_JS)

    async def main() -> dict:
        with Lines() as lines:
            _, host, _ = make_host({"script.file": str(script)}, tmp_path)
            host.start()
            await wait_loaded(host)
            assert await until(lambda: any(m.startswith("fmt.js: {") for m in lines.messages))
            host.stop()
        message = next(m for m in lines.messages if m.startswith("fmt.js: {"))
        return json.loads(message.split(": ", 1)[1])

    assert asyncio.run(main()) == {"nan": "NaN", "inf": "-\u221e seconds", "plain": "1,234.5",
                                   "pattern": "0% done", "unset": "NaN"}
