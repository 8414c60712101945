"""Several gateway processes behaving as one towards the vendors, through a real Redis server
(`SEALGW_REDIS_URL`): one token fetch between them, one breaker, one idempotency record, one
rate-limit window. Each test starts two `seal-gateway serve` processes on loopback."""

from __future__ import annotations

import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis

from gateway.providers.resilience import CLOSED_TRUSTED_S
from gateway.sandbox import Sandbox
from gateway.sandbox.state import Fault
from gateway.shared import RedisAddress, RedisState
from tests.conftest import AUTH, PAGE_FAILURES, SandboxServer, failures
from tests.events_client import events, notify, subscribed
from tests.redis_servers import (
    cluster,
    free_port,
    sentinel_group,
    sentinel_master,
    single_server,
    start_redis,
)
from tests.test_cli import start_serving
from tests.test_esign_writes import esign_id
from tests.test_read_path import ESIGN_A
from tests.test_seal_events import YUNYIN_SEAL, audit, esign_seal, rename
from tests.test_seal_events_sources import console_rename, wait_for
from tests.test_write_path import CREATE

SEALS = "{ seals(first: 3) { " + PAGE_FAILURES + " edges { node { name } } } }"


TOPOLOGIES = {"server": single_server, "sentinel": sentinel_group, "cluster": cluster}


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with single_server() as deployment:
        yield deployment.url


