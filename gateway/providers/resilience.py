"""How the gateway behaves towards a vendor that is slow, failing or busy, and towards a request
that asks too much: every vendor call of both clients goes through `Upstream.call`.

- a per-request `RequestBudget`: at most so many vendor calls, and one deadline that bounds
  everything a call waits for (the rate limit, the connection pool, the token, the answer);
- reads retried on connection failures, 5xx and 429 with jittered exponential backoff
  (stamina) inside the deadline; writes sent once;
- a circuit breaker per tenant and vendor: after repeated failures the vendor is not called
  for a cool-down, then one probe decides;
- a client-side rate limit per vendor app (a moving window in the shared state, a tenth of a
  second longer than the vendor's), queueing briefly;
- identical reads in flight at the same moment share one call.

Breaker and rate-limit state live in a `SharedState`: this process's memory, or Redis shared
by every process."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from contextlib import AbstractContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import stamina
from limits.aio.storage import Storage
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from prometheus_client import Counter, Histogram

from gateway.domain import ErrorCode, ProviderName, UpstreamError
from gateway.ops.metrics import VENDOR_CALLS, VENDOR_SECONDS
from gateway.settings import DEFAULTS
from gateway.shared import LocalState, RedisState, SharedState
from gateway.shared.counters import LocalCounters

log = logging.getLogger("gateway.upstream")
# A no-op unless an OpenTelemetry SDK is configured (SEALGW_OTLP_ENDPOINT).
TRACER = trace.get_tracer("seal-gateway")
T = TypeVar("T")


class RequestBudget:
    """What the request being served may still spend at the vendors: calls (the last line of
    defence behind the cost limit) and time (one deadline for all its calls)."""

    def __init__(self, calls: int, deadline_s: float | None = None) -> None:
        self.calls = calls
        self.deadline_s = deadline_s
        self.remaining = calls
        self.spent = 0
        loop_time = asyncio.get_running_loop().time() if deadline_s is not None else 0.0
        self.deadline: float | None = None if deadline_s is None else loop_time + deadline_s

    def spend(self, provider: ProviderName | None) -> None:
        """Count one vendor call; past the budget, fail it before it is sent."""
        if self.remaining <= 0:
            raise UpstreamError(
                provider or ProviderName.ESIGN,
                "This request has used up its vendor-call budget; ask for less at once.",
                code=ErrorCode.VENDOR_CALL_BUDGET_EXCEEDED,
                write_may_have_happened=False,
            )
        self.remaining -= 1
        self.spent += 1

    def renewed(self) -> RequestBudget:
        """The same budget afresh, for the next event of a subscription (each event is
        answered like a request of its own)."""
        return RequestBudget(self.calls, self.deadline_s)


# The budget of the request being served; set by the app for each request.
REQUEST_BUDGET: ContextVar[RequestBudget | None] = ContextVar("sealgw_budget", default=None)


def current_deadline() -> float | None:
    budget = REQUEST_BUDGET.get()
    return None if budget is None else budget.deadline


@dataclass(frozen=True, slots=True)
class ResilienceSettings:
    """How hard the gateway tries, and how soon it stops trying, with one vendor."""

    # Attempts per read, the first included (1: no retries). Writes are sent once.
    read_attempts: int = DEFAULTS.upstream_read_attempts
    retry_wait_initial_s: float = 0.1
    retry_wait_max_s: float = 1.0
    # Failures within `breaker_window_s` that open the breaker, and how long it stays open.
    breaker_failures: int = DEFAULTS.breaker_failures
    breaker_window_s: float = 30.0
    breaker_cooldown_s: float = DEFAULTS.breaker_cooldown_s
    # Calls per second to the vendor app (None: no client-side limit) and how long a call may
    # wait for its turn before failing with VENDOR_RATE_LIMITED.
    rate_per_second: int | None = None
    rate_queue_s: float = DEFAULTS.vendor_rate_queue_s


@dataclass
class SharedUpstream:
    """What every vendor client of one process shares: the state store (breakers, tokens, the
    vendor apps' windows: two tenants on one vendor app share its limit), and the storage of
    callers' rate limits (the `limits` library) over the same Redis."""

    state: SharedState
    rate_storage: Storage

    @classmethod
    def local(cls) -> SharedUpstream:
        return cls(LocalState(), LocalCounters())

    @classmethod
    def for_state(cls, state: SharedState) -> SharedUpstream:
        if isinstance(state, RedisState):
            storage = state.address.rate_storage(
                # fail fast while Redis is away, and drop sockets that died with it
                socket_timeout=1.0,
                socket_connect_timeout=1.0,
                health_check_interval=5,
            )
            return cls(state, storage)
        return cls(state, LocalCounters())


# How long a process trusts a closed breaker it read from Redis.
CLOSED_TRUSTED_S = 0.25


class Breaker:
    """A circuit breaker over shared keys, so that every process sees one state:

    - closed: calls go through; failures are counted in a window;
    - open (`open` key, expiring after the cool-down): calls fail at once;
    - half-open (`tripped` still set, `open` expired): one probe call at a time (`probe` key);
      its success closes the breaker, its failure opens it again.

    With Redis, a process that found the breaker closed trusts that for CLOSED_TRUSTED_S
    before it reads the shared keys again (a read per vendor call was a round trip to Redis
    per request); its own first failure ends that trust, so it learns of another process's
    opening within that moment or at its next failure, whichever comes first."""

    def __init__(self, state: SharedState, name: str, settings: ResilienceSettings) -> None:
        self._state = state
        self._closed_until = 0.0
        self.name = name
        self._settings = settings
        prefix = f"breaker:{name}:"
        self._open, self._tripped = prefix + "open", prefix + "tripped"
        self._failures, self._probe = prefix + "failures", prefix + "probe"
        # Whether this process has counted a failure since the last success: a success then
        # clears the count (so only failures in a row add up), without a write per call.
        self._dirty = False

    async def status(self) -> str:
        is_open, tripped = await self._state.get_many(self._open, self._tripped)
        if is_open is not None:
            return "open"
        return "half-open" if tripped is not None else "closed"

    async def before(self) -> bool:
        """Raises `BreakerOpen` when the vendor is not to be called; True for a probe."""
        if self._closed_until and time.monotonic() < self._closed_until:
            return False
        is_open, tripped = await self._state.get_many(self._open, self._tripped)
        if is_open is not None:
            raise BreakerOpen(self.name)
        if tripped is None:
            if self._state.shared:
                self._closed_until = time.monotonic() + CLOSED_TRUSTED_S
            return False
        probe_ttl = self._settings.breaker_cooldown_s
        if not await self._state.set(self._probe, b"1", probe_ttl, only_if_absent=True):
            raise BreakerOpen(self.name)
        log.info("breaker %s half-open: probing", self.name)
        return True

    async def succeeded(self, probe: bool) -> None:
        if probe or self._dirty:
            self._dirty = False
            await self._state.delete(self._failures, self._tripped, self._probe)
            if probe:
                log.warning("breaker %s closed: the probe succeeded", self.name)

    async def failed(self, probe: bool) -> None:
        self._closed_until = 0.0  # from now on every call reads the shared state again
        settings = self._settings
        if probe:
            await self._open_now()
            await self._state.delete(self._probe)
            log.warning(
                "breaker %s open again: the probe failed; next probe in %.0f s",
                self.name,
                settings.breaker_cooldown_s,
            )
            return
        self._dirty = True
        count = await self._state.incr(self._failures, settings.breaker_window_s)
        if count == settings.breaker_failures:
            await self._open_now()
            await self._state.delete(self._failures)
            log.warning(
                "breaker %s open after %d failures; next probe in %.0f s",
                self.name,
                count,
                settings.breaker_cooldown_s,
            )

    async def release_probe(self) -> None:
        """The probe was not sent after all: let another call probe."""
        await self._state.delete(self._probe)

    async def _open_now(self) -> None:
        # `tripped` outlives `open` so that its expiry means half-open; a day bounds it.
        await self._state.set(self._tripped, b"1", 86_400)
        await self._state.set(self._open, b"1", self._settings.breaker_cooldown_s)


class BreakerOpen(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(name)


# The vendors count their limits per second as calls arrive; a call may arrive later than it
# left (a new connection, a busy event loop), so the gateway counts a window a tenth longer: a
# call that left just over a second after those filling the window could otherwise land in
# the vendor's second with them (5 calls within one second had reached e签宝 under a limit
# of 3).
VENDOR_WINDOW_S = 1.1


class VendorRateLimit:
    """At most `rate_per_second` calls to one vendor app, counted in a moving window in the
    shared state (every process and host, or this process alone without Redis); a call over
    it waits up to `rate_queue_s` (and never past the deadline), then fails."""

    def __init__(self, state: SharedState, key: str, settings: ResilienceSettings) -> None:
        self._rate = settings.rate_per_second
        self._state = state
        self._key = f"rate:{key}"
        self._queue_s = settings.rate_queue_s

    async def acquire(self, provider: ProviderName) -> None:
        if self._rate is None:
            return
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self._queue_s
        deadline = current_deadline()
        if deadline is not None:
            give_up = min(give_up, deadline)
        while (wait := await self._state.admit(self._key, self._rate, VENDOR_WINDOW_S)) > 0:
            if loop.time() + wait > give_up:
                log.warning("%s: the gateway's own rate limit is reached", provider.value)
                raise UpstreamError(
                    provider,
                    f"{provider.label} is being called at the most the vendor allows; "
                    "try again in a moment.",
                    code=ErrorCode.VENDOR_RATE_LIMITED,
                    retryable=True,
                    write_may_have_happened=False,
                )
            await asyncio.sleep(wait)


@functools.lru_cache(maxsize=512)
def _vendor_calls(vendor: str, endpoint: str, outcome: str) -> Counter:
    """The labelled counter, looked up once (endpoints and outcomes are a fixed few)."""
    return VENDOR_CALLS.labels(vendor, endpoint, outcome)


@functools.lru_cache(maxsize=128)
def _vendor_seconds(vendor: str, endpoint: str) -> Histogram:
    return VENDOR_SECONDS.labels(vendor, endpoint)


# Where no tracer provider is set (no SEALGW_OTLP_ENDPOINT), a vendor call's span is this one:
# OpenTelemetry's API would make a non-recording span carrying the current context (a
# caller's `traceparent`), which the vendor request's `traceparent` reads the same without it.
_UNTRACED = contextlib.nullcontext(trace.INVALID_SPAN)


def _vendor_span(vendor: str, endpoint: str, is_write: bool) -> AbstractContextManager[Span]:
    if isinstance(
        trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider
    ):
        return _UNTRACED
    return TRACER.start_as_current_span(
        f"{vendor} {endpoint}",
        kind=SpanKind.CLIENT,
        attributes={
            "sealgw.vendor": vendor,
            "sealgw.endpoint": endpoint,
            "sealgw.write": is_write,
        },
    )


def _worth_retrying(exc: Exception) -> bool:
    """Reads are tried again when the vendor could not be reached or was briefly unable to
    answer (connection failures, 5xx, 429, its own "try again" codes); not past a refusal."""
    return (
        isinstance(exc, UpstreamError)
        and exc.retryable
        and exc.code == ErrorCode.UPSTREAM_UNAVAILABLE
        and exc.vendor_code != "CIRCUIT_OPEN"
    )


def endpoint_key(tenant: str, vendor: str, base_url: str, app_id: str) -> str:
    """What a shared key of one vendor endpoint names: the tenant, the vendor, its address
    (hashed: a URL is long) and the app, so that nothing of one tenant, or of one vendor
    address, is ever read for another."""
    address = hashlib.sha256(base_url.encode()).hexdigest()[:16]
    return f"{tenant}:{vendor}:{address}:{app_id}"


class Upstream:
    """One tenant's calls to one vendor: the breaker, the vendor app's rate limit, retries,
    the deadline and read coalescing around each call."""

    def __init__(
        self,
        provider: ProviderName,
        tenant: str,
        app_id: str,
        settings: ResilienceSettings,
        shared: SharedUpstream | None = None,
        base_url: str = "",
    ) -> None:
        shared = shared or SharedUpstream.local()
        self.provider = provider
        self.settings = settings
        self.breaker = Breaker(
            shared.state, endpoint_key(tenant, provider.value, base_url, app_id), settings
        )
        # the vendor counts its limit per app at its address, whichever tenant calls
        address = hashlib.sha256(base_url.encode()).hexdigest()[:16]
        self.rate = VendorRateLimit(shared.state, f"{provider.value}:{address}:{app_id}", settings)
        # reads in flight: the shared call, and the deadline it ends by (None: none)
        self._in_flight: dict[Hashable, tuple[asyncio.Future[Any], float | None]] = {}

    async def call(
        self,
        send: Callable[[], Awaitable[T]],
        *,
        is_write: bool,
        endpoint: str,
        share_as: Hashable | None = None,
    ) -> T:
        """`send()`'s result, within the request's deadline. A read with `share_as` shares
        the call with identical reads in flight (same tenant: this object is the tenant's).
        `endpoint` names the call in metrics and traces (a path without ids)."""
        if is_write or share_as is None:
            return await self._observed(send, is_write=is_write, endpoint=endpoint)
        deadline = current_deadline()
        entry = self._in_flight.get(share_as)
        if entry is None:
            # The call runs as a task of its own (in the first request's context: its budget
            # and deadline), so that a caller that leaves does not cancel it for the others.
            task = asyncio.ensure_future(self._observed(send, is_write=False, endpoint=endpoint))
            entry = self._in_flight[share_as] = (task, deadline)
            task.add_done_callback(lambda done: self._forget(share_as, done))
        shared, its_deadline = entry
        if deadline is None or (its_deadline is not None and its_deadline <= deadline):
            # the call itself ends by this caller's deadline (`_guarded`): no timer of its own
            return await asyncio.shield(shared)
        try:
            async with asyncio.timeout_at(deadline):
                return await asyncio.shield(shared)
        except TimeoutError:
            raise self._deadline_passed(is_write=False, sent=True) from None

    def _forget(self, key: Hashable, done: asyncio.Future[Any]) -> None:
        entry = self._in_flight.get(key)
        if entry is not None and entry[0] is done:
            del self._in_flight[key]
        if not done.cancelled():
            done.exception()  # retrieved here: every waiter may have left

    async def _observed(
        self, send: Callable[[], Awaitable[T]], *, is_write: bool, endpoint: str
    ) -> T:
        """One span (where traces are exported) and one count per call (retries included),
        with its outcome."""
        vendor = self.provider.value
        started = time.perf_counter()
        outcome = "ok"
        with _vendor_span(vendor, endpoint, is_write) as span:
            try:
                return await self._guarded(send, is_write=is_write)
            except UpstreamError as error:
                outcome = error.code.value
                span.set_status(Status(StatusCode.ERROR, outcome))
                span.set_attribute("sealgw.outcome", outcome)
                raise
            finally:
                _vendor_calls(vendor, endpoint, outcome).inc()
                _vendor_seconds(vendor, endpoint).observe(time.perf_counter() - started)

    async def _guarded(self, send: Callable[[], Awaitable[T]], *, is_write: bool) -> T:
        settings = self.settings
        # Whether the last attempt reached the vendor, and whether it was the breaker's probe.
        sent = probe = False

        async def attempt() -> T:
            nonlocal sent, probe
            sent = False
            try:
                probe = await self.breaker.before()
            except BreakerOpen:
                raise self._breaker_open(is_write) from None
            try:
                await self.rate.acquire(self.provider)
            except UpstreamError:
                if probe:
                    await self.breaker.release_probe()
                raise
            sent = True
            try:
                result = await send()
            except UpstreamError as exc:
                if exc.code == ErrorCode.UPSTREAM_UNAVAILABLE:
                    await self.breaker.failed(probe)
                elif probe:
                    await self.breaker.succeeded(probe)  # the vendor answered: it is up
                raise
            await self.breaker.succeeded(probe)
            return result

        deadline = current_deadline()
        try:
            async with asyncio.timeout_at(deadline):
                if is_write or settings.read_attempts <= 1:
                    return await attempt()
                # The first try costs none of the retry machinery (a fifth of a call's own
                # CPU); after a failure worth retrying, stamina takes over as if it had made
                # that try itself: the same waits, attempts and counts follow.
                try:
                    return await attempt()
                except UpstreamError as error:
                    if not _worth_retrying(error):
                        raise
                    first_failure: UpstreamError | None = error
                left = None if deadline is None else deadline - asyncio.get_running_loop().time()
                async for retry in stamina.retry_context(
                    on=_worth_retrying,
                    attempts=settings.read_attempts,
                    timeout=left,
                    wait_initial=settings.retry_wait_initial_s,
                    wait_max=settings.retry_wait_max_s,
                    wait_jitter=settings.retry_wait_initial_s,
                ):
                    with retry:
                        if first_failure is not None:
                            failure, first_failure = first_failure, None
                            raise failure
                        return await attempt()
        except TimeoutError:
            if sent:  # a vendor that does not answer in time is failing
                await self.breaker.failed(probe)
            raise self._deadline_passed(is_write=is_write, sent=sent) from None
        raise AssertionError("unreachable: the retry loop returns or raises")

    def _deadline_passed(self, *, is_write: bool, sent: bool) -> UpstreamError:
        log.warning("%s: the request's deadline passed", self.provider.value)
        return UpstreamError(
            self.provider,
            f"{self.provider.label} did not answer within the request's deadline.",
            code=ErrorCode.UPSTREAM_TIMEOUT,
            retryable=True,
            write_may_have_happened=sent if is_write else None,
        )

    def _breaker_open(self, is_write: bool) -> UpstreamError:
        return UpstreamError(
            self.provider,
            f"{self.provider.label} has been failing; the gateway is not calling it for a "
            "short while. Try again shortly.",
            code=ErrorCode.UPSTREAM_UNAVAILABLE,
            vendor_code="CIRCUIT_OPEN",
            retryable=True,
            write_may_have_happened=False if is_write else None,
        )
