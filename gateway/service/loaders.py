"""Per-request batching and de-duplication of vendor calls (aiodataloader).

A new `Loaders` is made for every request: its caches live exactly as long as one query, so
the same seal asked for twice (aliases, `node` beside `seals`) costs one vendor call. Beyond
the request, only the read cache keeps answers (gateway/service/cache.py; off by default),
which every vendor read below goes through.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import defaultdict
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from aiodataloader import DataLoader

from gateway.domain import (
    Authorization,
    ErrorCode,
    OrgScope,
    Page,
    ProviderName,
    Seal,
    SealFilter,
    SealKey,
    UpstreamError,
)
from gateway.ops.metrics import LOADER_BATCH
from gateway.providers.base import SealProvider, read_all
from gateway.service.cache import (
    PAGE_OF_AUTHORIZATIONS,
    PAGE_OF_SEALS,
    SEALS,
    RequestCache,
)

# A batch function's answer: a value per key, or the Exception that failed that key alone.
Results = list[Any]

# Most seals fetched one by one in one batch; the vendor client's pool bounds concurrency.
MAX_BATCH = 100


@dataclass(frozen=True, slots=True)
class PageKey:
    provider: ProviderName
    seal_filter: SealFilter
    offset: int
    limit: int


@dataclass(frozen=True, slots=True)
class AuthorizationPageKey:
    provider: ProviderName
    seal_id: str
    offset: int
    limit: int


@dataclass(frozen=True, slots=True)
class AuthorizationKey:
    provider: ProviderName
    seal_id: str
    authorization_id: str


def _weakly(
    batch: Callable[[list[Any]], Awaitable[Results]],
) -> Callable[[list[Any]], Coroutine[Any, Any, Results]]:
    """A batch method of `Loaders` called through a weak reference: the bound method itself,
    held by the DataLoader that `Loaders` holds, would tie the request's loaders (and all they
    reach: its seals, its service) into a reference cycle that only the garbage collector
    frees, where reference counting frees them as the request ends (bench/RESULTS.md)."""
    method = weakref.WeakMethod(batch)

    async def load(keys: list[Any]) -> Results:
        bound = method()
        if bound is None:  # the request is over: nobody waits for these keys
            raise RuntimeError("the request's loaders are gone")
        return await bound(keys)

    return load


class Loaders:
    def __init__(
        self,
        adapters: Mapping[ProviderName, SealProvider],
        scope: OrgScope,
        cache: RequestCache | None = None,
    ) -> None:
        self.adapters = adapters
        self.scope = scope
        self.cache = cache
        # Detail requests of this request, by seal: the summary batch consults it (below).
        self._details: dict[SealKey, Any] = {}
        self._totals: dict[tuple[ProviderName, SealFilter], int] = {}
        # Each loader is made when a request first needs it: most requests need one or two.
        self._made: list[DataLoader[Any, Any]] = []

    def _loader(self, batch: Any, **options: Any) -> DataLoader[Any, Any]:
        loader: DataLoader[Any, Any] = DataLoader(_weakly(batch), **options)
        self._made.append(loader)
        return loader

    @cached_property
    def seal_detail(self) -> DataLoader[SealKey, Seal]:
        return self._loader(self._load_details, max_batch_size=MAX_BATCH, cache_map=self._details)

    @cached_property
    def seal_listing(self) -> DataLoader[SealKey, Seal]:
        return self._loader(self._load_listings, max_batch_size=MAX_BATCH)

    @cached_property
    def seal_summary(self) -> DataLoader[SealKey, Seal]:
        return self._loader(self._load_summaries, max_batch_size=MAX_BATCH)

    @cached_property
    def _pages(self) -> DataLoader[PageKey, Page[Seal]]:
        return self._loader(self._load_pages)

    @cached_property
    def _scans(self) -> DataLoader[tuple[ProviderName, SealFilter], list[Seal]]:
        return self._loader(self._load_scans)

    @cached_property
    def _authorization_pages(self) -> DataLoader[AuthorizationPageKey, Page[Authorization]]:
        return self._loader(self._load_authorization_pages)

    @cached_property
    def authorization(self) -> DataLoader[AuthorizationKey, Authorization]:
        return self._loader(self._load_authorizations)

    def forget(self) -> None:
        """Drop everything this request has read: after a write, reads must see its effect
        (the read cache's entries included)."""
        for loader in self._made:
            loader.clear_all()
        self._totals.clear()
        if self.cache is not None:
            self.cache.changed()

    def _account(self, provider: ProviderName) -> str:
        """The account reads are made as: part of every cache entry's key."""
        return self.scope.accounts.get(provider, "")

    # --- seals ----------------------------------------------------------------------------

    async def _by_provider(self, keys: Sequence[SealKey], view: str) -> list[Seal | Exception]:
        groups: dict[ProviderName, list[str]] = defaultdict(list)
        for key in keys:
            groups[key.provider].append(key.vendor_id)

        async def fetch(provider: ProviderName, ids: list[str]) -> list[Seal | Exception]:
            adapter = self.adapters[provider]
            if view == "listing":
                return await adapter.find_listed(self.scope, ids)
            if view == "summary":
                return await adapter.get_summaries(self.scope, ids)
            return await adapter.get_seals(self.scope, ids)

        async def load(provider: ProviderName, ids: list[str]) -> list[Seal | Exception]:
            if self.cache is None:
                return await fetch(provider, ids)
            return await self.cache.many(
                view,
                provider,
                self._account(provider),
                ids,
                lambda missing: fetch(provider, missing),
            )

        names = list(groups)
        answers = await settle(*(load(name, groups[name]) for name in names))
        found: dict[SealKey, Seal | Exception] = {}
        for name, answer in zip(names, answers, strict=True):
            for vendor_id, result in zip(
                groups[name],
                answer if isinstance(answer, list) else [answer] * len(groups[name]),
                strict=True,
            ):
                found[SealKey(name, vendor_id)] = result
        return [found[key] for key in keys]

    async def _load_details(self, keys: list[SealKey]) -> Results:
        LOADER_BATCH.labels("seal_detail").observe(len(keys))
        return await self._by_provider(keys, "detail")

    async def _load_listings(self, keys: list[SealKey]) -> Results:
        LOADER_BATCH.labels("seal_listing").observe(len(keys))
        return await self._by_provider(keys, "listing")

    async def _load_summaries(self, keys: list[SealKey]) -> Results:
        """A seal whose detail this request asked for too is taken from that detail (it carries
        every summary attribute), so the summary call is not made for it in vain."""
        LOADER_BATCH.labels("seal_summary").observe(len(keys))
        asked = [k for k in keys if k in self._details]
        rest = [k for k in keys if k not in self._details]
        summaries = await self._by_provider(rest, "summary") if rest else []
        details = await settle(*(self._details[k] for k in asked))
        found = dict(zip(rest, summaries, strict=True)) | dict(zip(asked, details, strict=True))
        return [found[k] for k in keys]

    async def _load_pages(self, keys: list[PageKey]) -> Results:
        LOADER_BATCH.labels("seal_page").observe(len(keys))
        return await settle(*(self._list_range(k) for k in keys))

    def _list_range(self, key: PageKey) -> Awaitable[Page[Seal]]:
        adapter = self.adapters[key.provider]

        def fetch() -> Awaitable[Page[Seal]]:
            return adapter.list_range(self.scope, key.seal_filter, key.offset, key.limit)

        if self.cache is None:
            return fetch()
        parts = f"{self._account(key.provider)}|{key.seal_filter!r}|{key.offset}|{key.limit}"
        return self.cache.through("page", key.provider, parts, PAGE_OF_SEALS, fetch)

    async def _load_scans(self, keys: list[tuple[ProviderName, SealFilter]]) -> Results:
        LOADER_BATCH.labels("seal_scan").observe(len(keys))
        return await settle(*(self._scan(p, f) for p, f in keys))

    def _scan(self, provider: ProviderName, seal_filter: SealFilter) -> Awaitable[list[Seal]]:
        def fetch() -> Awaitable[list[Seal]]:
            return self.adapters[provider].scan(self.scope, seal_filter)

        if self.cache is None:
            return fetch()
        parts = f"{self._account(provider)}|{seal_filter!r}"
        return self.cache.through("scan", provider, parts, SEALS, fetch)

    async def seal_page(
        self, provider: ProviderName, seal_filter: SealFilter, offset: int, limit: int
    ) -> Page[Seal]:
        """Seals [offset, offset+limit) of one provider's filtered list, and its length."""
        if self.adapters[provider].needs_scan(seal_filter):
            seals: list[Seal] = await self._scans.load((provider, seal_filter))
            page = Page(seals[offset : offset + limit], len(seals))
        else:
            page = await self._pages.load(PageKey(provider, seal_filter, offset, limit))
        self._totals[(provider, seal_filter)] = page.total
        return page

    async def seal_total(self, provider: ProviderName, seal_filter: SealFilter) -> int:
        known = self._totals.get((provider, seal_filter))
        if known is not None:
            return known
        return (await self.seal_page(provider, seal_filter, 0, 1)).total

    # --- authorisations -------------------------------------------------------------------

    async def _load_authorization_pages(self, keys: list[AuthorizationPageKey]) -> Results:
        LOADER_BATCH.labels("authorization_page").observe(len(keys))
        return await settle(*(self._list_authorizations(k) for k in keys))

    def _list_authorizations(self, key: AuthorizationPageKey) -> Awaitable[Page[Authorization]]:
        def fetch() -> Awaitable[Page[Authorization]]:
            return self.adapters[key.provider].list_authorizations(
                self.scope, key.seal_id, key.offset, key.limit
            )

        if self.cache is None:
            return fetch()
        parts = f"{self._account(key.provider)}|{key.seal_id}|{key.offset}|{key.limit}"
        return self.cache.through(
            "authorizations", key.provider, parts, PAGE_OF_AUTHORIZATIONS, fetch
        )

    async def authorization_page(
        self, provider: ProviderName, seal_id: str, offset: int, limit: int
    ) -> Page[Authorization]:
        page: Page[Authorization] = await self._authorization_pages.load(
            AuthorizationPageKey(provider, seal_id, offset, limit)
        )
        return page

    async def all_authorizations(self, provider: ProviderName, seal_id: str) -> list[Authorization]:
        """Every authorisation of a seal, read page by page through the page loader."""
        return await read_all(
            lambda offset, limit: self.authorization_page(provider, seal_id, offset, limit),
            self.adapters[provider].max_page_size,
        )

    async def _load_authorizations(self, keys: list[AuthorizationKey]) -> Results:
        """Authorisations by id: the vendor has no such lookup, so each seal's list is read once."""
        LOADER_BATCH.labels("authorization").observe(len(keys))
        seals = sorted({(k.provider, k.seal_id) for k in keys})
        lists = await settle(*(self.all_authorizations(p, s) for p, s in seals))
        by_seal = dict(zip(seals, lists, strict=True))
        results: list[Authorization | Exception] = []
        for key in keys:
            found: Any = by_seal[(key.provider, key.seal_id)]
            if isinstance(found, Exception):
                results.append(found)
                continue
            match = next((a for a in found if a.vendor_id == key.authorization_id), None)
            results.append(
                match
                or UpstreamError(key.provider, "No such authorisation.", code=ErrorCode.NOT_FOUND)
            )
        return results


async def settle(*calls: Awaitable[Any]) -> list[Any]:
    """Each call's result or its Exception, in order: one failing key fails only itself
    (aiodataloader fails one key for an Exception). A BaseException, such as cancellation,
    goes up. A single call is awaited where it stands (a task of its own would cost an extra
    turn of the event loop)."""
    if len(calls) == 1:
        try:
            return [await calls[0]]
        except Exception as error:
            return [error]
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, Exception):
            raise result
    return results
