"""Every setting the gateway reads, declared once: its `SEALGW_*` name, default, bounds and what
it does. `Options` is that table (one field per variable); `read_options` reads the
environment against it, and every layer takes its defaults from `DEFAULTS`, never a number of
its own. `gateway/config.py` adds what files configure (tenants, trusted documents).

A value out of its bounds, or not of its kind, stops start-up with a message naming it."""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from gateway.shared.address import RedisAddress, RedisAddressError

PREFIX = "SEALGW_"
HARD_MAX_PAGE_SIZE = 100
RATE = re.compile(r"^\d+\s*(/|per)\s*(\d+\s*)?(second|minute|hour|day)s?$")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True, slots=True)
class Setting:
    """One `SEALGW_*` variable: what it is called, what it may hold, and what it does."""

    name: str
    kind: str  # int, number, switch, text, url, choice, rate, list, redis
    doc: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    # The default when no vendor is configured (the sandbox demo), where it differs.
    sandbox_default: Any = None
    secret: bool = False

    @property
    def variable(self) -> str:
        return PREFIX + self.name

    def parse(self, raw: str) -> Any:
        """The value `raw` stands for, or ConfigError saying what the variable takes."""
        return _PARSERS[self.kind](self, raw)


def setting(
    name: str,
    default: Any,
    kind: str,
    doc: str,
    *,
    low: float | None = None,
    high: float | None = None,
    choices: tuple[str, ...] = (),
    sandbox_default: Any = None,
    secret: bool = False,
) -> Any:
    """A field of `Options` that is also a row of the settings table."""
    spec = Setting(name, kind, doc, low, high, choices, sandbox_default, secret)
    return field(default=default, repr=not secret, metadata={"setting": spec})


def _bounded(spec: Setting, value: float) -> None:
    if (spec.low is not None and value < spec.low) or (spec.high is not None and value > spec.high):
        low = _shown(spec.low)
        high = _shown(spec.high)
        raise ConfigError(f"{spec.variable} must be between {low} and {high}, not {_shown(value)}.")


def _shown(value: float | None) -> str:
    if value is None:
        return "any"
    return str(int(value)) if float(value).is_integer() else str(value)


