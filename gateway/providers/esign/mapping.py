"""e签宝 v1 list rows and v3 details -> domain Seals (two views of the same seal)."""

from __future__ import annotations

from typing import Any

from gateway.domain import (
    ProviderName,
    Seal,
    SealBizType,
    SealKey,
    SealStatus,
    SealStyle,
    Size,
    SizeUnit,
)
from gateway.providers.mapping import as_int, from_epoch_ms, image_link, non_empty

BIZ_TYPES = {
    "PUBLIC": SealBizType.PUBLIC,
    "CONTRACT": SealBizType.CONTRACT,
    "FINANCE": SealBizType.FINANCE,
    "PERSONNEL": SealBizType.PERSONNEL,
    "LEGAL_PERSON": SealBizType.LEGAL_PERSON,
    "COMMON": SealBizType.OTHER,
}
STATUSES = {
    1: SealStatus.ENABLED,
    2: SealStatus.AWAITING_REVIEW,
    3: SealStatus.REJECTED,
    4: SealStatus.SUSPENDED,
}
# v1 `sealType`: 1 organisation template, 2 personal template, 3 custom image.
V1_STYLES = {1: SealStyle.TEMPLATE, 2: SealStyle.TEMPLATE, 3: SealStyle.IMAGE}
# v3 `sealStyle`: 1 organisation template, 3 uploaded image.
V3_STYLES = {1: SealStyle.TEMPLATE, 3: SealStyle.IMAGE}

V1_URL_VALID_S = 3600.0
V3_URL_VALID_S = 3600.0

LISTING_FIELDS = frozenset(
    {"name", "biz_type", "status", "style", "is_default", "image_size", "image", "created_at"}
)
DETAIL_FIELDS = frozenset(
    {
        "name",
        "biz_type",
        "biz_type_label",
        "status",
        "status_label",
        "reject_reason",
        "style",
        "is_default",
        "physical_size",
        "watermarked_image",
        "created_at",
    }
)


def _present(row: dict[str, Any], mapping: dict[str, tuple[str, object]]) -> dict[str, object]:
    """The attributes whose wire field the row actually carried."""
    return {attr: value for attr, (wire, value) in mapping.items() if row.get(wire) is not None}


def from_v1(row: dict[str, Any]) -> Seal:
    """A v1 list row. Attributes the row lacks (v1 `alias` is often null) stay unknown, so the
    schema completes them from v3 when they are asked for."""
    width, height = as_int(row.get("width")), as_int(row.get("height"))
    values = _present(
        row,
        {
            "name": ("alias", non_empty(row.get("alias"))),
            "biz_type": ("sealBizType", BIZ_TYPES.get(str(row.get("sealBizType")))),
            "status": ("status", STATUSES.get(as_int(row.get("status")) or 0)),
            "style": ("sealType", V1_STYLES.get(as_int(row.get("sealType")) or 0)),
            "is_default": ("defaultFlag", bool(row.get("defaultFlag"))),
            "image": ("url", image_link(row.get("url"), V1_URL_VALID_S)),
            "created_at": ("createDate", from_epoch_ms(row.get("createDate"))),
        },
    )
    if values.get("name") is None:
        values.pop("name", None)
    if width is not None and height is not None:
        values["image_size"] = Size(width, height, SizeUnit.PIXEL)
    return Seal(
        key=SealKey(ProviderName.ESIGN, str(row.get("sealId"))),
        known=frozenset(values),
        **values,  # type: ignore[arg-type]
    )


def from_v3(data: dict[str, Any]) -> Seal:
    width, height = as_int(data.get("sealWidth")), as_int(data.get("sealHeight"))
    status = as_int(data.get("sealStatus"))
    return Seal(
        key=SealKey(ProviderName.ESIGN, str(data.get("sealId"))),
        known=DETAIL_FIELDS,
        name=non_empty(data.get("sealName")),
        biz_type=BIZ_TYPES.get(str(data.get("sealBizType"))),
        biz_type_label=non_empty(data.get("sealBizTypeDescription")),
        status=STATUSES.get(status or 0),
        status_label=non_empty(data.get("statusDescription")),
        reject_reason=non_empty(data.get("rejectReason")),
        style=V3_STYLES.get(as_int(data.get("sealStyle")) or 0),
        is_default=bool(data.get("defaultSealFlag")),
        physical_size=(
            Size(width, height, SizeUnit.MILLIMETRE)
            if width is not None and height is not None
            else None
        ),
        watermarked_image=image_link(
            data.get("sealImageDownloadUrl"), V3_URL_VALID_S, watermarked=True
        ),
        created_at=from_epoch_ms(data.get("sealCreateTime")),
    )
