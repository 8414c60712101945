"""云银签 as a SealProvider."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from gateway.domain import (
    DEFAULT_TENANT,
    Authorization,
    AuthorizationGrant,
    AuthorizationSpec,
    BadInput,
    Capability,
    DeleteOutcome,
    ImageSealSpec,
    OrgScope,
    Page,
    ProviderName,
    Rejection,
    Seal,
    SealColor,
    SealFilter,
    TemplateSealSpec,
    TemplateShape,
    UploadedImage,
    WriteRejected,
)
from gateway.providers.base import SealProvider, covering_pages, slice_pages
from gateway.providers.resilience import SharedUpstream
from gateway.providers.yunyin.client import YunyinClient, YunyinSettings
from gateway.providers.yunyin.mapping import (
    CATEGORY_CODES,
    COLOR_CODES,
    FIELDS,
    SHAPE_CODES,
    STATUS_CODES,
    TEMPLATE_OPTIONS,
    TEMPLATE_STYLES,
    authorization_body,
    template_body,
    to_authorization,
    to_seal,
    to_uploaded_image,
)
from gateway.providers.yunyin.wire import (
    AuthorRecord,
    FileInfo,
    Link,
    Listing,
    NewSeal,
    SealRecord,
    Single,
)

T = TypeVar("T")

# The vendor's business codes for refused writes, and the input field each points at.
# Codes not listed become VENDOR_REJECTED, carrying the vendor's code and message.
REJECTIONS: Mapping[str, tuple[Rejection, str | None]] = {
    "SEAL_NAME_EXIST": (Rejection.NAME_TAKEN, "name"),
    "SEAL_NOT_FOUND": (Rejection.SEAL_NOT_FOUND, "sealId"),
    "SEAL_IMAGE_NOT_FOUND": (Rejection.IMAGE_NOT_FOUND, "imagePath"),
    "FILE_UPLOAD_ERROR": (Rejection.INVALID_FILE, "file"),
    "PREVIEW_GEN_ERROR": (Rejection.PREVIEW_FAILED, None),
    "IMAGE_PROCESS_ERROR": (Rejection.IMAGE_PROCESSING_FAILED, "image"),
    "AUTHOR_RULE_CONFLICT": (Rejection.AUTHORIZATION_CONFLICT, "userIds"),
    "SEAL_DELETE_FAILED": (Rejection.CANNOT_DELETE, "sealId"),
    "PERMISSION_DENIED": (Rejection.PERMISSION_DENIED, None),
}


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
    # Every operation but those its page documents no call for.
    unsupported_why = MappingProxyType(
        {
            Capability.ENABLE: "云银签's seal API documents no call to enable a seal.",
            Capability.DISABLE: "云银签's seal API documents no call to disable a seal.",
            Capability.REVOKE_AUTHORIZATION: "云银签's seal API documents no call to revoke an "
            "authorisation (only addSealAuthor and getSealAuthorList).",
            Capability.CHANGE_AUTHORIZATION_PERIOD: "云银签's seal API documents no call to "
            "change an authorisation's period.",
        }
    )
    capabilities = frozenset(Capability) - set(unsupported_why)
    listing_fields = FIELDS
    detail_fields = FIELDS
    # getSealListByPage filters by name (fuzzy), category and status; not by the default flag.
    pushdown = frozenset({"name_contains", "biz_type", "status"})
    max_page_size = 100
    rejections = REJECTIONS
    template_styles = TEMPLATE_STYLES
    template_options = TEMPLATE_OPTIONS

    def __init__(
        self,
        settings: YunyinSettings,
        tenant: str = DEFAULT_TENANT,
        shared: SharedUpstream | None = None,
    ) -> None:
        self.client = YunyinClient(settings, tenant, shared)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def breaker_status(self) -> str:
        return await self.client.upstream.breaker.status()

    async def _paged(
        self,
        path: str,
        operator: str,
        body: dict[str, Any],
        offset: int,
        limit: int,
        model: type[Listing[Any]],
        convert: Callable[[Any], T],
    ) -> Page[T]:
        """Items [offset, offset+limit) of a page-numbered list, in as few calls as possible."""
        pages = covering_pages(offset, limit, self.max_page_size)

        async def fetch(number: int, size: int) -> Listing[Any]:
            return await self.client.call(
                path, operator, {**body, "listPageNo": number, "listPageSize": size}, model
            )

        if len(pages) == 1:  # most pages: no task of its own
            answers = [await fetch(*pages[0])]
        else:
            answers = await asyncio.gather(*(fetch(n, s) for n, s in pages))
        rows = [[convert(row) for row in answer.data or []] for answer in answers]
        return Page(slice_pages(pages, rows, offset, limit), answers[0].totalCount)

    async def list_range(
        self, scope: OrgScope, seal_filter: SealFilter, offset: int, limit: int
    ) -> Page[Seal]:
        body: dict[str, Any] = {}
        if seal_filter.name_contains is not None:
            body["sealName"] = seal_filter.name_contains
        if seal_filter.biz_type is not None:
            body["categoryType"] = CATEGORY_CODES[seal_filter.biz_type]
        if seal_filter.status is not None:
            if seal_filter.status not in STATUS_CODES:
                return Page([], 0)  # a status 云银签 has no code for: none of its seals
            body["sealStatus"] = STATUS_CODES[seal_filter.status]
        return await self._paged(
            "/seal/getSealListByPage",
            scope.account(self.name),
            body,
            offset,
            limit,
            Listing[SealRecord],
            to_seal,
        )

    async def get_seal(self, scope: OrgScope, vendor_id: str) -> Seal:
        answer = await self.client.call(
            "/seal/getSealInfo",
            scope.account(self.name),
            {"sealId": seal_number(vendor_id)},
            Single[SealRecord],
        )
        return to_seal(answer.data)

    # --- writes: refusals stay UpstreamErrors here; the service maps them with `rejections` --

    async def _write(self, path: str, scope: OrgScope, body: dict[str, Any], model: type[T]) -> T:
        return await self.client.call(path, scope.account(self.name), body, model, is_write=True)

    async def upload_image(
        self, scope: OrgScope, file_name: str, data: bytes, color: SealColor | None
    ) -> UploadedImage:
        params = {"color": COLOR_CODES[color]} if color is not None else {}
        answer = await self.client.upload(
            "/seal/uploadSealFile",
            scope.account(self.name),
            (file_name, data, "image/png"),
            params,
            Single[FileInfo],
        )
        return to_uploaded_image(answer.data)

    async def create_template_seal(self, scope: OrgScope, spec: TemplateSealSpec) -> str:
        answer = await self._write(
            "/seal/createSealByTemplate", scope, template_body(spec), Single[NewSeal]
        )
        return str(answer.data.sealId)

    async def create_image_seal(self, scope: OrgScope, spec: ImageSealSpec) -> str:
        shape = spec.shape or TemplateShape.ROUND
        refused = [
            (field, why)
            for field, given, why in (
                ("shape", shape not in SHAPE_CODES, "round or oval only"),
                ("widthMm", spec.width_mm is not None, "no size field"),
                ("heightMm", spec.height_mm is not None, "no size field"),
                ("color", spec.color is not None, "no colour field"),
            )
            if given
        ]
        if refused:
            field, why = refused[0]
            raise WriteRejected(
                Rejection.INVALID_INPUT,
                f"云银签's createSealByImage takes no such `{field}` ({why}).",
                field=field,
                provider=self.name,
            )
        body: dict[str, Any] = {
            "sealName": spec.name,
            "sealStyle": 3,
            "categoryType": CATEGORY_CODES[spec.biz_type],
            "sealTemplateStyle": SHAPE_CODES[shape],
        }
        # The seed page leaves open how the upload is tied to the seal; naming it is harmless
        # where the vendor ties it by session, and exact where it reads the path.
        if spec.image_path:
            body["fileUrl"] = spec.image_path
        answer = await self._write("/seal/createSealByImage", scope, body, Single[NewSeal])
        return str(answer.data.sealId)

    async def preview_template_seal(self, scope: OrgScope, spec: TemplateSealSpec) -> UploadedImage:
        answer = await self._write(
            "/seal/corpPreView", scope, template_body(spec), Single[FileInfo]
        )
        return to_uploaded_image(answer.data)

    async def preview_image_seal(
        self,
        scope: OrgScope,
        image: UploadedImage,
        color: SealColor | None,
        opacity: float | None,
    ) -> UploadedImage:
        body: dict[str, Any] = {"fileName": image.file_name, "httpUrl": image.url}
        if color is not None:
            body["sealColor"] = COLOR_CODES[color]
        if opacity is not None:
            body["sealAlpha"] = opacity
        answer = await self._write("/seal/uploadSealFilePreView", scope, body, Single[FileInfo])
        return to_uploaded_image(answer.data)

    async def rename_seal(self, scope: OrgScope, seal_id: str, name: str) -> None:
        body = {"sealId": seal_number(seal_id), "sealName": name}
        await self._write("/seal/modify", scope, body, dict)

    async def set_default_seal(self, scope: OrgScope, seal_id: str) -> None:
        await self._write("/seal/updDefault", scope, {"sealId": seal_number(seal_id)}, dict)

    async def delete_seal(self, scope: OrgScope, seal_id: str) -> DeleteOutcome:
        """云银签 deletes logically: the seal is gone from every list and call (its page)."""
        await self._write("/seal/delete", scope, {"sealId": seal_number(seal_id)}, dict)
        return DeleteOutcome.DELETED

    def check_authorization(self, spec: AuthorizationSpec) -> None:
        """云银签's user and template ids are numbers (int64)."""
        for field, ids in (
            ("userIds", spec.user_ids),
            ("templates", [t.id for t in spec.templates]),
        ):
            if not all(i.isascii() and i.isdigit() for i in ids):
                raise WriteRejected(
                    Rejection.INVALID_INPUT,
                    f"`{field}` holds 云银签's numeric ids.",
                    field=field,
                    provider=self.name,
                )

    async def authorize(self, scope: OrgScope, spec: AuthorizationSpec) -> AuthorizationGrant:
        """Grants at once; the answer names no ids (the new rules are found by listing)."""
        body = authorization_body(spec, seal_number(spec.seal_id))
        await self._write("/seal/addSealAuthor", scope, body, dict)
        return AuthorizationGrant()

    async def management_url(self, scope: OrgScope) -> str:
        answer = await self._write("/seal/getSealAuthorUrl", scope, {}, Link)
        return answer.data

    async def list_authorizations(
        self, scope: OrgScope, seal_id: str, offset: int, limit: int
    ) -> Page[Authorization]:
        return await self._paged(
            "/seal/getSealAuthorList",
            scope.account(self.name),
            {"sealId": seal_number(seal_id)},
            offset,
            limit,
            Listing[AuthorRecord],
            to_authorization,
        )
