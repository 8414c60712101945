"""e签宝 v1 list rows and v3 details -> domain Seals (two views of the same seal)."""

from __future__ import annotations

from gateway.domain import (
    Authorization,
    AuthorizationRole,
    ProviderName,
    Rejection,
    Seal,
    SealAttr,
    SealBizType,
    SealKey,
    SealStatus,
    SealStyle,
    Size,
    SizeUnit,
    TemplateSealSpec,
    TemplateShape,
    WriteRejected,
)
from gateway.providers.esign.wire import InternalAuth, V1Seal, V3ListedSeal, V3SealInfo
from gateway.providers.mapping import from_epoch_ms, image_link, non_empty

PROVIDER = ProviderName.ESIGN

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
    # deleted after use, its usage records kept (the v3 list's page, seal3/ups6h1)
    6: SealStatus.REVOKED,
}
# v1 `sealType`: 1 organisation template, 2 personal template, 3 custom image, 4 hand-drawn.
V1_STYLES = {1: SealStyle.TEMPLATE, 2: SealStyle.TEMPLATE, 3: SealStyle.IMAGE, 4: SealStyle.IMAGE}
# v3 `sealStyle`: 1 organisation template, 3 uploaded image.
V3_STYLES = {1: SealStyle.TEMPLATE, 3: SealStyle.IMAGE}

V1_URL_VALID_S = 3600.0
V3_URL_VALID_S = 3600.0

A = SealAttr
# v1 documents its `sealBizType` as CANCELLATION or COMMON only, and does not document its
# `status` at all: the business type, status and reject reason are v3's alone (UPSTREAMS.md).
LISTING_FIELDS = frozenset(
    {A.NAME, A.STYLE, A.IS_DEFAULT, A.IMAGE_SIZE, A.IMAGE, A.CREATED_AT, A.IS_CANCELLATION}
)
V1_BIZ_TYPES = {"CANCELLATION": True, "COMMON": False}
DETAIL_FIELDS = frozenset(
    {
        A.NAME,
        A.BIZ_TYPE,
        A.BIZ_TYPE_LABEL,
        A.STATUS,
        A.STATUS_LABEL,
        A.REJECT_REASON,
        A.STYLE,
        A.IS_DEFAULT,
        A.PHYSICAL_SIZE,
        A.WATERMARKED_IMAGE,
        A.CREATED_AT,
    }
)


def from_v1(row: V1Seal) -> Seal:
    """A v1 list row. Attributes the row lacks (v1 `alias` is often null) stay unknown, so the
    layers above complete them from v3 when they are asked for."""
    values: dict[SealAttr, object] = {}
    if row.alias:
        values[A.NAME] = row.alias
    if row.sealBizType is not None:
        values[A.IS_CANCELLATION] = V1_BIZ_TYPES.get(row.sealBizType)
    if row.sealType is not None:
        values[A.STYLE] = V1_STYLES.get(row.sealType)
    if row.defaultFlag is not None:
        values[A.IS_DEFAULT] = row.defaultFlag
    if row.url is not None:
        values[A.IMAGE] = image_link(row.url, V1_URL_VALID_S)
    if row.createDate is not None:
        values[A.CREATED_AT] = from_epoch_ms(PROVIDER, "createDate", row.createDate)
    if row.width is not None and row.height is not None:
        values[A.IMAGE_SIZE] = Size(row.width, row.height, SizeUnit.PIXEL)
    return Seal(
        key=SealKey(PROVIDER, row.sealId),
        known=frozenset(values),
        **{attr.value: value for attr, value in values.items()},  # type: ignore[arg-type]
    )


# What the layers above may ask of the v3 list (`get_summaries`) instead of a detail per seal.
SUMMARY_FIELDS = frozenset(
    {
        A.NAME,
        A.BIZ_TYPE,
        A.BIZ_TYPE_LABEL,
        A.STATUS,
        A.STYLE,
        A.IS_DEFAULT,
        A.PHYSICAL_SIZE,
        A.CREATED_AT,
    }
)
# What a v3 list row carries: every field of the v3 detail (seal3/ups6h1).
V3_ROW_FIELDS = DETAIL_FIELDS
# A revoked seal is listed by the v3 list alone (asked with `revocationSeal`): what only v1
# shows of a seal is not there to be had, and is known to be absent rather than loaded.
V1_ONLY_FIELDS = LISTING_FIELDS - V3_ROW_FIELDS


def _millimetres(width: float | None, height: float | None) -> Size | None:
    if width is None or height is None:
        return None
    return Size(width, height, SizeUnit.MILLIMETRE)


