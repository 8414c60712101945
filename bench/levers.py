"""One speed lever on and off, side by side: `seal-gateway serve` over the peers' 云银签 stub,
once per variant of its settings, loaded by wrk with one of the peers' queries, in alternating
rounds (A B A B ...) so that a machine's drift touches both alike.

For each round and variant: requests per second, p50 and p99 latency, and the CPU the gateway's
processes spent per request (from /proc, its workers included). With `--threads 1 --conns 1`
the stub alone is measured too, so that the p50 over the stub's own can be read off.

    python bench/levers.py --query vary --variant on: --variant off:SEALGW_SOME_SWITCH=off
    python bench/levers.py --query one --threads 1 --conns 1 --variant base:

Needs wrk and the peers' stub environment (`bench/compare.sh` installs it); loopback only.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# after PYTHONPATH, so that another checkout's gateway can be measured with these tools
sys.path.append(str(ROOT))

from gateway.access.callers import new_key  # noqa: E402

# where the peers' stub and queries are, the stub's Python and the gateway's command (each may
# be given in the environment, for a machine laid out otherwise)
PEERS = Path(os.environ.get("LEVERS_PEERS", ROOT.parent / "shared" / "peers"))
STUB_PYTHON = os.environ.get(
    "LEVERS_STUB_PYTHON",
    str(Path(os.environ.get("PEERS_CACHE", "/tmp/seal-peers")) / "venv" / "bin" / "python"),  # noqa: S108
)
GATEWAY = os.environ.get("LEVERS_GATEWAY", str(ROOT / ".venv" / "bin" / "seal-gateway")).split()
HZ = os.sysconf("SC_CLK_TCK")

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["accessToken"] = "bench-token"
{auth}
bodies = {{}}
for body in string.gmatch([==[{bodies}]==], "[^\\n]+") do bodies[#bodies + 1] = body end
wrk.body = bodies[1]
if #bodies > 1 then
  local threads = 0
  setup = function(thread) threads = threads + 1; thread:set("id", threads) end
  init = function(args) math.randomseed(os.time() * 1000 + id * 7919) end
  request = function() return wrk.format(nil, nil, nil, bodies[math.random(#bodies)]) end
end
done = function(s, lat, req)
  io.write(string.format("BENCH_RESULT %d %d %d %d %d %d\\n", s.requests, s.duration,
    lat:percentile(50), lat:percentile(99),
    s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout, s.errors.status))
end
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def tree(pid: int) -> list[int]:
    found = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in children:
        found.extend(tree(int(child)))
    return found


def cpu_s(pid: int) -> float:
    total = 0
    for p in tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / HZ


def wait_http(url: str, process: subprocess.Popen[bytes]) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise SystemExit(f"process for {url} ended ({process.returncode})")
        try:
            urllib.request.urlopen(url, timeout=1).read()  # noqa: S310 (loopback)
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"no answer from {url}")


def gateway_bodies(query: str) -> list[str]:
    folder = PEERS / "queries"
    text = (
        ((folder / "project") if (folder / "project").is_dir() else folder)
        .joinpath(f"{query}.graphql")
        .read_text()
    )

    def b64(raw: str) -> str:
        return base64.b64encode(raw.encode()).decode()

    if "__GID__" in text:
        texts = [text.replace("__GID__", b64(f"Seal:yunyin:{n}")) for n in range(50001, 50201)]
    elif "__AFTER__" in text:
        texts = [
            text.replace("__AFTER__", b64(f"seals:26db20ec:yunyin={(p - 1) * 20}"))
            for p in range(1, 11)
        ]
    else:
        texts = [text]
    return [json.dumps({"query": t}) for t in texts]


def over_the_stub(stub_url: str, digest: str) -> dict[str, str]:
    """The gateway's settings for 云银签 at the peers' stub, with the bench's API key (its
    digest) and a rate limit far above what the bench sends."""
    return {
        "SEALGW_YUNYIN_BASE_URL": stub_url,
        "SEALGW_YUNYIN_APP_ID": "bench-app",
        "SEALGW_YUNYIN_APP_SECRET": "bench-secret",
        "SEALGW_YUNYIN_USER_ID": "20001",
        "SEALGW_YUNYIN_SOURCE": "API",
        "SEALGW_LOG_LEVEL": "WARNING",
        "SEALGW_API_KEYS": f"bench:admin:{digest}",
        "SEALGW_RATE_LIMIT": "100000000/minute",
    }


def stub_target(query: str) -> tuple[str, list[str]]:
    if query in ("one", "vary"):
        ids = [50042] if query == "one" else list(range(50001, 50201))
        return "/seal/getSealInfo", [json.dumps({"sealId": n}) for n in ids]
    pages = [2] if query == "list20" else list(range(1, 11))
    return "/seal/getSealListByPage", [
        json.dumps({"listPageNo": n, "listPageSize": 20}) for n in pages
    ]


def wrk(
    url: str, script: Path, threads: int, conns: int, seconds: float
) -> tuple[int, float, float, float, int]:
    """Requests, req/s, p50 ms, p99 ms, errors."""
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{conns}",
            f"-d{seconds:g}s",
            "--timeout",
            "5s",
            "-s",
            script,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH_RESULT"))
    _, n, duration_us, p50, p99, errors, non2xx = line.split()
    return (
        int(n),
        int(n) / (int(duration_us) / 1e6),
        int(p50) / 1000,
        int(p99) / 1000,
        int(errors) + int(non2xx),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--query", default="vary", choices=("list20", "one", "vary", "pages"))
    parser.add_argument("--variant", action="append", required=True, help="NAME:VAR=V,VAR=V")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--conns", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--redis-url", default=None, help="for --workers above 1")
    parser.add_argument("--taskset", default=None, help="CPU list for the gateway's processes")
    parser.add_argument("--wrk-taskset", default=None, help="CPU list for wrk")
    parser.add_argument("--stub-taskset", default=None, help="CPU list for the stub")
    parser.add_argument("--stub-workers", type=int, default=1)
    parser.add_argument("--watch", type=int, default=None, help="another process (Redis) to report")
    args = parser.parse_args()

    key, digest = new_key()
    work = Path(tempfile.mkdtemp(prefix="levers-"))
    log = (work / "gateway.log").open("ab")
    stub_port = free_port()
    stub = subprocess.Popen(
        [
            *(["taskset", "-c", args.stub_taskset] if args.stub_taskset else []),
            *(STUB_PYTHON, "-m", "uvicorn", "--app-dir", str(PEERS), "upstream_stub:app"),
            *("--workers", str(args.stub_workers)),
            *("--port", str(stub_port), "--log-level", "warning", "--no-access-log"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stub_url = f"http://127.0.0.1:{stub_port}"
    gateway_script = work / "gateway.lua"
    gateway_script.write_text(
        WRK_SCRIPT.format(
            auth=f'wrk.headers["Authorization"] = "Bearer {key}"',
            bodies="\n".join(gateway_bodies(args.query)),
        )
    )
    stub_path, stub_bodies = stub_target(args.query)
    stub_script = work / "stub.lua"
    stub_script.write_text(WRK_SCRIPT.format(auth="", bodies="\n".join(stub_bodies)))
    wrk_prefix = ["taskset", "-c", args.wrk_taskset] if args.wrk_taskset else []
    sequential = args.threads == 1 and args.conns == 1
    print(
        f"query {args.query}, wrk -t{args.threads} -c{args.conns}, {args.seconds:g} s after "
        f"{args.warmup:g} s, workers {args.workers}, load average {os.getloadavg()[0]:.2f}"
    )
    try:
        wait_http(f"{stub_url}/_stats", stub)
        for round_no in range(1, args.rounds + 1):
            if sequential:
                run = ["wrk", "-t1", "-c1"]
                url = stub_url + stub_path
                subprocess.run(
                    [*wrk_prefix, *run, "-d2s", "-s", stub_script, url],
                    check=True,
                    capture_output=True,
                )
                _, rps, p50, p99, errors = wrk_measured(wrk_prefix, url, stub_script, args)
                print(
                    f"  round {round_no} stub{'':9s} {rps:8.0f} req/s  p50 {p50:6.3f} ms  "
                    f"p99 {p99:6.2f} ms"
                )
            for variant in args.variant:
                name, _, pairs = variant.partition(":")
                env = dict(os.environ)
                env.update(over_the_stub(stub_url, digest), SEALGW_HOST="127.0.0.1")
                if args.redis_url:
                    env["SEALGW_REDIS_URL"] = args.redis_url
                # WORKERS and CPUS in a variant: its own worker count and CPU list
                workers, cpus = args.workers, args.taskset
                for pair in filter(None, pairs.split(",")):
                    var, _, value = pair.partition("=")
                    if var == "WORKERS":
                        workers = int(value)
                    elif var == "CPUS":
                        cpus = value.replace("+", ",")
                    else:
                        env[var] = value
                port = free_port()
                env["SEALGW_PORT"] = str(port)
                command = [*GATEWAY, "serve", "--workers", str(workers)]
                if cpus:
                    command = ["taskset", "-c", cpus, *command]
                gateway = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=log)
                try:
                    url = f"http://127.0.0.1:{port}/graphql"
                    wait_http(f"http://127.0.0.1:{port}/healthz", gateway)
                    time.sleep(0.5 * workers)
                    subprocess.run(
                        [
                            *wrk_prefix,
                            "wrk",
                            f"-t{args.threads}",
                            f"-c{args.conns}",
                            f"-d{args.warmup:g}s",
                            "-s",
                            gateway_script,
                            url,
                        ],
                        check=True,
                        capture_output=True,
                    )
                    before = cpu_s(gateway.pid)
                    watched = cpu_s(args.watch) if args.watch else 0.0
                    n, rps, p50, p99, errors = wrk_measured(wrk_prefix, url, gateway_script, args)
                    spent = cpu_s(gateway.pid) - before
                    watched = (cpu_s(args.watch) - watched) if args.watch else 0.0
                    print(
                        f"  round {round_no} {name:14s} {rps:8.0f} req/s  p50 {p50:6.3f} ms  "
                        f"p99 {p99:6.2f} ms  CPU {spent / max(n, 1) * 1e6:5.0f} µs/req"
                        + (f"  errors {errors}" if errors else "")
                        + (
                            f"  watched {watched / max(n, 1) * 1e6:4.0f} µs/req"
                            if args.watch
                            else ""
                        )
                    )
                finally:
                    gateway.terminate()
                    gateway.wait(timeout=15)
    finally:
        stub.terminate()
        stub.wait(timeout=10)


def wrk_measured(
    prefix: list[str], url: str, script: Path, args: argparse.Namespace
) -> tuple[int, float, float, float, int]:
    if not prefix:
        return wrk(url, script, args.threads, args.conns, args.seconds)
    out = subprocess.run(
        [
            *prefix,
            "wrk",
            f"-t{args.threads}",
            f"-c{args.conns}",
            f"-d{args.seconds:g}s",
            "--timeout",
            "5s",
            "-s",
            script,
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH_RESULT"))
    _, n, duration_us, p50, p99, errors, non2xx = line.split()
    return (
        int(n),
        int(n) / (int(duration_us) / 1e6),
        int(p50) / 1000,
        int(p99) / 1000,
        int(errors) + int(non2xx),
    )


if __name__ == "__main__":
    main()
