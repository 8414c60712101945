"""Real parts on loopback: the sandbox and the gateway each run in a uvicorn server on an
ephemeral port, and tests speak HTTP to them as a client would."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.access.callers import new_key
from gateway.config import Settings, load_settings
from gateway.http.app import create_app
from gateway.http.server import GatewayConfig
from gateway.sandbox import Sandbox, SandboxConfig, create_sandbox_app
from gateway.sandbox import state as demo
from gateway.shared import LocalState, SharedState

# Every secret the suite configures or is issued: no response body or log line may hold one.
SECRETS: set[str] = {demo.ESIGN_APP_SECRET, demo.YUNYIN_APP_SECRET}
# What the run produced: every gateway response body and every log line (see the hooks below).
SEEN_BODIES: list[str] = []
SEEN_LOG_LINES: list[str] = []
SANDBOXES: list[Sandbox] = []


def _keep_body(response: httpx.Response) -> None:
    response.read()
    SEEN_BODIES.append(response.text)


# The suite's own admin key for the default tenant (SEALGW_API_KEYS), sent by every test client.
SUITE_KEY, SUITE_DIGEST = new_key()
SECRETS.add(SUITE_KEY)
AUTH = {"Authorization": f"Bearer {SUITE_KEY}"}


def scanned_client(*, authorized: bool = True) -> httpx.Client:
    """A client whose every response body goes to the secrets scan; it carries the suite's
    admin key unless told not to."""
    return httpx.Client(
        timeout=30,
        event_hooks={"response": [_keep_body]},
        headers=AUTH if authorized else None,
        # below uvicorn's 5 s keep-alive: a connection idle that long is not reused at the
        # moment the server closes it (the request would meet a closed socket)
        limits=httpx.Limits(keepalive_expiry=4.0),
    )


class _KeepLines(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        SEEN_LOG_LINES.append(self.format(record))


@pytest.fixture(scope="session", autouse=True)
def secrets_scan() -> Iterator[None]:
    """Every log line of the run, formatted as a log file would hold it (tracebacks included),
    kept for the scan at the end of the session."""
    handler = _KeepLines(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield
    root.removeHandler(handler)
    root.setLevel(previous)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    issued = {token for sandbox in SANDBOXES for token in sandbox.tokens}
    secrets = {s for s in SECRETS | issued if len(s) >= 8}
    hits = [
        (secret[:6] + "…", kind)
        for kind, texts in (("response", SEEN_BODIES), ("log line", SEEN_LOG_LINES))
        for text in texts
        for secret in secrets
        if secret in text
    ]
    session.config.stash[SCAN_KEY] = (len(SEEN_BODIES), len(SEEN_LOG_LINES), len(secrets), hits)
    if hits:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


SCAN_KEY = pytest.StashKey[tuple[int, int, int, list[tuple[str, str]]]]()


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if SCAN_KEY not in config.stash:
        return
    bodies, lines, secrets, hits = config.stash[SCAN_KEY]
    terminalreporter.write_line(
        f"secrets scan: {bodies} response bodies and {lines} log lines searched for "
        f"{secrets} secrets and issued tokens: {len(hits)} hits"
    )
    for secret, kind in hits[:20]:
        terminalreporter.write_line(f"  secret {secret} found in a {kind}")


class ServerThread:
    """A uvicorn server for `app` on 127.0.0.1, port chosen by the OS, in its own thread."""

    def __init__(self, app: Any, settings: Settings | None = None) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        deadlines = {}
        if settings is not None:
            deadlines = {
                "head_timeout_s": settings.header_timeout_s,
                "body_timeout_s": settings.body_timeout_s,
                "busy_poll_s": settings.busy_poll_us / 1e6,
            }
        config = GatewayConfig(app, lifespan="on", access_log=False, **deadlines)
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
    # the process's shared state (breakers, idempotency records), for the shared gateway
    state: SharedState | None = None
    # its server, for a test that stops it (a restart)
    server: ServerThread | None = None

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
            "SEALGW_ESIGN_TRANSACTOR_ID": demo.ESIGN_TRANSACTOR,
            "SEALGW_YUNYIN_BASE_URL": f"{self.url}/yunyin",
            "SEALGW_YUNYIN_APP_ID": demo.YUNYIN_APP_ID,
            "SEALGW_YUNYIN_APP_SECRET": demo.YUNYIN_APP_SECRET,
            "SEALGW_YUNYIN_USER_ID": str(demo.YUNYIN_ADMIN),
            "SEALGW_UPSTREAM_TIMEOUT": "3",
            "SEALGW_API_KEYS": f"suite:admin:{SUITE_DIGEST}",
            # no background readiness calls: tests count the vendors' calls
            "SEALGW_READY_INTERVAL": "0",
            # nor background listings for the change detector (tests that want it set it)
            "SEALGW_CHANGE_POLL_SECONDS": "0",
            # each gateway its own event log
            "SEALGW_DATA_DIR": tempfile.mkdtemp(prefix="sealgw-data-"),
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
    SANDBOXES.append(sandbox)
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
    app = create_app(settings)
    with ServerThread(app, settings) as server, scanned_client() as client:
        yield Gateway(server.url, client, app.state.runtime.state)


@pytest.fixture
def gateway(shared_gateway: Gateway, sandbox_server: SandboxServer) -> Iterator[Gateway]:
    yield shared_gateway
    # breakers and idempotency records are per test, like the sandbox's state
    assert isinstance(shared_gateway.state, LocalState)
    shared_gateway.state.clear()


@pytest.fixture
def start_gateway(sandbox_server: SandboxServer) -> Iterator[StartGateway]:
    """Starts a fresh gateway on the sandbox; `only` keeps one vendor, keyword arguments
    override its SEALGW_* settings (an empty string removes one)."""
    stack: list[ServerThread] = []
    client = scanned_client()

    def start(only: str | None = None, **overrides: str) -> Gateway:
        settings = load_settings(sandbox_server.env(only, **overrides))
        server = ServerThread(create_app(settings), settings).__enter__()
        stack.append(server)
        return Gateway(server.url, client, server=server)

    yield start
    client.close()
    for server in stack:
        server.stop()
    for server in stack:
        server.join()


# --- two tenants --------------------------------------------------------------------------

AUDIENCE = "seal-gateway"
ACME_ISSUER = "https://login.acme.test"
GLOBEX_ISSUER = "https://id.globex.test"
TENANT_SECRETS = {
    "ACME_ESIGN_SECRET": "acme-esign-secret-7c1d9e",
    "ACME_YUNYIN_SECRET": "acme-yunyin-secret-52af01",
    "ACME_JWT_SECRET": "acme-jwt-hs256-secret-with-32-bytes-or-more-3e8b",
    "GLOBEX_ESIGN_SECRET": "globex-esign-secret-93be42",
    "GLOBEX_YUNYIN_SECRET": "globex-yunyin-secret-c40d17",
}
TENANTS_TOML = """
[tenants.acme.esign]
base_url = "{a}/esign"
app_id = "acme-esign-app"
app_secret = {{ env = "ACME_ESIGN_SECRET" }}
org_id = "{org}"

