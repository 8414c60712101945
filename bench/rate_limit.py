"""The cost of one caller's rate-limit hit in this process, by how many other callers the
window storage holds: `limits`' own in-memory storage for asyncio against the gateway's
(`LocalCounters`, gateway/shared/counters.py), through `limits`' sliding window counter
strategy as the gateway uses it. Each hit is followed by one turn of the event loop (as a
request gives the loop back), so a storage's background work is paid for too.

    python bench/rate_limit.py [--hits 20000]

In process only; bounded (at most 10,000 callers, --hits hits a row)."""

from __future__ import annotations

import argparse
import asyncio
import time

import uvloop
from limits import parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from gateway.shared.counters import LocalCounters

CALLERS = (1, 100, 1_000, 10_000)


async def per_hit(storage: Storage, callers: int, hits: int) -> float:
    """µs per hit of one busy caller, with `callers` callers counted before."""
    limiter = SlidingWindowCounterRateLimiter(storage)
    item = parse("100000000/minute")
    for n in range(callers):
        await limiter.hit(item, "caller", "tenant", f"caller-{n}")
    started = time.perf_counter()
    for _ in range(hits):
        await limiter.hit(item, "caller", "tenant", "caller-0")
        await asyncio.sleep(0)
    return (time.perf_counter() - started) / hits * 1e6


async def main(hits: int) -> None:
    print(f"{'callers held':>12} {'limits MemoryStorage':>22} {'LocalCounters':>15}")
    for callers in CALLERS:
        theirs = await per_hit(MemoryStorage(), callers, hits if callers < 1_000 else hits // 10)
        ours = await per_hit(LocalCounters(), callers, hits)
        print(f"{callers:12,d} {theirs:19.1f} µs {ours:12.1f} µs")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hits", type=int, default=20_000)
    uvloop.run(main(parser.parse_args().hits))
