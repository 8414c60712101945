"""The in-process storage of rate-limit windows: a `limits` storage (the library's extension
point for a backend) for its sliding window counter strategy, kept in one dict.

`limits`' own in-memory storage for asyncio starts a task on nearly every hit that walks every
key it holds to drop the expired ones, so a hit cost time in proportion to the callers seen in
the last two windows: about 10 µs with one caller, 82 µs with 1,000 (bench/RESULTS.md). Here
an expired counter is dropped when it is read, and the whole table is swept inline at most
once every `sweep_s`; a hit touches two counters and nothing else. No locks: nothing here
awaits between reading a counter and writing it, so no other task can come between.

The window arithmetic is the library's (its in-memory storage's, whose decisions and window
figures `tests/test_rate_limits.py` holds these to, hit for hit under one clock)."""

from __future__ import annotations

import time
from math import floor

from limits.aio.storage import SlidingWindowCounterSupport, Storage
from limits.storage.base import TimestampedSlidingWindow

__all__ = ["LocalCounters"]


class LocalCounters(Storage, SlidingWindowCounterSupport, TimestampedSlidingWindow):
    """Counters with an expiry, in this process; for `limits`' fixed and sliding window
    counter strategies."""

    STORAGE_SCHEME = None  # made by the gateway, never from a URI

    def __init__(self, sweep_s: float = 5.0) -> None:
        super().__init__()
        self.sweep_s = sweep_s
        self._counters: dict[str, tuple[int, float]] = {}  # key: (count, expires at)
        self._next_sweep = 0.0

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return ValueError

    def __len__(self) -> int:
        return len(self._counters)

    # --- the counters, for the strategies and the methods below
    def _count(self, key: str, now: float) -> int:
        counter = self._counters.get(key)
        if counter is None:
            return 0
        if counter[1] <= now:
            del self._counters[key]
            return 0
        return counter[0]

    def _add(self, key: str, expiry: float, amount: int, now: float) -> int:
        """The counter after adding `amount`; a new one lives `expiry` seconds."""
        if now >= self._next_sweep:
            self._sweep(now)
        counter = self._counters.get(key)
        if counter is None or counter[1] <= now:
            count, expires = amount, now + expiry
        else:
            count, expires = counter[0] + amount, counter[1]
        self._counters[key] = (count, expires)
        return count

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + self.sweep_s
        expired = [key for key, (_, expires) in self._counters.items() if expires <= now]
        for key in expired:
            del self._counters[key]

    def _window(self, key: str, expiry: int, now: float) -> tuple[str, int, float, int, float]:
        """The current window's key, and the previous and current counts and what is left of
        them, as `limits`' in-memory storage computes them."""
        previous_key, current_key = self.sliding_window_keys(key, expiry, now)
        previous_count = self._count(previous_key, now)
        current_count = self._count(current_key, now)
        previous_ttl = (
            0.0 if previous_count == 0 else (1 - (((now - expiry) / expiry) % 1)) * expiry
        )
        current_ttl = (1 - ((now / expiry) % 1)) * expiry + expiry
        return current_key, previous_count, previous_ttl, current_count, current_ttl

    # --- limits' Storage
    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return self._add(key, expiry, amount, time.time())

    async def get(self, key: str) -> int:
        return self._count(key, time.time())

    async def get_expiry(self, key: str) -> float:
        now = time.time()
        counter = self._counters.get(key)
        return counter[1] if counter is not None and counter[1] > now else now

    async def check(self) -> bool:
        return True

    async def reset(self) -> int | None:
        count = len(self._counters)
        self._counters.clear()
        return count

    async def clear(self, key: str) -> None:
        self._counters.pop(key, None)

    # --- limits' SlidingWindowCounterSupport
    async def acquire_sliding_window_entry(
        self, key: str, limit: int, expiry: int, amount: int = 1
    ) -> bool:
        if amount > limit:
            return False
        now = time.time()
        current_key, previous_count, previous_ttl, current_count, _ = self._window(key, expiry, now)
        if floor(previous_count * previous_ttl / expiry + current_count) + amount > limit:
            return False
        # a new current window lives two windows: it is the previous one during the next
        self._add(current_key, 2 * expiry, amount, now)
        return True

    async def get_sliding_window(self, key: str, expiry: int) -> tuple[int, float, int, float]:
        _, previous_count, previous_ttl, current_count, current_ttl = self._window(
            key, expiry, time.time()
        )
        return previous_count, previous_ttl, current_count, current_ttl

    async def clear_sliding_window(self, key: str, expiry: int) -> None:
        previous_key, current_key = self.sliding_window_keys(key, expiry, time.time())
        self._counters.pop(previous_key, None)
        self._counters.pop(current_key, None)
