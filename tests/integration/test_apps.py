"""sFlow-RT style apps on a real ``flowrt run``: FlowRT's own test apps (tests/data/apps),
installed in ``app/<name>/`` as InMon's apps are, over a replayed capture, with their
pages in a real headless Chromium.

Each app exercises one family of the script API the way InMon's apps do (docs/apps.md
lists which app needs what): numeric strings for ``n``/``t``, optional arguments, the
interval handler's millisecond time, promise callbacks, ``logInfo(error)``, string
answers to ``…/json`` requests, the topology functions, and the ``/inc/`` assets their
pages load (``img/``, ``inmsf/``, ``jquery-ui/``, ``DataTables/``). Every page must load
with no console error and no failed request.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import playwright.sync_api as sync_api
import pytest
from flowrt_process import FlowrtProcess
from test_browser import CHROMIUM, CHROMIUM_ARGS

from conftest import REPO_ROOT, SFLOW_TESTDATA

CAPTURE = SFLOW_TESTDATA / "ovs-netns.pcap"  # 153 datagrams over 21 s
APPS = REPO_ROOT / "tests" / "data" / "apps"
PAGE_WAIT_MS = 30_000
HOSTS_APP = "compat-hosts"  # sets its own topology: runs in a server of its own
# The capture's two network namespaces, behind Open vSwitch ports 115 and 116
NS1 = {"mac": "92136D9833CD", "ip": "10.99.0.1", "ifindex": "115", "port": "s1-eth1"}
NS2 = {"mac": "7265889CD9C7", "ip": "10.99.0.2", "ifindex": "116", "port": "s1-eth2"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowrtProcess]:
    workdir = tmp_path_factory.mktemp("flowrt")
    shutil.copytree(APPS, workdir / "app", ignore=shutil.ignore_patterns(HOSTS_APP))
    process = FlowrtProcess(workdir, f"-Dsflow.file={CAPTURE}", "-Dflowrt.replay.speed=0.5")
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def get(server: FlowrtProcess, path: str) -> tuple[int, str, bytes]:
    url = f"http://127.0.0.1:{server.http_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers.get_content_type(), response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get_content_type(), err.read()


def open_page(browser: Any, server: FlowrtProcess, app: str) -> tuple[Any, list[str]]:
    """The app's page, and the list its console errors and failed requests go to."""
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url}")
            if r.status >= 400 else None)
    page.goto(f"http://127.0.0.1:{server.http_port}/app/{app}/html/index.html",
              wait_until="load")
    return page, problems


def test_startup_lines_in_sflow_rt_form(server: FlowrtProcess) -> None:
    scripts_started = 2
    deadline = time.monotonic() + 30  # scripts start once the server is up
    while time.monotonic() < deadline:
        lines = [line.strip() for line in server.stderr_lines]
        if sum(line.endswith(" started") for line in lines) >= scripts_started:
            break
        time.sleep(0.1)
    assert any(line.endswith("INFO: Listening, HTTP port " + str(server.http_port))
               for line in lines), lines
    for script in ("compat-flows/scripts/flows.js", "compat-topology/scripts/topology.js"):
        assert any(line.endswith(f"INFO: app/{script} started") for line in lines), lines
    assert any(line.startswith("flowrt: listening") for line in lines)


def test_flow_app_page_and_script_api(server: FlowrtProcess, browser: Any) -> None:
    page, problems = open_page(browser, server, "compat-flows")
    page.wait_for_function(
        "() => { var t = $('#state').text(); return t && JSON.parse(t).flows.length > 0"
        " && JSON.parse(t).points > 1; }", timeout=PAGE_WAIT_MS)
    state = json.loads(page.inner_text("#state"))
    assert page.inner_text("#version").startswith("3.0-")  # a JSON string, read by getJSON
    now_ms = time.time() * 1000
    assert abs(state["now"] - now_ms) < 3_600_000 * 24 * 366 * 2  # ms since 1970, not cut
    assert state["now"] > 1_000_000_000_000
    assert state["promised"] is True and state["logged"] is True
    assert state["topology"] == 0  # TOPOLOGY before any topology: empty, not an error
    assert state["agentNames"] == ["127.0.0.1"]
    assert state["info"] is not None and state["info"]["flowSamples"] > 0
    assert state["flows"][0]["key"] == "10.99.0.1,10.99.0.2"
    assert state["formatted"] == "1,234,567.89" and state["percent"] == "12% difference"
    assert all(isinstance(key, str) and key for key in state["nullKeys"])
    rows = page.locator("#table tbody tr").count()
    assert rows == len(state["flows"]) or rows >= 1
    assert page.evaluate("document.getElementById('brand').naturalWidth") > 0
    assert page.evaluate("$('#tabs').hasClass('ui-tabs')")  # jQuery UI from /inc/jquery-ui/
    page.close()
    assert problems == []


