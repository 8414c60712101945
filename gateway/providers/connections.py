"""Keep-alive HTTP/1.1 connections to a vendor, for requests whose body is in memory and whose
answer is read whole: the vendor reads and writes of both clients (uploads stream through
aiohttp, gateway/providers/http.py).

What aiohttp's client does per call (its request and response objects, the connector's
bookkeeping, a timer per read, the payload writer) cost 90-180 µs of CPU per call, a fifth
of a one-seal query's (bench/RESULTS.md). Here a call is one write of the request's bytes and one
answer parsed by httptools (the parser uvicorn uses), on a connection from a small pool.
It keeps what the aiohttp path promises, with the same errors:

- at most `max_connections` connections per vendor address; a request waits for one up to the
  pool timeout (then `ConnectTimeout`: nothing was sent);
- a connection idle longer than `keepalive_s` is closed rather than reused (below the common 5 s
  server idle timeout, so a reused connection is not one the server is closing at that moment);
- a connection that cannot be opened is `ConnectError` (or `ConnectTimeout` past the connect
  timeout): never sent, so `UpstreamTransport` tries it once more;
- no answer byte within the read timeout (since the request or the last byte) is `ReadTimeout`;
  a connection lost or an answer that cannot be parsed, once the request was written, is
  `RemoteProtocolError` (it may have reached the vendor);
- TLS with the transport's own SSL context, and the server name of the URL.

`SEALGW_DIRECT_VENDOR_HTTP=off` sends every call through aiohttp instead."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections import deque
from typing import cast

import httptools
import httpx

__all__ = ["ConnectionPool"]


class _Connection(asyncio.Protocol):
    """One connection: the request written whole, the answer parsed as it arrives."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.keep_alive = True
        self.idle_since = 0.0
        self._waiter: asyncio.Future[None] | None = None
        self._headers_done = False
        self._framed = False  # whether the answer says where it ends (length or chunks)
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.last_byte = 0.0

    # --- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.close()  # bytes nobody asked for: this connection is not to be trusted
            return
        self.last_byte = self._loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(httpx.RemoteProtocolError(f"malformed answer: {error}"))
            self.close()

    def eof_received(self) -> bool | None:
        self.close()
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            if self._headers_done and not self._framed:
                waiter.set_result(None)  # an answer that ends with its connection
            else:
                waiter.set_exception(
                    httpx.RemoteProtocolError("the vendor closed the connection before answering")
                )

    # --- httptools callbacks
    def on_status(self, status: bytes) -> None:
        self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        lowered = name.lower()
        if lowered == b"content-length" or (
            lowered == b"transfer-encoding" and b"chunked" in value.lower()
        ):
            self._framed = True

    def on_headers_complete(self) -> None:
        self._headers_done = True
        self.status = self._parser.get_status_code()
        self.keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- use
    def _fail(self, error: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def send(self, data: bytes) -> asyncio.Future[None]:
        """Writes one request; the future is done when its whole answer is here."""
        assert self.transport is not None
        self._waiter = waiter = self._loop.create_future()
        self._headers_done = self._framed = False
        self.status = 0
        self.reason = b""
        self.headers = []
        self.body = []
        self.last_byte = self._loop.time()
        self.transport.write(data)
        return waiter

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _ReadDeadline:
    """A request's read timeout: one timer, moved on only when it fires early (bytes came
    meanwhile). An object rather than a closure that schedules itself: such a closure refers
    to itself, a reference cycle per vendor call left for the garbage collector; the timer's
    reference to this object ends when it is cancelled."""

    __slots__ = ("connection", "loop", "read_s", "timer", "waiter")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        connection: _Connection,
        waiter: asyncio.Future[None],
        read_s: float,
    ) -> None:
        self.loop = loop
        self.connection = connection
        self.waiter = waiter
        self.read_s = read_s
        self.timer = loop.call_at(connection.last_byte + read_s, self.check)

    def check(self) -> None:
        due = self.connection.last_byte + self.read_s
        if self.waiter.done():
            return
        if self.loop.time() >= due:
            self.waiter.set_exception(httpx.ReadTimeout("the vendor did not answer in time"))
            self.connection.close()
        else:
            self.timer = self.loop.call_at(due, self.check)

    def cancel(self) -> None:
        self.timer.cancel()


