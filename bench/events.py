"""Seal events under load: `seal-gateway serve` (one process) on the sandbox (`seal-gateway
sandbox`), both separate processes on loopback ports, the event log in a temporary
`SEALGW_DATA_DIR` (SQLite) or, with `--redis`, also on a `redis-server` of its own
(`SEALGW_REDIS_URL`, Redis streams). Measured, each phase with a time bound:

1. delivery latency with many graphql-transport-ws subscribers on the one process (opened by
   client processes of their own, `websockets`' asyncio client): paced signed e签宝
   notifications, each with a unique `sealName`; from just before the webhook POST (the
   sender's clock) to each subscriber's receipt of the event (the subscriber's clock, the same
   CLOCK_MONOTONIC); every delivery counted, missing and duplicated ones too;
2. notifications per second sustained at a bounded concurrency, with no subscriber and with
   some attached; every answer a 200, and the log read back (`sealEvents`, paged) holds
   exactly what was sent;
3. the gateway's RSS before and after opening the subscriptions of phase 1, per subscriber;
4. recovery: K notifications answered, the gateway stopped (SIGTERM) before anyone read them,
   started again on the same data (directory or Redis), a subscriber resuming from the last
   cursor before them: all K arrive, in order, once; the time from the restart to the last.

    python bench/events.py --redis --write bench/RESULTS.md

Loopback only; about four minutes with `--redis` on two cores."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake
from websockets.typing import Subprotocol

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.access.callers import new_key  # noqa: E402
from gateway.sandbox import state as demo  # noqa: E402

SUBSCRIPTION = """subscription Events($after: String) { sealEvents(after: $after) {
  cursor type source sealId vendorAction occurredAt details { name value } } }"""
PAGE = """query($after: String) { sealEvents(first: 100, after: $after) {
  edges { cursor node { vendorAction details { name value } } }
  pageInfo { hasNextPage endCursor } } }"""
SEAL_ID = "bench-seal"
PROTOCOLS = [Subprotocol("graphql-transport-ws")]
# timeouts of each step (seconds)
START_S = 60.0
OPEN_S = 120.0
DRAIN_S = 60.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} CPU ({cpu}), Python {platform.python_version()}, {platform.system()}"


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def filesystem(path: str) -> str:
    """The type of the filesystem holding `path` (the log's fsyncs depend on it)."""
    best, kind = "", "?"
    for part in psutil.disk_partitions(all=True):
        if path.startswith(part.mountpoint) and len(part.mountpoint) > len(best):
            best, kind = part.mountpoint, part.fstype
    return kind


def kind_of(message: str) -> str:
    """A subscriber's error line, shortened to its kind (`complete`, `error`, a failure)."""
    with contextlib.suppress(ValueError, AttributeError):
        return str(json.loads(message).get("type"))
    return message.split(":")[0] if message.startswith("connection") else message[:40]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# --- a notification as e签宝 sends one -------------------------------------------------------


def audit_body(marker: str) -> bytes:
    """A SEAL_AUDIT notification (the shape of e签宝's page), `marker` as its seal name: unique
    bodies, so none is taken for a delivery of another."""
    body = {
        "action": "SEAL_AUDIT",
        "auditStatus": 1,
        "bodyVersion": "V3",
        "orgId": demo.ESIGN_ORG_A,
        "rejectReason": "",
        "sealBizType": "COMMON",
        "sealId": SEAL_ID,
        "sealName": marker,
        "statusDescription": "通过",
    }
    return json.dumps(body, ensure_ascii=False).encode()


def signed(body: bytes) -> dict[str, str]:
    """e签宝's headers: app id, ms timestamp, hex HMAC-SHA256(secret, timestamp + body)
    (the callback address has no query)."""
    stamp = str(int(time.time() * 1000))
    signature = hmac.new(
        demo.ESIGN_APP_SECRET.encode(), stamp.encode() + body, hashlib.sha256
    ).hexdigest()
    return {
        "X-Tsign-Open-App-Id": demo.ESIGN_APP_ID,
        "X-Tsign-Open-TIMESTAMP": stamp,
        "X-Tsign-Open-SIGNATURE": signature,
        "X-Tsign-Open-SIGNATURE-ALGORITHM": "hmac-sha256",
        "Content-Type": "application/json",
    }


async def post(session: aiohttp.ClientSession, url: str, marker: str) -> int:
    body = audit_body(marker)
    async with session.post(f"{url}/webhooks/esign", data=body, headers=signed(body)) as answer:
        await answer.read()
        return answer.status


# --- subscribers (a client process of their own) ---------------------------------------------


def marker_of(payload: dict[str, Any]) -> tuple[str, str]:
    event = payload["data"]["sealEvents"]
    for detail in event["details"]:
        if detail["name"] == "sealName":
            return detail["value"], event["cursor"]
    return "", event["cursor"]


async def subscriber_process(url: str, key: str, count: int, after: str | None, out: str) -> None:
    """`count` connections, one subscription each, after `after`. On stdin: `warm MARKER`
    (say `ready` once every connection has that event), `expect N` (say `complete` once every
    connection has N events besides warm-ups), `stop` (close, write what each received to `out`,
    say `done`)."""
    received: list[list[tuple[str, float]]] = [[] for _ in range(count)]
    measured = [0] * count  # events besides warm-ups, per connection
    warmed: list[set[str]] = [set() for _ in range(count)]
    errors: list[str] = []
    sockets: list[ClientConnection] = []
    changed = asyncio.Event()
    settled = asyncio.Event()  # every connection subscribed, or one failed
    subscribed: list[int] = []
    ws = url.replace("http://", "ws://") + "/graphql"
    gate = asyncio.Semaphore(64)

    async def one(index: int) -> None:
        async with gate:
            socket_ = await connect(ws, subprotocols=PROTOCOLS, open_timeout=30, max_queue=None)
            sockets.append(socket_)
            await socket_.send(
                json.dumps(
                    {"type": "connection_init", "payload": {"Authorization": f"Bearer {key}"}}
                )
            )
            ack = json.loads(await socket_.recv())
            if ack["type"] != "connection_ack":
                raise RuntimeError(f"not acknowledged: {ack}")
            payload = {"query": SUBSCRIPTION, "variables": {"after": after}}
            await socket_.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        subscribed.append(index)
        if len(subscribed) + len(errors) >= count:
            settled.set()
        mine = received[index]
        async for raw in socket_:
            now = time.monotonic()
            message = json.loads(raw)
            kind = message["type"]
            if kind == "next" and "errors" not in message["payload"]:
                marker = marker_of(message["payload"])[0]
                mine.append((marker, now))
                if marker.startswith("warm"):
                    warmed[index].add(marker)
                else:
                    measured[index] += 1
                changed.set()
            elif kind == "ping":
                await socket_.send('{"type": "pong"}')
            else:
                errors.append(str(raw)[:300])

    async def run(index: int) -> None:
        try:
            await one(index)
        except Exception as error:
            errors.append(f"connection {index}: {type(error).__name__}: {error}")
            settled.set()

    tasks = [asyncio.create_task(run(i)) for i in range(count)]
    await settled.wait()
    print(f"subscribed {len(subscribed)} {len(errors)}", flush=True)
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)

    async def wait_until(ok: Any) -> None:
        while not ok():
            changed.clear()
            await changed.wait()

    async def say_when(ok: Any, word: str) -> None:
        await wait_until(ok)
        print(word, flush=True)

    waiting: set[asyncio.Task[None]] = set()
    while True:
        line = (await reader.readline()).decode().split()
        if not line or line[0] == "stop":
            break
        if line[0] == "warm":
            warm = line[1]
            ok = lambda warm=warm: all(warm in seen for seen in warmed)  # noqa: E731
            waiting.add(asyncio.create_task(say_when(ok, "ready")))
        elif line[0] == "expect":
            n = int(line[1])
            waiting.add(asyncio.create_task(say_when(lambda n=n: min(measured) >= n, "complete")))
    for task in waiting:
        task.cancel()
    for socket_ in sockets:
        with contextlib.suppress(Exception):
            await socket_.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    text = json.dumps({"received": received, "errors": errors})
    await asyncio.to_thread(Path(out).write_text, text)
    print("done", flush=True)


