"""Surviving the vendors over real HTTP: one deadline per request, reads that heal, a circuit
breaker per vendor, the gateway's own limit on calls per vendor app, and identical reads in
flight sharing one call. Proved with the sandbox's counters and the answers clients see."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from typing import Any

import httpx
import pytest

from gateway.sandbox import Sandbox
from gateway.sandbox.state import Fault
from tests.conftest import AUTH, PAGE_FAILURES, Gateway, StartGateway, failures
from tests.test_esign_writes import esign_id
from tests.test_read_path import ESIGN_A
from tests.test_write_path import CREATE

SEALS = (
    "query($n: Int) { seals(first: $n) { unavailableProviders "
    + PAGE_FAILURES
    + " edges { node { provider vendorId } } } }"
)
DETAIL = 'query { seal(id: "%s") { name bizType } }'


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in failures(body)]


def concurrently(gateway: Gateway, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """POST every body at once, each from its own connection, as separate clients would."""

    def post(body: dict[str, Any]) -> dict[str, Any]:
        with httpx.Client(headers=AUTH, timeout=30) as client:
            response = client.post(f"{gateway.url}/graphql", json=body)
            assert response.status_code == 200, response.text
            answer: dict[str, Any] = response.json()
            return answer

    with concurrent.futures.ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(post, bodies))


# --- deadlines ------------------------------------------------------------------------------


BOTH = (
    "query($n: Int) {"
    " yunyin: seals(first: $n, filter: {providers: [YUNYIN]}) { edges { node { provider } } }"
    " esign: seals(first: $n, filter: {providers: [ESIGN]}) { unavailableProviders "
    + PAGE_FAILURES
    + " edges { node { id } } } }"
)


@pytest.mark.timeout(40)
def test_a_hanging_vendor_holds_no_request_past_its_deadline(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    """50 requests at once while e签宝 hangs, with 4 connections to it: without one deadline
    per request they would queue for the pool and time out one batch after another (3 s per
    call here). Each answers at its deadline: 云银签's seals, and e签宝 as UPSTREAM_TIMEOUT."""
    gateway = start_gateway(
        SEALGW_REQUEST_DEADLINE="2.5",
        SEALGW_UPSTREAM_MAX_CONNECTIONS="4",
        SEALGW_BREAKER_FAILURES="1000",
    )
    sandbox.faults.append(Fault("esign", "v1.list", status=200, delay_s=10))
    started = time.monotonic()
    # distinct page sizes: distinct vendor calls, none shared
    answers = concurrently(gateway, [{"query": BOTH, "variables": {"n": n}} for n in range(1, 51)])
    batch_s = time.monotonic() - started
    for n, answer in enumerate(answers, start=1):
        assert len(failures(answer)) == 1, answer
        (error,) = failures(answer)
        assert error["extensions"]["code"] == "UPSTREAM_TIMEOUT"
        assert error["extensions"]["provider"] == "ESIGN"
        esign = answer["data"]["esign"]
        assert (esign["unavailableProviders"], esign["edges"]) == (["ESIGN"], [])
        assert len(answer["data"]["yunyin"]["edges"]) == min(n, 6)  # what arrived
    # the whole batch ended before the vendor's first answer would have come
    assert batch_s < 10


# --- reads that heal, writes sent once ------------------------------------------------------


def test_a_read_is_retried_through_transient_failures(gateway: Gateway, sandbox: Sandbox) -> None:
    seal = ESIGN_A[1]
    sandbox.faults.append(Fault("esign", "v3.detail", status=503, times=1))
    sandbox.faults.append(Fault("esign", "v3.detail", status=429, code="429", times=1))
    body = gateway.query(DETAIL % esign_id(seal.seal_id))
    assert "errors" not in body
    assert body["data"]["seal"]["name"] == seal.name
    assert sandbox.count("esign:v3.detail") == 3


