"""The command line as a user runs it: a real process, real ports."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from websockets.exceptions import ConnectionClosed

from gateway.cli import bound_url, loopback_url
from tests.conftest import SandboxServer
from tests.events_client import SUBSCRIPTION, connected, sse_to_the_end

ROOT = Path(__file__).resolve().parent.parent
BASH = shutil.which("bash") or "/bin/bash"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEALGW_")}
    # no npm run for GraphiQL's files at each start (tests/test_graphiql.py fetches them)
    env.update({"SEALGW_GRAPHIQL_FETCH": "off", **extra}, PYTHONUNBUFFERED="1")
    return env


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        env=clean_env(**env),
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def start_serving(*args: str, **env: str) -> tuple[str, subprocess.Popen[str], list[str]]:
    """`seal-gateway serve ARGS` on a port the OS picks; its URL, process and output so far."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env(**env),
        cwd=ROOT,
    )
    assert process.stdout is not None
    url = None
    deadline = time.monotonic() + 30
    lines = []
    while url is None and time.monotonic() < deadline:
        line = process.stdout.readline()
        lines.append(line)
        found = re.search(r"listening on (http://\S+) with", line)
        if found:
            url = found.group(1)
    assert url, "".join(lines)
    for _ in range(400):
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.05)
    return url, process, lines


