"""Real parts on loopback: the sandbox and the gateway each run in a uvicorn server on an
ephemeral port, and tests speak HTTP to them as a client would."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn

from gateway.app import create_app
from gateway.config import load_settings
from gateway.sandbox import Sandbox, SandboxConfig, create_sandbox_app
from gateway.sandbox import state as demo


class ServerThread:
    """A uvicorn server for `app` on 127.0.0.1, port chosen by the OS, in its own thread."""

    def __init__(self, app: Any) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_config=None, lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self.server.serve(sockets=[self.sock]))

    def __enter__(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Ask the server to stop, not waiting for it (see `join`)."""
        self.server.should_exit = True
        self.server.force_exit = True  # no grace period for idle keep-alive connections

    def join(self) -> None:
        self.thread.join(timeout=10)
        self.sock.close()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.join()


@dataclass
class Gateway:
    url: str
    client: httpx.Client

    def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.client.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def data(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The data of a query that must succeed without errors."""
        body = self.query(query, variables)
        assert "errors" not in body, body.get("errors")
        data: dict[str, Any] = body["data"]
        return data


@dataclass
class SandboxServer:
    sandbox: Sandbox
    url: str
    server: ServerThread

    def env(self, only: str | None = None, **overrides: str) -> dict[str, str]:
        """Settings pointing a gateway at this sandbox with its demo accounts; `only` keeps one
        vendor ("ESIGN" or "YUNYIN")."""
        env = {
            "SEALGW_ESIGN_BASE_URL": f"{self.url}/esign",
            "SEALGW_ESIGN_APP_ID": demo.ESIGN_APP_ID,
            "SEALGW_ESIGN_APP_SECRET": demo.ESIGN_APP_SECRET,
            "SEALGW_ESIGN_ORG_ID": demo.ESIGN_ORG_A,
            "SEALGW_ESIGN_AUTH_MODE": "signature",
            "SEALGW_YUNYIN_BASE_URL": f"{self.url}/yunyin",
            "SEALGW_YUNYIN_APP_ID": demo.YUNYIN_APP_ID,
            "SEALGW_YUNYIN_APP_SECRET": demo.YUNYIN_APP_SECRET,
            "SEALGW_YUNYIN_USER_ID": str(demo.YUNYIN_ADMIN),
            "SEALGW_UPSTREAM_TIMEOUT": "3",
        }
        if only is not None:
            other = "YUNYIN" if only == "ESIGN" else "ESIGN"
            env = {k: v for k, v in env.items() if not k.startswith(f"SEALGW_{other}_")}
        env.update(overrides)
        return {k: v for k, v in env.items() if v != ""}


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[SandboxServer]:
    """One sandbox for the whole run: tests share it, and `sandbox_server` puts it back in its
    seeded state after each one."""
    sandbox = Sandbox()
    with ServerThread(create_sandbox_app(sandbox)) as server:
        yield SandboxServer(sandbox, server.url, server)


@pytest.fixture
def sandbox_server(shared_sandbox: SandboxServer) -> Iterator[SandboxServer]:
    shared_sandbox.sandbox.reset()
    yield shared_sandbox
    shared_sandbox.sandbox.reset()


@pytest.fixture
def sandbox_config(sandbox_server: SandboxServer) -> SandboxConfig:
    """The shared sandbox's settings: a test may change them; they are restored after it."""
    return sandbox_server.sandbox.config


@pytest.fixture
def sandbox(sandbox_server: SandboxServer) -> Sandbox:
    return sandbox_server.sandbox


StartGateway = Callable[..., Gateway]


@pytest.fixture(scope="session")
def shared_gateway(shared_sandbox: SandboxServer) -> Iterator[Gateway]:
    """The gateway with the default settings, shared by every test that does not change them:
    what it keeps between requests (tokens, connections) is what a long-running gateway keeps."""
    settings = load_settings(shared_sandbox.env())
    with ServerThread(create_app(settings)) as server, httpx.Client(timeout=30) as client:
        yield Gateway(server.url, client)


@pytest.fixture
def gateway(shared_gateway: Gateway, sandbox_server: SandboxServer) -> Gateway:
    return shared_gateway


@pytest.fixture
def start_gateway(sandbox_server: SandboxServer) -> Iterator[StartGateway]:
    """Starts a fresh gateway on the sandbox; `only` keeps one vendor, keyword arguments
    override its SEALGW_* settings (an empty string removes one)."""
    stack: list[ServerThread] = []
    client = httpx.Client(timeout=30)

    def start(only: str | None = None, **overrides: str) -> Gateway:
        settings = load_settings(sandbox_server.env(only, **overrides))
        server = ServerThread(create_app(settings)).__enter__()
        stack.append(server)
        return Gateway(server.url, client)

    yield start
    client.close()
    for server in stack:
        server.stop()
    for server in stack:
        server.join()