def test_a_refusal_is_not_retried(gateway: Gateway, sandbox: Sandbox) -> None:
    sandbox.faults.append(Fault("esign", "v3.detail", status=200, code="1435002", times=1))
    body = gateway.query(DETAIL % esign_id(ESIGN_A[1].seal_id))
    assert codes(body) == ["UPSTREAM_ERROR"]
    assert sandbox.count("esign:v3.detail") == 1


def test_a_write_is_sent_once(gateway: Gateway, sandbox: Sandbox) -> None:
    sandbox.faults.append(Fault("esign", "v3.createByTemplate", status=503, times=1))
    variables = {"input": {"provider": "ESIGN", "name": "新合同章", "bizType": "CONTRACT"}}
    body = gateway.query(CREATE, variables)
    (error,) = body["errors"]
    assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
    assert error["extensions"]["writeMayHaveHappened"] is True
    assert sandbox.count("esign:v3.createByTemplate") == 1


# --- the circuit breaker ----------------------------------------------------------------------


def breakers(gateway: Gateway) -> dict[str, str]:
    """The breakers as GET /readyz shows them."""
    body = gateway.client.get(f"{gateway.url}/readyz").json()
    return {name: vendor["breaker"] for name, vendor in body["vendors"].items()}


def test_the_breaker_opens_fails_fast_and_closes_after_a_probe(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    gateway = start_gateway(
        SEALGW_BREAKER_FAILURES="3",
        SEALGW_BREAKER_COOLDOWN="0.5",
        SEALGW_UPSTREAM_READ_ATTEMPTS="1",
    )
    sandbox.faults.append(Fault("esign", "v1.list", status=503))
    for _ in range(3):
        assert codes(gateway.query(SEALS)) == ["UPSTREAM_UNAVAILABLE"]
    assert sandbox.count("esign:v1.list") == 3
    assert breakers(gateway) == {"default/esign": "open", "default/yunyin": "closed"}

    # open: e签宝 is not called at all, 云银签's seals still come back
    for _ in range(5):
        body = gateway.query(SEALS)
        (error,) = failures(body)
        assert error["extensions"]["upstreamCode"] == "CIRCUIT_OPEN"
        assert error["extensions"]["code"] == "UPSTREAM_UNAVAILABLE"
        assert body["data"]["seals"]["edges"]
    assert sandbox.count("esign:v1.list") == 3

    # after the cool-down one probe goes through; it fails, and the breaker opens again
    time.sleep(0.6)
    assert breakers(gateway)["default/esign"] == "half-open"
    assert codes(gateway.query(SEALS)) == ["UPSTREAM_UNAVAILABLE"]
    assert sandbox.count("esign:v1.list") == 4
    assert breakers(gateway)["default/esign"] == "open"

    # the vendor recovers: the next probe succeeds and closes the breaker
    sandbox.faults.clear()
    time.sleep(0.6)
    body = gateway.query(SEALS)
    assert "errors" not in body
    assert sandbox.count("esign:v1.list") == 5
    assert breakers(gateway) == {"default/esign": "closed", "default/yunyin": "closed"}


# --- the gateway's own rate limit per vendor app ----------------------------------------------

NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Seal { name bizType } } }"


