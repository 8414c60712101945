"""The operator's table: the promises of shared state tried as an operator would, with
`seal-gateway serve` as README starts it, against the sandbox on loopback. Each row runs on the
default `serve` (no Redis: one process) and on `serve --workers 2` with a real `redis-server`.

- 10 identical keyed creates (one Idempotency-Key) at once, each on a new connection: vendor
  creates and distinct answers;
- a caller limit of 30/minute, 60 requests: how many were let through;
- e签宝 in token mode, a new token ending the older ones' life after 2 s, 15 s of reads: token
  fetches and failed reads;
- e签宝 calls per second under load against the app's limit of 50;
- e签宝's tokens revoked at the vendor under load: token fetches and failed reads.

    python bench/shared_state.py --write bench/RESULTS.md

Loopback only; about two minutes."""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import redis
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.access.callers import new_key  # noqa: E402
from gateway.sandbox import Sandbox, create_sandbox_app  # noqa: E402
from gateway.sandbox import state as demo  # noqa: E402
from gateway.service.ids import global_id  # noqa: E402

KEY, KEY_DIGEST = new_key()
AUTH = {"Authorization": f"Bearer {KEY}"}
SEALS = "{ seals(first: 3) { unavailable { code } edges { node { name } } } }"
DETAIL = "query($id: ID!) { seal(id: $id) { name bizType } }"
CREATE = """mutation($input: TemplateSealInput!) { createTemplateSeal(input: $input) {
  seal { id name } userErrors { code message } } }"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class SandboxThread:
    """The sandbox in this process (its counters read directly), served on a loopback port."""

    def __init__(self) -> None:
        self.sandbox = Sandbox()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            create_sandbox_app(self.sandbox), port=self.port, log_level="warning"
        )
        self.server = uvicorn.Server(config)
        threading.Thread(target=self.server.run, daemon=True).start()
        while not self.server.started:
            time.sleep(0.01)

    def env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEALGW_")}
        env.update(
            SEALGW_ESIGN_BASE_URL=f"{self.url}/esign",
            SEALGW_ESIGN_APP_ID=demo.ESIGN_APP_ID,
            SEALGW_ESIGN_APP_SECRET=demo.ESIGN_APP_SECRET,
            SEALGW_ESIGN_ORG_ID=demo.ESIGN_ORG_A,
            SEALGW_YUNYIN_BASE_URL=f"{self.url}/yunyin",
            SEALGW_YUNYIN_APP_ID=demo.YUNYIN_APP_ID,
            SEALGW_YUNYIN_APP_SECRET=demo.YUNYIN_APP_SECRET,
            SEALGW_YUNYIN_USER_ID=str(demo.YUNYIN_ADMIN),
            SEALGW_API_KEYS=f"bench:admin:{KEY_DIGEST}",
            SEALGW_RATE_LIMIT="1000000/minute",
            SEALGW_READY_INTERVAL="0",
        )
        env.update(overrides)
        return env


@contextmanager
def redis_server() -> Iterator[str]:
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        process = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(port), "--save", ""],
            cwd=folder,
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        try:
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.kill()
            process.wait()


@contextmanager
def serving(env: dict[str, str], *args: str) -> Iterator[tuple[str, Path]]:
    """`seal-gateway serve ARGS`; its URL and log."""
    with tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False) as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--port", "0", *args],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    path = Path(log.name)
    try:
        url = None
        for _ in range(300):
            found = re.search(r"listening on (http://\S+) with", path.read_text())
            if found:
                url = found.group(1)
                break
            time.sleep(0.1)
        assert url, path.read_text()
        for _ in range(300):
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        time.sleep(0.5)  # every worker up
        yield url, path
    finally:
        process.terminate()
        process.wait(timeout=20)
        path.unlink()


def keyed_creates(url: str, sandbox: Sandbox) -> str:
    mark = time.monotonic_ns() % 10**6
    name, key = f"幂等{mark}", f"bench-{mark}"
    body = {
        "query": CREATE,
        "variables": {"input": {"provider": "YUNYIN", "name": name, "bizType": "CONTRACT"}},
    }

    def one(_: int) -> bytes:
        with httpx.Client(headers={**AUTH, "Idempotency-Key": key}, timeout=30) as client:
            return client.post(f"{url}/graphql", json=body).content

    before = sandbox.count("yunyin:createSealByTemplate")
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(one, range(10)))
    creates = sandbox.count("yunyin:createSealByTemplate") - before
    return f"{creates} vendor create(s), {len(set(answers))} distinct answer(s)"


def rate_limit(url: str) -> str:
    with httpx.Client(headers=AUTH, timeout=30) as client:
        statuses = [
            client.post(f"{url}/graphql", json={"query": "{ __typename }"}).status_code
            for _ in range(60)
        ]
    return f"{statuses.count(200)} let through, {statuses.count(429)} refused (429)"


async def reads_for(url: str, seconds: float, concurrency: int, query: dict[str, Any]) -> list[Any]:
    """Reads at `concurrency` for `seconds`; each answer's body (None for no JSON)."""
    answers: list[Any] = []
    stop = time.monotonic() + seconds

    async def worker() -> None:
        async with httpx.AsyncClient(headers=AUTH, timeout=30) as client:
            while time.monotonic() < stop:
                response = await client.post(f"{url}/graphql", json=query)
                try:
                    answers.append(response.json())
                except ValueError:
                    answers.append(None)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answers


