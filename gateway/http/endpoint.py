"""A GraphQL face of the gateway over HTTP (/graphql, /subgraph): the one path every request
takes, in this order, each step written once:

1. the request's head, read once (gateway/http/request.py); a request id on every answer;
2. the GraphiQL page, for a GET (or HEAD) that names no GraphQL parameter at all, on the face
   that has one: the only thing anyone may have without credentials, since it runs nothing;
3. the caller, from the head's credentials (gateway/access/callers.py), its rate limit, and
   admission: the process's, the tenant's and the caller's requests in progress
   (gateway/access/admission.py), all before the body is read, so that a slow client only
   ever holds its own tenant's share;
4. the body, bounded in size and time, and the GraphQL parameters from it or from the query
   string; the text of a persisted document it names;
5. idempotency, for a POST with an `Idempotency-Key` (gateway/http/idempotency.py);
6. the operation, through the one execution pipeline (gateway/execution/pipeline.py); a
   subscription, asked for with `Accept: text/event-stream`, streams its answers as
   Server-Sent Events (gateway/http/subscriptions.py), holding a subscription's place
   instead of a request's;
7. the answer: its media type (`application/graphql-response+json` when preferred), its
   status, and for GET answers cache headers that keep it private."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
from opentelemetry import context as trace_context
from opentelemetry import propagate
from starlette.types import Message, Receive, Scope, Send

from gateway.access.admission import Admission, Full, Ticket
from gateway.access.callers import Authenticator, RateLimiter, Unauthenticated
from gateway.domain import Caller, ErrorCode
from gateway.execution.pipeline import OperationRequest, Outcome, Pipeline, Stream
from gateway.http import idempotency
from gateway.http.guards import JSON_TYPE, answer, refuse
from gateway.http.idempotency import IdempotentWrites
from gateway.http.persisted import PersistedDocuments
from gateway.http.request import (
    GRAPHQL_RESPONSE,
    BodyLimits,
    ClientGone,
    GraphQLParams,
    Refused,
    RequestHead,
    from_body,
    from_query_string,
    read_body,
)
from gateway.http.subscriptions import SSE_HEADERS, Pacing, no_room, sse_event, stream_sse
from gateway.schema.context import GatewayContext

log = logging.getLogger("gateway.http")
callers_log = logging.getLogger("gateway.callers")

GRAPHQL_RESPONSE_TYPE = GRAPHQL_RESPONSE.encode() + b"; charset=utf-8"
GET_ANSWER_HEADERS = (
    # answers depend on the caller's credentials: never in a shared cache
    (b"cache-control", b"private, no-cache"),
    (b"vary", b"Authorization, X-Api-Key, Accept"),
)
ALLOW_GET_POST = ((b"allow", b"GET, POST"),)
OVERLOADED = {
    "process": "The gateway is serving as many requests as it may",
    "tenant": "The gateway is serving as many of this tenant's requests as it may",
    "caller": "This caller has as many requests in progress as it may",
}


@dataclass(frozen=True, slots=True)
class CallerGate:
    """Who may call, how often, and how many at once: one per app, shared by its faces.
    `subscriptions` counts the subscriptions in progress (per caller, per process), apart
    from the requests."""

    authenticator: Authenticator
    limiter: RateLimiter
    admission: Admission
    anonymous: bool
    subscriptions: Admission
    pacing: Pacing


# Makes the context of one operation for a caller: its service, its vendor budget.
MakeContext = Callable[[Caller, bool, bool], GatewayContext]
# Serves the GraphiQL page (or, for HEAD, its headers).
ServePage = Callable[[Scope, Receive, Send], Awaitable[None]]


class GraphQLEndpoint:
    def __init__(
        self,
        pipeline: Pipeline,
        gate: CallerGate,
        documents: PersistedDocuments,
        writes: IdempotentWrites,
        body_limits: BodyLimits,
        make_context: MakeContext,
        page: ServePage | None,
    ) -> None:
        self.pipeline = pipeline
        self.gate = gate
        self.documents = documents
        self.writes = writes
        self.body_limits = body_limits
        self.make_context = make_context
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        head = RequestHead.of(scope)
        id_header = (b"x-request-id", head.request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), id_header]
            await send(message)

        try:
            await self._serve(scope, head, receive, send_with_id)
        except Refused as refusal:
            await refuse(
                send_with_id, refusal.status, refusal.message, refusal.code, refusal.headers
            )
        except ClientGone:
            return  # the client left before its request was read: nobody to answer
        except Exception:
            # a bug: logged once with its traceback, answered in GraphQL JSON without it
            log.exception("unexpected failure serving request %s", head.request_id)
            await refuse(
                send_with_id,
                500,
                "Internal server error.",
                ErrorCode.INTERNAL_SERVER_ERROR,
            )

    async def _serve(self, scope: Scope, head: RequestHead, receive: Receive, send: Send) -> None:
        if head.method not in ("GET", "HEAD", "POST"):
            raise Refused(405, "GraphQL is served by GET and POST only.", headers=ALLOW_GET_POST)
        if head.method != "POST" and not head.names_a_graphql_parameter and self.page is not None:
            await self.page(scope, receive, send)
            return
        caller = await self._caller(head)
        retry_after = await self.gate.limiter.retry_after(caller)
        if retry_after is not None:
            raise Refused(
                429,
                f"Too many requests; try again in {retry_after} s.",
                ErrorCode.RATE_LIMITED,
                ((b"retry-after", str(retry_after).encode()),),
            )
        try:
            ticket = self.gate.admission.enter(caller)
        except Full as full:
            # a caller over its own share is told as a rate limit; the rest is an overload
            caller_full = full.whose == "caller"
            status = 429 if caller_full else 503
            code = ErrorCode.RATE_LIMITED if caller_full else ErrorCode.OVERLOADED
            raise Refused(
                status,
                f"{OVERLOADED[full.whose]}; try again in a moment.",
                code,
                ((b"retry-after", b"1"),),
            ) from None
        try:
            await self._run(head, caller, receive, send, ticket)
        finally:
            ticket.release()

    async def _caller(self, head: RequestHead) -> Caller:
        """The caller the head's credentials name; 401 for bad or (where callers must
        authenticate) missing ones. The reason is logged, never echoed."""
        try:
            caller = await self.gate.authenticator.caller(
                head.headers.get("authorization"), head.headers.get("x-api-key"), head.request_id
            )
        except Unauthenticated as refusal:
            callers_log.info("refused a caller (request %s): %s", head.request_id, refusal.reason)
            raise _unauthenticated(refusal.phrase, invalid=True) from None
        if caller is not None:
            return caller
        if not self.gate.anonymous:
            raise _unauthenticated("Credentials required.", invalid=False)
        return Caller.anonymous(head.request_id)

    async def _run(
        self, head: RequestHead, caller: Caller, receive: Receive, send: Send, ticket: Ticket
    ) -> None:
        if head.method == "HEAD":
            raise Refused(
                405, "An operation is run by GET or POST, not HEAD.", headers=ALLOW_GET_POST
            )
        body = b""
        if head.method == "GET":
            params = from_query_string(head, self.body_limits.max_json_depth)
        else:
            if head.is_multipart and not head.preflighted:
                raise Refused(
                    400,
                    "Multipart requests must carry an `Apollo-Require-Preflight` (or "
                    "`X-Apollo-Operation-Name`) header, so that browsers send a CORS preflight "
                    "first. This blocks cross-site request forgery.",
                )
            body = await read_body(head, receive, self.body_limits)
            params, body = await from_body(head, body, self.body_limits)
        query = self._direct_query(params) or await self.documents.query_of(params)
        key = head.headers.get("idempotency-key")
        claim = None
        if key is not None and head.method == "POST":
            claim = await self.writes.claim(
                caller,
                key,
                idempotency.fingerprint(head.path, head.headers.get("content-type", ""), body),
            )
            if claim.replay is not None:
                status, headers, replayed = idempotency.replayed(claim.replay)
                await answer(send, status, headers, replayed)
                return
        context = self.make_context(
            caller, "x-query-cost" in head.headers, claim is not None and claim.reconcile
        )
        streams = head.wants_event_stream and claim is None
        request = OperationRequest(
            query,
            params.variables,
            params.operation_name,
            queries_only=head.method == "GET",
            streams=streams,
        )
        # the caller's W3C trace context (traceparent, tracestate): the operation's span is a
        # child of the caller's, and the vendor calls carry it on (gateway/providers/http.py)
        attached = None
        if "traceparent" in head.headers:
            attached = trace_context.attach(propagate.extract(head.headers))
        try:
            answered = await self.pipeline.start(request, context)
        except BaseException:
            if claim is not None:
                await self.writes.abandon(claim)
            raise
        finally:
            if attached is not None:
                trace_context.detach(attached)
        if isinstance(answered, Stream):
            await self._stream(answered, caller, receive, send, ticket)
            return
        outcome = answered
        if streams and outcome.ran and head.wants_only_event_stream:
            # a query or mutation asked for as a stream (graphql-sse clients ask so for every
            # operation): its one answer as one event, then the end
            content = sse_event("next", outcome.body()) + sse_event("complete", None)
            await answer(send, 200, list(SSE_HEADERS), content)
            return
        status, headers, content = self._encoded(head, outcome)
        if claim is not None:
            await self.writes.settle(
                claim, status, headers, content, write_may_have_happened=_uncertain(outcome)
            )
        await answer(send, status, headers, content)

    async def _stream(
        self, stream: Stream, caller: Caller, receive: Receive, send: Send, ticket: Ticket
    ) -> None:
        """A subscription over SSE: it leaves the requests' admission for a subscription's
        place, and streams until it ends or the client leaves."""
        try:
            place = self.gate.subscriptions.enter(caller)
        except Full as full:
            await stream.aclose()
            raise no_room(full) from None
        ticket.release()
        await stream_sse(stream, self.gate.pacing, receive, send, place)

    def _direct_query(self, params: GraphQLParams) -> str | None:
        """The request's own text, where it names no stored document and needs no check: the
        common case, with no look-up at all."""
        if (
            params.query is not None
            and params.extensions is None
            and params.document_id is None
            and not self.documents.only_trusted
        ):
            return params.query
        return None

    @staticmethod
    def _encoded(
        head: RequestHead, outcome: Outcome
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """The answer's status, headers and bytes. Under `application/graphql-response+json`
        a request error (nothing ran) is a 400; under plain JSON, 200 (GraphQL over HTTP)."""
        graphql_response = head.wants_graphql_response
        status = outcome.status
        if status == 200 and not outcome.ran and graphql_response:
            status = 400
        headers = [(b"content-type", GRAPHQL_RESPONSE_TYPE if graphql_response else JSON_TYPE)]
        if status == 405:
            headers.append((b"allow", b"POST"))
        if head.method == "GET":
            headers.extend(GET_ANSWER_HEADERS)
        return status, headers, orjson.dumps(outcome.body())


def _unauthenticated(phrase: str, *, invalid: bool) -> Refused:
    challenge = b'Bearer realm="seal-gateway"' + (b', error="invalid_token"' if invalid else b"")
    return Refused(401, phrase, ErrorCode.UNAUTHENTICATED, ((b"www-authenticate", challenge),))


def _uncertain(outcome: Outcome) -> bool:
    """Whether a write of this answer may have reached a vendor unconfirmed."""
    return any(
        (error.extensions or {}).get("writeMayHaveHappened") is True
        for error in outcome.errors or ()
    )
