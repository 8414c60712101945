"""Who is calling, checked before any GraphQL work: API keys for services, JWT bearer tokens for
browser apps, a rate limit per caller, and a request id on every answer.

- API keys (`Authorization: Bearer sgk_...` or `X-Api-Key`) are known only by their SHA-256
  digests, compared in constant time.
- JWTs are verified with PyJWT against the issuer's shared secret (HS256) or its JWKS (RS256,
  ES256; a file or a URL, refreshed on an unknown `kid` at most once a minute). `exp`, `nbf`,
  `iss` and `aud` are checked with a small clock skew. An algorithm the issuer is not configured
  for (`none`, HS256 against a key issuer) is refused before any key is looked at. Claims are
  held to RFC 7519: `sub` a non-empty string (it names the caller and its rate-limit bucket),
  `exp`, `nbf` and `iat` numeric dates (not digits in a string, which PyJWT would take), and a
  token at most 8 KiB.
- Refusals answer 401 with `WWW-Authenticate` and a GraphQL JSON error `UNAUTHENTICATED` with a
  short phrase; the reason is logged, never echoed.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jwt
from limits import parse as parse_limit
from limits.aio.storage import Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter

from gateway.access.tenants import ApiKey, JwtIssuer, Tenant
from gateway.domain import Caller, Role
from gateway.shared import UNAVAILABLE
from gateway.shared.counters import LocalCounters

log = logging.getLogger("gateway.callers")

KEY_PREFIX = "sgk_"
LEEWAY_S = 30.0
JWKS_REFRESH_S = 60.0
MAX_TOKEN_BYTES = 8192
MAX_SUBJECT = 255
DATE_CLAIMS = ("exp", "nbf", "iat")


def new_key() -> tuple[str, str]:
    """A fresh API key and the digest line the tenants file keeps of it."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, "sha256:" + hashlib.sha256(key.encode()).hexdigest()


class Unauthenticated(Exception):
    """Credentials that do not identify a caller. `phrase` is for the client; `reason` for the
    log only."""

    def __init__(self, phrase: str, reason: str) -> None:
        super().__init__(reason)
        self.phrase = phrase
        self.reason = reason


def _invalid(reason: str) -> Unauthenticated:
    return Unauthenticated("Invalid credentials.", reason)


