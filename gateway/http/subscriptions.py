"""Subscriptions over the two transports clients use, both on the GraphQL path:

- **graphql-transport-ws** (the `graphql-ws` library's protocol, which Apollo Client, urql and
  GraphiQL speak): a WebSocket on /graphql (and /subgraph, for routers). The caller's
  credentials come in `connection_init`'s payload (`{"Authorization": "Bearer …"}` or
  `{"X-Api-Key": …}`); without them, or with bad ones, the socket is closed with 4401 / 4403
  before anything runs. Every `subscribe` goes through the one execution pipeline, like a
  POST: queries and mutations answer once and complete.
- **GraphQL over SSE** (distinct connections): a GET or POST with `Accept: text/event-stream`
  (gateway/http/endpoint.py); this module writes its events.

Limits, the same on both: subscriptions per caller and per process (a subscription holds a
place from its start to its end, beside the requests' admission), a heartbeat on quiet
streams, and idle and total lifetimes after which the gateway completes the subscription
(the client resumes from its last cursor). A server that stops, and in a single process a
reload for the subscriptions of the app it takes out of service, complete them the same way
(`end_subscriptions`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect
from uvicorn.protocols.utils import ClientDisconnected

from gateway.access.admission import Admission, Full, Ticket
from gateway.access.callers import Unauthenticated
from gateway.domain import Caller, ErrorCode
from gateway.execution.pipeline import OperationRequest, Outcome, Pipeline, Stream
from gateway.http.persisted import PersistedDocuments
from gateway.http.request import Refused, params_of
from gateway.ops.metrics import SUBSCRIPTIONS, SUBSCRIPTIONS_ENDED

log = logging.getLogger("gateway.subscriptions")

PROTOCOL = "graphql-transport-ws"
INIT_TIMEOUT_S = 10.0
_END = object()


@dataclass(frozen=True, slots=True)
class Pacing:
    heartbeat_s: float
    idle_s: float
    lifetime_s: float


class Service:
    """An app in service in a process that reloads (`Reloading`: one per reload). What it
    streams would go on with its settings (a key it no longer knows included) once a reload
    takes it out of service: its subscriptions are then completed, and its WebSockets take no
    more."""

    __slots__ = ("retired",)

    def __init__(self) -> None:
        self.retired = False


# The app in service that a request reached (set by `Reloading`; None where nothing reloads).
SERVED_BY: ContextVar[Service | None] = ContextVar("sealgw_served_by", default=None)
# The subscriptions each event loop streams (a callback that ends each, and its app), and the
# loops whose server stops.
_STREAMING: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[Callable[[], None], Service | None]
] = weakref.WeakKeyDictionary()
_STOPPING: weakref.WeakSet[asyncio.AbstractEventLoop] = weakref.WeakSet()


def end_subscriptions(loop: asyncio.AbstractEventLoop, retired: Service | None = None) -> None:
    """Completes the subscriptions `loop` streams, as their lifetime does (the client resumes
    from its last cursor): those of the `retired` app, or without one every one (the server
    stops: it waits for every connection to close first, and a subscription's stays open as
    long as its client does); and any that starts there from now on."""
    if retired is None:
        _STOPPING.add(loop)
    else:
        retired.retired = True
    for end, service in list(_STREAMING.get(loop, {}).items()):
        if retired is None or service is retired:
            end()


def serve_subscriptions(loop: asyncio.AbstractEventLoop) -> None:
    """An app starts serving on `loop`: subscriptions stream there again, where an earlier
    server's stop on the same loop (an embedder running the server twice) ended them all."""
    _STOPPING.discard(loop)


def _ended(loop: asyncio.AbstractEventLoop, service: Service | None) -> bool:
    """Whether what streams on `loop` for `service` must end (`end_subscriptions`)."""
    return loop in _STOPPING or (service is not None and service.retired)


