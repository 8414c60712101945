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
import logging
import re
from dataclasses import dataclass

import msgspec

from gateway.domain import Caller, ErrorCode
from gateway.http.request import Refused
from gateway.shared import SharedState

log = logging.getLogger("gateway.idempotency")

POLL_S = 0.05
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
# The multipart boundary differs between two sends of the same upload.
BOUNDARY = re.compile(rb"boundary=\"?([^\";]+)")
REPLAYED = (b"idempotent-replayed", b"true")


class Record(msgspec.Struct, omit_defaults=True):
    state: str  # running | done | uncertain
    fingerprint: str
    status: int = 0
    headers: list[tuple[str, str]] = msgspec.field(default_factory=list)
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Claim:
    """This attempt's hold on its key. `replay` is the earlier answer to send instead of
    running; `reconcile` says an earlier attempt may have written without learning its result."""

    record_key: str
    fingerprint: str
    reconcile: bool = False
    replay: Record | None = None


class IdempotentWrites:
    def __init__(self, state: SharedState, *, ttl_s: float, running_s: float) -> None:
        self.state = state
        self.ttl_s = ttl_s
        # How long a `running` record holds (the request deadline and a margin): past it, the
        # attempt is taken for dead and the key may run again.
        self.running_s = running_s

    async def claim(self, caller: Caller, key: str, fingerprint: str) -> Claim:
        """The key claimed for this attempt, or the earlier attempt's answer to replay;
        Refused when the key is malformed, taken by another request, or still running."""
        if not KEY_PATTERN.match(key):
            raise Refused(400, "Idempotency-Key must be 1 to 255 visible ASCII characters.")
        record_key = (
            "idem:"
            + hashlib.sha256(
                b"\0".join([caller.tenant.encode(), caller.subject.encode(), key.encode()])
            ).hexdigest()
        )
        running = msgspec.json.encode(Record("running", fingerprint))
        claimed = await self.state.reserve(record_key, running, self.running_s)
        if claimed is None:
            # the shared store (Redis) does not answer: a record only this process knows would
            # let a retry that reaches another process write twice
            raise Refused(
                503,
                "Writes with an Idempotency-Key wait for the shared state, which does not "
                "answer now; try again in a moment.",
                ErrorCode.SHARED_STATE_UNAVAILABLE,
                ((b"retry-after", b"1"),),
            )
        if claimed:
            return Claim(record_key, fingerprint)
        record = await self._settled(record_key)
        if record is not None and record.fingerprint != fingerprint:
            raise Refused(
                422,
                "This Idempotency-Key was used for a different request; use a new key.",
                ErrorCode.IDEMPOTENCY_KEY_REUSED,
            )
        if record is not None and record.state == "running":
            raise Refused(
                409,
                "An attempt with this Idempotency-Key is still running; try again shortly.",
                ErrorCode.IDEMPOTENCY_IN_PROGRESS,
                ((b"retry-after", b"1"),),
            )
        if record is not None and record.state == "done":
            return Claim(record_key, fingerprint, replay=record)
        # uncertain (or gone): this attempt runs, and makes sure of what the last did
        await self.state.set(record_key, running, self.running_s)
        return Claim(record_key, fingerprint, reconcile=record is not None)

    async def settle(
        self,
        claim: Claim,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        *,
        write_may_have_happened: bool,
    ) -> None:
        """Keeps the answer for replays: `done` with it, or `uncertain` when a write in it may
        have reached the vendor without the gateway learning its result."""
        if write_may_have_happened or status >= 500:
            record = Record("uncertain", claim.fingerprint)
        else:
            kept = [
                (k.decode("latin-1"), v.decode("latin-1"))
                for k, v in headers
                if k.lower() in (b"content-type", b"retry-after")
            ]
            record = Record("done", claim.fingerprint, status, kept, body)
        await self.state.set(claim.record_key, msgspec.json.encode(record), self.ttl_s)

    async def abandon(self, claim: Claim) -> None:
        """The attempt ended without an answer: the key may run again."""
        await self.state.delete(claim.record_key)

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


def fingerprint(path: str, content_type: str, body: bytes) -> str:
    """What makes two requests the same: the path, the content type and the body (with the
    multipart boundary, which every send draws anew, taken out)."""
    raw_type = content_type.encode("latin-1")
    found = BOUNDARY.search(raw_type)
    if found is not None:
        body = body.replace(found.group(1), b"")
        raw_type = raw_type[: found.start()]
    digest = hashlib.sha256(path.encode() + b"\0" + raw_type + b"\0" + body)
    return digest.hexdigest()


def replayed(record: Record) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The earlier answer: its status, headers (marked as replayed) and body."""
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in record.headers]
    headers.append(REPLAYED)
    return record.status, headers, record.body


def _decode(raw: bytes | None) -> Record | None:
    if raw is None:
        return None
    try:
        return msgspec.json.decode(raw, type=Record)
    except msgspec.DecodeError:
        return None
