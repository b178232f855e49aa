"""Every refusal is a 4xx with ``{"error": <a sentence naming the problem>}``, never a 500."""

from __future__ import annotations

import asyncio
import time

import pytest
from harness import Harness, api_test

from flowrt.api.app import MAX_BODY_BYTES, MAX_LOOKUP_SETS
from flowrt.api.longpoll import Wakeup, long_poll

PAIR = {"keys": "ipsource,ipdestination", "value": "bytes"}


async def refused(h: Harness, method: str, path: str, status: int, *, data: bytes | None = None,
                  json: object = None, params: dict[str, str] | None = None) -> str:
    response = await h.http.request(method, path, data=data, json=json, params=params)
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in body["error"]
    return body["error"]


@pytest.mark.parametrize("path", ["/flow/f/json", "/threshold/t/json", "/group/g/json",
                                  "/map/m/json"])
@pytest.mark.parametrize("data,message", [
    (b"{bad", "not valid JSON"),
    (b"", "empty"),
    (b"[1, 2]", "must be a JSON object"),
    (b'{"value": NaN}', "NaN"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_bad_bodies_on_every_definition(path: str, data: bytes, message: str) -> None:
    async def body(h: Harness) -> None:
        assert message in await refused(h, "PUT", path, 400, data=data)

    api_test(body)


@pytest.mark.parametrize("spec,message", [
    ({"keys": "ipsource"}, "'value' is required"),
    ({**PAIR, "colour": "red"}, "unknown flow attribute(s): colour"),
    ({**PAIR, "filter": "(ipsource=10.0.0.1"}, "expected ')'"),
    ({**PAIR, "filter": "ipsource~["}, "unbalanced regex"),
    ({**PAIR, "n": "many"}, "'n'"),
    ({**PAIR, "keys": "nosuchfn:ipsource"}, "nosuchfn"),
    ({**PAIR, "aggMode": "median"}, "aggMode"),
])
def test_bad_flow_definitions(spec: dict[str, object], message: str) -> None:
    async def body(h: Harness) -> None:
        assert message in await refused(h, "PUT", "/flow/f/json", 400, json=spec)
        assert await h.json("/flow/json") == {}

    api_test(body)


def test_bad_flow_name() -> None:
    async def body(h: Harness) -> None:
        assert "invalid flow name" in await refused(h, "PUT", "/flow/a.b/json", 400, json=PAIR)

    api_test(body)


@pytest.mark.parametrize("spec,message", [
    ({"value": 1}, "'metric' is required"),
    ({"metric": "pair", "value": "high"}, "'value'"),
    ({"metric": "pair", "value": 1, "byFlow": "maybe"}, "byFlow"),
    ({"metric": "max:", "value": 1}, "metric"),
])
def test_bad_thresholds(spec: dict[str, object], message: str) -> None:
    async def body(h: Harness) -> None:
        assert message in await refused(h, "PUT", "/threshold/t/json", 400, json=spec)
        assert await h.json("/threshold/json") == {}

    api_test(body)


def test_bad_groups_and_maps() -> None:
    async def body(h: Harness) -> None:
        assert "10.0.0.0/33" in await refused(h, "PUT", "/group/g/json", 400,
                                              json={"a": ["10.0.0.0/33"]})
        assert "list of CIDRs" in await refused(h, "PUT", "/group/g/json", 400,
                                                json={"a": "10.0.0.0/8"})
        assert "list of values" in await refused(h, "PUT", "/map/m/json", 400, json={"a": 1})

    api_test(body)


def test_lookup_set_cap() -> None:
    async def body(h: Harness) -> None:
        for i in range(MAX_LOOKUP_SETS):
            h.engine.lookups.set_map(f"m{i}", {"a": ["1"]})
        message = await refused(h, "PUT", "/map/one-more/json", 400, json={"a": ["1"]})
        assert f"limit is {MAX_LOOKUP_SETS}" in message
        await h.put("/map/m0/json", {"b": ["2"]})  # replacing an existing one is fine

    api_test(body)


def test_flow_definition_cap() -> None:
    async def body(h: Harness) -> None:
        cap = h.engine.flows.max_definitions
        for i in range(cap):
            h.engine.set_flow(f"f{i}", PAIR)
        assert "too many flow definitions" in await refused(h, "PUT", "/flow/extra/json", 400,
                                                            json=PAIR)

    api_test(body)


@pytest.mark.parametrize("path,params,message", [
    ("/activeflows/ALL/pair/json", {"maxFlows": "ten"}, "maxFlows='ten' is not an integer"),
    ("/activeflows/ALL/pair/json", {"maxFlows": "-1"}, "below the minimum"),
    ("/activeflows/ALL/pair/json", {"minValue": "x"}, "minValue='x' is not a number"),
    ("/activeflows/ALL/pair/json", {"minValue": "nan"}, "not a finite number"),
    ("/activeflows/ALL/pair/json", {"aggMode": "median"},
     "expected one of agent, core, edge, max, sum"),
    ("/flows/json", {"timeout": "soon"}, "timeout"),
    ("/flows/json", {"timeout": "-1"}, "below the minimum"),
    ("/flows/json", {"flowID": "x"}, "flowID"),
    ("/events/json", {"eventID": "-5"}, "below the minimum"),
    ("/events/json", {"maxEvents": "1e3"}, "maxEvents"),
    ("/metric/ALL/nosuch:ifinoctets/json", {}, "nosuch"),
    ("/table/ALL/sort:ifinoctets:x/json", {}, "sort:"),
])
def test_bad_query_arguments(path: str, params: dict[str, str], message: str) -> None:
    async def body(h: Harness) -> None:
        await h.put("/flow/pair/json", PAIR)
        assert message in await refused(h, "GET", path, 400, params=params)

    api_test(body)


@pytest.mark.parametrize("method,path", [
    ("GET", "/flow/nosuch/json"), ("DELETE", "/flow/nosuch/json"),
    ("GET", "/activeflows/ALL/nosuch/json"), ("GET", "/threshold/nosuch/json"),
    ("GET", "/group/nosuch/json"), ("GET", "/map/nosuch/json"),
    ("GET", "/metric/192.0.2.99/json"), ("GET", "/no/such/resource"),
])
def test_unknown_names_are_404(method: str, path: str) -> None:
    async def body(h: Harness) -> None:
        await refused(h, method, path, 404)

    api_test(body)


@pytest.mark.parametrize("method,path,hint", [
    ("GET", "/flow/pair/json/", "/flow/pair/json"),
    ("PUT", "/flow/pair/json/", "/flow/pair/json"),
    ("GET", "/activeflows/ALL/pair", "/activeflows/ALL/pair/json"),
    ("GET", "/agents", "/agents/json"),
    ("GET", "/version/", "/version"),
    ("GET", "/metric/ALL/ifinoctets/txt", "/metric/ALL/ifinoctets/json"),
    ("GET", "/no/such/resource", None),
    ("POST", "/flow/pair/json/", None),
])
def test_unknown_route_suggests_the_route_meant(method: str, path: str, hint: str | None) -> None:
    async def body(h: Harness) -> None:
        message = await refused(h, method, path, 404, json=PAIR if method == "PUT" else None)
        assert message.startswith(f"no such resource: {path}")
        if hint is None:
            assert "did you mean" not in message
        else:
            assert message.endswith(f"(did you mean {hint}?)")

    api_test(body)


def test_wrong_method_is_405_json() -> None:
    async def body(h: Harness) -> None:
        message = await refused(h, "POST", "/flow/f/json", 405, json=PAIR)
        assert "PUT" in message

    api_test(body)


def test_body_size_limit() -> None:
    async def body(h: Harness) -> None:
        big = b'{"a": ["' + b"1" * MAX_BODY_BYTES + b'"]}'
        assert "too large" in await refused(h, "PUT", "/map/m/json", 413, data=big)
        assert await h.json("/map/json") == {}

    api_test(body)


def test_readonly_refuses_every_mutation_but_serves_reads() -> None:
    async def body(h: Harness) -> None:
        for method, path in [("PUT", "/flow/f/json"), ("DELETE", "/flow/f/json"),
                             ("PUT", "/threshold/t/json"), ("PUT", "/group/g/json"),
                             ("DELETE", "/map/m/json")]:
            assert "read-only" in await refused(h, method, path, 403, json=PAIR)
        assert await h.json("/flow/json") == {}

    api_test(body, {"http.readonly": "yes"})


def test_long_poll_timeout_is_capped_and_released_on_close() -> None:
    async def main() -> None:
        wakeup = Wakeup()
        started = time.monotonic()
        waiting = asyncio.create_task(long_poll(list, wakeup, 3600))
        await asyncio.sleep(0.05)
        assert wakeup.waiting == 1
        wakeup.close()
        assert await asyncio.wait_for(waiting, 1) == []
        assert time.monotonic() - started < 5  # released on close, not after the 3600 s timeout
        assert wakeup.waiting == 0

    asyncio.run(main())


def test_long_poll_timeout_argument_is_clamped() -> None:
    """timeout=100000 is accepted (clamped to the cap), not refused; the poll is released
    when the server shuts down rather than holding the client for a day."""

    async def body(h: Harness) -> None:
        poll = asyncio.create_task(h.http.get("/events/json", params={"timeout": "100000"}))
        await asyncio.sleep(0.2)
        assert not poll.done()
        await h.app.shutdown()
        response = await asyncio.wait_for(poll, 2)
        assert response.status == 200 and await response.json() == []

    api_test(body)
