"""The upstream transport: how failures are classified (may a write have happened?) and the one
retry of a connection that could not be opened; over the gateway's own connections
(gateway/providers/connections.py) and over aiohttp's (SEALGW_DIRECT_VENDOR_HTTP=off) alike."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import httpx
import pytest

from gateway.domain import ProviderName
from gateway.providers.http import (
    HttpSettings,
    UpstreamTransport,
    make_client,
    transport_failure,
)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def rude_server() -> Iterator[tuple[str, list[int]]]:
    """Accepts a connection, reads the request, and closes without answering."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted.append(1)
            conn.recv(65536)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    listener.close()


# every test that sends runs over both ways of sending
DIRECT = pytest.mark.parametrize("direct", [True, False], ids=["direct", "aiohttp"])


def _post(base_url: str, timeout_s: float = 2.0, *, direct: bool) -> httpx.HTTPError:
    async def go() -> httpx.HTTPError:
        settings = HttpSettings(timeout_s=timeout_s, direct=direct)
        async with make_client(base_url, settings) as client:
            try:
                await client.post("/seal/delete", json={"sealId": 1})
            except httpx.HTTPError as exc:
                return exc
        raise AssertionError("the request succeeded")

    return asyncio.run(go())


@DIRECT
def test_refused_connection_was_never_sent(direct: bool) -> None:
    error = _post(f"http://127.0.0.1:{_closed_port()}", direct=direct)
    assert isinstance(error, httpx.ConnectError)
    failure = transport_failure(ProviderName.YUNYIN, error, is_write=True)
    assert failure.write_may_have_happened is False
    assert failure.retryable is True


@DIRECT
def test_dropped_connection_may_have_been_sent(
    rude_server: tuple[str, list[int]], direct: bool
) -> None:
    url, accepted = rude_server
    error = _post(url, direct=direct)
    assert isinstance(error, httpx.RemoteProtocolError | httpx.ReadError)
    failure = transport_failure(ProviderName.YUNYIN, error, is_write=True)
    assert failure.write_may_have_happened is True
    assert len(accepted) == 1  # a request that reached the vendor is not sent again


@DIRECT
def test_silent_vendor_times_out_and_may_have_received_it(direct: bool) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # accepts (in the backlog) and never answers
    try:
        error = _post(f"http://127.0.0.1:{listener.getsockname()[1]}", 0.3, direct=direct)
    finally:
        listener.close()
    assert isinstance(error, httpx.ReadTimeout)
    failure = transport_failure(ProviderName.YUNYIN, error, is_write=True)
    assert failure.write_may_have_happened is True
    assert "timed out" in failure.message


def _dripping_vendor(gaps_s: list[float]) -> tuple[str, threading.Thread, socket.socket]:
    """A vendor that sends its answer's head, then one byte of its body after each gap."""
    body = b'{"code":"200","data":null}'.ljust(len(gaps_s), b" ")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body))
            for index, gap in enumerate(gaps_s):
                time.sleep(gap)
                try:
                    connection.sendall(body[index : index + 1])
                except OSError:  # the gateway gave up
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", thread, listener


@DIRECT
def test_a_vendor_that_keeps_sending_is_read_to_the_end(direct: bool) -> None:
    """The read timeout counts from the last byte: an answer whose bytes come 0.06 s apart
    is read whole though it takes 1.56 s in all, with a timeout of 0.4 s."""
    url, thread, listener = _dripping_vendor([0.06] * 26)
    try:

        async def go() -> bytes:
            async with make_client(url, HttpSettings(timeout_s=0.4, direct=direct)) as client:
                return (await client.post("/seal/getSealInfo", json={})).content

        assert asyncio.run(go()) == b'{"code":"200","data":null}'
    finally:
        thread.join(timeout=10)
        listener.close()


@DIRECT
def test_a_vendor_that_stops_sending_midway_times_out(direct: bool) -> None:
    url, thread, listener = _dripping_vendor([0.05] * 5 + [1.0] + [0.05] * 20)
    try:
        error = _post(url, 0.4, direct=direct)
        assert isinstance(error, httpx.ReadTimeout)
    finally:
        thread.join(timeout=10)
        listener.close()


