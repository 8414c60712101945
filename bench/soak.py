"""Fault-injection soak: concurrent load on the gateway while one vendor (云银签) cycles through
latency, 5xx, hangs, wrong shapes, token expiry and a full outage. Loopback only, bounded.

The sandbox and the gateway run as separate processes; the load is reads (pages of both
vendors, single seals, an occasional heavy page) and writes (creates and uploads, each with an
Idempotency-Key, re-sent as a careful client would when the answer says the write may have
happened). It reports requests by outcome and error code, latency against the deadline,
vendor calls per request, breaker transitions, RSS before / peak / after, gateway crashes and
duplicate writes, plain-text 5xx answers, token fetches and vendor calls per second.

With `--redis`, it starts a `redis-server` of its own for the gateway's shared state and adds
a phase in which that server is killed and, at the phase's end, started again on the same
port: it reports how long after Redis returned answers were clean again.

    python bench/soak.py --phase-s 20 --concurrency 32 --write bench/RESULTS.md  # default serve
    python bench/soak.py --workers 2 --redis --write bench/RESULTS.md            # shared state
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.access.callers import new_key  # noqa: E402
from gateway.sandbox import state as demo  # noqa: E402

KEY, KEY_DIGEST = new_key()
AUTH = {"Authorization": f"Bearer {KEY}"}
DEADLINE_S = 3.0

LIST = (
    "{ seals(first: 20) { unavailable { provider code } edges { node { id name bizType status } }"
    " } }"
)
HEAVY = "{ seals(first: 100) { edges { node { id name bizType rejectReason } } } }"
ONE = "query($id: ID!) { seal(id: $id) { name bizType status } }"
CREATE = """mutation($input: TemplateSealInput!) { createTemplateSeal(input: $input) {
  seal { id name } userErrors { code message } } }"""
UPLOAD_OPERATIONS = json.dumps(
    {
        "query": "mutation($f: Upload!) { uploadSealImage(input: {file: $f}) "
        "{ image { storagePath } userErrors { code message } } }",
        "variables": {"f": None},
    }
)
YUNYIN_IDS = ["U2VhbDp5dW55aW46NTAwMDE=", "U2VhbDp5dW55aW46NTAwMDI="]  # Seal:yunyin:5000x

# (name, faults posted to the sandbox for 云银签); the first and last phases are healthy
PHASES: list[tuple[str, list[dict[str, Any]]]] = [
    ("healthy", []),
    ("latency 1.5 s", [{"vendor": "yunyin", "endpoint": "*", "status": 200, "delay_s": 1.5}]),
    ("5xx", [{"vendor": "yunyin", "endpoint": "*", "status": 503}]),
    (
        "hang 6 s (past the deadline)",
        [{"vendor": "yunyin", "endpoint": "*", "status": 200, "delay_s": 6.0}],
    ),
    (
        "wrong shapes",
        [
            {
                "vendor": "yunyin",
                "endpoint": "getSealListByPage",
                "status": 200,
                "body": {"code": "200", "msg": "ok", "data": {"records": []}},
            },
            {
                "vendor": "yunyin",
                "endpoint": "getSealInfo",
                "status": 200,
                "body": {"code": "200", "msg": "ok", "data": [1, 2]},
            },
        ],
    ),
    ("token expiry", []),  # tokens expired at the phase's start and every 5 s
    ("full outage", [{"vendor": "yunyin", "endpoint": "*", "status": 503, "code": "500"}]),
    ("healthy again", []),
]
REDIS_OUTAGE = "Redis killed (restarted at the phase's end)"
# What an answer says when the shared state was what failed it (or nothing answered at all).
LIMITS = (
    f"request deadline {DEADLINE_S:.0f} s, vendor timeout 2 s, breaker: 5 failures, 5 s cool-down"
)
SHARED_STATE_FAILURES = {"SHARED_STATE_UNAVAILABLE", "no JSON", "no answer"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            total += psutil.Process(pid).memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


def process_tree(pid: int) -> list[int]:
    return [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]


def unique_png(index: int) -> bytes:
    image = Image.new("RGBA", (120, 120), (255, 255, 255, 0))
    image.putpixel((index % 120, (index // 120) % 120), (200, 0, 0, 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


@dataclass
class Tally:
    outcomes: Counter[str] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    requests: int = 0
    transport_errors: int = 0
    writes: int = 0
    write_resends: int = 0
    writes_unsettled: int = 0
    created: list[str] = field(default_factory=list)
    uploads_answered: int = 0
    plain_5xx: int = 0
    # when an answer failed for the shared state (monotonic seconds)
    shared_state_failures: list[float] = field(default_factory=list)

    def record(self, status: int, body: Any, seconds: float) -> None:
        self.requests += 1
        self.latencies.append(seconds)
        errors = body.get("errors", []) if isinstance(body, dict) else []
        codes = {str((error.get("extensions") or {}).get("code")) for error in errors}
        for error in errors:
            self.codes[str((error.get("extensions") or {}).get("code"))] += 1
        # a provider failing on a page another answered is told on the page, not in errors
        seals = ((body or {}).get("data") or {}).get("seals") if isinstance(body, dict) else None
        told = (seals or {}).get("unavailable") or []
        for failure in told:
            self.codes[failure["code"]] += 1
        errors = [*errors, *told]
        if body is None:
            codes.add("no JSON")
            if status >= 500:
                self.plain_5xx += 1
        if codes & SHARED_STATE_FAILURES:
            self.shared_state_failures.append(time.monotonic())
        if status != 200:
            self.outcomes[f"HTTP {status}"] += 1
        elif not errors:
            self.outcomes["complete"] += 1
        elif body.get("data") and any(v is not None for v in body["data"].values()):
            self.outcomes["partial (data and errors)"] += 1
        else:
            self.outcomes["errors only"] += 1


async def send(client: httpx.AsyncClient, tally: Tally, **kwargs: Any) -> tuple[int, Any]:
    started = time.monotonic()
    try:
        response = await client.post("/graphql", **kwargs)
    except httpx.HTTPError:
        tally.transport_errors += 1
        tally.requests += 1
        tally.outcomes["no answer (transport)"] += 1
        tally.shared_state_failures.append(time.monotonic())
        return 0, None
    try:
        body = response.json()
    except ValueError:
        body = None
    tally.record(response.status_code, body, time.monotonic() - started)
    return response.status_code, body


def may_have_happened(status: int, body: Any) -> bool:
    errors = body.get("errors", []) if isinstance(body, dict) else []
    codes = {(e.get("extensions") or {}).get("code") for e in errors}
    if "SHARED_STATE_UNAVAILABLE" in codes:
        return False  # refused before any vendor call: nothing was written
    if status in (0, 409) or status >= 500:
        return True
    return any((e.get("extensions") or {}).get("writeMayHaveHappened") for e in errors)


async def write(client: httpx.AsyncClient, tally: Tally, index: int, run: str) -> None:
    """One logical write, re-sent with its key (up to 4 tries) while its outcome is unknown."""
    tally.writes += 1
    key = f"soak-{run}-{index}"
    if index % 2:
        name = f"soak{run}{index}"
        request: dict[str, Any] = {
            "json": {
                "query": CREATE,
                "variables": {"input": {"provider": "YUNYIN", "name": name, "bizType": "CONTRACT"}},
            }
        }
    else:
        name = ""
        request = {
            "data": {"operations": UPLOAD_OPERATIONS, "map": '{"0": ["variables.f"]}'},
            "files": {"0": ("seal.png", unique_png(index), "image/png")},
            "headers": {"Apollo-Require-Preflight": "true", "Idempotency-Key": key},
        }
    request.setdefault("headers", {})["Idempotency-Key"] = key
    for attempt in range(4):
        if attempt:
            tally.write_resends += 1
            await asyncio.sleep(0.5 * attempt)
        status, body = await send(client, tally, **request)
        if not may_have_happened(status, body):
            data = (body or {}).get("data") or {}
            if name and (data.get("createTemplateSeal") or {}).get("seal"):
                tally.created.append(name)
            if not name and (data.get("uploadSealImage") or {}).get("image"):
                tally.uploads_answered += 1
            return
    tally.writes_unsettled += 1


async def load(base: str, tally: Tally, stop: asyncio.Event, concurrency: int, run: str) -> None:
    counter = iter(range(10**9))

    async def worker(seed: int) -> None:
        rng = random.Random(seed)
        async with httpx.AsyncClient(base_url=base, headers=AUTH, timeout=30) as client:
            while not stop.is_set():
                roll = rng.random()
                if roll < 0.55:
                    await send(client, tally, json={"query": LIST})
                elif roll < 0.85:
                    variables = {"id": rng.choice(YUNYIN_IDS)}
                    await send(client, tally, json={"query": ONE, "variables": variables})
                elif roll < 0.9:
                    await send(client, tally, json={"query": HEAVY})
                else:
                    await write(client, tally, next(counter), run)

    await asyncio.gather(*(worker(i) for i in range(concurrency)))


class RedisServer:
    """A redis-server of the soak's own, which the outage phase kills and starts again."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._folder = tempfile.TemporaryDirectory(prefix="soak-redis-")
        self.process: subprocess.Popen[bytes] | None = None
        self.returned_at: float | None = None
        # the most calls per vendor within one second before the outage
        self.peaks_before: dict[str, int] = {}

    def start(self) -> None:
        binary = shutil.which("redis-server") or "redis-server"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            cwd=self._folder.name,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def close(self) -> None:
        self.kill()
        self._folder.cleanup()


