"""The gateway's configuration: the settings table (`gateway/settings.py`) read from the
environment, plus what the files it names configure: the tenants (`SEALGW_TENANTS_FILE`, or
one tenant, `default`, from the `SEALGW_ESIGN_*` / `SEALGW_YUNYIN_*` settings) and the trusted
documents. A missing or malformed setting stops start-up with a message naming it; with no
vendor configured, the gateway runs on its own sandbox."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.access.tenants import (
    DIGEST,
    ApiKey,
    Tenant,
    VendorSettings,
    load_tenants,
)
from gateway.domain import DEFAULT_TENANT, Role
from gateway.providers.esign.client import EsignSettings
from gateway.providers.http import HttpSettings
from gateway.providers.resilience import ResilienceSettings
from gateway.providers.yunyin.client import YunyinSettings
from gateway.settings import PREFIX, ConfigError, Options, read_options

__all__ = ["ConfigError", "Settings", "Tenant", "VendorSettings", "load_settings"]

LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")


@dataclass(frozen=True, slots=True)
class Settings(Options):
    """The settings table's values, with the tenants and trusted documents they lead to."""

    # Without a tenants file: one tenant, `default`, from the SEALGW_ESIGN_* / YUNYIN_* settings.
    tenants: tuple[Tenant, ...] = (Tenant(DEFAULT_TENANT, VendorSettings()),)
    # Trusted documents: id → text, from the manifest SEALGW_TRUSTED_DOCUMENTS names.
    documents: Mapping[str, str] = field(default_factory=dict)

    @property
    def http(self) -> HttpSettings:
        """How the gateway talks to each vendor."""
        return HttpSettings(
            timeout_s=self.upstream_timeout_s,
            max_connections=self.upstream_max_connections,
            direct=self.direct_vendor_http,
            lean_send=self.lean_vendor_send,
            resilience=ResilienceSettings(
                read_attempts=self.upstream_read_attempts,
                breaker_failures=self.breaker_failures,
                breaker_cooldown_s=self.breaker_cooldown_s,
                rate_queue_s=self.vendor_rate_queue_s,
            ),
        )

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


def _api_keys(raw: str | None) -> tuple[ApiKey, ...]:
    """SEALGW_API_KEYS: `name:role:sha256:<hex>` entries, comma-separated (the default tenant's
    callers when there is no tenants file)."""
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


def _required(value: str | int | None, name: str, why: str) -> str:
    if value is None:
        raise ConfigError(f"{PREFIX}{name} is required {why}.")
    return str(value)


def _vendors(options: Options, http: HttpSettings) -> VendorSettings:
    """The default tenant's vendors, from the SEALGW_ESIGN_* and SEALGW_YUNYIN_* settings."""
    for vendor, url, given in (
        ("ESIGN", options.esign_base_url, (options.esign_app_id, options.esign_app_secret)),
        ("YUNYIN", options.yunyin_base_url, (options.yunyin_app_id, options.yunyin_app_secret)),
    ):
        if url is None and any(value is not None for value in given):
            stray = "APP_ID" if given[0] is not None else "APP_SECRET"
            raise ConfigError(
                f"{PREFIX}{vendor}_{stray} is set but {PREFIX}{vendor}_BASE_URL is not: set the "
                "base URL to use this vendor."
            )
    esign = None
    if options.esign_base_url is not None:
        why = "when SEALGW_ESIGN_BASE_URL is set"
        esign = EsignSettings(
            base_url=options.esign_base_url,
            app_id=_required(options.esign_app_id, "ESIGN_APP_ID", why),
            app_secret=_required(options.esign_app_secret, "ESIGN_APP_SECRET", why),
            auth_mode="signature" if options.esign_auth_mode == "signature" else "token",
            offset_base=options.esign_offset_base,
            transactor_psn_id=options.esign_transactor_id,
            rate_per_second=options.esign_rate_limit or None,
            http=http,
        )
        _required(options.esign_org_id, "ESIGN_ORG_ID", why)
    yunyin = None
    if options.yunyin_base_url is not None:
        why = "when SEALGW_YUNYIN_BASE_URL is set"
        yunyin = YunyinSettings(
            base_url=options.yunyin_base_url,
            app_id=_required(options.yunyin_app_id, "YUNYIN_APP_ID", why),
            app_secret=_required(options.yunyin_app_secret, "YUNYIN_APP_SECRET", why),
            source=options.yunyin_source,
            rate_per_second=options.yunyin_rate_limit or None,
            http=http,
        )
        _required(options.yunyin_user_id, "YUNYIN_USER_ID", why)
    return VendorSettings(
        esign, options.esign_org_id or "", yunyin, str(options.yunyin_user_id or "")
    )


def load_manifest(path: str) -> dict[str, str]:
    """Document id → text, from Apollo's `persisted-query-manifest.json`
    (`{"format": "apollo-persisted-query-manifest", "operations": [{"id", "body"}]}`) or The
    Guild's `persisted-documents.json` (`{"<id>": "<text>"}`)."""
    where = f"{PREFIX}TRUSTED_DOCUMENTS: {path}"
    try:
        raw: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(
            f"{PREFIX}TRUSTED_DOCUMENTS: cannot read {path}: {error.strerror}."
        ) from None
    except ValueError:
        raise ConfigError(f"{where} is not JSON.") from None
    documents: dict[str, str] = {}
    if isinstance(raw, dict) and raw.get("format") == "apollo-persisted-query-manifest":
        for index, operation in enumerate(raw.get("operations") or []):
            if not (
                isinstance(operation, dict)
                and isinstance(operation.get("id"), str)
                and isinstance(operation.get("body"), str)
            ):
                raise ConfigError(f"{where}: operation {index} needs a string id and body.")
            documents[bare_document_id(operation["id"])] = operation["body"]
    elif isinstance(raw, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        documents = {bare_document_id(k): v for k, v in raw.items()}
    else:
        raise ConfigError(
            f"{where} is neither an Apollo persisted-query manifest nor a map of document ids "
            "to documents."
        )
    if not documents:
        raise ConfigError(f"{where} holds no document.")
    return documents


def bare_document_id(document_id: str) -> str:
    """`sha256:<hex>` and `<hex>` name the same document."""
    return document_id.removeprefix("sha256:").strip()


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    options = read_options(environ)
    values = {name: getattr(options, name) for name in Options.__dataclass_fields__}
    settings = Settings(**values)
    http = settings.http
    if options.tenants_file is not None:
        if (
            options.esign_base_url is not None
            or options.yunyin_base_url is not None
            or options.api_keys is not None
        ):
            raise ConfigError(
                f"{PREFIX}TENANTS_FILE is set, and so are vendor or caller settings "
                f"({PREFIX}ESIGN_* / {PREFIX}YUNYIN_* / {PREFIX}API_KEYS): configure them in "
                "one place only."
            )
        tenants = load_tenants(options.tenants_file, environ, http)
    else:
        vendors = _vendors(options, http)
        tenants = (Tenant(DEFAULT_TENANT, vendors, api_keys=_api_keys(options.api_keys)),)
    documents: dict[str, str] = {}
    if options.trusted_documents is not None:
        documents = load_manifest(options.trusted_documents)
    if options.trusted_documents_only and not documents:
        raise ConfigError(
            f"{PREFIX}TRUSTED_DOCUMENTS_ONLY is on but {PREFIX}TRUSTED_DOCUMENTS names no "
            "manifest: nothing could run."
        )
    return Settings(**values, tenants=tenants, documents=documents)
