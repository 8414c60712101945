"""Upstream HTTP plumbing shared by the vendor clients: pooled clients, bearer-style token auth,
and the translation of transport failures into `UpstreamError`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import httpx
import msgspec
from aiohttp import ClientSession, ClientTimeout
from httpx._client import UseClientDefault
from httpx_aiohttp import AiohttpTransport
from httpx_aiohttp.transport import map_aiohttp_exceptions
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from yarl import URL

from gateway.domain import ErrorCode, ProviderName, UpstreamError
from gateway.ops.logs import redact
from gateway.ops.metrics import TOKEN_FETCHES
from gateway.providers.connections import ConnectionPool
from gateway.providers.resilience import REQUEST_BUDGET, ResilienceSettings
from gateway.settings import DEFAULTS
from gateway.shared import SharedState, wait_while_held

log = logging.getLogger("gateway.upstream")
TRACE_CONTEXT = TraceContextTextMapPropagator()
# httpx logs every request URL, and the e签宝 token URL carries the app secret.
redact("httpx")

# Passed as `auth=` for calls that must not carry the client's auth (the token fetch itself).
NO_AUTH = httpx.Auth()


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """How the gateway talks to one vendor."""

    timeout_s: float = DEFAULTS.upstream_timeout_s
    # Upper bound on simultaneous requests to the vendor; further requests wait in the pool.
    max_connections: int = DEFAULTS.upstream_max_connections
    resilience: ResilienceSettings = field(default_factory=ResilienceSettings)
    # Calls with a body in memory over the gateway's own connections (connections.py), not
    # aiohttp's client
    direct: bool = DEFAULTS.direct_vendor_http
    # Requests with a body in memory take the short way through httpx's client (VendorClient)
    lean_send: bool = DEFAULTS.lean_vendor_send


class UpstreamTransport(AiohttpTransport):
    """httpx's API over aiohttp's connection handling, which costs a vendor call about a third
    of the CPU httpcore does (bench/RESULTS.md), plus two things the plain adapter lacks:

    - a connection that could not be opened is tried once more: nothing was sent, so this is
      safe even for writes;
    - failures say honestly whether the request may have reached the vendor: only a failure
      to connect becomes `ConnectError`/`ConnectTimeout`; a connection lost later (which the
      adapter also reports as `ConnectTimeout`) becomes `RemoteProtocolError`.
    """

    def __init__(
        self, provider: ProviderName | None = None, *, direct: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.provider = provider
        self._targets: dict[str, URL] = {}
        self._timeouts: dict[tuple[float | None, float | None, float | None], ClientTimeout] = {}
        # the gateway's own connections, per vendor address (None: aiohttp's for every call)
        self._pools: dict[tuple[bytes, bytes, int | None], ConnectionPool] | None = (
            {} if direct else None
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        budget = REQUEST_BUDGET.get()
        if budget is not None:
            budget.spend(self.provider)
        # W3C trace context (`traceparent`, `tracestate`): the vendor call's span, or the
        # caller's when the gateway itself does not trace; nothing when neither is. Only the
        # trace context: a caller's `baggage` is theirs, and not the vendors' to read
        TRACE_CONTEXT.inject(request.headers)
        try:
            return await self._send_once(request)
        except (httpx.ConnectError, httpx.ConnectTimeout):
            return await self._send_once(request)

    async def _send_once(self, request: httpx.Request) -> httpx.Response:
        if self._pools is not None and isinstance(request.stream, httpx.ByteStream):
            return await self._direct(request)
        try:
            if isinstance(request.stream, httpx.ByteStream):
                return await self._exchange(request)
            return await super().handle_async_request(request)  # a streamed (multipart) body
        except httpx.TransportError as exc:
            cause = exc.__cause__
            if isinstance(cause, aiohttp.ClientConnectorError):
                raise httpx.ConnectError(str(exc), request=request) from cause
            if isinstance(cause, aiohttp.ConnectionTimeoutError):
                raise httpx.ConnectTimeout(str(exc), request=request) from cause
            if isinstance(cause, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
                raise httpx.ReadTimeout(str(exc), request=request) from cause
            if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
                raise httpx.RemoteProtocolError(str(exc), request=request) from cause
            raise

    async def _direct(self, request: httpx.Request) -> httpx.Response:
        """One request with a body in memory over the gateway's own connections: its head
        and body written at once, its answer read whole (gateway/providers/connections.py)."""
        assert self._pools is not None
        url = request.url
        key = (url.raw_scheme, url.raw_host, url.port)
        pool = self._pools.get(key)
        if pool is None:
            scheme = url.scheme
            pool = self._pools[key] = ConnectionPool(
                scheme,
                url.host,
                url.port or (443 if scheme == "https" else 80),
                max_connections=self.limits.max_connections or 100,
                keepalive_s=self.limits.keepalive_expiry or 0.0,
                ssl_context=self.ssl_context,
            )
        head = [request.method.encode(), b" ", url.raw_path, b" HTTP/1.1\r\n"]
        for name, value in request.headers.raw:
            head += (name, b": ", value, b"\r\n")
        head.append(b"\r\n")
        timeout = request.extensions.get("timeout", {})
        status, reason, headers, body = await pool.exchange(
            b"".join(head),
            request.content,
            timeout.get("connect"),
            timeout.get("read"),
            timeout.get("pool"),
        )
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if reason:
            extensions["reason_phrase"] = reason
        return httpx.Response(
            status_code=status,
            headers=headers,
            content=body,
            request=request,
            extensions=extensions,
        )

    async def aclose(self) -> None:
        for pool in (self._pools or {}).values():
            pool.close()
        await super().aclose()

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        """One request with a body already in memory, its answer read whole: what the adapter
        does, without streaming the answer through httpx chunk by chunk (vendor answers are
        small JSON documents), and with the URL and timeouts made once per distinct value.
        Exceptions are the adapter's, mapped by its own table."""
        if not isinstance(self.client, ClientSession):
            self.client = self.get_client()
        url = str(request.url)
        target = self._targets.get(url)
        if target is None:
            if len(self._targets) >= 256:
                self._targets.clear()
            target = self._targets[url] = URL(url, encoded=True)
        timeout = request.extensions.get("timeout", {})
        limits = (timeout.get("connect"), timeout.get("read"), timeout.get("pool"))
        client_timeout = self._timeouts.get(limits)
        if client_timeout is None:
            client_timeout = self._timeouts[limits] = ClientTimeout(
                sock_connect=limits[0], sock_read=limits[1], connect=limits[2]
            )
        with map_aiohttp_exceptions():
            async with self.client.request(
                request.method,
                target,
                headers=request.headers.multi_items(),
                data=request.content or None,
                allow_redirects=False,
                auto_decompress=False,
                compress=False,
                timeout=client_timeout,
            ) as response:
                body = await response.read()
        extensions: dict[str, Any] = {"http_version": b"HTTP/1.1"}
        if response.reason:
            extensions["reason_phrase"] = response.reason.encode()
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            content=body,
            request=request,
            extensions=extensions,
        )


