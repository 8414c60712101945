"""The gateway's own cost per request with no HTTP server and no client in the way: the app is
called as ASGI in this process, over the peers' 云银签 stub (a process of its own), with one of
the peers' queries, `--concurrency` requests at a time (1: one after another, the event loop
idle while the stub answers; 8: the loop never idle, caches warm). Prints the wall time and
this process's CPU per request; with `--profile`, the Python function calls a request makes
(cProfile: how many, and under which functions), which tell where code can be cut far more
steadily than timings on a shared machine do.

    python bench/in_process.py --query pages --concurrency 8
    python bench/in_process.py --query vary --profile

Set `PYTHONPATH` to another checkout to measure it with the same harness. Needs the peers'
stub environment (`bench/compare.sh` installs it); loopback only; bounded by `--requests`."""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import pstats
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parent))

from levers import PEERS, STUB_PYTHON, free_port, gateway_bodies, over_the_stub, wait_http

from gateway.access.callers import new_key


def scope(body: bytes, key: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"gateway"),
            (b"content-type", b"application/json"),
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }


async def call(app: Any, body: bytes, key: str) -> bytes:
    """One request through the app; its answer's body (a 200 is checked)."""
    given = False

    async def receive() -> dict[str, Any]:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # the client stays
        raise AssertionError("unreachable")

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope(body, key), receive, send)
    assert sent[0]["status"] == 200, sent
    return b"".join(m.get("body", b"") for m in sent[1:])


def calls_by_function(profile: cProfile.Profile, requests: int, shown: int) -> None:
    stats: Any = pstats.Stats(profile)
    rows = []
    for (file, line, name), (_, calls, own_s, _, _) in stats.stats.items():
        where = file.split("site-packages/")[-1].split(str(Path.cwd()) + "/")[-1]
        rows.append((calls / requests, own_s / requests * 1e6, f"{where}:{line}({name})"))
    rows.sort(key=lambda row: -row[0])
    print(f"Python function calls per request: {sum(row[0] for row in rows):.0f}")
    by_module: Counter[str] = Counter()
    for calls, _, where in rows:
        by_module[where.split(":")[0]] += int(calls * requests)
    for module, calls in by_module.most_common(shown):
        print(f"  {calls / requests:7.1f}  {module}")
    print("most called:")
    for calls, own_us, where in rows[:shown]:
        print(f"  {calls:7.1f}  {own_us:6.1f} µs (profiled)  {where}")


async def measure(args: argparse.Namespace, stub_url: str) -> None:
    key, digest = new_key()
    os.environ.update(over_the_stub(stub_url, digest))
    from gateway.http.app import app_from_environment

    app = app_from_environment()
    bodies = [body.encode() for body in gateway_bodies(args.query)]
    startup: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    started = asyncio.Event()

    async def lifespan_send(message: dict[str, Any]) -> None:
        if message["type"].startswith("lifespan.startup"):
            started.set()

    await startup.put({"type": "lifespan.startup"})
    lifespan = asyncio.create_task(
        app(
            {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}},
            startup.get,
            lifespan_send,
        )
    )
    await started.wait()
    answer = json.loads(await call(app, bodies[0], key))
    assert "errors" not in answer, answer

    async def worker(count: int, offset: int) -> None:
        for n in range(count):
            await call(app, bodies[(offset + n * 7) % len(bodies)], key)

    per_worker = max(1, args.requests // args.concurrency)
    requests = per_worker * args.concurrency
    await asyncio.gather(*(worker(200, n) for n in range(args.concurrency)))  # warm-up
    profile = cProfile.Profile() if args.profile else None
    wall, cpu = time.perf_counter(), time.process_time()
    if profile is not None:
        profile.enable()
    await asyncio.gather(*(worker(per_worker, n) for n in range(args.concurrency)))
    if profile is not None:
        profile.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(
        f"{args.query}, {requests} requests, {args.concurrency} at a time: "
        f"{wall / requests * 1e6:.1f} µs wall, {cpu / requests * 1e6:.1f} µs CPU per request"
        + (" (profiled)" if profile is not None else "")
    )
    if profile is not None:
        calls_by_function(profile, requests, args.shown)
    await startup.put({"type": "lifespan.shutdown"})
    await lifespan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--query", choices=["list20", "one", "vary", "pages"], default="vary")
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--shown", type=int, default=25)
    args = parser.parse_args()
    args.requests = min(args.requests, 100_000)
    port = free_port()
    stub = subprocess.Popen(
        [
            *(STUB_PYTHON, "-m", "uvicorn", "--app-dir", str(PEERS), "upstream_stub:app"),
            *("--port", str(port), "--log-level", "warning", "--no-access-log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/_stats", stub)
        uvloop.run(measure(args, f"http://127.0.0.1:{port}"))
    finally:
        stub.terminate()
        stub.wait(timeout=10)


if __name__ == "__main__":
    main()
