"""State that several gateway processes must agree on: vendor tokens, circuit breakers,
idempotency records and rate-limit windows.

One small key-value interface with two implementations: `LocalState` (this process only, the
default) and `RedisState` (every process pointed at the same `SEALGW_REDIS_URL`). Keys expire;
`set(..., only_if_absent=True)` is the one atomic step the callers build their locks on."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Protocol

from redis.asyncio import Redis


class SharedState(Protocol):
    """Expiring keys. `shared` says whether other processes see them."""

    shared: bool

    async def get(self, key: str) -> bytes | None: ...

    async def get_many(self, *keys: str) -> list[bytes | None]: ...

    async def set(
        self, key: str, value: bytes, ttl_s: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        """Store `value`; with `only_if_absent`, only when the key is not there (then False)."""
        ...

    async def incr(self, key: str, ttl_s: float) -> int:
        """Add one to a counter; its expiry starts at its first increment."""
        ...

    async def delete(self, *keys: str) -> None: ...

    async def aclose(self) -> None: ...


class LocalState:
    """This process's memory, bounded: the oldest keys go first past `max_keys`."""

    shared = False

    def __init__(self, max_keys: int = 20_000) -> None:
        self._items: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._max_keys = max_keys

    def _live(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and time.monotonic() >= expires:
            del self._items[key]
            return None
        return value

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def get_many(self, *keys: str) -> list[bytes | None]:
        return [self._live(key) for key in keys]

    async def set(
        self, key: str, value: bytes, ttl_s: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        if only_if_absent and self._live(key) is not None:
            return False
        self._items[key] = (value, None if ttl_s is None else time.monotonic() + ttl_s)
        self._items.move_to_end(key)
        while len(self._items) > self._max_keys:
            self._items.popitem(last=False)
        return True

    async def incr(self, key: str, ttl_s: float) -> int:
        current = self._live(key)
        if current is None:
            await self.set(key, b"1", ttl_s)
            return 1
        value = int(current) + 1
        self._items[key] = (str(value).encode(), self._items[key][1])
        return value

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()

    async def aclose(self) -> None:
        self.clear()


def _as_bytes(value: bytes | str | None) -> bytes | None:
    """Redis answers bytes (the client does not decode); its stubs allow for str."""
    return value.encode() if isinstance(value, str) else value


class RedisState:
    """A Redis server shared by every gateway process; keys under `prefix`."""

    shared = True

    def __init__(self, url: str, prefix: str = "sealgw:") -> None:
        self.url = url
        self._redis = Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._prefix = prefix

    async def get(self, key: str) -> bytes | None:
        value = await self._redis.get(self._prefix + key)
        return _as_bytes(value)

    async def get_many(self, *keys: str) -> list[bytes | None]:
        values = await self._redis.mget([self._prefix + k for k in keys])
        return [_as_bytes(v) for v in values]

    async def set(
        self, key: str, value: bytes, ttl_s: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        px = None if ttl_s is None else max(1, int(ttl_s * 1000))
        done = await self._redis.set(self._prefix + key, value, px=px, nx=only_if_absent)
        return bool(done)

    async def incr(self, key: str, ttl_s: float) -> int:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(self._prefix + key)
            # NX: the window starts at the first failure, later ones do not extend it
            pipe.pexpire(self._prefix + key, max(1, int(ttl_s * 1000)), nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def delete(self, *keys: str) -> None:
        if keys:
            await self._redis.delete(*(self._prefix + k for k in keys))

    async def ping(self) -> None:
        await self._redis.ping()

    async def aclose(self) -> None:
        await self._redis.aclose()


async def wait_while_held(
    state: SharedState, key: str, *, timeout_s: float, interval_s: float = 0.05
) -> bool:
    """Poll until `key` (another process's lock) is gone, at most `timeout_s`; False if it
    is still held. Processes share no event to wait on, so they look again now and then."""
    for _ in range(max(1, int(timeout_s / interval_s))):
        if await state.get(key) is None:
            return True
        await asyncio.sleep(interval_s)
    return await state.get(key) is None


def state_from_url(url: str | None) -> SharedState:
    return LocalState() if url is None else RedisState(url)
