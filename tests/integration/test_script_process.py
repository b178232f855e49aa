"""Scripts in the real server process, started the way sFlow-RT users start them.

``-Dscript.file=elephant.js`` (and the same script in Python) with ``-Dsflow.file``
replaying the Open vSwitch capture: the event handler must log the iperf3 pair, which
is the only flow above the threshold. An app under ``app/<name>/`` answers over HTTP
through its script handler and serves its html/.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conftest import SFLOW_TESTDATA

if TYPE_CHECKING:
    from flowrt_process import FlowrtProcess

Start = Callable[..., "FlowrtProcess"]
pytest_plugins = ["flowrt_process"]

CAPTURE = SFLOW_TESTDATA / "ovs-netns.pcap"
IPERF_PAIR = "10.99.0.1,10.99.0.2"
THRESHOLD = 1_000_000  # bytes/s: only the 50 Mb/s iperf3 TCP stream crosses it

ELEPHANT = {
    "elephant.js": f"""
setFlow('pair', {{keys: 'ipsource,ipdestination', value: 'bytes'}});
setThreshold('elephant', {{metric: 'pair', value: {THRESHOLD}, byFlow: true, timeout: 60}});
setEventHandler(function(evt) {{ logInfo('ELEPHANT ' + evt.flowKey); }}, ['elephant']);
""",
    "elephant.py": f"""
setFlow('pair', {{'keys': 'ipsource,ipdestination', 'value': 'bytes'}})
setThreshold('elephant', {{'metric': 'pair', 'value': {THRESHOLD}, 'byFlow': True,
                           'timeout': 60}})
def on_event(evt):
    logInfo('ELEPHANT ' + evt['flowKey'])
setEventHandler(on_event, ['elephant'])
""",
}


def _wait_log(server: FlowrtProcess, text: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while text not in server.log:
        assert time.monotonic() < deadline, f"{text!r} not logged:\n{server.log}"
        time.sleep(0.05)


@pytest.mark.parametrize("script", sorted(ELEPHANT))
def test_elephant_script_logs_the_iperf_pair_on_replay(
    flowrt: Start, tmp_path: Path, script: str
) -> None:
    (tmp_path / script).write_text(ELEPHANT[script])
    server = flowrt(f"-Dscript.file={script}", f"-Dsflow.file={CAPTURE}",
                    "-Dflowrt.replay.speed=0")
    _wait_log(server, " done: 153 datagrams", 20)
    _wait_log(server, f"ELEPHANT {IPERF_PAIR}", 10)
    elephants = [line.split("ELEPHANT ", 1)[1].strip()
                 for line in server.log.splitlines() if "ELEPHANT " in line]
    assert elephants == [IPERF_PAIR]  # once (timeout 60 holds it), and no other pair
    status = server.get_json("/scripts/json")[script]
    assert status["alive"] and status["error"] is None and status["eventsReceived"] == 1


APP_SCRIPT = """
include(scriptdir() + '/inc/helper.js');
var ticks = 0;
setIntervalHandler(function() { ticks++; sharedSet('ticks', ticks); }, 1);
setHttpHandler(function(req) {
  if (req.path[0] === 'greet') return {hello: twice(req.query.name[0]), ticks: ticks};
  throw 'not_found';
});
"""


def test_app_answers_over_http_and_serves_html(flowrt: Start, tmp_path: Path) -> None:
    app = tmp_path / "app" / "demo"
    (app / "scripts" / "inc").mkdir(parents=True)
    (app / "html").mkdir()
    (app / "scripts" / "demo.js").write_text(APP_SCRIPT)
    (app / "scripts" / "inc" / "helper.js").write_text("function twice(s) { return s + s; }\n")
    (app / "html" / "index.html").write_text("<html><body>demo app</body></html>\n")
    server = flowrt()
    deadline = time.monotonic() + 10
    while True:
        body = server.get_json("/app/demo/scripts/demo.js/greet/json", name="ab")
        if body["ticks"] >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert body["hello"] == "abab" and body["ticks"] >= 1
    assert server.get("/app/demo/scripts/demo.js/nothing/json").status_code == 404
    page = server.get("/app/demo/html/index.html")
    assert page.status_code == 200 and "demo app" in page.text
    assert "demo" in server.get_json("/apps/json")
    assert server.get("/app/demo/status").text.strip() == "OK"
