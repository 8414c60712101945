"""One request's use cases over one tenant's seals: its reads (gateway/service/reads.py) and
its writes (gateway/service/writes.py), which read through the same loaders."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.domain import Caller, OrgScope, ProviderName
from gateway.providers.base import SealProvider
from gateway.service.reads import Limits, SealReads
from gateway.service.writes import SealWrites


class SealService:
    """One request's view of one tenant's seals at every provider the tenant configured."""

    def __init__(
        self,
        adapters: Mapping[ProviderName, SealProvider],
        scope: OrgScope,
        limits: Limits,
        caller: Caller | None = None,
        *,
        reconcile: bool = False,
    ) -> None:
        self.reads = SealReads(adapters, scope, limits, caller)
        self.writes = SealWrites(self.reads, reconcile=reconcile)

    @property
    def caller(self) -> Caller:
        return self.reads.caller
