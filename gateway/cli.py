"""`seal-gateway serve | sandbox | schema | graphiql fetch | key new`, and `--version`."""

from __future__ import annotations

import argparse
import errno
import importlib.metadata
import json
import logging
import os
import shutil
import socket
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from gateway.config import ConfigError, load_settings
from gateway.domain import DEFAULT_TENANT
from gateway.http import graphiql
from gateway.http.server import GatewayConfig
from gateway.ops.logs import configure_logging
from gateway.settings import read_options, unknown_variables
from gateway.shared import UNAVAILABLE, RedisAddress

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from gateway.config import Settings

# The app, the sandbox and the callers' keys are imported by the commands that use them: the
# supervisor of `serve --workers N` never builds an app, and stays a small process.

log = logging.getLogger("gateway")
# Seconds a stopping server gives its requests beyond the request deadline.
STOP_MARGIN_S = 5.0


def bind(host: str, port: int) -> socket.socket:
    """A listening socket; binding before the app is built tells a port-0 server its port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _reason(error: OSError, other: str = "pick another with --port") -> str:
    if error.errno == errno.EADDRINUSE:
        return f"the port is in use (another process listens there; {other})."
    if error.errno == errno.EADDRNOTAVAIL:
        return "no interface of this machine has that address."
    if error.errno == errno.EACCES:
        return "permission denied (ports below 1024 need privileges)."
    return error.strerror or type(error).__name__


def shared_state_problem(redis_url: str | None) -> str | None:
    """Why the configured Redis cannot be used, or None: checked before serving, so that a
    wrong URL stops start-up instead of failing requests."""
    if redis_url is None:
        return None
    address = RedisAddress.parse(redis_url)
    try:
        client = address.sync_client(socket_connect_timeout=3, socket_timeout=3)
        try:
            client.ping()
        finally:
            client.close()
    except UNAVAILABLE as error:
        return f"SEALGW_REDIS_URL ({address.shown}) does not answer: {type(error).__name__}."
    return None


def bound_url(host: str, port: int) -> str:
    """The address as bound: 0.0.0.0 says all interfaces, not the loopback one."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def loopback_url(host: str, port: int) -> str:
    """How this process reaches its own listener."""
    if host in ("0.0.0.0", "", "::"):  # noqa: S104 (reading the bind address, not binding)
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def server_options(settings: Settings) -> dict[str, float]:
    """The HTTP server's settings: the deadlines for a request's head and body, and for the
    requests still running when it stops (each has `request_deadline_s` at the vendors; one
    still running a while after that, such as a stream to a client that stopped reading, is
    cancelled rather than holding the stop up); the busy poll's window."""
    return {
        "head_timeout_s": settings.header_timeout_s,
        "body_timeout_s": settings.body_timeout_s,
        "timeout_graceful_shutdown": settings.request_deadline_s + STOP_MARGIN_S,
        "busy_poll_s": settings.busy_poll_us / 1e6,
    }


def serve_app(app: object, sock: socket.socket, log_level: str, **options: float) -> None:
    config = GatewayConfig(app, log_level=log_level.lower(), lifespan="on", **options)
    uvicorn.Server(config).run(sockets=[sock])


