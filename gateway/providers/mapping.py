"""Wire-format helpers both vendors' mappings use."""

from __future__ import annotations

import time
from datetime import UTC, datetime, tzinfo
from urllib.parse import parse_qs, urlsplit

from gateway.domain import ImageLink, MalformedAnswer, ProviderName


def from_epoch_ms(provider: ProviderName, field: str, value: int | None) -> datetime | None:
    """An epoch-millisecond time; one no calendar holds is the vendor's fault."""
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise MalformedAnswer(provider, field, f"{value!r} is not a time") from None


def from_iso(
    provider: ProviderName, field: str, value: str | None, default_offset: tzinfo
) -> datetime | None:
    """An ISO-8601 time such as `2024-01-20T10:00:00.000+0800`, its offset kept. A time given
    without an offset is the vendor's local time (`default_offset`). Anything that is not an
    ISO-8601 time is a malformed answer, never a silent null."""
    if value is None or value == "":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise MalformedAnswer(provider, field, f"{value!r} is not an ISO-8601 time") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=default_offset)


def image_link(
    url: str | None, valid_for_s: float | None, *, watermarked: bool = False
) -> ImageLink | None:
    """A signed image URL and when it stops working: its `Expires` parameter (epoch seconds)
    when it has one, else the vendor's documented validity from now, else unknown."""
    if not url:
        return None
    expires_at: datetime | None = None
    # most links carry no Expires: not parsed then (a page maps many of them)
    expires = parse_qs(urlsplit(url).query).get("Expires") if "Expires=" in url else None
    if expires and expires[0].isdigit():
        expires_at = datetime.fromtimestamp(int(expires[0]), tz=UTC)
    elif valid_for_s is not None:
        expires_at = datetime.fromtimestamp(time.time() + valid_for_s, tz=UTC)
    return ImageLink(url=url, expires_at=expires_at, watermarked=watermarked)


def non_empty(value: str | None) -> str | None:
    return value or None
