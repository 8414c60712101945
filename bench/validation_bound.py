"""The validation bound, measured: how long the largest documents the limits let through take
to prepare (parse, bound, validate, compile), how fast the over-limit ones are refused, and
what an attacker sending such documents, each a new text, does to another client's latency.

    .venv/bin/python bench/validation_bound.py [--seconds 8]

Part 1 runs in this process (the product schema, the default limits). Part 2 starts the
gateway on its sandbox on a loopback port, probes `{ __typename }` every 20 ms alone and then
while attacker processes (one by default: a 2-core machine runs the gateway, the probe
and one attacker without taking turns) send distinct worst-case documents as fast as they
are answered, and reports the probe's latency both ways. Loopback only; bounded in time."""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.execution.documents import (  # noqa: E402
    DocumentLimits,
    Documents,
    validation_rules,
)
from gateway.execution.plan import plan_or_none  # noqa: E402
from gateway.schema import build_schema  # noqa: E402
from gateway.settings import DEFAULTS  # noqa: E402

SEAL = (
    "seals {{ edges {{ node {{ id vendorId name code bizType bizTypeLabel status statusLabel "
    "isDefault createdAt provider rejectReason authorizationCount image {{ url expiresAt }} "
    "physicalSize {{ width height unit }} }} }} totalCount pageInfo {{ hasNextPage endCursor }} }} "
    "n{n}: __typename"
)


def shapes(salt: int = 0) -> dict[str, str]:
    """The worst documents under the limits (each made distinct by `salt`), and some over."""
    r = DEFAULTS.max_repeats
    fields = "id vendorId name code bizType bizTypeLabel status statusLabel isDefault createdAt"
    return {
        # within the limits
        f"{r} copies of a 30-field seal page": "{ "
        + " ".join(SEAL.format(n=salt + i % 2) for i in range(r))
        + " }",
        f"{r} fragments of a 30-field seal page": "{ "
        + " ".join(f"...H{i}" for i in range(r))
        + " } "
        + " ".join(f"fragment H{i} on Query {{ {SEAL.format(n=salt)} }}" for i in range(r)),
        f"{r} copies of `providers {{ provider }}`": "{"
        + " providers { provider }" * r
        + f" s{salt}: __typename }}",
        f"{r} fragments of 10 seal fields, spread in one place": "{ seals { edges { node { "
        + " ".join(f"...G{i}" for i in range(r))
        + f" }} }} }} s{salt}: __typename }} "
        + " ".join(f"fragment G{i} on Seal {{ {fields} }}" for i in range(r)),
        "49 aliases of a seal page with a fragment": "query { "
        + " ".join(
            f"s{i}: seals(first: {i}) {{ edges {{ node {{ ...S }} }} }}" for i in range(1, 50)
        )
        + f" x{salt}: __typename }} fragment S on Seal {{ {fields} }}",
        # over the limits: refused before validation
        "1,240 copies of `providers { provider }` (refused)": "{"
        + " providers { provider }" * 1240
        + f" s{salt}: __typename }}",
        "300 copies of `providers { provider }` (refused)": "{"
        + " providers { provider }" * 300
        + f" s{salt}: __typename }}",
    }


def part_one() -> None:
    schema = build_schema()._schema
    rules = validation_rules(
        max_depth=DEFAULTS.max_depth, max_aliases=DEFAULTS.max_aliases, introspection=True
    )
    limits = DocumentLimits(DEFAULTS.max_tokens, DEFAULTS.max_selections, DEFAULTS.max_repeats)
    documents = Documents(
        schema, rules, limits, lambda tree, name: plan_or_none(schema, tree, name)
    )
    print("| document | bytes | prepared in (median of 5, ms) | max (ms) | refused |")
    print("|---|---|---|---|---|")
    for salt in range(1):
        for name, text in shapes(salt).items():
            times = []
            for run in range(5):
                started = time.perf_counter()
                document = documents.make(text + " " * run)
                times.append((time.perf_counter() - started) * 1000)
            refused = "yes" if document.errors else "no"
            print(
                f"| {name} | {len(text):,} | {statistics.median(times):.1f} | {max(times):.1f} | "
                f"{refused} |"
            )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def probe(url: str, seconds: float) -> list[float]:
    latencies = []
    with httpx.Client(timeout=30) as client:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = client.post(url, json={"query": "{ __typename }"})
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200
            time.sleep(0.02)
    return latencies


def attack(url: str, stop: Event, count: Synchronized[int], start: int) -> None:
    """An attacker in a process of its own (in this one, its client would compete with the
    probe's for the interpreter and the probe would measure that)."""
    salt = start
    worst = list(shapes().keys())
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            salt += 2
            for name in worst:
                client.post(url, json={"query": shapes(salt)[name]})
                with count.get_lock():
                    count.value += 1


def summary(latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"{len(ordered)} probes, p50 {statistics.median(ordered):.1f} ms, p99 {p99:.1f} ms, "
        f"max {ordered[-1]:.1f} ms"
    )


def part_two(seconds: float, attackers_n: int) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SEALGW_PORT": str(port),
        "SEALGW_LOG_LEVEL": "WARNING",
        "SEALGW_GRAPHIQL_FETCH": "off",
        "SEALGW_RATE_LIMIT": "1000000/minute",
    }
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "seal-gateway"), "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/graphql"
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        alone = probe(url, seconds)
        stop = multiprocessing.Event()
        count = multiprocessing.Value("i", 0)
        attackers = [
            multiprocessing.Process(target=attack, args=(url, stop, count, n), daemon=True)
            for n in range(attackers_n)
        ]
        for attacker in attackers:
            attacker.start()
        time.sleep(1.0)
        under_attack = probe(url, seconds)
        stop.set()
        for attacker in attackers:
            attacker.join(timeout=30)
        sent = count.value
        print(f"- alone: {summary(alone)}")
        print(
            f"- beside {attackers_n} attacker process(es) sending {sent} distinct worst-case "
            f"documents ({sent / (seconds + 1):.0f}/s): {summary(under_attack)}"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--attackers", type=int, default=1)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    part_one()
    print()
    part_two(args.seconds, args.attackers)


if __name__ == "__main__":
    main()
