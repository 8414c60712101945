"""云银签 seal and authorisation records -> domain objects."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from gateway.domain import (
    SEAL_FIELDS,
    Authorization,
    AuthorizationRole,
    AuthorizationScope,
    AuthorizationSpec,
    ProviderName,
    Seal,
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
    UploadedImage,
)
from gateway.providers.mapping import as_int, from_iso, image_link, non_empty

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
FIELDS = SEAL_FIELDS - {
    "biz_type_label",
    "status_label",
    "reject_reason",
    "physical_size",
    "watermarked_image",
}


def to_seal(row: dict[str, Any]) -> Seal:
    width, height = as_int(row.get("sealWidth")), as_int(row.get("sealHeight"))
    default = as_int(row.get("defaultFlag"))
    return Seal(
        key=SealKey(ProviderName.YUNYIN, str(row.get("sealId"))),
        known=FIELDS,
        name=non_empty(row.get("sealName")),
        biz_type=CATEGORIES.get(str(row.get("categoryType"))),
        status=STATUSES.get(as_int(row.get("status")) or 0),
        style=STYLES.get(as_int(row.get("sealStyle")) or 0),
        is_default=None if default is None else default == 1,
        image_size=(
            Size(width, height, SizeUnit.PIXEL)
            if width is not None and height is not None
            else None
        ),
        # No documented expiry: one is read from the URL when it carries `Expires`.
        image=image_link(row.get("sealImageUrl"), None),
        created_at=from_iso(row.get("createTime")),
        code=non_empty(row.get("sealCode")),
        horizontal_text=non_empty(row.get("sealHorizontalText")),
        bottom_text=non_empty(row.get("sealBottomText")),
        owner_name=non_empty(row.get("corpName")),
        origin=non_empty(row.get("source")),
        authorization_count=as_int(row.get("authorNum")),
    )


COLOR_CODES = {
    SealColor.RED: "Red",
    SealColor.BLUE: "Blue",
    SealColor.BLACK: "Black",
    SealColor.PURPLE: "Purple",
}
SHAPE_CODES = {TemplateShape.ROUND: "round", TemplateShape.OVAL: "oval"}
VENDOR_OFFSET = timezone(timedelta(hours=8))


def to_vendor_time(value: datetime) -> str:
    """The vendor's time format: ISO-8601 with milliseconds and a +0800 offset."""
    local = value.astimezone(VENDOR_OFFSET)
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{local.microsecond // 1000:03d}+0800"


def to_uploaded_image(data: dict[str, Any]) -> UploadedImage:
    return UploadedImage(
        file_name=str(data.get("fileName") or ""),
        storage_path=str(data.get("fileUrl") or ""),
        url=str(data.get("httpUrl") or ""),
        page_count=as_int(data.get("totalPage")),
        width=as_int(data.get("width")),
        height=as_int(data.get("height")),
    )


def template_body(spec: TemplateSealSpec) -> dict[str, Any]:
    """The body of createSealByTemplate and corpPreView."""
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


def _templates(raw: object, names: object) -> tuple[TemplateRef, ...]:
    """`templates` is a JSON string of ids; `templateName` the names, comma-separated."""
    if not isinstance(raw, str) or not raw:
        return ()
    try:
        items = json.loads(raw)
    except ValueError:
        return ()
    name_list = names.split(",") if isinstance(names, str) and names else []
    refs = []
    for index, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict) or item.get("templateId") is None:
            continue
        name = item.get("templateName") or (name_list[index] if index < len(name_list) else None)
        refs.append(TemplateRef(str(item["templateId"]), name))
    return tuple(refs)


def to_authorization(row: dict[str, Any]) -> Authorization:
    auto_sign, notify = as_int(row.get("autoSign")), as_int(row.get("examinerNotify"))
    scope = as_int(row.get("authorRange"))
    return Authorization(
        provider=ProviderName.YUNYIN,
        vendor_id=str(row.get("id")),
        seal_id=str(row.get("sealId")),
        user_id=str(row.get("userId")),
        user_name=non_empty(row.get("userName")),
        role=ROLES.get(str(row.get("authorRole"))),
        scope=None if scope is None else SCOPES.get(scope),
        templates=_templates(row.get("templates"), row.get("templateName")),
        effective_at=from_iso(row.get("effectiveTime")),
        expires_at=from_iso(row.get("expireTime")),
        created_at=from_iso(row.get("createTime")),
        auto_sign=None if auto_sign is None else auto_sign == 1,
        examiner_notified=None if notify is None else notify == 1,
        status=as_int(row.get("status")),
    )
