"""The read side of the API: seals across providers, one seal, Relay's node lookups."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Annotated

import strawberry
from strawberry import relay

from gateway import domain
from gateway.domain import (
    PROVIDER_ORDER,
    BadInput,
    GatewayError,
    NotFound,
    ProviderName,
    SealKey,
)
from gateway.loaders import AuthorizationKey
from gateway.providers.base import SealProvider
from gateway.schema.context import Info
from gateway.schema.enums import Provider, SealBizType, SealStatus, convert
from gateway.schema.ids import parse_node_id
from gateway.schema.paging import page_size, parse_seal_cursor, seal_cursor
from gateway.schema.types import (
    Authorization,
    PageInfo,
    ProviderInfo,
    Seal,
    SealConnection,
    SealEdge,
    operations,
)
from gateway.schema.writes import (
    PREVIEW_WHY,
    SealPreviewPayload,
    preview_image_seal,
    preview_template_seal,
)

MAX_NAME_FILTER = 100


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

    def to_domain(self) -> domain.SealFilter:
        name = self.name_contains
        if name is not None and not 1 <= len(name.strip()) <= MAX_NAME_FILTER:
            raise BadInput(
                f"`nameContains` must hold 1 to {MAX_NAME_FILTER} characters.", "nameContains"
            )
        return domain.SealFilter(
            name_contains=name.strip() if name is not None else None,
            biz_type=None if self.biz_type is None else convert(domain.SealBizType, self.biz_type),
            status=None if self.status is None else convert(domain.SealStatus, self.status),
            is_default=self.is_default,
        )


def _selected_providers(
    configured: Mapping[ProviderName, SealProvider], wanted: list[Provider] | None
) -> tuple[ProviderName, ...]:
    names = [p for p in PROVIDER_ORDER if p in configured]
    if wanted is not None:
        allowed = {convert(ProviderName, p) for p in wanted}
        names = [p for p in names if p in allowed]
    return tuple(names)


async def _resolve_node(info: Info, global_id: str) -> relay.Node:
    type_name, node_id = parse_node_id(global_id)
    if type_name == "Seal":
        return await Seal.load(info, SealKey.from_node_id(node_id))
    if type_name == "Authorization":
        key = AuthorizationKey(*domain.Authorization.parse_node_id(node_id))
        if key.provider not in info.context.providers:
            raise NotFound(f"Provider {key.provider.value} is not configured.", key.provider)
        return Authorization.of(await info.context.loaders.authorization.load(key))
    raise BadInput(f"{global_id!r} is not an id this API issued.", "id")


async def _any_after(
    info: Info,
    providers: tuple[ProviderName, ...],
    seal_filter: domain.SealFilter,
    unavailable: list[ProviderName],
) -> bool:
    """Whether any of these providers has a matching seal (for hasNextPage at a boundary)."""
    for provider in providers:
        try:
            if await info.context.loaders.seal_total(provider, seal_filter) > 0:
                return True
        except GatewayError as error:
            info.context.report(info, error)
            unavailable.append(provider)
    return False


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
        ctx = info.context
        limit = page_size(first, ctx.limits)
        seal_filter = filter.to_domain() if filter is not None else domain.SealFilter()
        providers = _selected_providers(ctx.providers, filter.providers if filter else None)
        start, offset = providers[0] if providers else None, 0
        if after is not None:
            start, last = parse_seal_cursor(after, seal_filter, providers)
            if start not in providers:
                raise BadInput("`after` points at a provider outside this query.", "after")
            offset = last + 1

        edges: list[SealEdge] = []
        unavailable: list[ProviderName] = []
        has_next = False
        remaining = limit
        following = providers[providers.index(start) :] if start is not None else ()
        for index, provider in enumerate(following):
            begin = offset if index == 0 else 0
            try:
                page = await ctx.loaders.seal_page(provider, seal_filter, begin, remaining)
            except GatewayError as error:
                ctx.report(info, error)
                unavailable.append(provider)
                continue
            edges.extend(
                SealEdge(
                    cursor=seal_cursor(provider, begin + i, seal_filter, providers),
                    node=Seal.of(seal),
                )
                for i, seal in enumerate(page.items)
            )
            remaining -= len(page.items)
            if remaining == 0:
                has_next = begin + len(page.items) < page.total or await _any_after(
                    info, following[index + 1 :], seal_filter, unavailable
                )
                break

        return SealConnection(
            edges=edges,
            page_info=PageInfo(
                has_next_page=has_next,
                has_previous_page=after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
            unavailable_providers=[convert(Provider, p) for p in unavailable],
            providers=providers,
            seal_filter=seal_filter,
        )

    @strawberry.field(description="One seal by its id. A wrong or unknown id is an error.")
    async def seal(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A seal's `id`.")],
    ) -> Seal | None:
        type_name, node_id = parse_node_id(id)
        if type_name != "Seal":
            raise BadInput(f"{id!r} is not a seal id.", "id")
        return await Seal.load(info, SealKey.from_node_id(node_id))

    @strawberry.field(description="Any object by its global id (Relay).")
    async def node(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A global id.")],
    ) -> relay.Node | None:
        return await _resolve_node(info, id)

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
        if len(ids) > info.context.limits.max_page_size:
            raise BadInput(
                f"`ids` may hold at most {info.context.limits.max_page_size} ids.", "ids"
            )

        async def resolve(index: int, global_id: str) -> relay.Node | None:
            try:
                return await _resolve_node(info, global_id)
            except GatewayError as error:
                info.context.report(info, error, index)
                return None

        # Concurrently, so the loaders batch and de-duplicate the ids' vendor calls.
        return list(await asyncio.gather(*(resolve(i, g) for i, g in enumerate(ids))))

    preview_template_seal: SealPreviewPayload = strawberry.field(
        resolver=preview_template_seal,
        description="Draw a template seal without creating it (云银签 corpPreView)." + PREVIEW_WHY,
    )
    preview_image_seal: SealPreviewPayload = strawberry.field(
        resolver=preview_image_seal,
        description="An uploaded image in another ink or opacity (云银签 uploadSealFilePreView)."
        + PREVIEW_WHY,
    )

    @strawberry.field(description="The configured seal vendors and what each supports.")
    def providers(self, info: Info) -> list[ProviderInfo]:
        return [
            ProviderInfo(
                provider=convert(Provider, name),
                sandbox=info.context.sandbox,
                supported_operations=operations(name, info),
            )
            for name in PROVIDER_ORDER
            if name in info.context.providers
        ]