class ConnectionPool:
    """Connections to one vendor address (scheme, host, port)."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        *,
        max_connections: int,
        keepalive_s: float,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self._host = host
        self._port = port
        self._ssl = ssl_context if scheme == "https" else None
        self._max = max_connections
        self._keepalive_s = keepalive_s
        self._idle: list[_Connection] = []
        self._open = 0
        self._waiters: deque[asyncio.Future[_Connection | None]] = deque()

    async def exchange(
        self,
        head: bytes,
        body: bytes,
        connect_s: float | None,
        read_s: float | None,
        pool_s: float | None,
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]], bytes]:
        """Status, reason phrase, headers and body of the answer to one request."""
        loop = asyncio.get_running_loop()
        connection = await self._acquire(loop, connect_s, pool_s)
        kept = False
        try:
            waiter = connection.send(head + body)
            await self._answer(loop, connection, waiter, read_s)
            kept = connection.keep_alive and not connection.closed
            return (
                connection.status,
                connection.reason,
                connection.headers,
                b"".join(connection.body),
            )
        finally:
            self._release(loop, connection, kept)

    @staticmethod
    async def _answer(
        loop: asyncio.AbstractEventLoop,
        connection: _Connection,
        waiter: asyncio.Future[None],
        read_s: float | None,
    ) -> None:
        if read_s is None:
            await waiter
            return
        deadline = _ReadDeadline(loop, connection, waiter, read_s)
        try:
            await waiter
        finally:
            deadline.cancel()

    async def _acquire(
        self, loop: asyncio.AbstractEventLoop, connect_s: float | None, pool_s: float | None
    ) -> _Connection:
        idle = self._idle
        now = loop.time()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < self._keepalive_s:
                return connection
            self._drop(connection)
        if self._open >= self._max:
            waiter: asyncio.Future[_Connection | None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout(pool_s):
                    handed = await waiter
            except BaseException as error:
                self._give_up(loop, waiter)
                if isinstance(error, TimeoutError):
                    raise httpx.ConnectTimeout("no connection to the vendor became free") from None
                raise
            if handed is not None:
                return handed
            # a connection was closed: its place is this request's
        self._open += 1
        try:
            return await self._connect(loop, connect_s)
        except BaseException:
            self._open -= 1
            self._wake_one()
            raise

    async def _connect(
        self, loop: asyncio.AbstractEventLoop, connect_s: float | None
    ) -> _Connection:
        try:
            async with asyncio.timeout(connect_s):
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop),
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._host if self._ssl is not None else None,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout("connecting to the vendor timed out") from None
        except OSError as error:
            raise httpx.ConnectError(f"cannot connect to the vendor: {error}") from error
        return connection

    def _release(
        self, loop: asyncio.AbstractEventLoop, connection: _Connection, kept: bool
    ) -> None:
        if not kept or connection.closed:
            self._drop(connection)
            self._wake_one()
            return
        connection.idle_since = loop.time()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return
        self._idle.append(connection)

    def _give_up(
        self, loop: asyncio.AbstractEventLoop, waiter: asyncio.Future[_Connection | None]
    ) -> None:
        """A request stops waiting (its timeout, or cancelled): what it was handed meanwhile
        goes on to the next one."""
        if waiter.done() and not waiter.cancelled():
            handed = waiter.result()
            if handed is not None:
                self._release(loop, handed, kept=True)
            else:
                self._wake_one()
            return
        waiter.cancel()
        with contextlib.suppress(ValueError):
            self._waiters.remove(waiter)

    def _drop(self, connection: _Connection) -> None:
        connection.close()
        self._open -= 1

    def _wake_one(self) -> None:
        """A place is free: the longest waiter opens a connection of its own."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()
