"""The HTTP server: uvicorn, with deadlines for a request's head and body.

uvicorn waits for a request as long as the client keeps sending something (its keep-alive
timer is reset by every byte), so a client dripping its headers or its body one byte at a
time holds a connection, and its request a place, forever. Here a request's head must be
complete within `head_timeout_s` of the connection opening or the previous answer going out,
and its body within `body_timeout_s` of its head; else the client gets a 408 and the
connection is closed (an app waiting for the body sees the client leave). A sweep once a
second checks every connection: the request path itself pays nothing for the deadlines.

With `busy_poll_s` (SEALGW_BUSY_POLL_US), the event loop polls its sockets without sleeping for
that long after a request begins or ends (`BusyPoll`): latency bought with CPU, for a gateway
with a core of its own."""

from __future__ import annotations

import asyncio
import time
import weakref
from typing import Any, ClassVar

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from gateway.http.guards import JSON_TYPE, refusal_body
from gateway.http.subscriptions import end_subscriptions
from gateway.settings import DEFAULTS


class GatewayConfig(uvicorn.Config):
    """uvicorn's settings for the gateway: its own protocol and the request deadlines, no log
    set-up of uvicorn's (picklable: workers get a copy)."""

    def __init__(
        self,
        app: Any,
        *,
        head_timeout_s: float = DEFAULTS.header_timeout_s,
        body_timeout_s: float = DEFAULTS.body_timeout_s,
        busy_poll_s: float = DEFAULTS.busy_poll_us / 1e6,
        **options: Any,
    ) -> None:
        super().__init__(app, http=DeadlineProtocol, log_config=None, **options)
        self.head_timeout_s = head_timeout_s
        self.body_timeout_s = body_timeout_s
        self.busy_poll_s = busy_poll_s


class DeadlineProtocol(HttpToolsProtocol):
    # One sweep a second over this process's connections, per event loop.
    _sweepers: ClassVar[dict[asyncio.AbstractEventLoop, asyncio.TimerHandle]] = {}

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Since when this connection waits for a request's head, or for its body (None: not).
        self.head_since: float | None = self.loop.time()
        self.body_since: float | None = None
        # Whether any of the awaited head has arrived (an idle connection gets no 408).
        self.head_begun = False
        if self.loop not in self._sweepers:
            self._sweep_later(self.loop, self.connections)
        config: Any = self.config  # a GatewayConfig (uvicorn's type is its own Config)
        self.busy_poll = BusyPoll.of(self.loop, config.busy_poll_s)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.head_begun = True
        if self.busy_poll is not None:
            self.busy_poll.extend()

    def on_headers_complete(self) -> None:
        self.head_since = None
        self.head_begun = False
        self.body_since = self.loop.time()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.body_since = None
        super().on_message_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.pipeline:
            self.head_since = self.loop.time()
        if self.busy_poll is not None:
            self.busy_poll.extend()

    def shutdown(self) -> None:
        """The server stops (uvicorn calls this on each connection, then waits for them all
        to close): the subscriptions it streams are completed, else an SSE one would hold
        the server open for as long as its client stays (uvicorn closes WebSockets itself)."""
        end_subscriptions(self.loop)
        super().shutdown()

    @classmethod
    def _sweep_later(cls, loop: asyncio.AbstractEventLoop, connections: set[Any]) -> None:
        cls._sweepers[loop] = loop.call_later(1.0, cls._sweep, loop, connections)

    @classmethod
    def _sweep(cls, loop: asyncio.AbstractEventLoop, connections: set[Any]) -> None:
        now = loop.time()
        for connection in list(connections):
            if isinstance(connection, cls):
                connection._check(now)
        if loop.is_closed():
            del cls._sweepers[loop]
        else:
            cls._sweep_later(loop, connections)

    def _check(self, now: float) -> None:
        config: Any = self.config
        if self.transport.is_closing():
            return
        if self.head_since is not None and now - self.head_since > config.head_timeout_s:
            self.head_since = None
            if self.head_begun:
                self._too_slow(
                    f"The request's headers did not arrive within "
                    f"{config.head_timeout_s:g} seconds."
                )
            self.transport.close()
        elif self.body_since is not None and now - self.body_since > config.body_timeout_s:
            self.body_since = None
            cycle = self.cycle
            if cycle is not None and not cycle.response_started:
                # the app, waiting for the body, sees the client leave and answers nothing
                cycle.disconnected = True
                cycle.message_event.set()
                self._too_slow(
                    f"The request body did not arrive within {config.body_timeout_s:g} seconds."
                )
            self.transport.close()

    def _too_slow(self, message: str) -> None:
        body = refusal_body(message)
        self.transport.write(
            b"HTTP/1.1 408 Request Timeout\r\ncontent-type: "
            + JSON_TYPE
            + b"\r\ncontent-length: %d\r\nconnection: close\r\n\r\n" % len(body)
            + body
        )


class BusyPoll:
    """Keeps an event loop from sleeping for `window_s` after the last call to `extend`.

    Each request's answer from a vendor, and the client's next request, arrive a fraction of
    a millisecond after the loop last had work. A loop that sleeps in between lets its CPU go
    idle (on a VM: halt and hand the core back), and each wake-up then pays for the switch and
    for caches gone cold: measured in bench/RESULTS.md at about 0.2 ms of a sequential
    request's latency. While a window is open, a callback scheduled for the next turn makes
    the loop poll its sockets with a timeout of zero, so it never sleeps; the CPU it spends is
    the price, which is why the window is off unless SEALGW_BUSY_POLL_US sets it."""

    _by_loop: ClassVar[weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, BusyPoll]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, window_s: float) -> None:
        # (no reference to its loop: the loop is the key of `_by_loop`, which holds it weakly)
        self.window_s = window_s
        # when the window closes; 0.0 while the loop is allowed to sleep
        self.until = 0.0
        self.turns = 0  # turns of the loop spent polling (for tests and benchmarks)

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop, window_s: float) -> BusyPoll | None:
        """The loop's busy poll (one per loop, shared by its connections); None when off."""
        if window_s <= 0:
            return None
        busy_poll = cls._by_loop.get(loop)
        if busy_poll is None or busy_poll.window_s != window_s:
            busy_poll = cls._by_loop[loop] = cls(window_s)
        return busy_poll

    def extend(self) -> None:
        """Keep the running loop awake until `window_s` from now."""
        idle = not self.until
        self.until = time.perf_counter() + self.window_s
        if idle:
            asyncio.get_running_loop().call_soon(self._turn)

    def _turn(self) -> None:
        # not loop.time(): uvloop's clock moves in whole milliseconds
        if time.perf_counter() < self.until:
            self.turns += 1
            asyncio.get_running_loop().call_soon(self._turn)
        else:
            self.until = 0.0