@pytest.fixture(scope="module", params=sorted(TOPOLOGIES))
def shared_redis_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Every promise of shared state, on one server, behind Sentinels and on a cluster."""
    with TOPOLOGIES[request.param]() as deployment:
        yield deployment.url


def flush(url: str) -> None:
    client = RedisAddress.parse(url).sync_client()
    try:
        client.flushall()
    finally:
        client.close()


@pytest.fixture
def two_gateways(
    shared_redis_url: str, sandbox_server: SandboxServer
) -> Iterator[Callable[..., tuple[str, str]]]:
    """Starts two gateway processes sharing the Redis deployment (emptied first)."""
    flush(shared_redis_url)
    processes: list[tuple[subprocess.Popen[str], list[str]]] = []

    def start(**overrides: str) -> tuple[str, str]:
        env = sandbox_server.env(SEALGW_REDIS_URL=shared_redis_url, **overrides)
        urls = []
        for _ in range(2):
            url, process, lines = start_serving(**env)
            processes.append((process, lines))
            urls.append(url)
            # its log read as it comes: a full pipe would stop the process at its next line
            threading.Thread(target=_drain, args=(process, lines), daemon=True).start()
        return urls[0], urls[1]

    yield start
    for process, _ in processes:
        process.terminate()
    for process, lines in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            # stopping is not what these tests hold the processes to; said, with the log's end
            process.kill()
            process.wait()
            warnings.warn(
                "a gateway process did not stop within 20 s of SIGTERM; its log ended: "
                + "".join(lines[-20:]),
                stacklevel=1,
            )


def _drain(process: subprocess.Popen[str], lines: list[str]) -> None:
    """The process's output as it comes, in bytes under the text layer `start_serving` read
    its first lines with (a log line need not be in this machine's locale encoding)."""
    assert process.stdout is not None
    raw = process.stdout.buffer  # type: ignore[attr-defined]
    for line in iter(raw.readline, b""):
        lines.append(line.decode("utf-8", "replace"))


def query(url: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    with httpx.Client(headers=AUTH, timeout=30) as client:
        return client.post(f"{url}/graphql", json=body, headers=headers)


def test_one_token_fetch_between_two_processes(
    two_gateways: Callable[..., tuple[str, str]], sandbox: Sandbox
) -> None:
    """e签宝 revokes an app's older tokens when it issues a new one: processes fetching their
    own would keep invalidating each other's."""
    first, second = two_gateways(SEALGW_ESIGN_AUTH_MODE="token")
    for url in (first, second, first, second):
        assert failures(query(url, {"query": SEALS}).json()) == []
    assert sandbox.count("esign:token") == 1
    assert sandbox.count("yunyin:token") <= 1  # 3 seals: e签宝 alone may fill the page

    sandbox.expire_tokens("esign")
    for url in (second, first, second):
        assert failures(query(url, {"query": SEALS}).json()) == []
    assert sandbox.count("esign:token") == 2  # one renewal, used by both


def test_one_breaker_between_two_processes(
    two_gateways: Callable[..., tuple[str, str]], sandbox: Sandbox
) -> None:
    first, second = two_gateways(
        SEALGW_BREAKER_FAILURES="3", SEALGW_UPSTREAM_READ_ATTEMPTS="1", SEALGW_BREAKER_COOLDOWN="60"
    )
    sandbox.faults.append(Fault("esign", "v1.list", status=503))
    for _ in range(3):
        body = query(first, {"query": SEALS}).json()
        assert failures(body)[0]["extensions"]["upstreamCode"] == "HTTP_503"
    assert sandbox.count("esign:v1.list") == 3
    # the other process has never called e签宝, and does not: the breaker is shared
    body = query(second, {"query": SEALS}).json()
    assert failures(body)[0]["extensions"]["upstreamCode"] == "CIRCUIT_OPEN"
    assert body["data"]["seals"]["edges"]  # 云银签's seals
    assert sandbox.count("esign:v1.list") == 3
    ready = httpx.get(f"{second}/readyz").json()
    assert ready["vendors"]["default/esign"]["breaker"] == "open"
    assert ready["redis"] == "up"


def test_one_idempotency_record_between_two_processes(
    two_gateways: Callable[..., tuple[str, str]], sandbox: Sandbox
) -> None:
    first, second = two_gateways()
    body = {
        "query": CREATE,
        "variables": {"input": {"provider": "YUNYIN", "name": "共享幂等章", "bizType": "CONTRACT"}},
    }
    made = query(first, body, **{"Idempotency-Key": "shared-1"})
    again = query(second, body, **{"Idempotency-Key": "shared-1"})
    assert again.content == made.content
    assert again.headers["idempotent-replayed"] == "true"
    assert sandbox.count("yunyin:createSealByTemplate") == 1


def test_one_rate_limit_between_two_processes(
    two_gateways: Callable[..., tuple[str, str]], sandbox: Sandbox
) -> None:
    first, second = two_gateways(
        SEALGW_RATE_LIMIT="3/minute", SEALGW_ESIGN_RATE_LIMIT="2", SEALGW_VENDOR_RATE_QUEUE="0"
    )
    nodes = {
        "query": "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Seal { bizType } } }",
        "variables": {"ids": [esign_id(ESIGN_A[0].seal_id)]},
    }
    # the vendor app's window: two calls in a second, whichever process makes them
    codes = []
    for url in (first, second, first):
        body = query(url, nodes).json()
        codes.extend(e["extensions"]["code"] for e in body.get("errors", []))
    assert sandbox.count("esign:v3.detail") == 2
    assert codes == ["VENDOR_RATE_LIMITED"]
    # the caller's window: three requests a minute over both processes
    response = query(second, nodes)
    assert response.status_code == 429
    assert response.json()["errors"][0]["extensions"]["code"] == "RATE_LIMITED"


@pytest.mark.parametrize("leases", ["on", "off"])
def test_a_busy_callers_limit_holds_over_two_processes_with_leases_and_without(
    two_gateways: Callable[..., tuple[str, str]], leases: str
) -> None:
    """SEALGW_RATE_LIMIT_LEASES: counted a few at a time (leases of 3 at this limit) or one
    round trip each, a caller alternating between two processes gets the same limit: never
    more, and with leases early by at most what each process holds unused."""
    gateways = two_gateways(
        SEALGW_RATE_LIMIT="300/minute",
        SEALGW_RATE_LIMIT_LEASES=leases,
    )
    statuses = []
    with httpx.Client(headers=AUTH, timeout=30) as client:
        for n in range(330):
            answer = client.post(f"{gateways[n % 2]}/graphql", json={"query": "{ __typename }"})
            statuses.append(answer.status_code)
    admitted = statuses.count(200)
    assert set(statuses) == {200, 429}
    if leases == "off":
        assert admitted == 300
    else:
        assert 300 - 2 * 3 <= admitted <= 300
    assert 200 not in statuses[-20:]


def test_reads_and_writes_go_on_while_redis_is_away(sandbox_server: SandboxServer) -> None:
    """Redis killed under two processes: every read is still answered (each process on its
    own state, saying so in /readyz), a write with an Idempotency-Key is refused with a code
    (never a plain 500) while one without runs; once Redis is back the processes share their
    state again, and the keyed write runs once."""
    port = free_port()
    server = start_redis(port)
    processes = []
    try:
        env = sandbox_server.env(SEALGW_REDIS_URL=f"redis://127.0.0.1:{port}/0")
        urls = []
        for _ in range(2):
            url, process, _ = start_serving(**env)
            processes.append(process)
            urls.append(url)
        for url in urls:
            assert failures(query(url, {"query": SEALS}).json()) == []
        server.kill()
        server.wait(timeout=10)
        for _ in range(5):
            for url in urls:
                answer = query(url, {"query": SEALS})
                assert answer.status_code == 200, answer.text
                assert len(answer.json()["data"]["seals"]["edges"]) == 3
        ready = httpx.get(f"{urls[0]}/readyz")
        assert ready.status_code == 200
        assert ready.json()["redis"].startswith("unreachable")
        body = {
            "query": CREATE,
            "variables": {
                "input": {"provider": "YUNYIN", "name": "停机幂等章", "bizType": "CONTRACT"}
            },
        }
        # a write with an Idempotency-Key waits for the shared state: a record only one
        # process knew would let a retry reaching the other write twice
        refused = query(urls[0], body, **{"Idempotency-Key": "outage-1"})
        assert refused.status_code == 503, refused.text
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["errors"][0]["extensions"]["code"] == "SHARED_STATE_UNAVAILABLE"
        assert sandbox_server.sandbox.count("yunyin:createSealByTemplate") == 0
        # one without a key runs as ever
        keyless = {
            "query": CREATE,
            "variables": {
                "input": {"provider": "YUNYIN", "name": "停机无键章", "bizType": "CONTRACT"}
            },
        }
        made = query(urls[1], keyless)
        assert made.json()["data"]["createTemplateSeal"]["seal"]["name"] == "停机无键章"
        server = start_redis(port)
        deadline = time.monotonic() + 10
        while httpx.get(f"{urls[1]}/readyz").json()["redis"] != "up":
            assert time.monotonic() < deadline, "Redis not seen again"
            time.sleep(0.2)
        for url in urls:
            answer = query(url, {"query": SEALS})
            assert answer.status_code == 200
            assert failures(answer.json()) == []
        # the refused keyed write, sent again: it runs once, and the other process replays it
        again = query(urls[1], body, **{"Idempotency-Key": "outage-1"})
        assert again.json()["data"]["createTemplateSeal"]["seal"]["name"] == "停机幂等章"
        replayed = query(urls[0], body, **{"Idempotency-Key": "outage-1"})
        assert replayed.content == again.content
        assert replayed.headers["idempotent-replayed"] == "true"
        assert sandbox_server.sandbox.count("yunyin:createSealByTemplate") == 2
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)
        server.kill()
        server.wait(timeout=10)


def test_a_sentinel_failover_under_two_processes(sandbox_server: SandboxServer) -> None:
    """The master killed under two processes: every read is answered throughout, the Sentinels
    promote the replica, and the processes share their state on it: the idempotency record
    made before the failover replays, a new keyed write runs once, e签宝's token stays one."""
    with sentinel_group() as deployment:
        env = sandbox_server.env(SEALGW_REDIS_URL=deployment.url, SEALGW_ESIGN_AUTH_MODE="token")
        processes, urls = [], []
        try:
            for _ in range(2):
                # one process each, so that both hold the token before the failover
                url, process, _ = start_serving("--workers", "1", **env)
                processes.append(process)
                urls.append(url)
            sandbox = sandbox_server.sandbox

            def create(name: str) -> dict[str, Any]:
                values = {"provider": "YUNYIN", "name": name, "bizType": "CONTRACT"}
                return {"query": CREATE, "variables": {"input": values}}

            for url in urls:
                assert failures(query(url, {"query": SEALS}).json()) == []
            before = query(urls[0], create("故障转移前"), **{"Idempotency-Key": "before"})
            assert before.status_code == 200
            sentinel_port = int(deployment.url.split(":")[2].split(",")[0])
            old_master = sentinel_master(sentinel_port)
            assert old_master is not None
            with redis.Redis(port=old_master[1]) as master:
                assert master.execute_command("WAIT", 1, 2000) == 1  # the replica has it
            deployment.processes.pop(old_master[1]).kill()

            answered = 0
            deadline = time.monotonic() + 20
            while True:
                for url in urls:
                    answer = query(url, {"query": SEALS})
                    assert answer.status_code == 200, answer.text
                    assert failures(answer.json()) == [], answer.text
                    answered += 1
                promoted = sentinel_master(sentinel_port) not in (None, old_master)
                if promoted and all(
                    httpx.get(f"{url}/readyz").json()["redis"] == "up" for url in urls
                ):
                    break
                assert time.monotonic() < deadline, "no failover within 20 s"
                time.sleep(0.1)
            assert answered >= 4

            again = query(urls[1], create("故障转移前"), **{"Idempotency-Key": "before"})
            assert again.content == before.content, again.text
            assert again.headers["idempotent-replayed"] == "true"
            after = query(urls[1], create("故障转移后"), **{"Idempotency-Key": "after"})
            replayed = query(urls[0], create("故障转移后"), **{"Idempotency-Key": "after"})
            assert replayed.content == after.content
            assert replayed.headers["idempotent-replayed"] == "true"
            assert sandbox.count("yunyin:createSealByTemplate") == 2
            # the token both processes held is still the one: nobody fetched another
            assert sandbox.count("esign:token") == 1
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                process.wait(timeout=20)


def test_every_shared_key_names_its_tenant_and_vendor_endpoint(redis_url: str) -> None:
    """Two tenants with the same vendor app id at different vendor addresses: each gets its
    own token (never the other's), and their breakers and rate windows are apart too."""
    import asyncio

    from gateway.domain import ProviderName
    from gateway.providers.http import Token, TokenCache
    from gateway.providers.resilience import (
        ResilienceSettings,
        SharedUpstream,
        Upstream,
        endpoint_key,
    )

    redis.Redis.from_url(redis_url).flushall()

    async def scenario() -> tuple[str, str, set[str]]:
        state = RedisState(RedisAddress.parse(redis_url))
        fetched: list[str] = []

        def cache(tenant: str, url: str) -> TokenCache:
            async def fetch() -> Token:
                fetched.append(tenant)
                return Token(f"token-of-{tenant}", time.time() + 3600)

            key = endpoint_key(tenant, "esign", url, "same-app")
            return TokenCache(fetch, state=state, vendor="esign", key=key)

        acme = await cache("acme", "https://vendor-a.example").get()
        globex = await cache("globex", "https://vendor-b.example").get()
        # a second process of acme's reads acme's token, fetching nothing
        again = await cache("acme", "https://vendor-a.example").get()
        assert again == acme
        assert fetched == ["acme", "globex"]
        settings = ResilienceSettings(rate_per_second=10)
        shared = SharedUpstream.for_state(state)
        breakers = {
            Upstream(ProviderName.ESIGN, t, "same-app", settings, shared, u).breaker.name
            for t, u in (
                ("acme", "https://vendor-a.example"),
                ("globex", "https://vendor-b.example"),
            )
        }
        await state.aclose()
        return acme, globex, breakers

    acme, globex, breakers = asyncio.run(scenario())
    assert (acme, globex) == ("token-of-acme", "token-of-globex")
    assert len(breakers) == 2
    keys = {k.decode() for k in redis.Redis.from_url(redis_url).keys("sealgw:token:*")}
    assert len(keys) == 2
    assert all(":same-app" in k for k in keys)
    assert any("acme:esign:" in k for k in keys)
    assert any("globex:esign:" in k for k in keys)


def test_serve_with_two_workers_sharing_redis(
    redis_url: str, sandbox_server: SandboxServer
) -> None:
    from tests.test_cli import children_of

    env = sandbox_server.env(SEALGW_REDIS_URL=redis_url)
    url, process, lines = start_serving("--workers", "2", **env)
    try:
        assert "with 2 workers" in "".join(lines)
        for _ in range(10):
            body = query(url, {"query": "{ seals(first: 2) { edges { node { name } } } }"}).json()
            assert len(body["data"]["seals"]["edges"]) == 2
        workers = [pid for pid in children_of(process.pid) if pid != process.pid]
        assert len(workers) >= 2
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.parametrize("where", ["this process", "redis"])
def test_a_moving_window_admits_its_limit_and_says_when_the_next_may_go(
    where: str, shared_redis_url: str
) -> None:
    """The vendor apps' windows: `limit` admissions within the window, then the seconds until
    the oldest leaves it; the same in memory and in Redis (one server, Sentinels, a cluster)."""
    import asyncio

    from gateway.shared import LocalState, SharedState

    async def scenario() -> None:
        state: SharedState = (
            LocalState()
            if where == "this process"
            else RedisState(RedisAddress.parse(shared_redis_url))
        )
        try:
            await state.delete("rate:test")
            assert [await state.admit("rate:test", 3, 0.5) for _ in range(3)] == [0.0] * 3
            wait = await state.admit("rate:test", 3, 0.5)
            assert 0 < wait <= 0.5
            assert await state.admit("rate:other", 3, 0.5) == 0.0  # each key its own window
            await asyncio.sleep(wait + 0.01)  # the three have left the window
            assert [await state.admit("rate:test", 3, 0.5) for _ in range(3)] == [0.0] * 3
            assert await state.admit("rate:test", 3, 0.5) > 0
            assert not state.degraded  # Redis's own window, not this process's stand-in
        finally:
            await state.aclose()

    asyncio.run(scenario())


def test_a_lock_is_released_by_its_holder_only(redis_url: str) -> None:
    """A token fetch's lock that expired and was taken by another process is not deleted by
    the first when it finishes: two fetches at once would revoke each other's token."""
    import asyncio

    from gateway.shared import LocalState, SharedState

    async def scenario(state: SharedState) -> None:
        try:
            await state.delete("lock")
            assert await state.set("lock", b"mine", 30.0, only_if_absent=True)
            await state.release("lock", b"theirs")  # not theirs to release
            assert await state.get("lock") == b"mine"
            await state.release("lock", b"mine")
            assert await state.get("lock") is None
            assert not state.degraded
        finally:
            await state.aclose()

    asyncio.run(scenario(LocalState()))
    asyncio.run(scenario(RedisState(RedisAddress.parse(redis_url))))


# --- seal events: one stream per tenant, for every process ----------------------------------------


def test_every_process_reads_one_stream_and_a_notification_to_two_is_one_event(
    two_gateways: Callable[..., tuple[str, str]], sandbox: Sandbox
) -> None:
    first, second = two_gateways()
    _, start = events(first)
    with subscribed(second, start) as subscriber:
        rename(first, "甲进程的写")
        body = audit(esign_seal(sandbox), name="两个进程都收到")
        assert notify(first, body).status_code == 200
        assert notify(second, body).status_code == 200
        seen = [subscriber.next(), subscriber.next()]
        with pytest.raises(TimeoutError):
            subscriber.message(timeout=1.0)
    assert [(e["source"], e["type"]) for e in seen] == [
        ("GATEWAY_WRITE", "UPDATED"),
        ("VENDOR_NOTIFICATION", "REVIEW_PASSED"),
    ]
    by_first, _ = events(first, after=start)
    by_second, _ = events(second, after=start)
    assert [e["id"] for e in by_first] == [e["id"] for e in by_second] == [e["id"] for e in seen]


def test_one_change_detector_per_tenant_across_processes(
    two_gateways: Callable[..., tuple[str, str]], sandbox: Sandbox
) -> None:
    first, second = two_gateways(SEALGW_CHANGE_POLL_SECONDS="0.5")
    time.sleep(1.5)  # the baseline listing
    _, start = events(first)
    listed_before = sandbox.count("yunyin:getSealListByPage")
    console_rename(sandbox, 50001, "两个进程一个探测器")
    wait_for(first, start, lambda e: e["source"] == "CHANGE_DETECTED")
    time.sleep(2.0)
    found, _ = events(second, after=start)
    assert [(e["type"], e["vendorSealId"]) for e in found] == [("UPDATED", "50001")]
    # one listing per round, not one per process: about 2.5 s of rounds at 0.5 s
    listed = sandbox.count("yunyin:getSealListByPage") - listed_before
    assert listed <= 9, listed


def test_the_read_cache_is_shared_and_a_write_through_either_process_ends_it(
    two_gateways: Callable[..., tuple[str, str]], sandbox: Sandbox
) -> None:
    first, second = two_gateways(SEALGW_READ_CACHE_SECONDS="60")
    query = "query($id: ID!) { seal(id: $id) { name } }"

    def name(url: str) -> str:
        body = httpx.post(
            f"{url}/graphql",
            json={"query": query, "variables": {"id": YUNYIN_SEAL}},
            headers=AUTH,
            timeout=10,
        ).json()
        value: str = body["data"]["seal"]["name"]
        return value

    kept = name(second)
    calls = sandbox.count("yunyin:getSealInfo")
    assert name(first) == kept  # the other process's entry: no vendor call
    assert sandbox.count("yunyin:getSealInfo") == calls
    rename(first, "共享缓存之后")
    assert name(second) == "共享缓存之后"


def test_a_process_that_found_the_breaker_closed_learns_within_a_moment_that_another_opened_it(
    two_gateways: Callable[..., tuple[str, str]], sandbox: Sandbox
) -> None:
    first, second = two_gateways(
        SEALGW_BREAKER_FAILURES="3", SEALGW_UPSTREAM_READ_ATTEMPTS="1", SEALGW_BREAKER_COOLDOWN="60"
    )
    assert failures(query(second, {"query": SEALS}).json()) == []  # read closed, trusted
    sandbox.faults.append(Fault("esign", "v1.list", status=503))
    for _ in range(3):
        query(first, {"query": SEALS})
    time.sleep(CLOSED_TRUSTED_S + 0.1)
    calls = sandbox.count("esign:v1.list")
    body = query(second, {"query": SEALS}).json()
    assert failures(body)[0]["extensions"]["upstreamCode"] == "CIRCUIT_OPEN"
    assert sandbox.count("esign:v1.list") == calls
