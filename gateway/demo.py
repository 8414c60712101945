"""The demo: with no vendor configured, `seal-gateway serve` runs on the built-in sandbox of
emulated vendors, mounted beside the gateway. The only module outside the sandbox that imports
it: the gateway's layers know nothing of it and talk to it over HTTP like to any vendor."""

from __future__ import annotations

import dataclasses

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount

from gateway.config import Settings, Tenant, VendorSettings
from gateway.domain import DEFAULT_TENANT
from gateway.providers.esign.client import EsignSettings
from gateway.providers.yunyin.client import YunyinSettings
from gateway.sandbox import Sandbox, SandboxConfig, create_sandbox_app
from gateway.sandbox import state as demo

SANDBOX_PATH = "/sandbox"


def on_sandbox(settings: Settings, base_url: str) -> Settings:
    """These settings pointed at a sandbox serving at `base_url`, with its demo accounts."""
    base = base_url.rstrip("/")
    vendors = VendorSettings(
        esign=EsignSettings(
            base_url=f"{base}/esign",
            app_id=demo.ESIGN_APP_ID,
            app_secret=demo.ESIGN_APP_SECRET,
            transactor_psn_id=demo.ESIGN_TRANSACTOR,
            http=settings.http,
        ),
        esign_org_id=demo.ESIGN_ORG_A,
        yunyin=YunyinSettings(
            base_url=f"{base}/yunyin",
            app_id=demo.YUNYIN_APP_ID,
            app_secret=demo.YUNYIN_APP_SECRET,
            http=settings.http,
        ),
        yunyin_user_id=str(demo.YUNYIN_ADMIN),
    )
    callers = settings.tenants[0].api_keys  # SEALGW_API_KEYS, when given, still apply
    return dataclasses.replace(settings, tenants=(Tenant(DEFAULT_TENANT, vendors, callers),))


def sandbox_routes(public_url: str | None = None, notify_url: str | None = None) -> list[BaseRoute]:
    """A fresh sandbox, mounted at SANDBOX_PATH beside the gateway; its image links start
    with `public_url` (where browsers reach the gateway) when given, and its e签宝 sends seal
    notifications to `notify_url` (the gateway's own webhook) when given."""
    public = None if public_url is None else public_url.rstrip("/") + SANDBOX_PATH
    config = SandboxConfig(public_url=public, esign_notify_url=notify_url)
    return [Mount(SANDBOX_PATH, app=create_sandbox_app(Sandbox(config)))]


def standalone_sandbox(
    latency_s: float, esign_offset_base: int, public_url: str | None = None
) -> Starlette:
    """The sandbox alone (`seal-gateway sandbox`), for a gateway elsewhere."""
    config = SandboxConfig(
        latency_s=latency_s, esign_offset_base=esign_offset_base, public_url=public_url
    )
    return create_sandbox_app(Sandbox(config))
