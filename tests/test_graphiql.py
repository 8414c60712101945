"""GraphiQL served from the gateway itself: its files fetched with npm and hash-checked, a page
that says how to get them when they are missing, and a real browser (headless Chromium) that
runs a query from the editor with every non-loopback address blocked."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gateway.http import graphiql
from tests.browser import launch
from tests.conftest import StartGateway
from tests.test_cli import start_serving


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
