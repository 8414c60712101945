"""Input checks made before any vendor call: what a vendor would refuse (or silently mangle) is
refused here with the field at fault, so a refusal costs no vendor call."""

from __future__ import annotations

import io
import struct
import unicodedata
import warnings
from dataclasses import dataclass, replace
from datetime import datetime

from PIL import Image

from gateway.domain import (
    AuthorizationPeriod,
    AuthorizationRole,
    AuthorizationScope,
    AuthorizationSpec,
    BadInput,
    ImageSealSpec,
    ProviderName,
    Rejection,
    SealBizType,
    SealFilter,
    SealStatus,
    TemplateRef,
    TemplateSealSpec,
    WriteRejected,
)

MAX_NAME = 50
MAX_TEXT = 30
# e签宝's aged looks (sealOldStyle OLD_1 to OLD_12).
MAX_AGED_VARIANT = 12
MAX_USERS = 100
MAX_TEMPLATES = 100
MAX_VENDOR_ID = 64
MAX_NAME_FILTER = 100

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIN_SIDE = 32
MAX_SIDE = 4096


def invalid(field: str, message: str) -> WriteRejected:
    return WriteRejected(Rejection.INVALID_INPUT, message, field=field)


def _has_control(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") for ch in text)


def name(value: str, field: str = "name") -> str:
    """A seal name: trimmed, 1 to MAX_NAME characters, no control characters."""
    value = value.strip()
    if not 1 <= len(value) <= MAX_NAME:
        raise invalid(field, f"`{field}` must hold 1 to {MAX_NAME} characters.")
    if _has_control(value):
        raise invalid(field, f"`{field}` may not hold control characters.")
    return value


def text(value: str | None, field: str) -> str | None:
    """An optional text drawn on a seal: trimmed, empty means none."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > MAX_TEXT:
        raise invalid(field, f"`{field}` may hold at most {MAX_TEXT} characters.")
    if _has_control(value):
        raise invalid(field, f"`{field}` may not hold control characters.")
    return value


def opacity(value: float | None) -> float | None:
    if value is not None and not 0 <= value <= 1:
        raise invalid("opacity", "`opacity` must be between 0 and 1.")
    return value


def template_spec(spec: TemplateSealSpec) -> TemplateSealSpec:
    """The checks every vendor shares; each provider refuses what its own template lacks."""
    if spec.aged_variant is not None and not 1 <= spec.aged_variant <= MAX_AGED_VARIANT:
        raise invalid("agedVariant", f"`agedVariant` must be 1 to {MAX_AGED_VARIANT}.")
    if (spec.width_mm is None) != (spec.height_mm is None):
        missing = "heightMm" if spec.height_mm is None else "widthMm"
        raise invalid(missing, "Give `widthMm` and `heightMm` together, or neither.")
    surround = spec.surround_text
    if surround is not None and _has_control(surround):
        raise invalid("surroundText", "`surroundText` may not hold control characters.")
    return replace(
        spec,
        name=name(spec.name),
        horizontal_text=text(spec.horizontal_text, "horizontalText"),
        bottom_text=text(spec.bottom_text, "bottomText"),
        opacity=opacity(spec.opacity),
        surround_text=surround or None,
        aged=spec.aged or spec.aged_variant is not None,
    )


def image_spec(spec: ImageSealSpec) -> ImageSealSpec:
    path = (spec.image_path or "").strip() or None
    if path is not None and _has_control(path):
        raise invalid("imagePath", "`imagePath` may not hold control characters.")
    return replace(spec, name=name(spec.name), image_path=path)


def upload_ref(file_name: str, url: str) -> tuple[str, str]:
    file_name, url = file_name.strip(), url.strip()
    if not file_name or not url:
        raise invalid("url", "`fileName` and `url` of an upload are required.")
    if _has_control(file_name) or _has_control(url):
        raise invalid("url", "`fileName` and `url` may not hold control characters.")
    return file_name, url


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """`authorizeSeal`'s input as the schema received it, before any check."""

    seal_id: str
    user_ids: tuple[str, ...]
    role: AuthorizationRole
    scope: AuthorizationScope
    templates: tuple[TemplateRef, ...] = ()
    effective_at: datetime | None = None
    expires_at: datetime | None = None


def _vendor_id(value: str) -> bool:
    """An id as the vendors spell them: 云银签 int64s, e签宝 hex strings (each vendor checks
    its own form)."""
    return 0 < len(value) <= MAX_VENDOR_ID and value.isascii() and value.replace("-", "").isalnum()


def period(effective_at: datetime | None, expires_at: datetime | None) -> AuthorizationPeriod:
    """When an authorisation is in force: times with offsets, the end after the start."""
    for field, moment in (("effectiveAt", effective_at), ("expiresAt", expires_at)):
        if moment is not None and moment.tzinfo is None:
            raise invalid(field, f"`{field}` needs a time-zone offset.")
    effective = effective_at or datetime.now().astimezone()
    if expires_at is not None and expires_at <= effective:
        raise invalid("expiresAt", "`expiresAt` must come after `effectiveAt` (or now).")
    return AuthorizationPeriod(effective_at, expires_at)


def authorization_spec(request: AuthorizationRequest, vendor_id: str) -> AuthorizationSpec:
    users = tuple(dict.fromkeys(u.strip() for u in request.user_ids))
    if not 1 <= len(users) <= MAX_USERS:
        raise invalid("userIds", f"Name 1 to {MAX_USERS} people in `userIds`.")
    if not all(_vendor_id(u) for u in users):
        raise invalid("userIds", "`userIds` holds the vendor's user ids (letters and digits).")
    templates = tuple(
        TemplateRef(t.id.strip(), (t.name or "").strip() or None) for t in request.templates
    )
    listed = request.scope == AuthorizationScope.LISTED_TEMPLATES
    if listed and not templates:
        raise invalid("templates", "A LISTED_TEMPLATES authorisation needs `templates`.")
    if not listed and templates:
        raise invalid("templates", "`templates` is only for a LISTED_TEMPLATES authorisation.")
    if len(templates) > MAX_TEMPLATES or not all(_vendor_id(t.id) for t in templates):
        raise invalid("templates", f"`templates` holds up to {MAX_TEMPLATES} vendor ids.")
    if any(t.name is not None and _has_control(t.name) for t in templates):
        raise invalid("templates", "Template names may not hold control characters.")
    period(request.effective_at, request.expires_at)
    return AuthorizationSpec(
        seal_id=vendor_id,
        user_ids=users,
        role=request.role,
        scope=request.scope,
        templates=templates,
        effective_at=request.effective_at,
        expires_at=request.expires_at,
    )


def seal_image(data: bytes, max_bytes: int, field: str = "file") -> tuple[int, int]:
    """The image's width and height, or WriteRejected naming what is wrong with it: PNG by
    content (not by name or declared type), within the size limit, of sane dimensions. The
    dimensions come from the PNG header before anything is decoded, so a huge image is refused
    for its size without the memory its pixels would take."""
    if len(data) > max_bytes:
        raise WriteRejected(
            Rejection.FILE_TOO_LARGE,
            f"The file is {len(data)} bytes; the limit is {max_bytes} bytes.",
            field=field,
        )
    if not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR" or len(data) < 24:
        raise WriteRejected(
            Rejection.NOT_PNG, "The file is not a PNG image (judged by its content).", field=field
        )
    width, height = struct.unpack(">II", data[16:24])
    if not (MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        raise WriteRejected(
            Rejection.BAD_IMAGE_SIZE,
            f"The image is {width}x{height} pixels; each side must be {MIN_SIDE} to {MAX_SIDE}.",
            field=field,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
    except Exception:  # Pillow raises many kinds for a corrupt file; all mean the same here
        raise WriteRejected(
            Rejection.NOT_PNG, "The file is not a readable PNG image.", field=field
        ) from None
    return width, height


@dataclass(frozen=True, slots=True)
class SealQuery:
    """`seals`' filter as the schema received it, before any check."""

    providers: tuple[ProviderName, ...] | None = None
    name_contains: str | None = None
    biz_type: SealBizType | None = None
    status: SealStatus | None = None
    is_default: bool | None = None
    include_revoked: bool = False


def seal_filter(query: SealQuery) -> SealFilter:
    name_filter = query.name_contains
    if name_filter is not None:
        name_filter = name_filter.strip()
        if not 1 <= len(name_filter) <= MAX_NAME_FILTER:
            raise BadInput(
                f"`nameContains` must hold 1 to {MAX_NAME_FILTER} characters.", "nameContains"
            )
        if _has_control(name_filter):
            raise BadInput("`nameContains` may not hold control characters.", "nameContains")
    return SealFilter(
        name_contains=name_filter,
        biz_type=query.biz_type,
        status=query.status,
        is_default=query.is_default,
        include_revoked=query.include_revoked,
    )


def page_size(first: int | None, default: int, maximum: int, argument: str = "first") -> int:
    if first is None:
        return default
    if not 1 <= first <= maximum:
        raise BadInput(f"`{argument}` must be between 1 and {maximum}, not {first}.", argument)
    return first