def phases(redis_server: RedisServer | None) -> list[tuple[str, list[dict[str, Any]]]]:
    if redis_server is None:
        return PHASES
    return [*PHASES[:-1], (REDIS_OUTAGE, []), PHASES[-1]]


async def drive_faults(
    sandbox: str,
    phase_s: float,
    stop: asyncio.Event,
    log: list[str],
    redis_server: RedisServer | None,
) -> None:
    async with httpx.AsyncClient(base_url=sandbox, timeout=10) as client:
        for name, faults in phases(redis_server):
            await client.delete("/_sandbox/faults")
            for fault in faults:
                await client.post("/_sandbox/faults", json=fault)
            log.append(f"{time.strftime('%H:%M:%S')} phase: {name}")
            if name == REDIS_OUTAGE and redis_server is not None:
                calls = (await client.get("/_sandbox/calls")).json()
                redis_server.peaks_before = calls["peakPerSecond"]
                redis_server.kill()
            end = time.monotonic() + phase_s
            while time.monotonic() < end:
                if name == "token expiry":
                    await client.post("/_sandbox/tokens/expire", params={"vendor": "yunyin"})
                await asyncio.sleep(min(5.0, max(0.0, end - time.monotonic())))
            if name == REDIS_OUTAGE and redis_server is not None:
                redis_server.start()
                redis_server.returned_at = time.monotonic()
        await client.delete("/_sandbox/faults")
    stop.set()


