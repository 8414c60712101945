"""What every provider offers the layers above, and the paging logic they share."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from gateway.domain import (
    FILTER_FIELDS,
    Authorization,
    AuthorizationGrant,
    AuthorizationPeriod,
    AuthorizationSpec,
    Capability,
    DeleteOutcome,
    ImageSealSpec,
    NotSupported,
    OrgScope,
    Page,
    ProviderName,
    Rejection,
    Seal,
    SealAttr,
    SealColor,
    SealFilter,
    TemplateSealSpec,
    TemplateStyle,
    UploadedImage,
)

T = TypeVar("T")

# A gateway-side filter reads the whole list; this bounds how far it reads.
MAX_SCAN_ITEMS = 5000


class SealProvider(ABC):
    """One vendor's seals, in the domain's vocabulary.

    A provider states which Seal attributes its list call carries (`listing_fields`) and which its
    detail call carries (`detail_fields`), which filters the vendor applies itself (`pushdown`),
    which operations it supports (`capabilities`) and which of its vendor's refusal codes mean
    which business failure (`rejections`). Vendor failures leave it as `UpstreamError`; the
    service layer turns a refused write into the user error `rejections` names.
    """

    name: ProviderName
    capabilities: frozenset[Capability] = frozenset()
    listing_fields: frozenset[SealAttr] = frozenset()
    detail_fields: frozenset[SealAttr] = frozenset()
    # Attributes a cheaper batch read carries for many seals at once (`get_summaries`); the
    # layers above prefer it to the detail call for these.
    summary_fields: frozenset[SealAttr] = frozenset()
    pushdown: frozenset[str] = frozenset()
    # The largest page the vendor serves in one list call.
    max_page_size: int = 100
    # Vendor refusal code -> (the business failure, the input field it points at).
    rejections: Mapping[str, tuple[Rejection, str | None]] = {}
    # The templates `create_template_seal` draws from, and the template seal input fields
    # (beyond name, business type and shape) the vendor documents: told to clients up front.
    template_styles: tuple[TemplateStyle, ...] = ()
    template_options: frozenset[str] = frozenset()
    # Why an operation the provider does not offer is missing, for the NOT_SUPPORTED answer.
    unsupported_why: Mapping[Capability, str] = {}

    @property
    def fields(self) -> frozenset[SealAttr]:
        return self.listing_fields | self.detail_fields

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def needs_scan(self, seal_filter: SealFilter) -> bool:
        """Whether the filter has a part the vendor cannot apply, so the gateway reads it all."""
        return bool(seal_filter.active() - self.pushdown)

    @abstractmethod
    async def list_range(
        self, scope: OrgScope, seal_filter: SealFilter, offset: int, limit: int
    ) -> Page[Seal]:
        """Seals [offset, offset+limit) of the vendor's list narrowed by pushdown filters only."""

    @abstractmethod
    async def get_seal(self, scope: OrgScope, vendor_id: str) -> Seal:
        """One seal through the vendor's detail call."""

    async def get_seals(self, scope: OrgScope, vendor_ids: Sequence[str]) -> list[Seal | Exception]:
        """Detail for several seals; the pool of the vendor's client bounds the concurrency.
        One seal's detail is awaited where it stands (no task of its own)."""
        if len(vendor_ids) == 1:
            try:
                return [await self.get_seal(scope, vendor_ids[0])]
            except Exception as error:
                return [error]
        results = await asyncio.gather(
            *(self.get_seal(scope, vendor_id) for vendor_id in vendor_ids), return_exceptions=True
        )
        return [_as_result(r) for r in results]

    async def get_summaries(
        self, scope: OrgScope, vendor_ids: Sequence[str]
    ) -> list[Seal | Exception]:
        """The `summary_fields` of several seals; by default, their details."""
        return await self.get_seals(scope, vendor_ids)

    async def find_listed(
        self, scope: OrgScope, vendor_ids: Sequence[str]
    ) -> list[Seal | Exception]:
        """The list-call view of given seals. Where the detail call carries every listing field
        (the default), that is the detail."""
        return await self.get_seals(scope, vendor_ids)

    async def scan(self, scope: OrgScope, seal_filter: SealFilter) -> list[Seal]:
        """The whole list narrowed by the filter, applying on the gateway what the vendor cannot."""
        pushed = seal_filter.only(self.pushdown)
        seals = await read_all(
            lambda offset, limit: self.list_range(scope, pushed, offset, limit),
            self.max_page_size,
        )
        needed = {FILTER_FIELDS[name] for name in seal_filter.active() - self.pushdown}
        seals = await self._complete(scope, seals, needed)
        return [seal for seal in seals if seal_filter.matches(seal)]

    async def _complete(
        self, scope: OrgScope, seals: list[Seal], needed: set[SealAttr]
    ) -> list[Seal]:
        """Fetch the detail of listed seals that lack an attribute a gateway-side filter reads."""
        lacking = [seal for seal in seals if not needed <= seal.known]
        if not lacking:
            return seals
        ids = [seal.key.vendor_id for seal in lacking]
        cheap = needed <= self.summary_fields
        details = await (self.get_summaries(scope, ids) if cheap else self.get_seals(scope, ids))
        completed: dict[str, Seal] = {}
        for seal, detail in zip(lacking, details, strict=True):
            if isinstance(detail, Exception):
                raise detail
            completed[seal.key.vendor_id] = seal.merged_with(detail)
        return [completed.get(seal.key.vendor_id, seal) for seal in seals]

    async def list_authorizations(
        self, scope: OrgScope, seal_id: str, offset: int, limit: int
    ) -> Page[Authorization]:
        raise self._unsupported(Capability.LIST_AUTHORIZATIONS)

    # --- writes: a provider overrides those its capabilities name -----------------------------
    # The service checks `capabilities` before calling; these defaults are never reached then.

    def _unsupported(self, capability: Capability) -> NotSupported:
        return NotSupported(self.name, capability.value.lower().replace("_", " "))

    async def upload_image(
        self, scope: OrgScope, file_name: str, data: bytes, color: SealColor | None
    ) -> UploadedImage:
        raise self._unsupported(Capability.UPLOAD_IMAGE)

    async def create_template_seal(self, scope: OrgScope, spec: TemplateSealSpec) -> str:
        """Creates the seal and answers its vendor id."""
        raise self._unsupported(Capability.CREATE_FROM_TEMPLATE)

    async def create_image_seal(self, scope: OrgScope, spec: ImageSealSpec) -> str:
        raise self._unsupported(Capability.CREATE_FROM_IMAGE)

    async def preview_template_seal(self, scope: OrgScope, spec: TemplateSealSpec) -> UploadedImage:
        raise self._unsupported(Capability.PREVIEW)

    async def preview_image_seal(
        self,
        scope: OrgScope,
        image: UploadedImage,
        color: SealColor | None,
        opacity: float | None,
    ) -> UploadedImage:
        raise self._unsupported(Capability.PREVIEW)

    async def rename_seal(self, scope: OrgScope, seal_id: str, name: str) -> None:
        raise self._unsupported(Capability.RENAME)

    async def set_default_seal(self, scope: OrgScope, seal_id: str) -> None:
        raise self._unsupported(Capability.SET_DEFAULT)

    async def delete_seal(self, scope: OrgScope, seal_id: str) -> DeleteOutcome | None:
        """Deletes the seal; answers what that did, when the vendor says."""
        raise self._unsupported(Capability.DELETE)

    async def enable_seal(self, scope: OrgScope, seal_id: str) -> None:
        raise self._unsupported(Capability.ENABLE)

    async def disable_seal(self, scope: OrgScope, seal_id: str) -> None:
        raise self._unsupported(Capability.DISABLE)

    def check_authorization(self, spec: AuthorizationSpec) -> None:  # noqa: B027 (a hook)
        """Refuses, before any call, what the vendor's authorise call cannot take."""

    def check_period(self, period: AuthorizationPeriod) -> None:  # noqa: B027 (a hook)
        """Refuses, before any call, a period the vendor cannot take."""

    async def authorize(self, scope: OrgScope, spec: AuthorizationSpec) -> AuthorizationGrant:
        raise self._unsupported(Capability.AUTHORIZE)

    async def authorization_sign_url(
        self, scope: OrgScope, authorization: Authorization
    ) -> str | None:
        """The link where the authorisation's letter is signed; None where there is none."""
        return None

    async def revoke_authorization(self, scope: OrgScope, authorization: Authorization) -> None:
        raise self._unsupported(Capability.REVOKE_AUTHORIZATION)

    async def change_authorization_period(
        self, scope: OrgScope, authorization: Authorization, period: AuthorizationPeriod
    ) -> AuthorizationGrant:
        raise self._unsupported(Capability.CHANGE_AUTHORIZATION_PERIOD)

    async def management_url(self, scope: OrgScope) -> str:
        raise self._unsupported(Capability.MANAGEMENT_URL)

    async def aclose(self) -> None:  # noqa: B027 (a hook: providers without a client keep it)
        """Release connections."""

    async def breaker_status(self) -> str:
        """`closed`, `open` or `half-open`: whether the gateway is calling this vendor."""
        return "closed"