def serve_workers(workers: int, sock: socket.socket, log_level: str, **options: float) -> None:
    """`workers` processes sharing the listening socket, each building its own app from the
    environment; uvicorn's supervisor restarts one that dies."""
    from uvicorn.supervisors import Multiprocess

    config = GatewayConfig(
        "gateway.http.app:app_from_environment",
        factory=True,
        workers=workers,
        log_level=log_level.lower(),
        lifespan="on",
        **options,
    )
    Multiprocess(config, sockets=[sock]).run()


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except ConfigError as error:
        print(f"seal-gateway: configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    warn_of_unknown_variables()
    host = args.host or settings.host
    # One process unless the processes share their state: several processes each keeping
    # their own vendor tokens, Idempotency-Key records, rate windows and breakers would break
    # what README promises (one write per key, one token per vendor app, limits counted once).
    shared = settings.redis_url is not None
    workers = (
        args.workers
        if args.workers is not None
        else ((os.cpu_count() or 1) if shared and not settings.sandbox else 1)
    )
    if workers < 1 or (settings.sandbox and workers > 1):
        print(
            "seal-gateway: --workers must be at least 1, and 1 for the sandbox demo (its "
            "emulated vendors keep their state in one process).",
            file=sys.stderr,
        )
        return 2
    if workers > 1 and not shared:
        print(
            f"seal-gateway: --workers {workers} needs SEALGW_REDIS_URL: processes that do not "
            "share their state would each fetch their own vendor tokens, keep their own "
            "Idempotency-Key records, rate windows and breakers, and break the guarantees in "
            'README ("Surviving the vendors"). Serve one worker, or configure Redis.',
            file=sys.stderr,
        )
        return 2
    problem = settings.exposure_problem(host)
    if problem is not None:
        print(f"seal-gateway: {problem}", file=sys.stderr)
        return 2
    port = settings.port if args.port is None else args.port
    try:
        sock = bind(host, port)
    except OSError as error:
        print(f"seal-gateway: cannot listen on {host}:{port}: {_reason(error)}", file=sys.stderr)
        return 2
    problem = shared_state_problem(settings.redis_url)
    if problem is not None:
        print(f"seal-gateway: {problem}", file=sys.stderr)
        return 2
    port = sock.getsockname()[1]
    base = loopback_url(host, port)
    extra_routes = []
    if settings.sandbox:
        from gateway.demo import SANDBOX_PATH, on_sandbox, sandbox_routes

        # the emulated e签宝 notifies this gateway's webhook, as the console would be set to
        extra_routes = sandbox_routes(settings.sandbox_public_url, f"{base}/webhooks/esign")
        settings = on_sandbox(settings, base + SANDBOX_PATH)
        log.warning(
            "no vendor configured (SEALGW_ESIGN_BASE_URL / SEALGW_YUNYIN_BASE_URL): serving the "
            "built-in sandbox of emulated vendors at %s%s",
            base,
            SANDBOX_PATH,
        )
    if settings.anonymous:
        log.warning(
            "ANONYMOUS ACCESS: the sandbox demo takes requests without credentials on %s, each "
            "as an admin. Loopback only; configure vendors and callers for anything else.",
            base,
        )
    log.info(
        "seal-gateway listening on %s with %d worker%s; GraphiQL at %s/graphql",
        bound_url(host, port),
        workers,
        "" if workers == 1 else "s",
        base,
    )
    if workers > 1:
        os.environ["SEALGW_HOST"], os.environ["SEALGW_PORT"] = host, str(port)
        # every worker writes its metrics here; /metrics adds them up
        os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", tempfile.mkdtemp(prefix="sealgw-"))
    if settings.metrics_port is not None:
        from gateway.ops.metrics import serve_metrics

        try:
            metrics_port = serve_metrics(host, settings.metrics_port)
        except OSError as error:
            print(
                f"seal-gateway: cannot serve metrics on {host}:{settings.metrics_port}: "
                f"{_reason(error, 'pick another with SEALGW_METRICS_PORT')}",
                file=sys.stderr,
            )
            return 2
        log.info("metrics at %s/metrics", bound_url(host, metrics_port))
    if settings.graphiql_fetch:
        fetch_graphiql_in_background(settings.graphiql_assets)
    options = server_options(settings)
    if workers == 1:
        from gateway.http.app import configure_tracing, create_app
        from gateway.http.reload import Reloading

        configure_tracing(settings.otlp_endpoint)

        def rebuild() -> Starlette:
            """The app from the settings as they are now (SIGHUP): the same listener, the same
            sandbox (its emulated vendors' state kept)."""
            fresh = load_settings()
            configure_logging(fresh.log_level, fresh.log_format)
            if fresh.sandbox:
                from gateway.demo import SANDBOX_PATH, on_sandbox

                fresh = on_sandbox(fresh, base + SANDBOX_PATH)
            return create_app(fresh, extra_routes if fresh.sandbox else ())

        app = Reloading(create_app(settings, extra_routes), rebuild)
        serve_app(app, sock, settings.log_level, **options)
    else:
        serve_workers(workers, sock, settings.log_level, **options)
    return 0


def warn_of_unknown_variables() -> None:
    """A misspelt variable would otherwise leave its setting at the default without a word."""
    for name, closest in unknown_variables(os.environ):
        if closest is None:
            log.warning("%s is not a setting of seal-gateway; it is ignored", name)
        else:
            log.warning(
                "%s is not a setting of seal-gateway; it is ignored (did you mean %s?)",
                name,
                closest,
            )


def cmd_sandbox(args: argparse.Namespace) -> int:
    configure_logging("INFO")
    try:
        sock = bind(args.host, args.port)
    except OSError as error:
        print(
            f"seal-gateway: cannot listen on {args.host}:{args.port}: {_reason(error)}",
            file=sys.stderr,
        )
        return 2
    base = loopback_url(args.host, sock.getsockname()[1])
    log.info(
        "sandbox listening on %s: e签宝 at %s/esign, 云银签 at %s/yunyin, knobs at %s/_sandbox",
        base,
        base,
        base,
        base,
    )
    from gateway.demo import standalone_sandbox

    app = standalone_sandbox(args.latency_ms / 1000, args.esign_offset_base, args.public_url)
    serve_app(app, sock, "warning")
    return 0


def cmd_graphiql_fetch(args: argparse.Namespace) -> int:
    """Installs GraphiQL's files with npm (checked against their integrity hashes)."""
    try:
        configured = read_options(os.environ).graphiql_assets
    except ConfigError as error:
        print(f"seal-gateway: configuration error: {error}", file=sys.stderr)
        return 2
    folder = Path(args.dir or configured or graphiql.default_dir())
    try:
        graphiql.fetch(folder)
    except graphiql.FetchError as error:
        print(f"seal-gateway: {error}", file=sys.stderr)
        return 2
    print(f"GraphiQL's files are in {folder}")
    return 0


def fetch_graphiql_in_background(configured: str | None) -> None:
    """At first start, when the files are missing and npm is at hand: fetched beside serving
    (the page says how to get them until they are there)."""
    folder = Path(configured) if configured else graphiql.default_dir()
    if graphiql.installing(folder):
        log.info("GraphiQL's files are being fetched by another process into %s", folder)
        return
    if graphiql.installed(folder) or shutil.which("npm") is None:
        if not graphiql.installed(folder):
            log.warning("GraphiQL's files are missing and npm is not installed: see /graphql")
        return

    def run() -> None:
        log.info("fetching GraphiQL's files with npm into %s (once)", folder)
        try:
            graphiql.fetch(folder)
        except graphiql.FetchError as error:
            log.warning("GraphiQL's files could not be fetched: %s", error)
        else:
            log.info("GraphiQL's files are in place")

    threading.Thread(target=run, name="graphiql-fetch", daemon=True).start()


def cmd_key_new(args: argparse.Namespace) -> int:
    """Prints a fresh API key (once) and the lines the tenants file keeps of it."""
    from gateway.access.callers import new_key

    key, digest = new_key()
    entry = f"{args.name}:{args.role}:{digest}"
    sys.stdout.write(
        f"# The key, for the caller (shown once; the gateway keeps only its digest):\n"
        f"#   {key}\n"
        f"# With a tenants file (SEALGW_TENANTS_FILE), add to it:\n"
        f"[[tenants.{args.tenant}.api_keys]]\n"
        f'name = "{args.name}"\n'
        f'role = "{args.role}"\n'
        f'digest = "{digest}"\n'
    )
    if args.tenant == DEFAULT_TENANT:
        sys.stdout.write(
            f"# Without one, add to SEALGW_API_KEYS (comma-separated), e.g.:\n"
            f"#   SEALGW_API_KEYS={entry}\n"
        )
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    from gateway.schema import possible_types, schema_sdl, subgraph_sdl

    if args.possible_types:
        sys.stdout.write(json.dumps(possible_types(), indent=2) + "\n")
    else:
        sys.stdout.write(subgraph_sdl() if args.subgraph else schema_sdl())
    return 0


def _version() -> str:
    """The installed package's version (pyproject.toml's, through the package metadata)."""
    try:
        return importlib.metadata.version("seal-gateway")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed as a package)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="seal-gateway", description="One GraphQL API over e签宝 and 云银签 seals."
    )
    parser.add_argument("--version", action="version", version=f"seal-gateway {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve", help="run the gateway (on the sandbox if no vendor is set)"
    )
    serve.add_argument("--host", help="bind address (default SEALGW_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default SEALGW_PORT or 8000; 0 picks one)")
    serve.add_argument(
        "--workers",
        type=int,
        help="processes sharing the port (default: one per core; 1 for the sandbox demo)",
    )
    serve.set_defaults(run=cmd_serve)

    sandbox = commands.add_parser("sandbox", help="serve the emulated vendors alone")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8100)
    sandbox.add_argument("--latency-ms", type=float, default=0.0, help="added to every call")
    sandbox.add_argument("--esign-offset-base", type=int, choices=(0, 1), default=1)
    sandbox.add_argument(
        "--public-url",
        help="the root URL browsers reach it at, for image links (default: "
        "the URL each request came to)",
    )
    sandbox.set_defaults(run=cmd_sandbox)

    schema = commands.add_parser("schema", help="print the GraphQL SDL")
    face = schema.add_mutually_exclusive_group()
    face.add_argument(
        "--subgraph", action="store_true", help="the federation subgraph's SDL (for a router)"
    )
    face.add_argument(
        "--possible-types",
        action="store_true",
        help="each interface's implementing types, as JSON (Apollo Client's possibleTypes)",
    )
    schema.set_defaults(run=cmd_schema)

    ide = commands.add_parser("graphiql", help="GraphiQL's files (served by the gateway)")
    ide_commands = ide.add_subparsers(dest="graphiql_command", required=True)
    ide_fetch = ide_commands.add_parser("fetch", help="install them with npm, hash-checked")
    ide_fetch.add_argument("--dir", help="where (default SEALGW_GRAPHIQL_ASSETS or the cache)")
    ide_fetch.set_defaults(run=cmd_graphiql_fetch)

    key = commands.add_parser("key", help="API keys for callers")
    key_commands = key.add_subparsers(dest="key_command", required=True)
    key_new = key_commands.add_parser("new", help="print a fresh API key and its digest line")
    key_new.add_argument("--tenant", default="default", help="the tenant it is for")
    key_new.add_argument("--name", default="service", help="a name for the audit trail")
    key_new.add_argument("--role", choices=("viewer", "admin"), default="viewer")
    key_new.set_defaults(run=cmd_key_new)

    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