@dataclass
class Subscribers:
    """Client processes holding `total` subscriptions between them."""

    url: str
    key: str
    total: int
    after: str | None
    processes: int = 2
    folder: str = field(default_factory=lambda: tempfile.mkdtemp(prefix="ebench-"))
    children: list[tuple[asyncio.subprocess.Process, str]] = field(default_factory=list)

    async def __aenter__(self) -> Subscribers:
        shares = [
            self.total // self.processes + (i < self.total % self.processes)
            for i in range(self.processes)
        ]
        for index, share in enumerate(s for s in shares if s):
            out = f"{self.folder}/received-{index}.json"
            args = [__file__, "--subscriber", self.url, self.key, str(share), self.after or "", out]
            child = await asyncio.create_subprocess_exec(
                sys.executable,
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            self.children.append((child, out))
        for child, _ in self.children:
            line = await self.line(child, OPEN_S)
            _, _opened, failed = line.split()
            if failed != "0":
                raise RuntimeError(f"subscriptions failed to open: {line}")
        return self

    async def line(self, child: asyncio.subprocess.Process, within_s: float) -> str:
        assert child.stdout is not None
        raw = await asyncio.wait_for(child.stdout.readline(), within_s)
        if not raw:
            raise RuntimeError("a subscriber process ended early")
        return raw.decode().strip()

    async def tell(self, command: str, answer: str, within_s: float) -> None:
        for child, _ in self.children:
            assert child.stdin is not None
            child.stdin.write(f"{command}\n".encode())
            await child.stdin.drain()
        for child, _ in self.children:
            got = await self.line(child, within_s)
            while answer == "done" and got in ("complete", "ready"):
                got = await self.line(child, within_s)  # an answer that crossed the stop
            if got != answer:
                raise RuntimeError(f"subscriber process said {got!r}, not {answer!r}")

    async def settle(self, expected: int, within_s: float) -> bool:
        """Whether every subscriber has `expected` events within `within_s`."""
        try:
            await self.tell(f"expect {expected}", "complete", within_s)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> tuple[list[list[tuple[str, float]]], list[str]]:
        received: list[list[tuple[str, float]]] = []
        errors: list[str] = []
        await self.tell("stop", "done", 60)
        for child, out in self.children:
            await child.wait()
            data = json.loads(await asyncio.to_thread(Path(out).read_text))
            received.extend([[(m, t) for m, t in r] for r in data["received"]])
            errors.extend(data["errors"])
        self.children.clear()
        return received, errors

    async def __aexit__(self, *_: object) -> None:
        for child, _out in self.children:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            await child.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


# --- the processes --------------------------------------------------------------------------


@contextmanager
def redis_server() -> Iterator[str]:
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--bind",
                "127.0.0.1",
            ],
            cwd=folder,
            stdout=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while True:
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port)):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            process.kill()
            process.wait()


def wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_S
    while True:
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.02)


@dataclass
class Gateway:
    """`seal-gateway serve` on a loopback port; started again on the same settings."""

    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    url: str = ""

    def start(self, wait: bool = True) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                # one process with Redis too (its default is one per core)
                [sys.executable, "-m", "gateway", "serve", "--port", str(port), "--workers", "1"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if wait:
            wait_healthy(self.url, self.process, self.log)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def rss_mib(self) -> float:
        assert self.process is not None
        top = psutil.Process(self.process.pid)
        total: int = sum(p.memory_info().rss for p in [top, *top.children(recursive=True)])
        return total / 2**20

    def cpu_s(self) -> float:
        assert self.process is not None
        top = psutil.Process(self.process.pid)
        total = 0.0
        for p in [top, *top.children(recursive=True)]:
            times = p.cpu_times()
            total += times.user + times.system
        return total


async def log_after(url: str, auth: dict[str, str], after: str | None) -> tuple[list[str], str]:
    """The seal names of every event after `after` (paged, 100 a page) and the end cursor."""
    names: list[str] = []
    async with httpx.AsyncClient(headers=auth, timeout=30) as client:
        while True:
            answer = await client.post(
                f"{url}/graphql", json={"query": PAGE, "variables": {"after": after}}
            )
            body = answer.json()
            if "errors" in body:
                raise RuntimeError(body["errors"])
            page = body["data"]["sealEvents"]
            for edge in page["edges"]:
                details = {d["name"]: d["value"] for d in edge["node"]["details"]}
                names.append(details.get("sealName", ""))
            after = page["pageInfo"]["endCursor"]
            if not page["pageInfo"]["hasNextPage"]:
                assert after is not None
                return names, after


# --- the phases -----------------------------------------------------------------------------


@dataclass
class Run:
    gateway: Gateway
    key: str
    args: argparse.Namespace
    label: str
    rows: dict[str, str] = field(default_factory=dict)
    cursor: str | None = None

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    async def end(self) -> str:
        _, self.cursor = await log_after(self.gateway.url, self.auth, self.cursor)
        return self.cursor

    async def delivery(self, notifications: int, steady: bool) -> None:
        """Phases 1 and 3: latency with N subscribers, and their memory. `steady`: after the
        tenant's feed holds its full window of recent events (as in any gateway that has run
        a while), not on a fresh one."""
        args, gw = self.args, self.gateway
        tag = "steady" if steady else "fresh"
        url = gw.url
        async with aiohttp.ClientSession() as session:
            # warm the paths once (a few subscribers, one event), then the baseline
            async with Subscribers(url, self.key, 10, await self.end(), 1) as few:
                assert await post(session, url, f"warm-{self.label}-{tag}-0") == 200
                await few.tell(f"warm warm-{self.label}-{tag}-0", "ready", DRAIN_S)
                await few.stop()
            await asyncio.sleep(1.0)
            rss_before = gw.rss_mib()
            n = args.subscribers
            opened = time.monotonic()
            async with Subscribers(url, self.key, n, await self.end(), args.client_processes) as s:
                warm = f"warm-{self.label}-{tag}-1"
                assert await post(session, url, warm) == 200
                await s.tell(f"warm {warm}", "ready", OPEN_S)
                open_s = time.monotonic() - opened
                await asyncio.sleep(1.0)
                rss_open = gw.rss_mib()
                sent: dict[str, float] = {}
                answers: list[float] = []
                statuses: Counter[int] = Counter()
                cpu0 = gw.cpu_s()
                began = time.monotonic()

                async def one(marker: str) -> None:
                    sent[marker] = time.monotonic()
                    statuses[await post(session, url, marker)] += 1
                    answers.append(time.monotonic() - sent[marker])

                # at the rate's ticks, whether or not the answers before have come (as e签宝,
                # which does not wait for one notification's answer to send the next)
                posting: list[asyncio.Task[None]] = []
                for i in range(notifications):
                    tick = began + i / args.rate
                    await asyncio.sleep(max(0.0, tick - time.monotonic()))
                    posting.append(asyncio.create_task(one(f"lat-{self.label}-{tag}-{i}")))
                await asyncio.gather(*posting)
                last = time.monotonic()
                settled = await s.settle(len(sent), DRAIN_S * 3)
                drained = time.monotonic() - last
                cpu = gw.cpu_s() - cpu0
                rss_after = gw.rss_mib()
                received, errors = await s.stop()
            await asyncio.sleep(1.0)
            rss_closed = gw.rss_mib()
        latencies: list[float] = []
        missing = duplicated = 0
        for mine in received:
            counts = Counter(m for m, _ in mine if m in sent)
            missing += sum(1 for m in sent if counts[m] == 0)
            duplicated += sum(c - 1 for c in counts.values() if c > 1)
            latencies.extend(t - sent[m] for m, t in mine if m in sent)
        deliveries = len(latencies)
        per_sub_kib = (rss_open - rss_before) * 1024 / n
        when = "full feed window" if steady else "fresh feed"
        if not steady:
            self.rows["subscribers (graphql-transport-ws, one each connection)"] = (
                f"{n} from {args.client_processes} client processes; all open and live in "
                f"{open_s:.1f} s"
            )
        self.rows[f"delivery latency p50 / p99 / max, {when}"] = (
            f"**{pct(latencies, 0.5) * 1000:,.0f} / {pct(latencies, 0.99) * 1000:,.0f}** / "
            f"{max(latencies, default=float('nan')) * 1000:,.0f} ms over {deliveries:,} "
            f"deliveries ({notifications} notifications at {args.rate:g}/s; the last "
            + (
                f"delivered {drained:.1f} s after the last POST)"
                if settled
                else f"NOT all delivered within {drained:.0f} s of the last POST)"
            )
        )
        self.rows[f"deliveries missing / duplicated, {when}"] = (
            f"{missing} / {duplicated}; webhook answers {dict(sorted(statuses.items()))}, "
            f"p50 {pct(answers, 0.5) * 1000:.1f} ms; subscriber errors {len(errors)}"
        )
        self.rows[f"gateway CPU per delivery, {when}"] = (
            f"{cpu * 1e6 / max(deliveries, 1):,.0f} µs ({cpu:.1f} s CPU, from the first POST "
            "to the last delivery)"
        )
        self.rows[f"RSS: before / N open / after the events / all closed, {when}"] = (
            f"{rss_before:.1f} / {rss_open:.1f} / {rss_after:.1f} / {rss_closed:.1f} MiB"
        )
        if not steady:
            self.rows["memory per subscriber (RSS growth / N)"] = f"**{per_sub_kib:.1f} KiB**"
        for error in errors[:3]:
            print("subscriber error:", error, file=sys.stderr)

    async def sustained(self, attached: int) -> None:
        """Phase 2: notifications per second at a bounded concurrency."""
        args, gw = self.args, self.gateway
        url = gw.url
        start = await self.end()
        statuses: Counter[int] = Counter()
        answers: list[float] = []
        markers: list[str] = []
        counter = iter(range(10**9))
        label = f"rate-{self.label}-{attached}"

        async def worker(session: aiohttp.ClientSession, stop: float) -> None:
            while time.monotonic() < stop:
                marker = f"{label}-{next(counter)}"
                markers.append(marker)
                began = time.monotonic()
                try:
                    status = await asyncio.wait_for(post(session, url, marker), 30)
                except (TimeoutError, aiohttp.ClientError):
                    status = 0
                answers.append(time.monotonic() - began)
                statuses[status] += 1

        async def load() -> float:
            connector = aiohttp.TCPConnector(limit=args.concurrency)
            async with aiohttp.ClientSession(connector=connector) as session:
                began = time.monotonic()
                stop = began + args.sustain_s
                await asyncio.gather(*(worker(session, stop) for _ in range(args.concurrency)))
                return time.monotonic() - began

        drain = ""
        cpu0 = gw.cpu_s()
        if attached:
            async with Subscribers(url, self.key, attached, start, 1) as s:
                warm = f"warm-{label}"
                async with aiohttp.ClientSession() as session:
                    assert await post(session, url, warm) == 200
                await s.tell(f"warm {warm}", "ready", OPEN_S)
                markers.clear()
                cpu0 = gw.cpu_s()
                began = time.monotonic()
                seconds = await load()
                ended = time.monotonic()
                settled = await s.settle(statuses[200], DRAIN_S)
                received, errors = await s.stop()
            sent = set(markers)
            got = [Counter(m for m, _ in r if m in sent) for r in received]
            short = sum(1 for c in got for m in sent if c[m] == 0)
            twice = sum(v - 1 for c in got for v in c.values() if v > 1)
            times = [t for r in received for m, t in r if m in sent]
            last = max(times, default=ended)
            deliveries = len(times)
            drain = (
                f"; the {attached} subscribers: {deliveries:,} of {statuses[200] * attached:,} "
                f"deliveries ({short:,} missing"
                + ("" if settled else f" when stopped {DRAIN_S:.0f} s after the load")
                + f", {twice} duplicated), {deliveries / (last - began):,.0f} deliveries/s, "
                f"the last {last - ended:.1f} s after the last answer; CPU includes them; "
                f"messages other than `next`: {dict(Counter(kind_of(e) for e in errors))}"
            )
            for error in errors[:3]:
                print("subscriber error:", error, file=sys.stderr)
        else:
            seconds = await load()
        cpu = gw.cpu_s() - cpu0
        names, self.cursor = await log_after(url, self.auth, start)
        logged = Counter(n for n in names if n.startswith(label))
        ok = statuses[200]
        exact = len(logged) == ok and all(v == 1 for v in logged.values())
        self.rows[f"notifications/s sustained, {attached} subscribers"] = (
            f"**{ok / seconds:,.0f}/s** ({ok:,} in {seconds:.1f} s at {args.concurrency} in "
            f"flight), answer p50 / p99 {pct(answers, 0.5) * 1000:.1f} / "
            f"{pct(answers, 0.99) * 1000:.1f} ms; answers {dict(sorted(statuses.items()))}; "
            f"log holds {len(logged):,} of them ({'exactly' if exact else 'NOT exactly'} those "
            f"answered 200); gateway CPU {cpu * 1e6 / max(ok, 1):.0f} µs per notification"
            f"{drain}"
        )

    async def recovery(self) -> None:
        """Phase 4: K notifications, a restart before anyone read them, a resumed subscriber."""
        args, gw = self.args, self.gateway
        k = args.restart_k
        start = await self.end()
        markers = [f"rec-{self.label}-{i:05d}" for i in range(k)]
        statuses: Counter[int] = Counter()
        async with aiohttp.ClientSession() as session:
            for chunk in range(0, k, 16):
                got = await asyncio.gather(
                    *(post(session, gw.url, m) for m in markers[chunk : chunk + 16])
                )
                statuses.update(got)
        assert statuses == {200: k}, statuses
        # the order the log holds them in (the posts went 16 at a time)
        logged, _ = await log_after(gw.url, self.auth, start)
        gw.stop()
        restarted = time.monotonic()
        gw.start(wait=False)
        ws = gw.url.replace("http://", "ws://") + "/graphql"
        first_open = 0.0
        received: list[tuple[str, str]] = []
        deadline = restarted + START_S
        while True:
            try:
                socket_ = await connect(
                    ws,
                    subprotocols=PROTOCOLS,
                    open_timeout=5,
                )
                break
            except (OSError, TimeoutError, InvalidHandshake):
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.02)
        async with socket_:
            first_open = time.monotonic() - restarted
            await socket_.send(json.dumps({"type": "connection_init", "payload": self.auth}))
            assert (
                json.loads(await asyncio.wait_for(socket_.recv(), 10))["type"] == "connection_ack"
            )
            payload = {"query": SUBSCRIPTION, "variables": {"after": start}}
            await socket_.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
            while len(received) < k:
                message = json.loads(await asyncio.wait_for(socket_.recv(), DRAIN_S))
                if message["type"] == "next":
                    received.append(marker_of(message["payload"]))
            all_in = time.monotonic() - restarted
            # anything more within a second would be a duplicate
            with contextlib.suppress(TimeoutError):
                while True:
                    message = json.loads(await asyncio.wait_for(socket_.recv(), 1.0))
                    if message["type"] == "next":
                        received.append(marker_of(message["payload"]))
        wait_healthy(gw.url, gw.process, gw.log)  # type: ignore[arg-type]
        names = [m for m, _ in received]
        in_order = names == logged and sorted(set(names)) == sorted(markers)
        self.rows["recovery after a restart (SIGTERM, same data)"] = (
            f"K = {k} answered 200 then the gateway stopped; resumed from the cursor before "
            f"them: {len(set(names) & set(markers))} of {k} arrived, "
            f"{'in the log order, each once' if in_order else 'NOT in order / once'} "
            f"({len(names) - len(set(names))} duplicates); restart → socket accepted "
            f"{first_open:.2f} s, → all K delivered **{all_in:.2f} s**"
        )