def _as_result(result: object) -> Seal | Exception:
    if isinstance(result, Seal | Exception):
        return result
    raise TypeError(f"unexpected result {result!r}")  # a BaseException such as cancellation


async def read_all(
    fetch: Callable[[int, int], Awaitable[Page[T]]], page_size: int, cap: int = MAX_SCAN_ITEMS
) -> list[T]:
    """Every item of a paged list: the first page says the total, the rest come concurrently."""
    first = await fetch(0, page_size)
    total = min(first.total, cap)
    rest = await asyncio.gather(
        *(fetch(offset, page_size) for offset in range(page_size, total, page_size))
    )
    items = list(first.items)
    for page in rest:
        items.extend(page.items)
    return items[:total]


def covering_pages(offset: int, limit: int, max_size: int) -> list[tuple[int, int]]:
    """The pages (1-based number, size) of a page-numbered API holding [offset, offset+limit).

    One page when some page size up to `max_size` holds the whole range, else the two pages of
    size `limit` that straddle it.
    """
    last = offset + limit - 1
    for size in range(limit, max_size + 1):
        if offset // size == last // size:
            return [(offset // size + 1, size)]
    first_page = offset // limit
    return [(first_page + 1, limit), (first_page + 2, limit)]


def slice_pages(
    pages: Sequence[tuple[int, int]], results: Sequence[Sequence[T]], offset: int, limit: int
) -> list[T]:
    """The items [offset, offset+limit) out of the pages `covering_pages` chose."""
    start = (pages[0][0] - 1) * pages[0][1]
    items = [item for result in results for item in result]
    return items[offset - start : offset - start + limit]
