"""CORS as browsers need it: a page on another origin, in headless Chromium, sends the
credentials, an Idempotency-Key, W3C trace context and X-Query-Cost through a real preflight,
and reads the answer's Idempotent-Replayed, X-Request-Id and Retry-After."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from gateway.sandbox import Sandbox
from tests.browser import launch
from tests.conftest import SUITE_KEY, ServerThread, StartGateway
from tests.test_idempotency import create_body

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

# What a browser app does: a write with an Idempotency-Key, twice, and a traced, costed read.
SCRIPT = """async ([gateway, key, body, traceparent]) => {
  const headers = {
    "Authorization": "Bearer " + key,
    "Content-Type": "application/json",
    "Idempotency-Key": "browser-create-1",
    "traceparent": traceparent,
    "tracestate": "vendor=1",
  };
  const {["Idempotency-Key"]: _, ...plain} = headers;
  const seen = [];
  for (let i = 0; i < 2; i++) {
    const answer = await fetch(gateway + "/graphql", {
      method: "POST", headers, body: JSON.stringify(body),
    });
    seen.push({
      status: answer.status,
      replayed: answer.headers.get("Idempotent-Replayed"),
      requestId: answer.headers.get("X-Request-Id"),
      body: await answer.json(),
    });
  }
  const costed = await fetch(gateway + "/graphql", {
    method: "POST",
    headers: {...plain, "X-Query-Cost": "1"},
    body: JSON.stringify({query: "{ seals(first: 1) { totalCount } }"}),
  }).catch(error => ({status: 0, error: String(error)}));
  seen.push({status: costed.status, body: costed.json ? await costed.json() : costed});
  return seen;
}"""


@pytest.fixture
def other_origin() -> Iterator[str]:
    """A page of a browser app, served from an origin of its own."""

    async def index(request: Any) -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>app</title><p>a browser app</p>")

    with ServerThread(Starlette(routes=[Route("/", index)])) as server:
        yield server.url


@pytest.mark.timeout(120)
def test_a_browser_app_on_another_origin_writes_idempotently_and_traced(
    start_gateway: StartGateway, sandbox: Sandbox, other_origin: str
) -> None:
    from playwright.sync_api import sync_playwright

    gateway = start_gateway(SEALGW_CORS_ORIGINS=other_origin)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.goto(other_origin, wait_until="load")
            first, again, costed = page.evaluate(
                SCRIPT, [gateway.url, SUITE_KEY, create_body("浏览器合同章"), TRACEPARENT]
            )
        finally:
            browser.close()
    assert first["status"] == again["status"] == 200, first
    assert first["body"]["data"]["createTemplateSeal"]["userErrors"] == []
    # the script reads the headers the gateway exposes
    assert first["replayed"] is None
    assert again["replayed"] == "true"
    assert first["requestId"]
    assert again["requestId"]
    assert again["body"] == first["body"]
    assert sandbox.count("yunyin:createSealByTemplate") == 1
    assert costed["status"] == 200, costed
    assert "cost" in costed["body"].get("extensions", {}), costed
    # the browser's trace context reached the gateway, and the vendors
    assert any(r.headers.get("traceparent", "").startswith("00-0af76519") for r in sandbox.requests)
    assert any(r.headers.get("tracestate") == "vendor=1" for r in sandbox.requests)


def test_the_preflight_names_the_allowed_and_exposed_headers(
    start_gateway: StartGateway, other_origin: str
) -> None:
    gateway = start_gateway(SEALGW_CORS_ORIGINS=other_origin)
    preflight = gateway.client.options(
        f"{gateway.url}/graphql",
        headers={
            "Origin": other_origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": (
                "authorization,content-type,idempotency-key,traceparent,tracestate,x-query-cost"
            ),
        },
    )
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == other_origin
    answer = gateway.client.post(
        f"{gateway.url}/graphql",
        json={"query": "{ providers { provider } }"},
        headers={"Origin": other_origin},
    )
    listed = answer.headers["access-control-expose-headers"]
    exposed = {name.strip().lower() for name in listed.split(",")}
    assert exposed >= {"idempotent-replayed", "x-request-id", "retry-after"}
    # an origin not listed gets no CORS headers, and a header not allowed is refused
    stranger = gateway.client.options(
        f"{gateway.url}/graphql",
        headers={
            "Origin": "http://elsewhere.test",
            "Access-Control-Request-Method": "POST",
        },
    )
    assert stranger.status_code == 400
    assert "access-control-allow-origin" not in stranger.headers
    from_stranger = gateway.client.post(
        f"{gateway.url}/graphql",
        json={"query": "{ providers { provider } }"},
        headers={"Origin": "http://elsewhere.test"},
    )
    # without Access-Control-Allow-Origin the browser lets the page read nothing of it
    assert "access-control-allow-origin" not in from_stranger.headers
    narrow = start_gateway(
        SEALGW_CORS_ORIGINS=other_origin, SEALGW_CORS_ALLOW_HEADERS="Authorization,Content-Type"
    )
    refused = narrow.client.options(
        f"{narrow.url}/graphql",
        headers={
            "Origin": other_origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "idempotency-key",
        },
    )
    assert refused.status_code == 400
