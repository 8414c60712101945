"""e签宝 as a SealProvider: v1 lists, v3 details, fused by seal id."""

from __future__ import annotations

from collections.abc import Sequence

from gateway.domain import (
    ErrorCode,
    OrgScope,
    Page,
    ProviderName,
    Seal,
    SealFilter,
    UpstreamError,
)
from gateway.providers.base import SealProvider, read_all
from gateway.providers.esign.client import EsignClient, EsignSettings
from gateway.providers.esign.mapping import DETAIL_FIELDS, LISTING_FIELDS, from_v1, from_v3


class EsignProvider(SealProvider):
    """Read-only: the seeds give e签宝 no write endpoint, and v1 filters nothing itself."""

    name = ProviderName.ESIGN
    listing_fields = LISTING_FIELDS
    detail_fields = DETAIL_FIELDS
    max_page_size = 100

    def __init__(self, settings: EsignSettings) -> None:
        self.client = EsignClient(settings)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def list_range(
        self, scope: OrgScope, seal_filter: SealFilter, offset: int, limit: int
    ) -> Page[Seal]:
        page = await self.client.list_org_seals(scope.account(self.name), offset, limit)
        return Page([from_v1(row) for row in page.seals or []], page.total)

    async def get_seal(self, scope: OrgScope, vendor_id: str) -> Seal:
        return from_v3(await self.client.org_seal_info(scope.account(self.name), vendor_id))

    async def find_listed(
        self, scope: OrgScope, vendor_ids: Sequence[str]
    ) -> list[Seal | Exception]:
        """v1 has no lookup by id: read the organisation's list once and pick the seals out."""
        seals = await read_all(
            lambda offset, limit: self.list_range(scope, SealFilter(), offset, limit),
            self.max_page_size,
        )
        by_id = {seal.key.vendor_id: seal for seal in seals}
        return [
            by_id.get(vendor_id)
            or UpstreamError(
                self.name,
                "The seal is not in the organisation's e签宝 seal list.",
                code=ErrorCode.NOT_FOUND,
            )
            for vendor_id in vendor_ids
        ]
