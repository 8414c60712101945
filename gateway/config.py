"""Settings from the environment (`SEALGW_*`). A missing or malformed setting stops start-up with
a message naming it; with no vendor configured, the gateway runs on its own sandbox."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from gateway.domain import OrgScope, ProviderName
from gateway.providers.esign.client import AuthMode, EsignSettings
from gateway.providers.http import HttpSettings
from gateway.providers.yunyin.client import YunyinSettings

PREFIX = "SEALGW_"
HARD_MAX_PAGE_SIZE = 100


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names it."""


@dataclass(frozen=True, slots=True)
class VendorSettings:
    esign: EsignSettings | None = None
    esign_org_id: str = ""
    yunyin: YunyinSettings | None = None
    yunyin_user_id: str = ""


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    # True when no vendor is configured: the gateway serves the sandbox and uses it.
    sandbox: bool = True
    vendors: VendorSettings = field(default_factory=VendorSettings)
    default_page_size: int = 20
    max_page_size: int = 100
    max_upload_bytes: int = 2 * 1024 * 1024
    cors_origins: tuple[str, ...] = ()
    log_level: str = "INFO"
    http: HttpSettings = field(default_factory=HttpSettings)

    def scope(self) -> OrgScope:
        """The caller's organisation (one configured organisation for now)."""
        accounts = {}
        if self.vendors.esign is not None:
            accounts[ProviderName.ESIGN] = self.vendors.esign_org_id
        if self.vendors.yunyin is not None:
            accounts[ProviderName.YUNYIN] = self.vendors.yunyin_user_id
        return OrgScope(accounts)


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


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = _Env(os.environ if environ is None else environ)
    http = HttpSettings(
        timeout_s=env.number("UPSTREAM_TIMEOUT", 10.0, 0.1, 300.0),
        max_connections=env.integer("UPSTREAM_MAX_CONNECTIONS", 16, 1, 1000),
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
            http=http,
        )
        yunyin_user = str(env.integer("YUNYIN_USER_ID", 0, 1, 2**63 - 1))
        if env.get("YUNYIN_USER_ID") is None:
            raise ConfigError(f"{PREFIX}YUNYIN_USER_ID is required {why}.")

    max_page = env.integer("MAX_PAGE_SIZE", 100, 1, HARD_MAX_PAGE_SIZE)
    origins = env.get("CORS_ORIGINS")
    log_level = (env.get("LOG_LEVEL", "INFO") or "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(
            f"{PREFIX}LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR, not {log_level!r}."
        )
    return Settings(
        host=env.get("HOST", "127.0.0.1") or "127.0.0.1",
        port=env.integer("PORT", 8000, 0, 65535),
        sandbox=esign is None and yunyin is None,
        vendors=VendorSettings(esign, esign_org, yunyin, yunyin_user),
        default_page_size=min(
            env.integer("DEFAULT_PAGE_SIZE", 20, 1, HARD_MAX_PAGE_SIZE), max_page
        ),
        max_page_size=max_page,
        max_upload_bytes=env.integer("MAX_UPLOAD_BYTES", 2 * 1024 * 1024, 1024, 64 * 1024 * 1024),
        cors_origins=tuple(o.strip() for o in origins.split(",") if o.strip()) if origins else (),
        log_level=log_level,
        http=http,
    )