class _NoCookies(httpx.Cookies):
    """A jar that keeps nothing."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class VendorClient(httpx.AsyncClient):
    """httpx's client as the vendor clients use it: without a cookie jar (both vendors
    authenticate by header and document no cookie, and reading every answer's cookies into a
    jar was a quarter of httpx's own time per call), and with each endpoint's absolute URL
    made once rather than joined to the base URL on every call (another quarter).

    With `lean` (SEALGW_LEAN_VENDOR_SEND), a request to an endpoint's URL, with a JSON or bytes
    body or none and with query parameters or none, goes the short way through what `send`
    does: the request built as httpx builds it (the parameters made the URL's query by the
    same httpx calls as `build_request`'s), the client's auth flow (`httpx.Auth`: tokens,
    signatures) driven step by step, the transport, the answer; without the redirect and
    event-hook machinery (the client follows no redirects and has no hooks) and the
    per-answer stream wrapper (which, with its answer, made a reference cycle per call).
    Anything else (uploads, a URL given as text) takes httpx's own path."""

    def __init__(self, *, lean: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._endpoints: dict[str, httpx.URL] = {}
        self._lean = lean

    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        """Cookies are not kept (see the class)."""

    def endpoint(self, path: str) -> httpx.URL:
        """The absolute URL of `path` under the base URL, joined as httpx joins them."""
        url = self._endpoints.get(path)
        if url is None:
            relative = httpx.URL(path)
            base = self.base_url
            url = self._endpoints[path] = (
                base.copy_with(raw_path=base.raw_path + relative.raw_path.lstrip(b"/"))
                if relative.is_relative_url
                else relative
            )
        return url

    async def request(self, method: str, url: httpx.URL | str, **options: Any) -> httpx.Response:
        if (
            self._lean
            and isinstance(url, httpx.URL)
            and (
                options.keys() <= _LEAN_OPTIONS
                or all(
                    value is None or isinstance(value, UseClientDefault)
                    for name, value in options.items()
                    if name not in _LEAN_OPTIONS
                )
            )
            and not self._event_hooks["request"]
            and not self._event_hooks["response"]
        ):
            params = self._merge_queryparams(options.get("params"))
            if params is not None:
                url = httpx.URL(url, params=params)  # as `build_request` and `Request` do
            return await self._lean_send(
                method,
                url,
                options.get("content"),
                options.get("json"),
                options.get("headers"),
                options.get("auth", httpx.USE_CLIENT_DEFAULT),
            )
        return await super().request(method, url, **options)

    async def _lean_send(
        self,
        method: str,
        url: httpx.URL,
        content: bytes | None,
        json: Any,
        headers: dict[str, str] | None,
        auth: httpx.Auth | UseClientDefault,
    ) -> httpx.Response:
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        request = self._built(method, url, content, json, headers)
        flow = self._build_request_auth(request, auth).async_auth_flow(request)
        transport = self._transport_for_url(url)
        try:
            request = await flow.__anext__()
            while True:
                try:
                    response = await transport.handle_async_request(request)
                except httpx.RequestError as exc:
                    exc.request = request  # as httpx's client tells it
                    raise
                response.request = request
                if _HTTPX_LOG.isEnabledFor(logging.INFO):
                    _HTTPX_LOG.info(
                        'HTTP Request: %s %s "%s %d %s"',
                        request.method,
                        request.url,
                        response.http_version,
                        response.status_code,
                        response.reason_phrase,
                    )
                try:
                    request = await flow.asend(response)
                except StopAsyncIteration:
                    await response.aread()
                    return response
                await response.aread()
        finally:
            await flow.aclose()

    def _built(
        self,
        method: str,
        url: httpx.URL,
        content: bytes | None,
        json: Any,
        headers: dict[str, str] | None,
    ) -> httpx.Request:
        """The request `httpx.Request(...)` builds from the client's and the call's headers and
        a JSON or bytes body, head and body byte for byte (tests/test_transport.py): the
        headers listed once in their final order (Host, the client's, the call's, the content
        headers) rather than merged, set by default and prepended in four passes, and the JSON
        encoded by one encoder made once with `json.dumps`'s arguments. A case it does not
        cover (no body or an empty one, the call's headers not a dict of text, one that
        replaces one of the client's or names what httpx fills in) is built by httpx itself."""
        extensions = {"timeout": self.timeout.as_dict()}
        raw = self._raw_headers(url, headers)
        if raw is not None:
            if content is None and json is not None:
                body = _JSON.encode(json).encode()
                raw += (
                    (b"Content-Length", str(len(body)).encode()),
                    (b"Content-Type", b"application/json"),
                )
            elif json is None and isinstance(content, bytes) and content:
                body = content
                raw.append((b"Content-Length", str(len(body)).encode()))
            else:
                raw = None
        if raw is None:
            return httpx.Request(
                method,
                url,
                content=content,
                json=json,
                headers=self._merge_headers(headers),
                extensions=extensions,
            )
        request = httpx.Request(
            method, url, headers=raw, stream=httpx.ByteStream(body), extensions=extensions
        )
        request.read()
        return request

    def _raw_headers(self, url: httpx.URL, headers: object) -> list[tuple[bytes, bytes]] | None:
        """Host, the client's headers and the call's, as `httpx.Request` would order them;
        None where the call's are not a dict of text (a list or `httpx.Headers` may repeat a
        name), where one would replace one of the client's (httpx moves it last), or where a
        header names what httpx fills in itself."""
        if headers is not None and type(headers) is not dict:
            return None
        client = self.headers.raw
        taken = {name.lower() for name, _ in client}
        if not taken.isdisjoint(_FILLED_IN) or not url.host:
            return None
        taken |= _FILLED_IN
        raw = [(b"Host", url.netloc), *client]
        for name, value in (headers or {}).items():
            if type(name) is not str or type(value) is not str:
                return None
            key = name.encode("ascii")  # as httpx encodes them: ASCII or an error
            if key.lower() in taken:
                return None
            raw.append((key, value.encode("ascii")))
        return raw


# The names `httpx.Request` fills in itself (VendorClient._built).
_FILLED_IN = frozenset({b"host", b"content-length", b"content-type", b"transfer-encoding"})
# `json.dumps` as httpx calls it, its encoder made once (VendorClient._built).
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)

# What a request may name to go the short way (VendorClient._lean_send).
_LEAN_OPTIONS = frozenset({"content", "json", "headers", "auth", "params"})
_HTTPX_LOG = logging.getLogger("httpx")

_NO_COOKIES = _NoCookies()


def make_client(
    base_url: str, settings: HttpSettings, provider: ProviderName | None = None
) -> VendorClient:
    """A pooled client: at most `max_connections` requests in flight to the vendor."""
    limits = httpx.Limits(
        max_connections=settings.max_connections,
        max_keepalive_connections=settings.max_connections,
        # below the common 5 s server idle timeout, so a reused connection is not one the
        # server is closing at that moment
        keepalive_expiry=4.0,
    )
    timeout = httpx.Timeout(settings.timeout_s, pool=max(settings.timeout_s * 3, 30.0))
    return VendorClient(
        lean=settings.lean_send,
        base_url=base_url,
        timeout=timeout,
        transport=UpstreamTransport(provider, direct=settings.direct, limits=limits),
        headers={"User-Agent": "seal-gateway"},
    )


@dataclass(frozen=True, slots=True)
class Token:
    """An access token and when it expires (epoch seconds)."""

    value: str
    expires_at: float


class TokenCache:
    """Holds one access token and fetches a new one only when needed.

    However many requests wait at the same moment, one fetch runs. A token is kept until
    `margin_s` before its expiry. `renew(rejected)` replaces a token the vendor refused, unless
    another request has already replaced it.

    With a shared `state` (Redis), every process uses the same token of a tenant's vendor
    endpoint and one process fetches it: e签宝 revokes an app's older tokens when it issues a
    new one, so processes fetching their own would keep invalidating each other's."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Token]],
        *,
        margin_s: float = 300.0,
        clock: Callable[[], float] = time.time,
        state: SharedState | None = None,
        vendor: str = "vendor",
        key: str = "",
    ) -> None:
        self._fetch = fetch
        self._margin_s = margin_s
        self._clock = clock
        self._token: Token | None = None
        self._lock = asyncio.Lock()
        self._state = state if state is not None and state.shared else None
        # one token per tenant and vendor endpoint (resilience.endpoint_key), whichever
        # process uses it: never one tenant's token for another, nor for another address
        self._vendor = vendor
        self._key = f"token:{key}"
        self.fetches = 0

    def _usable(self, token: Token | None) -> Token | None:
        if token is not None and self._clock() < token.expires_at - self._margin_s:
            return token
        return None

    async def get(self) -> str:
        token = self._usable(self._token)
        if token is not None:
            return token.value
        async with self._lock:
            token = self._usable(self._token) or await self._replace(rejected=None)
            return token.value

    async def renew(self, rejected: str) -> str:
        async with self._lock:
            if self._token is not None and self._token.value != rejected:
                return self._token.value
            return (await self._replace(rejected=rejected)).value

    async def _replace(self, rejected: str | None) -> Token:
        """A token other than `rejected`: from the shared store when another process has one,
        else fetched (by one process at a time)."""
        if self._state is None:
            self._token = await self._fetch_counted()
            return self._token
        state, lock = self._state, self._key + ":lock"
        holder = os.urandom(8).hex()  # this fetch's own mark: it releases its lock only
        for _ in range(2):
            shared = await self._shared_other_than(rejected)
            if shared is not None:
                return shared
            if await state.set(lock, holder.encode(), 30.0, only_if_absent=True):
                try:
                    # another process may have stored its new token between the read above
                    # and this lock: use it rather than fetch one that would revoke it
                    shared = await self._shared_other_than(rejected)
                    if shared is not None:
                        return shared
                    token = await self._fetch_counted()
                    ttl = max(1.0, token.expires_at - self._clock())
                    await state.set(self._key, msgspec.json.encode(token), ttl)
                finally:
                    await state.release(lock, holder.encode())
                self._token = token
                return token
            # another process is fetching: wait for its token (bounded by the deadline)
            await wait_while_held(state, lock, timeout_s=30.0)
        self._token = await self._fetch_counted()
        return self._token

    async def _shared_other_than(self, rejected: str | None) -> Token | None:
        """The shared store's token, when usable and not the one the vendor refused (then it
        is this cache's too)."""
        assert self._state is not None
        shared = self._usable(self._decode(await self._state.get(self._key)))
        if shared is None or shared.value == rejected:
            return None
        self._token = shared
        return shared

    async def _fetch_counted(self) -> Token:
        self.fetches += 1
        TOKEN_FETCHES.labels(self._vendor).inc()
        return await self._fetch()

    @staticmethod
    def _decode(raw: bytes | None) -> Token | None:
        if raw is None:
            return None
        try:
            return msgspec.json.decode(raw, type=Token)
        except msgspec.DecodeError:
            return None


class TokenAuth(httpx.Auth):
    """Puts the cached token on each request; when the vendor answers that the token is invalid,
    fetches a new one once and sends the request once more."""

    requires_response_body = True

    def __init__(
        self,
        cache: TokenCache,
        apply: Callable[[httpx.Request, str], None],
        is_rejected: Callable[[httpx.Response], bool],
    ) -> None:
        self._cache = cache
        self._apply = apply
        self._is_rejected = is_rejected

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self._cache.get()
        self._apply(request, token)
        response = yield request
        await response.aread()
        if self._is_rejected(response):
            log.info("token refused by %s; fetching a new one", request.url.host)
            token = await self._cache.renew(token)
            self._apply(request, token)
            yield request

    def sync_auth_flow(self, request: httpx.Request):  # type: ignore[no-untyped-def]
        raise RuntimeError("TokenAuth works with httpx.AsyncClient only")


def transport_failure(
    provider: ProviderName, exc: httpx.HTTPError, *, is_write: bool
) -> UpstreamError:
    """A vendor we could not get an answer from. Says whether a write may have gone through."""
    not_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
    what = "timed out" if isinstance(exc, httpx.TimeoutException) else "could not be reached"
    log.warning("%s %s: %s", provider.value, what, type(exc).__name__)
    return UpstreamError(
        provider,
        f"{provider.value} {what}.",
        code=ErrorCode.UPSTREAM_UNAVAILABLE,
        retryable=True,
        write_may_have_happened=not not_sent if is_write else None,
    )


def http_status_failure(
    provider: ProviderName, response: httpx.Response, *, is_write: bool
) -> UpstreamError:
    """A vendor answer that is not a business response (5xx, 429, an unexpected page)."""
    status = response.status_code
    unavailable = status >= 500 or status == 429
    log.warning("%s answered HTTP %s on %s", provider.value, status, response.request.url.path)
    return UpstreamError(
        provider,
        f"{provider.value} answered HTTP {status}.",
        code=ErrorCode.UPSTREAM_UNAVAILABLE if unavailable else ErrorCode.UPSTREAM_ERROR,
        vendor_code=f"HTTP_{status}",
        retryable=unavailable,
        write_may_have_happened=status >= 500 if is_write else None,
    )


@dataclass(frozen=True, slots=True)
class VendorCodes:
    """How one vendor's business answers read: which codes mean success, and which failures
    are "not found", a credentials problem, or worth trying again. Codes compare as text."""

    success: frozenset[str]
    message_key: str
    not_found: frozenset[str] = frozenset()
    auth_failed: frozenset[str] = frozenset()
    retryable: frozenset[str] = frozenset()


def decode(
    provider: ProviderName, response: httpx.Response, codes: VendorCodes, *, is_write: bool
) -> dict[str, Any]:
    """The whole body of a successful business answer, else the matching UpstreamError.

    Shared by both vendors: both wrap every answer in `{code, message|msg, data}`; only their
    code tables differ. A refused business call never happened, so `write_may_have_happened`
    is false for it."""
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        body = None
    status = response.status_code
    if not isinstance(body, dict) or status >= 500 or status == 429:
        raise http_status_failure(provider, response, is_write=is_write)
    code = str(body.get("code"))
    if status < 400 and code in codes.success:
        return body
    message = str(body.get(codes.message_key) or f"{provider.label} reported an error.")
    if status in (401, 403):
        raise UpstreamError(
            provider,
            f"{provider.label} refused the gateway's credentials: {message}",
            code=ErrorCode.UPSTREAM_AUTH_FAILED,
            vendor_code=code if body.get("code") is not None else str(status),
        )
    if status >= 400:
        raise http_status_failure(provider, response, is_write=is_write)
    if code in codes.not_found:
        kind = ErrorCode.NOT_FOUND
    elif code in codes.auth_failed:
        kind = ErrorCode.UPSTREAM_AUTH_FAILED
    else:
        kind = ErrorCode.UPSTREAM_ERROR
    raise UpstreamError(
        provider,
        message,
        code=kind,
        vendor_code=code,
        retryable=code in codes.retryable,
        write_may_have_happened=False if is_write else None,
    )