def gateway_env(
    sandbox: str, data_dir: str, key_digest: str, args: argparse.Namespace, redis_url: str | None
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEALGW_")}
    env.update(
        SEALGW_ESIGN_BASE_URL=f"{sandbox}/esign",
        SEALGW_ESIGN_APP_ID=demo.ESIGN_APP_ID,
        SEALGW_ESIGN_APP_SECRET=demo.ESIGN_APP_SECRET,
        SEALGW_ESIGN_ORG_ID=demo.ESIGN_ORG_A,
        SEALGW_YUNYIN_BASE_URL=f"{sandbox}/yunyin",
        SEALGW_YUNYIN_APP_ID=demo.YUNYIN_APP_ID,
        SEALGW_YUNYIN_APP_SECRET=demo.YUNYIN_APP_SECRET,
        SEALGW_YUNYIN_USER_ID=str(demo.YUNYIN_ADMIN),
        SEALGW_API_KEYS=f"bench:admin:{key_digest}",
        SEALGW_RATE_LIMIT="1000000/minute",
        SEALGW_READY_INTERVAL="0",
        SEALGW_GRAPHIQL_FETCH="off",
        SEALGW_DATA_DIR=data_dir,
        # no 云银签 listing compared in the background: the log holds the bench's events only
        SEALGW_CHANGE_POLL_SECONDS="0",
        # one API key holds every subscription (the default allows 20 per caller)
        SEALGW_MAX_SUBSCRIPTIONS_PER_CALLER=str(args.subscribers + 100),
        SEALGW_MAX_SUBSCRIPTIONS=str(max(10_000, args.subscribers + 100)),
    )
    if redis_url:
        env["SEALGW_REDIS_URL"] = redis_url
    return env


async def measure(sandbox: str, args: argparse.Namespace, redis_url: str | None) -> Run:
    key, digest = new_key()
    label = "redis" if redis_url else "sqlite"
    with tempfile.TemporaryDirectory(prefix="ebench-data-") as data_dir:
        log = Path(data_dir) / "gateway.log"
        gw = Gateway(gateway_env(sandbox, f"{data_dir}/data", digest, args, redis_url), log)
        run = Run(gw, key, args, label)
        gw.start()
        try:
            phases: list[tuple[str, float, Callable[[], Awaitable[None]]]] = [
                (
                    f"delivery with {args.subscribers} subscribers",
                    600.0,
                    lambda: run.delivery(args.notifications, steady=False),
                ),
                ("sustained, 0 subscribers", args.sustain_s + 200, lambda: run.sustained(0)),
                (
                    f"sustained, {args.attached} subscribers",
                    args.sustain_s + 200,
                    lambda: run.sustained(args.attached),
                ),
                (
                    "delivery again, the feed's window full",
                    600.0,
                    lambda: run.delivery(args.steady_notifications, steady=True),
                ),
                ("recovery", 300.0, run.recovery),
            ]
            shown: set[str] = set()
            for title, bound, phase in phases:
                print(f"[{label}] {title}", file=sys.stderr)
                await asyncio.wait_for(phase(), bound)
                for name, value in run.rows.items():
                    if name not in shown:
                        print(f"  {name}: {value}", file=sys.stderr)
                        shown.add(name)
        finally:
            gw.stop()
            text = log.read_text(errors="replace")
            tracebacks = text.count("Traceback") + text.count('"exception"')
            # what went wrong, for the reader of the run (the log goes with the directory)
            troubles: Counter[str] = Counter()
            for line in text.splitlines():
                with contextlib.suppress(ValueError, AttributeError):
                    entry = json.loads(line)
                    if entry.get("level") not in ("INFO", "DEBUG"):
                        cause = str(entry.get("exception") or "").strip().splitlines()[-1:]
                        troubles[" ".join([str(entry.get("message"))[:120], *cause])[:240]] += 1
            for message, times in troubles.most_common(8):
                print(f"  gateway log x{times}: {message}", file=sys.stderr)
            run.rows["tracebacks in the gateway's log"] = str(tracebacks)
            run.rows["log home"] = (
                "Redis stream (own `redis-server`, no persistence)"
                if redis_url
                else f"SQLite, WAL, synchronous=FULL, on {filesystem(data_dir)}"
            )
    return run


@contextmanager
def sandbox_process() -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "sandbox", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_S
        while True:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the sandbox did not start")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def report(runs: list[Run], args: argparse.Namespace, command: str, load: tuple[str, str]) -> str:
    heads = ["SQLite log (`serve`, 1 process)", "Redis streams (`SEALGW_REDIS_URL`, `--workers 1`)"]
    lines = [
        "| measure | "
        + " | ".join(heads[-len(runs) :] if args.no_sqlite else heads[: len(runs)])
        + " |",
        "|---|" + "---|" * len(runs),
    ]
    order = list(runs[0].rows)
    lines += [
        f"| {name} | " + " | ".join(r.rows.get(name, "—") for r in runs) + " |" for name in order
    ]
    return "\n".join(
        [
            f"Machine: {machine()}; load average (1, 5, 15 min) {load[0]} before, "
            f"{load[1]} after. **The 2 cores are shared** by the gateway, the sandbox, "
            f"{'Redis, ' if len(runs) > 1 else ''}the subscriber client processes and the "
            "sender: absolute figures are lower than on a dedicated host.",
            "",
            f"Command: `{command}`",
            "",
            *lines,
        ]
    )


def write(path: Path, text: str) -> None:
    body = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"<!-- events -->\n{text}\n<!-- /events -->"
    if "<!-- events -->" in body:
        body = re.sub(r"<!-- events -->.*<!-- /events -->", lambda _: block, body, flags=re.S)
    else:
        body = body.rstrip("\n") + "\n\n## Seal events (`bench/events.py`)\n\n" + HOW + block + "\n"
    path.write_text(body, encoding="utf-8")


HOW = """`bench/events.py` starts the sandbox (`seal-gateway sandbox`) and the gateway
(`seal-gateway serve`, one process, pointed at it, `SEALGW_DATA_DIR` in a temporary directory;
with `--redis` also a `redis-server` of its own and `SEALGW_REDIS_URL`) as separate processes on
loopback ports. Notifications are signed and posted as e签宝 sends them (`SEAL_AUDIT`, each body
unique: its `sealName` is the marker the subscribers match). Subscribers are graphql-transport-ws
connections (one subscription each, selecting the event's own fields and `details`, not `seal`,
which would read the vendor once per subscriber and event) opened by client processes of their
own with `websockets`' asyncio client, resuming from the log's end cursor.

- Delivery latency: from just before the webhook POST (sender) to each subscriber's receipt
  (the subscriber's `recv`; the same CLOCK_MONOTONIC): nothing subtracted, so it holds the
  POST, the signature check, the append (SQLite: one fsync per event; Redis: one Lua call and
  the stream read back by the feed), the wake-up of every subscriber, one GraphQL execution and
  one WebSocket frame per subscriber, and the client processes' own queueing on shared cores.
  Notifications go out at the rate's ticks, whether or not earlier answers have come.
- Order of the phases, on one gateway: delivery on a fresh feed; the sustained rate with 0,
  then 100 subscribers; delivery again once the tenant's feed holds its full window of 1,024
  recent events (any gateway that has run a while); then the restart.
- Sustained rate: 16 posts in flight for 20 s; the log is then read back by `sealEvents`
  (100 a page) and must hold exactly the notifications answered 200.
- Memory: the gateway's RSS (psutil) after a warm-up, then with every subscription open and
  live (each has received one event); the difference over N.
- Recovery: K notifications answered 200, SIGTERM, the gateway started again on the same data,
  one subscriber resuming from the cursor before them.
- Settings for the bench: `SEALGW_MAX_SUBSCRIPTIONS_PER_CALLER` above N (the default, 20 per
  caller, refuses the 21st of one API key), `SEALGW_CHANGE_POLL_SECONDS=0`, rate limit far
  above the load; the rest defaults (log level INFO: one line per notification).

"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--notifications", type=int, default=100)
    parser.add_argument(
        "--steady-notifications",
        type=int,
        default=20,
        help="phase 1 again once the feed's window of recent events is full",
    )
    parser.add_argument("--rate", type=float, default=10.0, help="notifications/s in phase 1")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sustain-s", type=float, default=20.0)
    parser.add_argument("--attached", type=int, default=100)
    parser.add_argument("--restart-k", type=int, default=500)
    parser.add_argument("--redis", action="store_true", help="also with the log in Redis")
    parser.add_argument("--no-sqlite", action="store_true", help="only the Redis column")
    parser.add_argument("--write", type=Path, help="write the table into this file")
    parser.add_argument("--subscriber", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.subscriber:
        url, key, count, after, out = args.subscriber
        asyncio.run(subscriber_process(url, key, int(count), after or None, out))
        return
    command = "python " + " ".join(["bench/events.py", *sys.argv[1:]])
    before = loadavg()
    runs: list[Run] = []
    with sandbox_process() as sandbox:
        if not args.no_sqlite:
            runs.append(asyncio.run(measure(sandbox, args, None)))
        if args.redis:
            with redis_server() as redis_url:
                runs.append(asyncio.run(measure(sandbox, args, redis_url)))
    text = report(runs, args, command, (before, loadavg()))
    print(text)
    if args.write:
        write(args.write, text)


if __name__ == "__main__":
    main()
