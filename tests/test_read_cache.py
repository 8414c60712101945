"""The read cache (SEALGW_READ_CACHE_SECONDS): a hit costs no vendor call and answers the same
bytes; every seal event of the tenant (the gateway's writes, e签宝's notifications, 云银签's
detected changes) ends what was kept, at once; links are never served past their expiry."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from gateway.domain import ImageLink, Page, ProviderName, Seal, SealAttr, SealKey
from gateway.sandbox import Sandbox
from gateway.service.cache import EXPIRY_MARGIN_S, PAGE_OF_SEALS, ReadCache
from gateway.shared import LocalState
from tests.conftest import AUTH, StartGateway
from tests.events_client import events, notify
from tests.test_read_path import global_id
from tests.test_seal_events import YUNYIN_SEAL, audit, esign_seal, rename
from tests.test_seal_events_sources import console_rename, wait_for

pytestmark = pytest.mark.timeout(120)

PAGE = """{ seals(first: 10) { edges { node { id provider name bizType status style isDefault
  createdAt } } pageInfo { endCursor hasNextPage } } }"""
DETAIL = """query($id: ID!) { seal(id: $id) { id name status isDefault
  authorizations(first: 5) { edges { node { id role status } } } } }"""
WITH_IMAGES = "{ seals(first: 10) { edges { node { id name image { url expiresAt } } } } }"


def post(url: str, query: str, variables: dict[str, object] | None = None) -> bytes:
    response = httpx.post(
        f"{url}/graphql", json={"query": query, "variables": variables or {}}, headers=AUTH
    )
    assert response.status_code == 200
    assert "errors" not in response.json(), response.text
    return response.content


def vendor_calls(sandbox: Sandbox) -> int:
    return sandbox.count("esign") + sandbox.count("yunyin")


def test_a_hit_costs_no_vendor_call_and_answers_the_same_bytes(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    uncached = start_gateway()
    cached = start_gateway(SEALGW_READ_CACHE_SECONDS="60")
    plain = [post(uncached.url, PAGE), post(uncached.url, DETAIL, {"id": YUNYIN_SEAL})]
    first = [post(cached.url, PAGE), post(cached.url, DETAIL, {"id": YUNYIN_SEAL})]
    before = vendor_calls(sandbox)
    again = [post(cached.url, PAGE), post(cached.url, DETAIL, {"id": YUNYIN_SEAL})]
    assert vendor_calls(sandbox) == before  # hits only
    assert plain == first == again
    # signed image links: the same link again while it is valid
    assert post(cached.url, WITH_IMAGES) == post(cached.url, WITH_IMAGES)
    metrics = httpx.get(f"{cached.url}/metrics").text
    hits = [line for line in metrics.splitlines() if line.startswith("sealgw_read_cache_total")]
    assert any('outcome="hit"' in line and not line.endswith(" 0.0") for line in hits), hits


def test_the_gateways_own_write_ends_what_was_kept(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    gateway = start_gateway(SEALGW_READ_CACHE_SECONDS="60")
    post(gateway.url, DETAIL, {"id": YUNYIN_SEAL})
    rename(gateway.url, "写后即新")
    answer = httpx.post(
        f"{gateway.url}/graphql",
        json={"query": DETAIL, "variables": {"id": YUNYIN_SEAL}},
        headers=AUTH,
    ).json()
    assert answer["data"]["seal"]["name"] == "写后即新"


def test_an_esign_notification_ends_what_was_kept(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    gateway = start_gateway(SEALGW_READ_CACHE_SECONDS="60")
    seal = esign_seal(sandbox)
    query = "query($id: ID!) { seal(id: $id) { status rejectReason } }"
    variables = {"id": global_id("Seal", f"esign:{seal}")}
    before = httpx.post(
        f"{gateway.url}/graphql", json={"query": query, "variables": variables}, headers=AUTH
    ).json()["data"]["seal"]
    # e签宝's reviewer rejects it; e签宝 says so
    found = next(s for s in sandbox.esign_seals if s.seal_id == seal)
    found.status, found.reject_reason = 3, "印章内容不符合要求"
    stale = httpx.post(
        f"{gateway.url}/graphql", json={"query": query, "variables": variables}, headers=AUTH
    ).json()["data"]["seal"]
    assert stale == before  # kept: nothing told the gateway yet
    assert notify(gateway.url, audit(seal, passed=False, name="缓存失效")).status_code == 200
    fresh = httpx.post(
        f"{gateway.url}/graphql", json={"query": query, "variables": variables}, headers=AUTH
    ).json()["data"]["seal"]
    assert fresh == {"status": "REJECTED", "rejectReason": "印章内容不符合要求"}


def test_a_detected_change_ends_what_was_kept(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    gateway = start_gateway(SEALGW_READ_CACHE_SECONDS="60", SEALGW_CHANGE_POLL_SECONDS="0.3")
    time.sleep(0.6)
    _, start = events(gateway.url)
    query = "query($id: ID!) { seal(id: $id) { name } }"
    variables = {"id": YUNYIN_SEAL}

    def name() -> str:
        body = httpx.post(
            f"{gateway.url}/graphql", json={"query": query, "variables": variables}, headers=AUTH
        ).json()
        value: str = body["data"]["seal"]["name"]
        return value

    kept = name()
    console_rename(sandbox, 50001, "控制台新名")
    wait_for(gateway.url, start, lambda e: e["source"] == "CHANGE_DETECTED")
    assert kept != "控制台新名"
    assert name() == "控制台新名"


def test_an_entry_ends_before_the_links_it_holds() -> None:
    async def run() -> None:
        state = LocalState()
        cache = ReadCache(state, 3600)
        request = cache.for_request("default")
        assert request is not None

        def seal(expires_in_s: float) -> Seal:
            link = ImageLink("https://x/1.png", datetime.now(UTC) + timedelta(seconds=expires_in_s))
            return Seal(SealKey(ProviderName.ESIGN, "1"), frozenset({SealAttr.IMAGE}), image=link)

        async def fetch_soon() -> Page[Seal]:
            return Page([seal(EXPIRY_MARGIN_S + 2)], 1)

        async def fetch_now() -> Page[Seal]:
            return Page([seal(EXPIRY_MARGIN_S - 1)], 1)

        await request.through("page", ProviderName.ESIGN, "a", PAGE_OF_SEALS, fetch_soon)
        await request.through("page", ProviderName.ESIGN, "b", PAGE_OF_SEALS, fetch_now)
        keys = [k for k in state._items if ":page:" in k]  # the store itself
        assert len(keys) == 1  # the link about to expire was not kept at all
        await asyncio.sleep(2.2)
        assert await state.get(keys[0]) is None  # gone before its link's margin

    asyncio.run(run())