[tenants.acme.yunyin]
base_url = "{a}/yunyin"
app_id = "acme-yunyin-app"
app_secret = {{ env = "ACME_YUNYIN_SECRET" }}
user_id = 20001

[[tenants.acme.api_keys]]
name = "acme-admin"
role = "admin"
digest = "{acme_admin}"

[[tenants.acme.api_keys]]
name = "acme-viewer"
role = "viewer"
digest = "{acme_viewer}"

[[tenants.acme.api_keys]]
name = "acme-retired"
role = "admin"
digest = "{acme_retired}"
revoked = true

[[tenants.acme.jwt]]
issuer = "{acme_issuer}"
audience = "{audience}"
algorithms = ["HS256"]
secret = {{ env = "ACME_JWT_SECRET" }}
role_claim = "seal_role"
operator_claim = "yunyin_user_id"

[tenants.globex.esign]
base_url = "{b}/esign"
app_id = "globex-esign-app"
app_secret = {{ env = "GLOBEX_ESIGN_SECRET" }}
org_id = "{org}"

[tenants.globex.yunyin]
base_url = "{b}/yunyin"
app_id = "globex-yunyin-app"
app_secret = {{ env = "GLOBEX_YUNYIN_SECRET" }}
user_id = 20001

[[tenants.globex.api_keys]]
name = "globex-admin"
role = "admin"
digest = "{globex_admin}"

[[tenants.globex.jwt]]
issuer = "{globex_issuer}"
audience = "{audience}"
algorithms = ["RS256", "ES256"]
jwks_file = "{jwks}"
"""


@dataclass
class TenantsGateway:
    """A gateway serving two tenants, acme and globex, each on its own sandbox; both sandboxes
    hold the same seeded seals (the same vendor ids), with different app credentials."""

    url: str
    client: httpx.Client
    sandboxes: dict[str, SandboxServer]
    keys: dict[str, str]
    rsa_key: Any
    ec_key: Any
    # the settings it was started with, for a test that starts another with some changed
    env: dict[str, str]

    def post(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        path: str = "/graphql",
        **headers: str,
    ) -> httpx.Response:
        return self.client.post(
            f"{self.url}{path}",
            json={"query": query, "variables": variables or {}},
            headers=headers,
        )

    def as_key(
        self, name: str, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        response = self.post(query, variables, authorization=f"Bearer {self.keys[name]}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def token(self, tenant: str, claims: dict[str, Any], **header: Any) -> str:
        """A signed token from the tenant's issuer (acme: HS256; globex: RS256)."""
        now = int(time.time())
        base = {"sub": "user-1", "aud": AUDIENCE, "iat": now, "exp": now + 600}
        if tenant == "acme":
            payload = {**base, "iss": ACME_ISSUER, **claims}
            token = jwt.encode(payload, TENANT_SECRETS["ACME_JWT_SECRET"], "HS256", header)
            SECRETS.add(token)
            return token
        payload = {**base, "iss": GLOBEX_ISSUER, **claims}
        token = jwt.encode(payload, self.rsa_key, "RS256", {"kid": "globex-rsa", **header})
        SECRETS.add(token)
        return token


