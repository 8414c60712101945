"""State that several gateway processes must agree on: vendor tokens, circuit breakers,
idempotency records and rate-limit windows.

One small key-value interface with two implementations: `LocalState` (this process only, the
default) and `RedisState` (every process pointed at the same `SEALGW_REDIS_URL`: one server, a
Sentinel-watched master or a cluster, see `address`). Keys expire;
`set(..., only_if_absent=True)` is the one atomic step the callers build their locks on.

Redis coordinates; it is not a single point of failure. While it does not answer, `RedisState`
serves from this process's own memory (each process then keeps its own tokens, breakers and
records, as with no Redis at all), says so once in the log and in `degraded`, and tries Redis
again a second later; its connections are health-checked and a command is retried once on a
connection error, so no dead pooled socket outlives an outage."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from redis.asyncio import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ConstantBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.shared.address import RedisAddress

log = logging.getLogger("gateway.shared")

T = TypeVar("T")
# What an unreachable or failing Redis raises: the client's own errors (a cluster none of whose
# nodes answers raises one outside RedisError) and the socket's.
UNAVAILABLE = (RedisError, RedisClusterException, OSError)
# How long after a failure the process stays on its own state before trying Redis again.
RETRY_AFTER_S = 1.0
# One atomic step on one key (so it runs on a cluster too): count, and start the expiry at the
# first increment (or when the key somehow has none); later increments do not extend it.
COUNT_IN_WINDOW = """
local count = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
"""


# A moving window on one key: a sorted set of admission times, on Redis's own clock so that
# every host agrees. Admits when fewer than ARGV[2] admissions fall within the last ARGV[1]
# seconds ('ok'); else answers the seconds until the oldest leaves the window.
ADMIT_IN_WINDOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
  return 'ok'
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return tostring(tonumber(oldest[2]) + window - now)
"""


# Deletes a key only while it holds the value given: a lock released by its holder only, never
# one that expired and was taken by another meanwhile.
RELEASE_IF_HELD = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class SharedState(Protocol):
    """Expiring keys. `shared` says whether other processes see them; `degraded`, whether this
    process stands in for a shared store that did not answer at its last try."""

    shared: bool
    degraded: bool

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

    async def admit(self, key: str, limit: int, window_s: float) -> float:
        """Admit one more use of `key` if fewer than `limit` fall within the last `window_s`
        seconds (0.0); else the seconds until one leaves the window (nothing admitted)."""
        ...

    async def release(self, key: str, value: bytes) -> None:
        """Delete `key` if it still holds `value` (a lock, released by its holder only)."""
        ...

    async def reserve(self, key: str, value: bytes, ttl_s: float) -> bool | None:
        """Store `value` if `key` is absent, in the shared store itself: True if stored, False
        if the key was there, None when the store does not answer (never kept by this process
        alone: for records other processes must see, such as Idempotency-Key claims)."""
        ...

    async def ping(self) -> bool:
        """Whether the store answers now (asking it, whatever its last try said)."""
        ...

    async def aclose(self) -> None: ...


class LocalState:
    """This process's memory, bounded: the oldest keys go first past `max_keys`."""

    shared = False
    degraded = False

    def __init__(self, max_keys: int = 20_000) -> None:
        self._items: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self._max_keys = max_keys
        # moving windows: one per vendor app, a few in all
        self._windows: dict[str, deque[float]] = {}

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

    async def admit(self, key: str, limit: int, window_s: float) -> float:
        now = time.monotonic()
        window = self._windows.setdefault(key, deque())
        while window and window[0] <= now - window_s:
            window.popleft()
        if len(window) < limit:
            window.append(now)
            return 0.0
        return window[0] + window_s - now

    async def release(self, key: str, value: bytes) -> None:
        if self._live(key) == value:
            self._items.pop(key, None)

    async def reserve(self, key: str, value: bytes, ttl_s: float) -> bool | None:
        return await self.set(key, value, ttl_s, only_if_absent=True)

    async def ping(self) -> bool:
        return True

    def clear(self) -> None:
        self._items.clear()
        self._windows.clear()

    async def aclose(self) -> None:
        self.clear()


def _as_bytes(value: bytes | str | None) -> bytes | None:
    """Redis answers bytes (the client does not decode); its stubs allow for str."""
    return value.encode() if isinstance(value, str) else value


