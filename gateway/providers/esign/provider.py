"""e签宝 as a SealProvider: v1 lists, v3 details, fused by seal id; the writes the vendor
documents for organisation seals (docs/vendors.md has each endpoint and its page)."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable, Sequence
from types import MappingProxyType
from typing import TypeVar

from gateway.domain import (
    DEFAULT_TENANT,
    Authorization,
    AuthorizationGrant,
    AuthorizationPeriod,
    AuthorizationSpec,
    Capability,
    DeleteOutcome,
    ErrorCode,
    ImageSealSpec,
    OrgScope,
    Page,
    ProviderName,
    Rejection,
    Seal,
    SealColor,
    SealFilter,
    SealStatus,
    SealStyle,
    TemplateSealSpec,
    UploadedImage,
    UpstreamError,
    WriteRejected,
)
from gateway.providers.base import SealProvider, covering_pages, read_all, slice_pages
from gateway.providers.esign import signing
from gateway.providers.esign.client import EsignClient, EsignSettings
from gateway.providers.esign.mapping import (
    DETAIL_FIELDS,
    LISTING_FIELDS,
    SUMMARY_FIELDS,
    TEMPLATE_OPTIONS,
    TEMPLATE_STYLES,
    authorization_body,
    check_authorization,
    from_internal_auth,
    from_v1,
    from_v3,
    from_v3_list,
    image_body,
    period_fields,
    template_body,
    upload_name,
)
from gateway.providers.resilience import SharedUpstream

# The vendor's refusal codes for organisation-seal writes (UPSTREAMS.md; the v3 code table).
REJECTIONS = MappingProxyType(
    {
        "31400133": (Rejection.NAME_TAKEN, "name"),
        "31400100": (Rejection.SEAL_NOT_FOUND, "sealId"),
        "31400109": (Rejection.SEAL_NOT_FOUND, "sealId"),
        "1499000": (Rejection.PERMISSION_DENIED, None),
        # v1 delete of the default seal (参数错误:1460013)
        "60000": (Rejection.CANNOT_DELETE, "sealId"),
    }
)
# `DELETE /v3/seals/org-seal`'s `data.sealStatus` (seal3/qdfvs6).
DELETE_OUTCOMES = MappingProxyType(
    {"delete": DeleteOutcome.DELETED, "revoke": DeleteOutcome.REVOKED}
)
NEEDS_TRANSACTOR = (
    "the call needs an e签宝 member with seal-management rights (SEALGW_ESIGN_TRANSACTOR_ID), "
    "and none is configured."
)
# The v3 lists serve at most 20 a page.
V3_PAGE = 20
T = TypeVar("T")


async def v3_range(
    fetch: Callable[[int], Awaitable[tuple[list[T], int]]], offset: int, limit: int
) -> Page[T]:
    """Items [offset, offset+limit) of a v3 list served 20 a page (`fetch` reads page n and
    the total): the first page says the total, so no page past the end is asked for."""
    first_number = offset // V3_PAGE + 1
    items, total = await fetch(first_number)
    end = min(offset + limit, total)
    rest = await asyncio.gather(
        *(fetch(n) for n in range(first_number + 1, (end - 1) // V3_PAGE + 2))
    )
    items = [*items, *(item for more, _ in rest for item in more)]
    start = offset - (first_number - 1) * V3_PAGE
    return Page(items[start : start + limit], total)


class EsignProvider(SealProvider):
    """v1 filters nothing itself. Writes: template and image seals (the two-step upload),
    enable, delete (or revoke), set default, revoking authorisations; and where a transactor is
    configured, the management page, authorising members and changing a period (see
    `supportedOperations`)."""

    name = ProviderName.ESIGN
    listing_fields = LISTING_FIELDS
    detail_fields = DETAIL_FIELDS
    summary_fields = SUMMARY_FIELDS
    max_page_size = 100
    rejections = REJECTIONS
    template_styles = TEMPLATE_STYLES
    template_options = TEMPLATE_OPTIONS
    unsupported_why = MappingProxyType(
        {
            Capability.RENAME: "e签宝 documents no rename of an organisation seal.",
            Capability.PREVIEW: "e签宝 documents no preview of a seal.",
            Capability.DISABLE: "no e签宝 page the gateway follows confirms a disable-seal call.",
            Capability.MANAGEMENT_URL: NEEDS_TRANSACTOR,
            Capability.AUTHORIZE: NEEDS_TRANSACTOR,
            Capability.CHANGE_AUTHORIZATION_PERIOD: NEEDS_TRANSACTOR,
        }
    )

    def __init__(
        self,
        settings: EsignSettings,
        tenant: str = DEFAULT_TENANT,
        shared: SharedUpstream | None = None,
    ) -> None:
        self.client = EsignClient(settings, tenant, shared)
        self._transactor = settings.transactor_psn_id
        capabilities = {
            Capability.UPLOAD_IMAGE,
            Capability.CREATE_FROM_IMAGE,
            Capability.CREATE_FROM_TEMPLATE,
            Capability.DELETE,
            Capability.SET_DEFAULT,
            Capability.LIST_AUTHORIZATIONS,
            Capability.ENABLE,
            Capability.REVOKE_AUTHORIZATION,
        }
        if self._transactor:
            # the calls that need a transactor (`transactorPsnId`)
            capabilities |= {
                Capability.MANAGEMENT_URL,
                Capability.AUTHORIZE,
                Capability.CHANGE_AUTHORIZATION_PERIOD,
            }
        self.capabilities = frozenset(capabilities)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def breaker_status(self) -> str:
        return await self.client.upstream.breaker.status()

    async def list_range(
        self, scope: OrgScope, seal_filter: SealFilter, offset: int, limit: int
    ) -> Page[Seal]:
        """The v1 list; with revoked seals asked for, the v3 list, the only one documented to
        show them (`revocationSeal`)."""
        if seal_filter.include_revoked:
            return await self._v3_range(scope.account(self.name), offset, limit)
        page = await self.client.list_org_seals(scope.account(self.name), offset, limit)
        return Page([from_v1(row) for row in page.seals or []], page.total)

    async def _v3_range(self, org: str, offset: int, limit: int) -> Page[Seal]:
        async def page(number: int) -> tuple[list[Seal], int]:
            answer = await self.client.own_seal_list(org, number, V3_PAGE, revoked=True)
            return [from_v3_list(row) for row in answer.seals or []], answer.total

        return await v3_range(page, offset, limit)

    async def get_seal(self, scope: OrgScope, vendor_id: str) -> Seal:
        return from_v3(await self.client.org_seal_info(scope.account(self.name), vendor_id))

    async def get_summaries(
        self, scope: OrgScope, vendor_ids: Sequence[str]
    ) -> list[Seal | Exception]:
        """Business type, status and the like for several seals: the v3 list carries them 20
        a seal a page, so it is read when that costs fewer calls than a v3 detail per seal."""
        if len(vendor_ids) < 2:
            return await self.get_seals(scope, vendor_ids)
        org = scope.account(self.name)
        first = await self.client.own_seal_list(org, 1, V3_PAGE)
        rows = list(first.seals or [])
        pages_left = -(-first.total // V3_PAGE) - 1
        found = {row.sealId for row in rows}
        missing = [v for v in vendor_ids if v not in found]
        if missing and pages_left < len(missing):
            rest = await asyncio.gather(
                *(self.client.own_seal_list(org, n, V3_PAGE) for n in range(2, pages_left + 2))
            )
            rows.extend(row for page in rest for row in page.seals or [])
        by_id = {row.sealId: from_v3_list(row) for row in rows}
        still = [v for v in vendor_ids if v not in by_id]
        details = dict(zip(still, await self.get_seals(scope, still), strict=True))
        return [by_id.get(v) or details[v] for v in vendor_ids]

    async def _whole_list(self, scope: OrgScope) -> list[Seal]:
        return await read_all(
            lambda offset, limit: self.list_range(scope, SealFilter(), offset, limit),
            self.max_page_size,
        )

    async def find_listed(
        self, scope: OrgScope, vendor_ids: Sequence[str]
    ) -> list[Seal | Exception]:
        """v1 has no lookup by id: read the organisation's list once and pick the seals out."""
        by_id = {seal.key.vendor_id: seal for seal in await self._whole_list(scope)}
        return [
            by_id.get(vendor_id)
            or UpstreamError(
                self.name,
                "The seal is not in the organisation's e签宝 seal list.",
                code=ErrorCode.NOT_FOUND,
            )
            for vendor_id in vendor_ids
        ]

    # --- writes ------------------------------------------------------------------------------

    async def upload_image(
        self, scope: OrgScope, file_name: str, data: bytes, color: SealColor | None
    ) -> UploadedImage:
        """The two steps of e签宝's upload (seal3/gd1tsb): file-key answers the image's key and
        a pre-signed address, the bytes are PUT there with the same Content-MD5. The key is
        what createImageSeal takes; e签宝 gives no link to download the upload."""
        if color is not None:
            raise WriteRejected(
                Rejection.INVALID_INPUT,
                "e签宝 colours an image seal when it is made (createImageSeal `color`), not its "
                "upload.",
                field="color",
                provider=self.name,
            )
        name = upload_name(file_name)
        content_md5 = signing.content_md5(data)
        key = await self.client.file_key(name, len(data), content_md5)
        await self.client.put_file(key.fileUploadUrl, data, content_md5)
        width, height = struct.unpack(">II", data[16:24])  # a PNG, checked above this layer
        return UploadedImage(name, key.fileKey, None, None, width, height)

    async def create_image_seal(self, scope: OrgScope, spec: ImageSealSpec) -> str:
        created = await self.client.create_by_image(image_body(scope.account(self.name), spec))
        return created.sealId or await self._named(scope, spec.name)

    async def create_template_seal(self, scope: OrgScope, spec: TemplateSealSpec) -> str:
        created = await self.client.create_by_template(
            template_body(scope.account(self.name), spec)
        )
        return created.sealId or await self._named(scope, spec.name)

    async def _named(self, scope: OrgScope, name: str) -> str:
        """The seal bearing a name (unique in the organisation): a new seal, where the
        vendor's answer did not give its id."""
        for seal in await self._whole_list(scope):
            if seal.name == name:
                return seal.key.vendor_id
        raise UpstreamError(
            self.name, "e签宝 created the seal, but it is not in the organisation's seal list."
        )

    async def delete_seal(self, scope: OrgScope, seal_id: str) -> DeleteOutcome | None:
        """The vendor documents that the default seal and image seals under review cannot be
        deleted, but no code for those refusals: they are checked here, before sending. It
        answers whether the seal was deleted or, having been used, revoked."""
        seal = await self.get_seal(scope, seal_id)
        if seal.is_default:
            raise WriteRejected(
                Rejection.CANNOT_DELETE,
                "The organisation's default seal cannot be deleted; make another the default.",
                field="sealId",
                provider=self.name,
            )
        if seal.style == SealStyle.IMAGE and seal.status == SealStatus.AWAITING_REVIEW:
            raise WriteRejected(
                Rejection.CANNOT_DELETE,
                "An image seal under review cannot be deleted.",
                field="sealId",
                provider=self.name,
            )
        deleted = await self.client.delete_org_seal(scope.account(self.name), seal_id)
        return DELETE_OUTCOMES.get(deleted.sealStatus or "")

    async def enable_seal(self, scope: OrgScope, seal_id: str) -> None:
        """Enables a disabled seal (seal3/eyggvgw6g59wlg4k). Review, not this call, enables an
        image seal awaiting it or rejected by it: those are refused here, before sending."""
        seal = await self.get_seal(scope, seal_id)
        if seal.status in (SealStatus.AWAITING_REVIEW, SealStatus.REJECTED):
            raise WriteRejected(
                Rejection.INVALID_INPUT,
                "The seal is awaiting review or was rejected by it: review enables a seal, "
                "not this call.",
                field="sealId",
                provider=self.name,
            )
        await self.client.enable_seal(scope.account(self.name), seal_id)

    async def set_default_seal(self, scope: OrgScope, seal_id: str) -> None:
        await self.client.set_default(scope.account(self.name), seal_id)

    async def management_url(self, scope: OrgScope) -> str:
        transactor = self._transactor or ""
        return await self.client.manage_url(scope.account(self.name), transactor)

    async def list_authorizations(
        self, scope: OrgScope, seal_id: str, offset: int, limit: int
    ) -> Page[Authorization]:
        """A range of the seal's authorisations: the pages of at most 20 that hold it (one
        where it fits one, else pages of 20 from the first the total says exist)."""
        org = scope.account(self.name)
        if limit <= V3_PAGE:
            pages = covering_pages(offset, limit, V3_PAGE)
            answers = await asyncio.gather(
                *(self.client.internal_auths(org, seal_id, n, size) for n, size in pages)
            )
            rows = [[from_internal_auth(r) for r in a.sealAuthorizedInfos or []] for a in answers]
            return Page(slice_pages(pages, rows, offset, limit), answers[0].total)

        async def page(number: int) -> tuple[list[Authorization], int]:
            answer = await self.client.internal_auths(org, seal_id, number, V3_PAGE)
            return [from_internal_auth(r) for r in answer.sealAuthorizedInfos or []], answer.total

        return await v3_range(page, offset, limit)

    # --- authorisations: pending until an administrator signs the letter -----------------------

    def check_authorization(self, spec: AuthorizationSpec) -> None:
        check_authorization(spec)

    def check_period(self, period: AuthorizationPeriod) -> None:
        period_fields(period)

    async def authorize(self, scope: OrgScope, spec: AuthorizationSpec) -> AuthorizationGrant:
        """Authorises members; the grant is pending until the letter (its link answered) is
        signed."""
        org = scope.account(self.name)
        answer = await self.client.authorize(authorization_body(org, self._transactor or "", spec))
        ids = answer.sealAuthBizIds or [
            info.sealAuthBizId for info in answer.sealAuthBizInfos or [] if info.sealAuthBizId
        ]
        return AuthorizationGrant(tuple(ids) or None, answer.authorizationSignUrl)

    async def authorization_sign_url(
        self, scope: OrgScope, authorization: Authorization
    ) -> str | None:
        answer = await self.client.sign_url(scope.account(self.name), authorization.vendor_id)
        return answer.authorizationSignUrl or answer.authorizationSignShortUrl

    async def revoke_authorization(self, scope: OrgScope, authorization: Authorization) -> None:
        await self.client.delete_auths(scope.account(self.name), [authorization.vendor_id])

    async def change_authorization_period(
        self, scope: OrgScope, authorization: Authorization, period: AuthorizationPeriod
    ) -> AuthorizationGrant:
        """A new period: e签宝 answers a new authorisation id (the old one lapses) and a new
        letter to sign."""
        body = {
            "orgId": scope.account(self.name),
            "transactorPsnId": self._transactor or "",
            "sealAuthBizId": authorization.vendor_id,
            **period_fields(period),
        }
        answer = await self.client.reauthorize(body)
        return AuthorizationGrant((answer.newSealAuthBizId,), answer.authorizationSignUrl)
