"""GraphiQL served from the gateway itself: its files fetched with npm and hash-checked, a page
that says how to get them when they are missing, and a real browser (headless Chromium) that
runs a query from the editor with every non-loopback address blocked, and follows the seal
events live (the Headers tab's credentials in graphql-transport-ws's `connection_init`)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.http import graphiql
from tests.browser import launch
from tests.conftest import AUTH, StartGateway
from tests.test_cli import start_serving
from tests.test_seal_events import RENAME, YUNYIN_SEAL


@pytest.fixture(scope="session")
def assets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("graphiql")
    graphiql.fetch(folder)
    return folder


def test_the_files_are_the_pinned_ones(assets: Path, start_gateway: StartGateway) -> None:
    assert graphiql.installed(assets)
    assert {a.package for a in graphiql.ASSETS} >= {
        "react",
        "graphiql",
        "@graphiql/plugin-explorer",
    }
    gateway = start_gateway(SEALGW_GRAPHIQL_ASSETS=str(assets))
    page = gateway.client.get(f"{gateway.url}/graphql", headers={"accept": "text/html"}).text
    assert "unpkg.com" not in page
    assert "https://" not in page.split("<script>")[0]  # nothing from elsewhere in the head
    # callers need credentials here: the header to fill in is there
    assert "Bearer <your API key or token>" in page
    for asset in graphiql.ASSETS:
        assert asset.route in page
        assert f'integrity="{asset.integrity}"' in page  # the browser checks them too
        served = gateway.client.get(f"{gateway.url}{asset.route}")
        assert served.status_code == 200
        assert served.content == graphiql.file_of(assets, asset).read_bytes()
        assert "immutable" in served.headers["cache-control"]
    assert (
        gateway.client.get(f"{gateway.url}/graphql/assets/react@18.2.0/package.json").status_code
        == 404
    )
    assert gateway.client.get(f"{gateway.url}/graphql/assets/../../etc/passwd").status_code == 404


def test_while_the_files_download_the_page_says_so_and_nothing_half_written_is_served(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    """A real install into an empty folder, the page and every file asked all along: the page
    says the files are downloading and reloads itself, an asset is served only as the pinned
    bytes, and GraphiQL appears once the install is complete."""
    folder = tmp_path / "graphiql"
    gateway = start_gateway(SEALGW_GRAPHIQL_ASSETS=str(folder))
    html = {"accept": "text/html"}
    failed: list[BaseException] = []

    def install() -> None:
        try:
            graphiql.fetch(folder)
        except BaseException as error:  # the test reports it
            failed.append(error)

    installer = threading.Thread(target=install)
    installer.start()
    pages: set[str] = set()
    served: list[tuple[int, bool, str]] = []
    while installer.is_alive():
        text = gateway.client.get(f"{gateway.url}/graphql", headers=html).text
        pages.add(
            "downloading"
            if "files are downloading" in text
            else "missing"
            if "graphiql fetch" in text
            else "graphiql"
        )
        for asset in graphiql.ASSETS:
            answer = gateway.client.get(f"{gateway.url}{asset.route}")
            pinned = graphiql._sri(answer.content) == asset.integrity
            served.append((answer.status_code, pinned, answer.headers.get("cache-control", "")))
    installer.join()
    assert not failed, failed
    assert "downloading" in pages
    page = gateway.client.get(f"{gateway.url}/graphql", headers=html).text
    assert "files are downloading" not in page
    assert graphiql.ASSETS[0].route in page
    # mid-install: a 404 never kept by a cache, or the pinned bytes; nothing else
    assert all(
        (status == 404 and "no-store" in cache) or pinned for status, pinned, cache in served
    )
    assert sorted(p.name for p in folder.iterdir()) == ["node_modules"]  # nothing left over
    for asset in graphiql.ASSETS:
        assert gateway.client.get(f"{gateway.url}{asset.route}").status_code == 200


def test_the_downloading_page_reloads_itself_and_a_changed_file_is_not_served(
    start_gateway: StartGateway, assets: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(assets, folder)
    (folder / f"{graphiql.STAGING_PREFIX}elsewhere").mkdir()  # another process's install
    damaged = graphiql.ASSETS[-1]
    path = graphiql.file_of(folder, damaged)
    path.write_bytes(path.read_bytes()[:1000])  # as a file being written looks
    gateway = start_gateway(SEALGW_GRAPHIQL_ASSETS=str(folder))
    page = gateway.client.get(f"{gateway.url}/graphql", headers={"accept": "text/html"})
    assert "files are downloading" in page.text
    assert '<meta http-equiv="refresh"' in page.text
    assert page.headers["cache-control"] == "no-store"
    assert gateway.client.get(f"{gateway.url}{damaged.route}").status_code == 404
    whole = graphiql.ASSETS[0]
    assert gateway.client.get(f"{gateway.url}{whole.route}").status_code == 200


def test_without_the_files_the_page_says_how_to_get_them(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    gateway = start_gateway(SEALGW_GRAPHIQL_ASSETS=str(tmp_path / "none"))
    page = gateway.client.get(f"{gateway.url}/graphql", headers={"accept": "text/html"}).text
    assert "seal-gateway graphiql fetch" in page
    assert "Loading" not in page
    assert "<script" not in page


@pytest.fixture
def demo(assets: Path) -> Iterator[str]:
    """`seal-gateway serve` as a newcomer runs it (the sandbox demo), with the files fetched."""
    url, process, _ = start_serving(SEALGW_GRAPHIQL_ASSETS=str(assets))
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.timeout(120)
def test_a_browser_runs_a_query_from_the_editor_offline(demo: str, tmp_path: Path) -> None:
    from playwright.sync_api import Route, sync_playwright

    blocked: list[str] = []

    def only_loopback(route: Route) -> None:
        host = urlsplit(route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.route("**/*", only_loopback)
            page.goto(f"{demo}/graphql", wait_until="load")
            page.wait_for_selector(".graphiql-container", timeout=30_000)
            # the pre-filled query, run with the editor's own button
            assert "query Seals" in page.inner_text(".graphiql-query-editor")
            page.click(".graphiql-execute-button")
            page.wait_for_function(
                "() => document.querySelector('.result-window')"
                " && document.querySelector('.result-window').innerText.includes('totalCount')",
                timeout=30_000,
            )
            result = page.inner_text(".result-window")
            page.screenshot(path=str(tmp_path / "graphiql.png"))  # kept in pytest's tmp dir
        finally:
            browser.close()
    assert '"totalCount": 13' in result
    assert '"provider": "ESIGN"' in result
    assert blocked == []  # the page asked nothing of any other host


TYPED_TOKEN = "typed-into-graphiql-0123456789"


def storage_after_typing_a_header(url: str) -> str:
    """Everything the page left in the browser's localStorage after a person typed a Bearer
    token into the header editor and ran the query."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.goto(f"{url}/graphql", wait_until="load")
            page.wait_for_selector(".graphiql-container", timeout=30_000)
            page.get_by_text("Headers", exact=True).click()
            page.locator(".graphiql-editor-tool .graphiql-editor:visible").last.click()
            page.keyboard.press("Control+A")
            # as pasted: the editor closes brackets and quotes typed one key at a time
            page.keyboard.insert_text(f'{{"Authorization": "Bearer {TYPED_TOKEN}"}}')
            page.click(".graphiql-execute-button")
            # the demo refuses a made-up token: an answer all the same
            page.wait_for_function(
                "() => document.querySelector('.result-window')"
                " && document.querySelector('.result-window').innerText.includes('errors')",
                timeout=30_000,
            )
            page.wait_for_timeout(800)  # GraphiQL stores its state after a short debounce
            stored: str = page.evaluate("() => JSON.stringify(Object.entries(localStorage))")
        finally:
            browser.close()
    return stored