@DIRECT
def test_a_failed_connect_is_tried_once_more(monkeypatch: pytest.MonkeyPatch, direct: bool) -> None:
    attempts: list[int] = []

    async def flaky(self: object, request: httpx.Request) -> httpx.Response:
        attempts.append(1)
        if len(attempts) == 1:  # as the adapter's table maps a refused connection
            cause = aiohttp.ClientConnectorError.__new__(aiohttp.ClientConnectorError)
            raise httpx.ConnectError("refused", request=request) from cause
        return httpx.Response(200, json={"code": "200"}, request=request)

    monkeypatch.setattr(UpstreamTransport, "_direct" if direct else "_exchange", flaky)

    async def go() -> int:
        async with make_client("http://vendor.invalid", HttpSettings(direct=direct)) as client:
            return (await client.post("/x", json={})).status_code

    assert asyncio.run(go()) == 200
    assert len(attempts) == 2


def test_vendor_clients_keep_no_cookies_and_join_endpoints_as_httpx() -> None:
    """A cookie a vendor (or its load balancer) sets is not sent back; an endpoint's URL is the
    one httpx itself makes from the base URL and the path."""
    seen: list[httpx.Request] = []

    def vendor(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"code": "0"}, headers={"set-cookie": "lb=node-7; Path=/"})

    async def go() -> None:
        async with make_client("http://vendor.test/api/", HttpSettings()) as client:
            client._transport = httpx.MockTransport(vendor)
            plain = httpx.AsyncClient(base_url="http://vendor.test/api/")
            for path in ("/seal/getSealInfo", "seal/list", "/v3/seals?x=1"):
                assert client.endpoint(path) == plain.build_request("GET", path).url
            assert client.endpoint("/seal/list") is client.endpoint("/seal/list")
            await client.post(client.endpoint("/seal/list"), json={})
            await client.post(client.endpoint("/seal/list"), json={})
            await plain.aclose()
            assert not client.cookies

    asyncio.run(go())
    assert len(seen) == 2
    assert "cookie" not in seen[1].headers


# (content, json, the call's headers, built the short way): JSON and bytes bodies with and
# without headers of the call's own, and each case left to httpx itself
BUILT = [
    (
        None,
        {"sealId": 50042, "名": "印章", "w": 1.5e16, "l": [1, None, True, {"c": "\u2028\x01\n"}]},
        {"userId": "20001", "source": "gateway"},
        True,
    ),
    (None, {}, None, True),
    (None, [], {}, True),
    (b"\x00\xffbytes", None, {"userId": "1"}, True),
    (b"{}", None, {"Content-Type": "application/json"}, False),  # names what httpx fills in
    (None, {"a": 1}, {"host": "elsewhere"}, False),
    (None, {"a": 1}, {"user-agent": "another"}, False),  # replaces the client's own
    (None, {"a": 1}, {"Accept": "text/plain"}, False),
    (b"", None, None, False),  # an empty body
    (None, None, {"userId": "1"}, False),  # no body
    (None, {"a": 1}, [("userId", "1"), ("userId", "2")], False),  # not a dict: may repeat
    (None, {"a": 1}, httpx.Headers([("userId", "1"), ("userId", "2")]), False),
    (None, {"a": 1}, {"userId": b"1"}, False),  # not text
]


