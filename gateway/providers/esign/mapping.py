"""e签宝 v1 list rows and v3 details -> domain Seals (two views of the same seal)."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.domain import (
    Authorization,
    AuthorizationPeriod,
    AuthorizationRole,
    AuthorizationScope,
    AuthorizationSpec,
    AuthorizationStatus,
    AuthorizationStatusReason,
    ImageSealSpec,
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
    TemplateRef,
    TemplateSealSpec,
    TemplateShape,
    TemplateStyle,
    WriteRejected,
)
from gateway.providers.esign.wire import (
    AuthScope,
    AuthTemplate,
    InternalAuth,
    V1Seal,
    V3ListedSeal,
    V3SealInfo,
)
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


# v3 create-by-template (open.esign.cn/doc/opendoc/seal3/igfmd2): its 14 template styles, by
# business type, shape and star, with the sizes the page fixes for each (the first is sent).
# A legal representative's seal has no template.
def _mm(*sizes: str) -> tuple[Size, ...]:
    return tuple(
        Size(float(w), float(h), SizeUnit.MILLIMETRE) for w, h in (s.split("_") for s in sizes)
    )


B, S = SealBizType, TemplateShape
TEMPLATE_STYLES: tuple[TemplateStyle, ...] = (
    TemplateStyle(B.PUBLIC, S.ROUND, True, "PUBLIC_ROUND_STAR", _mm("42_42", "40_40")),
    TemplateStyle(B.PUBLIC, S.OVAL, False, "PUBLIC_OVAL", _mm("45_30")),
    TemplateStyle(B.PUBLIC, S.DOUBLE_OVAL, False, "PUBLIC_TWO_OVAL", _mm("45_30")),
    TemplateStyle(B.CONTRACT, S.ROUND, True, "CONTRACT_ROUND_STAR", _mm("38_38")),
    TemplateStyle(B.CONTRACT, S.ROUND, False, "CONTRACT_ROUND_NO_STAR", _mm("38_38")),
    TemplateStyle(B.PERSONNEL, S.ROUND, True, "PERSONNEL_ROUND_STAR", _mm("38_38")),
    TemplateStyle(B.PERSONNEL, S.ROUND, False, "PERSONNEL_ROUND_NO_STAR", _mm("38_38")),
    TemplateStyle(B.FINANCE, S.ROUND, True, "FINANCE_ROUND_STAR", _mm("38_38")),
    TemplateStyle(B.FINANCE, S.ROUND, False, "FINANCE_ROUND_NO_STAR", _mm("38_38")),
    TemplateStyle(B.FINANCE, S.SQUARE, False, "FINANCE_SQUARE_HORIZONTAL", _mm("22_22")),
    TemplateStyle(B.FINANCE, S.SQUARE_VERTICAL, False, "FINANCE_SQUARE_VERTICAL", _mm("22_22")),
    TemplateStyle(B.OTHER, S.ROUND, True, "COMMON_ROUND_STAR", _mm("42_42", "40_40")),
    TemplateStyle(B.OTHER, S.OVAL, None, "COMMON_OVAL", _mm("45_30")),
    TemplateStyle(B.OTHER, S.DOUBLE_OVAL, None, "COMMON_TWO_OVAL", _mm("45_30")),
)
# The page's optional fields, as the input names them.
TEMPLATE_OPTIONS = frozenset(
    {
        "color",
        "opacity",
        "horizontalText",
        "bottomText",
        "surroundText",
        "aged",
        "agedVariant",
        "widthMm",
        "heightMm",
    }
)
# sealOpacity: 20 to 100 (percent; 100 opaque).
MIN_OPACITY = 20
MAX_SURROUND = 50


def _refused(field: str, message: str) -> WriteRejected:
    return WriteRejected(Rejection.INVALID_INPUT, message, field=field, provider=PROVIDER)


def _style_for(spec: TemplateSealSpec) -> TemplateStyle:
    """The template for the spec's business type, shape and star, or the field at fault."""
    of_type = [t for t in TEMPLATE_STYLES if t.biz_type == spec.biz_type]
    if not of_type:
        offered = sorted({t.biz_type.value for t in TEMPLATE_STYLES})
        raise _refused(
            "bizType",
            f"e签宝 has no template for a {spec.biz_type.value} seal; it has templates for "
            f"{', '.join(offered)}.",
        )
    of_shape = [t for t in of_type if t.shape == spec.shape]
    if not of_shape:
        shapes = ", ".join(dict.fromkeys(t.shape.value for t in of_type))
        raise _refused(
            "shape",
            f"e签宝 has no {spec.shape.value} template for a {spec.biz_type.value} seal; "
            f"it offers: {shapes}.",
        )
    if spec.star is None:
        return next((t for t in of_shape if t.star), of_shape[0])
    for style in of_shape:
        if style.star in (spec.star, None):
            return style
    have = "with" if of_shape[0].star else "without"
    raise _refused(
        "star",
        f"e签宝's {spec.shape.value} {spec.biz_type.value} template comes {have} a star only.",
    )