@pytest.fixture
def serving() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`seal-gateway serve` with nothing configured."""
    url, process, lines = start_serving()
    try:
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert any("sandbox" in line for line in lines)


def children_of(pid: int) -> list[int]:
    return [child.pid for child in psutil.Process(pid).children()]


def test_several_workers_need_shared_state(sandbox_server: SandboxServer) -> None:
    """Without Redis, processes would each keep their own tokens, Idempotency-Key records,
    rate windows and breakers: `--workers 2` is refused with the reason, and the default is
    one worker (tests/test_shared_state.py serves two with Redis)."""
    refused = run_cli("serve", "--port", "0", "--workers", "2", **sandbox_server.env())
    assert refused.returncode == 2
    assert "--workers 2 needs SEALGW_REDIS_URL" in refused.stderr
    _url, process, lines = start_serving(**sandbox_server.env())
    try:
        assert "with 1 worker;" in "".join(lines)
        assert [pid for pid in children_of(process.pid) if pid != process.pid] == []
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_the_demo_keeps_one_worker() -> None:
    refused = run_cli("serve", "--port", "0", "--workers", "2")
    assert refused.returncode == 2
    assert "1 for the sandbox demo" in refused.stderr


def test_schema_file_is_in_sync() -> None:
    result = run_cli("schema")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (ROOT / "schema.graphql").read_text(encoding="utf-8"), (
        "schema.graphql is stale: run `seal-gateway schema > schema.graphql`"
    )
    assert "_entities" not in result.stdout
    assert "@key" not in result.stdout


def test_possible_types_file_is_in_sync() -> None:
    result = run_cli("schema", "--possible-types")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (ROOT / "docs" / "possible-types.json").read_text(), (
        "docs/possible-types.json is stale: run "
        "`seal-gateway schema --possible-types > docs/possible-types.json`"
    )
    assert json.loads(result.stdout) == {"Node": ["Authorization", "Seal"]}


def test_serve_without_vendors_runs_on_the_sandbox(
    serving: tuple[str, subprocess.Popen[str]],
) -> None:
    url, _ = serving
    assert httpx.get(f"{url}/healthz").json() == {
        "status": "ok",
        "sandbox": True,
        "tenants": 1,
        "providers": ["esign", "yunyin"],
    }
    body = httpx.post(
        f"{url}/graphql",
        json={"query": "{ seals(first: 20) { totalCount edges { node { name image { url } } } } }"},
    ).json()
    assert "errors" not in body
    assert body["data"]["seals"]["totalCount"] == 13
    image = httpx.get(body["data"]["seals"]["edges"][-1]["node"]["image"]["url"])
    assert image.content.startswith(b"\x89PNG")
    page = httpx.get(f"{url}/graphql", headers={"Accept": "text/html"})
    assert "graphiql" in page.text.lower()


def test_the_sandbox_index_lists_working_urls_and_the_readme_upload_works(
    serving: tuple[str, subprocess.Popen[str]],
) -> None:
    url, _ = serving
    index = httpx.get(f"{url}/sandbox/").json()
    assert index["esign"]["baseUrl"] == f"{url}/sandbox/esign"
    assert index["esign"]["appSecret"]
    assert index["yunyin"]["appSecret"]
    token = httpx.post(
        f"{index['yunyin']['baseUrl']}/service/getAccessToken",
        json={"appId": index["yunyin"]["appId"], "appSecret": index["yunyin"]["appSecret"]},
    ).json()
    assert token["code"] == "0"
    for knob in ("calls", "faults", "latency"):
        assert httpx.get(index["knobs"][knob]).status_code == 200
    # README's upload example, as written: fetch the demo PNG, then upload it
    png = httpx.get(index["demoImage"]).content
    assert png.startswith(b"\x89PNG")
    operations = (
        '{"query":"mutation($file: Upload!) { uploadSealImage(input: {file: $file, color: RED})'
        ' { image { storagePath url width height } userErrors { code field message } } }",'
        '"variables":{"file":null}}'
    )
    body = httpx.post(
        f"{url}/graphql",
        headers={"Apollo-Require-Preflight": "true"},
        data={"operations": operations, "map": '{"0":["variables.file"]}'},
        files={"0": ("seal.png", png, "image/png")},
    ).json()
    uploaded = body["data"]["uploadSealImage"]
    assert uploaded["userErrors"] == []
    assert httpx.get(uploaded["image"]["url"]).content == png


def test_sandbox_links_follow_a_configured_public_url() -> None:
    url, process, _ = start_serving(SEALGW_SANDBOX_PUBLIC_URL="https://seals.example.com")
    try:
        body = httpx.post(
            f"{url}/graphql",
            json={"query": "{ seals(first: 1) { edges { node { image { url } } } } }"},
        ).json()
        image = body["data"]["seals"]["edges"][0]["node"]["image"]["url"]
        assert image.startswith("https://seals.example.com/sandbox/files/esign/")
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_taken_port_or_a_dead_redis_is_one_clear_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"seal-gateway: cannot listen on 127.0.0.1:{port}: the port is in use (another "
        "process listens there; pick another with --port)."
    ]
    for url, shown in (
        ("redis://:hunter2@127.0.0.1:1/0", "redis://127.0.0.1:1/0"),
        (
            "redis+sentinel://:hunter2@127.0.0.1:1,127.0.0.1:2/main",
            "redis+sentinel://127.0.0.1:1,127.0.0.1:2/main",
        ),
        ("redis+cluster://u:hunter2@127.0.0.1:1", "redis+cluster://127.0.0.1:1"),
    ):
        result = run_cli("serve", "--port", "0", SEALGW_REDIS_URL=url)
        assert result.returncode == 2
        assert f"SEALGW_REDIS_URL ({shown}) does not answer" in result.stderr
        assert "hunter2" not in result.stderr
        assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:6379", "must be a redis://, rediss://, unix://, redis+sentinel://"),
        ("redis+sentinel://127.0.0.1:26379", "must name the master's service"),
        ("redis+sentinel://:hunter2@127.0.0.1:26379/a/b", "must name the master's service"),
        ("redis+cluster://127.0.0.1:7000/3", "names a database; a Redis Cluster has only"),
        ("redis+cluster://:hunter2@", "names no cluster node"),
        ("redis+cluster://127.0.0.1:x", "port is not a number"),
        ("rediss+cluster://127.0.0.1:7000", "must be a redis://"),
    ],
)
def test_a_redis_url_the_gateway_cannot_use_is_named(url: str, reason: str) -> None:
    result = run_cli("serve", "--port", "0", SEALGW_REDIS_URL=url)
    assert result.returncode == 2
    assert "configuration error: SEALGW_REDIS_URL " in result.stderr
    assert reason in result.stderr
    assert "hunter2" not in result.stderr
    assert "Traceback" not in result.stderr


def test_the_start_up_line_shows_the_real_bind_address() -> None:
    """Tests listen on loopback only: the wording is checked on the function that makes it."""
    everywhere = "0.0.0.0"  # noqa: S104 (a string, not a bind)
    assert bound_url(everywhere, 8000) == "http://0.0.0.0:8000"
    assert loopback_url(everywhere, 8000) == "http://127.0.0.1:8000"
    assert bound_url("::1", 8000) == "http://[::1]:8000"


def test_a_bad_setting_stops_start_up_naming_it() -> None:
    result = run_cli("serve", SEALGW_ESIGN_BASE_URL="https://x.example", SEALGW_ESIGN_APP_ID="a")
    assert result.returncode == 2
    assert "SEALGW_ESIGN_APP_SECRET" in result.stderr
    assert "Traceback" not in result.stderr


def test_standalone_sandbox() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway", "sandbox", "--port", "0", "--latency-ms", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_env(),
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"sandbox listening on (http://\S+):", line)
        assert found, line
        url = found.group(1)
        for _ in range(200):
            try:
                index = httpx.get(url + "/").json()
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert index["esign"]["baseUrl"] == f"{url}/esign"
        token = httpx.post(
            f"{url}/yunyin/service/getAccessToken",
            json={"appId": "sandbox-yunyin-app", "appSecret": "sandbox-yunyin-secret"},
        ).json()
        assert token["code"] == "0"
        assert httpx.get(f"{url}/_sandbox/calls").json()["calls"] == {"yunyin:token": 1}
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_version() -> None:
    import importlib.metadata

    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"seal-gateway {importlib.metadata.version('seal-gateway')}"


def test_key_new_prints_both_forms_and_the_environment_form_works(
    sandbox_server: SandboxServer,
) -> None:
    printed = run_cli("key", "new", "--name", "billing", "--role", "viewer").stdout
    key = printed.split("#   ", 1)[1].split("\n", 1)[0]
    assert "[[tenants.default.api_keys]]" in printed
    (line,) = [line for line in printed.splitlines() if "SEALGW_API_KEYS=" in line]
    entry = line.split("SEALGW_API_KEYS=", 1)[1]
    assert entry.startswith("billing:viewer:sha256:")
    # the line as printed, pasted into the environment: the key is let in
    env = sandbox_server.env(SEALGW_API_KEYS=entry)
    url, process, _ = start_serving(**env)
    try:
        answer = httpx.post(
            f"{url}/graphql",
            json={"query": "{ providers { provider } }"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert answer.status_code == 200
        assert answer.json()["data"]["providers"]
    finally:
        process.terminate()
        process.wait(timeout=10)
    # another tenant exists only in a tenants file: no environment form for it
    assert "SEALGW_API_KEYS" not in run_cli("key", "new", "--tenant", "acme").stdout


def test_an_unknown_variable_is_named_at_start_up_with_the_closest_known_one() -> None:
    _, process, lines = start_serving(
        SEALGW_INTROSPECTON="on", SEALGW_NOTHING_LIKE_IT="1", SEALGW_LOG_FORMAT="text"
    )
    process.terminate()
    output = "".join(lines) + process.communicate(timeout=10)[0]
    assert (
        "SEALGW_INTROSPECTON is not a setting of seal-gateway; it is ignored "
        "(did you mean SEALGW_INTROSPECTION?)" in output
    )
    assert "SEALGW_NOTHING_LIKE_IT is not a setting of seal-gateway; it is ignored\n" in output
    assert "Traceback" not in output


def readme_blocks(section: str, language: str) -> list[str]:
    """The code blocks of one README section, in order, as written."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index(f"## {section}\n")
    text = readme[start : readme.index("\n## ", start + 1)]
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_the_readme_write_examples_run_verbatim(
    serving: tuple[str, subprocess.Popen[str]], tmp_path: Path
) -> None:
    """`Changing seals` as a newcomer follows it on the demo: the upload, the image seal made of
    the upload's own storagePath, then the other writes; only the address differs."""
    url, _ = serving
    upload, create = readme_blocks("Changing seals", "sh")
    for script in (upload, create):
        ran = subprocess.run(
            [BASH, "-euo", "pipefail", "-c", script.replace("http://127.0.0.1:8000", url)],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
    uploaded = json.loads((tmp_path / "upload.json").read_text())["data"]["uploadSealImage"]
    assert uploaded["userErrors"] == []
    made = json.loads(ran.stdout)["data"]["createImageSeal"]
    assert made["userErrors"] == []
    assert (made["seal"]["name"], made["seal"]["status"]) == ("手签章-李雷", "AWAITING_REVIEW")
    (others,) = readme_blocks("Changing seals", "graphql")
    answer = httpx.post(f"{url}/graphql", json={"query": others}).json()
    assert "errors" not in answer, answer
    assert answer["data"]["createTemplateSeal"]["userErrors"] == []
    assert answer["data"]["authorizeSeal"]["userErrors"] == []


def test_a_stopping_server_completes_its_subscriptions_and_exits() -> None:
    """uvicorn waits for every connection to close before it stops, and a subscription's stays
    open for as long as its client does: on SIGTERM the gateway completes the subscriptions
    over SSE (uvicorn closes a WebSocket itself), and the process exits."""
    url, process, _ = start_serving()
    sse: list[str] = []
    opened = threading.Event()
    streaming = threading.Thread(target=sse_to_the_end, args=(url, {}, sse, opened))
    try:
        with connected(url, init={}) as subscriber:
            streaming.start()
            subscriber.subscribe(SUBSCRIPTION)
            assert opened.wait(10)
            time.sleep(0.5)  # the WebSocket's subscription under way
            started = time.monotonic()
            process.terminate()
            process.wait(timeout=15)
            assert time.monotonic() - started < 5
            # uvicorn closes a WebSocket itself, as Service Restart: graphql-ws clients
            # reconnect; nothing came before
            with pytest.raises(ConnectionClosed) as closed:
                subscriber.message(timeout=10)
            assert closed.value.rcvd is not None
            assert closed.value.rcvd.code == 1012
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        streaming.join(timeout=10)
    assert "".join(sse).replace(": ping\n\n", "") == ": ok\n\nevent: complete\ndata: \n\n"


def test_a_stopping_server_waits_for_a_request_its_deadline_and_a_margin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A request still running that long after the server began to stop (a stream to a client
    that stopped reading) is cancelled rather than holding the stop up."""
    from gateway.cli import STOP_MARGIN_S, server_options
    from gateway.config import load_settings
    from gateway.http.server import GatewayConfig

    monkeypatch.setenv("SEALGW_REQUEST_DEADLINE", "2")
    config = GatewayConfig(object(), **server_options(load_settings()))
    assert config.timeout_graceful_shutdown == 2 + STOP_MARGIN_S