def _int(spec: Setting, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{spec.variable} must be a whole number, not {raw!r}.") from None
    _bounded(spec, value)
    return value


def _number(spec: Setting, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{spec.variable} must be a number, not {raw!r}.") from None
    _bounded(spec, value)
    return value


def _switch(spec: Setting, raw: str) -> bool:
    if raw.lower() not in ("on", "off"):
        raise ConfigError(f"{spec.variable} must be 'on' or 'off', not {raw!r}.")
    return raw.lower() == "on"


def _text(spec: Setting, raw: str) -> str:
    return raw


def _url(spec: Setting, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise ConfigError(f"{spec.variable} must be an http(s) URL with a host, not {raw!r}.")
    return raw.rstrip("/")


def _choice(spec: Setting, raw: str) -> str:
    for choice in spec.choices:
        if raw.lower() == choice.lower():
            return choice
    names = ", ".join(repr(c) for c in spec.choices)
    raise ConfigError(f"{spec.variable} must be one of {names}, not {raw!r}.")


def _rate(spec: Setting, raw: str) -> str:
    if not RATE.match(raw):
        raise ConfigError(
            f"{spec.variable} must read like '600/minute' or '10/second', not {raw!r}."
        )
    return raw


def _list(spec: Setting, raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _redis(spec: Setting, raw: str) -> str:
    try:
        RedisAddress.parse(raw)
    except RedisAddressError as error:
        raise ConfigError(f"{spec.variable} {error}") from None
    return raw


_PARSERS: dict[str, Callable[[Setting, str], Any]] = {
    "int": _int,
    "number": _number,
    "switch": _switch,
    "text": _text,
    "url": _url,
    "choice": _choice,
    "rate": _rate,
    "list": _list,
    "redis": _redis,
}

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Options:
    """The settings table. Each field is one `SEALGW_*` variable, named by its `setting`, with
    its default, its bounds and what it does."""

    # --- serving ---------------------------------------------------------------------------
    host: str = setting("HOST", "127.0.0.1", "text", "Address to listen on.")
    port: int = setting(
        "PORT", 8000, "int", "Port to listen on (0: any free port).", low=0, high=65535
    )
    page_failures: str = setting(
        "PAGE_FAILURES",
        "data",
        "choice",
        "A provider failing on a page of seals another provider answered: `data` tells it on "
        "the page only (`unavailable`), so clients' default error policies keep the seals "
        "that came; `errors` tells it in `errors` too.",
        choices=("data", "errors"),
    )
    log_level: str = setting(
        "LOG_LEVEL",
        "INFO",
        "choice",
        "Least severe log level written.",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
    )
    log_format: str = setting(
        "LOG_FORMAT",
        "json",
        "choice",
        "`json` (one object a line) or `text`.",
        choices=("json", "text"),
        sandbox_default="text",
    )
    otlp_endpoint: str | None = setting(
        "OTLP_ENDPOINT", None, "url", "OTLP/HTTP collector for traces (none: no tracing)."
    )
    cors_origins: tuple[str, ...] = setting(
        "CORS_ORIGINS", (), "list", "Browser origins allowed to call the API, comma-separated."
    )
    cors_allow_headers: tuple[str, ...] = setting(
        "CORS_ALLOW_HEADERS",
        (
            "Authorization",
            "Content-Type",
            "Idempotency-Key",
            "traceparent",
            "tracestate",
            "X-Query-Cost",
            "X-Request-Id",
            "X-Api-Key",
            "Apollo-Require-Preflight",
            "X-Apollo-Operation-Name",
        ),
        "list",
        "Request headers browsers on those origins may send, comma-separated.",
    )
    cors_expose_headers: tuple[str, ...] = setting(
        "CORS_EXPOSE_HEADERS",
        ("Idempotent-Replayed", "X-Request-Id", "Retry-After"),
        "list",
        "Response headers scripts on those origins may read, comma-separated.",
    )
    metrics_port: int | None = setting(
        "METRICS_PORT",
        None,
        "int",
        "A separate port for /metrics, on the same host (none: /metrics beside the API).",
        low=0,
        high=65535,
    )
    introspection: bool = setting(
        "INTROSPECTION",
        False,
        "switch",
        "GraphQL introspection on /graphql.",
        sandbox_default=True,
    )
    graphiql_assets: str | None = setting(
        "GRAPHIQL_ASSETS", None, "text", "Folder of GraphiQL's files (none: the user's cache)."
    )
    graphiql_persist_headers: bool = setting(
        "GRAPHIQL_PERSIST_HEADERS",
        False,
        "switch",
        "GraphiQL keeps its request headers (credentials too) in the browser's storage.",
    )
    graphiql_fetch: bool = setting(
        "GRAPHIQL_FETCH", True, "switch", "Fetch GraphiQL's files from npm at start-up if missing."
    )
    sandbox_public_url: str | None = setting(
        "SANDBOX_PUBLIC_URL",
        None,
        "url",
        "Where browsers reach the demo's gateway, for the sandbox's image links.",
    )
    # --- callers and fairness -------------------------------------------------------------
    api_keys: str | None = setting(
        "API_KEYS",
        None,
        "text",
        "The default tenant's API keys: `name:role:sha256:<hex>`, comma-separated.",
    )
    tenants_file: str | None = setting(
        "TENANTS_FILE", None, "text", "TOML file of tenants, their vendors and callers."
    )
    rate_limit: str = setting(
        "RATE_LIMIT", "600/minute", "rate", "Requests per caller (API key or token subject)."
    )
    max_concurrent_requests: int = setting(
        "MAX_CONCURRENT_REQUESTS",
        256,
        "int",
        "Requests one process serves at once; more get a fast 503.",
        low=1,
        high=100_000,
    )
    max_concurrent_per_tenant: int = setting(
        "MAX_CONCURRENT_PER_TENANT",
        128,
        "int",
        "Requests of one tenant one process serves at once (capped by the process's own).",
        low=1,
        high=100_000,
    )
    max_concurrent_per_caller: int = setting(
        "MAX_CONCURRENT_PER_CALLER",
        96,
        "int",
        "Requests of one caller one process serves at once (capped by the tenant's).",
        low=1,
        high=100_000,
    )
    header_timeout_s: float = setting(
        "HEADER_TIMEOUT",
        10.0,
        "number",
        "Seconds a client has to send a request's headers.",
        low=0.5,
        high=300.0,
    )
    body_timeout_s: float = setting(
        "BODY_TIMEOUT",
        10.0,
        "number",
        "Seconds a client has to send a request's body once its headers are in.",
        low=0.5,
        high=600.0,
    )
    busy_poll_us: int = setting(
        "BUSY_POLL_US",
        0,
        "int",
        "Microseconds the event loop polls without sleeping after a request begins or ends "
        "(0: off): lower latency for a gateway with a core of its own, paid in CPU.",
        low=0,
        high=100_000,
    )
    # --- what a request may ask ---------------------------------------------------------------
    max_body_bytes: int = setting(
        "MAX_BODY_BYTES", 1 * MIB, "int", "Largest JSON request body.", low=1024, high=64 * MIB
    )
    max_upload_bytes: int = setting(
        "MAX_UPLOAD_BYTES", 2 * MIB, "int", "Largest uploaded image.", low=1024, high=64 * MIB
    )
    max_json_depth: int = setting(
        "MAX_JSON_DEPTH",
        32,
        "int",
        "Deepest nesting of a request's JSON (variables included).",
        low=4,
        high=512,
    )
    max_tokens: int = setting(
        "MAX_TOKENS", 5000, "int", "Most tokens in a query document.", low=100, high=100_000
    )
    max_depth: int = setting(
        "MAX_DEPTH", 12, "int", "Deepest nesting of a query's selections.", low=2, high=100
    )
    max_aliases: int = setting(
        "MAX_ALIASES", 50, "int", "Most aliases in a query document.", low=0, high=10_000
    )
    max_selections: int = setting(
        "MAX_SELECTIONS",
        600,
        "int",
        "Most field selections and fragment spreads in a document, counted before validation "
        "so that validation stays within milliseconds.",
        low=10,
        high=20_000,
    )
    max_repeats: int = setting(
        "MAX_FIELD_REPEATS",
        16,
        "int",
        "Most times one response name may be selected in one place (fragments included).",
        low=2,
        high=1000,
    )
    max_query_cost: int = setting(
        "MAX_QUERY_COST",
        1000,
        "int",
        "Vendor calls one operation may cost, worked out before it runs.",
        low=1,
        high=1_000_000,
    )
    vendor_call_budget: int = setting(
        "VENDOR_CALL_BUDGET",
        300,
        "int",
        "Vendor calls one operation may make.",
        low=1,
        high=1_000_000,
    )
    request_deadline_s: float = setting(
        "REQUEST_DEADLINE",
        15.0,
        "number",
        "Seconds one request may spend at the vendors, waiting for connections included.",
        low=0.1,
        high=600.0,
    )
    default_page_size: int = setting(
        "DEFAULT_PAGE_SIZE",
        20,
        "int",
        "Page size when `first` is not given (≤ MAX_PAGE_SIZE).",
        low=1,
        high=HARD_MAX_PAGE_SIZE,
    )
    max_page_size: int = setting(
        "MAX_PAGE_SIZE",
        100,
        "int",
        "Largest page a client may ask for.",
        low=1,
        high=HARD_MAX_PAGE_SIZE,
    )
    # --- documents ----------------------------------------------------------------------------
    automatic_persisted_queries: bool = setting(
        "APQ",
        True,
        "switch",
        "Clients may register documents by hash (Automatic Persisted Queries).",
    )
    trusted_documents: str | None = setting(
        "TRUSTED_DOCUMENTS",
        None,
        "text",
        "Manifest of trusted documents (Apollo's or The Guild's).",
    )
    trusted_documents_only: bool = setting(
        "TRUSTED_DOCUMENTS_ONLY", False, "switch", "Only the trusted documents may run."
    )
    # --- state shared by processes, and health ------------------------------------------------
    redis_url: str | None = setting(
        "REDIS_URL",
        None,
        "redis",
        "Redis shared by every process: tokens, breakers, rate limits, idempotency records.",
    )
    idempotency_ttl_s: float = setting(
        "IDEMPOTENCY_TTL",
        24 * 3600.0,
        "number",
        "Seconds an Idempotency-Key is remembered.",
        low=1.0,
        high=30 * 24 * 3600.0,
    )
    ready_interval_s: float = setting(
        "READY_INTERVAL",
        30.0,
        "number",
        "Seconds between background checks of each vendor (0: none).",
        low=0.0,
        high=3600.0,
    )
    # --- seal events ---------------------------------------------------------------------------
    data_dir: str = setting(
        "DATA_DIR",
        "data",
        "text",
        "Directory of the gateway's own files: the seal event log (SQLite), without Redis.",
    )
    event_retention_days: float = setting(
        "EVENT_RETENTION_DAYS",
        30.0,
        "number",
        "Days a seal event stays in the log.",
        low=0.01,
        high=3650.0,
    )
    change_poll_s: float = setting(
        "CHANGE_POLL_SECONDS",
        60.0,
        "number",
        "Seconds between two listings of 云银签's seals, compared for changes (0: none).",
        low=0.0,
        high=86_400.0,
    )
    max_subscriptions: int = setting(
        "MAX_SUBSCRIPTIONS",
        10_000,
        "int",
        "Subscriptions one process serves at once.",
        low=1,
        high=1_000_000,
    )
    max_subscriptions_per_caller: int = setting(
        "MAX_SUBSCRIPTIONS_PER_CALLER",
        20,
        "int",
        "Subscriptions one caller (API key or token subject) holds at once in one process.",
        low=1,
        high=100_000,
    )
    subscription_heartbeat_s: float = setting(
        "SUBSCRIPTION_HEARTBEAT",
        15.0,
        "number",
        "Seconds between heartbeats on a quiet subscription (a ping, an SSE comment).",
        low=0.1,
        high=3600.0,
    )
    subscription_idle_s: float = setting(
        "SUBSCRIPTION_IDLE",
        1800.0,
        "number",
        "Seconds a subscription may go without an event before the gateway completes it.",
        low=1.0,
        high=7 * 86_400.0,
    )
    subscription_lifetime_s: float = setting(
        "SUBSCRIPTION_LIFETIME",
        14_400.0,
        "number",
        "Seconds a subscription lives at most; the client resumes with its last cursor.",
        low=1.0,
        high=30 * 86_400.0,
    )
    read_cache_s: float = setting(
        "READ_CACHE_SECONDS",
        0.0,
        "number",
        "Seconds vendor reads of seals and authorisations are kept (0: not kept); every seal "
        "event of the tenant ends them at once.",
        low=0.0,
        high=3600.0,
    )
    # --- speed switches -----------------------------------------------------------------------
    lean_resolvers: bool = setting(
        "LEAN_RESOLVERS", True, "switch", "Direct field resolvers where strawberry's add nothing."
    )
    query_plans: bool = setting(
        "QUERY_PLANS", True, "switch", "Queries run through a plan compiled once per document."
    )
    lean_vendor_send: bool = setting(
        "LEAN_VENDOR_SEND",
        True,
        "switch",
        "Vendor calls with a body in memory take the short way through httpx's client.",
    )
    rate_limit_leases: bool = setting(
        "RATE_LIMIT_LEASES",
        True,
        "switch",
        "With Redis, a busy caller's requests counted a few at a time, not one round trip each.",
    )
    direct_graphql_dispatch: bool = setting(
        "DIRECT_GRAPHQL_DISPATCH",
        True,
        "switch",
        "GraphQL's HTTP paths reached without Starlette's router and its outer middleware.",
    )
    direct_vendor_http: bool = setting(
        "DIRECT_VENDOR_HTTP",
        True,
        "switch",
        "Vendor calls over the gateway's own keep-alive connections, not aiohttp's client.",
    )
    # --- the vendor connection ---------------------------------------------------------------
    upstream_timeout_s: float = setting(
        "UPSTREAM_TIMEOUT", 10.0, "number", "Seconds one vendor call may take.", low=0.1, high=300.0
    )
    upstream_max_connections: int = setting(
        "UPSTREAM_MAX_CONNECTIONS",
        16,
        "int",
        "Connections to one vendor at once.",
        low=1,
        high=1000,
    )
    upstream_read_attempts: int = setting(
        "UPSTREAM_READ_ATTEMPTS",
        3,
        "int",
        "Attempts per vendor read, the first included.",
        low=1,
        high=10,
    )
    breaker_failures: int = setting(
        "BREAKER_FAILURES",
        5,
        "int",
        "Failures within 30 s that open a vendor's breaker.",
        low=1,
        high=10_000,
    )
    breaker_cooldown_s: float = setting(
        "BREAKER_COOLDOWN",
        15.0,
        "number",
        "Seconds an open breaker stays open.",
        low=0.1,
        high=3600.0,
    )
    vendor_rate_queue_s: float = setting(
        "VENDOR_RATE_QUEUE",
        1.0,
        "number",
        "Seconds a vendor call may wait for its turn under the vendor's rate limit.",
        low=0.0,
        high=60.0,
    )
    # --- e签宝 (without a tenants file) --------------------------------------------------------
    esign_base_url: str | None = setting("ESIGN_BASE_URL", None, "url", "e签宝's API address.")
    esign_app_id: str | None = setting("ESIGN_APP_ID", None, "text", "e签宝 app id.")
    esign_app_secret: str | None = setting(
        "ESIGN_APP_SECRET", None, "text", "e签宝 app secret.", secret=True
    )
    esign_org_id: str | None = setting(
        "ESIGN_ORG_ID", None, "text", "The organisation's e签宝 account id."
    )
    esign_auth_mode: str = setting(
        "ESIGN_AUTH_MODE",
        "signature",
        "choice",
        "Signed requests, or an OAuth token.",
        choices=("signature", "token"),
    )
    esign_offset_base: int = setting(
        "ESIGN_OFFSET_BASE",
        1,
        "int",
        "Whether the v1 list's offset counts from 0 or 1.",
        low=0,
        high=1,
    )
    esign_transactor_id: str | None = setting(
        "ESIGN_TRANSACTOR_ID",
        None,
        "text",
        "An e签宝 person with seal-management rights (transactorPsnId): the management page "
        "link, authorising members and changing an authorisation's period need one.",
    )
    esign_rate_limit: int = setting(
        "ESIGN_RATE_LIMIT",
        50,
        "int",
        "e签宝 calls per second (0: no limit of the gateway's).",
        low=0,
        high=100_000,
    )
    # --- 云银签 (without a tenants file) -------------------------------------------------------
    yunyin_base_url: str | None = setting("YUNYIN_BASE_URL", None, "url", "云银签's API address.")
    yunyin_app_id: str | None = setting("YUNYIN_APP_ID", None, "text", "云银签 app id.")
    yunyin_app_secret: str | None = setting(
        "YUNYIN_APP_SECRET", None, "text", "云银签 app secret.", secret=True
    )
    yunyin_user_id: int | None = setting(
        "YUNYIN_USER_ID", None, "int", "The operator's 云银签 user id.", low=1, high=2**63 - 1
    )
    yunyin_source: str = setting("YUNYIN_SOURCE", "API", "text", "云银签 `source` header.")
    yunyin_rate_limit: int = setting(
        "YUNYIN_RATE_LIMIT",
        0,
        "int",
        "云银签 calls per second (0: no limit of the gateway's).",
        low=0,
        high=100_000,
    )

    @property
    def sandbox(self) -> bool:
        """No vendor configured: the gateway serves its sandbox and uses it."""
        return (
            self.tenants_file is None
            and self.esign_base_url is None
            and self.yunyin_base_url is None
        )


DEFAULTS = Options()
SETTINGS: dict[str, Setting] = {
    f.metadata["setting"].name: f.metadata["setting"] for f in dataclasses.fields(Options)
}
_FIELDS = {f.metadata["setting"].name: f.name for f in dataclasses.fields(Options)}


def read_options(environ: Mapping[str, str]) -> Options:
    """The table read from `environ`; unset or blank variables keep their defaults."""
    given: dict[str, Any] = {}
    for name, spec in SETTINGS.items():
        raw = environ.get(spec.variable)
        if raw is not None and raw.strip():
            given[_FIELDS[name]] = spec.parse(raw.strip())
    options = Options(**given)
    # Defaults of their own in the sandbox demo, where nothing is configured.
    if options.sandbox:
        demo = {
            _FIELDS[name]: spec.sandbox_default
            for name, spec in SETTINGS.items()
            if spec.sandbox_default is not None and _FIELDS[name] not in given
        }
        options = dataclasses.replace(options, **demo)
    if options.default_page_size > options.max_page_size:
        options = dataclasses.replace(options, default_page_size=options.max_page_size)
    return options


def unknown_variables(environ: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """Each `SEALGW_*` variable of `environ` the table does not declare (a typo is otherwise
    ignored without a word), with the declared name closest to it, if any is close."""
    known = [spec.variable for spec in SETTINGS.values()]
    return [
        (name, next(iter(difflib.get_close_matches(name, known, n=1, cutoff=0.75)), None))
        for name in sorted(environ)
        if name.startswith(PREFIX) and name not in known
    ]
