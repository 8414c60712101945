"""云银签 as a SealProvider."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from gateway.domain import (
    Authorization,
    BadInput,
    Capability,
    OrgScope,
    Page,
    ProviderName,
    Seal,
    SealFilter,
)
from gateway.providers.base import SealProvider, covering_pages, slice_pages
from gateway.providers.yunyin.client import YunyinClient, YunyinSettings
from gateway.providers.yunyin.mapping import (
    CATEGORY_CODES,
    FIELDS,
    STATUS_CODES,
    to_authorization,
    to_seal,
)

T = TypeVar("T")


def seal_number(vendor_id: str) -> int:
    """云银签 seal ids are int64."""
    try:
        number = int(vendor_id)
    except ValueError:
        number = -1
    if not 0 < number < 2**63:
        raise BadInput(f"{vendor_id!r} is not a 云银签 seal id (a positive integer).", "id")
    return number


class YunyinProvider(SealProvider):
    name = ProviderName.YUNYIN
    capabilities = frozenset(Capability)
    listing_fields = FIELDS
    detail_fields = FIELDS
    # getSealListByPage filters by name (fuzzy), category and status; not by the default flag.
    pushdown = frozenset({"name_contains", "biz_type", "status"})
    max_page_size = 100

    def __init__(self, settings: YunyinSettings) -> None:
        self.client = YunyinClient(settings)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _paged(
        self,
        path: str,
        operator: str,
        body: dict[str, Any],
        offset: int,
        limit: int,
        convert: Callable[[dict[str, Any]], T],
    ) -> Page[T]:
        """Items [offset, offset+limit) of a page-numbered list, in as few calls as possible."""
        pages = covering_pages(offset, limit, self.max_page_size)

        async def fetch(number: int, size: int) -> dict[str, Any]:
            return await self.client.call(
                path, operator, {**body, "listPageNo": number, "listPageSize": size}
            )

        answers: list[dict[str, Any]] = await asyncio.gather(*(fetch(n, s) for n, s in pages))
        rows = [[convert(row) for row in answer.get("data") or []] for answer in answers]
        total = int(answers[0].get("totalCount") or 0)
        return Page(slice_pages(pages, rows, offset, limit), total)

    async def list_range(
        self, scope: OrgScope, seal_filter: SealFilter, offset: int, limit: int
    ) -> Page[Seal]:
        body: dict[str, Any] = {}
        if seal_filter.name_contains is not None:
            body["sealName"] = seal_filter.name_contains
        if seal_filter.biz_type is not None:
            body["categoryType"] = CATEGORY_CODES[seal_filter.biz_type]
        if seal_filter.status is not None:
            body["sealStatus"] = STATUS_CODES[seal_filter.status]
        return await self._paged(
            "/seal/getSealListByPage", scope.account(self.name), body, offset, limit, to_seal
        )

    async def get_seal(self, scope: OrgScope, vendor_id: str) -> Seal:
        answer = await self.client.call(
            "/seal/getSealInfo", scope.account(self.name), {"sealId": seal_number(vendor_id)}
        )
        return to_seal(answer.get("data") or {})

    async def list_authorizations(
        self, scope: OrgScope, seal_id: str, offset: int, limit: int
    ) -> Page[Authorization]:
        return await self._paged(
            "/seal/getSealAuthorList",
            scope.account(self.name),
            {"sealId": seal_number(seal_id)},
            offset,
            limit,
            to_authorization,
        )
