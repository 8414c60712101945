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
    # Whether a provider's failure on a page that still answers goes into `errors` too; else
    # the page tells it (`unavailable`) and it is kept here for the request's event only, so
    # that clients whose default drops data beside errors keep the seals that came.
    page_failures_as_errors: bool = False
    told_on_the_page: list[tuple[list[str | int], Exception]] = field(default_factory=list)

    @property
    def audience(self) -> tuple[object, ...]:
        """Who an answer is for, as far as its content can differ: the tenant and the vendor
        accounts reads are made as (a 云银签 operator of the caller's own)."""
        reads = self.service.reads
        return (reads.tenant, tuple(sorted(reads.scope.accounts.items())))

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

    def report_page_failures(
        self, info: strawberry.Info, errors: list[Exception], *, others_answered: bool
    ) -> None:
        """Providers that failed on a page (it lists them). Where no other provider brought a
        seal there is nothing for a client to keep, and `errors` tells it whatever the
        setting."""
        if self.page_failures_as_errors or not others_answered:
            self.report_all(info, errors)
        else:
            self.told_on_the_page.extend((info.path.as_list(), error) for error in errors)


Info = strawberry.Info[GatewayContext, None]
