"""Assembly: the Starlette app with GraphQL at /graphql (GraphiQL in a browser), /healthz, CORS,
and whatever extra routes the caller mounts beside them (the demo mounts the sandbox)."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.types import ExecutionResult

from gateway import graphiql
from gateway.callers import Authenticator, CallerGate, RateLimiter
from gateway.config import Settings, load_settings
from gateway.domain import Caller, OrgScope, ProviderName
from gateway.guards import (
    BodyLimit,
    ConcurrencyLimit,
    JsonObjectGuard,
    MultipartCsrfGuard,
    read_body,
    refuse,
    replaying,
)
from gateway.health import Readiness
from gateway.health import Target as ReadyTarget
from gateway.idempotency import IdempotentWrites
from gateway.logs import configure_logging
from gateway.metrics import CONTENT_TYPE_LATEST, exposition
from gateway.persisted import DocumentRefused, PersistedDocuments
from gateway.providers.base import SealProvider
from gateway.providers.esign.provider import EsignProvider
from gateway.providers.resilience import REQUEST_BUDGET, RequestBudget, SharedUpstream
from gateway.providers.yunyin.provider import YunyinProvider
from gateway.schema import GatewayContext, build_schema, planned_queries
from gateway.schema.errors import public_error
from gateway.service import Limits, SealService
from gateway.shared import RedisState, SharedState, state_from_url
from gateway.tenants import Tenant, VendorSettings

log = logging.getLogger("gateway")

MAX_QUERY_BYTES = 1024 * 1024
MULTIPART_OVERHEAD_BYTES = 64 * 1024


def build_adapters(
    vendors: VendorSettings, tenant: str, shared: SharedUpstream
) -> dict[ProviderName, SealProvider]:
    adapters: dict[ProviderName, SealProvider] = {}
    if vendors.esign is not None:
        adapters[ProviderName.ESIGN] = EsignProvider(vendors.esign, tenant, shared)
    if vendors.yunyin is not None:
        adapters[ProviderName.YUNYIN] = YunyinProvider(vendors.yunyin, tenant, shared)
    return adapters


@dataclass
class TenantRuntime:
    """One tenant's vendor clients: its own connections, tokens and signatures, shared by
    nothing of any other tenant."""

    tenant: Tenant
    adapters: dict[ProviderName, SealProvider]
    scope: OrgScope

    def scope_for(self, caller: Caller) -> OrgScope:
        """The tenant's accounts, with the caller's own 云银签 operator where their token
        names one (the tenant allowed it by configuring the claim)."""
        if caller.operator is None or ProviderName.YUNYIN not in self.scope.accounts:
            return self.scope
        return OrgScope({**self.scope.accounts, ProviderName.YUNYIN: caller.operator})


@dataclass
class Runtime:
    """What lives as long as the process: settings, every tenant's pooled connections, and
    the state shared with other processes (in Redis when configured)."""

    settings: Settings
    state: SharedState
    tenants: dict[str, TenantRuntime] = field(default_factory=dict)
    readiness: Readiness = field(default_factory=lambda: Readiness([], 0))

    @property
    def graphiql_assets(self) -> Path:
        configured = self.settings.graphiql_assets
        return Path(configured) if configured else graphiql.default_dir()


GRAPHQL_RESPONSE = "application/graphql-response+json"


def accepts_graphql_response(accept: str | None) -> bool:
    """Whether the client asked for `application/graphql-response+json` (GraphQL over HTTP),
    before plain JSON when it names both with weights."""
    if not accept:
        return False
    weights: dict[str, float] = {}
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        weight = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[media.strip().lower()] = weight
    ours = weights.get(GRAPHQL_RESPONSE, 0.0)
    return ours > 0 and ours >= weights.get("application/json", 0.0)


GET_ANSWER_HEADERS = [
    (b"cache-control", b"private, no-cache"),
    (b"vary", b"Authorization, X-Api-Key, Accept"),
]


class GraphQLAnswer(Response):
    """Strawberry's per-request response holder, knowing what the answer needs: the media type
    the client accepts, whether it is a request error (400 under graphql-response+json), and
    whether it answers a GET (cacheable only by the caller)."""

    graphql_response = False
    request_error = False
    is_get = False

    def __init__(self) -> None:
        super().__init__()
        self.status_code = None  # type: ignore[assignment]
        del self.headers["content-length"]

    def shape(self, response: Response) -> None:
        if self.graphql_response:
            response.headers["content-type"] = f"{GRAPHQL_RESPONSE}; charset=utf-8"
            if self.request_error and response.status_code == 200:
                response.status_code = 400
        else:
            response.headers["content-type"] = "application/json; charset=utf-8"
        if self.is_get:
            # answers depend on the caller's credentials: never in a shared cache
            for name, value in GET_ANSWER_HEADERS:
                response.headers[name.decode()] = value.decode()


async def _document_id(request: AsyncHTTPRequestAdapter) -> str | None:
    """The Guild's `documentId`, which strawberry does not pass on: a query parameter of a GET,
    a member of a JSON body (read again only for requests without a query)."""
    if request.method == "GET":
        value = request.query_params.get("documentId")
    else:
        try:
            body = json.loads(await request.get_body())
        except ValueError:
            return None
        value = body.get("documentId") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def _sentence(reason: str) -> str:
    reason = reason.strip()
    return reason[:1].upper() + reason[1:] + ("" if reason.endswith(".") else ".")


def client_answer(result: ExecutionResult) -> tuple[GraphQLHTTPResponse, bool]:
    """The answer's JSON, every error with its code, and whether it is a request error
    (nothing ran): that has no `data` entry."""
    if result.errors:
        result.errors = [public_error(error) for error in result.errors]
    answer = process_result(result)
    request_error = bool(
        result.data is None and result.errors and all(not e.path for e in result.errors)
    )
    if request_error:
        answer.pop("data", None)
    return answer, request_error


PLANNED_MEMBERS = frozenset({"query", "variables", "operationName", "extensions", "documentId"})
JSON_TYPE = b"application/json; charset=utf-8"
GRAPHQL_RESPONSE_TYPE = GRAPHQL_RESPONSE.encode() + b"; charset=utf-8"


@dataclass(frozen=True, slots=True)
class _PlanHeaders:
    graphql_response: bool
    show_cost: bool
    is_get: bool


def _plan_headers(scope: Scope) -> _PlanHeaders | None:
    """What a planned answer needs of the request's headers; None for a request that is not
    plain JSON out (or, with POST, in): uploads, streamed answers, the GraphiQL page (a GET
    with no `query` that accepts HTML), which are the standard path's."""
    content_type = accept = None
    show_cost = False
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value
        elif name == b"accept":
            accept = value
        elif name == b"x-query-cost":
            show_cost = True
    is_get = scope["method"] == "GET"
    if is_get:
        if b"query=" not in scope.get("query_string", b"") and (
            accept is None or b"text/html" in accept or b"*/*" in accept
        ):
            return None  # maybe the GraphiQL page: strawberry decides
    elif content_type is None or content_type.split(b";", 1)[0].strip().lower() != (
        b"application/json"
    ):
        return None
    if accept is not None and (b"multipart/" in accept or b"text/event-stream" in accept):
        return None
    return _PlanHeaders(
        accepts_graphql_response(accept.decode("latin-1") if accept is not None else None),
        show_cost,
        is_get,
    )