async def paced(stream: Stream, pacing: Pacing) -> AsyncIterator[Outcome | None]:
    """The stream's answers, with None at each heartbeat moment; it ends when the stream does,
    after `idle_s` without an answer, after `lifetime_s`, or when the server stops or a reload
    takes its app out of service (`end_subscriptions`). The stream is read by a task of its
    own into a queue of one (a slow client holds one answer, not a backlog), so waiting with a
    timeout never interrupts the stream itself."""
    queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=1)
    loop = asyncio.get_running_loop()

    def end() -> None:
        """Wakes the reader (`end_subscriptions` has marked the stream's end)."""
        if queue.empty():  # else the reader is not waiting on it, and sees the mark next
            queue.put_nowait(_END)

    async def pump() -> None:
        try:
            async for outcome in stream.answers:
                await queue.put(outcome)
        except Exception:
            log.exception("a subscription's stream failed")
        await queue.put(_END)  # after the last answer is taken: the queue holds one

    pumping = asyncio.create_task(pump())
    started = last = time.monotonic()
    service = SERVED_BY.get()
    ends = _STREAMING.setdefault(loop, {})
    ends[end] = service
    try:
        while not _ended(loop, service):
            now = time.monotonic()
            until = min(now + pacing.heartbeat_s, last + pacing.idle_s, started + pacing.lifetime_s)
            try:
                item = await asyncio.wait_for(queue.get(), max(until - now, 0.0))
            except TimeoutError:
                now = time.monotonic()
                if now >= started + pacing.lifetime_s or now >= last + pacing.idle_s:
                    return
                yield None
                continue
            if item is _END:
                return
            last = time.monotonic()
            yield item
    finally:
        ends.pop(end, None)
        pumping.cancel()
        with contextlib.suppress(BaseException):
            await pumping
        await stream.aclose()


def no_room(full: Full) -> Refused:
    """A subscription past a limit: the caller's own is a rate limit, the process's an
    overload."""
    caller = full.whose == "caller"
    whose = "This caller has" if caller else "The gateway serves"
    return Refused(
        429 if caller else 503,
        f"{whose} as many subscriptions as it may; end one first.",
        ErrorCode.RATE_LIMITED if caller else ErrorCode.OVERLOADED,
        ((b"retry-after", b"5"),),
    )


# --- Server-Sent Events -----------------------------------------------------------------------

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    # proxies (nginx) must pass each event on at once
    (b"x-accel-buffering", b"no"),
]


def sse_event(kind: str, body: dict[str, Any] | None) -> bytes:
    data = b"" if body is None else orjson.dumps(body)
    return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"


