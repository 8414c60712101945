"""Each speed step of the request path answers byte for byte what the gateway answers with that
step switched off: every query document the tests use, the benchmark's, and one reading every
field of every sandbox seal, with two sets of variables (and with vendors failing, for the
steps on the vendor side), sent over real HTTP to a gateway with every step on and to one with
the step off, over the same sandbox. Each comparison also checks that the step was taken (a
step that never ran would pass the comparison and prove nothing)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
import pytest
from starlette.routing import Router

from gateway.http.server import BusyPoll
from gateway.providers.connections import ConnectionPool
from gateway.providers.http import VendorClient
from gateway.sandbox import Sandbox
from tests.conftest import Gateway, StartGateway
from tests.test_lean import VARIABLES, VOLATILE, query_documents
from tests.test_plan import FAULTS

# headers that differ from one answer to the next whatever the gateway does (the length of a
# compressed answer too: the sandbox signs its image links afresh each time)
PER_ANSWER = {"date", "x-request-id", "content-length"}
DIRECT_PATHS = {"/graphql", "/subgraph"}


def compare(gateways: tuple[Gateway, Gateway], document: str, variables: dict[str, Any]) -> None:
    body = {"query": document, "variables": variables}
    on, off = (
        g.client.post(f"{g.url}/graphql", json=body, headers={"X-Query-Cost": "1"})
        for g in gateways
    )
    assert on.status_code == off.status_code, document
    assert [(k, v) for k, v in on.headers.items() if k not in PER_ANSWER] == [
        (k, v) for k, v in off.headers.items() if k not in PER_ANSWER
    ], document
    assert VOLATILE.sub(rb"\1~", on.content) == VOLATILE.sub(rb"\1~", off.content), (
        document,
        variables,
        on.text[:600],
        off.text[:600],
    )


class Counted:
    """Counts calls of one method while a test runs (the gateway runs in this process)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: type, name: str) -> None:
        self.calls = 0
        original = getattr(owner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)


def run_all(gateways: tuple[Gateway, Gateway]) -> int:
    documents = query_documents()
    assert len(documents) >= 15
    for document in documents:
        for variables in VARIABLES:
            compare(gateways, document, variables)
    return len(documents)


def run_with_faults(gateways: tuple[Gateway, Gateway], sandbox: Sandbox) -> None:
    """Every document again with each of the sandbox's vendor faults in turn."""
    try:
        for fault in FAULTS:
            sandbox.faults[:] = [fault]
            for document in query_documents():
                compare(gateways, document, VARIABLES[1])
    finally:
        sandbox.faults[:] = []


