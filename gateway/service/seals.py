"""One request's use cases over one tenant's seals: its reads (gateway/service/reads.py) and
its writes (gateway/service/writes.py), which read through the same loaders."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.domain import Caller, OrgScope, ProviderName
from gateway.events.hub import EventHub
from gateway.providers.base import SealProvider
from gateway.service.cache import ReadCache
from gateway.service.events import SealEvents
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
        events: EventHub | None = None,
        cache: ReadCache | None = None,
    ) -> None:
        self.reads = SealReads(adapters, scope, limits, caller, cache)
        self.events = SealEvents(
            events, self.reads.caller, limits.default_page_size, limits.max_page_size
        )
        self.writes = SealWrites(self.reads, reconcile=reconcile, events=self.events)

    @property
    def caller(self) -> Caller:
        return self.reads.caller
