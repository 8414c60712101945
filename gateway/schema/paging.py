"""Opaque cursors and page-size checks for the schema's connections."""

from __future__ import annotations

import hashlib

from strawberry.relay.utils import from_base64, to_base64

from gateway.domain import BadInput, ProviderName, SealFilter
from gateway.schema.context import Limits


def page_size(first: int | None, limits: Limits, argument: str = "first") -> int:
    if first is None:
        return limits.default_page_size
    if not 1 <= first <= limits.max_page_size:
        raise BadInput(
            f"`{argument}` must be between 1 and {limits.max_page_size}, not {first}.", argument
        )
    return first


def _filter_tag(seal_filter: SealFilter, providers: tuple[ProviderName, ...]) -> str:
    """Ties a cursor to the filter it was made under: a cursor means nothing under another."""
    text = repr((seal_filter, providers))
    return hashlib.blake2s(text.encode(), digest_size=4).hexdigest()


def seal_cursor(
    provider: ProviderName,
    offset: int,
    seal_filter: SealFilter,
    providers: tuple[ProviderName, ...],
) -> str:
    return to_base64("seal", f"{provider.value}:{offset}:{_filter_tag(seal_filter, providers)}")


def parse_seal_cursor(
    cursor: str, seal_filter: SealFilter, providers: tuple[ProviderName, ...]
) -> tuple[ProviderName, int]:
    """The provider and offset of the seal the cursor points at."""
    try:
        kind, value = from_base64(cursor)
        provider, offset, tag = value.split(":")
        parsed = ProviderName(provider), int(offset)
    except (ValueError, TypeError):
        raise BadInput("`after` is not a cursor of this connection.", "after") from None
    if kind != "seal" or parsed[1] < 0:
        raise BadInput("`after` is not a cursor of this connection.", "after")
    if tag != _filter_tag(seal_filter, providers):
        raise BadInput("`after` was made under another filter; start again without it.", "after")
    return parsed


def offset_cursor(kind: str, offset: int) -> str:
    return to_base64(kind, str(offset))


def parse_offset_cursor(kind: str, cursor: str | None) -> int:
    """The offset just past the cursor's item; 0 without a cursor."""
    if cursor is None:
        return 0
    try:
        found, value = from_base64(cursor)
        offset = int(value)
    except (ValueError, TypeError):
        raise BadInput("`after` is not a cursor of this connection.", "after") from None
    if found != kind or offset < 0:
        raise BadInput("`after` is not a cursor of this connection.", "after")
    return offset + 1