class KeySet:
    """An issuer's public keys (JWKS), from a file or a URL. Read once, then again only when a
    token names a key id it lacks, and then at most once a minute."""

    def __init__(
        self, file: str | None, url: str | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._file = file
        self._url = url
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        found = self._pick(kid)
        if found is not None:
            return found
        async with self._lock:
            found = self._pick(kid)
            due = self._loaded_at is None or self._clock() - self._loaded_at >= JWKS_REFRESH_S
            if found is None and due:
                self._keys = await self._load()
                self._loaded_at = self._clock()
                found = self._pick(kid)
        if found is None:
            raise _invalid(f"unknown key id {kid!r}")
        return found

    def _pick(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _load(self) -> dict[str, jwt.PyJWK]:
        try:
            if self._file is not None:
                text = await asyncio.to_thread(Path(self._file).read_text, encoding="utf-8")
                data = json.loads(text)
            else:
                async with httpx.AsyncClient(timeout=5.0) as client:
                    response = await client.get(str(self._url))
                    response.raise_for_status()
                    data = response.json()
            keys = jwt.PyJWKSet.from_dict(data).keys
        except (OSError, ValueError, httpx.HTTPError, jwt.PyJWTError) as error:
            log.warning("could not read the JWKS: %s", type(error).__name__)
            return self._keys
        return {str(k.key_id): k for k in keys if k.key_id is not None}


@dataclass(frozen=True, slots=True)
class _Issuer:
    tenant: Tenant
    config: JwtIssuer
    keys: KeySet | None


class Authenticator:
    """Turns a request's credentials into a Caller, or refuses them."""

    def __init__(self, tenants: Sequence[Tenant], clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._keys: list[tuple[Tenant, ApiKey]] = [
            (tenant, key) for tenant in tenants for key in tenant.api_keys
        ]
        self._issuers: dict[str, list[_Issuer]] = {}
        for tenant in tenants:
            for config in tenant.issuers:
                keys = (
                    None if config.secret is not None else KeySet(config.jwks_file, config.jwks_url)
                )
                self._issuers.setdefault(config.issuer, []).append(_Issuer(tenant, config, keys))

    async def caller(
        self, authorization: str | None, api_key: str | None, request_id: str
    ) -> Caller | None:
        """The caller the credentials name; None when the request carries none."""
        if api_key is not None:
            return self._by_key(api_key.strip(), request_id)
        if authorization is None:
            return None
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            raise Unauthenticated("Use an `Authorization: Bearer` token.", f"scheme {scheme!r}")
        if value.startswith(KEY_PREFIX):
            return self._by_key(value, request_id)
        return await self._by_token(value, request_id)

    def _by_key(self, key: str, request_id: str) -> Caller:
        digest = hashlib.sha256(key.encode()).digest()
        match: tuple[Tenant, ApiKey] | None = None
        for tenant, known in self._keys:  # every digest compared, in constant time each
            if hmac.compare_digest(digest, known.digest):
                match = (tenant, known)
        if match is None:
            raise _invalid("unknown API key")
        tenant, known = match
        if known.revoked:
            raise _invalid(f"revoked API key {known.name!r} of {tenant.name}")
        return Caller(tenant.name, known.role, f"key:{known.name}", request_id)

    async def _by_token(self, token: str, request_id: str) -> Caller:
        if len(token) > MAX_TOKEN_BYTES:
            raise _invalid(f"token of {len(token)} bytes")
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise _invalid(f"malformed token ({type(error).__name__})") from None
        algorithm = header.get("alg")
        candidates = self._issuers.get(str(unverified.get("iss")), [])
        if not candidates:
            raise _invalid("unknown issuer")
        allowed = [c for c in candidates if algorithm in c.config.algorithms]
        if not allowed:
            raise _invalid(f"algorithm {algorithm!r} not allowed for this issuer")
        issuer = self._pick_tenant(allowed, unverified)
        config = issuer.config
        key: Any = config.secret
        if issuer.keys is not None:
            key = (await issuer.keys.key(header.get("kid"))).key
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[str(algorithm)],
                audience=config.audience,
                issuer=config.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise _invalid("expired token") from None
        except jwt.ImmatureSignatureError:
            raise _invalid("token not yet valid") from None
        except jwt.InvalidAudienceError:
            raise _invalid("wrong audience") from None
        except jwt.InvalidIssuerError:
            raise _invalid("wrong issuer") from None
        except jwt.InvalidSignatureError:
            raise _invalid("bad signature") from None
        except jwt.PyJWTError as error:
            raise _invalid(f"token refused ({type(error).__name__})") from None
        _check_claims(claims)
        return Caller(
            issuer.tenant.name,
            _role(claims.get(config.role_claim)),
            f"jwt:{claims['sub']}",
            request_id,
            _operator(claims, config),
        )

    @staticmethod
    def _pick_tenant(allowed: list[_Issuer], claims: dict[str, Any]) -> _Issuer:
        for issuer in allowed:
            claim = issuer.config.tenant_claim
            if claim is None or claims.get(claim) == issuer.tenant.name:
                return issuer
        raise _invalid("the token names no tenant of this issuer")


def _check_claims(claims: dict[str, Any]) -> None:
    """RFC 7519's types, which PyJWT does not hold a token to: `sub` a string (here also
    non-empty and short: it names the caller), dates numbers (4.1.4, 4.1.5, 4.1.6)."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject.strip() or len(subject) > MAX_SUBJECT:
        raise _invalid("`sub` is not a non-empty string")
    for name in DATE_CLAIMS:
        value = claims.get(name)
        numeric = isinstance(value, int | float) and not isinstance(value, bool)
        if value is not None and not (numeric and math.isfinite(value)):
            raise _invalid(f"`{name}` is not a numeric date")


def _role(value: object) -> Role:
    """admin when the claim says so (a string or a list holding it); viewer otherwise."""
    values = value if isinstance(value, list) else [value]
    return Role.ADMIN if Role.ADMIN.value in values else Role.VIEWER


def _operator(claims: dict[str, Any], config: JwtIssuer) -> str | None:
    if config.operator_claim is None or claims.get(config.operator_claim) is None:
        return None
    value = str(claims[config.operator_claim])
    if not value.isascii() or not value.isdigit() or not 0 < int(value) < 2**63:
        raise _invalid("the operator claim is not a 云银签 user id")
    return value


class RateLimiter:
    """Requests per caller in a sliding window (the `limits` library): in this process
    (`LocalCounters`, gateway/shared/counters.py), or in Redis shared by every process when
    configured.

    The sliding window counter keeps two counters per caller, where a moving window keeps a
    timestamp per request of the last window and copies that list on every hit: at a limit
    of thousands a minute, that copying was a tenth of a one-seal query's CPU
    (bench/RESULTS.md). The counter weighs the previous window's count by how much of it still
    overlaps, which is exact for bursts and close for steady traffic.

    With Redis and `leases` (SEALGW_RATE_LIMIT_LEASES), a busy caller's requests are counted
    in Redis a few at a time (`Leases`) rather than one round trip each."""

    def __init__(self, rate: str, storage: Storage | None = None, *, leases: bool = False) -> None:
        self._item = parse_limit(rate)
        self._limiter = SlidingWindowCounterRateLimiter(storage or LocalCounters())
        # this process's own window, while the shared one (Redis) does not answer
        self._own = SlidingWindowCounterRateLimiter(LocalCounters())
        shared = storage is not None and not isinstance(storage, LocalCounters)
        self._leases = (
            Leases.for_limit(self._item.amount, self._item.get_expiry())
            if leases and shared
            else None
        )

    async def retry_after(self, caller: Caller) -> int | None:
        """None when the request may go on; else the seconds until it may."""
        leases = self._leases
        if leases is not None and leases.take((caller.tenant, caller.subject)):
            return None
        try:
            return await self._retry_after(self._limiter, caller, leases)
        except UNAVAILABLE:
            return await self._retry_after(self._own, caller, None)

    async def _retry_after(
        self, limiter: SlidingWindowCounterRateLimiter, caller: Caller, leases: Leases | None
    ) -> int | None:
        identity = ("caller", caller.tenant, caller.subject)
        if leases is not None:
            key = (caller.tenant, caller.subject)
            size = leases.size(key)
            if size > 1:
                if await limiter.hit(self._item, *identity, cost=size):
                    leases.counted(key, size)
                    return None
                leases.refused(key)  # near the limit: one at a time for a while
            if await limiter.hit(self._item, *identity):
                leases.counted(key, 1)
                return None
        elif await limiter.hit(self._item, *identity):
            return None
        stats = await limiter.get_window_stats(self._item, *identity)
        return max(1, math.ceil(stats.reset_time - time.time()))


@dataclass(slots=True)
class _Lease:
    left: int = 0  # requests this process may still admit without asking Redis
    until: float = 0.0  # ... until then
    size: int = 1  # how many the next lease asks for
    exact_until: float = 0.0  # one request at a time until then (the caller neared its limit)


class Leases:
    """A caller's admissions counted in Redis a few at a time: a process asks for `size` at
    once (one round trip: the window admits them all or none), admits that many of the
    caller's requests itself within `lease_s`, and forgets what is left after.

    What it promises: never more admissions than the limit in a window (every admission was
    counted before it was made); a caller may be refused early by at most the leases other
    processes hold and have not used, and an admission may be counted up to `lease_s` before
    it is made. A lease is at most a hundredth of the limit (no leases below a limit of 200),
    grows while the caller uses its leases up in time and shrinks when it does not, so a
    caller asking rarely asks Redis for one at a time, as before; refused a lease, a caller is
    counted one request at a time for `lease_s`, so near its limit the count is exact."""

    MAX_SIZE = 32
    MAX_CALLERS = 10_000

    def __init__(self, max_size: int, lease_s: float) -> None:
        self.max_size = max_size
        self.lease_s = lease_s
        self._leases: dict[tuple[str, str], _Lease] = {}

    @classmethod
    def for_limit(cls, amount: int, period_s: float) -> Leases | None:
        """Leases for a limit of `amount` per `period_s`; None where the limit is too small
        to share out."""
        max_size = min(cls.MAX_SIZE, amount // 100)
        if max_size < 2:
            return None
        return cls(max_size, min(0.5, period_s / 10))

    def take(self, key: tuple[str, str]) -> bool:
        """Whether a lease held for this caller admits this request."""
        lease = self._leases.get(key)
        if lease is None or lease.left == 0:
            return False
        if time.monotonic() >= lease.until:
            lease.left = 0
            lease.size = max(1, lease.size // 2)  # unused in time: too large for this caller
            return False
        lease.left -= 1
        return True

    def size(self, key: tuple[str, str]) -> int:
        """How many admissions to ask Redis for, this request's included."""
        lease = self._lease(key)
        now = time.monotonic()
        if now < lease.exact_until:
            return 1
        if now < lease.until:  # the last lease was used up in time: this caller is busy
            lease.size = min(self.max_size, lease.size * 2)
        return lease.size

    def counted(self, key: tuple[str, str], size: int) -> None:
        """Redis counted `size` admissions for this caller, this request's one of them."""
        lease = self._lease(key)
        lease.left = size - 1
        lease.until = time.monotonic() + self.lease_s

    def refused(self, key: tuple[str, str]) -> None:
        lease = self._lease(key)
        lease.left = 0
        lease.size = 1
        lease.exact_until = time.monotonic() + self.lease_s

    def _lease(self, key: tuple[str, str]) -> _Lease:
        """The caller's lease, made on first use (the table forgotten whole when it holds
        too many callers: they start again from one request at a time). Looked up afresh
        after each round trip, since the table may have been forgotten meanwhile."""
        lease = self._leases.get(key)
        if lease is None:
            if len(self._leases) >= self.MAX_CALLERS:
                self._leases.clear()
            lease = self._leases[key] = _Lease()
        return lease
