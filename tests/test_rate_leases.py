"""A caller's rate limit counted in Redis a few requests at a time (`Leases`,
SEALGW_RATE_LIMIT_LEASES): several processes (here, limiters with storages of their own over
one real Redis server) never admit more than the limit, ask Redis far less often than once a
request for a busy caller, and count one request at a time where leases cannot help."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from gateway.access.callers import Leases, RateLimiter
from gateway.domain import Caller, Role
from gateway.shared import RedisAddress
from gateway.shared.counters import LocalCounters
from tests.redis_servers import single_server

ALICE = Caller("default", Role.VIEWER, "alice")
BOB = Caller("default", Role.VIEWER, "bob")


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with single_server() as deployment:
        yield deployment.url


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, bool]]:
    """Every hit a limiter sent to Redis (its own in-memory window not counted): its cost, and
    whether Redis counted it."""
    hits: list[tuple[int, bool]] = []
    hit = SlidingWindowCounterRateLimiter.hit

    async def counting(limiter: SlidingWindowCounterRateLimiter, *args: Any, cost: int = 1) -> bool:
        ok = await hit(limiter, *args, cost=cost)
        if not isinstance(limiter.storage, LocalCounters):
            hits.append((cost, ok))
        return ok

    monkeypatch.setattr(SlidingWindowCounterRateLimiter, "hit", counting)
    return hits


def processes(url: str, rate: str, *, leases: bool = True, count: int = 2) -> list[RateLimiter]:
    """`count` limiters as `count` processes would hold them: each its own storage."""
    address = RedisAddress.parse(url)
    return [
        RateLimiter(rate, address.rate_storage(key_prefix=f"leases-{rate}-{leases}"), leases=leases)
        for _ in range(count)
    ]


async def admitted(limiters: list[RateLimiter], caller: Caller, requests: int) -> list[int | None]:
    """Each request's answer (None: admitted), the limiters taking turns."""
    return [await limiters[n % len(limiters)].retry_after(caller) for n in range(requests)]


def test_two_processes_never_admit_more_than_the_limit_and_a_busy_caller_asks_redis_less(
    redis_url: str, counted: list[tuple[int, bool]]
) -> None:
    async def scenario() -> None:
        limiters = processes(redis_url, "1000/minute")
        answers = await admitted(limiters, ALICE, 1_500)
        yes = answers.count(None)
        # Redis counted every admission before it was made: never more than the limit, and early
        # by at most the leases the processes held unused (at most 10 each)
        in_redis = sum(cost for cost, ok in counted if ok)
        assert yes <= in_redis <= 1_000
        assert yes >= 1_000 - 2 * 10
        # a round trip for several admissions (a refusal is one round trip each, as before)
        assert len([hit for hit in counted if hit[1]]) < yes / 4
        refused = [answer for answer in answers if answer is not None]
        assert refused
        assert all(answer >= 1 for answer in refused)
        assert None not in answers[-100:]  # once the window is full, for both processes
        # another caller has a window of its own
        assert await admitted(limiters, BOB, 10) == [None] * 10

    asyncio.run(scenario())


def test_near_its_limit_a_caller_is_counted_one_request_at_a_time(
    redis_url: str, counted: list[tuple[int, bool]]
) -> None:
    async def scenario() -> None:
        limiters = processes(redis_url, "200/minute")  # leases of at most 2
        answers = await admitted(limiters, ALICE, 260)
        assert 200 - 2 * 2 <= answers.count(None) <= 200
        # each process's lease refused once, then single hits only (exact near the limit)
        assert [hit for hit in counted if hit == (2, False)] == [(2, False)] * 2
        last_lease = max(n for n, (cost, _) in enumerate(counted) if cost == 2)
        assert counted[last_lease] == (2, False)
        assert {cost for cost, _ in counted[last_lease + 1 :]} == {1}

    asyncio.run(scenario())


@pytest.mark.parametrize(("rate", "leases"), [("1000/minute", False), ("150/minute", True)])
def test_with_leases_off_or_a_limit_too_small_to_share_every_request_is_one_hit(
    redis_url: str, counted: list[tuple[int, bool]], rate: str, leases: bool
) -> None:
    async def scenario() -> None:
        limit = int(rate.split("/")[0])
        answers = await admitted(processes(redis_url, rate, leases=leases), ALICE, limit + 20)
        assert answers[:limit] == [None] * limit  # exact
        assert None not in answers[limit:]
        # one hit per request, counted for the admitted ones only
        assert counted == [(1, True)] * limit + [(1, False)] * 20

    asyncio.run(scenario())


def test_a_lease_grows_with_a_busy_caller_and_is_forgotten_when_unused_in_time(
    redis_url: str, counted: list[tuple[int, bool]]
) -> None:
    async def scenario() -> None:
        (limiter,) = processes(redis_url, "100000/minute", count=1)
        assert await admitted([limiter], ALICE, 200) == [None] * 200
        # doubled while each was used up in time, up to the cap
        assert [cost for cost, _ in counted] == [1, 2, 4, 8, 16, 32, 32, 32, 32, 32, 32]
        await asyncio.sleep(0.6)  # past the lease's half second, 23 admissions of it unused
        assert await admitted([limiter], ALICE, 1) == [None]
        assert counted[-1] == (16, True)  # asked Redis again, for less: this caller slowed down

    asyncio.run(scenario())


def test_leases_are_made_only_for_a_limit_that_can_share_them() -> None:
    async def scenario() -> None:
        assert Leases.for_limit(199, 60) is None
        leases = Leases.for_limit(600, 60)
        assert leases is not None
        assert (leases.max_size, leases.lease_s) == (6, 0.5)
        leases = Leases.for_limit(100_000, 1)
        assert leases is not None
        assert (leases.max_size, leases.lease_s) == (32, 0.1)
        # in one process, no leases: its window is in memory already
        limiter = RateLimiter("100000/minute", LocalCounters(), leases=True)
        assert await admitted([limiter], ALICE, 3) == [None] * 3

    asyncio.run(scenario())


def test_a_table_forgotten_during_a_round_trip_is_no_error() -> None:
    """Callers beyond `MAX_CALLERS` forget the table while another caller's hit is in Redis:
    that caller's lease is made afresh when the answer comes."""
    leases = Leases(4, 0.5)
    key = ("default", "alice")
    assert leases.size(key) == 1
    for n in range(Leases.MAX_CALLERS):
        leases.size(("default", f"caller-{n}"))  # the table fills and is forgotten
    leases.counted(key, 4)
    assert [leases.take(key) for _ in range(4)] == [True, True, True, False]
    leases.refused(("default", "bob"))  # nor for a refusal
    assert leases.size(("default", "bob")) == 1
