"""Assembly: the Starlette app with GraphQL at /graphql (GraphiQL in a browser), /healthz, CORS,
and whatever extra routes the caller mounts beside them (the demo mounts the sandbox)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import DEFAULT_EXCLUDED_CONTENT_TYPES, GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.access.admission import Admission, AdmissionLimits
from gateway.access.callers import Authenticator, RateLimiter
from gateway.access.tenants import Tenant, VendorSettings
from gateway.config import ConfigError, Settings, load_settings
from gateway.domain import Caller, OrgScope, ProviderName
from gateway.events.detector import NOTIFIES, ChangeDetector, Detectors
from gateway.events.hub import EventHub
from gateway.events.log import SqliteEventLog, open_event_log
from gateway.execution.cost import CostModel
from gateway.execution.documents import (
    SWITCH_INTERVAL_S,
    DocumentLimits,
    Documents,
    validation_rules,
)
from gateway.execution.pipeline import Pipeline
from gateway.execution.plan import plan_or_none
from gateway.http import graphiql
from gateway.http.endpoint import CallerGate, GraphQLEndpoint, MakeContext
from gateway.http.idempotency import IdempotentWrites
from gateway.http.persisted import PersistedDocuments
from gateway.http.request import BodyLimits
from gateway.http.subscriptions import GraphQLWebSocket, Pacing, serve_subscriptions
from gateway.http.webhooks import EsignWebhook
from gateway.ops.health import Readiness
from gateway.ops.health import Target as ReadyTarget
from gateway.ops.logs import configure_logging
from gateway.ops.metrics import CONTENT_TYPE_LATEST, exposition
from gateway.providers.base import SealProvider
from gateway.providers.esign.provider import EsignProvider
from gateway.providers.resilience import REQUEST_BUDGET, RequestBudget, SharedUpstream
from gateway.providers.yunyin.provider import YunyinProvider
from gateway.schema import GatewayContext, build_schema
from gateway.service import Limits, SealService
from gateway.service.cache import ReadCache
from gateway.shared import RedisState, SharedState, state_from_url

log = logging.getLogger("gateway")

# Room for the multipart framing and the fields beside an uploaded file.
MULTIPART_OVERHEAD_BYTES = 64 * 1024
# The longest one step of the app's stop is waited for (each takes milliseconds when well).
STOP_STEP_S = 3.0


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
    # every tenant's seal event log, and its delivery to subscribers
    events: EventHub
    tenants: dict[str, TenantRuntime] = field(default_factory=dict)
    # the change detectors of the vendors that send no notifications (云银签)
    detectors: Detectors = field(default_factory=Detectors)
    # vendor reads kept for a moment (off by default), ended by every seal event
    cache: ReadCache | None = None
    readiness: Readiness = field(default_factory=lambda: Readiness([], 0))

    @property
    def graphiql_assets(self) -> Path:
        configured = self.settings.graphiql_assets
        return Path(configured) if configured else graphiql.default_dir()

    def context(self, limits: Limits) -> MakeContext:
        """How each operation's context is made: a service per request (its loaders' caches
        must not outlive it) over the caller's tenant, with the request's vendor budget."""
        settings = self.settings

        def make(caller: Caller, show_cost: bool, reconcile: bool) -> GatewayContext:
            tenant = self.tenants[caller.tenant]
            REQUEST_BUDGET.set(
                RequestBudget(settings.vendor_call_budget, settings.request_deadline_s)
            )
            return GatewayContext(
                service=SealService(
                    tenant.adapters,
                    tenant.scope_for(caller),
                    limits,
                    caller,
                    # a retry of a write whose outcome was unknown (gateway/http/idempotency.py)
                    reconcile=reconcile,
                    events=self.events,
                    cache=self.cache,
                ),
                sandbox=settings.sandbox,
                show_cost=show_cost,
                page_failures_as_errors=settings.page_failures == "errors",
            )

        return make


def face(settings: Settings, *, subgraph: bool) -> Pipeline:
    """The execution pipeline of one face: the product's schema (with GraphiQL) or the
    federation subgraph's, with the limits the settings give."""
    schema = build_schema(subgraph=subgraph, lean=settings.lean_resolvers)
    core = schema._schema
    introspection = settings.introspection or subgraph
    rules = validation_rules(
        max_depth=settings.max_depth,
        max_aliases=settings.max_aliases,
        introspection=introspection,
    )
    limits = DocumentLimits(settings.max_tokens, settings.max_selections, settings.max_repeats)
    tracing = settings.otlp_endpoint is not None
    compiler = None
    if settings.query_plans:
        compiler = functools.partial(plan_or_none, core)
    return Pipeline(
        core,
        Documents(core, rules, limits, compiler),
        CostModel(core, settings.default_page_size, settings.max_page_size),
        settings.max_query_cost,
        tracing=tracing,
    )


