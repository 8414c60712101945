"""Token lifecycles: fetched once for any number of waiting requests, kept until shortly before
expiry, fetched again once when the vendor says it is invalid, then the request retried once."""

from __future__ import annotations

import asyncio
import concurrent.futures

import msgspec
import pytest

from gateway.domain import MalformedAnswer, ProviderName
from gateway.providers.esign.wire import AccessToken as EsignToken
from gateway.providers.http import Token, TokenCache
from gateway.providers.wire import read_as
from gateway.providers.yunyin.wire import AccessToken as YunyinToken
from gateway.sandbox import Fault, Sandbox
from gateway.shared import LocalState
from tests.conftest import StartGateway

SEALS = "{ seals(first: 3) { edges { node { name } } } }"


def test_expiry_as_string_or_number() -> None:
    esign = ProviderName.ESIGN
    as_text = {"token": "t", "expiresIn": "1569211376807"}
    assert read_as(esign, "the token", as_text, EsignToken).expiresIn == 1569211376807
    as_number = {"accessToken": "t", "expiresIn": 1686096000000, "corpId": 1}
    token = read_as(ProviderName.YUNYIN, "the token", as_number, YunyinToken)
    assert token.expiresIn == 1686096000000
    for bad in ({"token": "t", "expiresIn": "soon"}, {"token": "", "expiresIn": 1}, {}):
        with pytest.raises(MalformedAnswer, match="unexpected shape"):
            read_as(esign, "the token", bad, EsignToken)


def test_one_fetch_for_many_waiters_and_refresh_before_expiry() -> None:
    now = [1000.0]
    fetched: list[int] = []

    async def fetch() -> Token:
        fetched.append(1)
        await asyncio.sleep(0.01)
        return Token(f"t{len(fetched)}", now[0] + 7200)

    async def scenario() -> None:
        cache = TokenCache(fetch, margin_s=300, clock=lambda: now[0])
        tokens = await asyncio.gather(*(cache.get() for _ in range(50)))
        assert set(tokens) == {"t1"}
        assert len(fetched) == 1
        now[0] += 7200 - 301  # still outside the margin
        assert await cache.get() == "t1"
        now[0] += 2  # inside the margin: renewed
        assert await cache.get() == "t2"
        # Two requests refused with the same token: one new fetch between them.
        renewed = await asyncio.gather(cache.renew("t2"), cache.renew("t2"))
        assert renewed == ["t3", "t3"]
        assert len(fetched) == 3
        # A refusal of a token already replaced does not fetch again.
        assert await cache.renew("t1") == "t3"
        assert len(fetched) == 3

    asyncio.run(scenario())


class SharedMemory(LocalState):
    """One in-memory store two caches share, standing in for Redis between two processes."""

    shared = True


class PausedAfterARead(SharedMemory):
    """The second process's view of the store: once `pause` is set, its next read is answered,
    then it stops until `resume` (the first process has stored its new token and released the
    lock meanwhile)."""

    def __init__(self, store: SharedMemory, resume: asyncio.Event) -> None:
        super().__init__()
        self._store, self._resume = store, resume
        self.pause = False
        self.paused = False

    async def get(self, key: str) -> bytes | None:
        value = await self._store.get(key)
        if self.pause:
            self.pause = False
            self.paused = True
            await self._resume.wait()
        return value

    async def set(
        self, key: str, value: bytes, ttl_s: float | None = None, *, only_if_absent: bool = False
    ) -> bool:
        return await self._store.set(key, value, ttl_s, only_if_absent=only_if_absent)

    async def delete(self, *keys: str) -> None:
        await self._store.delete(*keys)


def test_one_renewal_between_processes_that_race_for_it() -> None:
    """Both processes have the revoked token refused. The second reads the store before the
    first has stored the new token, and takes the lock only after the first released it: it
    uses the first one's token instead of fetching one that would revoke it."""
    fetched: list[str] = []

    async def fetch() -> Token:
        fetched.append("t")
        return Token(f"t{len(fetched) + 1}", 10**10)

    async def scenario() -> None:
        store = SharedMemory()
        await store.set("token:k", msgspec.json.encode(Token("t1", 10**10)))
        resume = asyncio.Event()
        first = TokenCache(fetch, state=store, key="k")
        view = PausedAfterARead(store, resume)
        second = TokenCache(fetch, state=view, key="k")
        assert await first.get() == await second.get() == "t1"
        view.pause = True
        waiting = asyncio.create_task(second.renew("t1"))
        await asyncio.sleep(0)
        assert view.paused  # the second has read t1 and waits
        assert await first.renew("t1") == "t2"
        resume.set()
        assert await waiting == "t2"
        assert fetched == ["t"]

    asyncio.run(scenario())


def _concurrent(gateway_query: object, count: int) -> None:
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        for result in pool.map(lambda _: gateway_query(SEALS), range(count)):  # type: ignore[operator]
            assert "errors" not in result, result


def test_esign_token_mode_fetches_once_and_renews_once(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    gateway = start_gateway("ESIGN", SEALGW_ESIGN_AUTH_MODE="token")
    _concurrent(gateway.query, 20)
    assert sandbox.count("esign:token") == 1
    # identical reads in flight at the same moment share one call
    assert 1 <= sandbox.count("esign:v1.list") <= 20
    listed = [r for r in sandbox.requests if r.endpoint == "v1.list"]
    assert all("x-tsign-open-token" in r.headers for r in listed)
    assert not any("x-tsign-open-ca-signature" in r.headers for r in listed)

    sandbox.expire_tokens("esign")
    sandbox.reset_counts()
    _concurrent(gateway.query, 10)
    assert sandbox.count("esign:token") == 1  # one renewal for all the refused requests
    # each refused call was sent again once (identical calls in flight are shared)
    calls = sandbox.count("esign:v1.list")
    assert 2 <= calls <= 20


def test_token_refused_twice_is_an_auth_error(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    gateway = start_gateway("ESIGN", SEALGW_ESIGN_AUTH_MODE="token")
    sandbox.faults.append(
        Fault("esign", "v1.list", status=401, code="401", message="TOKEN错误", times=2)
    )
    body = gateway.query(SEALS)
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "UPSTREAM_AUTH_FAILED"
    assert error["extensions"]["provider"] == "ESIGN"
    assert sandbox.count("esign:v1.list") == 2  # the first try and one retry, no more
    assert sandbox.count("esign:token") == 2


def test_yunyin_token_headers_and_renewal(start_gateway: StartGateway, sandbox: Sandbox) -> None:
    gateway = start_gateway("YUNYIN", SEALGW_YUNYIN_SOURCE="ERP")
    _concurrent(gateway.query, 10)
    assert sandbox.count("yunyin:token") == 1
    listed = [r for r in sandbox.requests if r.endpoint == "getSealListByPage"]
    assert {r.headers["appid"] for r in listed} == {"sandbox-yunyin-app"}
    assert {r.headers["userid"] for r in listed} == {"20001"}
    assert {r.headers["source"] for r in listed} == {"ERP"}
    token_request = next(r for r in sandbox.requests if r.endpoint == "token")
    assert token_request.method == "POST"
    assert b"appSecret" in token_request.body

    sandbox.expire_tokens("yunyin")
    sandbox.reset_counts()
    assert "errors" not in gateway.query(SEALS)
    assert sandbox.count("yunyin:token") == 1
    assert sandbox.count("yunyin:getSealListByPage") == 2  # refused, then retried