def from_v3_list(row: V3ListedSeal) -> Seal:
    status = STATUSES.get(row.sealStatus or 0)
    return Seal(
        key=SealKey(PROVIDER, row.sealId),
        known=V3_ROW_FIELDS | V1_ONLY_FIELDS if status == SealStatus.REVOKED else V3_ROW_FIELDS,
        name=non_empty(row.sealName),
        biz_type=BIZ_TYPES.get(row.sealBizType or ""),
        biz_type_label=non_empty(row.sealBizTypeDescription),
        status=status,
        status_label=non_empty(row.statusDescription),
        reject_reason=non_empty(row.rejectReason),
        style=V3_STYLES.get(row.sealStyle or 0),
        is_default=bool(row.defaultSealFlag),
        physical_size=_millimetres(row.sealWidth, row.sealHeight),
        watermarked_image=image_link(row.sealImageDownloadUrl, V3_URL_VALID_S, watermarked=True),
        created_at=from_epoch_ms(PROVIDER, "sealCreateTime", row.sealCreateTime),
    )


def from_v3(data: V3SealInfo) -> Seal:
    return Seal(
        key=SealKey(PROVIDER, data.sealId),
        known=DETAIL_FIELDS,
        name=non_empty(data.sealName),
        biz_type=BIZ_TYPES.get(data.sealBizType or ""),
        biz_type_label=non_empty(data.sealBizTypeDescription),
        status=STATUSES.get(data.sealStatus or 0),
        status_label=non_empty(data.statusDescription),
        reject_reason=non_empty(data.rejectReason),
        style=V3_STYLES.get(data.sealStyle or 0),
        is_default=bool(data.defaultSealFlag),
        physical_size=_millimetres(data.sealWidth, data.sealHeight),
        watermarked_image=image_link(data.sealImageDownloadUrl, V3_URL_VALID_S, watermarked=True),
        created_at=from_epoch_ms(PROVIDER, "sealCreateTime", data.sealCreateTime),
    )


# v3 create-by-template: the style for a business type and shape, and the size the vendor
# fixes for it (open.esign.cn/doc/opendoc/seal3/igfmd2). Only styles whose size the page
# states are offered; the COMMON_* sizes are cut from the page, and it has no style for a legal
# representative's seal.
TEMPLATE_STYLES: dict[tuple[SealBizType, TemplateShape], tuple[str, str]] = {
    (SealBizType.PUBLIC, TemplateShape.ROUND): ("PUBLIC_ROUND_STAR", "42_42"),
    (SealBizType.PUBLIC, TemplateShape.OVAL): ("PUBLIC_OVAL", "45_30"),
    (SealBizType.CONTRACT, TemplateShape.ROUND): ("CONTRACT_ROUND_STAR", "38_38"),
    (SealBizType.PERSONNEL, TemplateShape.ROUND): ("PERSONNEL_ROUND_STAR", "38_38"),
    (SealBizType.FINANCE, TemplateShape.ROUND): ("FINANCE_ROUND_STAR", "38_38"),
}


def template_style(spec: TemplateSealSpec) -> tuple[str, str]:
    """The v3 template style and size for the spec, or the input's fault: e签宝 draws its
    template seals itself, with no texts, colour or opacity of the caller's."""
    found = TEMPLATE_STYLES.get((spec.biz_type, spec.shape))
    if found is None:
        offered = ", ".join(f"{b.value} {s.value.lower()}" for b, s in TEMPLATE_STYLES)
        raise WriteRejected(
            Rejection.INVALID_INPUT,
            f"e签宝 has no template for a {spec.shape.value.lower()} {spec.biz_type.value} seal; "
            f"it offers: {offered}.",
            field="bizType",
            provider=PROVIDER,
        )
    extras = [
        name
        for name, value in (
            ("horizontalText", spec.horizontal_text),
            ("bottomText", spec.bottom_text),
            ("opacity", spec.opacity),
        )
        if value is not None
    ]
    if extras or spec.color.value != "RED":
        field = extras[0] if extras else "color"
        raise WriteRejected(
            Rejection.INVALID_INPUT,
            f"e签宝 draws its template seals itself: `{field}` cannot be set there.",
            field=field,
            provider=PROVIDER,
        )
    return found


ROLES = {"SEAL_USER": AuthorizationRole.USER, "SEAL_EXAMINER": AuthorizationRole.EXAMINER}


def from_internal_auth(row: InternalAuth) -> Authorization:
    """An internal-member authorisation; the vendor's list shows no scope, templates or dates,
    so those stay unknown."""
    return Authorization(
        provider=PROVIDER,
        vendor_id=row.sealAuthBizId,
        seal_id=row.sealId,
        user_id=row.authorizedPsnId,
        user_name=None,
        role=ROLES.get(row.sealRole or ""),
        scope=None,
        templates=(),
        effective_at=None,
        expires_at=None,
        created_at=None,
        auto_sign=None,
        examiner_notified=None,
        status=row.authorizeStatus,
    )