def create_app(settings: Settings, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """The gateway, with `extra_routes` served beside it."""
    event_log = open_event_log(
        settings.redis_url, settings.data_dir, settings.event_retention_days * 86_400
    )
    runtime = Runtime(settings, state_from_url(settings.redis_url), EventHub(event_log))
    if settings.read_cache_s > 0:
        runtime.cache = ReadCache(runtime.state, settings.read_cache_s)
        runtime.events.on_recorded.append(runtime.cache.invalidate)
    shared = SharedUpstream.for_state(runtime.state)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        tune_garbage_collection()
        serve_subscriptions(asyncio.get_running_loop())
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        if isinstance(event_log, SqliteEventLog):
            event_log.open()
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
        if settings.change_poll_s > 0:
            runtime.detectors.start(
                [
                    ChangeDetector(
                        name,
                        adapter,
                        tenant_runtime.scope,
                        runtime.events,
                        runtime.state,
                        settings.change_poll_s,
                    )
                    for name, tenant_runtime in runtime.tenants.items()
                    for provider, adapter in tenant_runtime.adapters.items()
                    if provider not in NOTIFIES
                ]
            )
        for name, tenant_runtime in runtime.tenants.items():
            names = ", ".join(p.value for p in tenant_runtime.adapters) or "none"
            log.info(
                "tenant %s: providers %s%s", name, names, " (sandbox)" if settings.sandbox else ""
            )
        try:
            yield
        finally:

            async def close_vendor_clients() -> None:
                for tenant_runtime in runtime.tenants.values():
                    for adapter in tenant_runtime.adapters.values():
                        await adapter.aclose()

            await stop_step("the readiness checks", runtime.readiness.stop)
            await stop_step("the change detectors", runtime.detectors.stop)
            await stop_step("the event hub", runtime.events.aclose)
            await stop_step("the vendor clients", close_vendor_clients)
            await stop_step("the shared state", runtime.state.aclose)
            if settings.otlp_endpoint is not None:
                flush_traces()

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
        """Ready while at least one vendor's last background check passed (503 only when
        none did), the others listed as `degraded`; each vendor's check and breaker are
        shown, and Redis's state where it is configured. No vendor call."""
        breakers = {
            f"{name}/{provider.value}": await adapter.breaker_status()
            for name, tenant_runtime in runtime.tenants.items()
            for provider, adapter in tenant_runtime.adapters.items()
        }
        ready, degraded, vendors = runtime.readiness.report(breakers)
        body: dict[str, object] = {"degraded": degraded, "vendors": vendors}
        if isinstance(runtime.state, RedisState):
            # Redis coordinates, it does not serve: without it every process serves on its
            # own state, so this pod stays ready and says so
            if await runtime.state.ping():
                body["redis"] = "up"
            else:
                body["redis"] = "unreachable: this process uses its own state"
        status = "not ready" if not ready else ("degraded" if degraded else "ready")
        body = {"status": status, **body}
        return JSONResponse(body, status_code=200 if ready else 503)

    gate = CallerGate(
        Authenticator(settings.tenants),
        RateLimiter(settings.rate_limit, shared.rate_storage, leases=settings.rate_limit_leases),
        Admission(
            AdmissionLimits(
                settings.max_concurrent_requests,
                settings.max_concurrent_per_tenant,
                settings.max_concurrent_per_caller,
            )
        ),
        anonymous=settings.anonymous,
        subscriptions=Admission(
            AdmissionLimits(
                settings.max_subscriptions,
                settings.max_subscriptions,
                settings.max_subscriptions_per_caller,
            )
        ),
        pacing=Pacing(
            settings.subscription_heartbeat_s,
            settings.subscription_idle_s,
            settings.subscription_lifetime_s,
        ),
    )
    documents = PersistedDocuments(
        runtime.state,
        dict(settings.documents),
        only_trusted=settings.trusted_documents_only,
        automatic=settings.automatic_persisted_queries,
    )
    writes = IdempotentWrites(
        runtime.state,
        ttl_s=settings.idempotency_ttl_s,
        running_s=settings.request_deadline_s + 5.0,
    )
    body_limits = BodyLimits(
        max_bytes=settings.max_body_bytes,
        max_multipart_bytes=settings.max_upload_bytes + MULTIPART_OVERHEAD_BYTES,
        max_json_depth=settings.max_json_depth,
    )
    make_context = runtime.context(
        Limits(
            default_page_size=settings.default_page_size,
            max_page_size=settings.max_page_size,
            max_upload_bytes=settings.max_upload_bytes,
        )
    )

    async def graphiql_page(scope: Scope, receive: Receive, send: Send) -> None:
        """GraphiQL from the gateway's own files (gateway/http/graphiql.py), never a CDN."""
        page = graphiql.page_response(
            runtime.graphiql_assets,
            needs_credentials=not settings.anonymous,
            persist_headers=settings.graphiql_persist_headers,
        )
        await page(scope, receive, send)

    # each face's one pipeline, whichever transport brings its operations
    pipelines = {subgraph: face(settings, subgraph=subgraph) for subgraph in (False, True)}

    def endpoint(*, subgraph: bool) -> GraphQLEndpoint:
        return GraphQLEndpoint(
            pipelines[subgraph],
            gate,
            documents,
            writes,
            body_limits,
            make_context,
            None if subgraph else graphiql_page,
        )

    def websocket(*, subgraph: bool) -> GraphQLWebSocket:
        return GraphQLWebSocket(
            pipelines[subgraph],
            gate.authenticator.caller,
            gate.limiter.retry_after,
            settings.anonymous,
            documents,
            make_context,
            gate.subscriptions,
            gate.pacing,
        )

    webhook = EsignWebhook(
        lambda: {n: t.tenant for n, t in runtime.tenants.items()}, runtime.events
    )

    async def metrics(request: Request) -> Response:
        """Prometheus metrics (every worker's, with several)."""
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)

    async def graphiql_asset(request: Request) -> Response:
        return graphiql.asset_response(runtime.graphiql_assets, request)

    routes: list[BaseRoute] = [
        Route(graphiql.ASSETS_PATH + "/{path:path}", graphiql_asset),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        # every method reaches GraphQL, which refuses all but GET and POST in GraphQL JSON
        Route("/graphql", graphql := endpoint(subgraph=False)),
        # the federation subgraph, for the supergraph router (introspection always on here:
        # the router reads `_service { sdl }`; callers still need credentials)
        Route("/subgraph", subgraph := endpoint(subgraph=True)),
        # subscriptions (and any operation) over graphql-transport-ws, on the same paths
        WebSocketRoute("/graphql", websocket(subgraph=False)),
        WebSocketRoute("/subgraph", websocket(subgraph=True)),
        # e签宝's notifications: the default tenant's address, and each other tenant's
        Route("/webhooks/esign", webhook.receive, methods=["POST"]),
        Route("/webhooks/esign/{tenant}", webhook.receive, methods=["POST"]),
    ]
    if settings.metrics_port is None:
        routes.append(Route("/metrics", metrics))
    routes.extend(extra_routes)
    # large answers (pages of seals) compressed for clients that accept it
    middleware = [Middleware(GZipMiddleware, minimum_size=2048)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                # what browser apps send (credentials, Idempotency-Key, W3C trace context,
                # X-Query-Cost) and may read back (Idempotent-Replayed, X-Request-Id,
                # Retry-After): gateway/settings.py holds the lists
                allow_headers=list(settings.cors_allow_headers),
                expose_headers=list(settings.cors_expose_headers),
                max_age=600,
            )
        )
    app = GatewayApp(routes=routes, middleware=middleware, lifespan=lifespan)
    if settings.direct_graphql_dispatch:
        app.dispatch_directly({"/graphql": graphql, "/subgraph": subgraph}, middleware)
    app.state.runtime = runtime
    return app


