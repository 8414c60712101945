"""`Idempotency-Key` on a POST to /graphql: a client that sends a write again (after a timeout,
a dropped connection) with the same key gets the first attempt's answer, not a second write.

Records are kept per caller for `ttl_s`, in the shared state (Redis when configured, so every
process honours them):

- `running`: an attempt is under way; another with the key waits for it a little, then gets
  409 `IDEMPOTENCY_IN_PROGRESS`;
- `done`: the answer, replayed byte for byte with `Idempotent-Replayed: true`;
- `uncertain`: the attempt's write may or may not have reached the vendor (a timeout); the
  retry runs again with `reconcile` set, so a create first looks for the seal the first
  attempt made and answers it.

The same key with a different request is refused (422 `IDEMPOTENCY_KEY_REUSED`)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.domain import Caller, ErrorCode
from gateway.guards import header, read_body, refuse, replaying
from gateway.shared import SharedState

log = logging.getLogger("gateway.idempotency")

POLL_S = 0.05
KEY_PATTERN = re.compile(rb"^[\x21-\x7e]{1,255}$")
# The multipart boundary differs between two sends of the same upload.
BOUNDARY = re.compile(rb"boundary=\"?([^\";]+)")


class Record(msgspec.Struct, omit_defaults=True):
    state: str  # running | done | uncertain
    fingerprint: str
    status: int = 0
    headers: list[tuple[str, str]] = msgspec.field(default_factory=list)
    body: bytes = b""


@dataclass
class Captured:
    """The answer the app sent, kept as it went out."""

    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)


class IdempotentWrites:
    def __init__(self, app: ASGIApp, state: SharedState, *, ttl_s: float, running_s: float) -> None:
        self.app = app
        self.state = state
        self.ttl_s = ttl_s
        # How long a `running` record holds (the request deadline and a margin): past it, the
        # attempt is taken for dead and the key may run again.
        self.running_s = running_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = header(scope, b"idempotency-key") if scope["type"] == "http" else None
        if key is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if not KEY_PATTERN.match(key):
            await refuse(send, 400, "Idempotency-Key must be 1 to 255 visible ASCII characters.")
            return
        message = await read_body(receive)
        if message["type"] != "http.request":
            return  # the client left before sending its body
        caller: Caller = scope["state"]["caller"]
        record_key = (
            "idem:"
            + hashlib.sha256(
                b"\0".join([caller.tenant.encode(), caller.subject.encode(), key])
            ).hexdigest()
        )
        fingerprint = _fingerprint(scope, message["body"])
        receive = replaying(message, receive)

        running = msgspec.json.encode(Record("running", fingerprint))
        claimed = await self.state.set(record_key, running, self.running_s, only_if_absent=True)
        reconcile = False
        if not claimed:
            record = await self._settled(record_key)
            if record is not None and record.fingerprint != fingerprint:
                await refuse(
                    send,
                    422,
                    "This Idempotency-Key was used for a different request; use a new key.",
                    ErrorCode.IDEMPOTENCY_KEY_REUSED,
                )
                return
            if record is not None and record.state == "running":
                await refuse(
                    send,
                    409,
                    "An attempt with this Idempotency-Key is still running; try again shortly.",
                    ErrorCode.IDEMPOTENCY_IN_PROGRESS,
                    [(b"retry-after", b"1")],
                )
                return
            if record is not None and record.state == "done":
                await _replay(record, send)
                return
            # uncertain (or gone): this attempt runs, and makes sure of what the last did
            reconcile = record is not None
            await self.state.set(record_key, running, self.running_s)
        scope["state"]["reconcile"] = reconcile
        captured = Captured()

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured.status = message["status"]
                captured.headers = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                captured.body += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            await self.state.delete(record_key)
            raise
        await self.state.set(record_key, _outcome(captured, fingerprint), self.ttl_s)

    async def _settled(self, record_key: str) -> Record | None:
        """The record once no attempt is running, or as it stands after waiting a while (a
        few seconds at most: the client is waiting too)."""
        record = _decode(await self.state.get(record_key))
        for _ in range(int(min(self.running_s, 5.0) / POLL_S)):
            if record is None or record.state != "running":
                break
            await asyncio.sleep(POLL_S)
            record = _decode(await self.state.get(record_key))
        return record


def _fingerprint(scope: Scope, body: bytes) -> str:
    """What makes two requests the same: the path, the content type and the body (with the
    multipart boundary, which every send draws anew, taken out)."""
    content_type = header(scope, b"content-type") or b""
    found = BOUNDARY.search(content_type)
    if found is not None:
        body = body.replace(found.group(1), b"")
        content_type = content_type[: found.start()]
    digest = hashlib.sha256(scope["path"].encode() + b"\0" + content_type + b"\0" + body)
    return digest.hexdigest()


def _outcome(captured: Captured, fingerprint: str) -> bytes:
    """`done` with the answer, or `uncertain` when a write in it may have reached the vendor
    without the gateway learning its result."""
    if _write_may_have_happened(captured):
        return msgspec.json.encode(Record("uncertain", fingerprint))
    kept = [
        (k.decode("latin-1"), v.decode("latin-1"))
        for k, v in captured.headers
        if k.lower() in (b"content-type", b"retry-after")
    ]
    return msgspec.json.encode(
        Record("done", fingerprint, captured.status, kept, bytes(captured.body))
    )


def _write_may_have_happened(captured: Captured) -> bool:
    try:
        answer: Any = json.loads(captured.body)
    except ValueError:
        return captured.status >= 500
    errors = answer.get("errors") if isinstance(answer, dict) else None
    return any(
        isinstance(error, dict)
        and (error.get("extensions") or {}).get("writeMayHaveHappened") is True
        for error in errors or ()
    )


def _decode(raw: bytes | None) -> Record | None:
    if raw is None:
        return None
    try:
        return msgspec.json.decode(raw, type=Record)
    except msgspec.DecodeError:
        return None


async def _replay(record: Record, send: Send) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in record.headers]
    headers += [
        (b"content-length", b"%d" % len(record.body)),
        (b"idempotent-replayed", b"true"),
    ]
    await send({"type": "http.response.start", "status": record.status, "headers": headers})
    await send({"type": "http.response.body", "body": record.body})