class RedisState:
    """A Redis server shared by every gateway process; keys under `prefix`. While it does not
    answer, this process's own memory stands in (see the module's docstring)."""

    shared = True

    def __init__(self, address: RedisAddress, prefix: str = "sealgw:") -> None:
        self.address = address
        self._redis = address.async_client(
            socket_timeout=1.0,
            socket_connect_timeout=1.0,
            health_check_interval=5,
            retry=Retry(ConstantBackoff(0.05), 1),
            retry_on_error=[RedisConnectionError, RedisTimeoutError],
        )
        self._count = self._redis.register_script(COUNT_IN_WINDOW)
        self._admit = self._redis.register_script(ADMIT_IN_WINDOW)
        self._release = self._redis.register_script(RELEASE_IF_HELD)
        self._prefix = prefix
        self._local = LocalState()
        self._down_until = 0.0
        self.degraded = False

    def _failed(self, error: BaseException) -> None:
        if not self.degraded:
            log.warning(
                "the shared state (Redis) does not answer (%s): this process uses its own "
                "tokens, breakers, rate windows and idempotency records until it does",
                type(error).__name__,
            )
        self.degraded = True
        self._down_until = time.monotonic() + RETRY_AFTER_S

    def _answered(self) -> None:
        if self.degraded:
            log.warning("the shared state (Redis) answers again: processes share their state")
        self.degraded = False
        self._down_until = 0.0

    async def _either(
        self, shared: Callable[[], Awaitable[T]], local: Callable[[], Awaitable[T]]
    ) -> T:
        """Redis's answer; this process's own while Redis does not answer."""
        if self.degraded and time.monotonic() < self._down_until:
            return await local()
        try:
            answer = await shared()
        except UNAVAILABLE as error:
            self._failed(error)
            return await local()
        self._answered()
        return answer

    async def _redis_itself(self, shared: Callable[[], Awaitable[T]]) -> T | None:
        """Redis's answer, asked whatever the last try said, or None when it does not answer;
        never this process's stand-in, and other callers keep to theirs meanwhile."""
        try:
            answer = await shared()
        except UNAVAILABLE as error:
            self._failed(error)
            return None
        self._answered()
        return answer

    async def get(self, key: str) -> bytes | None:
        async def shared() -> bytes | None:
            return _as_bytes(await self._redis.get(self._prefix + key))

        return await self._either(shared, lambda: self._local.get(key))

    async def get_many(self, *keys: str) -> list[bytes | None]:
        async def shared() -> list[bytes | None]:
            names = [self._prefix + k for k in keys]
            if isinstance(self._redis, RedisCluster):  # the keys may live on several nodes
                values = await self._redis.mget_nonatomic(names)
            else:
                values = await self._redis.mget(names)
            return [_as_bytes(v) for v in values]

        return await self._either(shared, lambda: self._local.get_many(*keys))

    async def set(
        self, key: str, value: bytes, ttl_s: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        async def shared() -> bool:
            px = None if ttl_s is None else max(1, int(ttl_s * 1000))
            done = await self._redis.set(self._prefix + key, value, px=px, nx=only_if_absent)
            return bool(done)

        return await self._either(
            shared, lambda: self._local.set(key, value, ttl_s, only_if_absent=only_if_absent)
        )

    async def incr(self, key: str, ttl_s: float) -> int:
        async def shared() -> int:
            count = await self._count(keys=[self._prefix + key], args=[max(1, int(ttl_s * 1000))])
            return int(count)

        return await self._either(shared, lambda: self._local.incr(key, ttl_s))

    async def delete(self, *keys: str) -> None:
        if not keys:
            return

        async def shared() -> None:
            await self._redis.delete(*(self._prefix + k for k in keys))

        await self._either(shared, lambda: self._local.delete(*keys))

    async def admit(self, key: str, limit: int, window_s: float) -> float:
        async def shared() -> float:
            answer = await self._admit(
                keys=[self._prefix + key], args=[window_s, limit, os.urandom(8).hex()]
            )
            return 0.0 if answer == b"ok" else max(0.001, float(answer))

        return await self._either(shared, lambda: self._local.admit(key, limit, window_s))

    async def release(self, key: str, value: bytes) -> None:
        async def shared() -> None:
            await self._release(keys=[self._prefix + key], args=[value])

        await self._either(shared, lambda: self._local.release(key, value))

    async def ping(self) -> bool:
        """Whether Redis answers now (and, when it does, the end of a degraded spell)."""

        async def shared() -> bool:
            await self._redis.ping()
            return True

        return await self._redis_itself(shared) is not None

    async def reserve(self, key: str, value: bytes, ttl_s: float) -> bool | None:
        async def shared() -> bool:
            px = max(1, int(ttl_s * 1000))
            return bool(await self._redis.set(self._prefix + key, value, px=px, nx=True))

        return await self._redis_itself(shared)

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
    return LocalState() if url is None else RedisState(RedisAddress.parse(url))
