"""Share of the gateway's CPU spent in cyclic garbage collection, serving pages of 20 seals
from the peers' 云银签 stub, with the gateway's tuning (frozen start-up heap, a first
generation of 10,000: `tune_garbage_collection` in gateway/http/app.py) and with Python's
defaults. In one process: the gateway in a thread, a thread pool of clients; GC time from
`gc.callbacks`, CPU from `time.process_time`.

    python bench/gc_share.py --requests 3000   # needs the stub: see bench/compare.sh
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.access.callers import new_key  # noqa: E402
from gateway.config import load_settings  # noqa: E402
from gateway.http.app import create_app  # noqa: E402

PEERS = ROOT.parent / "shared" / "peers"
STUB_PYTHON = Path(os.environ.get("PEERS_CACHE", "/tmp/seal-peers")) / "venv" / "bin" / "python"  # noqa: S108


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def run(requests: int, tuned: bool) -> tuple[float, float, float]:
    stub_port, port = free_port(), free_port()
    stub = subprocess.Popen(
        [
            str(STUB_PYTHON),
            "-m",
            "uvicorn",
            "upstream_stub:app",
            "--port",
            str(stub_port),
            "--log-level",
            "warning",
        ],
        cwd=PEERS,
    )
    key, digest = new_key()
    settings = load_settings(
        {
            "SEALGW_YUNYIN_BASE_URL": f"http://127.0.0.1:{stub_port}",
            "SEALGW_YUNYIN_APP_ID": "bench-app",
            "SEALGW_YUNYIN_APP_SECRET": "bench-secret",
            "SEALGW_YUNYIN_USER_ID": "20001",
            "SEALGW_API_KEYS": f"bench:admin:{digest}",
            "SEALGW_RATE_LIMIT": "100000000/minute",
            "SEALGW_READY_INTERVAL": "0",
        }
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    if not tuned:  # undo the start-up tuning: Python's defaults
        gc.unfreeze()
        gc.set_threshold(700, 10, 10)
    query = (ROOT / "bench" / "peers" / "list20.graphql").read_text()
    spent = [0.0]
    started_at = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started_at[0] = time.perf_counter()
        else:
            spent[0] += time.perf_counter() - started_at[0]

    with httpx.Client(headers={"Authorization": f"Bearer {key}"}) as client:
        for _ in range(50):
            client.post(f"http://127.0.0.1:{port}/graphql", json={"query": query})
    gc.callbacks.append(on_gc)
    cpu, wall = time.process_time(), time.perf_counter()

    def one(_: int) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}) as client:
            for _ in range(requests // 8):
                client.post(f"http://127.0.0.1:{port}/graphql", json={"query": query})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(8)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    gc.callbacks.remove(on_gc)
    server.should_exit = True
    thread.join(timeout=10)
    stub.terminate()
    stub.wait(timeout=10)
    return spent[0], cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--tuned", choices=("yes", "no"), required=True)
    args = parser.parse_args()
    gc_s, cpu_s, wall_s = run(args.requests, args.tuned == "yes")
    print(
        f"tuned={args.tuned}: {args.requests} requests in {wall_s:.1f} s; process CPU "
        f"{cpu_s:.1f} s; GC {gc_s:.2f} s = {100 * gc_s / cpu_s:.1f}% of CPU "
        f"(load average {os.getloadavg()[0]:.2f})"
    )


if __name__ == "__main__":
    main()
