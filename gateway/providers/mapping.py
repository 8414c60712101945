"""Wire-format helpers both vendors' mappings use."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from gateway.domain import ImageLink


def from_epoch_ms(value: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(str(value)) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def from_iso(value: object) -> datetime | None:
    """ISO-8601 with an offset such as `2024-01-20T10:00:00.000+0800`, offset kept."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def image_link(
    url: object, valid_for_s: float | None, *, watermarked: bool = False
) -> ImageLink | None:
    """A signed image URL and when it stops working: its `Expires` parameter (epoch seconds)
    when it has one, else the vendor's documented validity from now, else unknown."""
    if not isinstance(url, str) or not url:
        return None
    expires_at: datetime | None = None
    expires = parse_qs(urlsplit(url).query).get("Expires")
    if expires and expires[0].isdigit():
        expires_at = datetime.fromtimestamp(int(expires[0]), tz=UTC)
    elif valid_for_s is not None:
        expires_at = datetime.fromtimestamp(time.time() + valid_for_s, tz=UTC)
    return ImageLink(url=url, expires_at=expires_at, watermarked=watermarked)


def as_int(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def non_empty(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