def _size_for(style: TemplateStyle, spec: TemplateSealSpec) -> Size:
    """The size asked for, if the template comes in it; else its first."""
    if spec.width_mm is None or spec.height_mm is None:
        return style.sizes[0]
    for size in style.sizes:
        if (size.width, size.height) == (spec.width_mm, spec.height_mm):
            return size
    offered = " or ".join(f"{s.width:.0f}×{s.height:.0f}" for s in style.sizes)
    raise _refused("widthMm", f"e签宝's {style.vendor_style} template comes in {offered} mm only.")


def _half_width(value: str, field: str, limit: int) -> str:
    """Text e签宝 takes in English letters and half-width symbols only, up to `limit`."""
    if not all(" " <= ch <= "~" for ch in value):
        raise _refused(
            field, f"e签宝 takes `{field}` in English letters and half-width symbols only."
        )
    if len(value) > limit:
        raise _refused(field, f"e签宝 takes at most {limit} characters of `{field}`.")
    return value


def template_body(org_id: str, spec: TemplateSealSpec) -> dict[str, object]:
    """The body of v3 create-by-template: each option the caller gave, in the page's terms;
    what e签宝 itself refuses (opacity under 20%, non-ASCII bottom or surround text) is
    refused here, before sending."""
    style = _style_for(spec)
    size = _size_for(style, spec)
    body: dict[str, object] = {
        "orgId": org_id,
        "sealName": spec.name,
        "sealTemplateStyle": style.vendor_style,
        "sealSize": f"{size.width:.0f}_{size.height:.0f}",
        "sealColor": spec.color.value,
    }
    if spec.opacity is not None:
        percent = round(spec.opacity * 100)
        if percent < MIN_OPACITY:
            raise _refused("opacity", "e签宝 draws seals at an opacity of 0.2 to 1 (20% to 100%).")
        body["sealOpacity"] = percent
    if spec.horizontal_text:
        body["sealHorizontalText"] = spec.horizontal_text
    if spec.bottom_text:
        body["sealBottomText"] = _half_width(spec.bottom_text, "bottomText", 30)
    if spec.surround_text:
        body["sealOutsideSurroundText"] = _half_width(
            spec.surround_text, "surroundText", MAX_SURROUND
        )
    if spec.aged:
        body["sealOldStyle"] = "OLD" if spec.aged_variant is None else f"OLD_{spec.aged_variant}"
    return body


ROLES = {"SEAL_USER": AuthorizationRole.USER, "SEAL_EXAMINER": AuthorizationRole.EXAMINER}
ROLE_CODES = {role: code for code, role in ROLES.items()}