def _jwks(rsa_key: Any, ec_key: Any) -> dict[str, Any]:
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    return {
        "keys": [
            {**rsa_jwk, "kid": "globex-rsa", "alg": "RS256", "use": "sig"},
            {**ec_jwk, "kid": "globex-ec", "alg": "ES256", "use": "sig"},
        ]
    }


@pytest.fixture(scope="session")
def tenants_gateway_session(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[TenantsGateway]:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    folder = tmp_path_factory.mktemp("tenants")
    jwks_path = folder / "jwks.json"
    jwks_path.write_text(json.dumps(_jwks(rsa_key, ec_key)))
    configs = {
        "acme": SandboxConfig(
            esign_app=("acme-esign-app", TENANT_SECRETS["ACME_ESIGN_SECRET"]),
            yunyin_app=("acme-yunyin-app", TENANT_SECRETS["ACME_YUNYIN_SECRET"]),
        ),
        "globex": SandboxConfig(
            esign_app=("globex-esign-app", TENANT_SECRETS["GLOBEX_ESIGN_SECRET"]),
            yunyin_app=("globex-yunyin-app", TENANT_SECRETS["GLOBEX_YUNYIN_SECRET"]),
        ),
    }
    keys = {
        name: new_key() for name in ("acme-admin", "acme-viewer", "acme-retired", "globex-admin")
    }
    with contextlib.ExitStack() as stack:
        sandboxes = {}
        for name, config in configs.items():
            sandbox = Sandbox(config)
            SANDBOXES.append(sandbox)
            server = stack.enter_context(ServerThread(create_sandbox_app(sandbox)))
            sandboxes[name] = SandboxServer(sandbox, server.url, server)
        toml = TENANTS_TOML.format(
            a=sandboxes["acme"].url,
            b=sandboxes["globex"].url,
            org=demo.ESIGN_ORG_A,
            jwks=jwks_path,
            audience=AUDIENCE,
            acme_issuer=ACME_ISSUER,
            globex_issuer=GLOBEX_ISSUER,
            **{name.replace("-", "_"): digest for name, (_, digest) in keys.items()},
        )
        tenants_file = folder / "tenants.toml"
        tenants_file.write_text(toml)
        env = {
            "SEALGW_TENANTS_FILE": str(tenants_file),
            "SEALGW_UPSTREAM_TIMEOUT": "3",
            # the fuzz run alone sends some hundreds of requests in a minute
            "SEALGW_RATE_LIMIT": "6000/minute",
            # no background readiness calls: the isolation tests count every vendor call
            "SEALGW_READY_INTERVAL": "0",
            "SEALGW_CHANGE_POLL_SECONDS": "0",
            "SEALGW_DATA_DIR": str(folder / "data"),
            **TENANT_SECRETS,
        }
        settings = load_settings(env)
        server = stack.enter_context(ServerThread(create_app(settings), settings))
        client = stack.enter_context(scanned_client(authorized=False))
        SECRETS.update(TENANT_SECRETS.values())
        SECRETS.update(key for key, _ in keys.values())
        yield TenantsGateway(
            server.url,
            client,
            sandboxes,
            {name: key for name, (key, _) in keys.items()},
            rsa_key,
            ec_key,
            env,
        )


@pytest.fixture
def tenants_gateway(tenants_gateway_session: TenantsGateway) -> Iterator[TenantsGateway]:
    for server in tenants_gateway_session.sandboxes.values():
        server.sandbox.reset()
    yield tenants_gateway_session
    for server in tenants_gateway_session.sandboxes.values():
        server.sandbox.reset()


# What a page of seals says of the providers that failed for it (SEALGW_PAGE_FAILURES=data,
# the default, tells them there and not in `errors`).
PAGE_FAILURES = "unavailable { provider code message upstreamCode retryable }"


def failures(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The answer's errors, with each failure a page told in its data (`unavailable` of any
    top-level connection) in the shape `errors` would have given it: tests of vendor failures
    read one list wherever the gateway tells them."""
    found = list(body.get("errors", []))
    told = {(tuple(e.get("path") or ()), e["extensions"].get("provider")) for e in found}
    for name, value in (body.get("data") or {}).items():
        if not isinstance(value, dict):
            continue
        for failure in value.get("unavailable", []):
            if ((name,), failure["provider"]) in told:
                continue  # every provider failed: `errors` tells it already
            extensions = {
                "code": failure["code"],
                "provider": failure["provider"],
                "upstreamCode": failure["upstreamCode"],
                "retryable": failure["retryable"],
            }
            found.append({"message": failure["message"], "path": [name], "extensions": extensions})
    return found
