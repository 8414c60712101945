"""Benchmark: the sandbox and the gateway as separate processes over real sockets.

For a few representative queries it reports the vendor calls one query costs (read from the
sandbox's counters) and, under a fixed concurrency, throughput and p50/p99 latency, beside the
floor: the same vendor call made directly to the sandbox.

    python bench/run.py --requests 400 --concurrency 8 --latency-ms 5 --write bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.access.callers import new_key  # noqa: E402
from gateway.domain import DEFAULT_TENANT, ProviderName, SealFilter  # noqa: E402
from gateway.providers.esign.auth import SignatureAuth  # noqa: E402
from gateway.sandbox import state as demo  # noqa: E402
from gateway.service.ids import SealPosition  # noqa: E402

KEY, KEY_DIGEST = new_key()
AUTH = {"Authorization": f"Bearer {KEY}"}

BOTH = (ProviderName.ESIGN, ProviderName.YUNYIN)
# after the fifth e签宝 seal: the page ends inside 云银签
AFTER_FIVE = SealPosition({ProviderName.ESIGN: 5, ProviderName.YUNYIN: 0}).cursor(
    SealFilter(), BOTH, DEFAULT_TENANT
)

QUERIES = {
    "list 20 seals: v1 fields, business type, status": (
        "{ seals(first: 20) { edges { node { id provider name bizType status isDefault "
        "image { url expiresAt } } } } }"
    ),
    "list 7 e签宝 seals with v3 fields": (
        "{ seals(first: 7, filter: {providers: [ESIGN]}) { edges { node { id name "
        "physicalSize { width height unit } rejectReason statusLabel } } } }"
    ),
    "one 云银签 seal by id, with 3 authorisations": (
        '{ seal(id: "U2VhbDp5dW55aW46NTAwMDE=") { name code authorizations(first: 5) '
        "{ totalCount edges { node { userName role scope } } } } }"
    ),
    "renameSeal (云银签 write, seal read back)": (
        'mutation { renameSeal(input: {sealId: "U2VhbDp5dW55aW46NTAwMDE=", name: "市场部合同章"}) '
        "{ seal { id name } userErrors { code } } }"
    ),
    "cross-provider page + totalCount": (
        f'{{ seals(first: 5, after: "{AFTER_FIVE}") {{ totalCount '
        "edges { node { id name } } pageInfo { hasNextPage endCursor } } }"
    ),
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def process(args: list[str], env: dict[str, str], health: str) -> Iterator[int]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", *args],
        env={**os.environ, **env},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(health).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{args[0]} did not start")
            time.sleep(0.05)
        yield proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@dataclass
class Result:
    name: str
    calls: dict[str, int]
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_ms: float | None = None  # gateway CPU per query


async def load(
    send: Callable[[httpx.AsyncClient], Awaitable[None]], requests: int, concurrency: int
) -> tuple[float, float, float]:
    """Requests/s, p50 and p99 latency (ms) of `requests` sends by `concurrency` workers."""
    latencies: list[float] = []
    remaining = requests
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        for _ in range(concurrency):  # warm-up: connections, caches, tokens
            await send(client)

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                await send(client)
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return len(latencies) / elapsed, statistics.median(latencies), p99


def calls_of(sandbox: str, send: Callable[[httpx.AsyncClient], Awaitable[None]]) -> dict[str, int]:
    async def once() -> None:
        async with httpx.AsyncClient(timeout=30) as client:
            await send(client)

    httpx.delete(f"{sandbox}/_sandbox/calls")
    asyncio.run(once())
    calls: dict[str, int] = httpx.get(f"{sandbox}/_sandbox/calls").json()["calls"]
    return {k: v for k, v in calls.items() if not k.endswith(":token")}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPU ({cpu}), Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency-ms", type=float, default=5.0)
    parser.add_argument("--write", type=Path, help="write the results as Markdown here")
    args = parser.parse_args()

    sandbox_port, gateway_port = free_port(), free_port()
    sandbox = f"http://127.0.0.1:{sandbox_port}"
    gateway = f"http://127.0.0.1:{gateway_port}"
    env = {
        "SEALGW_ESIGN_BASE_URL": f"{sandbox}/esign",
        "SEALGW_ESIGN_APP_ID": demo.ESIGN_APP_ID,
        "SEALGW_ESIGN_APP_SECRET": demo.ESIGN_APP_SECRET,
        "SEALGW_ESIGN_ORG_ID": demo.ESIGN_ORG_A,
        "SEALGW_YUNYIN_BASE_URL": f"{sandbox}/yunyin",
        "SEALGW_YUNYIN_APP_ID": demo.YUNYIN_APP_ID,
        "SEALGW_YUNYIN_APP_SECRET": demo.YUNYIN_APP_SECRET,
        "SEALGW_YUNYIN_USER_ID": str(demo.YUNYIN_ADMIN),
        "SEALGW_LOG_LEVEL": "WARNING",
        # the bench's own admin key; a rate limit far above what the bench sends
        "SEALGW_API_KEYS": f"bench:admin:{KEY_DIGEST}",
        "SEALGW_RATE_LIMIT": "1000000/minute",
    }
    results: list[Result] = []
    sandbox_args = ["sandbox", "--port", str(sandbox_port), "--latency-ms", str(args.latency_ms)]
    with (
        process(sandbox_args, {}, f"{sandbox}/"),
        process(["serve", "--port", str(gateway_port)], env, f"{gateway}/healthz") as gateway_pid,
    ):
        for name, query in QUERIES.items():

            async def send(client: httpx.AsyncClient, query: str = query) -> None:
                response = await client.post(
                    f"{gateway}/graphql", json={"query": query}, headers=AUTH
                )
                body = response.json()
                assert "errors" not in body, body

            calls = calls_of(sandbox, send)
            cpu_before = cpu_seconds(gateway_pid)
            rps, p50, p99 = asyncio.run(load(send, args.requests, args.concurrency))
            # warm-up requests included: `load` sends `concurrency` more than `requests`
            sent = args.requests + args.concurrency
            cpu_ms = (cpu_seconds(gateway_pid) - cpu_before) * 1000 / sent
            results.append(Result(name, calls, rps, p50, p99, cpu_ms))
            print(
                f"{name}: {calls} {rps:.0f} req/s p50 {p50:.1f} ms p99 {p99:.1f} ms "
                f"gateway CPU {cpu_ms:.1f} ms/query"
            )

        token = httpx.post(
            f"{sandbox}/yunyin/service/getAccessToken",
            json={"appId": demo.YUNYIN_APP_ID, "appSecret": demo.YUNYIN_APP_SECRET},
        ).json()["data"]["accessToken"]
        headers = {
            "appId": demo.YUNYIN_APP_ID,
            "accessToken": token,
            "userId": "20001",
            "source": "API",
        }
        auth = SignatureAuth(demo.ESIGN_APP_ID, demo.ESIGN_APP_SECRET, base_path="/esign")

        async def direct_yunyin(client: httpx.AsyncClient) -> None:
            response = await client.post(
                f"{sandbox}/yunyin/seal/getSealListByPage",
                headers=headers,
                json={"listPageNo": 1, "listPageSize": 20},
            )
            assert response.json()["code"] == "200"

        async def direct_esign(client: httpx.AsyncClient) -> None:
            response = await client.get(
                f"{sandbox}/esign/v1/organizations/{demo.ESIGN_ORG_A}/seals",
                params={"offset": 1, "size": 20},
                auth=auth,
            )
            assert response.json()["code"] == 0

        for name, send_direct in (
            ("floor: 云银签 getSealListByPage direct", direct_yunyin),
            ("floor: e签宝 v1 list direct (signed)", direct_esign),
        ):
            rps, p50, p99 = asyncio.run(load(send_direct, args.requests, args.concurrency))
            results.append(Result(name, {}, rps, p50, p99))
            print(f"{name}: {rps:.0f} req/s p50 {p50:.1f} ms p99 {p99:.1f} ms")

    if args.write:
        write(args, results)


def write(args: argparse.Namespace, results: list[Result]) -> None:
    command = (
        f"python bench/run.py --requests {args.requests} --concurrency {args.concurrency} "
        f"--latency-ms {args.latency_ms:g} --write {args.write}"
    )
    lines = [
        "| query | vendor calls per query | req/s | p50 ms | p99 ms | gateway CPU ms/query |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in results:
        calls = ", ".join(f"{k} ×{v}" for k, v in sorted(r.calls.items())) or "—"
        cpu = "—" if r.cpu_ms is None else f"{r.cpu_ms:.1f}"
        lines.append(
            f"| {r.name} | {calls} | {r.rps:.0f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {cpu} |"
        )
    table = "\n".join(lines)
    text = args.write.read_text(encoding="utf-8") if args.write.exists() else ""
    block = (
        f"<!-- results -->\nMachine: {machine()}.\n\nCommand: `{command}`\n"
        f"(sandbox latency {args.latency_ms:g} ms per vendor call; {args.requests} requests at "
        f"concurrency {args.concurrency}; load generator, gateway and sandbox share the "
        f"machine).\n\n{table}\n<!-- /results -->"
    )
    if "<!-- results -->" in text:
        text = re.sub(r"<!-- results -->.*<!-- /results -->", block, text, flags=re.S)
    else:
        text = text + "\n" + block + "\n"
    args.write.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