@pytest.mark.parametrize(("content", "json", "headers", "short"), BUILT)
def test_a_request_built_the_short_way_is_the_one_httpx_builds(
    monkeypatch: pytest.MonkeyPatch,
    content: bytes | None,
    json: object,
    headers: Any,
    short: bool,
) -> None:
    """`SEALGW_LEAN_VENDOR_SEND` builds a vendor request without httpx's merging: the same
    method, URL, headers in the same order, body and extensions as `httpx.Request`."""
    streamed: list[bool] = []

    class Recorded(httpx.Request):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            streamed.append("stream" in kwargs)
            super().__init__(*args, **kwargs)

    async def go() -> None:
        for client_headers in ({"User-Agent": "seal-gateway"}, {"Content-Type": "text/plain"}):
            async with make_client("http://vendor.test:8080/api/", HttpSettings()) as client:
                client.headers = client_headers
                url = client.endpoint("/seal/getSealInfo")
                expected = httpx.Request(
                    "POST",
                    url,
                    content=content,
                    json=json,
                    headers=client._merge_headers(headers),
                    extensions={"timeout": client.timeout.as_dict()},
                )
                with monkeypatch.context() as patched:
                    patched.setattr(httpx, "Request", Recorded)
                    built = client._built("POST", url, content, json, headers)
                assert (built.method, built.url) == (expected.method, expected.url)
                assert built.headers.raw == expected.headers.raw
                assert built.content == expected.content
                assert built.extensions == expected.extensions
                # a client header naming what httpx fills in sends every request its way
                assert streamed.pop() == (short and "Content-Type" not in client_headers)

    asyncio.run(go())


@pytest.mark.parametrize(
    ("json", "headers", "error"),
    [({"a": float("nan")}, None, ValueError), ({"a": 1}, {"userId": "名"}, UnicodeEncodeError)],
)
def test_a_request_httpx_refuses_to_build_is_refused_the_short_way_too(
    json: object, headers: dict[str, str] | None, error: type[Exception]
) -> None:
    async def go() -> None:
        async with make_client("http://vendor.test/api/", HttpSettings()) as client:
            url = client.endpoint("/seal/list")
            with pytest.raises(error):
                httpx.Request("POST", url, json=json, headers=client._merge_headers(headers))
            with pytest.raises(error):
                client._built("POST", url, None, json, headers)

    asyncio.run(go())


# query parameters as the vendor clients pass them (e签宝's GETs), and the edges of httpx's
# own handling: text, numbers, booleans, lists, non-ASCII, reserved characters, none at all
PARAMS: list[Any] = [
    {"orgId": "a1b2", "sealId": "名-印章 & =?/#", "pageNum": 1, "pageSize": 20},
    {"revocationSeal": True, "flags": [1, "b", None], "x": 1.5},
    {},
    None,
    [("orgId", "1"), ("orgId", "2")],
]


@pytest.mark.parametrize("params", PARAMS)
@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_request_with_query_parameters_goes_the_short_way_as_httpx_sends_it(
    method: str, params: Any
) -> None:
    """`SEALGW_LEAN_VENDOR_SEND` takes a request with query parameters the short way, and the
    vendor receives what httpx's own `send` gives it: method, URL (the query made by httpx's
    own calls), headers in order, body; the answer is read whole (that the short way leaves
    no reference cycle, where httpx's own did, is tests/test_garbage.py's)."""
    seen: dict[bool, list[httpx.Request]] = {True: [], False: []}

    async def go(lean: bool) -> None:
        def vendor(request: httpx.Request) -> httpx.Response:
            seen[lean].append(request)
            return httpx.Response(200, json={"code": 0, "data": {"名": "印章"}})

        async with make_client(
            "http://vendor.test:8080/api/", HttpSettings(lean_send=lean)
        ) as client:
            client._transport = httpx.MockTransport(vendor)
            sent = client._lean_send

            async def counted(*args: Any) -> httpx.Response:
                taken.append(True)
                return await sent(*args)

            taken: list[bool] = []
            client._lean_send = counted  # type: ignore[method-assign]
            url = client.endpoint("/v3/seals/org-seal-info")
            response = await client.request(method, url, params=params)
            assert response.json() == {"code": 0, "data": {"名": "印章"}}
            assert taken == ([True] if lean else [])

    for lean in (True, False):
        asyncio.run(go(lean))
    short, own = seen[True][0], seen[False][0]
    assert (short.method, short.url) == (own.method, own.url)
    assert short.headers.raw == own.headers.raw
    assert short.content == own.content
    if params:
        assert short.url.query
