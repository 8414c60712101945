"""How the HTTP face answers: every refusal is a GraphQL JSON error with `extensions.code`
(GraphQL over HTTP), never plain text, and every answer goes out whole, with its length."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from starlette.types import Send

from gateway.domain import ErrorCode

JSON_TYPE = b"application/json; charset=utf-8"


def refusal_body(message: str, code: str = ErrorCode.BAD_REQUEST) -> bytes:
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})


async def refuse(
    send: Send,
    status: int,
    message: str,
    code: str = ErrorCode.BAD_REQUEST,
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    """A GraphQL JSON error answer, for a request refused before or instead of running."""
    await answer(
        send, status, [(b"content-type", JSON_TYPE), *headers], refusal_body(message, code)
    )


async def answer(
    send: Send, status: int, headers: Sequence[tuple[bytes, bytes]], body: bytes
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-length", b"%d" % len(body)), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})
