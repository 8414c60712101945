"""The read cache: vendor reads of seals and authorisations kept per tenant for a short time
(`SEALGW_READ_CACHE_SECONDS`; off by default), in the shared state (this process's memory, or
Redis where every process reads the same entries), and never older than the last event the
gateway knows of.

How it stays fresh: every entry's key carries the tenant's generation, a counter in the shared
state that goes up with every event recorded for the tenant (e签宝's notifications, changes the
detector found, the gateway's own writes) and at once when a write reaches a vendor (before
its answer is read back). A request reads the generation once, before its first vendor read,
so an answer fetched before a change is stored under the generation before it and never
served after it. Entries also end before any link they hold expires (signed image URLs) and
before an authorisation they hold ends. While Redis does not answer, nothing is cached: a
process on its own state would not see the other processes' events.

A hit costs no vendor call; hits and misses are counted in /metrics
(`sealgw_read_cache_total`)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import msgspec

from gateway.domain import Authorization, Page, ProviderName, Seal
from gateway.ops.metrics import READ_CACHE
from gateway.shared.state import SharedState

T = TypeVar("T")

# Links and authorisations are not served closer than this to their end.
EXPIRY_MARGIN_S = 30.0
# The generation counter outlives any entry by far.
GENERATION_TTL_S = 30 * 86_400.0

PAGE_OF_SEALS = Page[Seal]
PAGE_OF_AUTHORIZATIONS = Page[Authorization]
SEALS = list[Seal]

# JSON, not MessagePack: its times keep their offsets (+08:00), so a hit answers the same bytes
_encoder = msgspec.json.Encoder()
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def _decoder(kind: Any) -> msgspec.json.Decoder[Any]:
    found = _decoders.get(kind)
    if found is None:
        found = _decoders[kind] = msgspec.json.Decoder(kind)
    return found


class ReadCache:
    """The process's read cache over the shared state; one per app."""

    def __init__(self, state: SharedState, ttl_s: float) -> None:
        self.state = state
        self.ttl_s = ttl_s

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0

    @staticmethod
    def _generation_key(tenant: str) -> str:
        return f"readcache:{tenant}:generation"

    async def generation(self, tenant: str) -> int | None:
        """The tenant's generation now; None when nothing may be cached."""
        if getattr(self.state, "degraded", False):
            return None
        raw = await self.state.get(self._generation_key(tenant))
        if getattr(self.state, "degraded", False):
            return None
        return 0 if raw is None else int(raw)

    async def invalidate(self, tenant: str) -> None:
        """Every entry of the tenant's is stale from now on."""
        await self.state.incr(self._generation_key(tenant), GENERATION_TTL_S)

    def for_request(self, tenant: str) -> RequestCache | None:
        return RequestCache(self, tenant) if self.enabled else None


class RequestCache:
    """One request's use of the cache: the generation it reads under, read once."""

    def __init__(self, cache: ReadCache, tenant: str) -> None:
        self.cache = cache
        self.tenant = tenant
        self._generation: int | None = None
        self._read = False
        self._changed = False

    def changed(self) -> None:
        """A write of this request reached a vendor: what was cached is stale, and reads from
        here on fetch afresh."""
        self._changed = True
        self._read = False

    async def settle(self) -> None:
        """Ends the tenant's entries now if a write of this request changed something (a write
        need not read anything after it)."""
        if self._changed:
            self._changed = False
            await self.cache.invalidate(self.tenant)

    async def _current(self) -> int | None:
        if self._changed:
            self._changed = False
            await self.cache.invalidate(self.tenant)
        if not self._read:
            self._generation = await self.cache.generation(self.tenant)
            self._read = True
        return self._generation

    def _key(self, generation: int, read: str, provider: ProviderName, parts: str) -> str:
        digest = hashlib.blake2s(parts.encode(), digest_size=12).hexdigest()
        return f"readcache:{self.tenant}:{generation}:{provider.value}:{read}:{digest}"

    async def through(
        self,
        read: str,
        provider: ProviderName,
        parts: str,
        kind: Any,
        fetch: Callable[[], Awaitable[T]],
    ) -> T:
        """`fetch()`'s answer, from the cache when it holds one for these parts."""
        generation = await self._current()
        if generation is None:
            return await fetch()
        key = self._key(generation, read, provider, parts)
        raw = await self.cache.state.get(key)
        if raw is not None:
            READ_CACHE.labels(provider.value, read, "hit").inc()
            found: T = _decoder(kind).decode(raw)
            return found
        READ_CACHE.labels(provider.value, read, "miss").inc()
        value = await fetch()
        await self._store(key, value)
        return value

    async def many(
        self,
        read: str,
        provider: ProviderName,
        scope_part: str,
        ids: Sequence[str],
        fetch: Callable[[list[str]], Awaitable[list[Seal | Exception]]],
    ) -> list[Seal | Exception]:
        """Seals by id: those cached from the cache, the rest in one fetch (failures are
        answered, never kept)."""
        generation = await self._current()
        if generation is None:
            return await fetch(list(ids))
        keys = [self._key(generation, read, provider, f"{scope_part}|{i}") for i in ids]
        cached = await self.cache.state.get_many(*keys)
        found: dict[str, Seal | Exception] = {}
        missing: list[str] = []
        decoder = _decoder(Seal)
        for vendor_id, raw in zip(ids, cached, strict=True):
            if raw is None:
                missing.append(vendor_id)
            else:
                found[vendor_id] = decoder.decode(raw)
        READ_CACHE.labels(provider.value, read, "hit").inc(len(ids) - len(missing))
        if missing:
            READ_CACHE.labels(provider.value, read, "miss").inc(len(missing))
            fetched = await fetch(missing)
            for vendor_id, result in zip(missing, fetched, strict=True):
                found[vendor_id] = result
                if not isinstance(result, Exception):
                    await self._store(
                        self._key(generation, read, provider, f"{scope_part}|{vendor_id}"), result
                    )
        return [found[i] for i in ids]

    async def _store(self, key: str, value: Any) -> None:
        ttl = min(self.cache.ttl_s, _seconds_to_first_end(value) - EXPIRY_MARGIN_S)
        if ttl > 0:
            await self.cache.state.set(key, _encoder.encode(value), ttl)


def _seconds_to_first_end(value: Any) -> float:
    """Seconds until the first link or authorisation in `value` ends (inf for none; what has
    ended already was ended when it was read, and says so)."""
    now = time.time()
    ends = [e.timestamp() - now for e in _ends(value) if e is not None and e.timestamp() > now]
    return min(ends, default=float("inf"))


def _ends(value: Any) -> list[datetime | None]:
    if isinstance(value, Page):
        return [end for item in value.items for end in _ends(item)]
    if isinstance(value, list):
        return [end for item in value for end in _ends(item)]
    if isinstance(value, Seal):
        return [link.expires_at for link in (value.image, value.watermarked_image) if link]
    if isinstance(value, Authorization):
        return [value.expires_at]
    return []


__all__ = ["PAGE_OF_AUTHORIZATIONS", "PAGE_OF_SEALS", "SEALS", "ReadCache", "RequestCache"]
