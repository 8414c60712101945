"""云银签 as a SealProvider."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from gateway.domain import (
    Authorization,
    AuthorizationSpec,
    BadInput,
    Capability,
    ErrorCode,
    ImageSealSpec,
    OrgScope,
    Page,
    ProviderName,
    Rejection,
    Seal,
    SealColor,
    SealFilter,
    TemplateSealSpec,
    UploadedImage,
    UpstreamError,
    WriteRejected,
)
from gateway.providers.base import SealProvider, covering_pages, slice_pages
from gateway.providers.yunyin.client import YunyinClient, YunyinSettings
from gateway.providers.yunyin.mapping import (
    CATEGORY_CODES,
    COLOR_CODES,
    FIELDS,
    SHAPE_CODES,
    STATUS_CODES,
    authorization_body,
    template_body,
    to_authorization,
    to_seal,
    to_uploaded_image,
)

T = TypeVar("T")

# The vendor's business codes for refused writes, and the input field each points at.
# Codes not listed become VENDOR_REJECTED, carrying the vendor's code and message.
REJECTIONS: dict[str, tuple[Rejection, str | None]] = {
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

    # --- writes ------------------------------------------------------------------------------

    async def _write(self, path: str, scope: OrgScope, body: dict[str, Any]) -> dict[str, Any]:
        """A write call. A business refusal becomes WriteRejected; outages and credential
        problems stay UpstreamErrors. Nothing here retries a write that may have arrived."""
        try:
            return await self.client.call(path, scope.account(self.name), body, is_write=True)
        except UpstreamError as error:
            raise self._rejection(error) from None

    def _rejection(self, error: UpstreamError) -> Exception:
        code = error.vendor_code or ""
        if code in REJECTIONS:
            reason, field = REJECTIONS[code]
            return WriteRejected(
                reason, error.message, field=field, provider=self.name, vendor_code=code
            )
        if error.code == ErrorCode.UPSTREAM_ERROR and code and not code.startswith("HTTP_"):
            return WriteRejected(
                Rejection.VENDOR_REJECTED,
                f"云银签 refused the request: {error.message}",
                provider=self.name,
                vendor_code=code,
            )
        if error.write_may_have_happened is None:
            # it failed before the write was sent (fetching a token)
            error.write_may_have_happened = False
        return error

    async def upload_image(
        self, scope: OrgScope, file_name: str, data: bytes, color: SealColor | None
    ) -> UploadedImage:
        params = {"color": COLOR_CODES[color]} if color is not None else {}
        try:
            answer = await self.client.upload(
                "/seal/uploadSealFile",
                scope.account(self.name),
                (file_name, data, "image/png"),
                params,
            )
        except UpstreamError as error:
            raise self._rejection(error) from None
        return to_uploaded_image(answer.get("data") or {})

    async def create_template_seal(self, scope: OrgScope, spec: TemplateSealSpec) -> str:
        answer = await self._write("/seal/createSealByTemplate", scope, template_body(spec))
        return str((answer.get("data") or {}).get("sealId"))

    async def create_image_seal(self, scope: OrgScope, spec: ImageSealSpec) -> str:
        body: dict[str, Any] = {
            "sealName": spec.name,
            "sealStyle": 3,
            "categoryType": CATEGORY_CODES[spec.biz_type],
            "sealTemplateStyle": SHAPE_CODES[spec.shape],
        }
        # The seed page leaves open how the upload is tied to the seal; naming it is harmless
        # where the vendor ties it by session, and exact where it reads the path.
        if spec.image_path:
            body["fileUrl"] = spec.image_path
        answer = await self._write("/seal/createSealByImage", scope, body)
        return str((answer.get("data") or {}).get("sealId"))

    async def preview_template_seal(self, scope: OrgScope, spec: TemplateSealSpec) -> UploadedImage:
        answer = await self._write("/seal/corpPreView", scope, template_body(spec))
        return to_uploaded_image(answer.get("data") or {})

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
        answer = await self._write("/seal/uploadSealFilePreView", scope, body)
        return to_uploaded_image(answer.get("data") or {})

    async def rename_seal(self, scope: OrgScope, seal_id: str, name: str) -> None:
        await self._write("/seal/modify", scope, {"sealId": seal_number(seal_id), "sealName": name})

    async def set_default_seal(self, scope: OrgScope, seal_id: str) -> None:
        await self._write("/seal/updDefault", scope, {"sealId": seal_number(seal_id)})

    async def delete_seal(self, scope: OrgScope, seal_id: str) -> None:
        await self._write("/seal/delete", scope, {"sealId": seal_number(seal_id)})

    async def authorize(self, scope: OrgScope, spec: AuthorizationSpec) -> None:
        body = authorization_body(spec, seal_number(spec.seal_id))
        await self._write("/seal/addSealAuthor", scope, body)

    async def management_url(self, scope: OrgScope) -> str:
        answer = await self._write("/seal/getSealAuthorUrl", scope, {})
        url = answer.get("data")
        if not isinstance(url, str) or not url:
            raise UpstreamError(self.name, "云银签 returned no management page link.")
        return url

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
