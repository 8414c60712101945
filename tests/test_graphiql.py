"""GraphiQL served from the gateway itself: its files fetched with npm and hash-checked, a page
that says how to get them when they are missing, and a real browser (headless Chromium) that
runs a query from the editor with every non-loopback address blocked."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from gateway.http import graphiql
from tests.conftest import StartGateway
from tests.test_cli import start_serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


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
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
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
