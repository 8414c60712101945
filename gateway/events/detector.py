"""云银签 changes made elsewhere (its console, another system): 云银签 documents no
notifications, so each tenant's detector lists its seals every SEALGW_CHANGE_POLL_SECONDS and
turns the differences from the listing before into events (CHANGE_DETECTED).

- One detector per tenant across every process: a lease in the shared state (Redis with
  several processes), renewed at each round by its holder; another process takes over when
  the holder stops renewing.
- The listing before is kept in the shared state too, so the process that takes over compares
  with what the last one saw, not with nothing (a first listing only sets the baseline).
- The listing goes through the provider like every call: its breaker, its rate window, its
  retries. A failed listing changes nothing and is tried again at the next round.
- A change the gateway itself made (a GATEWAY_WRITE event of the same seal and type since the
  listing before) is not told twice. A write's event is recorded once its answer is read
  back, a moment after the vendor made the change: a round that finds differences waits that
  moment (WRITE_GRACE_S, or the interval if shorter) before it looks for such events.
- Two processes that compared the same two listings (a lease that changed hands mid-round)
  record the same facts under the same keys: the log keeps one of each."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from gateway.domain import (
    GatewayError,
    OrgScope,
    ProviderName,
    Seal,
    SealEventDraft,
    SealEventSource,
    SealEventType,
    SealFilter,
    SealStatus,
)
from gateway.events.hub import EventHub
from gateway.events.log import EventQuery, LogUnavailable
from gateway.providers.base import SealProvider
from gateway.shared.state import SharedState

log = logging.getLogger("gateway.events")

# How long a write through the gateway may take from the vendor's change to its event.
WRITE_GRACE_S = 5.0

# What a listing is compared on, per seal.
Snapshot = dict[str, dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Listing:
    """What the detector saw: each seal's compared facts, the round that saw them, and the
    log's position at that moment (changes the gateway wrote after it are its own)."""

    seals: Snapshot
    round: int
    position: str | None

    def encoded(self) -> bytes:
        return orjson.dumps({"seals": self.seals, "round": self.round, "position": self.position})

    @classmethod
    def decoded(cls, raw: bytes) -> Listing:
        found = orjson.loads(raw)
        return cls(dict(found["seals"]), int(found["round"]), found.get("position"))


def facts(seal: Seal) -> dict[str, Any]:
    return {
        "name": seal.name,
        "status": None if seal.status is None else seal.status.value,
        "default": seal.is_default,
    }


def differences(
    before: Snapshot, after: Snapshot
) -> list[tuple[str, SealEventType, dict[str, str]]]:
    """The events two listings differ by: (vendor seal id, type, details), in a stable order."""
    found: list[tuple[str, SealEventType, dict[str, str]]] = []
    for seal_id in sorted(after.keys() - before.keys()):
        found.append((seal_id, SealEventType.CREATED, _named(after[seal_id])))
    for seal_id in sorted(before.keys() - after.keys()):
        found.append((seal_id, SealEventType.DELETED, _named(before[seal_id])))
    for seal_id in sorted(before.keys() & after.keys()):
        old, new = before[seal_id], after[seal_id]
        if old["name"] != new["name"]:
            found.append(
                (
                    seal_id,
                    SealEventType.UPDATED,
                    {"changed": "name", "before": str(old["name"]), **_named(new)},
                )
            )
        if old["status"] != new["status"]:
            change = _status_change(old["status"], new["status"])
            found.append((seal_id, change, _status(old, new)))
        if bool(old["default"]) != bool(new["default"]):
            found.append(
                (
                    seal_id,
                    SealEventType.DEFAULT_CHANGED,
                    {"isDefault": "true" if new["default"] else "false", **_named(new)},
                )
            )
    return found


def _named(seal: dict[str, Any]) -> dict[str, str]:
    return {} if seal.get("name") is None else {"sealName": str(seal["name"])}


def _status(old: dict[str, Any], new: dict[str, Any]) -> dict[str, str]:
    return {
        "changed": "status",
        "before": str(old["status"]),
        "status": str(new["status"]),
        **_named(new),
    }


def _status_change(old: str | None, new: str | None) -> SealEventType:
    """A seal that leaves review passed or failed it; any other status change is an update."""
    if old == SealStatus.AWAITING_REVIEW.value and new == SealStatus.ENABLED.value:
        return SealEventType.REVIEW_PASSED
    if new == SealStatus.REJECTED.value:
        return SealEventType.REVIEW_REJECTED
    return SealEventType.UPDATED


