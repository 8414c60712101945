"""The provider boundary's shape check: every vendor answer is converted into a typed model of
its endpoint (msgspec) before any mapping reads it. A wrong shape (a missing id, a list where an
object belongs) becomes `MalformedAnswer` naming the vendor and the place, so one vendor's bad
answer is that vendor's upstream error and never a gateway bug or a seal with no id."""

from __future__ import annotations

import logging
from typing import Annotated, Any, TypeVar

import msgspec

from gateway.domain import MalformedAnswer, ProviderName

log = logging.getLogger("gateway.upstream")

T = TypeVar("T")

# A string the vendor must fill: an id, a token.
Filled = Annotated[str, msgspec.Meta(min_length=1)]


def read_as(provider: ProviderName, what: str, data: Any, model: type[T]) -> T:
    """`data` as the endpoint's model. Lax: numbers sent as strings and 0/1 flags are accepted,
    as the vendors send them; anything else off-contract is refused."""
    try:
        return msgspec.convert(data, model, strict=False)
    except msgspec.ValidationError as error:
        log.warning("%s answered %s in an unexpected shape: %s", provider.value, what, error)
        raise MalformedAnswer(provider, what, str(error)) from None
