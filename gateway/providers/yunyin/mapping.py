"""云银签 seal and authorisation records -> domain objects."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from gateway.domain import (
    SEAL_ATTRS,
    Authorization,
    AuthorizationRole,
    AuthorizationScope,
    AuthorizationSpec,
    MalformedAnswer,
    ProviderName,
    Rejection,
    Seal,
    SealAttr,
    SealBizType,
    SealColor,
    SealKey,
    SealStatus,
    SealStyle,
    Size,
    SizeUnit,
    TemplateRef,
    TemplateSealSpec,
    TemplateShape,
    TemplateStyle,
    UploadedImage,
    WriteRejected,
)
from gateway.providers.mapping import from_iso, image_link, non_empty
from gateway.providers.yunyin.wire import AuthorRecord, FileInfo, SealRecord

PROVIDER = ProviderName.YUNYIN
# The vendor's times carry +0800; one without an offset is read in that zone.
VENDOR_OFFSET = timezone(timedelta(hours=8))

CATEGORIES = {
    "PUBLIC": SealBizType.PUBLIC,
    "CONTRACT": SealBizType.CONTRACT,
    "FINANCE": SealBizType.FINANCE,
    "HR": SealBizType.PERSONNEL,
    "LEGAL_PERSON": SealBizType.LEGAL_PERSON,
    "OTHER": SealBizType.OTHER,
}
CATEGORY_CODES = {value: key for key, value in CATEGORIES.items()}
STATUSES = {
    1: SealStatus.ENABLED,
    2: SealStatus.AWAITING_REVIEW,
    3: SealStatus.REJECTED,
    4: SealStatus.SUSPENDED,
}
STATUS_CODES = {value: key for key, value in STATUSES.items()}
STYLES = {1: SealStyle.TEMPLATE, 3: SealStyle.IMAGE}
ROLES = {"SEAL_USER": AuthorizationRole.USER, "SEAL_EXAMINER": AuthorizationRole.EXAMINER}
ROLE_CODES = {value: key for key, value in ROLES.items()}
SCOPES = {0: AuthorizationScope.ALL_CONTRACTS, 1: AuthorizationScope.LISTED_TEMPLATES}
SCOPE_CODES = {value: key for key, value in SCOPES.items()}

# Every attribute 云银签 has; its list rows and its detail carry the same record.
FIELDS = SEAL_ATTRS - {
    SealAttr.BIZ_TYPE_LABEL,
    SealAttr.STATUS_LABEL,
    SealAttr.REJECT_REASON,
    SealAttr.PHYSICAL_SIZE,
    SealAttr.WATERMARKED_IMAGE,
    SealAttr.IS_CANCELLATION,
}


def _time(field: str, value: str | None) -> datetime | None:
    return from_iso(PROVIDER, field, value, VENDOR_OFFSET)


def to_seal(row: SealRecord) -> Seal:
    width, height = row.sealWidth, row.sealHeight
    # `x or None` is `non_empty(x)` inline: a page maps many rows.
    return Seal(
        key=SealKey(PROVIDER, str(row.sealId)),
        known=FIELDS,
        name=row.sealName or None,
        biz_type=CATEGORIES.get(row.categoryType or ""),
        status=STATUSES.get(row.status or 0),
        style=STYLES.get(row.sealStyle or 0),
        is_default=None if row.defaultFlag is None else row.defaultFlag == 1,
        image_size=(
            Size(width, height, SizeUnit.PIXEL)
            if width is not None and height is not None
            else None
        ),
        # No documented expiry: one is read from the URL when it carries `Expires`.
        image=image_link(row.sealImageUrl, None),
        created_at=from_iso(PROVIDER, "createTime", row.createTime, VENDOR_OFFSET),
        code=row.sealCode or None,
        horizontal_text=row.sealHorizontalText or None,
        bottom_text=row.sealBottomText or None,
        owner_name=row.corpName or None,
        origin=row.source or None,
        authorization_count=row.authorNum,
    )


COLOR_CODES = {
    SealColor.RED: "Red",
    SealColor.BLUE: "Blue",
    SealColor.BLACK: "Black",
    SealColor.PURPLE: "Purple",
}
SHAPE_CODES = {TemplateShape.ROUND: "round", TemplateShape.OVAL: "oval"}
# createSealByTemplate: any category, round or oval (its page names no star or size).
TEMPLATE_STYLES = tuple(
    TemplateStyle(biz_type, shape, None, code)
    for biz_type in CATEGORY_CODES
    for shape, code in SHAPE_CODES.items()
)
TEMPLATE_OPTIONS = frozenset({"color", "opacity", "horizontalText", "bottomText"})


def to_vendor_time(value: datetime) -> str:
    """The vendor's time format: ISO-8601 with milliseconds and a +0800 offset."""
    local = value.astimezone(VENDOR_OFFSET)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}+0800"


