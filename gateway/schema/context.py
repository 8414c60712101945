"""What every resolver gets as `info.context`: this request's service, and a list where
resolvers report errors that leave the rest of the answer standing."""

from __future__ import annotations

from dataclasses import dataclass, field

import strawberry

from gateway.service import SealReads, SealService, SealWrites


@dataclass
class GatewayContext:
    service: SealService
    # Whether the providers are the gateway's built-in sandbox.
    sandbox: bool = False
    # Whether the client asked for the operation's cost in `extensions.cost`.
    show_cost: bool = False
    # (path, error) pairs added to the response's `errors` beside the partial data.
    reported: list[tuple[list[str | int], Exception]] = field(default_factory=list)

    @property
    def reads(self) -> SealReads:
        return self.service.reads

    @property
    def writes(self) -> SealWrites:
        return self.service.writes

    def report(self, info: strawberry.Info, error: Exception, *extra: str | int) -> None:
        self.reported.append(([*info.path.as_list(), *extra], error))

    def report_all(self, info: strawberry.Info, errors: list[Exception], *extra: str | int) -> None:
        for error in errors:
            self.report(info, error, *extra)


Info = strawberry.Info[GatewayContext, None]
