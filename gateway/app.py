"""Assembly: the Starlette app with GraphQL at /graphql (GraphiQL in a browser), /healthz, CORS,
and, when no vendor is configured, the sandbox mounted at /sandbox for the providers to use."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from gateway.config import Settings
from gateway.domain import ProviderName
from gateway.guards import BodyLimit, MultipartCsrfGuard
from gateway.loaders import Loaders
from gateway.logs import redact
from gateway.providers.base import SealProvider
from gateway.providers.esign.provider import EsignProvider
from gateway.providers.yunyin.provider import YunyinProvider
from gateway.sandbox import Sandbox, create_sandbox_app
from gateway.schema import GatewayContext, Limits, build_schema

log = logging.getLogger("gateway")

SANDBOX_PATH = "/sandbox"
MAX_QUERY_BYTES = 1024 * 1024
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def build_providers(settings: Settings) -> dict[ProviderName, SealProvider]:
    providers: dict[ProviderName, SealProvider] = {}
    if settings.vendors.esign is not None:
        providers[ProviderName.ESIGN] = EsignProvider(settings.vendors.esign)
    if settings.vendors.yunyin is not None:
        providers[ProviderName.YUNYIN] = YunyinProvider(settings.vendors.yunyin)
    return providers


@dataclass
class Runtime:
    """What lives as long as the process: settings and the providers' pooled connections."""

    settings: Settings
    providers: dict[ProviderName, SealProvider] = field(default_factory=dict)


class GatewayGraphQL(GraphQL[GatewayContext, None]):
    def __init__(self, runtime: Runtime) -> None:
        # Multipart (file uploads) is on; create_app puts the CSRF guard in front of it.
        super().__init__(build_schema(), graphql_ide="graphiql", multipart_uploads_enabled=True)
        self.runtime = runtime
        settings = runtime.settings
        self.limits = Limits(
            default_page_size=settings.default_page_size,
            max_page_size=settings.max_page_size,
            max_upload_bytes=settings.max_upload_bytes,
        )
        self.scope = settings.scope()

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> GatewayContext:
        # Loaders are per request: their caches must not outlive it.
        return GatewayContext(
            providers=self.runtime.providers,
            scope=self.scope,
            loaders=Loaders(self.runtime.providers, self.scope),
            limits=self.limits,
            sandbox=self.runtime.settings.sandbox,
            request=request,
            response=response,
        )

    def encode_json(self, data: object) -> bytes:
        # Chinese text as UTF-8 rather than \\u escapes: bodies are smaller and readable.
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def create_app(settings: Settings, sandbox: Sandbox | None = None) -> Starlette:
    """The gateway. With `sandbox`, that sandbox is also served under /sandbox."""
    runtime = Runtime(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime.providers = build_providers(settings)
        names = ", ".join(p.value for p in runtime.providers) or "none"
        log.info("providers: %s%s", names, " (sandbox)" if settings.sandbox else "")
        try:
            yield
        finally:
            for provider in runtime.providers.values():
                await provider.aclose()

    async def healthz(request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "sandbox": settings.sandbox,
                "providers": [p.value for p in runtime.providers],
            }
        )

    graphql = BodyLimit(
        MultipartCsrfGuard(GatewayGraphQL(runtime)),
        limit=MAX_QUERY_BYTES,
        # room for the multipart framing and the operations/map fields beside the file
        multipart_limit=settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES,
    )
    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/graphql", graphql, methods=["GET", "POST"]),
    ]
    if sandbox is not None:
        routes.append(Mount(SANDBOX_PATH, app=create_sandbox_app(sandbox)))
    middleware = []
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=[
                    "content-type",
                    "authorization",
                    "apollo-require-preflight",
                    "x-apollo-operation-name",
                ],
                max_age=600,
            )
        )
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.runtime = runtime
    return app


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The access log prints query strings: the sandbox's token URL carries its demo secret.
    redact("uvicorn.access")