async def sample_rss(pids: list[int], stop: asyncio.Event, peak: list[float]) -> None:
    while not stop.is_set():
        peak[0] = max(peak[0], rss_mb(pids))
        await asyncio.sleep(0.5)


async def duplicates(base: str, created: list[str], run: str) -> tuple[int, int]:
    """Seals per logical create (must be at most one) over the names the run used."""
    counts: Counter[str] = Counter()
    async with httpx.AsyncClient(base_url=base, headers=AUTH, timeout=30) as client:
        after = None
        while True:
            body = (
                await client.post(
                    "/graphql",
                    json={
                        "query": "query($a: String, $n: String) { seals(first: 100, after: $a, "
                        "filter: {providers: [YUNYIN], nameContains: $n}) { edges { node { name"
                        " } } pageInfo { hasNextPage endCursor } } }",
                        "variables": {"a": after, "n": f"soak{run}"},
                    },
                )
            ).json()
            page = body["data"]["seals"]
            counts.update(e["node"]["name"] for e in page["edges"])
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
    return sum(n - 1 for n in counts.values() if n > 1), len(counts)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


@dataclass
class Processes:
    sandbox: subprocess.Popen[bytes]
    gateway: subprocess.Popen[bytes]
    sandbox_url: str
    base: str
    log_path: Path


