"""GraphiQL served from the gateway's own routes, so that it works where browsers cannot reach
a CDN (behind a company firewall, offline).

The page is strawberry's GraphiQL page with its CDN addresses pointed at `/graphql/assets/`; its
files (React, GraphiQL, the explorer plugin, js-cookie) are the npm packages at the versions that
page pins, installed with npm at install, image build or first start (`seal-gateway graphiql
fetch`), kept outside the repository, and checked against the page's own Subresource Integrity
hashes, which the browser checks again. Without them the page says how to get them.

Subscriptions run over graphql-transport-ws on the page's own address: the pinned GraphiQL's
fetcher sends the Headers tab's headers, as typed, as `connection_init`'s payload (its toolkit
merges them into the WebSocket's connection parameters), which is where the gateway reads a
subscriber's credentials; tests/test_graphiql.py follows the seal events through it."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import html
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
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


FETCH_TIMEOUT_S = 300.0


STAGING_PREFIX = ".installing-"


def installing(folder: Path) -> bool:
    """Whether an install into `folder` is under way, in this process or another: each writes
    into a folder of its own there (nothing in it is served) until its files are verified."""
    try:
        stagings = [p for p in folder.iterdir() if p.name.startswith(STAGING_PREFIX)]
        return any(time.time() - p.stat().st_mtime < FETCH_TIMEOUT_S for p in stagings)
    except OSError:
        return False


def fetch(folder: Path, npm: str | None = None, timeout_s: float = FETCH_TIMEOUT_S) -> None:
    """Installs the pinned packages with npm beside `folder`'s files, checks every file's hash,
    and only then moves them into place: a page or an asset asked meanwhile never sees a
    half-written file, and two installs at once (a start-up's and `graphiql fetch`) do not
    write over each other."""
    npm = npm or shutil.which("npm")
    if npm is None:
        raise FetchError("npm is not installed (Node.js's package manager fetches the files).")
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=folder))
    try:
        _install(npm, staging, timeout_s)
        _move_into_place(_served_only(staging), folder / "node_modules")
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _install(npm: str, staging: Path, timeout_s: float) -> None:
    (staging / "package.json").write_text('{"private": true}\n')
    packages = sorted({f"{a.package}@{a.version}" for a in ASSETS})
    command = [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--silent"]
    try:
        subprocess.run(  # noqa: S603 (npm with the page's own pinned package names)
            [*command, "--prefix", str(staging), *packages],
            check=True,
            timeout=timeout_s,
            capture_output=True,
        )
    except (subprocess.SubprocessError, OSError) as error:
        raise FetchError(f"npm could not install {', '.join(packages)}: {error}") from None
    for asset in ASSETS:
        path = file_of(staging, asset)
        if not path.is_file():
            raise FetchError(f"{asset.package}@{asset.version} has no {asset.file}.")
        if _sri(path.read_bytes()) != asset.integrity:
            raise FetchError(
                f"{asset.package}@{asset.version}/{asset.file} does not match the page's "
                "integrity hash; nothing was installed."
            )


def _served_only(staging: Path) -> Path:
    """The files the page serves, apart from the rest of the packages: npm installs GraphiQL's
    whole dependency tree (about 60 MB), the page serves a few files of it (about 4 MB), and
    only those are kept (in the cache, and in the image)."""
    kept = staging / "served" / "node_modules"
    for asset in ASSETS:
        target = kept / asset.package / asset.file
        target.parent.mkdir(parents=True, exist_ok=True)
        file_of(staging, asset).rename(target)
    return kept


def _move_into_place(fresh: Path, target: Path) -> None:
    """Two renames in one folder: the old files out of the way, the verified ones in. Where
    another install moved its own (verified) files in meanwhile, those stay."""
    retired = Path(tempfile.mkdtemp(prefix=".retired-", dir=target.parent))
    try:
        with contextlib.suppress(FileNotFoundError):
            target.rename(retired / target.name)
        try:
            fresh.rename(target)
        except OSError:
            if not installed(target.parent):
                # the old files back, rather than none at all
                with contextlib.suppress(OSError):
                    (retired / target.name).rename(target)
                if not installed(target.parent):
                    raise FetchError(f"the files could not be moved into {target}.") from None
    finally:
        shutil.rmtree(retired, ignore_errors=True)


def page(folder: Path, *, needs_credentials: bool, persist_headers: bool = False) -> str:
    """GraphiQL with local files, a useful first query and, where callers need credentials,
    the header to fill in; or, while the files download, a page that says so and reloads
    itself; or, without them, a page saying how to get them. The headers typed in (a Bearer
    token) stay in the page unless `persist_headers`: GraphiQL would keep them in the
    browser's localStorage, where any script of this origin reads them."""
    if not installed(folder):
        if installing(folder):
            return INSTALLING
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
    text = text.replace(
        "React.useState(parameters.headers)",
        "React.useState(parameters.headers || PAGE_DEFAULTS.headers)",
    )
    if persist_headers:
        return text
    root = "      const root = ReactDOM.createRoot("
    text = text.replace(root, HEADERLESS_STORAGE + root, 1)
    return text.replace(
        "shouldPersistHeaders: true,", "shouldPersistHeaders: false,\n          storage,", 1
    )


# GraphiQL's storage without the headers: `shouldPersistHeaders: false` keeps them out of
# `graphiql:headers`, but GraphiQL 3 still writes them into its tabs and its history, so every
# value it stores goes through here with its `headers` blanked. What an earlier page kept is
# cleaned on load.
HEADERLESS_STORAGE = """      const WITH_HEADERS = [
        "graphiql:tabState", "graphiql:queries", "graphiql:favorites",
      ];
      function withoutHeaders(key, value) {
        if (key === "graphiql:headers") return "";
        if (!WITH_HEADERS.includes(key) || typeof value !== "string") return value;
        try {
          return JSON.stringify(JSON.parse(value), (k, v) => (k === "headers" ? null : v));
        } catch (error) {
          return value;
        }
      }
      const storage = {
        getItem: (key) => localStorage.getItem(key),
        setItem: (key, value) => localStorage.setItem(key, withoutHeaders(key, value)),
        removeItem: (key) => localStorage.removeItem(key),
        clear: () => localStorage.clear(),
        get length() {
          return localStorage.length;
        },
      };
      for (const key of ["graphiql:headers", ...WITH_HEADERS]) {
        const kept = localStorage.getItem(key);
        if (kept !== null) localStorage.setItem(key, withoutHeaders(key, kept));
      }
"""


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


INSTALLING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>seal-gateway: GraphiQL</title>
<meta http-equiv="refresh" content="3">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:3rem auto;padding:0 1rem}
</style></head>
<body><h1>GraphiQL's files are downloading</h1>
<p>The gateway is fetching GraphiQL's files with npm (once; they are checked against pinned
hashes before they are used). This page reloads itself every few seconds and shows GraphiQL
when they are in place. The API itself already works: POST GraphQL requests to this
address.</p>
</body></html>
"""

# Each file as served, by path: its size and modification time when read, and its bytes,
# which matched the page's integrity hash.
_verified: dict[Path, tuple[int, int, bytes]] = {}


def verified_bytes(folder: Path, asset: Asset) -> bytes | None:
    """The file's bytes if they are the pinned ones; else None (missing, being replaced, or
    not the pinned file). Hashed once per version of the file on disk."""
    path = file_of(folder, asset)
    try:
        stat = path.stat()
        known = _verified.get(path)
        if known is not None and known[:2] == (stat.st_size, stat.st_mtime_ns):
            return known[2]
        data = path.read_bytes()
    except OSError:
        return None
    if _sri(data) != asset.integrity:
        return None
    _verified[path] = (stat.st_size, stat.st_mtime_ns, data)
    return data


def asset_response(folder: Path, request: Request) -> Response:
    """One of the pinned files, and nothing else under that folder; served from the bytes that
    were checked against its hash (so the length sent is the length checked), never while the
    file is missing or not the pinned one."""
    wanted = request.url.path.removeprefix(ASSETS_PATH + "/")
    for asset in ASSETS:
        if wanted == f"{asset.package}@{asset.version}/{asset.file}":
            data = verified_bytes(folder, asset)
            if data is None:
                break
            # versioned names: the content never changes
            return Response(
                data,
                media_type=_media_type(asset.file),
                headers={"Cache-Control": "public, max-age=31536000, immutable"},
            )
    return Response(status_code=404, headers={"Cache-Control": "no-store"})


def _media_type(name: str) -> str:
    if name.endswith(".css"):
        return "text/css; charset=utf-8"
    return "text/javascript; charset=utf-8"


def page_response(
    folder: Path, *, needs_credentials: bool, persist_headers: bool = False
) -> HTMLResponse:
    response = HTMLResponse(
        page(folder, needs_credentials=needs_credentials, persist_headers=persist_headers)
    )
    response.headers["Cache-Control"] = "no-store"
    return response
