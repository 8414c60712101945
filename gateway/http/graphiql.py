"""GraphiQL served from the gateway's own routes, so that it works where browsers cannot reach
a CDN (behind a company firewall, offline).

The page is strawberry's GraphiQL page with its CDN addresses pointed at `/graphql/assets/`; its
files (React, GraphiQL, the explorer plugin, js-cookie) are the npm packages at the versions that
page pins, installed with npm at install, image build or first start (`seal-gateway graphiql
fetch`), kept outside the repository, and checked against the page's own Subresource Integrity
hashes, which the browser checks again. Without them the page says how to get them."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from strawberry.http.ides import get_graphql_ide_html

log = logging.getLogger("gateway.graphiql")

ASSETS_PATH = "/graphql/assets"
CDN = re.compile(
    r'(?:src|href)="https://unpkg\.com/(?P<package>@?[^@"]+)@(?P<version>[^/"]+)/(?P<file>[^"]+)"'
    r'\s+integrity="(?P<integrity>sha384-[^"]+)"'
)
DEFAULT_QUERY = """# The organisation's seals, at every configured vendor.
# Run it with the ▶ button (or Ctrl-Enter).
query Seals {
  seals(first: 5) {
    totalCount
    edges {
      node {
        id
        provider
        name
        bizType
        status
        isDefault
      }
    }
    unavailableProviders
  }
}
"""


@dataclass(frozen=True, slots=True)
class Asset:
    package: str
    version: str
    file: str
    integrity: str  # sha384-<base64>, from the page

    @property
    def route(self) -> str:
        return f"{ASSETS_PATH}/{self.package}@{self.version}/{self.file}"


TEMPLATE = get_graphql_ide_html("graphiql")
ASSETS = tuple(
    Asset(m["package"], m["version"], m["file"], m["integrity"]) for m in CDN.finditer(TEMPLATE)
)


def default_dir() -> Path:
    """Outside the repository: the user's cache, one folder per set of pinned versions."""
    pinned = hashlib.sha256(
        "".join(f"{a.package}@{a.version}" for a in ASSETS).encode()
    ).hexdigest()[:12]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "seal-gateway" / f"graphiql-{pinned}"


def file_of(folder: Path, asset: Asset) -> Path:
    return folder / "node_modules" / asset.package / asset.file


def _sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def installed(folder: Path) -> bool:
    """Every file there, each matching the page's integrity hash."""
    for asset in ASSETS:
        path = file_of(folder, asset)
        if not path.is_file() or _sri(path.read_bytes()) != asset.integrity:
            return False
    return True


class FetchError(RuntimeError):
    """The files could not be fetched or did not match their hashes; the message says why."""


def fetch(folder: Path, npm: str | None = None, timeout_s: float = 300.0) -> None:
    """Installs the pinned packages with npm into `folder` and checks every file's hash."""
    npm = npm or shutil.which("npm")
    if npm is None:
        raise FetchError("npm is not installed (Node.js's package manager fetches the files).")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text('{"private": true}\n')
    packages = sorted({f"{a.package}@{a.version}" for a in ASSETS})
    command = [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--silent"]
    try:
        subprocess.run(  # noqa: S603 (npm with the page's own pinned package names)
            [*command, "--prefix", str(folder), *packages],
            check=True,
            timeout=timeout_s,
            capture_output=True,
        )
    except (subprocess.SubprocessError, OSError) as error:
        raise FetchError(f"npm could not install {', '.join(packages)}: {error}") from None
    for asset in ASSETS:
        path = file_of(folder, asset)
        if not path.is_file():
            raise FetchError(f"{asset.package}@{asset.version} has no {asset.file}.")
        if _sri(path.read_bytes()) != asset.integrity:
            path.unlink()
            raise FetchError(
                f"{asset.package}@{asset.version}/{asset.file} does not match the page's "
                "integrity hash; it was removed."
            )


def page(folder: Path, *, needs_credentials: bool) -> str:
    """GraphiQL with local files, a useful first query and, where callers need credentials,
    the header to fill in; or, without the files, a page saying how to get them."""
    if not installed(folder):
        return MISSING.format(folder=html.escape(str(folder)))
    text = TEMPLATE
    for asset in ASSETS:
        text = text.replace(
            f"https://unpkg.com/{asset.package}@{asset.version}/{asset.file}", asset.route
        )
    headers = (
        json.dumps({"Authorization": "Bearer <your API key or token>"}, indent=2)
        if needs_credentials
        else None
    )
    defaults = json.dumps({"query": DEFAULT_QUERY, "headers": headers}, ensure_ascii=False)
    text = text.replace(
        "<script>\n      const EXAMPLE_QUERY",
        f"<script>\n      const PAGE_DEFAULTS = {defaults};\n      const EXAMPLE_QUERY",
        1,
    )
    text = text.replace("parameters.q || EXAMPLE_QUERY", "parameters.q || PAGE_DEFAULTS.query")
    return text.replace(
        "React.useState(parameters.headers)",
        "React.useState(parameters.headers || PAGE_DEFAULTS.headers)",
    )


MISSING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>seal-gateway: GraphiQL</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem}}
code{{background:#f3f3f3;padding:.1em .3em}}</style></head>
<body><h1>GraphiQL's files are not installed</h1>
<p>The gateway serves GraphiQL from its own address (no CDN), so its files (React, GraphiQL,
the explorer plugin) must be installed once, with npm:</p>
<p><code>seal-gateway graphiql fetch</code></p>
<p>They go to <code>{folder}</code> (or <code>SEALGW_GRAPHIQL_ASSETS</code>); then reload
this page. The API itself works without them: POST GraphQL requests to this address.</p>
</body></html>
"""


def asset_response(folder: Path, request: Request) -> Response:
    """One of the pinned files, and nothing else under that folder."""
    wanted = request.url.path.removeprefix(ASSETS_PATH + "/")
    for asset in ASSETS:
        if wanted == f"{asset.package}@{asset.version}/{asset.file}":
            path = file_of(folder, asset)
            if path.is_file():
                # versioned names: the content never changes
                headers = {"Cache-Control": "public, max-age=31536000, immutable"}
                return FileResponse(path, headers=headers)
    return Response(status_code=404)


def page_response(folder: Path, *, needs_credentials: bool) -> HTMLResponse:
    return HTMLResponse(page(folder, needs_credentials=needs_credentials))