def test_direct_vendor_http_answers_the_same_bytes(
    start_gateway: StartGateway, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    exchanges = Counted(monkeypatch, ConnectionPool, "exchange")
    gateways = (start_gateway(), start_gateway(SEALGW_DIRECT_VENDOR_HTTP="off"))
    documents = run_all(gateways)
    assert exchanges.calls >= documents
    run_with_faults(gateways, sandbox)


def test_lean_vendor_send_answers_the_same_bytes(
    start_gateway: StartGateway, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The short way through httpx's client: the same answers, healthy and with vendors
    failing, e签宝's signatures and both vendors' tokens included (the sandbox checks them)."""
    sends = Counted(monkeypatch, VendorClient, "_lean_send")
    gateways = (start_gateway(), start_gateway(SEALGW_LEAN_VENDOR_SEND="off"))
    documents = run_all(gateways)
    assert sends.calls >= documents
    run_with_faults(gateways, sandbox)


def test_busy_poll_answers_the_same_bytes(
    start_gateway: StartGateway, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event loop kept awake between requests: the same answers, healthy and with vendors
    failing (the window is long enough to be open through each whole request)."""
    turns = Counted(monkeypatch, BusyPoll, "_turn")
    gateways = (start_gateway(SEALGW_BUSY_POLL_US="50000"), start_gateway())
    documents = run_all(gateways)
    assert turns.calls >= documents
    run_with_faults(gateways, sandbox)


# Requests of every kind the GraphQL paths answer (method, path, headers, body): operations by
# POST and GET, GraphiQL's page, refusals of every layer (method, credentials, body, document),
# an answer large enough to be compressed, and a CORS preflight and cross-site request.
SEALS = "{ seals(first: 50) { edges { node { id name code bizType status image { url } } } } }"
HTTP_REQUESTS: list[tuple[str, str, dict[str, str], bytes | None]] = [
    ("POST", "/graphql", {"content-type": "application/json"}, b'{"query": "{ __typename }"}'),
    ("GET", "/graphql?query=%7B__typename%7D", {}, None),
    ("GET", "/graphql", {"accept": "text/html"}, None),
    ("GET", "/subgraph?query=%7B__typename%7D", {}, None),
    ("HEAD", "/graphql", {}, None),
    ("PUT", "/graphql", {}, b"{}"),
    ("POST", "/graphql", {"content-type": "application/json"}, b"{not json"),
    ("POST", "/graphql", {"content-type": "text/plain"}, b"{}"),
    ("POST", "/graphql", {"content-type": "application/json"}, b'{"query": "{ nope }"}'),
    (
        "POST",
        "/graphql",
        {"content-type": "application/json", "authorization": "Bearer wrong"},
        b'{"query": "{ __typename }"}',
    ),
    (
        "POST",
        "/graphql",
        {"content-type": "application/json", "accept-encoding": "gzip"},
        b'{"query": "%s"}' % SEALS.encode(),
    ),
    (
        "POST",
        "/graphql",
        {"content-type": "application/json", "accept-encoding": "identity"},
        b'{"query": "%s"}' % SEALS.encode(),
    ),
    (
        "POST",
        "/graphql",
        {"content-type": "application/json", "accept-encoding": "identity"},
        b'{"query": "{ __typename }"}',
    ),
    ("GET", "/graphql?query=" + quote(SEALS), {"accept-encoding": "identity"}, None),
    ("GET", "/graphql?query=" + quote(SEALS), {"accept-encoding": "gzip"}, None),
    ("GET", "/graphql", {"accept": "text/html", "accept-encoding": "identity"}, None),
    (
        "OPTIONS",
        "/graphql",
        {
            "origin": "https://app.example",
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
        None,
    ),
    (
        "POST",
        "/graphql",
        {"content-type": "application/json", "origin": "https://app.example"},
        b'{"query": "{ __typename }"}',
    ),
    ("POST", "/graphql/", {"content-type": "application/json"}, b'{"query": "{ __typename }"}'),
]

# what each is answered (the same both ways: checked above)
STATUSES = [
    200,
    200,
    200,
    200,
    200,
    405,
    400,
    400,
    200,
    401,
    200,
    200,
    200,
    200,
    200,
    200,
    200,
    200,
    307,
]


def test_direct_graphql_dispatch_answers_the_same_bytes(
    start_gateway: StartGateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GraphQL's paths reached without Starlette's router: the same status, headers and bytes
    for every kind of request, through the same compression and CORS, and the router not
    consulted for them (it still is with the switch off, and for every other path)."""
    routed: list[str] = []  # the paths Starlette's routers were asked for
    route = Router.__call__

    async def counted(router: Router, scope: Any, receive: Any, send: Any) -> None:
        routed.append(scope.get("path", ""))
        await route(router, scope, receive, send)

    monkeypatch.setattr(Router, "__call__", counted)
    cors = {"SEALGW_CORS_ORIGINS": "https://app.example"}
    gateways = (
        start_gateway(**cors),
        start_gateway(SEALGW_DIRECT_GRAPHQL_DISPATCH="off", **cors),
    )
    assert run_all(gateways) >= 15
    answers: list[list[httpx.Response]] = [[], []]
    routed_off = 0
    for method, path, headers, body in HTTP_REQUESTS:
        for gateway, seen in zip(gateways, answers, strict=True):
            routed.clear()
            seen.append(
                gateway.client.request(method, gateway.url + path, headers=headers, content=body)
            )
            # the direct paths skip the router; the switch off, and other paths, go through it
            direct = gateway is gateways[0] and path.partition("?")[0] in DIRECT_PATHS
            gateway_paths = [p for p in routed if p.startswith(("/graphql", "/subgraph"))]
            if direct:
                assert gateway_paths == [], (method, path)
            elif gateway is gateways[1]:
                routed_off += len(gateway_paths)

    def headers(gateway: Gateway, answer: httpx.Response) -> list[tuple[str, str]]:
        # a redirect names the gateway's own address
        return [
            (k, v.replace(gateway.url, "{gateway}"))
            for k, v in answer.headers.items()
            if k not in PER_ANSWER
        ]

    for request, on, off in zip(HTTP_REQUESTS, *answers, strict=True):
        assert on.status_code == off.status_code, request
        assert headers(gateways[0], on) == headers(gateways[1], off), request
        assert VOLATILE.sub(rb"\1~", on.content) == VOLATILE.sub(rb"\1~", off.content), request
    # off, all but the CORS preflight (answered by the middleware before any route) were routed
    assert routed_off == len(HTTP_REQUESTS) - 1
    gzipped = answers[0][HTTP_REQUESTS.index(next(r for r in HTTP_REQUESTS if SEALS in str(r)))]
    assert gzipped.headers["content-encoding"] == "gzip"
    # a large answer to a client that takes no gzip: as is, with the Vary GZip adds
    large, small, large_get = answers[0][11:14]
    assert "content-encoding" not in large.headers
    assert large.headers["vary"].split(", ")[-1] == "Accept-Encoding"
    assert "Accept-Encoding" not in small.headers.get("vary", "")  # a small one: not added
    # beside the Vary a GET answer carries already, in the same header
    assert large_get.headers.get_list("vary") == [
        "Authorization, X-Api-Key, Accept, Origin, Accept-Encoding"
    ]
    assert [answer.status_code for answer in answers[0]] == STATUSES
