"""What every resolver gets as `info.context`: the caller's scope, this request's loaders, and a
list where resolvers report errors that leave the rest of the answer standing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import strawberry

from gateway.domain import OrgScope, ProviderName
from gateway.loaders import Loaders
from gateway.providers.base import SealProvider


@dataclass(frozen=True, slots=True)
class Limits:
    default_page_size: int = 20
    max_page_size: int = 100
    max_upload_bytes: int = 2 * 1024 * 1024


@dataclass
class GatewayContext:
    providers: Mapping[ProviderName, SealProvider]
    scope: OrgScope
    loaders: Loaders
    limits: Limits = field(default_factory=Limits)
    # Whether the providers are the gateway's built-in sandbox.
    sandbox: bool = False
    request: Any = None
    response: Any = None
    # (path, error) pairs added to the response's `errors` beside the partial data.
    reported: list[tuple[list[str | int], Exception]] = field(default_factory=list)

    def report(self, info: strawberry.Info, error: Exception, *extra: str | int) -> None:
        self.reported.append(([*info.path.as_list(), *extra], error))


Info = strawberry.Info[GatewayContext, None]
