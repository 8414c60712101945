"""SIGHUP with one worker: the tenants file read again and put in service without a restart;
a broken file leaves the old settings serving, with one JSON log line saying why. And every
line the process logs, start to stop, is one JSON object with a zoned ISO 8601 time."""

from __future__ import annotations

import json
import logging
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest
from websockets.exceptions import ConnectionClosed

from gateway.access.callers import new_key
from gateway.ops.logs import JsonLines
from gateway.sandbox import state as demo
from tests.conftest import AUTH, SUITE_DIGEST, SandboxServer
from tests.events_client import SUBSCRIPTION, connected, sse_to_the_end
from tests.test_cli import start_serving
from tests.test_observability import metric

ISO_ZONED = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")
SEALS = {"query": "{ seals(first: 1) { edges { node { id } } } }"}


def tenants_file(sandbox_server: SandboxServer, *digests: str) -> str:
    keys = "".join(
        f'[[tenants.default.api_keys]]\nname = "key{i}"\nrole = "admin"\ndigest = "{digest}"\n'
        for i, digest in enumerate(digests)
    )
    return (
        "[tenants.default.esign]\n"
        f'base_url = "{sandbox_server.url}/esign"\n'
        f'app_id = "{demo.ESIGN_APP_ID}"\n'
        'app_secret = { env = "ESIGN_SECRET" }\n'
        f'org_id = "{demo.ESIGN_ORG_A}"\n' + keys
    )


def serving_the_suites_key(
    sandbox_server: SandboxServer, path: Path, *args: str, **env: str
) -> tuple[str, subprocess.Popen[str]]:
    """`seal-gateway serve ARGS` whose tenants file, at `path`, names the suite's key."""
    path.write_text(tenants_file(sandbox_server, SUITE_DIGEST))
    url, process, _ = start_serving(
        *args,
        SEALGW_TENANTS_FILE=str(path),
        SEALGW_READY_INTERVAL="0",
        ESIGN_SECRET=demo.ESIGN_APP_SECRET,
        **env,
    )
    return url, process


