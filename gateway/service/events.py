"""One request's view of its tenant's seal events: pages of the log (`sealEvents`), the live
stream a subscription follows, and the events of the gateway's own writes.

Cursors and event ids are bound to the tenant like every other token (gateway/service/ids.py):
another tenant's cursor reads as one that names nothing."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

from gateway.domain import (
    BadInput,
    Caller,
    ErrorCode,
    GatewayError,
    ProviderName,
    SealEvent,
    SealEventDraft,
    SealEventSource,
    SealEventType,
    SealKey,
)
from gateway.events.hub import EventHub, Tick
from gateway.events.log import EventQuery, LogUnavailable
from gateway.service import checks, ids

log = logging.getLogger("gateway.events")

EVENT_TYPE = "SealEvent"
EVENT_CURSOR = "events"
NO_LOG = "Seal events are not kept by this gateway."
LOG_UNAVAILABLE = "The event log does not answer; try again in a moment."

# What each of the gateway's writes is, as an event about its seal.
WRITE_EVENTS = {
    "createTemplateSeal": SealEventType.CREATED,
    "createImageSeal": SealEventType.CREATED,
    "renameSeal": SealEventType.UPDATED,
    "setDefaultSeal": SealEventType.DEFAULT_CHANGED,
    "enableSeal": SealEventType.UPDATED,
    "disableSeal": SealEventType.UPDATED,
    "deleteSeal": SealEventType.DELETED,
    "authorizeSeal": SealEventType.AUTHORIZATION_GRANTED,
    "revokeAuthorization": SealEventType.AUTHORIZATION_REVOKED,
    "changeAuthorizationPeriod": SealEventType.UPDATED,
}


class EventLogUnavailable(GatewayError):
    """The log did not answer a read: the caller may try again."""

    code = ErrorCode.SHARED_STATE_UNAVAILABLE

    def __init__(self) -> None:
        super().__init__(LOG_UNAVAILABLE)


class NoEventLog(GatewayError):
    code = ErrorCode.NOT_SUPPORTED


@dataclass(frozen=True, slots=True)
class EventEdge:
    cursor: str
    event: SealEvent


@dataclass(frozen=True, slots=True)
class EventPage:
    edges: list[EventEdge]
    has_next: bool
    # where the next page starts: the last event looked at, matching the filter or not
    end_cursor: str | None


class SealEvents:
    """The events of one tenant, as one caller sees them."""

    def __init__(
        self, hub: EventHub | None, caller: Caller, default_page: int, max_page: int
    ) -> None:
        self._hub = hub
        self.caller = caller
        self.default_page = default_page
        self.max_page = max_page

    @property
    def tenant(self) -> str:
        return self.caller.tenant

    def _needed(self) -> EventHub:
        if self._hub is None:
            raise NoEventLog(NO_LOG)
        return self._hub

    # --- tokens ---------------------------------------------------------------------------

    def cursor(self, position: str) -> str:
        return ids.offset_token(EVENT_CURSOR, position, self.tenant)

    def event_id(self, event: SealEvent) -> str:
        return ids.global_id(EVENT_TYPE, ids.bind(self.tenant, event.position))

    def position(self, cursor: str | None) -> str | None:
        """The log position a cursor names; BadInput for one not of this tenant's log."""
        if cursor is None:
            return None
        position = ids.parse_offset_token(EVENT_CURSOR, cursor, self.tenant)
        try:
            self._needed().log.key(position)
        except ValueError:
            raise BadInput(ids.NOT_A_CURSOR, "after") from None
        return position

    def seal_id(self, event: SealEvent) -> str:
        draft = event.draft
        return ids.seal_global_id(SealKey(draft.provider, draft.vendor_seal_id), self.tenant)

    # --- reads ----------------------------------------------------------------------------

    def query(
        self,
        *,
        providers: list[ProviderName] | None = None,
        types: list[SealEventType] | None = None,
        sources: list[SealEventSource] | None = None,
        seal_ids: list[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> EventQuery:
        """The conditions of a filter. A seal id of another tenant names no seal here: it
        matches nothing, as an unknown one would."""
        seals = None
        if seal_ids is not None:
            seals = frozenset(
                issued.key
                for issued in (ids.seal_key(i, self.tenant, "sealIds") for i in seal_ids)
                if issued.ours
            )
        return EventQuery(
            providers=None if providers is None else frozenset(providers),
            types=None if types is None else frozenset(types),
            sources=None if sources is None else frozenset(sources),
            seals=None
            if seals is None
            else frozenset((key.provider, key.vendor_id) for key in seals),
            since=_aware(since),
            until=_aware(until),
        )

    async def page(self, first: int | None, after: str | None, query: EventQuery) -> EventPage:
        """A page of the tenant's events, oldest first."""
        size = checks.page_size(first, self.default_page, self.max_page)
        hub = self._needed()
        start = self.position(after)
        try:
            batch = await hub.log.read(self.tenant, start, size, query)
        except LogUnavailable:
            raise EventLogUnavailable() from None
        edges = [EventEdge(self.cursor(e.position), e) for e in batch.events]
        # on an empty log, the log's start: a subscription from there misses nothing
        end = self.cursor(batch.reached if batch.reached is not None else hub.log.origin)
        return EventPage(edges, batch.more, end)

    async def follow(
        self, after: str | None, query: EventQuery, *, quiet_s: float
    ) -> AsyncIterator[Tick]:
        """The tenant's events after the cursor `after` (from now without one), live."""
        hub = self._needed()
        start = self.position(after)
        try:
            async for tick in hub.follow(self.tenant, start, query, quiet_s=quiet_s):
                yield tick
        except LogUnavailable:
            raise EventLogUnavailable() from None

    # --- the gateway's writes -------------------------------------------------------------

    async def record_write(
        self,
        operation: str,
        key: SealKey,
        outcome: str,
        code: str | None,
        details: dict[str, str] | None = None,
    ) -> None:
        """The event of a write through the gateway, with its actor and request id. A log
        that does not take it costs the write nothing: the audit line stays."""
        event_type = WRITE_EVENTS.get(operation)
        if self._hub is None or event_type is None:
            return
        facts = {"operation": operation, **(details or {})}
        if code is not None:
            facts["code"] = code
        draft = SealEventDraft(
            provider=key.provider,
            vendor_seal_id=key.vendor_id,
            type=event_type,
            source=SealEventSource.GATEWAY_WRITE,
            occurred_at=datetime.now(UTC),
            actor=self.caller.subject,
            outcome=outcome,
            request_id=self.caller.request_id or None,
            details=facts,
        )
        try:
            await self._hub.record(self.tenant, draft)
        except LogUnavailable:
            log.warning(
                "the event of write %s (request %s) was not recorded",
                operation,
                self.caller.request_id,
            )


def _aware(moment: datetime | None) -> datetime | None:
    """A time without an offset is taken as UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


__all__ = ["EventPage", "EventQuery", "SealEvents", "Tick"]
