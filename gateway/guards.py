"""HTTP-level defences in front of /graphql (Starlette/ASGI middleware).

- Multipart requests need no CORS preflight, so a hostile page could post one with the user's
  cookies (CSRF). Like Apollo's CSRF prevention, a multipart request must carry a header a
  browser only sends after a preflight: `Apollo-Require-Preflight` or `X-Apollo-Operation-Name`.
- Neither Starlette nor uvicorn bounds a request body: this does, before the app reads it.
- A JSON body must be an object (a GraphQL request); `null`, a string or a number gets a 400
  GraphQL JSON error instead of reaching the server's parser.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFLIGHT_HEADERS = (b"apollo-require-preflight", b"x-apollo-operation-name")


async def refuse(
    send: Send,
    status: int,
    message: str,
    code: str = "BAD_REQUEST",
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """A GraphQL JSON error answer, for refusals made before any GraphQL work."""
    body = json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json; charset=utf-8"),
                (b"content-length", b"%d" % len(body)),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def replaying(message: Message, receive: Receive) -> Receive:
    """A `receive` that hands out `message` (already read from the client) first."""
    pending = [message]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


async def read_body(receive: Receive) -> Message:
    """The whole body as one message (BodyLimit in front has bounded its size)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}


def _is_multipart(scope: Scope) -> bool:
    return (header(scope, b"content-type") or b"").lower().startswith(b"multipart/")


class MultipartCsrfGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and _is_multipart(scope)
            and not any(header(scope, name) for name in PREFLIGHT_HEADERS)
        ):
            await refuse(
                send,
                400,
                "Multipart requests must carry an `Apollo-Require-Preflight` (or "
                "`X-Apollo-Operation-Name`) header, so that browsers send a CORS preflight "
                "first. This blocks cross-site request forgery.",
            )
            return
        await self.app(scope, receive, send)


class BodyLimit:
    """Refuses bodies over `limit` bytes (`multipart_limit` for uploads) with 413."""

    def __init__(self, app: ASGIApp, *, limit: int, multipart_limit: int) -> None:
        self.app = app
        self.limit = limit
        self.multipart_limit = multipart_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        limit = self.multipart_limit if _is_multipart(scope) else self.limit
        message = f"The request body exceeds the limit of {limit} bytes."
        declared = header(scope, b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > limit:
                await refuse(send, 413, message)
                return
            await self.app(scope, receive, send)
            return
        # No declared length (chunked): read up to the limit, then hand the body on.
        chunks: list[bytes] = []
        size = 0
        while True:
            received = await receive()
            if received["type"] != "http.request":
                await self.app(scope, receive, send)
                return
            chunk = received.get("body", b"")
            size += len(chunk)
            if size > limit:
                await refuse(send, 413, message)
                return
            chunks.append(chunk)
            if not received.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, replaying(whole, receive), send)


JSON_WHITESPACE = b" \t\r\n"


class JsonObjectGuard:
    """Refuses a POSTed JSON body that is not an object, reading only its first bytes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = (header(scope, b"content-type") or b"").lower()
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not content_type.startswith(b"application/json")
        ):
            await self.app(scope, receive, send)
            return
        first = await receive()
        head = first.get("body", b"").lstrip(JSON_WHITESPACE)
        if first["type"] == "http.request" and head[:1] not in (b"{", b""):
            await refuse(send, 400, "The request body must be a JSON object (a GraphQL request).")
            return
        await self.app(scope, replaying(first, receive), send)


class ConcurrencyLimit:
    """At most `limit` requests in progress in this process; one more gets a fast 503 with
    `Retry-After`, instead of queueing until everything times out."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            await refuse(
                send,
                503,
                "The gateway is serving as many requests as it may; try again in a moment.",
                "OVERLOADED",
                [(b"retry-after", b"1")],
            )
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
