"""The web UI in a real headless Chromium, over a real ``flowrt run`` replaying a capture.

Each page must load without console errors and show live numbers; the flow browser must
draw its chart from a browse-flows style URL. Screenshots go to
``test-artifacts/browser/`` (gitignored) for a person to look at.

Chromium is Debian's (``/usr/bin/chromium``, package ``chromium``), driven by Playwright
(PyPI ``playwright``; no browser download: ``executable_path`` points at Debian's).
Skipped when either is missing.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import playwright.sync_api as sync_api
import pytest
from flowrt_process import FlowrtProcess

from conftest import REPO_ROOT, SFLOW_TESTDATA

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None:  # make test installs it: missing is a failure, not a skip
    raise RuntimeError("needs Debian's chromium (packages.apt)")

CAPTURE = SFLOW_TESTDATA / "ovs-netns.pcap"  # 153 datagrams over 21 s
REPLAY_SPEED = "0.5"
"""Half pace: the capture then lasts 42 s, so every page sees datagrams arriving."""
ARTIFACTS = REPO_ROOT / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
LIVE_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FlowrtProcess]:
    process = FlowrtProcess(
        tmp_path_factory.mktemp("flowrt"), f"-Dsflow.file={CAPTURE}",
        f"-Dflowrt.replay.speed={REPLAY_SPEED}",
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Page:
    """One browser page that records console errors and uncaught exceptions."""

    def __init__(self, browser: Any) -> None:
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error"
                     else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open(self, url: str) -> Any:
        self.page.goto(url, wait_until="load")
        return self.page

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    p = Page(browser)
    yield p
    p.close()


def number(text: str) -> float:
    """A number as the pages print it (``1,234``, ``5.2K``)."""
    scale = {"K": 1e3, "M": 1e6, "G": 1e9}
    text = text.replace(",", "").strip()
    if text and text[-1] in scale:
        return float(text[:-1]) * scale[text[-1]]
    return float(text)


def test_flow_browser_draws_top_flows_from_a_browse_flows_url(
    server: FlowrtProcess, page: Page
) -> None:
    url = server.url("/app/browse-flows/html/index.html"
                     "?keys=ipsource,ipdestination&value=bps&filter=ipprotocol%3D6")
    p = page.open(url)
    assert p.url.endswith("/html/flows.html?keys=ipsource,ipdestination&value=bps"
                          "&filter=ipprotocol%3D6")
    assert p.input_value("#keys") == "ipsource,ipdestination"
    assert p.input_value("#value") == "bps"
    assert p.input_value("#filter") == "ipprotocol=6"
    row = p.wait_for_selector("#topn .stripchart-legend tbody tr", timeout=LIVE_TIMEOUT_MS)
    p.wait_for_function("Number(document.querySelector('#topn').dataset.points) >= 3",
                        timeout=LIVE_TIMEOUT_MS)
    headings = p.locator("#topn .stripchart-legend th").all_inner_texts()
    assert headings[1:] == ["ipsource", "ipdestination"]
    keys = [c.inner_text() for c in row.query_selector_all("td")[1:]]
    assert len(keys) == 2
    assert set(keys) <= {"10.99.0.1", "10.99.0.2"}  # the capture's two hosts
    assert float(p.get_attribute("#topn", "data-ymax")) > 0
    page.screenshot("flows")
    assert page.errors == []


def test_status_page_shows_live_numbers(server: FlowrtProcess, page: Page) -> None:
    p = page.open(server.url("/"))
    assert p.url.endswith("/html/index.html")
    p.wait_for_function("document.querySelector('#datagrams-rate').textContent !== '-'",
                        timeout=LIVE_TIMEOUT_MS)
    p.wait_for_function("Number(document.querySelector('#trend').dataset.points) >= 2",
                        timeout=LIVE_TIMEOUT_MS)
    analyzer = server.get_json("/analyzer/json")
    assert p.inner_text("#agents") == "1"
    assert p.inner_text("#version") == analyzer["version"]
    assert 0 < number(p.inner_text("#datagrams")) <= analyzer["sFlowDatagramsReceived"]
    assert number(p.inner_text("#datagrams-rate")) >= 0
    assert number(p.inner_text("#decode-errors")) == 0
    assert number(p.inner_text("#loss")) == server.get_json("/agents/json")["127.0.0.1"][
        "sFlowDatagramsLost"]
    assert p.inner_text("#uptime").endswith("s")
    page.screenshot("status")
    assert page.errors == []


def test_metrics_browser_charts_a_metric(server: FlowrtProcess, page: Page) -> None:
    p = page.open(server.url("/html/metrics.html?agent=127.0.0.1&metric=ifspeed"))
    p.wait_for_function("Number(document.querySelector('#chart').dataset.points) >= 3",
                        timeout=LIVE_TIMEOUT_MS)
    assert p.input_value("#agent") == "127.0.0.1"
    assert p.input_value("#metric") == "ifspeed"
    assert p.inner_text("#metric-value") == "10G"  # veths report 10 Gb/s
    assert p.locator("#metric option").count() > 10
    page.screenshot("metrics")
    assert page.errors == []


def test_agents_page_lists_the_agent(server: FlowrtProcess, page: Page) -> None:
    p = page.open(server.url("/html/agents.html"))
    row = p.wait_for_selector("tr[data-agent='127.0.0.1']", timeout=LIVE_TIMEOUT_MS)
    cells = [c.inner_text() for c in row.query_selector_all("td")]
    assert cells[0] == "127.0.0.1"
    assert number(cells[1]) > 0  # datagrams
    assert number(cells[3]) > 0  # flow samples
    page.screenshot("agents")
    assert page.errors == []


def test_api_explorer_lists_every_operation(server: FlowrtProcess, page: Page) -> None:
    doc = server.get_json("/api-docs")
    operations = sum(len(methods) for methods in doc["paths"].values())
    p = page.open(server.url("/api/"))
    p.wait_for_selector(".opblock", timeout=LIVE_TIMEOUT_MS)
    assert p.locator(".opblock").count() == operations
    assert "FlowRT REST API" in p.inner_text(".info")
    page.screenshot("api")
    assert page.errors == []
