"""Assembly: the Starlette app with GraphQL at /graphql (GraphiQL in a browser), /healthz, CORS,
and whatever extra routes the caller mounts beside them (the demo mounts the sandbox)."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from gateway.config import Settings
from gateway.domain import ProviderName
from gateway.guards import BodyLimit, MultipartCsrfGuard
from gateway.logs import redact
from gateway.providers.base import SealProvider
from gateway.providers.esign.provider import EsignProvider
from gateway.providers.yunyin.provider import YunyinProvider
from gateway.schema import GatewayContext, build_schema
from gateway.service import Limits, SealService

log = logging.getLogger("gateway")

MAX_QUERY_BYTES = 1024 * 1024
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def build_adapters(settings: Settings) -> dict[ProviderName, SealProvider]:
    adapters: dict[ProviderName, SealProvider] = {}
    if settings.vendors.esign is not None:
        adapters[ProviderName.ESIGN] = EsignProvider(settings.vendors.esign)
    if settings.vendors.yunyin is not None:
        adapters[ProviderName.YUNYIN] = YunyinProvider(settings.vendors.yunyin)
    return adapters


@dataclass
class Runtime:
    """What lives as long as the process: settings and the providers' pooled connections."""

    settings: Settings
    adapters: dict[ProviderName, SealProvider] = field(default_factory=dict)


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
        # A service per request: its loaders' caches must not outlive it.
        return GatewayContext(
            service=SealService(self.runtime.adapters, self.scope, self.limits),
            sandbox=self.runtime.settings.sandbox,
        )

    def encode_json(self, data: object) -> bytes:
        # Chinese text as UTF-8 rather than \\u escapes: bodies are smaller and readable.
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def create_app(settings: Settings, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The gateway, with `extra_routes` served beside it."""
    runtime = Runtime(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime.adapters = build_adapters(settings)
        names = ", ".join(p.value for p in runtime.adapters) or "none"
        log.info("providers: %s%s", names, " (sandbox)" if settings.sandbox else "")
        try:
            yield
        finally:
            for adapter in runtime.adapters.values():
                await adapter.aclose()

    async def healthz(request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "sandbox": settings.sandbox,
                "providers": [p.value for p in runtime.adapters],
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
    routes.extend(extra_routes)
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
