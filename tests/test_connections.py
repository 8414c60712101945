"""The gateway's own vendor connections (gateway/providers/connections.py): kept alive and
reused, never more than the limit at once, a wait for a free one bounded, answers framed by
length, by chunks or by the connection's end, and a connection the vendor closes or asks to
close is not reused. Against a small HTTP/1.1 server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest

from gateway.providers.connections import ConnectionPool
from gateway.providers.http import HttpSettings, make_client

Answer = Callable[[bytes], Awaitable[bytes | None]]


class Vendor:
    """Reads requests (head and a Content-Length body) and writes what `answer` gives back
    (None: closes the connection); counts connections and how many are open at once."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.open = 0
        self.most_open = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Vendor:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer = await self.answer(request)
                if answer is None:
                    return
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer.lower():
                    return
        finally:
            self.open -= 1
            writer.close()


def ok(body: bytes = b'{"code":"200"}') -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


async def fixed(request: bytes) -> bytes:
    return ok()


def pool(port: int, *, max_connections: int = 4, keepalive_s: float = 4.0) -> ConnectionPool:
    return ConnectionPool(
        "http", "127.0.0.1", port, max_connections=max_connections, keepalive_s=keepalive_s,
        ssl_context=None,
    )  # fmt: skip


def head(port: int) -> bytes:
    return b"POST /seal HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: 2\r\n\r\n" % port


def test_connections_are_kept_alive_and_reused() -> None:
    async def go() -> None:
        async with Vendor(fixed) as vendor:
            connections = pool(vendor.port)
            for _ in range(5):
                status, reason, headers, body = await connections.exchange(
                    head(vendor.port), b"{}", 1.0, 1.0, 1.0
                )
                assert (status, reason, body) == (200, b"OK", b'{"code":"200"}')
                assert (b"content-length", b"14") in headers
            assert vendor.connections == 1
            assert [r.endswith(b"\r\n\r\n{}") for r in vendor.requests] == [True] * 5
            connections.close()

    asyncio.run(go())


def test_no_more_connections_than_the_limit_and_a_bounded_wait() -> None:
    async def slow(request: bytes) -> bytes:
        await asyncio.sleep(0.05)
        return ok()

    async def go() -> None:
        async with Vendor(slow) as vendor:
            connections = pool(vendor.port, max_connections=2)
            answers = await asyncio.gather(
                *(connections.exchange(head(vendor.port), b"{}", 1.0, 1.0, 5.0) for _ in range(8))
            )
            assert [a[0] for a in answers] == [200] * 8
            assert vendor.most_open == 2
            assert vendor.connections == 2
            # a request that finds no free connection within the pool timeout was never sent
            taken = [
                asyncio.ensure_future(connections.exchange(head(vendor.port), b"{}", 1, 1, 5))
                for _ in range(2)
            ]
            await asyncio.sleep(0.01)
            with pytest.raises(httpx.ConnectTimeout):
                await connections.exchange(head(vendor.port), b"{}", 1.0, 1.0, 0.01)
            await asyncio.gather(*taken)
            assert len(vendor.requests) == 10
            connections.close()

    asyncio.run(go())


def test_answers_framed_by_chunks_or_by_the_connections_end() -> None:
    answers = [
        b'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4\r\n{"a"\r\n3\r\n:1}\r\n0\r\n\r\n',
        b'HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{"b":2}',
        ok(b'{"c":3}'),
    ]

    async def answer(request: bytes) -> bytes:
        return answers.pop(0)

    async def go() -> None:
        async with Vendor(answer) as vendor:
            connections = pool(vendor.port)
            bodies = []
            for _ in range(3):
                _, _, _, body = await connections.exchange(head(vendor.port), b"{}", 1, 1, 1)
                bodies.append(body)
            assert bodies == [b'{"a":1}', b'{"b":2}', b'{"c":3}']
            # the answer that ended with its connection was not followed on that connection
            assert vendor.connections == 2
            connections.close()

    asyncio.run(go())


def test_a_connection_closed_by_the_vendor_or_idle_too_long_is_not_reused() -> None:
    async def go() -> None:
        async with Vendor(fixed) as vendor:
            connections = pool(vendor.port, keepalive_s=0.05)
            await connections.exchange(head(vendor.port), b"{}", 1, 1, 1)
            await asyncio.sleep(0.1)  # idle past the keep-alive: a new connection
            await connections.exchange(head(vendor.port), b"{}", 1, 1, 1)
            assert vendor.connections == 2
            connections.close()

        closing: list[int] = []

        async def then_close(request: bytes) -> bytes:
            closing.append(1)
            return ok()

        async with Vendor(then_close) as vendor:
            connections = pool(vendor.port)
            await connections.exchange(head(vendor.port), b"{}", 1, 1, 1)
            assert vendor.server is not None
            # the vendor closes its idle end: the gateway sees it before the next request
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task() and "_serve" in repr(task):
                    task.cancel()
            await asyncio.sleep(0.05)
            await connections.exchange(head(vendor.port), b"{}", 1, 1, 1)
            assert vendor.connections == 2
            connections.close()

    asyncio.run(go())


def test_a_vendor_client_sends_what_httpx_would() -> None:
    """The request bytes over the gateway's own connections are httpx's request: the same
    request line and headers, in the same order, and the same body."""

    async def go() -> list[bytes]:
        sent = []
        async with Vendor(fixed) as vendor:
            for direct in (True, False):
                base = f"http://127.0.0.1:{vendor.port}/api/"
                async with make_client(base, HttpSettings(direct=direct)) as client:
                    answer = await client.post(
                        client.endpoint("/seal/getSealInfo"),
                        json={"sealId": 50042, "名": "印章"},
                        headers={"userId": "20001"},
                    )
                    assert answer.json() == {"code": "200"}
                sent.append(vendor.requests[-1])
        return sent

    direct, aiohttp = asyncio.run(go())
    assert direct.startswith(b"POST /api/seal/getSealInfo HTTP/1.1\r\nHost: 127.0.0.1:")
    assert direct.endswith('\r\n\r\n{"sealId":50042,"名":"印章"}'.encode())

    def headers(request: bytes) -> set[bytes]:
        return {line.lower() for line in request.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]}

    # aiohttp may add a header of its own; every header httpx made goes out on both paths
    assert headers(direct) <= headers(aiohttp)
    assert direct.split(b"\r\n\r\n")[1] == aiohttp.split(b"\r\n\r\n")[1]