async def stream_sse(
    stream: Stream, pacing: Pacing, receive: Receive, send: Send, ticket: Ticket
) -> None:
    """A subscription's answers as `next` events, a comment at each heartbeat, and `complete`
    at the end; it stops when the client leaves."""

    async def gone() -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return

    async def write() -> None:
        await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        await send({"type": "http.response.body", "body": b": ok\n\n", "more_body": True})
        async for outcome in paced(stream, pacing):
            chunk = b": ping\n\n" if outcome is None else sse_event("next", outcome.body())
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": sse_event("complete", None)})

    watching = asyncio.create_task(gone())
    writing = asyncio.create_task(write())
    SUBSCRIPTIONS.labels("sse").inc()
    try:
        await asyncio.wait({watching, writing}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (watching, writing):
            task.cancel()
        for task in (watching, writing):
            with contextlib.suppress(BaseException):
                await task
        ticket.release()
        SUBSCRIPTIONS_ENDED.labels("sse").inc()


# --- graphql-transport-ws ---------------------------------------------------------------------

Authenticate = Callable[[str | None, str | None, str], Awaitable[Caller | None]]
RetryAfter = Callable[[Caller], Awaitable[int | None]]
MakeContext = Callable[[Caller, bool, bool], Any]


class Close(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class GraphQLWebSocket:
    """The graphql-transport-ws endpoint of one face of the gateway."""

    def __init__(
        self,
        pipeline: Pipeline,
        authenticate: Authenticate,
        retry_after: RetryAfter,
        anonymous: bool,
        documents: PersistedDocuments,
        make_context: MakeContext,
        slots: Admission,
        pacing: Pacing,
    ) -> None:
        self.pipeline = pipeline
        self.authenticate = authenticate
        self.retry_after = retry_after
        self.anonymous = anonymous
        self.documents = documents
        self.make_context = make_context
        self.slots = slots
        self.pacing = pacing

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        socket = WebSocket(scope, receive, send)
        offered = scope.get("subprotocols") or []
        if PROTOCOL not in offered:
            await socket.accept()
            await socket.close(4406, "Subprotocol not acceptable")
            return
        await socket.accept(subprotocol=PROTOCOL)
        connection = _Connection(self, socket)
        try:
            await connection.serve()
        except Close as close:
            with contextlib.suppress(Exception):
                await socket.close(close.code, close.reason)
        except WebSocketDisconnect:
            pass
        finally:
            await connection.end()


class _Connection:
    def __init__(self, endpoint: GraphQLWebSocket, socket: WebSocket) -> None:
        self.endpoint = endpoint
        self.socket = socket
        self.request_id = uuid.uuid4().hex
        self.caller: Caller | None = None
        self.running: dict[str, asyncio.Task[None]] = {}
        self.heartbeat: asyncio.Task[None] | None = None
        self.send_lock = asyncio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        async with self.send_lock:
            await self.socket.send_text(orjson.dumps(message).decode())

    async def receive(self, within_s: float | None = None) -> dict[str, Any]:
        try:
            message: Message = await asyncio.wait_for(self.socket.receive(), within_s)
        except TimeoutError:
            raise Close(4408, "Connection initialisation timeout") from None
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is None and message.get("bytes") is not None:
            text = message["bytes"].decode("utf-8", "replace")
        try:
            parsed = orjson.loads(text or "")
        except orjson.JSONDecodeError:
            raise Close(4400, "Invalid message received") from None
        if not isinstance(parsed, dict) or not isinstance(parsed.get("type"), str):
            raise Close(4400, "Invalid message received")
        return parsed

    async def serve(self) -> None:
        first = await self.receive(INIT_TIMEOUT_S)
        if first["type"] != "connection_init":
            raise Close(4401, "Unauthorized")
        self.caller = await self._caller(first.get("payload"))
        await self.send({"type": "connection_ack"})
        self.heartbeat = asyncio.create_task(self._ping())
        while True:
            message = await self.receive()
            kind = message["type"]
            if kind == "ping":
                await self.send({"type": "pong"})
            elif kind == "pong":
                continue
            elif kind == "connection_init":
                raise Close(4429, "Too many initialisation requests")
            elif kind == "subscribe":
                if _ended(asyncio.get_running_loop(), SERVED_BY.get()):
                    # its app is out of service: the client reconnects to the one in service
                    raise Close(1012, "Service Restart")
                await self._subscribe(message)
            elif kind == "complete":
                task = self.running.pop(str(message.get("id")), None)
                if task is not None:
                    task.cancel()
            else:
                raise Close(4400, f"Unknown message type {kind[:32]!r}")

    async def _caller(self, payload: object) -> Caller:
        """The caller `connection_init`'s payload names (header names in any case)."""
        given: dict[str, str] = {}
        if isinstance(payload, dict):
            # an empty value is no credential at all (4401), as an absent one
            given = {str(k).lower(): v for k, v in payload.items() if isinstance(v, str) and v}
        # some clients nest them: {"headers": {"Authorization": …}}
        if isinstance(payload, dict) and isinstance(payload.get("headers"), dict):
            headers = payload["headers"]
            given.update(
                {str(k).lower(): v for k, v in headers.items() if isinstance(v, str) and v}
            )
        try:
            caller = await self.endpoint.authenticate(
                given.get("authorization"), given.get("x-api-key"), self.request_id
            )
        except Unauthenticated as refusal:
            log.info("refused a subscriber (connection %s): %s", self.request_id, refusal.reason)
            raise Close(4403, "Forbidden") from None
        if caller is not None:
            return caller
        if not self.endpoint.anonymous:
            log.info("refused a subscriber without credentials (connection %s)", self.request_id)
            raise Close(4401, "Unauthorized")
        return Caller.anonymous(self.request_id)

    async def _ping(self) -> None:
        while True:
            await asyncio.sleep(self.endpoint.pacing.heartbeat_s)
            with contextlib.suppress(Exception):
                await self.send({"type": "ping"})

    async def _subscribe(self, message: dict[str, Any]) -> None:
        operation_id = message.get("id")
        payload = message.get("payload")
        if not isinstance(operation_id, str) or not operation_id or not isinstance(payload, dict):
            raise Close(4400, "Invalid subscribe message")
        if operation_id in self.running:
            raise Close(4409, f"Subscriber for {operation_id[:64]} already exists")
        assert self.caller is not None
        refusal = await self._refusal(self.caller)
        if refusal is not None:
            await self._error(operation_id, refusal)
            return
        try:
            ticket = self.endpoint.slots.enter(self.caller)
        except Full as full:
            refused = no_room(full)
            await self._error(operation_id, (refused.message, refused.code))
            return
        task = asyncio.create_task(self._run(operation_id, payload, ticket))
        self.running[operation_id] = task

    async def _refusal(self, caller: Caller) -> tuple[str, ErrorCode] | None:
        retry_after = await self.endpoint.retry_after(caller)
        if retry_after is not None:
            return (f"Too many requests; try again in {retry_after} s.", ErrorCode.RATE_LIMITED)
        return None

    async def _error(self, operation_id: str, refusal: tuple[str, ErrorCode]) -> None:
        message, code = refusal
        await self.send(
            {
                "id": operation_id,
                "type": "error",
                "payload": [{"message": message, "extensions": {"code": code.value}}],
            }
        )

    async def _run(self, operation_id: str, payload: dict[str, Any], ticket: Ticket) -> None:
        assert self.caller is not None
        streamed = False
        try:
            params = params_of(payload)
            query = await self.endpoint.documents.query_of(params)
            context = self.endpoint.make_context(self.caller, False, False)
            request = OperationRequest(query, params.variables, params.operation_name, streams=True)
            answer = await self.endpoint.pipeline.start(request, context)
            if isinstance(answer, Outcome):
                if not answer.ran:
                    await self.send(
                        {"id": operation_id, "type": "error", "payload": answer.body()["errors"]}
                    )
                    return
                await self.send({"id": operation_id, "type": "next", "payload": answer.body()})
            else:
                SUBSCRIPTIONS.labels("ws").inc()
                streamed = True
                async for outcome in paced(answer, self.endpoint.pacing):
                    if outcome is not None:
                        await self.send(
                            {"id": operation_id, "type": "next", "payload": outcome.body()}
                        )
            await self.send({"id": operation_id, "type": "complete"})
        except Refused as refusal:
            await self._error(operation_id, (refusal.message, refusal.code))
        except asyncio.CancelledError:
            raise
        except (WebSocketDisconnect, ClientDisconnected):
            return  # the client left while it was being answered: the subscription's end
        except Exception:
            log.exception("unexpected failure serving subscription on %s", self.request_id)
            with contextlib.suppress(Exception):
                await self._error(
                    operation_id, ("Internal server error.", ErrorCode.INTERNAL_SERVER_ERROR)
                )
        finally:
            ticket.release()
            if streamed:
                SUBSCRIPTIONS_ENDED.labels("ws").inc()
            if self.running.get(operation_id) is asyncio.current_task():
                del self.running[operation_id]

    async def end(self) -> None:
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        tasks = list(self.running.values())
        self.running.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task