# `authorizeStatus` (0 lapsed, 1 in force, 3 awaiting effect) and `expireReason`
# (seal3/totfte). An authorisation whose letter is not signed is pending whatever its status
# code says: signing the letter puts it in force.
AUTH_STATUSES = {
    0: AuthorizationStatus.LAPSED,
    1: AuthorizationStatus.IN_FORCE,
    3: AuthorizationStatus.PENDING,
}
EXPIRE_REASONS = {
    "NOT_SIGN": AuthorizationStatusReason.LETTER_NOT_SIGNED,
    "WAIT_EFFECTIVE": AuthorizationStatusReason.NOT_YET_EFFECTIVE,
    "EXPIRED": AuthorizationStatusReason.EXPIRED,
    "GRANT_ORG_ACCOUNT_UPDATE": AuthorizationStatusReason.ORGANIZATION_ACCOUNT_CHANGED,
    "GRANTER_ACCOUNT_UPDATE": AuthorizationStatusReason.GRANTER_ACCOUNT_CHANGED,
    "GRANTED_ACCOUNT_UPDATE": AuthorizationStatusReason.GRANTEE_ACCOUNT_CHANGED,
}
ALL = "ALL"


def _auth_status(row: InternalAuth) -> AuthorizationStatus | None:
    if row.expireReason == "NOT_SIGN":
        return AuthorizationStatus.PENDING
    return AUTH_STATUSES.get(row.authorizeStatus if row.authorizeStatus is not None else -1)


def from_internal_auth(row: InternalAuth) -> Authorization:
    """An internal-member authorisation, with its state, period and scope as its page gives
    them; a template id of ALL is every contract, an app-only scope no template limit."""
    scope = row.sealAuthScope or AuthScope()
    template = scope.template or AuthTemplate()
    templates: tuple[TemplateRef, ...] = ()
    auth_scope = None
    if template.templateId == ALL:
        auth_scope = AuthorizationScope.ALL_CONTRACTS
    elif template.templateId:
        auth_scope = AuthorizationScope.LISTED_TEMPLATES
        templates = (TemplateRef(template.templateId, None),)
    apps = tuple(a for a in (template.applicationsIds or "").split(",") if a)
    return Authorization(
        provider=PROVIDER,
        vendor_id=row.sealAuthBizId,
        seal_id=row.sealId,
        user_id=row.authorizedPsnId,
        user_name=None,
        role=ROLES.get(row.sealRole or ""),
        scope=auth_scope,
        templates=templates,
        effective_at=from_epoch_ms(PROVIDER, "effectiveTime", row.effectiveTime),
        expires_at=from_epoch_ms(PROVIDER, "expireTime", row.expireTime),
        created_at=None,
        auto_sign=scope.autoSign,
        examiner_notified=None,
        vendor_status=row.authorizeStatus,
        status=_auth_status(row),
        status_reason=EXPIRE_REASONS.get(row.expireReason or ""),
        long_term=row.longTermEffective,
        sign_flow_id=non_empty(row.signFlowId),
        application_ids=apps,
    )


# v3 internal-auth (seal3/fu6ov5) and reauthorization (seal3/giha96).
MAX_AUTH_MEMBERS = 10
MAX_AUTH_TEMPLATES = 10
MAX_AUTH_YEARS = 3