class ChangeDetector:
    """One tenant's detector at one provider; `run` until cancelled."""

    def __init__(
        self,
        tenant: str,
        adapter: SealProvider,
        scope: OrgScope,
        hub: EventHub,
        state: SharedState,
        interval_s: float,
    ) -> None:
        self.tenant = tenant
        self.adapter = adapter
        self.scope = scope
        self.hub = hub
        self.state = state
        self.interval_s = interval_s
        self.holder = secrets.token_hex(8)
        base = f"detector:{tenant}:{adapter.name.value}"
        self.lease_key = f"{base}:lease"
        self.listing_key = f"{base}:listing"
        # a lease outlives a round or two missed by its holder, not more
        self.lease_s = max(interval_s * 3, 5.0)

    async def run(self) -> None:
        log_away = False
        while True:
            try:
                await self.round()
                log_away = False
            except asyncio.CancelledError:
                raise
            except LogUnavailable:
                if not log_away:  # once per outage, not once per round
                    log.warning(
                        "the change detector of tenant %s waits for the event log", self.tenant
                    )
                log_away = True
            except Exception:
                log.exception("the change detector of tenant %s failed a round", self.tenant)
            await asyncio.sleep(self.interval_s)

    async def holds_lease(self) -> bool:
        holder = self.holder.encode()
        if await self.state.get(self.lease_key) == holder:
            await self.state.set(self.lease_key, holder, self.lease_s)
            return True
        return bool(await self.state.reserve(self.lease_key, holder, self.lease_s))

    async def round(self) -> int:
        """One comparison; answers how many events it recorded."""
        if not await self.holds_lease():
            return 0
        position = await self.hub.log.last_position(self.tenant)
        try:
            seals = await self.adapter.scan(self.scope, SealFilter())
        except GatewayError as error:
            log.info(
                "the change detector of tenant %s could not list %s's seals: %s",
                self.tenant,
                self.adapter.name.label,
                error.message,
            )
            return 0
        now = {seal.key.vendor_id: facts(seal) for seal in seals}
        raw = await self.state.get(self.listing_key)
        before = None if raw is None else Listing.decoded(raw)
        listing = Listing(now, 0 if before is None else before.round + 1, position)
        if before is None:
            await self.state.set(self.listing_key, listing.encoded(), None)
            return 0
        changes = differences(before.seals, now)
        if changes:
            await asyncio.sleep(min(WRITE_GRACE_S, self.interval_s))
            written = await self._written_since(before.position)
            changes = [c for c in changes if (c[0], c[1]) not in written]
        recorded = 0
        for seal_id, event_type, details in changes:
            draft = SealEventDraft(
                provider=self.adapter.name,
                vendor_seal_id=seal_id,
                type=event_type,
                source=SealEventSource.CHANGE_DETECTED,
                occurred_at=datetime.now(UTC),
                dedup_key=_fact_key(self.tenant, before.round, seal_id, event_type),
                details=details,
            )
            try:
                if await self.hub.record(self.tenant, draft) is not None:
                    recorded += 1
            except LogUnavailable:
                log.warning(
                    "the change detector of tenant %s could not record its events; the "
                    "next round compares with the same listing",
                    self.tenant,
                )
                return recorded
        await self.state.set(self.listing_key, listing.encoded(), None)
        return recorded

    async def _written_since(self, position: str | None) -> set[tuple[str, SealEventType]]:
        """The (seal, type) pairs of the gateway's own successful writes since `position`."""
        query = EventQuery(
            providers=frozenset({self.adapter.name}),
            sources=frozenset({SealEventSource.GATEWAY_WRITE}),
        )
        found: set[tuple[str, SealEventType]] = set()
        start = position
        while True:
            batch = await self.hub.log.read(self.tenant, start, 500, query)
            for event in batch.events:
                if event.draft.outcome == "ok":
                    found.add((event.draft.vendor_seal_id, event.draft.type))
            if not batch.more or batch.reached is None:
                return found
            start = batch.reached


def _fact_key(tenant: str, round_: int, seal_id: str, event_type: SealEventType) -> str:
    text = f"detected:{tenant}:{round_}:{seal_id}:{event_type.value}"
    return hashlib.sha256(text.encode()).hexdigest()


class Detectors:
    """The detectors of every tenant at every provider that sends no notifications."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def start(self, detectors: Sequence[ChangeDetector]) -> None:
        for detector in detectors:
            self._tasks.append(asyncio.create_task(detector.run()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks.clear()


NOTIFIES = frozenset({ProviderName.ESIGN})