@pytest.mark.timeout(120)
@pytest.mark.parametrize("persist", ["off", "on"])
def test_typed_headers_stay_out_of_local_storage_unless_asked(assets: Path, persist: str) -> None:
    url, process, _ = start_serving(
        SEALGW_GRAPHIQL_ASSETS=str(assets), SEALGW_GRAPHIQL_PERSIST_HEADERS=persist
    )
    try:
        stored = storage_after_typing_a_header(url)
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert "graphiql:query" in stored  # GraphiQL does keep its other state there
    assert (TYPED_TOKEN in stored) is (persist == "on"), stored


def test_two_installs_at_once_leave_one_verified_set(tmp_path: Path) -> None:
    """A first start fetching while someone runs `seal-gateway graphiql fetch`: neither writes
    over the other's half-written files."""
    folder = tmp_path / "graphiql"
    failed: list[BaseException] = []

    def install() -> None:
        try:
            graphiql.fetch(folder)
        except BaseException as error:  # the test reports it
            failed.append(error)

    installers = [threading.Thread(target=install) for _ in range(2)]
    for installer in installers:
        installer.start()
    for installer in installers:
        installer.join()
    assert not failed, failed
    assert graphiql.installed(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["node_modules"]


# --- following the seal events live -------------------------------------------------------

LIVE = "subscription { sealEvents { type source vendorSealId seal { name } } }"


def renamed(url: str, name: str, headers: dict[str, str]) -> None:
    """A 云银签 seal renamed over HTTP, as another user of the gateway would."""
    response = httpx.post(
        f"{url}/graphql",
        json={"query": RENAME, "variables": {"id": YUNYIN_SEAL, "name": name}},
        headers=headers,
        timeout=10,
    )
    assert response.json()["data"]["renameSeal"]["userErrors"] == [], response.text


def followed_in_graphiql(
    url: str, headers: dict[str, str], tmp_path: Path
) -> tuple[list[tuple[str, str]], list[dict[str, Any]]]:
    """A person following the seal events in GraphiQL: `headers` typed into the Headers tab
    (where the gateway needs credentials), the subscription typed into the editor and run, a
    seal renamed elsewhere twice, then the subscription stopped with the same button. Each
    name given with the result pane once it showed it, and the graphql-transport-ws messages
    the page sent."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import WebSocket, sync_playwright

    sent: list[dict[str, Any]] = []
    console: list[str] = []
    shown: list[tuple[str, str]] = []

    def watch(socket: WebSocket) -> None:
        if urlsplit(socket.url).path == "/graphql":
            socket.on("framesent", lambda frame: sent.append(json.loads(frame)))

    def sent_one(kind: str, why: str) -> None:
        deadline = time.monotonic() + 15
        while not any(m.get("type") == kind for m in sent):
            assert time.monotonic() < deadline, f"{why}: {sent}, {console}"
            page.wait_for_timeout(50)

    in_pane = (
        "(text) => document.querySelector('.result-window')"
        " && document.querySelector('.result-window').innerText.includes(text)"
    )

    def rename_until_shown(prefix: str, tries: int) -> None:
        """Renames the seal until the pane shows its new name (`tries` times at most); keeps
        the last name given with the pane as it then was (showing it, or why not)."""
        for attempt in range(1, tries + 1):
            name = f"{prefix} {attempt}"
            renamed(url, name, headers)
            try:
                page.wait_for_function(in_pane, arg=name, timeout=5_000)
                break
            except PlaywrightTimeout:
                continue
        shown.append((name, page.inner_text(".result-window")))

    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page()
            page.on("websocket", watch)
            page.on("console", lambda message: console.append(message.text))
            page.goto(f"{url}/graphql", wait_until="load")
            page.wait_for_selector(".graphiql-container", timeout=30_000)
            if headers:
                page.get_by_text("Headers", exact=True).click()
                page.locator(".graphiql-editor-tool .graphiql-editor:visible").last.click()
                page.keyboard.press("Control+A")
                page.keyboard.insert_text(json.dumps(headers))
            page.locator(".graphiql-query-editor .CodeMirror").click()
            page.keyboard.press("Control+A")
            page.keyboard.insert_text(LIVE)
            # GraphiQL reads the operation's name from the editor after a short debounce: run
            # at once, it would still send the pre-filled query's (`Seals`)
            page.wait_for_timeout(1_000)
            page.click(".graphiql-execute-button")
            sent_one("subscribe", "GraphiQL never subscribed")
            assert "UPDATED" not in page.inner_text(".result-window")  # nothing before it
            # the gateway follows the log from its end as it was when the subscription
            # started, a moment after the message: a rename within that moment is not told
            rename_until_shown("GraphiQL 实时", tries=3)
            rename_until_shown("GraphiQL 又一次", tries=1)  # and the next one, as it happens
            page.screenshot(path=str(tmp_path / "graphiql-events.png"))
            page.click(".graphiql-execute-button")  # the same button stops it
            sent_one("complete", "stopping did not end the subscription")
        finally:
            browser.close()
    return shown, sent


def assert_shown_live(shown: list[tuple[str, str]]) -> None:
    """Both renames shown, each as the event it is."""
    assert len(shown) == 2, shown
    for name, pane in shown:
        # the pane's text is the answer's JSON, indented with no-break spaces
        answer = json.loads(pane.replace("\xa0", " ") or "{}")
        event = answer.get("data", {}).get("sealEvents") if isinstance(answer, dict) else None
        assert event == {
            "type": "UPDATED",
            "source": "GATEWAY_WRITE",
            "vendorSealId": "50001",
            "seal": {"name": name},
        }, pane


@pytest.mark.timeout(120)
def test_graphiql_follows_the_seal_events_live_with_the_headers_tabs_credentials(
    start_gateway: StartGateway, assets: Path, tmp_path: Path
) -> None:
    """Where callers need credentials: the key typed into the Headers tab is what GraphiQL
    sends in `connection_init`, and the events show in the result pane as they happen."""
    gateway = start_gateway(SEALGW_GRAPHIQL_ASSETS=str(assets))
    shown, sent = followed_in_graphiql(gateway.url, AUTH, tmp_path)
    assert_shown_live(shown)
    init = [m for m in sent if m["type"] == "connection_init"]
    assert init == [{"type": "connection_init", "payload": AUTH}]
    subscribe = next(m for m in sent if m["type"] == "subscribe")
    assert subscribe["payload"]["query"] == LIVE
    assert {"type": "complete", "id": subscribe["id"]} in sent


@pytest.mark.timeout(120)
def test_graphiql_follows_the_seal_events_live_in_the_demo(demo: str, tmp_path: Path) -> None:
    """The sandbox demo, where nobody is configured and nothing needs typing in the Headers
    tab."""
    shown, sent = followed_in_graphiql(demo, {}, tmp_path)
    assert_shown_live(shown)
    init = next(m for m in sent if m["type"] == "connection_init")
    assert "Authorization" not in (init.get("payload") or {})
    # the demo's own process: its one subscription, ended by GraphiQL's stop button
    ended = 'sealgw_subscriptions_ended_total{transport="ws"} 1.0'
    deadline = time.monotonic() + 10
    while ended not in (metrics := httpx.get(f"{demo}/metrics", timeout=10).text):
        assert time.monotonic() < deadline, metrics
        time.sleep(0.1)
    assert 'sealgw_subscriptions_total{transport="ws"} 1.0' in metrics