def failed(answers: list[Any], code: str | None = None) -> int:
    def bad(body: Any) -> bool:
        if not isinstance(body, dict):
            return True
        codes = [(e.get("extensions") or {}).get("code") for e in body.get("errors", [])]
        # a provider failing on a page another answered is told on the page, not in errors
        seals = (body.get("data") or {}).get("seals") or {}
        codes += [failure["code"] for failure in seals.get("unavailable") or []]
        return bool(codes) if code is None else code in codes

    return sum(1 for body in answers if bad(body))


def token_mode(url: str, sandbox: Sandbox) -> str:
    before = sandbox.count("esign:token")
    answers = asyncio.run(reads_for(url, 15.0, 8, {"query": SEALS}))
    fetches = sandbox.count("esign:token") - before
    auth = failed(answers, "UPSTREAM_AUTH_FAILED")
    return (
        f"{fetches} token fetch(es), {failed(answers)} failed of {len(answers)} reads "
        f"({auth} UPSTREAM_AUTH_FAILED)"
    )


def calls_per_second(url: str, sandbox: Sandbox) -> str:
    ids = [
        global_id("Seal", f"esign:{s.seal_id}")
        for s in sandbox.esign_seals
        if s.org_id == demo.ESIGN_ORG_A
    ]
    sandbox.reset_counts()
    started = time.monotonic()

    async def load() -> list[Any]:
        runs = [
            reads_for(url, 10.0, 4, {"query": DETAIL, "variables": {"id": seal_id}})
            for seal_id in ids
        ]
        return [a for answers in await asyncio.gather(*runs) for a in answers]

    answers = asyncio.run(load())
    seconds = time.monotonic() - started
    calls = sandbox.count("esign")
    limited = failed(answers, "VENDOR_RATE_LIMITED")
    return (
        f"at most {sandbox.peak_per_second['esign']} within one second (limit 50), "
        f"{calls / seconds:.0f}/s on average; {len(answers)} reads, {limited} VENDOR_RATE_LIMITED"
    )


def revocation(url: str, sandbox: Sandbox) -> str:
    asyncio.run(reads_for(url, 1.0, 2, {"query": SEALS}))  # every worker holds the token
    before = sandbox.count("esign:token")

    async def run() -> list[Any]:
        load = asyncio.create_task(reads_for(url, 8.0, 8, {"query": SEALS}))
        await asyncio.sleep(3.0)
        sandbox.expire_tokens("esign")
        return await load

    answers = asyncio.run(run())
    fetches = sandbox.count("esign:token") - before
    return f"{fetches} renewal(s), {failed(answers)} failed of {len(answers)} reads"


def table(sandbox_thread: SandboxThread, redis_url: str | None) -> list[tuple[str, str]]:
    sandbox = sandbox_thread.sandbox
    extra = {"SEALGW_REDIS_URL": redis_url} if redis_url else {}
    args = ("--workers", "2") if redis_url else ()
    rows: list[tuple[str, str]] = []

    def flush() -> None:
        if redis_url:
            redis.Redis.from_url(redis_url).flushall()
        sandbox.reset()

    flush()
    with serving(sandbox_thread.env(**extra), *args) as (url, _):
        rows.append(("10 keyed creates at once, new connections", keyed_creates(url, sandbox)))
    flush()
    with serving(sandbox_thread.env(SEALGW_RATE_LIMIT="30/minute", **extra), *args) as (url, _):
        rows.append(("caller limit 30/minute, 60 requests", rate_limit(url)))
    token_env = sandbox_thread.env(SEALGW_ESIGN_AUTH_MODE="token", **extra)
    flush()
    sandbox.config.esign_token_overlap_s = 2.0  # reset() puts the seeded 300 s back
    with serving(token_env, *args) as (url, _):
        rows.append(("e签宝 token mode (2 s overlap), 15 s of reads", token_mode(url, sandbox)))
    flush()
    sandbox.config.esign_token_overlap_s = 2.0
    with serving(token_env, *args) as (url, _):
        rows.append(("e签宝 tokens revoked under reads", revocation(url, sandbox)))
    flush()
    with serving(sandbox_thread.env(**extra), *args) as (url, _):
        rows.append(("e签宝 v3 calls per second under load", calls_per_second(url, sandbox)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", help="append the report to this file")
    args = parser.parse_args()
    sandbox_thread = SandboxThread()
    default = table(sandbox_thread, None)
    with redis_server() as url:
        shared = table(sandbox_thread, url)
    lines = [
        f"Operator's table ({os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.2f} at the end):",
        "",
        "| tried | default `serve` (1 process, no Redis) | `serve --workers 2` with Redis |",
        "|---|---|---|",
        *(f"| {a[0]} | {a[1]} | {b[1]} |" for a, b in zip(default, shared, strict=True)),
    ]
    report = "\n".join(lines)
    print(report)
    if args.write:
        with open(args.write, "a", encoding="utf-8") as out:
            out.write("\n\n" + time.strftime("%Y-%m-%d ") + report + "\n")


if __name__ == "__main__":
    main()