def _years_after(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


def period_fields(period: AuthorizationPeriod) -> dict[str, object]:
    """`longTermEffective`, or `effectiveTime` and `expireTime` (epoch ms): with no end, an
    authorisation is long-term and takes no times; else both are sent, at most 3 years apart."""
    if period.expires_at is None:
        if period.effective_at is not None:
            raise _refused(
                "effectiveAt",
                "e签宝 starts an authorisation with no end at once (longTermEffective takes no "
                "times): give `expiresAt` too, or neither.",
            )
        return {"longTermEffective": True}
    effective = period.effective_at or datetime.now(UTC)
    if period.expires_at > _years_after(effective, MAX_AUTH_YEARS):
        raise _refused(
            "expiresAt", f"e签宝 authorises for at most {MAX_AUTH_YEARS} years at a time."
        )
    return {
        "longTermEffective": False,
        "effectiveTime": int(effective.timestamp() * 1000),
        "expireTime": int(period.expires_at.timestamp() * 1000),
    }


def check_authorization(spec: AuthorizationSpec) -> None:
    """What internal-auth's page refuses, refused before any call."""
    if len(spec.user_ids) > MAX_AUTH_MEMBERS:
        raise _refused("userIds", f"e签宝 authorises at most {MAX_AUTH_MEMBERS} members a call.")
    if len(spec.templates) > MAX_AUTH_TEMPLATES:
        raise _refused("templates", f"e签宝 takes at most {MAX_AUTH_TEMPLATES} templates a call.")
    period_fields(AuthorizationPeriod(spec.effective_at, spec.expires_at))


def authorization_body(org_id: str, transactor: str, spec: AuthorizationSpec) -> dict[str, object]:
    """The body of v3 internal-auth: the members, their role, the contracts it covers (every
    template, or those listed) and its period; the transactor signs the letter or is sent it."""
    templates = (
        [ALL] if spec.scope == AuthorizationScope.ALL_CONTRACTS else [t.id for t in spec.templates]
    )
    return {
        "orgId": org_id,
        "sealId": spec.seal_id,
        "authorizedPsnIds": list(spec.user_ids),
        "sealRole": ROLE_CODES[spec.role],
        "transactorPsnId": transactor,
        "sealAuthScope": {"templateIds": templates},
        **period_fields(AuthorizationPeriod(spec.effective_at, spec.expires_at)),
    }


# v3 create-by-image (seal3/lggz9w): its business types, and the size it takes (mm, ≤ 100).
IMAGE_BIZ_TYPES = {
    SealBizType.PUBLIC: "PUBLIC",
    SealBizType.CONTRACT: "CONTRACT",
    SealBizType.PERSONNEL: "PERSONNEL",
    SealBizType.FINANCE: "FINANCE",
    SealBizType.OTHER: "COMMON",
}
MAX_IMAGE_MM = 100
# v3 file-key: the names it takes (an image extension; none of / \ : * " < > | ？).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
FORBIDDEN_IN_NAME = frozenset('/\\:*"<>|?？')


def upload_name(file_name: str) -> str:
    """The file's name as file-key takes it: forbidden characters replaced, a PNG extension
    added where it has none of the image ones (the gateway took a PNG)."""
    name = "".join("_" if ch in FORBIDDEN_IN_NAME else ch for ch in file_name) or "seal"
    return name if name.lower().endswith(IMAGE_EXTENSIONS) else f"{name}.png"


def image_body(org_id: str, spec: ImageSealSpec) -> dict[str, object]:
    """The body of v3 create-by-image; what the page does not take is refused before sending."""
    if not spec.image_path:
        raise _refused(
            "imagePath",
            "e签宝 makes an image seal from an upload: give its `storagePath` (the fileKey).",
        )
    if spec.shape is not None:
        raise _refused("shape", "e签宝's image seals take no shape: the image is the seal.")
    biz = IMAGE_BIZ_TYPES.get(spec.biz_type)
    if biz is None:
        raise _refused("bizType", f"e签宝 makes no image seal of type {spec.biz_type.value}.")
    for field, value in (("widthMm", spec.width_mm), ("heightMm", spec.height_mm)):
        if value is None or not 1 <= value <= MAX_IMAGE_MM:
            raise _refused(
                field, f"e签宝 needs the seal's `{field}` on paper, 1 to {MAX_IMAGE_MM} mm."
            )
    body: dict[str, object] = {
        "orgId": org_id,
        "sealImageFileKey": spec.image_path,
        "sealName": spec.name,
        "sealWidth": spec.width_mm,
        "sealHeight": spec.height_mm,
        "sealBizType": biz,
    }
    if spec.color is not None:
        body["sealColor"] = spec.color.value
    return body
