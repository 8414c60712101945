"""The read side of the API: seals across providers, one seal, Relay's node lookups."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay

from gateway import domain, service
from gateway.domain import GatewayError, ProviderName
from gateway.schema.context import Info
from gateway.schema.enums import Provider, SealBizType, SealStatus, convert
from gateway.schema.events import SealEventConnection, seal_events
from gateway.schema.types import (
    Authorization,
    PageInfo,
    ProviderFailure,
    ProviderInfo,
    Seal,
    SealConnection,
    SealEdge,
    TemplateStyle,
    operations,
)
from gateway.schema.writes import (
    PREVIEW_WHY,
    SealPreviewPayload,
    preview_image_seal,
    preview_template_seal,
)


@strawberry.input(description="Narrows `seals`. Every given condition must hold.")
class SealFilter:
    providers: list[Provider] | None = strawberry.field(
        default=None, description="Only seals at these providers."
    )
    biz_type: SealBizType | None = strawberry.field(
        default=None, description="Only seals of this biz type."
    )
    status: SealStatus | None = strawberry.field(
        default=None, description="Only seals in this status."
    )
    name_contains: str | None = strawberry.field(
        default=None,
        description="Only seals whose name contains this text (case-insensitive where the gateway "
        "filters; 云银签 matches it itself).",
    )
    is_default: bool | None = strawberry.field(
        default=None, description="Only default seals (true) or only the others (false)."
    )
    include_revoked: bool = strawberry.field(
        default=False,
        description="Also list revoked seals (deleted after use, 已吊销). e签宝 lists them through "
        "its v3 seal list (`revocationSeal=true`), in that list's order; 云银签 has none.",
    )

    def to_query(self) -> service.SealQuery:
        return service.SealQuery(
            providers=(
                None
                if self.providers is None
                else tuple(convert(ProviderName, p) for p in self.providers)
            ),
            name_contains=self.name_contains,
            biz_type=None if self.biz_type is None else convert(domain.SealBizType, self.biz_type),
            status=None if self.status is None else convert(domain.SealStatus, self.status),
            is_default=self.is_default,
            include_revoked=self.include_revoked,
        )


def as_node(
    found: domain.Seal | domain.Authorization, request_service: service.SealReads
) -> relay.Node:
    if isinstance(found, domain.Seal):
        return Seal.of(found, request_service)
    return Authorization.of(found)


@strawberry.type(description="Reads over every seal the caller's organisation has.")
class Query:
    @strawberry.field(
        description="Seals across every configured provider, a page at a time. The order is "
        "stable: e签宝 first, in its v1 list order, then 云银签 in getSealListByPage order. "
        "When one provider fails, the others' seals still come back and `errors` names it."
    )
    async def seals(
        self,
        info: Info,
        first: Annotated[
            int | None,
            strawberry.argument(description="Page size, 1 to the configured maximum (default 20)."),
        ] = None,
        after: Annotated[
            str | None, strawberry.argument(description="The `endCursor` of the previous page.")
        ] = None,
        filter: Annotated[
            SealFilter | None,
            strawberry.argument(description="Conditions every returned seal meets."),
        ] = None,
    ) -> SealConnection:
        query = filter.to_query() if filter is not None else service.SealQuery()
        page = await info.context.reads.seal_page(first, after, query)
        # what a client could keep: seals; a page without any keeps nothing, and says why
        info.context.report_page_failures(info, list(page.errors), others_answered=bool(page.edges))
        request_service = info.context.reads
        edges = [
            SealEdge(edge=edge, node=Seal.of(edge.seal, request_service)) for edge in page.edges
        ]
        return SealConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next,
                has_previous_page=page.has_previous,
                start_cursor=page.edges[0].cursor if page.edges else None,
                end_cursor=page.end_cursor,
            ),
            unavailable_providers=[convert(Provider, p) for p in page.unavailable],
            unavailable=[
                ProviderFailure.of(provider, error)
                for provider, error in zip(page.unavailable, page.errors, strict=True)
            ],
            page=page,
        )

    @strawberry.field(description="One seal by its id. A wrong or unknown id is an error.")
    async def seal(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A seal's `id`.")],
    ) -> Seal | None:
        request_service = info.context.reads
        return Seal.of(await request_service.seal_by_id(id), request_service)

    @strawberry.field(description="Any object by its global id (Relay).")
    async def node(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A global id.")],
    ) -> relay.Node | None:
        return as_node(await info.context.reads.node(id), info.context.reads)

    @strawberry.field(
        description="Objects by their global ids, in the same order; null (with an error) for an "
        "id that cannot be resolved."
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[
            list[strawberry.ID], strawberry.argument(description="Global ids, at most 100.")
        ],
    ) -> list[relay.Node | None]:
        found: list[relay.Node | None] = []
        for index, item in enumerate(await info.context.reads.nodes(ids)):
            if isinstance(item, GatewayError):
                info.context.report(info, item, index)
                found.append(None)
            else:
                found.append(as_node(item, info.context.reads))
        return found

    preview_template_seal: SealPreviewPayload = strawberry.field(
        resolver=preview_template_seal,
        description="Draw a template seal without creating it (云银签 corpPreView)." + PREVIEW_WHY,
    )
    preview_image_seal: SealPreviewPayload = strawberry.field(
        resolver=preview_image_seal,
        description="An uploaded image in another ink or opacity (云银签 uploadSealFilePreView)."
        + PREVIEW_WHY,
    )

    seal_events: SealEventConnection = strawberry.field(
        resolver=seal_events,
        description="The tenant's seal events, oldest first: what e签宝 told, what the gateway "
        "saw change at 云银签, and the writes made through it. The `sealEvents` subscription "
        "sends the same events as they happen.",
    )

    @strawberry.field(description="The configured seal vendors and what each supports.")
    def providers(self, info: Info) -> list[ProviderInfo]:
        return [
            ProviderInfo(
                provider=convert(Provider, name),
                sandbox=info.context.sandbox,
                supported_operations=operations(name, info),
                template_styles=[
                    TemplateStyle.of(style) for style in info.context.reads.template_styles(name)
                ],
                template_options=sorted(info.context.reads.template_options(name)),
            )
            for name in info.context.reads.configured()
        ]
