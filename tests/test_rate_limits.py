"""The in-process storage of rate-limit windows (gateway/shared/counters.py) against `limits`'
own in-memory storage: the same decisions and the same window figures, hit for hit, under one
clock; and a hit that does not walk the other callers' counters."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import FixedWindowRateLimiter, SlidingWindowCounterRateLimiter

from gateway.shared.counters import LocalCounters


class Clock:
    def __init__(self) -> None:
        self.now = 1_764_000_000.25

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(time, "time", clock)
    return clock


@pytest.mark.parametrize("strategy", [SlidingWindowCounterRateLimiter, FixedWindowRateLimiter])
@pytest.mark.parametrize("rate", ["5/second", "10/minute", "3/5 seconds"])
def test_decisions_and_windows_are_the_librarys(clock: Clock, strategy: Any, rate: str) -> None:
    """Random hits (costs 1 to 3, three callers, gaps from nothing to two windows): every
    decision, every window's reset time and remaining count as with `limits`' own storage."""
    item = parse(rate)
    period = item.get_expiry()
    draw = random.Random(f"{strategy.__name__} {rate}")
    # gaps between hits, in windows: mostly bursts, now and then a quiet spell
    gaps = [0.0, 0.0, 0.0, 0.0, 1 / 200, 1 / 40, 1 / 7, 1 / 2, 2.0]

    async def scenario() -> None:
        ours = strategy(LocalCounters())
        theirs = strategy(MemoryStorage())
        admitted = refused = 0
        for _ in range(1000):
            clock.now += draw.choice(gaps) * period
            caller = draw.choice(["alice", "bob", "carol"])
            cost = draw.choice([1, 1, 1, 2, 3])
            decision = await ours.hit(item, "caller", caller, cost=cost)
            assert decision == await theirs.hit(item, "caller", caller, cost=cost)
            admitted, refused = admitted + decision, refused + (not decision)
            assert await ours.get_window_stats(item, "caller", caller) == (
                await theirs.get_window_stats(item, "caller", caller)
            )
            assert await ours.test(item, "caller", caller) == (
                await theirs.test(item, "caller", caller)
            )
        # both sides of the limit were reached
        assert admitted > 20
        assert refused > 20
        await ours.clear(item, "caller", "alice")
        assert await ours.hit(item, "caller", "alice", cost=item.amount)

    asyncio.run(scenario())


def test_a_hit_leaves_other_callers_counters_alone_until_the_sweep(clock: Clock) -> None:
    """Expired counters of callers gone quiet stay until the next sweep (a hit reads only its
    own), are dropped by it, and count for nothing meanwhile."""
    item = parse("2/second")
    storage = LocalCounters(sweep_s=10.0)
    limiter = SlidingWindowCounterRateLimiter(storage)

    async def scenario() -> None:
        for n in range(1000):
            assert await limiter.hit(item, "caller", f"quiet-{n}")
        assert len(storage) == 1000
        clock.now += 3.0  # every quiet caller's counter has expired (two windows)
        assert await limiter.hit(item, "caller", "busy")
        assert len(storage) == 1001  # not walked: the sweep is not due
        assert await limiter.get_window_stats(item, "caller", "quiet-1") == (
            await SlidingWindowCounterRateLimiter(MemoryStorage()).get_window_stats(
                item, "caller", "quiet-1"
            )
        )
        clock.now += 10.0
        assert await limiter.hit(item, "caller", "busy")
        assert len(storage) == 1  # swept: the busy caller's new window alone

    asyncio.run(scenario())


def test_the_storage_answers_as_a_limits_storage(clock: Clock) -> None:
    storage = LocalCounters()

    async def scenario() -> None:
        assert await storage.check()
        assert await storage.incr("k", 10) == 1
        assert await storage.incr("k", 10, amount=4) == 5
        assert await storage.get("k") == 5
        assert await storage.get_expiry("k") == clock.now + 10
        clock.now += 10
        assert await storage.get("k") == 0
        assert await storage.get_expiry("k") == clock.now
        assert await storage.incr("k", 10) == 1  # a new window
        await storage.clear("k")
        assert await storage.get("k") == 0
        await storage.incr("a", 10)
        await storage.incr("b", 10)
        assert await storage.reset() == 2
        assert len(storage) == 0

    asyncio.run(scenario())
