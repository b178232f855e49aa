"""Web UI routes over a real engine: pages, /inc/ assets, the OpenAPI document (kept in
step with the router), the flow browser's backend."""

from __future__ import annotations

from typing import Any

from flowrt.web import routes
from flowrt.web.browse import IDLE_SECONDS, MAX_BROWSE_FLOWS, SEPARATOR, FlowBrowser
from flowrt.web.openapi import documented_routes, openapi_document
from served_app import Served

UI_ROUTES = {
    "/", "/api", "/api/", "/api/{name}", "/api-docs", "/inc/{name}", "/html/{name}",
    routes.BROWSE_FLOWS_APP_PAGE, "/app/{name}/api/", "/app/{name}/api/api.yml",
    *routes.LEGACY_PAGES,
    # served by scripts (their own methods and paths: docs/scripts.md), and apps' pages
    "/app/{name}/scripts/{script}/{tail}", "/script/{script}/{tail}", "/app/{name}/html/{path}",
}
"""Pages and assets: not REST resources, so not in the OpenAPI document."""


def get_all(served: Served, *paths: str) -> list[tuple[int, str, bytes, Any]]:
    """(status, content type, body, headers) of each GET, redirects not followed."""
    out: list[tuple[int, str, bytes, Any]] = []

    async def body(client: Any) -> None:
        for path in paths:
            r = await client.get(path, allow_redirects=False)
            out.append((r.status, r.content_type, await r.read(), r.headers))

    served.run(body)
    return out


def test_root_redirects_per_property() -> None:
    ((status, _, _, headers),) = get_all(Served(), "/")
    assert status == 302 and headers["Location"] == "/html/index.html"
    custom = Served({"http.html.redirect": "./app/browse-flows/html/index.html"})
    ((status, _, _, headers),) = get_all(custom, "/")
    assert headers["Location"] == "/app/browse-flows/html/index.html"


def test_pages_and_shared_assets_are_served() -> None:
    pages = ["/html/index.html", "/html/agents.html", "/html/metrics.html", "/html/flows.html",
             "/api/"]
    results = get_all(Served(), *pages)
    for path, (status, ctype, body, _) in zip(pages, results, strict=True):
        assert status == 200, path
        assert ctype == "text/html"
        assert b"<title>" in body
    (jquery, bootstrap_js, bootstrap_css, popper, widget, chart, dt, swagger) = get_all(
        Served(), "/inc/jquery.min.js", "/inc/bootstrap.min.js", "/inc/bootstrap.min.css",
        "/inc/popper.min.js", "/inc/jquery.stripchart.js", "/inc/stripchart.js",
        "/inc/jquery.dataTables.min.js", "/api/swagger-ui-bundle.js")
    assert b"jQuery v3.7.1" in jquery[2]
    assert b"Bootstrap v4.5" in bootstrap_js[2] and b"Popper" in bootstrap_js[2]
    assert b"Bootstrap v4.5" in bootstrap_css[2]
    assert popper[0] == 200 and popper[1] == "application/javascript"
    assert b"$.widget('inmon.stripchart'" in widget[2]
    assert b"$.fn.chart" in chart[2]
    assert dt[0] == 200 and b"DataTables" in dt[2]
    assert swagger[0] == 200 and b"SwaggerUIBundle" in swagger[2]


def test_unknown_and_escaping_paths_are_404() -> None:
    results = get_all(Served(), "/inc/nothing.js", "/html/..%2F..%2Fconfig.py",
                      "/api/index.j2", "/html/missing.html")
    assert [r[0] for r in results] == [404, 404, 404, 404]


def test_html_off_serves_only_the_api_document() -> None:
    results = get_all(Served({"http.html": "no"}), "/html/index.html", "/api-docs")
    assert [r[0] for r in results] == [404, 200]


def test_openapi_document_matches_the_router() -> None:
    app = Served().make_app()
    served_routes = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
        and route.resource.canonical not in UI_ROUTES
    }
    assert served_routes == documented_routes()
    doc = openapi_document()
    assert doc["openapi"].startswith("3.")
    assert set(doc["paths"]["/flow/{name}/json"]) == {"get", "put", "delete"}
    params = doc["paths"]["/metric/{agent}/{metric}/json"]["get"]["parameters"]
    assert [p["name"] for p in params if p["in"] == "path"] == ["agent", "metric"]


def test_api_docs_is_the_document() -> None:
    ((status, ctype, body, _),) = get_all(Served(), "/api-docs")
    assert status == 200 and ctype == "application/json"
    assert b'"/prometheus/analyzer/txt"' in body


def test_browse_flows_app_url_redirects_with_its_query() -> None:
    query = "keys=ipsource,ipdestination&value=bps&filter=ipprotocol%3D6"
    ((status, _, _, headers),) = get_all(
        Served(), f"/app/browse-flows/html/index.html?{query}")
    assert status == 302
    assert headers["Location"] == f"/html/flows.html?{query}"


def test_flow_browser_trend_from_a_capture() -> None:
    served = Served()
    browser = FlowBrowser(served.engine)
    empty = browser.trend("ipsource,ipdestination", "bytes", "ipprotocol=6", None, served.now)
    assert empty["trend"]["trends"]["topn"] == [{}]  # defined on demand: nothing seen yet
    served.replay("ovs-netns")
    first = browser.trend("ipsource,ipdestination", "bytes", "ipprotocol=6", None, served.now)
    point = first["trend"]["trends"]["topn"][-1]
    top = max(point, key=point.get)
    assert top == f"10.99.0.1{SEPARATOR}10.99.0.2"
    assert point[top] > 1e6  # the iperf TCP stream, bytes/s
    assert first["trend"]["maxPoints"] == 300
    served.now += 1.0
    after = first["trend"]["times"][-1]
    second = browser.trend("ipsource,ipdestination", "bytes", "ipprotocol=6", after, served.now)
    assert len(second["trend"]["times"]) == 1 and second["trend"]["times"][0] > after
    assert len(browser) == 1
    served.now += IDLE_SECONDS + 1
    browser.expire(served.now)
    assert len(browser) == 0
    assert not [n for n in served.engine.flows.specs() if n.startswith("flowrt_browse_")]


def test_flow_browser_is_bounded_and_validates() -> None:
    served = Served()
    browser = FlowBrowser(served.engine)
    for i in range(MAX_BROWSE_FLOWS + 5):
        browser.trend("ipsource", "bytes", f"ipprotocol={i}", None, served.now + i * 0.01)
    assert len(browser) == MAX_BROWSE_FLOWS
    assert len(served.engine.flows.specs()) == MAX_BROWSE_FLOWS
    results = get_all(served, "/flowrt/browse-flows/json?keys=nosuch(&value=bytes",
                      "/flowrt/browse-flows/json?value=bytes")
    assert [r[0] for r in results] == [400, 400]
    assert b"error" in results[0][2]
