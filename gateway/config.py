"""Settings from the environment (`SEALGW_*`) and, when `SEALGW_TENANTS_FILE` names one, the
tenants file. A missing or malformed setting stops start-up with a message naming it; with no
vendor configured, the gateway runs on its own sandbox."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from gateway.domain import DEFAULT_TENANT, Role
from gateway.persisted import ManifestError, load_manifest
from gateway.providers.esign.client import AuthMode, EsignSettings
from gateway.providers.http import HttpSettings
from gateway.providers.resilience import ResilienceSettings
from gateway.providers.yunyin.client import YunyinSettings
from gateway.tenants import (
    DIGEST,
    ApiKey,
    ConfigError,
    Tenant,
    VendorSettings,
    load_tenants,
)

__all__ = ["ConfigError", "Settings", "Tenant", "VendorSettings", "load_settings"]

PREFIX = "SEALGW_"
HARD_MAX_PAGE_SIZE = 100
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    # True when no vendor is configured: the gateway serves the sandbox and uses it.
    sandbox: bool = True
    # Without a tenants file: one tenant, `default`, from the SEALGW_ESIGN_* / YUNYIN_* settings.
    tenants: tuple[Tenant, ...] = (Tenant(DEFAULT_TENANT, VendorSettings()),)
    # GraphQL introspection; by default on in the sandbox demo only.
    introspection: bool = True
    # Requests per caller (API key or token subject), in the `limits` notation.
    rate_limit: str = "600/minute"
    # Vendor calls one operation may cost (static, refused before running), and may make.
    max_query_cost: int = 1000
    vendor_call_budget: int = 300
    # Seconds a request may spend at the vendors, queueing for connections included.
    request_deadline_s: float = 15.0
    # Shared state for several processes (tokens, breakers, rate limits, idempotency).
    redis_url: str | None = None
    # How long a write's Idempotency-Key is remembered.
    idempotency_ttl_s: float = 24 * 3600.0
    # Seconds between background readiness checks of each vendor (0: no checks).
    ready_interval_s: float = 30.0
    # Trusted documents (id → text, from a manifest), whether only they may run, and whether
    # clients may register documents by hash (Automatic Persisted Queries).
    trusted_documents: Mapping[str, str] = field(default_factory=dict)
    trusted_documents_only: bool = False
    automatic_persisted_queries: bool = True
    # Requests one process serves at once; more get a fast 503.
    max_concurrent_requests: int = 256
    default_page_size: int = 20
    max_page_size: int = 100
    max_upload_bytes: int = 2 * 1024 * 1024
    cors_origins: tuple[str, ...] = ()
    log_level: str = "INFO"
    # `json` (one object per line) or `text`; by default text in the sandbox demo only.
    log_format: str = "json"
    # OpenTelemetry traces go to this OTLP/HTTP collector (e.g. http://127.0.0.1:4318).
    otlp_endpoint: str | None = None
    # Where GraphiQL's files are installed (None: the user's cache, gateway/graphiql.py).
    graphiql_assets: str | None = None
    # Direct field resolvers where strawberry's wrappers add nothing (gateway/schema/lean.py).
    lean_resolvers: bool = True
    # Queries run through a plan compiled once per document (gateway/schema/plan.py).
    query_plans: bool = True
    http: HttpSettings = field(default_factory=HttpSettings)

    @property
    def has_callers(self) -> bool:
        """Whether any API key or token issuer is configured."""
        return any(tenant.has_callers for tenant in self.tenants)

    @property
    def anonymous(self) -> bool:
        """Callers without credentials are let in only in the sandbox demo, where nothing is
        configured and no real vendor can be reached (and only on loopback, see below)."""
        return self.sandbox and not self.has_callers

    def exposure_problem(self, host: str) -> str | None:
        """Why serving on `host` with these settings would be unsafe, or None."""
        how = (
            "Configure callers: API keys in SEALGW_API_KEYS (from `seal-gateway key new`), or "
            "keys and JWT issuers in a tenants file (SEALGW_TENANTS_FILE); see README, "
            "'Callers and tenants'."
        )
        if not self.sandbox and not self.has_callers:
            return f"vendors are configured but no callers are: nobody could use them. {how}"
        if self.has_callers or host in LOOPBACK_HOSTS or host.startswith("127."):
            return None
        return (
            f"refusing to listen on {host} with no callers configured: anyone reaching the port "
            f"could act on the demo's seals. {how} Or listen on 127.0.0.1."
        )


class _Env:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def get(self, name: str, default: str | None = None) -> str | None:
        value = self._env.get(PREFIX + name)
        if value is None or not value.strip():
            return default
        return value.strip()

    def required(self, name: str, why: str) -> str:
        value = self.get(name)
        if value is None:
            raise ConfigError(f"{PREFIX}{name} is required {why}.")
        return value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{PREFIX}{name} must be a whole number, not {raw!r}.") from None
        if not low <= value <= high:
            raise ConfigError(f"{PREFIX}{name} must be between {low} and {high}, not {value}.")
        return value

    def number(self, name: str, default: float, low: float, high: float) -> float:
        raw = self.get(name)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{PREFIX}{name} must be a number, not {raw!r}.") from None
        if not low <= value <= high:
            raise ConfigError(f"{PREFIX}{name} must be between {low} and {high}, not {value}.")
        return value

    def switch(self, name: str, default: bool) -> bool:
        raw = self.get(name)
        if raw is None:
            return default
        if raw.lower() not in ("on", "off"):
            raise ConfigError(f"{PREFIX}{name} must be 'on' or 'off', not {raw!r}.")
        return raw.lower() == "on"

    def url(self, name: str) -> str | None:
        raw = self.get(name)
        if raw is None:
            return None
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ConfigError(f"{PREFIX}{name} must be an http(s) URL with a host, not {raw!r}.")
        return raw.rstrip("/")


def _vendor_names(vendor: str) -> list[str]:
    return [f"{vendor}_{suffix}" for suffix in ("APP_ID", "APP_SECRET")]


def _api_keys(env: _Env) -> tuple[ApiKey, ...]:
    """SEALGW_API_KEYS: `name:role:sha256:<hex>` entries, comma-separated (the default tenant's
    callers when there is no tenants file)."""
    raw = env.get("API_KEYS")
    if raw is None:
        return ()
    keys = []
    for entry in (e.strip() for e in raw.split(",") if e.strip()):
        name, _, rest = entry.partition(":")
        role, _, digest = rest.partition(":")
        found = DIGEST.match(digest)
        if not name or role not in ("viewer", "admin") or found is None:
            raise ConfigError(
                f"{PREFIX}API_KEYS entries read name:role:sha256:<64 hex digits> (role viewer "
                f"or admin), as `seal-gateway key new` prints them; not {entry[:40]!r}."
            )
        keys.append(ApiKey(name, bytes.fromhex(found.group(1)), Role(role)))
    return tuple(keys)


def _redis_url(env: _Env) -> str | None:
    raw = env.get("REDIS_URL")
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.netloc or parts.path):
        raise ConfigError(
            f"{PREFIX}REDIS_URL must be a redis://, rediss:// or unix:// URL, "
            f"not {parts.scheme + '://…' if parts.scheme else 'that'}."
        )
    return raw


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    env = _Env(environ)
    http = HttpSettings(
        timeout_s=env.number("UPSTREAM_TIMEOUT", 10.0, 0.1, 300.0),
        max_connections=env.integer("UPSTREAM_MAX_CONNECTIONS", 16, 1, 1000),
        resilience=ResilienceSettings(
            read_attempts=env.integer("UPSTREAM_READ_ATTEMPTS", 3, 1, 10),
            breaker_failures=env.integer("BREAKER_FAILURES", 5, 1, 10_000),
            breaker_cooldown_s=env.number("BREAKER_COOLDOWN", 15.0, 0.1, 3600.0),
            rate_queue_s=env.number("VENDOR_RATE_QUEUE", 1.0, 0.0, 60.0),
        ),
    )
    esign_url, yunyin_url = env.url("ESIGN_BASE_URL"), env.url("YUNYIN_BASE_URL")
    for vendor, url in (("ESIGN", esign_url), ("YUNYIN", yunyin_url)):
        if url is None:
            stray = [name for name in _vendor_names(vendor) if env.get(name) is not None]
            if stray:
                raise ConfigError(
                    f"{PREFIX}{stray[0]} is set but {PREFIX}{vendor}_BASE_URL is not: set the "
                    "base URL to use this vendor."
                )

    esign = None
    esign_org = ""
    if esign_url is not None:
        why = "when SEALGW_ESIGN_BASE_URL is set"
        mode = env.get("ESIGN_AUTH_MODE", "signature")
        if mode not in ("signature", "token"):
            raise ConfigError(
                f"{PREFIX}ESIGN_AUTH_MODE must be 'signature' or 'token', not {mode!r}."
            )
        auth_mode: AuthMode = "signature" if mode == "signature" else "token"
        esign = EsignSettings(
            base_url=esign_url,
            app_id=env.required("ESIGN_APP_ID", why),
            app_secret=env.required("ESIGN_APP_SECRET", why),
            auth_mode=auth_mode,
            offset_base=env.integer("ESIGN_OFFSET_BASE", 1, 0, 1),
            transactor_psn_id=env.get("ESIGN_TRANSACTOR_ID"),
            rate_per_second=env.integer("ESIGN_RATE_LIMIT", 50, 0, 100_000) or None,
            http=http,
        )
        esign_org = env.required("ESIGN_ORG_ID", why)

    yunyin = None
    yunyin_user = ""
    if yunyin_url is not None:
        why = "when SEALGW_YUNYIN_BASE_URL is set"
        yunyin = YunyinSettings(
            base_url=yunyin_url,
            app_id=env.required("YUNYIN_APP_ID", why),
            app_secret=env.required("YUNYIN_APP_SECRET", why),
            source=env.get("YUNYIN_SOURCE", "API") or "API",
            rate_per_second=env.integer("YUNYIN_RATE_LIMIT", 0, 0, 100_000) or None,
            http=http,
        )
        yunyin_user = str(env.integer("YUNYIN_USER_ID", 0, 1, 2**63 - 1))
        if env.get("YUNYIN_USER_ID") is None:
            raise ConfigError(f"{PREFIX}YUNYIN_USER_ID is required {why}.")

    tenants_file = env.get("TENANTS_FILE")
    if tenants_file is not None:
        if esign is not None or yunyin is not None or env.get("API_KEYS") is not None:
            raise ConfigError(
                f"{PREFIX}TENANTS_FILE is set, and so are vendor or caller settings "
                f"({PREFIX}ESIGN_* / {PREFIX}YUNYIN_* / {PREFIX}API_KEYS): configure them in "
                "one place only."
            )
        tenants = load_tenants(tenants_file, environ, http)
    else:
        vendors = VendorSettings(esign, esign_org, yunyin, yunyin_user)
        tenants = (Tenant(DEFAULT_TENANT, vendors, api_keys=_api_keys(env)),)
    sandbox = tenants_file is None and esign is None and yunyin is None
    introspection = env.get("INTROSPECTION", "on" if sandbox else "off")
    if introspection not in ("on", "off"):
        raise ConfigError(f"{PREFIX}INTROSPECTION must be 'on' or 'off', not {introspection!r}.")
    rate_limit = env.get("RATE_LIMIT", "600/minute") or "600/minute"
    if not re.match(r"^\d+\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day)s?$", rate_limit):
        raise ConfigError(
            f"{PREFIX}RATE_LIMIT must read like '600/minute' or '10/second', not {rate_limit!r}."
        )

    trusted: dict[str, str] = {}
    manifest = env.get("TRUSTED_DOCUMENTS")
    if manifest is not None:
        try:
            trusted = load_manifest(manifest)
        except ManifestError as error:
            raise ConfigError(f"{PREFIX}TRUSTED_DOCUMENTS: {error}") from None
    trusted_only = env.switch("TRUSTED_DOCUMENTS_ONLY", False)
    if trusted_only and not trusted:
        raise ConfigError(
            f"{PREFIX}TRUSTED_DOCUMENTS_ONLY is on but {PREFIX}TRUSTED_DOCUMENTS names no "
            "manifest: nothing could run."
        )

    max_page = env.integer("MAX_PAGE_SIZE", 100, 1, HARD_MAX_PAGE_SIZE)
    origins = env.get("CORS_ORIGINS")
    log_level = (env.get("LOG_LEVEL", "INFO") or "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(
            f"{PREFIX}LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {log_level!r}."
        )
    log_format = (env.get("LOG_FORMAT", "text" if sandbox else "json") or "json").lower()
    if log_format not in ("json", "text"):
        raise ConfigError(f"{PREFIX}LOG_FORMAT must be 'json' or 'text', not {log_format!r}.")
    return Settings(
        host=env.get("HOST", "127.0.0.1") or "127.0.0.1",
        port=env.integer("PORT", 8000, 0, 65535),
        sandbox=sandbox,
        tenants=tenants,
        introspection=introspection == "on",
        rate_limit=rate_limit,
        max_query_cost=env.integer("MAX_QUERY_COST", 1000, 1, 1_000_000),
        vendor_call_budget=env.integer("VENDOR_CALL_BUDGET", 300, 1, 1_000_000),
        request_deadline_s=env.number("REQUEST_DEADLINE", 15.0, 0.1, 600.0),
        redis_url=_redis_url(env),
        idempotency_ttl_s=env.number("IDEMPOTENCY_TTL", 24 * 3600.0, 1.0, 30 * 24 * 3600.0),
        ready_interval_s=env.number("READY_INTERVAL", 30.0, 0.0, 3600.0),
        trusted_documents=trusted,
        trusted_documents_only=trusted_only,
        automatic_persisted_queries=env.switch("APQ", True),
        max_concurrent_requests=env.integer("MAX_CONCURRENT_REQUESTS", 256, 1, 100_000),
        default_page_size=min(
            env.integer("DEFAULT_PAGE_SIZE", 20, 1, HARD_MAX_PAGE_SIZE), max_page
        ),
        max_page_size=max_page,
        max_upload_bytes=env.integer("MAX_UPLOAD_BYTES", 2 * 1024 * 1024, 1024, 64 * 1024 * 1024),
        cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip()) if origins else (),
        log_level=log_level,
        log_format=log_format,
        otlp_endpoint=env.url("OTLP_ENDPOINT"),
        graphiql_assets=env.get("GRAPHIQL_ASSETS"),
        lean_resolvers=env.switch("LEAN_RESOLVERS", True),
        query_plans=env.switch("QUERY_PLANS", True),
        http=http,
    )