def to_uploaded_image(data: FileInfo) -> UploadedImage:
    return UploadedImage(
        file_name=data.fileName or "",
        storage_path=data.fileUrl or "",
        url=data.httpUrl or "",
        page_count=data.totalPage,
        width=data.width,
        height=data.height,
    )


def template_body(spec: TemplateSealSpec) -> dict[str, Any]:
    """The body of createSealByTemplate and corpPreView; what its page has no field for is
    refused, never dropped."""
    if spec.shape not in SHAPE_CODES:
        raise WriteRejected(
            Rejection.INVALID_INPUT,
            f"云银签 draws round or oval template seals only, not {spec.shape.value}.",
            field="shape",
            provider=PROVIDER,
        )
    for field, given in (
        ("star", spec.star is not None),
        ("surroundText", bool(spec.surround_text)),
        ("aged", spec.aged or spec.aged_variant is not None),
        ("widthMm", spec.width_mm is not None),
    ):
        if given:
            raise WriteRejected(
                Rejection.INVALID_INPUT,
                f"云银签's template seals have no `{field}` option.",
                field=field,
                provider=PROVIDER,
            )
    body: dict[str, Any] = {
        "sealName": spec.name,
        "sealStyle": 1,
        "categoryType": CATEGORY_CODES[spec.biz_type],
        "sealTemplateStyle": SHAPE_CODES[spec.shape],
        "sealColor": COLOR_CODES[spec.color],
    }
    if spec.horizontal_text:
        body["sealHorizontalText"] = spec.horizontal_text
    if spec.bottom_text:
        body["sealBottomText"] = spec.bottom_text
    if spec.opacity is not None:
        body["sealAlpha"] = spec.opacity
    return body


def authorization_body(spec: AuthorizationSpec, seal_number: int) -> dict[str, Any]:
    """The body of addSealAuthor: listed members only (the vendor supports no other range)."""
    body: dict[str, Any] = {
        "sealId": seal_number,
        "authorMemberRange": 1,
        "userIdList": [{"userId": int(user)} for user in spec.user_ids],
        "authorRole": ROLE_CODES[spec.role],
        "authorRange": SCOPE_CODES[spec.scope],
    }
    if spec.templates:
        body["templatesList"] = [
            {"templateId": int(t.id), "templateName": t.name or ""} for t in spec.templates
        ]
    if spec.effective_at is not None:
        body["effectiveTime"] = to_vendor_time(spec.effective_at)
    if spec.expires_at is not None:
        body["expireTime"] = to_vendor_time(spec.expires_at)
    return body


def _templates(raw: str | None, names: str | None) -> tuple[TemplateRef, ...]:
    """`templates` is a JSON string of `{templateId}` objects; `templateName` the names,
    comma-separated. A `templates` that is not such JSON is a malformed answer."""
    if not raw:
        return ()
    try:
        items: Any = json.loads(raw)
    except ValueError:
        items = None
    if not isinstance(items, list) or not all(
        isinstance(item, dict) and item.get("templateId") is not None for item in items
    ):
        raise MalformedAnswer(PROVIDER, "templates", "not a JSON list of templateId objects")
    name_list = names.split(",") if names else []
    return tuple(
        TemplateRef(
            str(item["templateId"]),
            item.get("templateName") or (name_list[index] if index < len(name_list) else None),
        )
        for index, item in enumerate(items)
    )


def to_authorization(row: AuthorRecord) -> Authorization:
    return Authorization(
        provider=PROVIDER,
        vendor_id=str(row.id),
        seal_id=str(row.sealId),
        user_id=str(row.userId),
        user_name=non_empty(row.userName),
        role=ROLES.get(row.authorRole or ""),
        scope=None if row.authorRange is None else SCOPES.get(row.authorRange),
        templates=_templates(row.templates, row.templateName),
        effective_at=_time("effectiveTime", row.effectiveTime),
        expires_at=_time("expireTime", row.expireTime),
        created_at=_time("createTime", row.createTime),
        auto_sign=None if row.autoSign is None else row.autoSign == 1,
        examiner_notified=None if row.examinerNotify is None else row.examinerNotify == 1,
        vendor_status=row.status,
        # its page leaves `status`'s values unconfirmed: not read as in force or not
        status=None,
        long_term=None if row.effectiveTime is None else row.expireTime is None,
    )