class GatewayGraphQL(GraphQL[GatewayContext, None]):
    def __init__(self, runtime: Runtime, *, subgraph: bool = False) -> None:
        """The product's schema with GraphiQL, or (`subgraph`) the federation subgraph's,
        for the supergraph router. Multipart (file uploads) is on; create_app puts the CSRF
        guard in front of it."""
        settings = runtime.settings
        super().__init__(
            build_schema(
                introspection=settings.introspection or subgraph,
                max_cost=settings.max_query_cost,
                default_page=settings.default_page_size,
                max_page=settings.max_page_size,
                subgraph=subgraph,
                tracing=settings.otlp_endpoint is not None,
                lean=settings.lean_resolvers,
            ),
            graphql_ide=None if subgraph else "graphiql",
            multipart_uploads_enabled=True,
        )
        self.runtime = runtime
        self.documents = PersistedDocuments(
            runtime.state,
            dict(settings.trusted_documents),
            only_trusted=settings.trusted_documents_only,
            automatic=settings.automatic_persisted_queries,
        )
        # queries with a compiled plan skip the generic executor (gateway/schema/plan.py)
        self.planned = planned_queries(self.schema) if settings.query_plans else None
        self.limits = Limits(
            default_page_size=settings.default_page_size,
            max_page_size=settings.max_page_size,
            max_upload_bytes=settings.max_upload_bytes,
        )

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> GatewayContext:
        return self._context(request.scope, show_cost="x-query-cost" in request.headers)

    def _context(self, scope: Scope, *, show_cost: bool) -> GatewayContext:
        # The gate in front established the caller; a service per request: its loaders'
        # caches must not outlive it.
        state = scope["state"]
        caller: Caller = state["caller"]
        tenant = self.runtime.tenants[caller.tenant]
        settings = self.runtime.settings
        REQUEST_BUDGET.set(RequestBudget(settings.vendor_call_budget, settings.request_deadline_s))
        return GatewayContext(
            service=SealService(
                tenant.adapters,
                tenant.scope_for(caller),
                self.limits,
                caller,
                # a retry of a write whose outcome was unknown (see gateway/idempotency.py)
                reconcile=state.get("reconcile", False),
            ),
            sandbox=settings.sandbox,
            show_cost=show_cost,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Strawberry answers a malformed HTTP request in plain text; here it is a GraphQL
        JSON error like every other refusal (GraphQL over HTTP). A query whose document has
        a compiled plan runs through it (`_answer_planned`)."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        try:
            headers = None
            if self.planned is not None and scope["method"] in ("GET", "POST"):
                headers = _plan_headers(scope)
            if headers is not None and headers.is_get:
                given = self._get_request(scope)
                if given is not None and await self._answer_planned(scope, given, headers, send):
                    return
            elif headers is not None:
                message = await read_body(receive)
                if message["type"] != "http.request":
                    return  # the client left before its request was read
                try:
                    body = orjson.loads(message["body"])
                except orjson.JSONDecodeError:
                    body = None
                if type(body) is dict and await self._answer_planned(scope, body, headers, send):
                    return
                receive = replaying(message, receive)
            response = await self.run(Request(scope, receive))
        except ClientDisconnect:
            return  # the client left before its request was read: nobody to answer
        except DocumentRefused as refusal:
            await refuse(send, refusal.status, refusal.message, refusal.code)
            return
        except HTTPException as refusal:
            status, allow = refusal.status_code, b"GET, POST"
            if "when using GET" in refusal.reason:
                # a mutation sent with GET (GraphQL over HTTP says 405)
                status, allow = 405, b"POST"
            allow_header = [(b"allow", allow)] if status == 405 else []
            await refuse(send, status, _sentence(refusal.reason), headers=allow_header)
            return
        await response(scope, receive, send)

    def _get_request(self, scope: Scope) -> dict[str, Any] | None:
        """A GET's GraphQL request from its query string, read by strawberry's own
        `parse_query_params`; None where it refuses one (`variables` or `extensions` not
        JSON): the standard path then says so."""
        try:
            return self.parse_query_params(QueryParams(scope.get("query_string", b"")))
        except HTTPException:
            return None

    async def _answer_planned(
        self, scope: Scope, given: dict[str, Any], headers: _PlanHeaders, send: Send
    ) -> bool:
        """Answers a query (its JSON body, or a GET's parameters) through its compiled plan,
        byte for byte as the standard path would (tests/test_plan.py); False, with nothing run
        and nothing sent, for a request the standard path must take. A persisted document
        named by id (trusted, or registered with APQ) runs through the plan of its text."""
        assert self.planned is not None
        if not given.keys() <= PLANNED_MEMBERS:
            return False
        query = given.get("query")
        variables = given.get("variables")
        operation_name = given.get("operationName")
        extensions = given.get("extensions")
        document_id = given.get("documentId")
        if (
            (query is not None and type(query) is not str)
            or (variables is not None and type(variables) is not dict)
            or (operation_name is not None and type(operation_name) is not str)
            or (extensions is not None and type(extensions) is not dict)
        ):
            return False
        if query is None and type(document_id) is str:
            # The Guild's `documentId` beside no text, as parse_http_body reads it
            extensions = {**(extensions or {}), "documentId": document_id}
        if query is None or extensions or self.documents.only_trusted:
            request_data = GraphQLRequestData(
                query=query,
                variables=variables,
                operation_name=operation_name,
                extensions=extensions,
            )
            await self.documents.resolve(request_data)
            if request_data.query is None:
                return False
            query = request_data.query
        plan = self.planned.plan(query, operation_name)
        if plan is None:
            return False
        context = self._context(scope, show_cost=headers.show_cost)
        result = await self.planned.execute(plan, variables, context)
        if result is None:
            return False
        answer, request_error = client_answer(result)
        content = self.encode_json(answer)
        content_type = GRAPHQL_RESPONSE_TYPE if headers.graphql_response else JSON_TYPE
        response_headers = [
            (b"content-length", b"%d" % len(content)),
            (b"content-type", content_type),
        ]
        if headers.is_get:
            response_headers += GET_ANSWER_HEADERS
        await send(
            {
                "type": "http.response.start",
                "status": 400 if request_error and headers.graphql_response else 200,
                "headers": response_headers,
            }
        )
        await send({"type": "http.response.body", "body": content})
        return True

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        """GraphiQL from the gateway's own files (gateway/graphiql.py), never a CDN."""
        return graphiql.page_response(
            self.runtime.graphiql_assets, needs_credentials=not self.runtime.settings.anonymous
        )

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """The request, with the text of a persisted document it names filled in."""
        data = await super().parse_http_body(request)
        if isinstance(data, GraphQLRequestData):
            if data.query is None:
                document_id = await _document_id(request)
                if document_id is not None:
                    data.extensions = {**(data.extensions or {}), "documentId": document_id}
            await self.documents.resolve(data)
        return data

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = GraphQLAnswer()
        sub_response.graphql_response = accepts_graphql_response(request.headers.get("accept"))
        sub_response.is_get = request.scope.get("method") == "GET"
        request.state.answer = sub_response
        return sub_response

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """Every error with its code; a request error (nothing ran) has no `data` entry."""
        answer, request_error = client_answer(result)
        if request_error:
            request.state.answer.request_error = True
        return answer

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        if isinstance(sub_response, GraphQLAnswer):
            sub_response.shape(response)
        return response

    def encode_json(self, data: object) -> bytes:
        """orjson: the same bytes as compact `json.dumps(..., ensure_ascii=False)` (Chinese as
        UTF-8, not \\u escapes; tests/test_encoding.py holds them equal), in a fraction of
        the time (bench/RESULTS.md)."""
        return orjson.dumps(data)


def create_app(settings: Settings, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The gateway, with `extra_routes` served beside it."""
    runtime = Runtime(settings, state_from_url(settings.redis_url))
    shared = SharedUpstream.for_state(runtime.state)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tune_garbage_collection()
        for tenant in settings.tenants:
            runtime.tenants[tenant.name] = TenantRuntime(
                tenant, build_adapters(tenant.vendors, tenant.name, shared), tenant.scope()
            )
        runtime.readiness = Readiness(
            [
                ReadyTarget(name, provider, adapter, tenant_runtime.scope)
                for name, tenant_runtime in runtime.tenants.items()
                for provider, adapter in tenant_runtime.adapters.items()
            ],
            settings.ready_interval_s,
        )
        runtime.readiness.start()
        for name, tenant_runtime in runtime.tenants.items():
            names = ", ".join(p.value for p in tenant_runtime.adapters) or "none"
            log.info(
                "tenant %s: providers %s%s", name, names, " (sandbox)" if settings.sandbox else ""
            )
        try:
            yield
        finally:
            await runtime.readiness.stop()
            for tenant_runtime in runtime.tenants.values():
                for adapter in tenant_runtime.adapters.values():
                    await adapter.aclose()
            await runtime.state.aclose()

    async def healthz(request: Request) -> Response:
        providers = sorted({p.value for t in runtime.tenants.values() for p in t.adapters})
        return JSONResponse(
            {
                "status": "ok",
                "sandbox": settings.sandbox,
                "tenants": len(runtime.tenants),
                "providers": providers,
            }
        )

    async def readyz(request: Request) -> Response:
        """Ready when every vendor's last background check passed (and Redis, when
        configured, answers); each vendor's check and breaker are shown. No vendor call."""
        breakers = {
            f"{name}/{provider.value}": await adapter.breaker_status()
            for name, tenant_runtime in runtime.tenants.items()
            for provider, adapter in tenant_runtime.adapters.items()
        }
        ready, vendors = runtime.readiness.report(breakers)
        body: dict[str, object] = {"vendors": vendors}
        if isinstance(runtime.state, RedisState):
            try:
                await runtime.state.ping()
                body["redis"] = "up"
            except Exception:  # any failure to reach it means not ready
                log.warning("readyz: the shared state (Redis) does not answer")
                body["redis"] = "down"
                ready = False
        body = {"status": "ready" if ready else "not ready", **body}
        return JSONResponse(body, status_code=200 if ready else 503)

    authenticator = Authenticator(settings.tenants)
    limiter = RateLimiter(settings.rate_limit, shared.rate_storage)

    def guarded(endpoint: GatewayGraphQL) -> ConcurrencyLimit:
        """The HTTP defences, the caller gate and idempotency in front of a GraphQL face."""
        return ConcurrencyLimit(
            CallerGate(
                JsonObjectGuard(
                    BodyLimit(
                        IdempotentWrites(
                            MultipartCsrfGuard(endpoint),
                            runtime.state,
                            ttl_s=settings.idempotency_ttl_s,
                            running_s=settings.request_deadline_s + 5.0,
                        ),
                        limit=MAX_QUERY_BYTES,
                        # room for the multipart framing and the fields beside the file
                        multipart_limit=settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES,
                    )
                ),
                authenticator,
                limiter,
                anonymous=settings.anonymous,
                page_tenant=settings.tenants[0].name,
            ),
            limit=settings.max_concurrent_requests,
        )

    async def metrics(request: Request) -> Response:
        """Prometheus metrics (every worker's, with several)."""
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    async def graphiql_asset(request: Request) -> Response:
        return graphiql.asset_response(runtime.graphiql_assets, request)

    routes: list[BaseRoute] = [
        Route(graphiql.ASSETS_PATH + "/{path:path}", graphiql_asset),
        Route("/healthz", healthz),
        Route("/metrics", metrics),
        Route("/readyz", readyz),
        # every method reaches GraphQL, which refuses all but GET and POST in GraphQL JSON
        Route("/graphql", guarded(GatewayGraphQL(runtime))),
        # the federation subgraph, for the supergraph router (introspection always on here:
        # the router reads `_service { sdl }`; callers still need credentials)
        Route("/subgraph", guarded(GatewayGraphQL(runtime, subgraph=True))),
    ]
    routes.extend(extra_routes)
    # large answers (pages of seals) compressed for clients that accept it
    middleware = [Middleware(GZipMiddleware, minimum_size=2048)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=[
                    "content-type",
                    "authorization",
                    "x-api-key",
                    "x-request-id",
                    "apollo-require-preflight",
                    "x-apollo-operation-name",
                ],
                expose_headers=["x-request-id", "retry-after"],
                max_age=600,
            )
        )
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.runtime = runtime
    return app


def tune_garbage_collection() -> None:
    """A request makes many short-lived objects (a page of seals: thousands) and few cycles.
    The start-up heap is frozen out of every collection, and the youngest generation is
    collected after 10,000 allocations instead of 700. Not more: at 50,000 the middle
    generation's collections took ~20 ms and showed in the p99 (bench/RESULTS.md).
    Once per process: a second app in the same process (tests) must not freeze its garbage."""
    if gc.get_freeze_count():
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


def app_from_environment() -> Starlette:
    """The app a worker process builds for itself (`seal-gateway serve --workers N`): settings
    from the environment, as the parent read them, and the same logging and tracing."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    configure_tracing(settings.otlp_endpoint)
    return create_app(settings)


def configure_tracing(endpoint: str | None) -> None:
    """OpenTelemetry traces to an OTLP/HTTP collector: a span per operation (strawberry's
    extension) and one per vendor call beneath it. Nothing without an endpoint."""
    if endpoint is None:
        return
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": "seal-gateway"}))
    provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"))
    )
    trace.set_tracer_provider(provider)