def test_sighup_reloads_the_tenants_file_with_one_worker(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    path = tmp_path / "tenants.toml"
    new, new_digest = new_key()
    url, process = serving_the_suites_key(sandbox_server, path, SEALGW_LOG_FORMAT="json")
    fresh = {"Authorization": f"Bearer {new}"}
    try:
        assert httpx.post(f"{url}/graphql", json=SEALS, headers=AUTH).status_code == 200
        assert httpx.post(f"{url}/graphql", json=SEALS, headers=fresh).status_code == 401

        # a broken file: refused, the old settings keep serving
        path.write_text("[tenants.default.esign\n")
        process.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        assert process.poll() is None
        assert httpx.post(f"{url}/graphql", json=SEALS, headers=AUTH).status_code == 200

        # the new key, in service without a restart; the old one gone
        path.write_text(tenants_file(sandbox_server, new_digest))
        process.send_signal(signal.SIGHUP)
        for _ in range(100):
            if httpx.post(f"{url}/graphql", json=SEALS, headers=fresh).status_code == 200:
                break
            time.sleep(0.05)
        assert httpx.post(f"{url}/graphql", json=SEALS, headers=fresh).status_code == 200
        assert httpx.post(f"{url}/graphql", json=SEALS, headers=AUTH).status_code == 401
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    lines = [line for line in output.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # every line: one JSON object
    assert all(ISO_ZONED.match(event["time"]) for event in events), lines[:3]
    assert "\x1b" not in output
    assert not any("color_message" in event for event in events)
    refused = [e for e in events if "not reloaded" in e["message"]]
    assert len(refused) == 1
    assert refused[0]["level"] == "ERROR"
    assert "SEALGW_TENANTS_FILE" in refused[0]["message"] or "tenants" in refused[0]["message"]
    assert sum("reloaded: new requests" in e["message"] for e in events) == 1
    assert demo.ESIGN_APP_SECRET not in output


def test_an_exception_is_a_field_of_its_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord(
            "gateway", logging.ERROR, __file__, 1, "it failed", None, sys.exc_info()
        )
    line = JsonLines().format(record)
    assert "\n" not in line
    event = json.loads(line)
    assert event["message"] == "it failed"
    assert "ValueError: boom" in event["exception"]
    assert "Traceback" in event["exception"]
    assert ISO_ZONED.match(event["time"])


def test_a_reload_completes_the_subscriptions_of_the_app_it_takes_out_of_service(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    """A subscription opened before a reload would go on with the old settings, a key the
    tenants file no longer names included: the reload completes it (SSE: `complete`; a
    WebSocket: `complete`, then 1012 at its next `subscribe`), and the client resumes on the
    app in service, where that key is refused."""
    path = tmp_path / "tenants.toml"
    new, new_digest = new_key()
    url, process = serving_the_suites_key(sandbox_server, path)
    sse: list[str] = []
    opened = threading.Event()
    streaming = threading.Thread(target=sse_to_the_end, args=(url, AUTH, sse, opened))
    try:
        streaming.start()
        with connected(url) as subscriber:
            subscriber.subscribe(SUBSCRIPTION)
            assert opened.wait(10)
            time.sleep(0.5)  # the WebSocket's subscription under way
            path.write_text(tenants_file(sandbox_server, new_digest))
            process.send_signal(signal.SIGHUP)
            assert subscriber.message(timeout=10) == {"id": "1", "type": "complete"}
            streaming.join(timeout=10)
            assert not streaming.is_alive()
            subscriber.subscribe(SUBSCRIPTION, operation_id="2")
            with pytest.raises(ConnectionClosed) as closed:
                subscriber.message(timeout=10)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1012
        assert "".join(sse).replace(": ping\n\n", "") == ": ok\n\nevent: complete\ndata: \n\n"
        # resumed: the removed key is refused by the app in service, the new one taken
        with pytest.raises(ConnectionClosed) as refused, connected(url):
            pass
        assert refused.value.rcvd is not None
        assert refused.value.rcvd.code == 4403
        with connected(url, {"Authorization": f"Bearer {new}"}):
            pass
    finally:
        process.terminate()
        process.communicate(timeout=20)
        streaming.join(timeout=10)


def workers_of(pid: int) -> set[int]:
    """The worker processes of a `serve --workers N` supervisor (its children but for
    multiprocessing's resource tracker)."""
    found = set()
    for child in psutil.Process(pid).children():
        try:
            if not any("resource_tracker" in part for part in child.cmdline()):
                found.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return found


def test_sighup_with_several_workers_keeps_them_serving_through_a_broken_file(
    sandbox_server: SandboxServer, tmp_path: Path
) -> None:
    """uvicorn's supervisor replaces each worker on SIGHUP; a replacement that cannot load the
    settings says so in one JSON line and the old worker keeps serving."""
    from tests.redis_servers import single_server

    path = tmp_path / "tenants.toml"
    new, new_digest = new_key()
    fresh = {"Authorization": f"Bearer {new}"}
    with single_server() as redis:
        url, process = serving_the_suites_key(
            sandbox_server,
            path,
            "--workers",
            "2",
            SEALGW_REDIS_URL=redis.url,
            SEALGW_LOG_FORMAT="json",
            SEALGW_METRICS_PORT="0",
        )
        try:
            assert process.stdout is not None
            found = None
            while found is None:
                line = process.stdout.readline()
                assert line, "no metrics line"
                found = re.search(r"metrics at (http://[\d.:]+)/metrics", line)
            time.sleep(2.0)  # both workers up (uvicorn's restart of a starting one is not tested)
            path.write_text("[tenants.default.esign\n")
            process.send_signal(signal.SIGHUP)
            time.sleep(3.0)
            for _ in range(6):  # whichever worker answers
                assert httpx.post(f"{url}/graphql", json=SEALS, headers=AUTH).status_code == 200
            # the two old workers, once the replacement that could not start is gone
            deadline = time.monotonic() + 30
            while len(old := workers_of(process.pid)) != 2:
                assert time.monotonic() < deadline, f"workers: {old}"
                time.sleep(0.1)
            path.write_text(tenants_file(sandbox_server, new_digest))
            process.send_signal(signal.SIGHUP)
            # the supervisor replaces one worker at a time, each once its replacement is
            # ready: until both old workers are gone, either key may find a worker that
            # knows it (which worker accepts a connection is the kernel's choice)
            while not old.isdisjoint(workers_of(process.pid)):
                assert time.monotonic() < deadline + 30, "the workers were not replaced"
                time.sleep(0.1)
            answers = {
                httpx.post(f"{url}/graphql", json=SEALS, headers=fresh).status_code
                for _ in range(6)
            }
            assert answers == {200}
            # and the key the file no longer names is refused by every worker
            old_key = {
                httpx.post(f"{url}/graphql", json=SEALS, headers=AUTH).status_code for _ in range(6)
            }
            assert old_key == {401}
            # the supervisor's metrics port adds up every worker's figures
            scraped = httpx.get(f"{found.group(1)}/metrics").text
            assert metric(scraped, "sealgw_operations_total", outcome="ok") >= 12
        finally:
            process.terminate()
            output, _ = process.communicate(timeout=30)
    lines = [line for line in output.splitlines() if line.strip()]
    events = [json.loads(line) for line in lines]  # every line: one JSON object
    assert all(ISO_ZONED.match(event["time"]) for event in events)
    assert any("not reloaded" in e["message"] for e in events)
    assert "Traceback" not in output.replace("\\n", "\n").split('"exception"')[0]


def test_a_sighup_during_a_reload_makes_one_more_after_it() -> None:
    """The reload under way may have read the files before the operator's last change: a
    SIGHUP meanwhile is not lost, it makes one more reload once that one is done, and the old
    app's retirement (its requests may take a while) holds neither up."""
    import asyncio
    import contextlib
    from collections.abc import AsyncIterator

    from starlette.applications import Starlette

    from gateway.http.reload import Reloading

    async def scenario() -> None:
        first_build_waits = asyncio.Event()
        built: list[Starlette] = []

        @contextlib.asynccontextmanager
        async def slow_once(app: Starlette) -> AsyncIterator[None]:
            if len(built) == 1:
                await first_build_waits.wait()
            yield

        def build() -> Starlette:
            app = Starlette(lifespan=slow_once)
            built.append(app)
            return app

        reloading = Reloading(Starlette(), build)
        reloading._current = await Reloading._start(Starlette())
        reloading.reload_soon()
        await asyncio.sleep(0.01)  # the first reload is building
        reloading.reload_soon()  # the operator changed a file again meanwhile
        reloading.reload_soon()  # and again: still one more, not two
        first_build_waits.set()
        assert reloading._reload is not None
        await reloading._reload
        assert (len(built), reloading.reloads) == (2, 2)
        assert reloading.app is built[1]

    asyncio.run(scenario())