class GatewayApp(Starlette):
    """Starlette's app, with GraphQL's HTTP paths (`SEALGW_DIRECT_GRAPHQL_DISPATCH`) reached
    straight from the server: through the same middleware (compression, CORS) but not the
    router's match over every route nor Starlette's two outer error layers, which the endpoint
    makes redundant (it answers every failure itself, in GraphQL JSON). About 25 µs of a
    one-seal request's CPU under load, with `Compression` (bench/RESULTS.md). Everything else
    (other paths, a path behind a root path, WebSockets, lifespan) goes through Starlette as
    before."""

    direct: dict[str, ASGIApp] | None = None

    def dispatch_directly(
        self, endpoints: dict[str, ASGIApp], middleware: Sequence[Middleware]
    ) -> None:
        direct: dict[str, ASGIApp] = {}
        for path, endpoint in endpoints.items():
            wrapped = endpoint
            for cls, args, kwargs in reversed(middleware):  # the first listed is outermost
                if cls is GZipMiddleware:
                    wrapped = Compression(wrapped, **kwargs)
                else:
                    wrapped = cls(wrapped, *args, **kwargs)
            direct[path] = wrapped
        self.direct = direct

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.direct is not None and scope["type"] == "http" and not scope.get("root_path"):
            found = self.direct.get(scope["path"])
            if found is not None:
                scope["app"] = self
                await found(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


class Compression:
    """Starlette's GZip for a client that accepts gzip. For one that does not, what GZip's
    identity pass would do, without the pass, which parses every request's and answer's
    headers to add, to an answer it could have compressed (at least `minimum_size` bytes, of a
    type it compresses, not already encoded, not partial), `Vary: Accept-Encoding`. The same
    bytes either way (tests/test_speed_switches.py)."""

    def __init__(self, app: ASGIApp, minimum_size: int) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size)
        self.minimum_size = minimum_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        for name, value in scope["headers"]:
            if name == b"accept-encoding":  # the first one, as GZip reads it
                if b"gzip" in value:
                    await self.gzip(scope, receive, send)
                    return
                break
        held: Message | None = None

        async def identity(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and _compressible(message):
                held = message  # until the body's size is known
                return
            if held is not None:
                start, held = held, None
                if message["type"] == "http.response.body" and (
                    len(message.get("body", b"")) >= self.minimum_size
                    or message.get("more_body", False)
                ):
                    start["headers"] = _with_vary(start["headers"])
                await send(start)
            await send(message)

        await self.app(scope, receive, identity)


def _compressible(start: Message) -> bool:
    """Whether GZip would compress an answer that begins so, given the size."""
    if start["status"] == 206:
        return False
    for name, value in start.get("headers", ()):
        if name == b"content-encoding":
            return False
        if name == b"content-type":
            media = value.decode("latin-1").partition(";")[0].strip().lower()
            if not {media, media.partition("/")[0] + "/*"}.isdisjoint(
                DEFAULT_EXCLUDED_CONTENT_TYPES
            ) or media.startswith("application/grpc+"):
                return False
    return True


def _with_vary(headers: Sequence[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """`headers` with Accept-Encoding added to the Vary header, where GZip puts it."""
    values = [value.decode("latin-1") for name, value in headers if name == b"vary"]
    vary = (b"vary", ", ".join([*values, "Accept-Encoding"]).encode("latin-1"))
    if not values:
        return [*headers, vary]
    first = next(i for i, (name, _) in enumerate(headers) if name == b"vary")
    return [
        vary if i == first else (name, value)
        for i, (name, value) in enumerate(headers)
        if name != b"vary" or i == first
    ]


async def stop_step(
    name: str, step: Callable[[], Awaitable[None]], within_s: float = STOP_STEP_S
) -> None:
    """One step of the app's stop, waited for `within_s` at most. A step that does not end
    (a task that does not answer its cancellation, a connection that does not close) is left
    behind with a log line naming it, rather than holding the process past its stop; it runs
    in a task of its own, so that even a step that swallows its cancellation does not hold
    up the steps after it (the event loop's last clean-up would still wait for that one).
    A step's error is raised as before."""
    task = asyncio.ensure_future(step())
    done, _ = await asyncio.wait({task}, timeout=within_s)
    if not done:
        task.cancel()
        log.warning("stopping: %s did not finish within %g s; not waited for", name, within_s)
        return
    task.result()


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
    try:
        settings = load_settings()
    except ConfigError as error:
        # a restart (SIGHUP) with a broken setting: one log line, in the format the parent
        # logs in, and this worker ends; uvicorn keeps the old one serving
        configure_logging("INFO", os.environ.get("SEALGW_LOG_FORMAT", "json").lower())
        log.error("configuration error, not reloaded: %s", error)
        raise SystemExit(3) from None
    configure_logging(settings.log_level, settings.log_format)
    configure_tracing(settings.otlp_endpoint)
    return create_app(settings)


def flush_traces() -> None:
    """Exports the spans still queued: uvicorn ends the process with the signal that stopped
    it, so exit handlers (the SDK's own flush among them) do not run."""
    from opentelemetry import trace

    provider = trace.get_tracer_provider()
    force_flush = getattr(provider, "force_flush", None)
    if force_flush is not None:
        force_flush(5_000)


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