def test_the_vendor_rate_limit_fails_fast_past_its_queue(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    gateway = start_gateway(SEALGW_ESIGN_RATE_LIMIT="2", SEALGW_VENDOR_RATE_QUEUE="0")
    ids = [esign_id(s.seal_id) for s in ESIGN_A[:5]]
    body = gateway.query(NODES, {"ids": ids})
    assert sorted(codes(body)) == ["VENDOR_RATE_LIMITED"] * 3
    assert sum(node is not None for node in body["data"]["nodes"]) == 2
    assert sandbox.count("esign:v3.detail") == 2  # never more than the vendor allows


def test_the_vendor_rate_limit_queues_briefly(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    gateway = start_gateway(SEALGW_ESIGN_RATE_LIMIT="3", SEALGW_VENDOR_RATE_QUEUE="3")
    ids = [esign_id(s.seal_id) for s in ESIGN_A[:5]]
    body = gateway.query(NODES, {"ids": ids})
    assert "errors" not in body
    assert [n["name"] for n in body["data"]["nodes"]] == [s.name for s in ESIGN_A[:5]]
    # the moving window: the calls past the first three waited for a second to pass
    details = [r for r in sandbox.requests if r.endpoint == "v3.detail"]
    assert len(details) == 5
    assert sandbox.peak_per_second["esign"] == 3  # as e签宝 counts: within any one second


# --- coalescing across requests ---------------------------------------------------------------


@pytest.mark.timeout(40)
def test_identical_reads_in_flight_share_one_vendor_call(
    start_gateway: StartGateway, sandbox: Sandbox
) -> None:
    # a burst of 100 from one caller: above its default share of the process (96 at once)
    gateway = start_gateway(SEALGW_RATE_LIMIT="1000/minute", SEALGW_MAX_CONCURRENT_PER_CALLER="128")
    sandbox.config.latency_s = 0.3
    seal = ESIGN_A[2]
    answers = concurrently(gateway, [{"query": DETAIL % esign_id(seal.seal_id)}] * 100)
    expected = {"data": {"seal": {"name": seal.name, "bizType": "FINANCE"}}}
    assert [a for a in answers if a != expected] == []
    assert sandbox.count("esign:v3.detail") <= 10  # 100 without sharing


# --- a shared read and each caller's deadline (in process) -----------------------------------


async def _shared_read(
    upstream: Any, answer: asyncio.Event, sent: list[str], deadline_s: float
) -> Any:
    """One caller's read through `upstream`, under a request budget of its own."""
    from gateway.providers.resilience import REQUEST_BUDGET, RequestBudget

    REQUEST_BUDGET.set(RequestBudget(10, deadline_s))

    async def send() -> str:
        sent.append("call")
        await answer.wait()
        return "the seal"

    return await upstream.call(
        send, is_write=False, endpoint="POST /seal/getSealInfo", share_as="k"
    )


def test_a_shared_read_keeps_each_callers_deadline() -> None:
    """Callers of one shared read each get their answer or their own deadline: one that joins
    with an earlier deadline than the call's leaves at it while the call goes on for the
    first; the call itself ends by its starter's deadline, and a later joiner hears that."""
    from gateway.domain import ErrorCode, ProviderName, UpstreamError
    from gateway.providers.resilience import ResilienceSettings, Upstream

    async def scenario() -> None:
        upstream = Upstream(ProviderName.YUNYIN, "t", "app", ResilienceSettings(read_attempts=1))
        answer = asyncio.Event()
        sent: list[str] = []
        loop = asyncio.get_running_loop()
        first = asyncio.create_task(_shared_read(upstream, answer, sent, 5.0))
        await asyncio.sleep(0)
        hurried = asyncio.create_task(_shared_read(upstream, answer, sent, 0.05))
        started = loop.time()
        with pytest.raises(UpstreamError) as left:
            await hurried
        assert 0.04 <= loop.time() - started < 1.0
        assert left.value.code == ErrorCode.UPSTREAM_TIMEOUT
        answer.set()
        assert await first == "the seal"
        assert sent == ["call"]

        # the starter's deadline is the call's: a joiner with a later one hears the call end
        answer = asyncio.Event()
        sent = []
        starter = asyncio.create_task(_shared_read(upstream, answer, sent, 0.05))
        await asyncio.sleep(0)
        patient = asyncio.create_task(_shared_read(upstream, answer, sent, 5.0))
        started = loop.time()
        for caller in (starter, patient):
            with pytest.raises(UpstreamError) as ended:
                await caller
            assert ended.value.code == ErrorCode.UPSTREAM_TIMEOUT
        assert loop.time() - started < 1.0
        assert sent == ["call"]

    asyncio.run(scenario())