def start(args: argparse.Namespace) -> Processes:
    """The sandbox and the gateway, each a process of its own, the gateway answering."""
    sandbox_port, gateway_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEALGW_")}
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    env.update(
        SEALGW_ESIGN_BASE_URL=f"{sandbox_url}/esign",
        SEALGW_ESIGN_APP_ID=demo.ESIGN_APP_ID,
        SEALGW_ESIGN_APP_SECRET=demo.ESIGN_APP_SECRET,
        SEALGW_ESIGN_ORG_ID=demo.ESIGN_ORG_A,
        SEALGW_YUNYIN_BASE_URL=f"{sandbox_url}/yunyin",
        SEALGW_YUNYIN_APP_ID=demo.YUNYIN_APP_ID,
        SEALGW_YUNYIN_APP_SECRET=demo.YUNYIN_APP_SECRET,
        SEALGW_YUNYIN_USER_ID=str(demo.YUNYIN_ADMIN),
        SEALGW_API_KEYS=f"soak:admin:{KEY_DIGEST}",
        SEALGW_RATE_LIMIT="1000000/minute",
        SEALGW_REQUEST_DEADLINE=str(DEADLINE_S),
        SEALGW_UPSTREAM_TIMEOUT="2",
        SEALGW_BREAKER_COOLDOWN="5",
        PYTHONUNBUFFERED="1",
    )
    if args.redis_url:
        env["SEALGW_REDIS_URL"] = args.redis_url
    workers = [] if args.workers is None else ["--workers", str(args.workers)]
    python = sys.executable
    sandbox = subprocess.Popen(
        [python, "-m", "gateway", "sandbox", "--port", str(sandbox_port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log_path = Path("/tmp") / f"soak-gateway-{os.getpid()}.log"  # noqa: S108 (a local run's log)
    with log_path.open("w") as log_file:
        gateway = subprocess.Popen(
            [
                python,
                "-m",
                "gateway",
                "serve",
                "--port",
                str(gateway_port),
                *workers,
            ],
            cwd=ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{gateway_port}"
    for _ in range(200):
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.1)
    time.sleep(1.0)
    return Processes(sandbox, gateway, sandbox_url, base, log_path)


async def soak(
    args: argparse.Namespace, processes: Processes, redis_server: RedisServer | None
) -> str:
    base, sandbox_url, gateway = processes.base, processes.sandbox_url, processes.gateway
    try:
        pids = process_tree(gateway.pid)
        async with httpx.AsyncClient(base_url=base, headers=AUTH) as warm:
            for _ in range(20):
                await warm.post("/graphql", json={"query": LIST})
        rss_before = rss_mb(pids)
        async with httpx.AsyncClient(base_url=sandbox_url) as client:
            await client.delete("/_sandbox/calls")
        tally, stop, peak = Tally(), asyncio.Event(), [rss_before]
        phase_log: list[str] = []
        run = str(int(time.time()) % 100000)
        started = time.monotonic()
        await asyncio.gather(
            load(base, tally, stop, args.concurrency, run),
            drive_faults(sandbox_url, args.phase_s, stop, phase_log, redis_server),
            sample_rss(pids, stop, peak),
        )
        load_s = time.monotonic() - started
        await asyncio.sleep(args.settle_s)
        rss_after = rss_mb(pids)
        async with httpx.AsyncClient(base_url=sandbox_url) as client:
            calls = (await client.get("/_sandbox/calls")).json()
        async with httpx.AsyncClient(base_url=base) as client:
            ready = (await client.get("/readyz")).json()
        duplicate_seals, seals_made = await duplicates(base, tally.created, run)
        crashed = gateway.poll() is not None
    finally:
        gateway.terminate()
        processes.sandbox.terminate()
    log_text = processes.log_path.read_text()
    transitions = re.findall(r"breaker (\S+) (open|closed|half-open)[^\n]*", log_text)
    tracebacks = log_text.count("Traceback")
    vendor_calls = sum(calls["calls"].values())
    tokens = {v: calls["calls"].get(f"{v}:token", 0) for v in ("esign", "yunyin")}
    call_peaks = Counter(calls["peakPerSecond"])
    workers = "the default" if args.workers is None else str(args.workers)
    uploads_stored = calls["stored"]["yunyinUploads"]
    lat = tally.latencies
    lines = [
        f"Soak: {len(phase_log)} phases of {args.phase_s:.0f} s ({load_s:.0f} s of load), "
        f"{args.concurrency} concurrent clients, `serve` with {workers} worker(s)"
        f"{', Redis' if args.redis_url else ', no Redis'}; {LIMITS}; load average before "
        f"{os.getloadavg()[0]:.2f}.",
        "",
        "Phases (云银签 only unless named; e签宝 healthy throughout): "
        + "; ".join(line.split("phase: ")[1] for line in phase_log),
        "",
        "| measure | value |",
        "|---|---|",
        f"| requests | {tally.requests} ({tally.requests / load_s:.0f}/s) |",
    ]
    for outcome, count in tally.outcomes.most_common():
        lines.append(f"| outcome: {outcome} | {count} |")
    for code, count in tally.codes.most_common():
        lines.append(f"| error code: {code} | {count} |")
    lines += [
        f"| latency p50 / p99 / max | {statistics.median(lat) * 1000:.0f} ms / "
        f"{percentile(lat, 0.99) * 1000:.0f} ms / {max(lat) * 1000:.0f} ms "
        f"(deadline {DEADLINE_S * 1000:.0f} ms) |",
        f"| answers later than deadline + 1 s | {sum(1 for x in lat if x > DEADLINE_S + 1)} |",
        f"| vendor calls per request | {vendor_calls / max(1, tally.requests):.2f} "
        f"({vendor_calls} calls) |",
        f"| breaker transitions (from the log) | {len(transitions)}: "
        + ", ".join(f"{state}" for _, state in transitions[:12])
        + (" …" if len(transitions) > 12 else "")
        + " |",
        "| breakers at the end (/readyz) | "
        + ", ".join(f"{name}: {v['breaker']}" for name, v in ready["vendors"].items())
        + " |",
        f"| RSS before / peak / after {args.settle_s:.0f} s idle | {rss_before:.0f} / "
        f"{peak[0]:.0f} / {rss_after:.0f} MB |",
        f"| gateway crashes / tracebacks in its log | {int(crashed)} / {tracebacks} |",
        f"| plain-text 5xx answers | {tally.plain_5xx} |",
        f"| token fetches (e签宝 / 云银签) | {tokens['esign']} / {tokens['yunyin']} |",
        f"| most vendor calls within one second (e签宝, limit 50 / 云银签) | "
        f"{call_peaks['esign']} / {call_peaks['yunyin']} |",
        *(
            [
                "| the same, before Redis was killed (while it is away, each process "
                f"keeps its own window) | {redis_server.peaks_before.get('esign', 0)} / "
                f"{redis_server.peaks_before.get('yunyin', 0)} |"
            ]
            if redis_server is not None
            else []
        ),
        f"| logical writes / re-sent with the same key / unsettled after 4 tries | "
        f"{tally.writes} / {tally.write_resends} / {tally.writes_unsettled} |",
        f"| writes that failed cleanly (nothing written, the client was told) | "
        f"{tally.writes - len(tally.created) - tally.uploads_answered - tally.writes_unsettled}"
        " |",
        f"| seals made / duplicate seals | {seals_made} / {duplicate_seals} |",
        f"| uploads answered / files the vendor stored | {tally.uploads_answered} / "
        f"{uploads_stored} |",
    ]
    if redis_server is not None and redis_server.returned_at is not None:
        during = [t for t in tally.shared_state_failures if t >= redis_server.returned_at]
        clean_after = max(during) - redis_server.returned_at if during else 0.0
        lines.append(
            f"| answers failed for the shared state (all / after Redis returned) | "
            f"{len(tally.shared_state_failures)} / {len(during)} |"
        )
        lines.append(f"| seconds to clean answers after Redis returned | {clean_after:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--phase-s", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--workers", type=int, help="default: what `serve` chooses")
    parser.add_argument("--redis-url", help="a Redis of yours for the shared state")
    parser.add_argument(
        "--redis", action="store_true", help="a redis-server of the soak's own, and its outage"
    )
    parser.add_argument("--settle-s", type=float, default=20.0)
    parser.add_argument("--write", help="append the report to this file")
    args = parser.parse_args()
    redis_server = None
    if args.redis:
        redis_server = RedisServer()
        redis_server.start()
        args.redis_url = redis_server.url
    processes = start(args)
    try:
        report = asyncio.run(soak(args, processes, redis_server))
    finally:
        processes.gateway.terminate()
        processes.sandbox.terminate()
        processes.gateway.wait(timeout=20)
        processes.sandbox.wait(timeout=20)
        if redis_server is not None:
            redis_server.close()
    print(report)
    if args.write:
        with open(args.write, "a", encoding="utf-8") as out:
            out.write("\n\n" + time.strftime("%Y-%m-%d ") + report + "\n")


if __name__ == "__main__":
    main()