def test_topology_app(server: FlowrtProcess, browser: Any) -> None:
    page, problems = open_page(browser, server, "compat-topology")
    page.wait_for_function("() => document.getElementById('answers').textContent.length > 0",
                           timeout=PAGE_WAIT_MS)
    answers = json.loads(page.inner_text("#answers"))
    page.close()
    assert problems == []
    assert answers == {
        "nodes": ["leaf1", "leaf2", "spine1"], "spineLinks": ["l1", "l2"],
        "agent": "192.0.2.3", "nodesForAgent": ["leaf1"], "diameter": 2,
        "link": {"name": "l2", "local": "spine1", "remote": "leaf2"},
        "edgeLink": None, "metrics": 4, "macs": [], "located": None,
    }


@pytest.fixture(scope="module")
def hosts_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowrtProcess]:
    """compat-hosts alone; the replay waits for its script to set the topology."""
    workdir = tmp_path_factory.mktemp("flowrt-hosts")
    shutil.copytree(APPS / HOSTS_APP, workdir / "app" / HOSTS_APP)
    process = FlowrtProcess(workdir, f"-Dsflow.file={CAPTURE}", "-Dflowrt.replay.speed=2",
                            "-Dflowrt.replay.delay=3")
    process.start()
    yield process
    process.stop()


def test_hosts_located_at_edge_ports(hosts_server: FlowrtProcess, browser: Any) -> None:
    """Host location on a real server: the capture's two namespaces at their OVS ports,
    through the script API, a page (as fabric-view's Hosts tab) and the self-metrics."""
    page, problems = open_page(browser, hosts_server, HOSTS_APP)
    page.wait_for_function("() => document.getElementById('answers').textContent.length > 0",
                           timeout=PAGE_WAIT_MS)
    answers = json.loads(page.inner_text("#answers"))
    rows = page.locator("#hosts tbody tr").all_inner_texts()
    page.close()
    assert problems == []
    expected = [
        {"mac": ns["mac"], "agent": "127.0.0.1", "ifindex": ns["ifindex"], "node": "s1",
         "port": ns["port"], "vlan": None, "ipaddress": ns["ip"], "ip6address": None,
         "ouiname": None}
        for ns in sorted((NS1, NS2), key=lambda ns: ns["mac"])
    ]
    assert answers == {
        "hosts": expected, "atPort1": [NS1["mac"]], "atCore": [], "atS2": [],
        "byIP": [expected[0]], "unknown": None,
    }
    assert [row.split("\t") for row in rows] == [
        [h["mac"], "s1", h["port"], h["ipaddress"]] for h in expected]
    analyzer = json.loads(get(hosts_server, "/analyzer/json")[2])
    assert analyzer["hostsLocated"] == 2 and analyzer["hostLocationsRejected"] == 0
    assert get(hosts_server, "/flow/flowrt-hosts-mac/json")[0] == 404  # internal: unlisted
    assert json.loads(get(hosts_server, "/flow/json")[2]) == {}


def test_inc_assets_and_legacy_pages(server: FlowrtProcess) -> None:
    favicon = get(server, "/inc/img/favicon.png")
    assert favicon[0] == 200 and favicon[2].startswith(b"\x89PNG")
    logo = get(server, "/inc/img/inmon.svg")
    assert logo[0] == 200 and b"FlowRT" in logo[2]
    assert b"#titleBar" in get(server, "/inc/inmsf/main.css")[2]
    for path in ("/inc/jquery-ui/images/ui-icons_444444_256x240.png",
                 "/inc/DataTables/images/sort_both.png",
                 "/inc/DataTables/js/jquery.dataTables.min.js"):
        assert get(server, path)[0] == 200, path
    assert get(server, "/inc/jquery-ui/../../../etc/passwd")[0] == 404
    for legacy in ("/agents/html", "/metrics/html", "/flows/html", "/thresholds/html",
                   "/events/html"):
        status, kind, _ = get(server, legacy)  # urllib follows the redirect
        assert (status, kind) == (200, "text/html"), legacy


def test_rest_leniency(server: FlowrtProcess) -> None:
    base = f"http://127.0.0.1:{server.http_port}"
    request = urllib.request.Request(
        f"{base}/flow/literal/json", method="PUT", data=b"{keys:'ipsource', value:'bytes',}",
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 204
    assert json.loads(get(server, "/flow/literal/json")[2])["keys"] == "ipsource"
    assert get(server, "/flows/json?name=nosuch")[0] == 404
