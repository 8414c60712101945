"""Seal events in the schema: the `sealEvents` connection (the log, oldest first) and the
`sealEvents` subscription (the same events, live)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Annotated

import strawberry

from gateway import domain
from gateway.domain import GatewayError, ProviderName
from gateway.schema.context import Info
from gateway.schema.enums import Provider, SealEventSource, SealEventType, convert
from gateway.schema.types import PageInfo, Seal
from gateway.service.events import EventPage, EventQuery, SealEvents

# A subscription's resolver wakes this often without an event, to notice a client gone.
QUIET_S = 30.0


@strawberry.input(description="Narrows `sealEvents`. Every given condition must hold.")
class SealEventFilter:
    providers: list[Provider] | None = strawberry.field(
        default=None, description="Only events of seals at these providers."
    )
    types: list[SealEventType] | None = strawberry.field(
        default=None, description="Only events of these types."
    )
    sources: list[SealEventSource] | None = strawberry.field(
        default=None, description="Only events learnt in these ways."
    )
    seal_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Only events of these seals (their `id`s)."
    )
    since: datetime | None = strawberry.field(
        default=None, description="Only events that happened at or after this time."
    )
    until: datetime | None = strawberry.field(
        default=None, description="Only events that happened before this time."
    )

    def to_query(self, events: SealEvents) -> EventQuery:
        return events.query(
            providers=None
            if self.providers is None
            else [convert(ProviderName, p) for p in self.providers],
            types=None
            if self.types is None
            else [convert(domain.SealEventType, t) for t in self.types],
            sources=None
            if self.sources is None
            else [convert(domain.SealEventSource, s) for s in self.sources],
            seal_ids=None if self.seal_ids is None else [str(i) for i in self.seal_ids],
            since=self.since,
            until=self.until,
        )


@strawberry.type(description="A fact worth knowing beside an event's type, as its source gave it.")
class SealEventDetail:
    name: str = strawberry.field(
        description="What the fact is: `sealName`, `rejectReason`, `sealAuthBizId`, "
        "`operation`, `code`, `changed`, ..."
    )
    value: str = strawberry.field(description="The fact, as text.")


@strawberry.type(
    description="Something that happened to a seal, wherever it happened: told by the vendor "
    "(e签宝's notifications), seen by the gateway (云银签's list, which it compares), or done "
    "through the gateway. Kept in the tenant's event log for SEALGW_EVENT_RETENTION_DAYS."
)
class SealEvent:
    record: strawberry.Private[domain.SealEvent]
    view: strawberry.Private[SealEvents]

    @classmethod
    def of(cls, event: domain.SealEvent, view: SealEvents) -> SealEvent:
        return cls(record=event, view=view)

    @property
    def shared_as(self) -> tuple[str, str]:
        """The event itself (its tenant and place in the log): subscribers of one selection
        share its answer (gateway/execution/pipeline.py)."""
        return (self.record.tenant, self.record.position)

    @strawberry.field(description="The event's id.")
    def id(self) -> strawberry.ID:
        return strawberry.ID(self.view.event_id(self.record))

    @strawberry.field(
        description="The event's place in the log: pass it as `after` (to `sealEvents`, or to "
        "the subscription when reconnecting) to get every event after this one."
    )
    def cursor(self) -> str:
        return self.view.cursor(self.record.position)

    @strawberry.field(description="What happened.")
    def type(self) -> SealEventType:
        return convert(SealEventType, self.record.draft.type)

    @strawberry.field(description="How the gateway learnt of it.")
    def source(self) -> SealEventSource:
        return convert(SealEventSource, self.record.draft.source)

    @strawberry.field(description="The vendor the seal lives at.")
    def provider(self) -> Provider:
        return convert(Provider, self.record.draft.provider)

    @strawberry.field(description="The seal's `id` (the same id `seal(id:)` takes).")
    def seal_id(self) -> strawberry.ID:
        return strawberry.ID(self.view.seal_id(self.record))

    @strawberry.field(
        description="The seal's id at the vendor (e签宝 sealId, 云银签 sealId); empty for a "
        "vendor notification that names no seal."
    )
    def vendor_seal_id(self) -> str:
        return self.record.draft.vendor_seal_id

    @strawberry.field(
        description="The seal as it is now (a vendor call); null once it is deleted, or when "
        "the event names no seal."
    )
    async def seal(self, info: Info) -> Seal | None:
        draft = self.record.draft
        if not draft.vendor_seal_id:
            return None
        reads = info.context.reads
        try:
            found = await reads.seal(domain.SealKey(draft.provider, draft.vendor_seal_id))
        except domain.NotFound:
            return None
        except GatewayError as error:
            info.context.report(info, error)
            return None
        return Seal.of(found, reads)

    @strawberry.field(description="When it happened, as its source says.")
    def occurred_at(self) -> datetime:
        return self.record.draft.occurred_at

    @strawberry.field(description="When the gateway recorded it.")
    def recorded_at(self) -> datetime:
        return self.record.recorded_at

    @strawberry.field(
        description="Who made the change, for the gateway's own writes: the API key's name or "
        "the token's subject."
    )
    def actor(self) -> str | None:
        return self.record.draft.actor

    @strawberry.field(
        description="How a gateway write ended: `ok`, `refused` (a user error), `failed`, or "
        "`unknown` (the vendor may have made it). Null for other sources."
    )
    def outcome(self) -> str | None:
        return self.record.draft.outcome

    @strawberry.field(description="The request that made a gateway write (X-Request-Id).")
    def request_id(self) -> str | None:
        return self.record.draft.request_id

    @strawberry.field(
        description="The vendor's own word for it (e签宝's `action`, e.g. SEAL_AUDIT); null "
        "for events the vendor did not name."
    )
    def vendor_action(self) -> str | None:
        return self.record.draft.vendor_action

    @strawberry.field(description="Facts beside the type, by name.")
    def details(self) -> list[SealEventDetail]:
        return [
            SealEventDetail(name=name, value=value)
            for name, value in sorted(self.record.draft.details.items())
        ]


@strawberry.type(description="One event in a page, with its cursor.")
class SealEventEdge:
    cursor: str = strawberry.field(description="Pass as `after` to continue after this event.")
    node: SealEvent = strawberry.field(description="The event.")


@strawberry.type(description="A page of a tenant's seal events, oldest first.")
class SealEventConnection:
    edges: list[SealEventEdge] = strawberry.field(description="The events of this page.")
    page_info: PageInfo = strawberry.field(
        description="Where this page stands; `endCursor` continues after the last event looked "
        "at (with a filter, possibly past events it left out)."
    )


async def seal_events(
    info: Info,
    first: Annotated[
        int | None,
        strawberry.argument(description="Page size, 1 to the configured maximum (default 20)."),
    ] = None,
    after: Annotated[
        str | None,
        strawberry.argument(description="An event's `cursor`, or a page's `endCursor`."),
    ] = None,
    filter: Annotated[
        SealEventFilter | None,
        strawberry.argument(description="Conditions every returned event meets."),
    ] = None,
) -> SealEventConnection:
    view = info.context.service.events
    query = filter.to_query(view) if filter is not None else view.query()
    page: EventPage = await view.page(first, after, query)
    return SealEventConnection(
        edges=[
            SealEventEdge(cursor=edge.cursor, node=SealEvent.of(edge.event, view))
            for edge in page.edges
        ],
        page_info=PageInfo(
            has_next_page=page.has_next,
            has_previous_page=after is not None,
            start_cursor=page.edges[0].cursor if page.edges else None,
            end_cursor=page.end_cursor,
        ),
    )


@strawberry.type(description="Live streams (graphql-transport-ws, or GraphQL over SSE).")
class Subscription:
    @strawberry.subscription(
        description="The tenant's seal events as they happen. With `after` (an event's "
        "`cursor`), first every event after it: a client that reconnects with the last cursor "
        "it saw misses nothing and gets nothing twice."
    )
    async def seal_events(
        self,
        info: Info,
        after: Annotated[
            str | None,
            strawberry.argument(description="Start after this event's `cursor` (else: now)."),
        ] = None,
        filter: Annotated[
            SealEventFilter | None,
            strawberry.argument(description="Conditions every event sent meets."),
        ] = None,
    ) -> AsyncGenerator[SealEvent, None]:
        view = info.context.service.events
        query = filter.to_query(view) if filter is not None else view.query()
        async for tick in view.follow(after, query, quiet_s=QUIET_S):
            if tick.event is None:
                continue
            # the seal each event shows is read now, not from what an earlier event read
            info.context.reads.loaders.forget()
            yield SealEvent.of(tick.event, view)
